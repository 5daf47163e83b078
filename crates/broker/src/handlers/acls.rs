//! CreateAcls, DescribeAcls and DeleteAcls: ACLs in the metadata log, as Kafka keeps them.
//! Without an authorizer every answer is SECURITY_DISABLED; changing ACLs takes ALTER on the
//! cluster and listing them DESCRIBE, as in Kafka.

use std::collections::BTreeMap;

use tracing::info;
use weir_auth::acl::{AclBinding, AclFilter, Operation, PatternType, Permission, ResourceType};
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::create_acls_response::AclCreationResult;
use weir_protocol::messages::delete_acls_request::DeleteAclsFilter;
use weir_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use weir_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use weir_protocol::messages::{
    CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsRequest, DescribeAclsResponse,
};

use crate::authz::{binding, entry};
use crate::handlers::context::RequestContext;

/// A filter from the wire, or `None` when a code is not one Kafka knows.
#[allow(clippy::too_many_arguments)]
fn filter(
    resource_type: i8,
    resource_name: Option<String>,
    pattern_type: i8,
    principal: Option<String>,
    host: Option<String>,
    operation: i8,
    permission: i8,
) -> Option<AclFilter> {
    Some(AclFilter {
        resource_type: ResourceType::from_code(resource_type)?,
        resource_name,
        pattern_type: PatternType::from_code(pattern_type)?,
        principal,
        host,
        operation: Operation::from_code(operation)?,
        permission: Permission::from_code(permission)?,
    })
}

/// CreateAcls.
pub(crate) async fn create(ctx: RequestContext, req: CreateAclsRequest) -> CreateAclsResponse {
    let refuse = |code: ErrorCode, message: Option<String>| AclCreationResult {
        error_code: code.code(),
        error_message: message,
        ..Default::default()
    };
    let refused = if !ctx.state.authz.enabled() {
        Some(ErrorCode::SecurityDisabled)
    } else if !ctx.allowed_cluster(Operation::Alter) {
        Some(ErrorCode::ClusterAuthorizationFailed)
    } else {
        None
    };
    if let Some(code) = refused {
        let results = req.creations.iter().map(|_| refuse(code, None)).collect();
        return CreateAclsResponse {
            results,
            ..Default::default()
        };
    }
    let mut results: Vec<Option<AclCreationResult>> = Vec::with_capacity(req.creations.len());
    let mut add = Vec::new();
    for c in req.creations {
        let acl = AclBinding {
            resource_type: ResourceType::from_code(c.resource_type)
                .unwrap_or(ResourceType::Unknown),
            resource_name: c.resource_name,
            pattern_type: PatternType::from_code(c.resource_pattern_type)
                .unwrap_or(PatternType::Unknown),
            principal: c.principal,
            host: c.host,
            operation: Operation::from_code(c.operation).unwrap_or(Operation::Unknown),
            permission: Permission::from_code(c.permission_type).unwrap_or(Permission::Unknown),
        };
        match acl.validate() {
            Ok(()) => {
                add.push(entry(&acl));
                results.push(None);
            }
            Err(e) => results.push(Some(refuse(ErrorCode::InvalidRequest, Some(e.0)))),
        }
    }
    let outcome = if add.is_empty() {
        Ok(())
    } else {
        let n = add.len();
        let r = ctx.state.alter_acls(add, Vec::new()).await;
        info!(principal = %ctx.principal, acls = n, ok = r.is_ok(), "CreateAcls");
        r
    };
    let results = results
        .into_iter()
        .map(|r| match (r, &outcome) {
            (Some(refused), _) => refused,
            (None, Ok(())) => AclCreationResult::default(),
            (None, Err(e)) => AclCreationResult {
                error_code: e.code(),
                error_message: Some(e.to_string()),
                ..Default::default()
            },
        })
        .collect();
    CreateAclsResponse {
        results,
        ..Default::default()
    }
}

