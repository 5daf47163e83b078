//! A JAAS login-module line as Kafka takes it in `sasl.jaas.config` settings, e.g.
//! `org.apache.kafka.common.security.plain.PlainLoginModule required username="admin"
//! password="admin-secret" user_admin="admin-secret";`: the module, its flag and its
//! options. Kafka's PLAIN server reads its users from the `user_<name>` options.

use std::collections::BTreeMap;

/// One parsed login module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginModule {
    /// The module class.
    pub class: String,
    /// `required`, `requisite`, `sufficient` or `optional`.
    pub flag: String,
    /// Options, `key="value"` or `key=value`.
    pub options: BTreeMap<String, String>,
}

/// Why a JAAS line was refused (the message names no value: they may be passwords).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid JAAS config: {0}")]
pub struct BadJaas(pub &'static str);

impl LoginModule {
    /// Parses one `class flag key=value ...;` entry.
    pub fn parse(text: &str) -> Result<Self, BadJaas> {
        let text = text.trim();
        let text = text
            .strip_suffix(';')
            .ok_or(BadJaas("it must end with ';'"))?;
        let mut rest = text.trim_start();
        let mut word = || -> Option<String> {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let w = rest[..end].to_string();
            rest = rest[end..].trim_start();
            (!w.is_empty()).then_some(w)
        };
        let class = word().ok_or(BadJaas("no login module class"))?;
        let flag = word().ok_or(BadJaas("no control flag"))?;
        if !["required", "requisite", "sufficient", "optional"].contains(&flag.as_str()) {
            return Err(BadJaas(
                "the control flag must be required, requisite, sufficient or optional",
            ));
        }
        let mut options = BTreeMap::new();
        while !rest.is_empty() {
            let eq = rest.find('=').ok_or(BadJaas("an option without '='"))?;
            let key = rest[..eq].trim().to_string();
            if key.is_empty() || key.contains(char::is_whitespace) {
                return Err(BadJaas("a bad option name"));
            }
            rest = rest[eq + 1..].trim_start();
            let value = if let Some(quoted) = rest.strip_prefix('"') {
                let mut value = String::new();
                let mut chars = quoted.char_indices();
                let mut end = None;
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => match chars.next() {
                            Some((_, e)) => value.push(e),
                            None => break,
                        },
                        '"' => {
                            end = Some(i);
                            break;
                        }
                        c => value.push(c),
                    }
                }
                let end = end.ok_or(BadJaas("an unterminated quoted value"))?;
                rest = quoted[end + 1..].trim_start();
                value
            } else {
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                let v = rest[..end].to_string();
                rest = rest[end..].trim_start();
                v
            };
            options.insert(key, value);
        }
        Ok(LoginModule {
            class,
            flag,
            options,
        })
    }

    /// The `user_<name>` options: PLAIN users and their passwords.
    pub fn plain_users(&self) -> BTreeMap<String, String> {
        self.options
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("user_")?.to_string(), v.clone())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kafkas_plain_login_module() {
        let m = LoginModule::parse(
            r#"org.apache.kafka.common.security.plain.PlainLoginModule required
               username="admin" password="admin-secret" user_admin="admin-secret"
               user_alice="with \"quotes\" and spaces";"#,
        )
        .unwrap();
        assert_eq!(
            m.class,
            "org.apache.kafka.common.security.plain.PlainLoginModule"
        );
        assert_eq!(m.flag, "required");
        assert_eq!(m.options["username"], "admin");
        let users = m.plain_users();
        assert_eq!(users.len(), 2);
        assert_eq!(users["alice"], "with \"quotes\" and spaces");
        let scram = LoginModule::parse(
            "org.apache.kafka.common.security.scram.ScramLoginModule required username=admin password=pw;",
        )
        .unwrap();
        assert_eq!(scram.options["password"], "pw");
    }

    #[test]
    fn refuses_broken_lines_without_echoing_them() {
        for bad in [
            "",
            "Module required",
            "Module;",
            "Module maybe a=b;",
            "Module required a=\"open;",
            "Module required =b;",
            "Module required novalue;",
        ] {
            let e = LoginModule::parse(bad).unwrap_err();
            assert!(!e.to_string().contains("open"), "{e}");
        }
    }
}
