//! The Kafka listener's security from `server.properties` keys, as Kafka names them:
//! the listener name from `listeners=NAME://HOST:PORT`, its protocol through
//! `listener.security.protocol.map`, `sasl.enabled.mechanisms`, the PLAIN users and the
//! broker's own login from `listener.name.<name>.<mechanism>.sasl.jaas.config`,
//! `sasl.mechanism.inter.broker.protocol`, `connection.failed.authentication.delay.ms` and
//! `connections.max.reauth.ms`. Errors name keys, never values (they may hold passwords).

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use weir_auth::jaas::LoginModule;
use weir_broker::listener_security::{ListenerSecurity, SecurityProtocol};
use weir_client::sasl::SaslLogin;

/// Reads the security keys out of `file`; `listener` is the name before `://` in
/// `listeners`, if one was given.
pub(crate) fn from_file(
    file: &mut BTreeMap<String, String>,
    listener: Option<&str>,
) -> anyhow::Result<ListenerSecurity> {
    let mut s = ListenerSecurity::default();
    let name = listener.unwrap_or("PLAINTEXT").to_ascii_uppercase();
    let map = file.remove("listener.security.protocol.map");
    let protocol = match map {
        Some(m) => {
            let mut found = None;
            for pair in m.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let (l, p) = pair
                    .split_once(':')
                    .context("listener.security.protocol.map entries must be NAME:PROTOCOL")?;
                if l.eq_ignore_ascii_case(&name) {
                    found = Some(p.to_string());
                }
            }
            found.with_context(|| {
                format!("listener.security.protocol.map does not map the listener {name}")
            })?
        }
        None => name.clone(),
    };
    s.protocol = SecurityProtocol::from_name(&protocol).map_err(anyhow::Error::msg)?;
    s.listener_name = name.clone();
    if let Some(m) = file.remove("sasl.enabled.mechanisms") {
        s.sasl_mechanisms = m
            .split(',')
            .map(|x| x.trim().to_ascii_uppercase())
            .filter(|x| !x.is_empty())
            .collect();
    }
    if let Some(v) = file.remove("connection.failed.authentication.delay.ms") {
        s.failed_authentication_delay_ms = v
            .trim()
            .parse()
            .context("connection.failed.authentication.delay.ms must be a number")?;
    }
    if let Some(v) = file.remove("connections.max.reauth.ms") {
        s.max_reauth_ms = v
            .trim()
            .parse()
            .context("connections.max.reauth.ms must be a number")?;
    }
    let inter_broker = file.remove("sasl.mechanism.inter.broker.protocol");
    let prefix = format!("listener.name.{}.", name.to_ascii_lowercase());
    let mut logins: BTreeMap<String, LoginModule> = BTreeMap::new();
    let keys: Vec<String> = file
        .keys()
        .filter(|k| k.starts_with(&prefix) && k.ends_with(".sasl.jaas.config"))
        .cloned()
        .collect();
    for key in keys {
        let mech = key[prefix.len()..key.len() - ".sasl.jaas.config".len()].to_ascii_uppercase();
        let value = file.remove(&key).unwrap_or_default();
        let module = LoginModule::parse(&value).map_err(|e| anyhow::anyhow!("{key}: {e}"))?;
        logins.insert(mech, module);
    }
    if let Some(plain) = logins.get("PLAIN") {
        s.plain_users = plain.plain_users();
    }
    if s.sasl() {
        let mech = match inter_broker {
            Some(m) => Some(m.trim().to_ascii_uppercase()),
            None => s
                .sasl_mechanisms
                .iter()
                .find(|m| {
                    logins
                        .get(*m)
                        .is_some_and(|l| l.options.contains_key("username"))
                })
                .cloned(),
        };
        if let Some(mech) = mech {
            let Some(module) = logins.get(&mech) else {
                bail!(
                    "sasl.mechanism.inter.broker.protocol is {mech}, but {prefix}{}.sasl.jaas.config is not set",
                    mech.to_ascii_lowercase()
                );
            };
            let (Some(username), Some(password)) = (
                module.options.get("username"),
                module.options.get("password"),
            ) else {
                bail!(
                    "{prefix}{}.sasl.jaas.config needs username and password for the broker's own login",
                    mech.to_ascii_lowercase()
                );
            };
            s.inter_broker_login = Some(SaslLogin {
                mechanism: mech,
                username: username.clone(),
                password: password.clone(),
            });
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_sasl_listener_with_plain_users_and_a_broker_login() {
        let mut f = props(&[
            ("sasl.enabled.mechanisms", "PLAIN,SCRAM-SHA-512"),
            (
                "listener.name.sasl_plaintext.plain.sasl.jaas.config",
                r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-pw" user_admin="admin-pw" user_alice="alice-pw";"#,
            ),
            ("connection.failed.authentication.delay.ms", "50"),
        ]);
        let s = from_file(&mut f, Some("SASL_PLAINTEXT")).unwrap();
        assert!(f.is_empty(), "{f:?}");
        assert!(s.sasl());
        assert_eq!(s.sasl_mechanisms, ["PLAIN", "SCRAM-SHA-512"]);
        assert_eq!(s.plain_users.len(), 2);
        let login = s.inter_broker_login.unwrap();
        assert_eq!(
            (login.mechanism.as_str(), login.username.as_str()),
            ("PLAIN", "admin")
        );
        assert_eq!(s.failed_authentication_delay_ms, 50);
    }

    #[test]
    fn protocol_map_and_errors_that_name_no_secret() {
        let mut f = props(&[("listener.security.protocol.map", "CLIENT:SASL_PLAINTEXT")]);
        let s = from_file(&mut f, Some("client")).unwrap();
        assert_eq!(s.protocol, SecurityProtocol::SaslPlaintext);
        assert_eq!(s.listener_name, "CLIENT");
        assert!(from_file(&mut props(&[]), Some("SSL")).is_err());
        let mut f = props(&[(
            "listener.name.plaintext.plain.sasl.jaas.config",
            "Module required password=\"hunter2",
        )]);
        let e = from_file(&mut f, None).unwrap_err().to_string();
        assert!(!e.contains("hunter2"), "{e}");
        let mut f = props(&[("sasl.mechanism.inter.broker.protocol", "SCRAM-SHA-256")]);
        assert!(from_file(&mut f, Some("SASL_PLAINTEXT")).is_err());
    }
}
