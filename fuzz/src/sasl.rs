//! `sasl`: the SASL/PLAIN and SCRAM servers fed hostile bytes.
//!
//! Input: one mode byte (`0` PLAIN, `1` SCRAM-SHA-256, `2` SCRAM-SHA-512, anything else the
//! SCRAM message parsers alone), a two-byte big-endian length `L`, then `L` bytes of the
//! first client message and the rest as the second. The server knows one user, `user` with
//! password `pencil` (4096 iterations).
//!
//! Properties: nothing panics; PLAIN accepts exactly the token naming `user` with `pencil`;
//! SCRAM completes only for `user`, and a server-final it sends is `v=` and base64; a
//! parsed client-first is its gs2 header followed by its bare part, and a parsed
//! client-final is its part without the proof followed by `,p=` and the proof re-encoded.

use std::sync::OnceLock;

use weir_auth::scram::{ClientFinal, ClientFirst, Mechanism, ScramCredential, ScramServer};
use weir_auth::{plain, SaslError};

/// The salt of the one known user.
pub const SALT: &[u8] = b"fuzz-salt-0123456";

fn credential(mech: Mechanism) -> ScramCredential {
    static C: OnceLock<[ScramCredential; 2]> = OnceLock::new();
    let c = C.get_or_init(|| {
        Mechanism::ALL.map(|m| ScramCredential::from_password(m, "pencil", SALT, 4096))
    });
    c[usize::from(mech == Mechanism::Sha512)].clone()
}

/// Splits an input into (mode, first, second).
pub fn split(data: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&mode, rest) = data.split_first()?;
    let len = usize::from(u16::from_be_bytes([*rest.first()?, *rest.get(1)?]));
    let rest = &rest[2..];
    let first = rest.get(..len)?;
    Some((mode, first, &rest[len..]))
}

/// Runs the `sasl` checks on one input; true when an exchange completed.
pub fn check_sasl(data: &[u8]) -> bool {
    let Some((mode, first, second)) = split(data) else {
        return false;
    };
    match mode {
        0 => check_plain(first),
        1 | 2 => {
            let mech = if mode == 1 { Mechanism::Sha256 } else { Mechanism::Sha512 };
            check_scram(mech, first, second)
        }
        _ => {
            check_parsers(first, second);
            false
        }
    }
}

fn check_plain(token: &[u8]) -> bool {
    let result = plain::authenticate(token, |u| (u == "user").then_some("pencil"));
    if let Ok(name) = &result {
        assert_eq!(name, "user");
        let text = String::from_utf8_lossy(token);
        let parts: Vec<&str> = text.split('\0').collect();
        assert_eq!(parts.len(), 3, "accepted {token:?}");
        assert_eq!((parts[1], parts[2]), ("user", "pencil"));
        assert!(parts[0].is_empty() || parts[0] == "user");
    }
    result.is_ok()
}

fn check_scram(mech: Mechanism, first: &[u8], second: &[u8]) -> bool {
    let mut server = ScramServer::new(mech);
    let known = |u: &str| (u == "user").then(|| credential(mech));
    match server.client_first_with_nonce(first, known, "fuzznonce") {
        Ok(reply) => {
            let text = String::from_utf8(reply).unwrap_or_else(|_| panic!("server-first not UTF-8"));
            assert!(text.starts_with("r=") && text.contains(",s=") && text.ends_with(",i=4096"));
        }
        Err(SaslError::Invalid(_)) | Err(SaslError::Refused(_)) => {
            assert!(server.client_final(second).is_err(), "final accepted after a failed first");
            return false;
        }
    }
    match server.client_final(second) {
        Ok((reply, name)) => {
            assert_eq!(name, "user");
            let text = String::from_utf8(reply).unwrap_or_else(|_| panic!("server-final not UTF-8"));
            assert!(text.starts_with("v=") && text.len() > 2);
            true
        }
        Err(_) => false,
    }
}

fn check_parsers(first: &[u8], second: &[u8]) {
    if let Ok(cf) = ClientFirst::parse(first) {
        assert_eq!(format!("{}{}", cf.gs2_header, cf.bare).as_bytes(), first);
        assert!(!cf.username.is_empty() && !cf.nonce.is_empty());
    }
    if let Ok(fin) = ClientFinal::parse(second) {
        use base64::Engine;
        let proof = base64::engine::general_purpose::STANDARD.encode(&fin.proof);
        assert_eq!(format!("{},p={proof}", fin.without_proof).as_bytes(), second);
    }
}

/// An input for [`check_sasl`].
pub fn input(mode: u8, first: &[u8], second: &[u8]) -> Vec<u8> {
    let len = u16::try_from(first.len()).unwrap_or(u16::MAX);
    let mut out = vec![mode];
    out.extend(len.to_be_bytes());
    out.extend(&first[..usize::from(len)]);
    out.extend(second);
    out
}
