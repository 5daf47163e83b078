//! The client's side of a SCRAM exchange, for Weir's own tools and tests: it refuses a server
//! whose nonce does not extend its own, an iteration count out of Kafka's range, and a
//! server signature that does not verify.

use subtle::ConstantTimeEq;

use crate::scram::messages::{escape_username, parse_server_first};
use crate::scram::{b64, random_bytes, unb64, Mechanism, MAX_ITERATIONS, MIN_ITERATIONS};
use crate::SaslError;

/// One SCRAM exchange on the client.
pub struct ScramClient {
    mech: Mechanism,
    password: String,
    client_first_bare: String,
    nonce: String,
    server_signature: Option<Vec<u8>>,
}

impl ScramClient {
    /// A new exchange for `username` and `password`, with a fresh random nonce.
    pub fn new(mech: Mechanism, username: &str, password: &str) -> Result<Self, SaslError> {
        let nonce = random_bytes(24)
            .map(|b| b64(&b).replace(['+', '/', '='], "x"))
            .map_err(|_| SaslError::Invalid("no randomness for a nonce".into()))?;
        Ok(ScramClient::with_nonce(mech, username, password, &nonce))
    }

    /// [`ScramClient::new`] with the nonce given (for tests).
    pub fn with_nonce(mech: Mechanism, username: &str, password: &str, nonce: &str) -> Self {
        ScramClient {
            mech,
            password: password.to_string(),
            client_first_bare: format!("n={},r={nonce}", escape_username(username)),
            nonce: nonce.to_string(),
            server_signature: None,
        }
    }

    /// The client-first message.
    pub fn client_first(&self) -> Vec<u8> {
        format!("n,,{}", self.client_first_bare).into_bytes()
    }

    /// Reads server-first and returns client-final.
    pub fn client_final(&mut self, server_first: &[u8]) -> Result<Vec<u8>, SaslError> {
        let (nonce, salt, iterations) = parse_server_first(server_first)?;
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err(SaslError::Invalid(
                "the server's nonce does not extend ours".into(),
            ));
        }
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(SaslError::Invalid(format!(
                "iteration count {iterations} outside {MIN_ITERATIONS}..={MAX_ITERATIONS}"
            )));
        }
        let salted = self
            .mech
            .salted_password(self.password.as_bytes(), &salt, iterations);
        let client_key = self.mech.hmac(&salted, b"Client Key");
        let stored_key = self.mech.hash(&client_key);
        let server_key = self.mech.hmac(&salted, b"Server Key");
        let without_proof = format!("c={},r={nonce}", b64(b"n,,"));
        let server_first = String::from_utf8_lossy(server_first);
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let signature = self.mech.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(k, s)| k ^ s)
            .collect();
        self.server_signature = Some(self.mech.hmac(&server_key, auth_message.as_bytes()));
        Ok(format!("{without_proof},p={}", b64(&proof)).into_bytes())
    }

    /// Checks server-final.
    pub fn verify_server_final(&self, server_final: &[u8]) -> Result<(), SaslError> {
        let text = std::str::from_utf8(server_final)
            .map_err(|_| SaslError::Invalid("server-final is not UTF-8".into()))?;
        if let Some(e) = text.strip_prefix("e=") {
            return Err(SaslError::Refused(format!("the server refused: {e}")));
        }
        let got = text
            .strip_prefix("v=")
            .and_then(unb64)
            .ok_or_else(|| SaslError::Invalid("malformed server-final".into()))?;
        match &self.server_signature {
            Some(want) if bool::from(want.ct_eq(&got)) => Ok(()),
            _ => Err(SaslError::Invalid(
                "the server's signature does not verify".into(),
            )),
        }
    }
}
