//! ACLs as Kafka models them: a resource pattern (type, name, LITERAL or PREFIXED) and an
//! entry (principal, host, operation, ALLOW or DENY), with Kafka's wire codes, the
//! validation Kafka's controller applies to new ACLs, and the filters of DescribeAcls and
//! DeleteAcls.

/// The only name of the Cluster resource.
pub const CLUSTER_NAME: &str = "kafka-cluster";
/// The resource name and host that match every name and host.
pub const WILDCARD: &str = "*";

macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $code:expr, $text:expr;)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vm])* $v,)* }

        impl $name {
            /// Its code on the wire.
            pub fn code(self) -> i8 {
                match self { $($name::$v => $code,)* }
            }

            /// The value with wire code `code`; `None` for codes Kafka does not define.
            pub fn from_code(code: i8) -> Option<Self> {
                match code { $($code => Some($name::$v),)* _ => None }
            }

            /// Its name as Kafka's tools print it.
            pub fn name(self) -> &'static str {
                match self { $($name::$v => $text,)* }
            }

            /// The value named `name` (case-insensitive, `-` and `_` alike).
            pub fn from_name(name: &str) -> Option<Self> {
                let n = name.to_ascii_uppercase().replace('-', "_");
                match n.as_str() { $($text => Some($name::$v),)* _ => None }
            }
        }
    };
}

wire_enum! {
    /// What an ACL is about.
    ResourceType {
        /// Not known.
        Unknown = 0, "UNKNOWN";
        /// Any type (filters only).
        Any = 1, "ANY";
        /// A topic.
        Topic = 2, "TOPIC";
        /// A consumer group.
        Group = 3, "GROUP";
        /// The cluster (`kafka-cluster`).
        Cluster = 4, "CLUSTER";
        /// A transactional id.
        TransactionalId = 5, "TRANSACTIONAL_ID";
        /// A delegation token.
        DelegationToken = 6, "DELEGATION_TOKEN";
        /// A user.
        User = 7, "USER";
    }
}

wire_enum! {
    /// How an ACL's resource name matches.
    PatternType {
        /// Not known.
        Unknown = 0, "UNKNOWN";
        /// Any pattern type (filters only).
        Any = 1, "ANY";
        /// Every pattern that matches a name (filters only).
        Match = 2, "MATCH";
        /// The exact name, or `*` for every name.
        Literal = 3, "LITERAL";
        /// Every name starting with the pattern's.
        Prefixed = 4, "PREFIXED";
    }
}

wire_enum! {
    /// What an ACL allows or denies.
    Operation {
        /// Not known.
        Unknown = 0, "UNKNOWN";
        /// Any operation (filters only).
        Any = 1, "ANY";
        /// Every operation.
        All = 2, "ALL";
        /// Read.
        Read = 3, "READ";
        /// Write.
        Write = 4, "WRITE";
        /// Create.
        Create = 5, "CREATE";
        /// Delete.
        Delete = 6, "DELETE";
        /// Alter.
        Alter = 7, "ALTER";
        /// Describe.
        Describe = 8, "DESCRIBE";
        /// Broker-to-broker actions.
        ClusterAction = 9, "CLUSTER_ACTION";
        /// Describe configs.
        DescribeConfigs = 10, "DESCRIBE_CONFIGS";
        /// Alter configs.
        AlterConfigs = 11, "ALTER_CONFIGS";
        /// Idempotent produce.
        IdempotentWrite = 12, "IDEMPOTENT_WRITE";
        /// Create delegation tokens.
        CreateTokens = 13, "CREATE_TOKENS";
        /// Describe delegation tokens.
        DescribeTokens = 14, "DESCRIBE_TOKENS";
    }
}

wire_enum! {
    /// Whether an ACL allows or denies.
    Permission {
        /// Not known.
        Unknown = 0, "UNKNOWN";
        /// Either (filters only).
        Any = 1, "ANY";
        /// Deny.
        Deny = 2, "DENY";
        /// Allow.
        Allow = 3, "ALLOW";
    }
}

/// One ACL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AclBinding {
    /// The resource type.
    pub resource_type: ResourceType,
    /// The resource name (or prefix, or `*`).
    pub resource_name: String,
    /// How the name matches.
    pub pattern_type: PatternType,
    /// The principal, `TYPE:NAME` (`User:*` for everyone).
    pub principal: String,
    /// The host, or `*`.
    pub host: String,
    /// The operation.
    pub operation: Operation,
    /// Allow or deny.
    pub permission: Permission,
}

