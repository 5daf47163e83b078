//! Principals as Kafka writes them: `type:name`, e.g. `User:alice`; `User:ANONYMOUS` for a
//! client that did not authenticate.

use std::fmt;

/// Who a client is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Principal {
    /// The principal type, `User` for everything Weir authenticates.
    pub kind: String,
    /// The name.
    pub name: String,
}

/// Why a principal string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid principal {0:?}: expected TYPE:NAME")]
pub struct BadPrincipal(pub String);

impl Principal {
    /// `User:<name>`.
    pub fn user(name: impl Into<String>) -> Self {
        Principal {
            kind: "User".into(),
            name: name.into(),
        }
    }

    /// `User:ANONYMOUS`, the principal of an unauthenticated client.
    pub fn anonymous() -> Self {
        Principal::user("ANONYMOUS")
    }

    /// Parses `TYPE:NAME`, split at the first `:`; both parts must be there.
    pub fn parse(s: &str) -> Result<Self, BadPrincipal> {
        match s.split_once(':') {
            Some((kind, name)) if !kind.is_empty() => Ok(Principal {
                kind: kind.into(),
                name: name.into(),
            }),
            _ => Err(BadPrincipal(s.into())),
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_as_kafka_does() {
        let p = Principal::parse("User:CN=client,O=Org").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.kind, "User");
        assert_eq!(p.name, "CN=client,O=Org");
        assert_eq!(p.to_string(), "User:CN=client,O=Org");
        assert_eq!(Principal::anonymous().to_string(), "User:ANONYMOUS");
        assert!(Principal::parse("alice").is_err());
        assert!(Principal::parse(":alice").is_err());
        assert_eq!(Principal::parse("User:").map(|p| p.name), Ok(String::new()));
    }
}
