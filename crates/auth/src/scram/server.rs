//! The server's side of a SCRAM exchange: client-first in, server-first out; client-final in,
//! server-final out and the user authenticated. Every failure but one says only "invalid
//! credentials" to the client (an unknown user, a wrong proof, a wrong nonce, a malformed
//! message alike), as Kafka's `ScramSaslServer` does; an authorization id other than the
//! username is refused by name.

use subtle::ConstantTimeEq;

use crate::scram::messages::{server_first, ClientFinal, ClientFirst};
use crate::scram::{b64, random_bytes, Mechanism, ScramCredential, MIN_ITERATIONS};
use crate::SaslError;

/// Where an exchange is.
enum State {
    /// Waiting for client-first.
    First,
    /// Waiting for client-final.
    Final {
        gs2_header: String,
        auth_prefix: String,
        nonce: String,
        username: String,
        credential: ScramCredential,
    },
    /// Finished or failed: nothing more is accepted.
    Done,
}

/// One SCRAM exchange on the server.
pub struct ScramServer {
    mech: Mechanism,
    state: State,
}

impl ScramServer {
    /// A new exchange for `mech`.
    pub fn new(mech: Mechanism) -> Self {
        ScramServer {
            mech,
            state: State::First,
        }
    }

    /// The mechanism.
    pub fn mechanism(&self) -> Mechanism {
        self.mech
    }

    /// Reads client-first and answers server-first, with a fresh random nonce;
    /// `credential_of` finds a user's credential for this mechanism.
    pub fn client_first(
        &mut self,
        msg: &[u8],
        credential_of: impl FnOnce(&str) -> Option<ScramCredential>,
    ) -> Result<Vec<u8>, SaslError> {
        let nonce = random_bytes(24)
            .map(|b| b64(&b).replace(['+', '/', '='], "x"))
            .map_err(|_| SaslError::Invalid("no randomness for a nonce".into()))?;
        self.client_first_with_nonce(msg, credential_of, &nonce)
    }

    /// [`ScramServer::client_first`] with the server's nonce given (for tests).
    pub fn client_first_with_nonce(
        &mut self,
        msg: &[u8],
        credential_of: impl FnOnce(&str) -> Option<ScramCredential>,
        server_nonce: &str,
    ) -> Result<Vec<u8>, SaslError> {
        if !matches!(self.state, State::First) {
            self.state = State::Done;
            return Err(SaslError::Invalid("unexpected client-first message".into()));
        }
        self.state = State::Done;
        let first = ClientFirst::parse(msg)?;
        let Some(credential) = credential_of(&first.username) else {
            return Err(SaslError::Invalid("unknown user".into()));
        };
        if first
            .authzid
            .as_ref()
            .is_some_and(|a| !a.is_empty() && *a != first.username)
        {
            return Err(SaslError::Refused(
                "Authentication failed: Client requested an authorization id that is different from username".into(),
            ));
        }
        if credential.iterations < MIN_ITERATIONS {
            return Err(SaslError::Invalid(format!(
                "stored credential has {} iterations, below {MIN_ITERATIONS}",
                credential.iterations
            )));
        }
        let nonce = format!("{}{server_nonce}", first.nonce);
        let reply = server_first(&nonce, &credential.salt, credential.iterations);
        self.state = State::Final {
            gs2_header: first.gs2_header,
            auth_prefix: format!("{},{reply}", first.bare),
            nonce,
            username: first.username,
            credential,
        };
        Ok(reply.into_bytes())
    }

    /// Reads client-final: checks the nonce, the channel binding and the proof, and answers
    /// server-final with the username it authenticated.
    pub fn client_final(&mut self, msg: &[u8]) -> Result<(Vec<u8>, String), SaslError> {
        let State::Final {
            gs2_header,
            auth_prefix,
            nonce,
            username,
            credential,
        } = std::mem::replace(&mut self.state, State::Done)
        else {
            return Err(SaslError::Invalid("unexpected client-final message".into()));
        };
        let fin = ClientFinal::parse(msg)?;
        // RFC 5802: the final nonce is exactly the one sent. (librdkafka 1.9, Debian's kcat,
        // sends the client's part twice; Kafka 4.3 refuses that too.)
        if fin.nonce != nonce {
            return Err(SaslError::Invalid(
                "Invalid client nonce in the final client message.".into(),
            ));
        }
        if fin.channel_binding != gs2_header.as_bytes() {
            return Err(SaslError::Invalid(
                "channel binding does not match the gs2 header".into(),
            ));
        }
        if fin.proof.len() != self.mech.hash_len() {
            return Err(SaslError::Invalid("proof of the wrong length".into()));
        }
        let auth_message = format!("{auth_prefix},{}", fin.without_proof);
        let client_signature = self
            .mech
            .hmac(&credential.stored_key, auth_message.as_bytes());
        let client_key: Vec<u8> = fin
            .proof
            .iter()
            .zip(&client_signature)
            .map(|(p, s)| p ^ s)
            .collect();
        let computed = self.mech.hash(&client_key);
        if !bool::from(computed.ct_eq(&credential.stored_key)) {
            return Err(SaslError::Invalid("Invalid client credentials".into()));
        }
        let server_signature = self
            .mech
            .hmac(&credential.server_key, auth_message.as_bytes());
        Ok((
            format!("v={}", b64(&server_signature)).into_bytes(),
            username,
        ))
    }
}
