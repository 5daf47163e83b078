//! How clients on the Kafka listener prove who they are, with Kafka's setting names:
//! the listener's security protocol (`listeners=SASL_PLAINTEXT://...`,
//! `listener.security.protocol.map`), `sasl.enabled.mechanisms`, the PLAIN users of
//! `listener.name.<listener>.plain.sasl.jaas.config`, the broker's own login to the others
//! (`sasl.mechanism.inter.broker.protocol` and that mechanism's JAAS `username`/`password`),
//! `connection.failed.authentication.delay.ms` and `connections.max.reauth.ms`; and the
//! listeners besides the inter-broker one. Passwords and keys never appear in `Debug` output.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;

use weir_client::sasl::SaslLogin;

use crate::tls::TlsSettings;

/// A listener's security protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    /// No authentication (every client is `User:ANONYMOUS`).
    Plaintext,
    /// TLS; a client certificate, if asked for, names the principal.
    Ssl,
    /// SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) without TLS.
    SaslPlaintext,
    /// SASL inside TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// The protocol named `name` (`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT`, `SASL_SSL`).
    pub fn from_name(name: &str) -> Result<Self, String> {
        match name.to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Ok(SecurityProtocol::Plaintext),
            "SSL" => Ok(SecurityProtocol::Ssl),
            "SASL_PLAINTEXT" => Ok(SecurityProtocol::SaslPlaintext),
            "SASL_SSL" => Ok(SecurityProtocol::SaslSsl),
            _ => Err(format!("unknown security protocol {name}")),
        }
    }

    /// Whether clients authenticate with SASL.
    pub fn sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }

    /// Whether the listener speaks TLS.
    pub fn tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }
}

/// A Kafka listener besides the inter-broker one: its name, address and protocol.
#[derive(Debug, Clone)]
pub struct Listener {
    /// Its name (`listeners=NAME://HOST:PORT`), upper case.
    pub name: String,
    /// Where it binds.
    pub addr: SocketAddr,
    /// Host and port advertised for it; `None` advertises the bound address.
    pub advertised: Option<(String, u16)>,
    /// Its security protocol.
    pub protocol: SecurityProtocol,
    /// Its TLS settings, on SSL and SASL_SSL listeners.
    pub tls: Option<TlsSettings>,
}

/// The Kafka listener's security settings.
#[derive(Clone)]
pub struct ListenerSecurity {
    /// The inter-broker listener's name (`PLAINTEXT`, `SASL_PLAINTEXT`, or one mapped to a
    /// protocol): the one bound to `BrokerConfig::listen`.
    pub listener_name: String,
    /// Its protocol.
    pub protocol: SecurityProtocol,
    /// Its TLS settings, when it is an SSL or SASL_SSL listener.
    pub tls: Option<TlsSettings>,
    /// `sasl.enabled.mechanisms`.
    pub sasl_mechanisms: Vec<String>,
    /// PLAIN users and passwords (`user_<name>` options of the PLAIN JAAS config).
    pub plain_users: BTreeMap<String, String>,
    /// How this broker logs in to the others, on a SASL listener.
    pub inter_broker_login: Option<SaslLogin>,
    /// `connection.failed.authentication.delay.ms`.
    pub failed_authentication_delay_ms: u64,
    /// `connections.max.reauth.ms` (0: sessions do not expire).
    pub max_reauth_ms: i64,
}

impl Default for ListenerSecurity {
    fn default() -> Self {
        ListenerSecurity {
            listener_name: "PLAINTEXT".into(),
            protocol: SecurityProtocol::Plaintext,
            tls: None,
            sasl_mechanisms: vec!["SCRAM-SHA-256".into(), "SCRAM-SHA-512".into()],
            plain_users: BTreeMap::new(),
            inter_broker_login: None,
            failed_authentication_delay_ms: 100,
            max_reauth_ms: 0,
        }
    }
}

impl fmt::Debug for ListenerSecurity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListenerSecurity")
            .field("listener_name", &self.listener_name)
            .field("protocol", &self.protocol)
            .field("tls", &self.tls)
            .field("sasl_mechanisms", &self.sasl_mechanisms)
            .field("plain_users", &self.plain_users.keys().collect::<Vec<_>>())
            .field("inter_broker_login", &self.inter_broker_login)
            .field(
                "failed_authentication_delay_ms",
                &self.failed_authentication_delay_ms,
            )
            .field("max_reauth_ms", &self.max_reauth_ms)
            .finish()
    }
}

impl ListenerSecurity {
    /// Checks the settings fit together, for `protocols`: those of every listener.
    pub fn validate(&self, protocols: &[SecurityProtocol]) -> Result<(), String> {
        if self.protocol.tls() && self.tls.is_none() {
            return Err(format!(
                "listener {} is {:?} but has no certificate (ssl.keystore.location)",
                self.listener_name, self.protocol
            ));
        }
        if !protocols.iter().any(|p| p.sasl()) {
            return Ok(());
        }
        if self.sasl_mechanisms.is_empty() {
            return Err("sasl.enabled.mechanisms is empty on a SASL listener".into());
        }
        for m in &self.sasl_mechanisms {
            if !["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"].contains(&m.as_str()) {
                return Err(format!(
                    "SASL mechanism {m} is not supported (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_names_users_but_no_password() {
        let mut s = ListenerSecurity::default();
        s.plain_users.insert("alice".into(), "alice-secret".into());
        s.inter_broker_login = Some(SaslLogin {
            mechanism: "PLAIN".into(),
            username: "broker".into(),
            password: "broker-secret".into(),
        });
        let text = format!("{s:?}");
        assert!(text.contains("alice") && text.contains("broker"));
        assert!(!text.contains("secret"), "{text}");
    }
}