/// Why a new ACL was refused (Kafka answers INVALID_REQUEST with this message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidAcl(pub String);

impl AclBinding {
    /// Checks a new ACL as Kafka's broker and controller do.
    pub fn validate(&self) -> Result<(), InvalidAcl> {
        let bad = |m: String| Err(InvalidAcl(m));
        if matches!(
            self.resource_type,
            ResourceType::Unknown | ResourceType::Any
        ) {
            return bad(format!(
                "Invalid resourceType {}",
                self.resource_type.name()
            ));
        }
        if !matches!(
            self.pattern_type,
            PatternType::Literal | PatternType::Prefixed
        ) {
            return bad(format!("Invalid patternType {}", self.pattern_type.name()));
        }
        if matches!(self.operation, Operation::Unknown | Operation::Any) {
            return bad(format!("Invalid operation {}", self.operation.name()));
        }
        if !matches!(self.permission, Permission::Allow | Permission::Deny) {
            return bad(format!("Invalid permissionType {}", self.permission.name()));
        }
        if self.resource_name.is_empty() {
            return bad("Resource name should not be empty".into());
        }
        if self.resource_type == ResourceType::Cluster && self.resource_name != CLUSTER_NAME {
            return bad(format!(
                "The only valid name for the CLUSTER resource is {CLUSTER_NAME}"
            ));
        }
        // Kafka leaves this to fail at authorization time; refusing it up front keeps a
        // principal the authorizer cannot read out of the metadata log.
        if !self.principal.contains(':') || self.principal.starts_with(':') {
            return bad(format!(
                "Invalid principal {:?}: expected TYPE:NAME",
                self.principal
            ));
        }
        if self.host.is_empty() {
            return bad("Host should not be empty".into());
        }
        Ok(())
    }
}

/// A DescribeAcls or DeleteAcls filter; `None` fields match anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclFilter {
    /// Resource type, or ANY.
    pub resource_type: ResourceType,
    /// Resource name, if given.
    pub resource_name: Option<String>,
    /// Pattern type: ANY, MATCH, LITERAL or PREFIXED.
    pub pattern_type: PatternType,
    /// Principal, if given.
    pub principal: Option<String>,
    /// Host, if given.
    pub host: Option<String>,
    /// Operation, or ANY.
    pub operation: Operation,
    /// Permission, or ANY.
    pub permission: Permission,
}

impl AclFilter {
    /// Whether `acl` matches, with Kafka's rules (a MATCH filter with a name matches the
    /// LITERAL ACL on it, the LITERAL `*` ACL and every PREFIXED ACL the name starts with).
    pub fn matches(&self, acl: &AclBinding) -> bool {
        self.matches_pattern(acl) && self.matches_entry(acl)
    }

    fn matches_pattern(&self, acl: &AclBinding) -> bool {
        if self.resource_type != ResourceType::Any && self.resource_type != acl.resource_type {
            return false;
        }
        if !matches!(self.pattern_type, PatternType::Any | PatternType::Match)
            && self.pattern_type != acl.pattern_type
        {
            return false;
        }
        let Some(name) = &self.resource_name else {
            return true;
        };
        if self.pattern_type == PatternType::Any || self.pattern_type == acl.pattern_type {
            return *name == acl.resource_name;
        }
        match acl.pattern_type {
            PatternType::Literal => *name == acl.resource_name || acl.resource_name == WILDCARD,
            PatternType::Prefixed => name.starts_with(&acl.resource_name),
            _ => false,
        }
    }

    fn matches_entry(&self, acl: &AclBinding) -> bool {
        self.principal.as_ref().is_none_or(|p| *p == acl.principal)
            && self.host.as_ref().is_none_or(|h| *h == acl.host)
            && (self.operation == Operation::Any || self.operation == acl.operation)
            && (self.permission == Permission::Any || self.permission == acl.permission)
    }

