//! `weir acl`: ACLs through Kafka's own APIs (CreateAcls, DescribeAcls, DeleteAcls), with the
//! options of `kafka-acls.sh`: `--allow-principal`/`--deny-principal`, `--operation`,
//! `--topic`/`--group`/`--transactional-id`/`--cluster`, `--resource-pattern-type`, `--host`.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use weir_auth::acl::{
    AclBinding, Operation, PatternType, Permission, ResourceType, CLUSTER_NAME, WILDCARD,
};
use weir_protocol::messages::create_acls_request::AclCreation;
use weir_protocol::messages::delete_acls_request::DeleteAclsFilter;
use weir_protocol::messages::{CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest};

use crate::commands::Target;

/// `weir acl`.
#[derive(Args, Debug)]
pub(crate) struct AclArgs {
    #[command(flatten)]
    target: Target,
    #[command(subcommand)]
    action: AclAction,
}

/// Which resource an ACL is on (one of them).
#[derive(Args, Debug, Default)]
struct Resource {
    /// A topic (`*` for every topic).
    #[arg(long)]
    topic: Option<String>,
    /// A consumer group (`*` for every group).
    #[arg(long)]
    group: Option<String>,
    /// A transactional id (`*` for every one).
    #[arg(long)]
    transactional_id: Option<String>,
    /// The cluster.
    #[arg(long)]
    cluster: bool,
    /// LITERAL or PREFIXED (for add; list and remove also take ANY and MATCH).
    #[arg(long, default_value = "LITERAL")]
    resource_pattern_type: String,
}

#[derive(Subcommand, Debug)]
enum AclAction {
    /// Add ACLs: every given principal gets every given operation on the resource.
    Add {
        #[command(flatten)]
        resource: Resource,
        /// Principals allowed (`User:alice`; repeatable).
        #[arg(long)]
        allow_principal: Vec<String>,
        /// Principals denied (repeatable).
        #[arg(long)]
        deny_principal: Vec<String>,
        /// Operations (READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, CLUSTER_ACTION,
        /// DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE, ALL; repeatable).
        #[arg(long, required = true)]
        operation: Vec<String>,
        /// The host the ACL applies to.
        #[arg(long, default_value = WILDCARD)]
        host: String,
    },
    /// List ACLs (all, or those on the resource / of the principal given).
    List {
        #[command(flatten)]
        resource: Resource,
        /// Only this principal's.
        #[arg(long)]
        principal: Option<String>,
    },
    /// Remove the ACLs matching the resource (and principal and operation, if given).
    Remove {
        #[command(flatten)]
        resource: Resource,
        /// Only this principal's.
        #[arg(long)]
        principal: Option<String>,
        /// Only this operation's.
        #[arg(long)]
        operation: Option<String>,
    },
}

impl Resource {
    /// (type, name) of the one resource named, if any.
    fn pick(&self) -> anyhow::Result<Option<(ResourceType, String)>> {
        let mut found = Vec::new();
        if let Some(t) = &self.topic {
            found.push((ResourceType::Topic, t.clone()));
        }
        if let Some(g) = &self.group {
            found.push((ResourceType::Group, g.clone()));
        }
        if let Some(t) = &self.transactional_id {
            found.push((ResourceType::TransactionalId, t.clone()));
        }
        if self.cluster {
            found.push((ResourceType::Cluster, CLUSTER_NAME.to_string()));
        }
        if found.len() > 1 {
            bail!("name one resource: --topic, --group, --transactional-id or --cluster");
        }
        Ok(found.pop())
    }

    fn pattern(&self) -> anyhow::Result<PatternType> {
        PatternType::from_name(&self.resource_pattern_type.to_ascii_uppercase())
            .with_context(|| format!("unknown pattern type {}", self.resource_pattern_type))
    }
}

fn operation(name: &str) -> anyhow::Result<Operation> {
    Operation::from_name(&name.to_ascii_uppercase().replace('-', "_"))
        .with_context(|| format!("unknown operation {name}"))
}

fn check(code: i16, message: Option<String>) -> anyhow::Result<()> {
    if code != 0 {
        let name = weir_protocol::error::ErrorCode::from_code(code).name();
        bail!(
            "{name}{}",
            message.map(|m| format!(": {m}")).unwrap_or_default()
        );
    }
    Ok(())
}

