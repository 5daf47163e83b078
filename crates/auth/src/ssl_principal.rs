//! The principal of a client that proved itself with a TLS certificate, as Kafka's
//! `DefaultKafkaPrincipalBuilder` makes it: the certificate subject as an RFC 2253
//! distinguished name (what Java's `X500Principal.getName()` returns), passed through
//! `ssl.principal.mapping.rules` (`DEFAULT`, or `RULE:pattern/replacement/[LU]`).

use std::fmt::Write as _;

use der::{Decode, Encode, Tagged};
use regex::Regex;
use x509_cert::Certificate;

use crate::principal::Principal;

/// Why a certificate or a mapping rule was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SslPrincipalError {
    /// The certificate could not be parsed.
    #[error("unreadable client certificate: {0}")]
    Certificate(String),
    /// `ssl.principal.mapping.rules` is malformed.
    #[error("ssl.principal.mapping.rules: {0}")]
    Rules(String),
    /// No rule matched the subject.
    #[error("no ssl.principal.mapping.rules rule matches the certificate subject")]
    NoRuleMatched,
}

/// The subject of the DER certificate `der`, written as RFC 2253 does.
pub fn subject_dn(der: &[u8]) -> Result<String, SslPrincipalError> {
    let cert =
        Certificate::from_der(der).map_err(|e| SslPrincipalError::Certificate(e.to_string()))?;
    let mut out = String::new();
    // RFC 2253 writes the last RDN of the sequence first.
    for (i, rdn) in cert.tbs_certificate.subject.0.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, atv) in rdn.0.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            let oid = atv.oid.to_string();
            match (keyword(&oid), string_value(&atv.value)) {
                (Some(k), Some(v)) => {
                    out.push_str(k);
                    out.push('=');
                    escape_into(&v, &mut out);
                }
                _ => {
                    let bytes = atv
                        .value
                        .to_der()
                        .map_err(|e| SslPrincipalError::Certificate(e.to_string()))?;
                    let _ = write!(out, "{oid}=#");
                    for b in bytes {
                        let _ = write!(out, "{b:02x}");
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The keywords RFC 2253 (and Java) print for attribute types; others print as their OID.
fn keyword(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "STREET",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

/// A directory string's text (UTF8String, PrintableString, IA5String, TeletexString,
/// BMPString); `None` for other types.
fn string_value(any: &der::Any) -> Option<String> {
    let bytes = any.value();
    match any.tag().octet() {
        0x0c | 0x13 | 0x16 => std::str::from_utf8(bytes).ok().map(str::to_string),
        0x14 => Some(bytes.iter().map(|&b| char::from(b)).collect()),
        0x1e if bytes.len().is_multiple_of(2) => {
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

/// Escapes a value as RFC 2253 section 2.4 asks.
fn escape_into(v: &str, out: &mut String) {
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
}

/// One `ssl.principal.mapping.rules` rule.
#[derive(Debug, Clone)]
enum Rule {
    /// The whole DN.
    Default,
    /// A full match of `pattern` is replaced by `replacement`, then cased.
    Replace {
        pattern: Regex,
        replacement: String,
        case: Option<char>,
    },
}

/// `ssl.principal.mapping.rules`: the first rule that matches names the principal.
#[derive(Debug, Clone)]
pub struct PrincipalMapper {
    rules: Vec<Rule>,
}

impl Default for PrincipalMapper {
    fn default() -> Self {
        PrincipalMapper {
            rules: vec![Rule::Default],
        }
    }
}

impl PrincipalMapper {
    /// Parses Kafka's rule list, e.g.
    /// `RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L,DEFAULT`.
    pub fn parse(text: &str) -> Result<Self, SslPrincipalError> {
        let mut rules = Vec::new();
        let mut rest = text.trim();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("DEFAULT") {
                rules.push(Rule::Default);
                rest = after;
            } else if let Some(after) = rest.strip_prefix("RULE:") {
                let (pattern, after) = until_slash(after)
                    .ok_or_else(|| SslPrincipalError::Rules("a RULE needs /".into()))?;
                let (replacement, after) = until_slash(after).ok_or_else(|| {
                    SslPrincipalError::Rules("a RULE needs pattern/replacement/".into())
                })?;
                let (case, after) = match after.chars().next() {
                    Some(c @ ('L' | 'U')) => (Some(c), &after[1..]),
                    _ => (None, after),
                };
                let pattern = Regex::new(&format!("^(?:{pattern})$"))
                    .map_err(|e| SslPrincipalError::Rules(format!("bad pattern: {e}")))?;
                rules.push(Rule::Replace {
                    pattern,
                    replacement: java_replacement(&replacement),
                    case,
                });
                rest = after;
            } else {
                return Err(SslPrincipalError::Rules(format!(
                    "expected DEFAULT or RULE: at {rest:?}"
                )));
            }
            rest = rest.trim_start();
            match rest.strip_prefix(',') {
                Some(after) => rest = after.trim_start(),
                None if rest.is_empty() => {}
                None => {
                    return Err(SslPrincipalError::Rules(format!(
                        "expected , between rules at {rest:?}"
                    )))
                }
            }
        }
        if rules.is_empty() {
            return Err(SslPrincipalError::Rules("no rules".into()));
        }
        Ok(PrincipalMapper { rules })
    }

    /// The principal name for the subject `dn`.
    pub fn name(&self, dn: &str) -> Result<String, SslPrincipalError> {
        for rule in &self.rules {
            match rule {
                Rule::Default => return Ok(dn.to_string()),
                Rule::Replace {
                    pattern,
                    replacement,
                    case,
                } => {
                    if pattern.is_match(dn) {
                        let name = pattern.replace_all(dn, replacement.as_str()).into_owned();
                        return Ok(match case {
                            Some('L') => name.to_lowercase(),
                            Some('U') => name.to_uppercase(),
                            _ => name,
                        });
                    }
                }
            }
        }
        Err(SslPrincipalError::NoRuleMatched)
    }

    /// `User:<name>` for the DER certificate `der`.
    pub fn principal(&self, der: &[u8]) -> Result<Principal, SslPrincipalError> {
        Ok(Principal::user(self.name(&subject_dn(der)?)?))
    }
}

/// Splits at the first `/` not escaped by `\`, unescaping `\/`.
fn until_slash(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, '/')) => out.push('/'),
                Some((_, n)) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            },
            '/' => return Some((out, &s[i + 1..])),
            _ => out.push(c),
        }
    }
    None
}

/// Java's `$1` group references as the regex crate spells them (`${1}`), so that a digit
/// or letter after the reference is not read as part of the group name.
fn java_replacement(r: &str) -> String {
    let mut out = String::new();
    let mut chars = r.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                if digits.is_empty() {
                    out.push_str("$$");
                } else {
                    let _ = write!(out, "${{{digits}}}");
                }
            }
            '\\' => match chars.next() {
                Some('$') => out.push_str("$$"),
                Some(n) => out.push(n),
                None => {}
            },
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
