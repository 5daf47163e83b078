//! Who may use the HTTP listener when `http.auth=basic`: HTTP Basic credentials checked
//! against the same users the Kafka listeners take (PLAIN users of the JAAS config, SCRAM
//! users of the metadata log, their password checked against the stored credential), and,
//! with an authorizer, DESCRIBE on the cluster. The header is bounded, and neither the
//! password nor the header is ever logged.

use std::net::SocketAddr;

use base64::Engine;
use subtle::ConstantTimeEq;
use weir_auth::acl::{Operation, ResourceType, CLUSTER_NAME};
use weir_auth::principal::Principal;
use weir_auth::scram::Mechanism;

use crate::state::BrokerState;

/// The longest `Authorization` header value looked at.
const MAX_HEADER: usize = 1024;

/// Why a request was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// No usable credentials (401, with a challenge).
    Unauthenticated(&'static str),
    /// Authenticated but not allowed (403).
    Forbidden(String),
}

/// The user of an `Authorization: Basic ...` header value, if its password is right.
pub(crate) fn check(
    state: &BrokerState,
    header: Option<&[u8]>,
    peer: SocketAddr,
) -> Result<String, Refused> {
    let value = header.ok_or(Refused::Unauthenticated("no credentials"))?;
    if value.len() > MAX_HEADER {
        return Err(Refused::Unauthenticated("credentials too long"));
    }
    let encoded = value
        .strip_prefix(b"Basic ")
        .ok_or(Refused::Unauthenticated("not HTTP Basic"))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| Refused::Unauthenticated("bad base64"))?;
    let text = String::from_utf8(decoded).map_err(|_| Refused::Unauthenticated("not UTF-8"))?;
    let (user, password) = text
        .split_once(':')
        .ok_or(Refused::Unauthenticated("no user:password"))?;
    if !password_ok(state, user, password) {
        return Err(Refused::Unauthenticated("wrong user or password"));
    }
    let image = state.image();
    let principal = Principal::user(user);
    let host = peer.ip().to_string();
    let op = Operation::Describe;
    if !state.authz.allowed(
        &image,
        &principal,
        &host,
        op,
        ResourceType::Cluster,
        CLUSTER_NAME,
    ) {
        return Err(Refused::Forbidden(format!(
            "{principal} may not DESCRIBE the cluster"
        )));
    }
    Ok(user.to_string())
}

/// Whether `password` is `user`'s: a PLAIN user's, or one of its SCRAM credentials'.
fn password_ok(state: &BrokerState, user: &str, password: &str) -> bool {
    if let Some(expected) = state.config.security.plain_users.get(user) {
        if bool::from(expected.as_bytes().ct_eq(password.as_bytes())) {
            return true;
        }
    }
    let image = state.image();
    Mechanism::ALL.into_iter().any(|mech| {
        crate::sasl::stored(&image, user, mech).is_some_and(|c| c.matches_password(mech, password))
    })
}