    /// Checks a filter as Kafka does (unknown enum values are refused).
    pub fn validate(&self) -> Result<(), InvalidAcl> {
        if self.resource_type == ResourceType::Unknown
            || self.pattern_type == PatternType::Unknown
            || self.operation == Operation::Unknown
            || self.permission == Permission::Unknown
        {
            return Err(InvalidAcl("Unknown value in the ACL filter".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(rt: ResourceType, name: &str, pt: PatternType) -> AclBinding {
        AclBinding {
            resource_type: rt,
            resource_name: name.into(),
            pattern_type: pt,
            principal: "User:alice".into(),
            host: "*".into(),
            operation: Operation::Read,
            permission: Permission::Allow,
        }
    }

    #[test]
    fn wire_codes_are_kafkas() {
        assert_eq!(Operation::from_code(12), Some(Operation::IdempotentWrite));
        assert_eq!(Operation::DescribeConfigs.code(), 10);
        assert_eq!(ResourceType::TransactionalId.code(), 5);
        assert_eq!(PatternType::Prefixed.code(), 4);
        assert_eq!(Permission::Allow.code(), 3);
        assert_eq!(Permission::from_code(9), None);
        assert_eq!(
            Operation::from_name("describe-configs"),
            Some(Operation::DescribeConfigs)
        );
        assert_eq!(ResourceType::from_name("Topic"), Some(ResourceType::Topic));
    }

    #[test]
    fn new_acls_are_validated_as_kafka_does() {
        assert!(acl(ResourceType::Topic, "orders", PatternType::Literal)
            .validate()
            .is_ok());
        assert!(acl(ResourceType::Topic, "*", PatternType::Prefixed)
            .validate()
            .is_ok());
        let msg = |a: AclBinding| a.validate().err().map(|e| e.0);
        assert_eq!(
            msg(acl(ResourceType::Any, "t", PatternType::Literal)).as_deref(),
            Some("Invalid resourceType ANY")
        );
        assert_eq!(
            msg(acl(ResourceType::Topic, "t", PatternType::Match)).as_deref(),
            Some("Invalid patternType MATCH")
        );
        assert_eq!(
            msg(acl(ResourceType::Topic, "", PatternType::Literal)).as_deref(),
            Some("Resource name should not be empty")
        );
        assert_eq!(
            msg(acl(ResourceType::Cluster, "other", PatternType::Literal)).as_deref(),
            Some("The only valid name for the CLUSTER resource is kafka-cluster")
        );
        let mut a = acl(ResourceType::Topic, "t", PatternType::Literal);
        a.operation = Operation::Any;
        assert_eq!(msg(a.clone()).as_deref(), Some("Invalid operation ANY"));
        a.operation = Operation::Read;
        a.permission = Permission::Any;
        assert_eq!(
            msg(a.clone()).as_deref(),
            Some("Invalid permissionType ANY")
        );
        a.permission = Permission::Deny;
        a.principal = "alice".into();
        assert!(msg(a).is_some());
    }

    #[test]
    fn filters_match_as_kafkas_do() {
        let literal = acl(ResourceType::Topic, "orders", PatternType::Literal);
        let wildcard = acl(ResourceType::Topic, "*", PatternType::Literal);
        let prefixed = acl(ResourceType::Topic, "ord", PatternType::Prefixed);
        let group = acl(ResourceType::Group, "orders", PatternType::Literal);
        let f = |pt: PatternType, name: Option<&str>| AclFilter {
            resource_type: ResourceType::Topic,
            resource_name: name.map(str::to_string),
            pattern_type: pt,
            principal: None,
            host: None,
            operation: Operation::Any,
            permission: Permission::Any,
        };
        let all = [&literal, &wildcard, &prefixed, &group];
        let hits = |flt: AclFilter| all.iter().filter(|a| flt.matches(a)).count();
        assert_eq!(hits(f(PatternType::Any, None)), 3);
        assert_eq!(hits(f(PatternType::Match, Some("orders"))), 3);
        assert_eq!(hits(f(PatternType::Any, Some("orders"))), 1);
        assert_eq!(hits(f(PatternType::Literal, Some("*"))), 1);
        assert_eq!(hits(f(PatternType::Prefixed, None)), 1);
        assert_eq!(hits(f(PatternType::Match, Some("payments"))), 1);
        let mut by_principal = f(PatternType::Any, None);
        by_principal.principal = Some("User:bob".into());
        assert_eq!(hits(by_principal), 0);
    }
}
