//! SASL/SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) as Kafka speaks them:
//! credentials as Kafka stores them (salt, StoredKey, ServerKey, iterations; never the
//! password), the server's side of the exchange, and a client.
//!
//! - `messages`: parsing and writing the four messages, with every part bounded and checked
//!   against RFC 5802's grammar (as Kafka's `ScramMessages` does).
//! - `server`: the exchange as the broker runs it.
//! - `client`: the exchange as a client runs it (Weir's tools, tests).

mod client;
mod messages;
mod server;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

pub use client::ScramClient;
pub use messages::{escape_username, unescape_username, ClientFinal, ClientFirst};
pub use server::ScramServer;

/// The fewest PBKDF2 iterations Kafka accepts for a SCRAM credential.
pub const MIN_ITERATIONS: u32 = 4096;
/// The most PBKDF2 iterations Kafka accepts for a SCRAM credential.
pub const MAX_ITERATIONS: u32 = 16384;

/// A SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mechanism {
    /// SCRAM-SHA-256.
    Sha256,
    /// SCRAM-SHA-512.
    Sha512,
}

impl Mechanism {
    /// Every SCRAM mechanism.
    pub const ALL: [Mechanism; 2] = [Mechanism::Sha256, Mechanism::Sha512];

    /// Its SASL name.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Sha256 => "SCRAM-SHA-256",
            Mechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    /// The mechanism with SASL name `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Mechanism::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Its code in AlterUserScramCredentials and DescribeUserScramCredentials.
    pub fn code(self) -> i8 {
        match self {
            Mechanism::Sha256 => 1,
            Mechanism::Sha512 => 2,
        }
    }

    /// The mechanism with wire code `code`.
    pub fn from_code(code: i8) -> Option<Self> {
        Mechanism::ALL.into_iter().find(|m| m.code() == code)
    }

    /// The hash's output length in bytes.
    pub fn hash_len(self) -> usize {
        match self {
            Mechanism::Sha256 => 32,
            Mechanism::Sha512 => 64,
        }
    }

    /// H(data).
    pub(crate) fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            Mechanism::Sha256 => Sha256::digest(data).to_vec(),
            Mechanism::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// HMAC(key, data). (HMAC takes keys of any length, so it cannot fail.)
    pub(crate) fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            Mechanism::Sha256 => match <Hmac<Sha256> as Mac>::new_from_slice(key) {
                Ok(mut m) => {
                    m.update(data);
                    m.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            },
            Mechanism::Sha512 => match <Hmac<Sha512> as Mac>::new_from_slice(key) {
                Ok(mut m) => {
                    m.update(data);
                    m.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            },
        }
    }

    /// Hi(password, salt, iterations): PBKDF2 with this mechanism's HMAC.
    pub fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        let mut out = vec![0u8; self.hash_len()];
        match self {
            Mechanism::Sha256 => {
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out)
            }
            Mechanism::Sha512 => {
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out)
            }
        }
        out
    }
}

/// A user's SCRAM credential for one mechanism, as Kafka stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramCredential {
    /// The salt.
    pub salt: Vec<u8>,
    /// H(HMAC(SaltedPassword, "Client Key")).
    pub stored_key: Vec<u8>,
    /// HMAC(SaltedPassword, "Server Key").
    pub server_key: Vec<u8>,
    /// PBKDF2 iterations.
    pub iterations: u32,
}

impl ScramCredential {
    /// The credential for a salted password (what AlterUserScramCredentials carries).
    pub fn from_salted_password(
        mech: Mechanism,
        salt: &[u8],
        salted_password: &[u8],
        iterations: u32,
    ) -> Self {
        let client_key = mech.hmac(salted_password, b"Client Key");
        ScramCredential {
            salt: salt.to_vec(),
            stored_key: mech.hash(&client_key),
            server_key: mech.hmac(salted_password, b"Server Key"),
            iterations,
        }
    }

    /// The credential for a password.
    pub fn from_password(mech: Mechanism, password: &str, salt: &[u8], iterations: u32) -> Self {
        let salted = mech.salted_password(password.as_bytes(), salt, iterations);
        ScramCredential::from_salted_password(mech, salt, &salted, iterations)
    }

    /// Whether `password` is the one this credential was made from (for logins that carry
    /// the password itself, such as HTTP Basic); compared in constant time.
    pub fn matches_password(&self, mech: Mechanism, password: &str) -> bool {
        use subtle::ConstantTimeEq;
        let derived = ScramCredential::from_password(mech, password, &self.salt, self.iterations);
        derived.stored_key.ct_eq(&self.stored_key).into()
    }
}

/// `n` random bytes from the operating system.
pub fn random_bytes(n: usize) -> Result<Vec<u8>, getrandom::Error> {
    let mut out = vec![0u8; n];
    getrandom::fill(&mut out)?;
    Ok(out)
}

/// Standard base64, as SCRAM writes salts, proofs and signatures.
pub(crate) fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Standard base64 decoded (padding required, as RFC 5802 writes it).
pub(crate) fn unb64(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

#[cfg(test)]
mod tests;
