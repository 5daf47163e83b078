//! Logging in over SASL (KIP-152: SaslHandshake v1, then SaslAuthenticate) with PLAIN or
//! SCRAM-SHA-256/512, as Kafka's clients do right after ApiVersions. The password never
//! appears in an error.

use bytes::Bytes;
use weir_auth::scram::{Mechanism, ScramClient};
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};

use crate::connection::Connection;
use crate::error::ClientError;

/// A SASL login.
#[derive(Clone)]
pub struct SaslLogin {
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    pub mechanism: String,
    /// The user name.
    pub username: String,
    /// The password.
    pub password: String,
}

impl std::fmt::Debug for SaslLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslLogin")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

fn failed(message: impl Into<String>) -> ClientError {
    ClientError::Kafka {
        code: ErrorCode::SaslAuthenticationFailed,
        message: message.into(),
    }
}

impl Connection {
    /// Authenticates this connection with `login`.
    pub async fn authenticate(&self, login: &SaslLogin) -> Result<(), ClientError> {
        let hs = SaslHandshakeRequest {
            mechanism: login.mechanism.clone(),
        };
        let resp = self.send_at(&hs, 1).await?;
        ClientError::check(resp.error_code, || {
            format!(
                "mechanism {} not enabled (the broker offers {:?})",
                login.mechanism, resp.mechanisms
            )
        })?;
        if login.mechanism == "PLAIN" {
            let token = format!("\u{0}{}\u{0}{}", login.username, login.password);
            self.sasl_round(token.into_bytes()).await?;
            return Ok(());
        }
        let mech = Mechanism::from_name(&login.mechanism)
            .ok_or_else(|| failed(format!("unsupported mechanism {}", login.mechanism)))?;
        let mut scram = ScramClient::new(mech, &login.username, &login.password)
            .map_err(|e| failed(e.to_string()))?;
        let server_first = self.sasl_round(scram.client_first()).await?;
        let client_final = scram
            .client_final(&server_first)
            .map_err(|e| failed(e.to_string()))?;
        let server_final = self.sasl_round(client_final).await?;
        scram
            .verify_server_final(&server_final)
            .map_err(|e| failed(e.to_string()))
    }

    /// One SaslAuthenticate exchange: the server's bytes, or its error.
    async fn sasl_round(&self, token: Vec<u8>) -> Result<Vec<u8>, ClientError> {
        let req = SaslAuthenticateRequest {
            auth_bytes: Bytes::from(token),
            ..Default::default()
        };
        let version = self.version_of::<SaslAuthenticateRequest>()?;
        let resp = self.send_at(&req, version).await?;
        if resp.error_code != 0 {
            return Err(ClientError::Kafka {
                code: ErrorCode::from_code(resp.error_code),
                message: resp.error_message.unwrap_or_default(),
            });
        }
        Ok(resp.auth_bytes.to_vec())
    }
}