/// Runs `weir acl`.
pub(crate) async fn run(args: AclArgs) -> anyhow::Result<()> {
    let conn = args.target.connect().await?;
    match args.action {
        AclAction::Add {
            resource,
            allow_principal,
            deny_principal,
            operation: ops,
            host,
        } => {
            let Some((rtype, name)) = resource.pick()? else {
                bail!("name the resource: --topic, --group, --transactional-id or --cluster");
            };
            let pattern = resource.pattern()?;
            let mut acls = Vec::new();
            for (principals, permission) in [
                (&allow_principal, Permission::Allow),
                (&deny_principal, Permission::Deny),
            ] {
                for p in principals {
                    for op in &ops {
                        let acl = AclBinding {
                            resource_type: rtype,
                            resource_name: name.clone(),
                            pattern_type: pattern,
                            principal: p.clone(),
                            host: host.clone(),
                            operation: operation(op)?,
                            permission,
                        };
                        acl.validate().map_err(|e| anyhow::anyhow!("{}", e.0))?;
                        acls.push(acl);
                    }
                }
            }
            if acls.is_empty() {
                bail!("give --allow-principal or --deny-principal");
            }
            let req = CreateAclsRequest {
                creations: acls
                    .iter()
                    .map(|a| AclCreation {
                        resource_type: a.resource_type.code(),
                        resource_name: a.resource_name.clone(),
                        resource_pattern_type: a.pattern_type.code(),
                        principal: a.principal.clone(),
                        host: a.host.clone(),
                        operation: a.operation.code(),
                        permission_type: a.permission.code(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            };
            for r in conn.send(&req).await?.results {
                check(r.error_code, r.error_message)?;
            }
            println!("added {} ACL(s)", acls.len());
        }
        AclAction::List {
            resource,
            principal,
        } => {
            let picked = resource.pick()?;
            let req = DescribeAclsRequest {
                resource_type_filter: picked.as_ref().map_or(ResourceType::Any, |p| p.0).code(),
                resource_name_filter: picked.map(|p| p.1),
                pattern_type_filter: if resource
                    .resource_pattern_type
                    .eq_ignore_ascii_case("LITERAL")
                {
                    PatternType::Any.code()
                } else {
                    resource.pattern()?.code()
                },
                principal_filter: principal,
                host_filter: None,
                operation: Operation::Any.code(),
                permission_type: Permission::Any.code(),
                ..Default::default()
            };
            let resp = conn.send(&req).await?;
            check(resp.error_code, resp.error_message)?;
            println!(
                "{:<18} {:<32} {:<9} {:<24} {:<10} {:<16} PERMISSION",
                "RESOURCE", "NAME", "PATTERN", "PRINCIPAL", "HOST", "OPERATION"
            );
            for r in resp.resources {
                for a in r.acls {
                    let n = |f: fn(i8) -> Option<&'static str>, c: i8| f(c).unwrap_or("UNKNOWN");
                    println!(
                        "{:<18} {:<32} {:<9} {:<24} {:<10} {:<16} {}",
                        n(
                            |c| ResourceType::from_code(c).map(ResourceType::name),
                            r.resource_type
                        ),
                        r.resource_name,
                        n(
                            |c| PatternType::from_code(c).map(PatternType::name),
                            r.pattern_type
                        ),
                        a.principal,
                        a.host,
                        n(
                            |c| Operation::from_code(c).map(Operation::name),
                            a.operation
                        ),
                        n(
                            |c| Permission::from_code(c).map(Permission::name),
                            a.permission_type
                        ),
                    );
                }
            }
        }
        AclAction::Remove {
            resource,
            principal,
            operation: op,
        } => {
            let Some((rtype, name)) = resource.pick()? else {
                bail!("name the resource: --topic, --group, --transactional-id or --cluster");
            };
            let req = DeleteAclsRequest {
                filters: vec![DeleteAclsFilter {
                    resource_type_filter: rtype.code(),
                    resource_name_filter: Some(name),
                    pattern_type_filter: resource.pattern()?.code(),
                    principal_filter: principal,
                    host_filter: None,
                    operation: match op {
                        Some(o) => operation(&o)?.code(),
                        None => Operation::Any.code(),
                    },
                    permission_type: Permission::Any.code(),
                    ..Default::default()
                }],
                ..Default::default()
            };
            let mut removed = 0;
            for r in conn.send(&req).await?.filter_results {
                check(r.error_code, r.error_message)?;
                removed += r.matching_acls.len();
            }
            println!("removed {removed} ACL(s)");
        }
    }
    Ok(())
}