/// DescribeAcls.
pub(crate) async fn describe(
    ctx: RequestContext,
    req: DescribeAclsRequest,
) -> DescribeAclsResponse {
    let error = |code: ErrorCode, message: Option<String>| DescribeAclsResponse {
        error_code: code.code(),
        error_message: message,
        ..Default::default()
    };
    if !ctx.state.authz.enabled() {
        return error(ErrorCode::SecurityDisabled, None);
    }
    if !ctx.allowed_cluster(Operation::Describe) {
        return error(ErrorCode::ClusterAuthorizationFailed, None);
    }
    let Some(f) = filter(
        req.resource_type_filter,
        req.resource_name_filter,
        req.pattern_type_filter,
        req.principal_filter,
        req.host_filter,
        req.operation,
        req.permission_type,
    ) else {
        return error(
            ErrorCode::InvalidRequest,
            Some("unknown filter code".into()),
        );
    };
    if let Err(e) = f.validate() {
        return error(ErrorCode::InvalidRequest, Some(e.0));
    }
    let image = ctx.state.image();
    let mut by_resource: BTreeMap<(i8, String, i8), Vec<AclDescription>> = BTreeMap::new();
    for b in image
        .acls
        .values()
        .filter_map(binding)
        .filter(|b| f.matches(b))
    {
        by_resource
            .entry((
                b.resource_type.code(),
                b.resource_name.clone(),
                b.pattern_type.code(),
            ))
            .or_default()
            .push(AclDescription {
                principal: b.principal,
                host: b.host,
                operation: b.operation.code(),
                permission_type: b.permission.code(),
                ..Default::default()
            });
    }
    DescribeAclsResponse {
        resources: by_resource
            .into_iter()
            .map(
                |((resource_type, resource_name, pattern_type), acls)| DescribeAclsResource {
                    resource_type,
                    resource_name,
                    pattern_type,
                    acls,
                    ..Default::default()
                },
            )
            .collect(),
        ..Default::default()
    }
}

/// DeleteAcls.
pub(crate) async fn delete(ctx: RequestContext, req: DeleteAclsRequest) -> DeleteAclsResponse {
    let each = |code: ErrorCode, message: Option<String>| {
        req.filters
            .iter()
            .map(|_| DeleteAclsFilterResult {
                error_code: code.code(),
                error_message: message.clone(),
                ..Default::default()
            })
            .collect()
    };
    if !ctx.state.authz.enabled() {
        return DeleteAclsResponse {
            filter_results: each(ErrorCode::SecurityDisabled, None),
            ..Default::default()
        };
    }
    if !ctx.allowed_cluster(Operation::Alter) {
        return DeleteAclsResponse {
            filter_results: each(ErrorCode::ClusterAuthorizationFailed, None),
            ..Default::default()
        };
    }
    let image = ctx.state.image();
    let mut remove = Vec::new();
    let mut results = Vec::with_capacity(req.filters.len());
    for DeleteAclsFilter {
        resource_type_filter,
        resource_name_filter,
        pattern_type_filter,
        principal_filter,
        host_filter,
        operation,
        permission_type,
        ..
    } in req.filters.iter().cloned()
    {
        let f = filter(
            resource_type_filter,
            resource_name_filter,
            pattern_type_filter,
            principal_filter,
            host_filter,
            operation,
            permission_type,
        );
        let f = match f.map(|f| f.validate().map(|()| f)) {
            Some(Ok(f)) => f,
            Some(Err(e)) => {
                results.push(Err((ErrorCode::InvalidRequest, e.0)));
                continue;
            }
            None => {
                results.push(Err((
                    ErrorCode::InvalidRequest,
                    "unknown filter code".into(),
                )));
                continue;
            }
        };
        let mut matched = Vec::new();
        for (id, e) in &image.acls {
            if let Some(b) = binding(e).filter(|b| f.matches(b)) {
                if !remove.contains(id) {
                    remove.push(*id);
                }
                matched.push(b);
            }
        }
        results.push(Ok(matched));
    }
    let outcome = if remove.is_empty() {
        Ok(())
    } else {
        let n = remove.len();
        let r = ctx.state.alter_acls(Vec::new(), remove).await;
        info!(principal = %ctx.principal, acls = n, ok = r.is_ok(), "DeleteAcls");
        r
    };
    let filter_results = results
        .into_iter()
        .map(|r| match (r, &outcome) {
            (Err((code, msg)), _) => DeleteAclsFilterResult {
                error_code: code.code(),
                error_message: Some(msg),
                ..Default::default()
            },
            (Ok(_), Err(e)) => DeleteAclsFilterResult {
                error_code: e.code(),
                error_message: Some(e.to_string()),
                ..Default::default()
            },
            (Ok(matched), Ok(())) => DeleteAclsFilterResult {
                matching_acls: matched
                    .into_iter()
                    .map(|b| DeleteAclsMatchingAcl {
                        resource_type: b.resource_type.code(),
                        resource_name: b.resource_name,
                        pattern_type: b.pattern_type.code(),
                        principal: b.principal,
                        host: b.host,
                        operation: b.operation.code(),
                        permission_type: b.permission.code(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            },
        })
        .collect();
    DeleteAclsResponse {
        filter_results,
        ..Default::default()
    }
}
