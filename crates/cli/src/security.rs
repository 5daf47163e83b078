//! The listeners' SASL settings from `server.properties` keys, as Kafka names them:
//! `sasl.enabled.mechanisms`, the PLAIN users and the broker's own login (on the
//! inter-broker listener) from `listener.name.<name>.<mechanism>.sasl.jaas.config`,
//! `sasl.mechanism.inter.broker.protocol`, `connection.failed.authentication.delay.ms` and
//! `connections.max.reauth.ms`. Errors name keys, never values (they may hold passwords).

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use weir_auth::jaas::LoginModule;
use weir_broker::listener_security::{ListenerSecurity, SecurityProtocol};
use weir_client::sasl::SaslLogin;

/// Reads the SASL keys out of `file`; `inter_broker` is the inter-broker listener's name
/// and `listeners` every listener's name and protocol.
pub(crate) fn from_file(
    file: &mut BTreeMap<String, String>,
    inter_broker: &str,
    listeners: &[(String, SecurityProtocol)],
) -> anyhow::Result<ListenerSecurity> {
    let mut s = ListenerSecurity::default();
    let name = inter_broker.to_ascii_uppercase();
    s.protocol = listeners
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(SecurityProtocol::Plaintext, |(_, p)| *p);
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
    for (listener, _) in listeners {
        let this = format!("listener.name.{}.", listener.to_ascii_lowercase());
        let keys: Vec<String> = file
            .keys()
            .filter(|k| k.starts_with(&this) && k.ends_with(".sasl.jaas.config"))
            .cloned()
            .collect();
        for key in keys {
            let mech = key[this.len()..key.len() - ".sasl.jaas.config".len()].to_ascii_uppercase();
            let value = file.remove(&key).unwrap_or_default();
            let module = LoginModule::parse(&value).map_err(|e| anyhow::anyhow!("{key}: {e}"))?;
            if mech == "PLAIN" {
                // PLAIN users of every SASL listener may log in on any of them.
                s.plain_users.extend(module.plain_users());
            }
            if *listener == name {
                logins.insert(mech, module);
            }
        }
    }
    if s.protocol.sasl() {
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

/// Parses one `--add-scram` value as Kafka's `kafka-storage format` does:
/// `SCRAM-SHA-512=[name=alice,password=alice-secret,iterations=8192]` (iterations default
/// 4096), salting and hashing the password here. Errors never include the password.
pub(crate) fn add_scram(spec: &str) -> anyhow::Result<weir_broker::config::BootstrapScram> {
    use weir_auth::scram::{random_bytes, Mechanism, ScramCredential};
    let bad = || anyhow::anyhow!("--add-scram: expected MECHANISM=[name=USER,password=PASSWORD]");
    let (mech, rest) = spec.split_once('=').ok_or_else(bad)?;
    let mechanism = Mechanism::from_name(mech.trim())
        .with_context(|| format!("--add-scram: unknown mechanism {}", mech.trim()))?;
    let body = rest
        .trim()
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .ok_or_else(bad)?;
    let (mut name, mut password, mut iterations) = (None, None, 4096u32);
    for field in body.split(',') {
        let (k, v) = field.split_once('=').ok_or_else(bad)?;
        let v = v.trim().trim_matches('"');
        match k.trim() {
            "name" => name = Some(v.to_string()),
            "password" => password = Some(v.to_string()),
            "iterations" => {
                iterations = v
                    .parse()
                    .ok()
                    .filter(|i| (4096..=16384).contains(i))
                    .context("--add-scram: iterations must be 4096 to 16384")?
            }
            other => bail!("--add-scram: unknown field {other}"),
        }
    }
    let (Some(user), Some(password)) = (name.filter(|n| !n.is_empty()), password) else {
        return Err(bad());
    };
    if password.is_empty() {
        bail!("--add-scram: empty password for {user}");
    }
    let salt = random_bytes(32).map_err(|e| anyhow::anyhow!("reading random bytes: {e}"))?;
    let credential = ScramCredential::from_password(mechanism, &password, &salt, iterations);
    Ok(weir_broker::config::BootstrapScram {
        user,
        mechanism,
        credential,
    })
}

/// The authorizer from `authorizer.class.name` (Kafka's StandardAuthorizer, by any of
/// the names in [`weir_broker::authz::AUTHORIZER_NAMES`]), `super.users` and
/// `allow.everyone.if.no.acl.found` (default false, as in Kafka).
pub(crate) fn authorizer(
    file: &mut BTreeMap<String, String>,
) -> anyhow::Result<Option<weir_broker::authz::AuthorizerConfig>> {
    let super_users = file.remove("super.users").unwrap_or_default();
    let allow_everyone: Option<bool> = file
        .remove("allow.everyone.if.no.acl.found")
        .map(|v| v.trim().parse::<bool>())
        .transpose()
        .context("allow.everyone.if.no.acl.found must be true or false")?;
    let Some(class) = file
        .remove("authorizer.class.name")
        .filter(|c| !c.trim().is_empty())
    else {
        if !super_users.is_empty() || allow_everyone.is_some() {
            bail!("super.users and allow.everyone.if.no.acl.found need authorizer.class.name");
        }
        return Ok(None);
    };
    if !weir_broker::authz::AUTHORIZER_NAMES.contains(&class.trim()) {
        bail!(
            "authorizer.class.name {class} is not known; use {}",
            weir_broker::authz::AUTHORIZER_NAMES[0]
        );
    }
    for p in super_users
        .split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        weir_auth::principal::Principal::parse(p)
            .map_err(|e| anyhow::anyhow!("super.users: {e}"))?;
    }
    Ok(Some(weir_broker::authz::AuthorizerConfig {
        super_users,
        allow_everyone_if_no_acl_found: allow_everyone.unwrap_or(false),
    }))
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
        let s = from_file(&mut f, "SASL_PLAINTEXT", &[sasl("SASL_PLAINTEXT")]).unwrap();
        assert!(f.is_empty(), "{f:?}");
        assert!(s.protocol.sasl());
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
    fn plain_users_of_every_listener_and_errors_that_name_no_secret() {
        let mut f = props(&[
            ("sasl.enabled.mechanisms", "PLAIN"),
            (
                "listener.name.client.plain.sasl.jaas.config",
                r#"Module required user_bob="bob-pw";"#,
            ),
            (
                "listener.name.internal.plain.sasl.jaas.config",
                r#"Module required username="broker" password="b" user_broker="b";"#,
            ),
        ]);
        let s = from_file(&mut f, "INTERNAL", &[sasl("CLIENT"), sasl("INTERNAL")]).unwrap();
        assert_eq!(s.plain_users.len(), 2);
        assert_eq!(s.inter_broker_login.unwrap().username, "broker");
        let mut f = props(&[(
            "listener.name.plaintext.plain.sasl.jaas.config",
            "Module required password=\"hunter2",
        )]);
        let e = from_file(&mut f, "PLAINTEXT", &[plaintext()])
            .unwrap_err()
            .to_string();
        assert!(!e.contains("hunter2"), "{e}");
        let mut f = props(&[("sasl.mechanism.inter.broker.protocol", "SCRAM-SHA-256")]);
        assert!(from_file(&mut f, "SASL_PLAINTEXT", &[sasl("SASL_PLAINTEXT")]).is_err());
    }

    #[test]
    fn add_scram_as_kafka_storage_format_takes_it() {
        let b = add_scram("SCRAM-SHA-512=[name=admin,password=\"admin-secret\",iterations=8192]")
            .unwrap();
        assert_eq!((b.user.as_str(), b.credential.iterations), ("admin", 8192));
        assert_eq!(b.mechanism.name(), "SCRAM-SHA-512");
        let b = add_scram("SCRAM-SHA-256=[name=alice,password=pw]").unwrap();
        assert_eq!(b.credential.iterations, 4096);
        for bad in [
            "SCRAM-SHA-1=[name=a,password=secret-pw]",
            "SCRAM-SHA-256=name=a,password=secret-pw",
            "SCRAM-SHA-256=[password=secret-pw]",
            "SCRAM-SHA-256=[name=a,password=secret-pw,iterations=10]",
            "SCRAM-SHA-256=[name=a,password=secret-pw,colour=red]",
        ] {
            let e = format!("{:#}", add_scram(bad).err().unwrap());
            assert!(!e.contains("secret-pw"), "{e}");
        }
    }

    #[test]
    fn the_authorizer_from_a_kafka_server_properties() {
        let mut f = props(&[
            (
                "authorizer.class.name",
                "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            ),
            ("super.users", "User:admin;User:ANONYMOUS"),
        ]);
        let a = authorizer(&mut f).unwrap().unwrap();
        assert!(f.is_empty());
        assert_eq!(a.super_users, "User:admin;User:ANONYMOUS");
        assert!(!a.allow_everyone_if_no_acl_found);
        assert!(authorizer(&mut props(&[])).unwrap().is_none());
        for bad in [
            &[("authorizer.class.name", "com.example.Mine")][..],
            &[("super.users", "User:admin")][..],
            &[
                ("authorizer.class.name", "weir.StandardAuthorizer"),
                ("super.users", "admin"),
            ][..],
            &[
                ("authorizer.class.name", "weir.StandardAuthorizer"),
                ("allow.everyone.if.no.acl.found", "perhaps"),
            ][..],
        ] {
            assert!(authorizer(&mut props(bad)).is_err(), "{bad:?}");
        }
    }

    fn sasl(name: &str) -> (String, SecurityProtocol) {
        (name.to_string(), SecurityProtocol::SaslPlaintext)
    }

    fn plaintext() -> (String, SecurityProtocol) {
        ("PLAINTEXT".to_string(), SecurityProtocol::Plaintext)
    }
}
