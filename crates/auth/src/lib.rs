//! `weir-auth`: who a client is and what it may do, with no sockets: the broker feeds it the
//! bytes of SASL exchanges and asks it about actions.
//!
//! - [`principal`]: `User:alice`, as Kafka names principals.
//! - [`jaas`]: `sasl.jaas.config` lines, and the PLAIN users in them.
//! - [`plain`]: SASL/PLAIN (RFC 4616) as Kafka's PlainSaslServer checks it.
//! - [`scram`]: SASL/SCRAM-SHA-256 and -512 (RFC 5802, 7677): credentials and the server's
//!   side of the exchange (and a client, for Weir's own tools and tests).
//! - [`ssl_principal`]: the principal of a TLS client certificate (`ssl.principal.mapping.rules`).
//! - [`acl`]: ACL bindings and filters with Kafka's wire codes and validation.
//! - [`authorizer`]: Kafka's StandardAuthorizer decisions over a set of ACLs.

pub mod acl;
pub mod authorizer;
pub mod jaas;
pub mod plain;
pub mod principal;
pub mod scram;
pub mod ssl_principal;

/// The largest SASL token accepted (Kafka's `sasl.server.max.receive.size` default).
pub const MAX_TOKEN_BYTES: usize = 524_288;

/// Why a SASL exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    /// Bad credentials or a malformed message: the client is told only that its credentials
    /// were invalid for the mechanism (Kafka's `SaslException`).
    #[error("invalid credentials: {0}")]
    Invalid(String),
    /// Refused with this message sent to the client (Kafka's `SaslAuthenticationException`).
    #[error("{0}")]
    Refused(String),
}

impl SaslError {
    /// The message a client gets in SaslAuthenticate, for `mechanism`; `reauth` when the
    /// session was being re-authenticated.
    pub fn client_message(&self, mechanism: &str, reauth: bool) -> String {
        match self {
            SaslError::Invalid(_) => format!(
                "Authentication failed during {} due to invalid credentials with SASL mechanism {mechanism}",
                if reauth { "re-authentication" } else { "authentication" }
            ),
            SaslError::Refused(m) => m.clone(),
        }
    }
}
