//! Kafka's StandardAuthorizer, decision for decision: super users are allowed everything;
//! otherwise the ACLs whose pattern matches the resource (LITERAL on its name, LITERAL `*`,
//! PREFIXED on a prefix of its name) decide: a matching DENY wins over any ALLOW, a matching
//! ALLOW allows, and when no ACL at all is on the resource `allow.everyone.if.no.acl.found`
//! decides. ACLs match a principal by name or `User:*`, a host by address or `*`, and an
//! operation exactly or by `ALL`; an ALLOW of READ, WRITE, DELETE or ALTER also allows
//! DESCRIBE, and ALTER_CONFIGS allows DESCRIBE_CONFIGS (a DENY implies nothing).

use std::collections::{BTreeMap, BTreeSet};

use crate::acl::{AclBinding, Operation, PatternType, Permission, ResourceType, WILDCARD};
use crate::principal::Principal;

/// What the authorizer decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Allowed.
    Allow,
    /// Denied.
    Deny,
}

/// The authorizer's settings and ACLs.
#[derive(Debug, Clone, Default)]
pub struct Authorizer {
    super_users: BTreeSet<String>,
    allow_everyone_if_no_acl: bool,
    /// ACLs by resource type.
    acls: BTreeMap<ResourceType, Vec<AclBinding>>,
}

impl Authorizer {
    /// An authorizer with `super.users` (`User:a;User:b`) and
    /// `allow.everyone.if.no.acl.found`.
    pub fn new(super_users: &str, allow_everyone_if_no_acl: bool) -> Self {
        Authorizer {
            super_users: super_users
                .split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            allow_everyone_if_no_acl,
            acls: BTreeMap::new(),
        }
    }

    /// Replaces the ACLs.
    pub fn set_acls(&mut self, acls: impl IntoIterator<Item = AclBinding>) {
        self.acls.clear();
        for a in acls {
            self.acls.entry(a.resource_type).or_default().push(a);
        }
    }

    /// Whether `principal` is a super user.
    pub fn is_super_user(&self, principal: &Principal) -> bool {
        self.super_users.contains(&principal.to_string())
    }

    /// May `principal`, connected from `host` (an IP address as text), do `op` on the
    /// resource `resource_type`/`name`?
    pub fn authorize(
        &self,
        principal: &Principal,
        host: &str,
        op: Operation,
        resource_type: ResourceType,
        name: &str,
    ) -> Decision {
        if self.is_super_user(principal) {
            return Decision::Allow;
        }
        let me = principal.to_string();
        let mut on_resource = false;
        let mut allowed = false;
        for acl in self.acls.get(&resource_type).into_iter().flatten() {
            let pattern = match acl.pattern_type {
                PatternType::Literal => acl.resource_name == name || acl.resource_name == WILDCARD,
                PatternType::Prefixed => name.starts_with(&acl.resource_name),
                _ => false,
            };
            if !pattern {
                continue;
            }
            on_resource = true;
            if !entry_matches(acl, &me, host) {
                continue;
            }
            match acl.permission {
                Permission::Deny if acl.operation == op || acl.operation == Operation::All => {
                    return Decision::Deny;
                }
                Permission::Allow if allow_implies(acl.operation, op) => allowed = true,
                _ => {}
            }
        }
        if allowed || (!on_resource && self.allow_everyone_if_no_acl) {
            Decision::Allow
        } else {
            Decision::Deny
        }
    }

    /// May `principal` do `op` on some resource of `resource_type`? (Kafka's
    /// `authorizeByResourceType`, which InitProducerId uses: an idempotent producer may write
    /// to some topic.)
    pub fn authorize_any(
        &self,
        principal: &Principal,
        host: &str,
        op: Operation,
        resource_type: ResourceType,
    ) -> Decision {
        // As Kafka does: a resource no ACL names lets super users through, and everyone
        // when there are no ACLs and allow.everyone.if.no.acl.found is on.
        if self.authorize(principal, host, op, resource_type, "hardcode") == Decision::Allow {
            return Decision::Allow;
        }
        let me = principal.to_string();
        let applies = |a: &&AclBinding| {
            entry_matches(a, &me, host) && (a.operation == op || a.operation == Operation::All)
        };
        let acls: Vec<&AclBinding> = self
            .acls
            .get(&resource_type)
            .into_iter()
            .flatten()
            .filter(applies)
            .collect();
        let denies = |a: &AclBinding| a.permission == Permission::Deny;
        if acls.iter().any(|a| {
            denies(a) && a.pattern_type == PatternType::Literal && a.resource_name == WILDCARD
        }) {
            return Decision::Deny;
        }
        let allowed = acls
            .iter()
            .filter(|a| a.permission == Permission::Allow)
            .any(|allow| {
                !acls
                    .iter()
                    .filter(|d| denies(d))
                    .any(|deny| match deny.pattern_type {
                        PatternType::Literal => {
                            allow.pattern_type == PatternType::Literal
                                && deny.resource_name == allow.resource_name
                        }
                        PatternType::Prefixed => {
                            allow.resource_name.starts_with(&deny.resource_name)
                        }
                        _ => false,
                    })
            });
        if allowed {
            Decision::Allow
        } else {
            Decision::Deny
        }
    }
}

/// Whether an ACL's principal and host cover `principal` (as `TYPE:NAME`) at `host`.
fn entry_matches(acl: &AclBinding, principal: &str, host: &str) -> bool {
    (acl.principal == principal || acl.principal == "User:*")
        && (acl.host == WILDCARD || acl.host == host)
}

/// Whether an ALLOW of `granted` allows `wanted`.
fn allow_implies(granted: Operation, wanted: Operation) -> bool {
    use Operation as O;
    granted == wanted
        || granted == O::All
        || (wanted == O::Describe && matches!(granted, O::Read | O::Write | O::Delete | O::Alter))
        || (wanted == O::DescribeConfigs && granted == O::AlterConfigs)
}

#[cfg(test)]
mod tests;
