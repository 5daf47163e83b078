//! AlterUserScramCredentials and DescribeUserScramCredentials: SCRAM users in the metadata
//! log. An upsertion carries the salt and the salted password (the client derives them);
//! the broker turns that into StoredKey and ServerKey, and only those reach the controller
//! and the log. Describing returns mechanisms and iteration counts, never key material.

use std::collections::BTreeMap;

use weir_auth::acl::Operation;
use weir_auth::scram::{Mechanism, ScramCredential};
use weir_meta::users::ScramChange;
use weir_meta::StoredScram;
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use weir_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use weir_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};

use crate::handlers::context::RequestContext;

/// AlterUserScramCredentials.
pub(crate) async fn alter(
    ctx: RequestContext,
    req: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    if !ctx.allowed_cluster(Operation::Alter) {
        let mut users: Vec<String> = req.deletions.iter().map(|d| d.name.clone()).collect();
        users.extend(req.upsertions.iter().map(|u| u.name.clone()));
        users.dedup();
        let results = users
            .into_iter()
            .map(|user| AlterUserScramCredentialsResult {
                user,
                error_code: ErrorCode::ClusterAuthorizationFailed.code(),
                ..Default::default()
            })
            .collect();
        return AlterUserScramCredentialsResponse {
            results,
            ..Default::default()
        };
    }
    let mut changes: Vec<(String, ScramChange)> = Vec::new();
    for d in req.deletions {
        changes.push((
            d.name,
            ScramChange::Delete {
                mechanism: d.mechanism,
            },
        ));
    }
    for u in req.upsertions {
        let credential = match Mechanism::from_code(u.mechanism) {
            Some(m) => {
                let iterations = u32::try_from(u.iterations).unwrap_or(0);
                let c = ScramCredential::from_salted_password(
                    m,
                    &u.salt,
                    &u.salted_password,
                    iterations,
                );
                StoredScram {
                    salt: c.salt,
                    stored_key: c.stored_key,
                    server_key: c.server_key,
                    iterations: u.iterations,
                }
            }
            // The controller refuses the mechanism; nothing is derived for it.
            None => StoredScram {
                salt: Vec::new(),
                stored_key: Vec::new(),
                server_key: Vec::new(),
                iterations: u.iterations,
            },
        };
        changes.push((
            u.name,
            ScramChange::Upsert {
                mechanism: u.mechanism,
                credential,
            },
        ));
    }
    let mut users: Vec<String> = Vec::new();
    for (u, _) in &changes {
        if !users.contains(u) {
            users.push(u.clone());
        }
    }
    let outcome = ctx.state.alter_scram(changes).await;
    let results = users
        .into_iter()
        .enumerate()
        .map(|(i, user)| match outcome.get(i) {
            Some(Ok(())) => AlterUserScramCredentialsResult {
                user,
                ..Default::default()
            },
            Some(Err(e)) => AlterUserScramCredentialsResult {
                user,
                error_code: e.code(),
                error_message: Some(e.to_string()),
                ..Default::default()
            },
            None => AlterUserScramCredentialsResult {
                user,
                error_code: ErrorCode::UnknownServerError.code(),
                error_message: Some("the controller gave no result".into()),
                ..Default::default()
            },
        })
        .collect();
    AlterUserScramCredentialsResponse {
        results,
        ..Default::default()
    }
}

/// DescribeUserScramCredentials.
pub(crate) async fn describe(
    ctx: RequestContext,
    req: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    if !ctx.allowed_cluster(Operation::Describe) {
        return DescribeUserScramCredentialsResponse {
            error_code: ErrorCode::ClusterAuthorizationFailed.code(),
            ..Default::default()
        };
    }
    let image = ctx.state.image();
    let asked: Vec<String> = match req.users {
        Some(users) if !users.is_empty() => users.into_iter().map(|u| u.name).collect(),
        _ => image.scram.keys().cloned().collect(),
    };
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for u in &asked {
        *counts.entry(u).or_default() += 1;
    }
    let mut results = Vec::new();
    let mut done: Vec<&str> = Vec::new();
    for user in &asked {
        if done.contains(&user.as_str()) {
            continue;
        }
        done.push(user);
        let result = if counts[user.as_str()] > 1 {
            DescribeUserScramCredentialsResult {
                user: user.clone(),
                error_code: ErrorCode::DuplicateResource.code(),
                error_message: Some(format!(
                    "Cannot describe SCRAM credentials for the same user twice in a single request: {user}"
                )),
                ..Default::default()
            }
        } else {
            match image.scram.get(user) {
                Some(creds) => DescribeUserScramCredentialsResult {
                    user: user.clone(),
                    credential_infos: creds
                        .iter()
                        .map(|(m, c)| CredentialInfo {
                            mechanism: *m,
                            iterations: c.iterations,
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                },
                None => DescribeUserScramCredentialsResult {
                    user: user.clone(),
                    error_code: ErrorCode::ResourceNotFound.code(),
                    error_message: Some(format!(
                        "Attempt to describe a user credential that does not exist: {user}"
                    )),
                    ..Default::default()
                },
            }
        };
        results.push(result);
    }
    DescribeUserScramCredentialsResponse {
        results,
        ..Default::default()
    }
}
