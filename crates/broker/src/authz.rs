//! The authorizer as the broker runs it: off unless `authorizer.class.name` is set; when on,
//! Kafka's StandardAuthorizer decisions (see [`weir_auth::authorizer`]) over the ACLs of
//! the metadata image, reloaded whenever the image's ACLs change, so that every node
//! enforces the same set as soon as it has applied the metadata log that far.

use std::sync::{Arc, RwLock};

use weir_auth::acl::{AclBinding, Operation, PatternType, Permission, ResourceType};
use weir_auth::authorizer::{Authorizer, Decision};
use weir_auth::principal::Principal;
use weir_meta::image::MetadataImage;
use weir_meta::records::AclEntry;

/// `authorizer.class.name` values taken for Weir's authorizer: Kafka's own, so that a
/// Kafka `server.properties` carries over.
pub const AUTHORIZER_NAMES: &[&str] = &[
    "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    "kafka.security.authorizer.AclAuthorizer",
    "weir.StandardAuthorizer",
];

/// The authorizer's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizerConfig {
    /// `super.users`: `User:a;User:b`.
    pub super_users: String,
    /// `allow.everyone.if.no.acl.found`.
    pub allow_everyone_if_no_acl_found: bool,
}

/// The broker's authorizer; `None` settings: everything is allowed.
pub struct Authz {
    config: Option<AuthorizerConfig>,
    current: RwLock<(u64, Arc<Authorizer>)>,
}

impl Authz {
    /// An authorizer with `config`, or none.
    pub fn new(config: Option<AuthorizerConfig>) -> Self {
        let empty = match &config {
            Some(c) => Authorizer::new(&c.super_users, c.allow_everyone_if_no_acl_found),
            None => Authorizer::default(),
        };
        Authz {
            config,
            current: RwLock::new((u64::MAX, Arc::new(empty))),
        }
    }

    /// Whether an authorizer is configured.
    pub fn enabled(&self) -> bool {
        self.config.is_some()
    }

    /// The authorizer over `image`'s ACLs (rebuilt if they changed since the last call).
    fn authorizer(&self, image: &MetadataImage) -> Arc<Authorizer> {
        let Some(config) = &self.config else {
            return Arc::new(Authorizer::default());
        };
        {
            let cur = self.current.read().unwrap_or_else(|p| p.into_inner());
            if cur.0 == image.acl_epoch {
                return cur.1.clone();
            }
        }
        let mut a = Authorizer::new(&config.super_users, config.allow_everyone_if_no_acl_found);
        a.set_acls(image.acls.values().filter_map(binding));
        let a = Arc::new(a);
        let mut cur = self.current.write().unwrap_or_else(|p| p.into_inner());
        *cur = (image.acl_epoch, a.clone());
        a
    }

    /// May `principal` from `host` do `op` on `resource_type`/`name`? Always, without an
    /// authorizer.
    pub fn allowed(
        &self,
        image: &MetadataImage,
        principal: &Principal,
        host: &str,
        op: Operation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        if self.config.is_none() {
            return true;
        }
        self.authorizer(image)
            .authorize(principal, host, op, resource_type, name)
            == Decision::Allow
    }

    /// May `principal` do `op` on some resource of `resource_type`?
    pub fn allowed_any(
        &self,
        image: &MetadataImage,
        principal: &Principal,
        host: &str,
        op: Operation,
        resource_type: ResourceType,
    ) -> bool {
        if self.config.is_none() {
            return true;
        }
        self.authorizer(image)
            .authorize_any(principal, host, op, resource_type)
            == Decision::Allow
    }
}

/// The auth crate's ACL for a stored one; `None` for codes it does not know.
pub fn binding(e: &AclEntry) -> Option<AclBinding> {
    Some(AclBinding {
        resource_type: ResourceType::from_code(e.resource_type)?,
        resource_name: e.resource_name.clone(),
        pattern_type: PatternType::from_code(e.pattern_type)?,
        principal: e.principal.clone(),
        host: e.host.clone(),
        operation: Operation::from_code(e.operation)?,
        permission: Permission::from_code(e.permission)?,
    })
}

/// The stored form of an ACL.
pub fn entry(b: &AclBinding) -> AclEntry {
    AclEntry {
        resource_type: b.resource_type.code(),
        resource_name: b.resource_name.clone(),
        pattern_type: b.pattern_type.code(),
        principal: b.principal.clone(),
        host: b.host.clone(),
        operation: b.operation.code(),
        permission: b.permission.code(),
    }
}
