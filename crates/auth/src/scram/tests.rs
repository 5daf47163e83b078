use super::*;
use crate::SaslError;

const CLIENT_FIRST: &str = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
const SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
const SERVER_FIRST: &str =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
const SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

fn pencil() -> ScramCredential {
    let salt = unb64("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap_or_default();
    ScramCredential::from_password(Mechanism::Sha256, "pencil", &salt, 4096)
}

fn users(name: &str) -> Option<ScramCredential> {
    (name == "user").then(pencil)
}

#[test]
fn the_server_follows_rfc_7677s_example() {
    let mut s = ScramServer::new(Mechanism::Sha256);
    let first = s.client_first_with_nonce(CLIENT_FIRST.as_bytes(), users, SERVER_NONCE);
    assert_eq!(first, Ok(SERVER_FIRST.as_bytes().to_vec()));
    let fin = s.client_final(CLIENT_FINAL.as_bytes());
    assert_eq!(
        fin,
        Ok((SERVER_FINAL.as_bytes().to_vec(), "user".to_string()))
    );
    // Nothing more is accepted once it is done.
    assert!(s.client_final(CLIENT_FINAL.as_bytes()).is_err());
}

#[test]
fn the_client_follows_rfc_7677s_example() {
    let mut c =
        ScramClient::with_nonce(Mechanism::Sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO");
    assert_eq!(c.client_first(), CLIENT_FIRST.as_bytes());
    assert_eq!(
        c.client_final(SERVER_FIRST.as_bytes()),
        Ok(CLIENT_FINAL.as_bytes().to_vec())
    );
    assert_eq!(c.verify_server_final(SERVER_FINAL.as_bytes()), Ok(()));
    assert!(c.verify_server_final(b"v=AAAA").is_err());
    assert!(matches!(
        c.verify_server_final(b"e=other-error"),
        Err(SaslError::Refused(_))
    ));
}

fn exchange(
    mech: Mechanism,
    user: &str,
    password: &str,
    stored: &ScramCredential,
) -> Result<String, SaslError> {
    let mut c = ScramClient::new(mech, user, password)?;
    let mut s = ScramServer::new(mech);
    let sf = s.client_first(&c.client_first(), |u| {
        (u == "alice,=bob").then(|| stored.clone())
    })?;
    let cf = c.client_final(&sf)?;
    let (fin, name) = s.client_final(&cf)?;
    c.verify_server_final(&fin)?;
    Ok(name)
}

#[test]
fn both_mechanisms_round_trip_and_refuse_a_wrong_password() {
    for mech in Mechanism::ALL {
        let salt = random_bytes(16).unwrap_or_default();
        let stored = ScramCredential::from_password(mech, "s3cret", &salt, 4096);
        assert_eq!(
            exchange(mech, "alice,=bob", "s3cret", &stored),
            Ok("alice,=bob".into())
        );
        assert!(matches!(
            exchange(mech, "alice,=bob", "wrong", &stored),
            Err(SaslError::Invalid(_))
        ));
        assert!(matches!(
            exchange(mech, "carol", "s3cret", &stored),
            Err(SaslError::Invalid(_))
        ));
    }
}

#[test]
fn a_salted_password_gives_the_same_credential_as_the_password() {
    let salt = b"salt-bytes";
    let salted = Mechanism::Sha512.salted_password(b"pw", salt, 4096);
    assert_eq!(
        ScramCredential::from_salted_password(Mechanism::Sha512, salt, &salted, 4096),
        ScramCredential::from_password(Mechanism::Sha512, "pw", salt, 4096)
    );
    assert_eq!(
        Mechanism::from_name("SCRAM-SHA-512"),
        Some(Mechanism::Sha512)
    );
    assert_eq!(Mechanism::from_code(1), Some(Mechanism::Sha256));
    assert_eq!(Mechanism::from_code(3), None);
}

#[test]
fn usernames_are_escaped_and_unescaped() {
    assert_eq!(escape_username("a,b=c"), "a=2Cb=3Dc");
    assert_eq!(unescape_username("a=2Cb=3Dc").as_deref(), Some("a,b=c"));
    assert_eq!(unescape_username("a=3"), None);
    assert_eq!(unescape_username("a=2D"), None);
    assert_eq!(unescape_username(""), None);
}

fn server_first_of(msg: &str) -> Result<Vec<u8>, SaslError> {
    ScramServer::new(Mechanism::Sha256).client_first_with_nonce(msg.as_bytes(), users, "srv")
}

#[test]
fn malformed_or_hostile_client_first_messages_are_refused() {
    for bad in [
        "",
        "y,,n=user,r=abc",
        "p=tls-unique,,n=user,r=abc",
        "n,,r=abc",
        "n,,n=user",
        "n,,n=user,r=",
        "n,,n=us=er,r=abc",
        "n,,n=user,r=a b",
        "n,,n=user,r=abc,ext",
        "n,,n=user,r=abc,1x=y",
        "n,a=us=9,n=user,r=abc",
        "n,,n=us\u{e9}r,r=abc",
    ] {
        assert!(
            matches!(server_first_of(bad), Err(SaslError::Invalid(_))),
            "{bad:?} was accepted"
        );
    }
    let long = format!("n,,n=user,r={}", "x".repeat(9000));
    assert!(server_first_of(&long).is_err());
    // Accepted as Kafka accepts them: a reserved m= attribute and extensions.
    assert!(server_first_of("n,,m=ext,n=user,r=abc").is_ok());
    assert!(server_first_of("n,,n=user,r=abc,tokenauth=true").is_ok());
    assert!(server_first_of("n,a=user,n=user,r=abc").is_ok());
    // Someone else's authorization id is refused by name.
    assert_eq!(
        server_first_of("n,a=admin,n=user,r=abc"),
        Err(SaslError::Refused(
            "Authentication failed: Client requested an authorization id that is different from username".into()
        ))
    );
}

#[test]
fn bad_client_final_messages_are_refused() {
    let finals = [
        "c=biws,r=rOprNGfwEbeRWgbNEkqOWRONG,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        "c=eSws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=not*base64",
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AAAA",
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=eHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
        "garbage",
    ];
    for bad in finals {
        let mut s = ScramServer::new(Mechanism::Sha256);
        assert!(s
            .client_first_with_nonce(CLIENT_FIRST.as_bytes(), users, SERVER_NONCE)
            .is_ok());
        assert!(
            matches!(s.client_final(bad.as_bytes()), Err(SaslError::Invalid(_))),
            "{bad:?} was accepted"
        );
    }
    // client-final first is out of order.
    let mut s = ScramServer::new(Mechanism::Sha256);
    assert!(s.client_final(CLIENT_FINAL.as_bytes()).is_err());
}

#[test]
fn stored_credentials_below_the_minimum_and_servers_out_of_range_are_refused() {
    let weak = ScramCredential::from_password(Mechanism::Sha256, "pencil", b"salt", 1000);
    let mut s = ScramServer::new(Mechanism::Sha256);
    assert!(matches!(
        s.client_first_with_nonce(CLIENT_FIRST.as_bytes(), |_| Some(weak), "n"),
        Err(SaslError::Invalid(_))
    ));
    for i in [1, 4095, 16385, 1_000_000] {
        let mut c = ScramClient::with_nonce(Mechanism::Sha256, "user", "pencil", "abc");
        let sf = format!("r=abcdef,s=c2FsdA==,i={i}");
        assert!(
            c.client_final(sf.as_bytes()).is_err(),
            "{i} iterations accepted"
        );
    }
    let mut c = ScramClient::with_nonce(Mechanism::Sha256, "user", "pencil", "abc");
    assert!(c.client_final(b"r=xyzdef,s=c2FsdA==,i=4096").is_err());
    assert!(c.client_final(b"r=abc,s=c2FsdA==,i=4096").is_err());
    assert!(c.client_final(b"r=abcdef,s=!!,i=4096").is_err());
}

#[test]
fn a_credential_recognises_only_its_password() {
    for mech in Mechanism::ALL {
        let c = ScramCredential::from_password(mech, "s3cret", b"salty-salt", 4096);
        assert!(c.matches_password(mech, "s3cret"));
        assert!(!c.matches_password(mech, "s3cret "));
        assert!(!c.matches_password(mech, ""));
    }
}
