//! SASL/PLAIN (RFC 4616) as Kafka's `PlainSaslServer` checks it: the token is
//! `authzid NUL authcid NUL password` in UTF-8; the username and password must not be empty,
//! an authorization id must equal the username, and the password is compared in constant
//! time. Kafka's messages are kept, so a client sees what it would see from Kafka.

use subtle::ConstantTimeEq;

use crate::{SaslError, MAX_TOKEN_BYTES};

/// Checks a PLAIN token; `password_of` gives a user's password, if the user exists. Returns
/// the authenticated username.
pub fn authenticate<'a>(
    token: &[u8],
    password_of: impl Fn(&str) -> Option<&'a str>,
) -> Result<String, SaslError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(SaslError::Refused("SASL/PLAIN token too large".into()));
    }
    let text = std::str::from_utf8(token)
        .map_err(|_| SaslError::Refused("Invalid SASL/PLAIN response: not UTF-8".into()))?;
    let parts: Vec<&str> = text.splitn(4, '\u{0}').collect();
    let [authzid, username, password] = parts[..] else {
        return Err(SaslError::Refused(format!(
            "Invalid SASL/PLAIN response: expected 3 tokens, got {}",
            parts.len()
        )));
    };
    if username.is_empty() {
        return Err(SaslError::Refused(
            "Authentication failed: username not specified".into(),
        ));
    }
    if password.is_empty() {
        return Err(SaslError::Refused(
            "Authentication failed: password not specified".into(),
        ));
    }
    let known = password_of(username);
    // Compare against something even for an unknown user, so timing tells nothing.
    let expected = known.unwrap_or("");
    let same: bool = expected.as_bytes().ct_eq(password.as_bytes()).into();
    if known.is_none() || !same {
        return Err(SaslError::Refused(
            "Authentication failed: Invalid username or password".into(),
        ));
    }
    if !authzid.is_empty() && authzid != username {
        return Err(SaslError::Refused(
            "Authentication failed: Client requested an authorization id that is different from username".into(),
        ));
    }
    Ok(username.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(u: &str) -> Option<&'static str> {
        match u {
            "alice" => Some("alice-secret"),
            _ => None,
        }
    }

    #[test]
    fn accepts_the_right_password_and_refuses_the_rest_as_kafka_does() {
        assert_eq!(
            authenticate(b"\0alice\0alice-secret", users),
            Ok("alice".into())
        );
        assert_eq!(
            authenticate(b"alice\0alice\0alice-secret", users),
            Ok("alice".into())
        );
        let refused = |t: &[u8]| match authenticate(t, users) {
            Err(SaslError::Refused(m)) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            refused(b"\0alice\0wrong"),
            "Authentication failed: Invalid username or password"
        );
        assert_eq!(
            refused(b"\0bob\0alice-secret"),
            "Authentication failed: Invalid username or password"
        );
        assert_eq!(
            refused(b"\0\0pw"),
            "Authentication failed: username not specified"
        );
        assert_eq!(
            refused(b"\0alice\0"),
            "Authentication failed: password not specified"
        );
        assert!(refused(b"bob\0alice\0alice-secret").contains("authorization id"));
        assert_eq!(
            refused(b"alice-secret"),
            "Invalid SASL/PLAIN response: expected 3 tokens, got 1"
        );
        assert_eq!(
            refused(b"\0a\0b\0c"),
            "Invalid SASL/PLAIN response: expected 3 tokens, got 4"
        );
        assert!(refused(&[0xff, 0, b'a', 0, b'b']).contains("UTF-8"));
        assert!(refused(&vec![b'a'; MAX_TOKEN_BYTES + 1]).contains("too large"));
    }
}
