//! The SCRAM messages (RFC 5802 section 7), read as Kafka's `ScramMessages` reads them:
//! ASCII only, the gs2 header `n,,` or `n,a=<authzid>,` (no channel binding), an optional
//! reserved `m=` attribute (dropped), `n=<saslname>` with `=2C`/`=3D` escapes, a printable
//! nonce and `key=value` extensions. Every part is checked before it is used; anything else
//! is refused.

use crate::scram::{b64, unb64};
use crate::SaslError;

/// The longest SCRAM message accepted (far more than any real one).
pub(crate) const MAX_MESSAGE: usize = 8 * 1024;

/// A client's first message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFirst {
    /// The gs2 header as sent (`n,,` or `n,a=...,`).
    pub gs2_header: String,
    /// The authorization id, unescaped, if given.
    pub authzid: Option<String>,
    /// The username, unescaped.
    pub username: String,
    /// The client's nonce.
    pub nonce: String,
    /// Extensions (`key=value` after the nonce), in order.
    pub extensions: Vec<(String, String)>,
    /// The message without its gs2 header (`client-first-message-bare`).
    pub bare: String,
}

/// A client's final message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFinal {
    /// The channel binding, decoded (the gs2 header, as no binding is used).
    pub channel_binding: Vec<u8>,
    /// The nonce (client's and server's).
    pub nonce: String,
    /// The proof, decoded.
    pub proof: Vec<u8>,
    /// The message up to the proof (`client-final-message-without-proof`).
    pub without_proof: String,
}

fn malformed(what: &str) -> SaslError {
    SaslError::Invalid(format!("malformed SCRAM message: {what}"))
}

fn ascii(bytes: &[u8]) -> Result<&str, SaslError> {
    if bytes.len() > MAX_MESSAGE {
        return Err(malformed("too long"));
    }
    if bytes.iter().any(|b| *b == 0 || *b > 0x7f) {
        return Err(malformed("not 7-bit ASCII"));
    }
    std::str::from_utf8(bytes).map_err(|_| malformed("not ASCII"))
}

/// RFC 5802's `printable`: 0x21-0x7E except `,`.
fn printable(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

/// RFC 5802's `value`: any ASCII but NUL and `,`.
fn value(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b != 0 && b != b',')
}

/// Escapes a username for `n=`: `,` as `=2C` and `=` as `=3D`.
pub fn escape_username(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

/// Reads a `saslname`: `=2C` is `,`, `=3D` is `=`, any other `=` is an error.
pub fn unescape_username(s: &str) -> Option<String> {
    if s.is_empty() || s.contains(',') {
        return None;
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        let esc = rest.get(i..i + 3)?;
        match esc {
            "=2C" => out.push(','),
            "=3D" => out.push('='),
            _ => return None,
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

/// Splits `attr=value` with a one-letter attribute.
fn attr(part: &str) -> Option<(char, &str)> {
    let mut chars = part.chars();
    let a = chars.next()?;
    (chars.next()? == '=').then_some((a, &part[2..]))
}

impl ClientFirst {
    /// Parses a client-first message.
    pub fn parse(bytes: &[u8]) -> Result<Self, SaslError> {
        let text = ascii(bytes)?;
        let Some(rest) = text.strip_prefix("n,") else {
            return Err(malformed(
                "channel binding is not supported (gs2 header must be n)",
            ));
        };
        let (authz, bare) = rest
            .split_once(',')
            .ok_or_else(|| malformed("no gs2 header"))?;
        let authzid = match authz {
            "" => None,
            a => match a.strip_prefix("a=").and_then(unescape_username) {
                Some(id) => Some(id),
                None => return Err(malformed("bad authorization id")),
            },
        };
        let gs2_header = format!("n,{authz},");
        let mut parts = bare.split(',').peekable();
        if parts.peek().is_some_and(|p| p.starts_with("m=")) {
            let reserved = parts.next().unwrap_or_default();
            if !value(&reserved[2..]) {
                return Err(malformed("bad reserved attribute"));
            }
        }
        let username = match parts.next().and_then(attr) {
            Some(('n', name)) => {
                unescape_username(name).ok_or_else(|| malformed("bad username"))?
            }
            _ => return Err(malformed("no username")),
        };
        let nonce = match parts.next().and_then(attr) {
            Some(('r', n)) if printable(n) => n.to_string(),
            _ => return Err(malformed("no nonce")),
        };
        let mut extensions = Vec::new();
        for p in parts {
            let (k, v) = p
                .split_once('=')
                .ok_or_else(|| malformed("bad extension"))?;
            if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphabetic()) || !value(v) {
                return Err(malformed("bad extension"));
            }
            extensions.push((k.to_string(), v.to_string()));
        }
        Ok(ClientFirst {
            gs2_header,
            authzid,
            username,
            nonce,
            extensions,
            bare: bare.to_string(),
        })
    }
}

impl ClientFinal {
    /// Parses a client-final message.
    pub fn parse(bytes: &[u8]) -> Result<Self, SaslError> {
        let text = ascii(bytes)?;
        let (without_proof, proof) = text
            .rsplit_once(",p=")
            .ok_or_else(|| malformed("no proof"))?;
        let proof = unb64(proof).ok_or_else(|| malformed("proof is not base64"))?;
        let mut parts = without_proof.split(',');
        let channel_binding = match parts.next().and_then(attr) {
            Some(('c', c)) => unb64(c).ok_or_else(|| malformed("channel binding is not base64"))?,
            _ => return Err(malformed("no channel binding")),
        };
        let nonce = match parts.next().and_then(attr) {
            Some(('r', n)) if printable(n) => n.to_string(),
            _ => return Err(malformed("no nonce")),
        };
        for p in parts {
            match p.split_once('=') {
                Some((k, v))
                    if !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphabetic()) && value(v) => {}
                _ => return Err(malformed("bad extension")),
            }
        }
        Ok(ClientFinal {
            channel_binding,
            nonce,
            proof,
            without_proof: without_proof.to_string(),
        })
    }
}

/// `r=<nonce>,s=<salt>,i=<iterations>`.
pub(crate) fn server_first(nonce: &str, salt: &[u8], iterations: u32) -> String {
    format!("r={nonce},s={},i={iterations}", b64(salt))
}

/// A server-first message as a client reads it: (nonce, salt, iterations).
pub(crate) fn parse_server_first(bytes: &[u8]) -> Result<(String, Vec<u8>, u32), SaslError> {
    let text = ascii(bytes)?;
    let mut parts = text.split(',');
    if text.starts_with("m=") {
        return Err(malformed("unsupported mandatory extension"));
    }
    let nonce = match parts.next().and_then(attr) {
        Some(('r', n)) if printable(n) => n.to_string(),
        _ => return Err(malformed("no nonce")),
    };
    let salt = match parts.next().and_then(attr) {
        Some(('s', s)) => unb64(s).ok_or_else(|| malformed("salt is not base64"))?,
        _ => return Err(malformed("no salt")),
    };
    let iterations = match parts.next().and_then(attr) {
        Some(('i', i)) => i
            .parse::<u32>()
            .map_err(|_| malformed("bad iteration count"))?,
        _ => return Err(malformed("no iteration count")),
    };
    Ok((nonce, salt, iterations))
}
