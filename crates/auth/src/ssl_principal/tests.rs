use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};

use super::*;

fn cert(dn: &[(DnType, &str)]) -> Vec<u8> {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    for (t, v) in dn {
        name.push(t.clone(), *v);
    }
    params.distinguished_name = name;
    let key = KeyPair::generate().unwrap();
    params.self_signed(&key).unwrap().der().to_vec()
}

#[test]
fn the_subject_is_written_as_rfc_2253_last_rdn_first() {
    let der = cert(&[
        (DnType::CountryName, "US"),
        (DnType::OrganizationName, "Weir"),
        (DnType::OrganizationalUnitName, "ops"),
        (DnType::CommonName, "alice"),
    ]);
    assert_eq!(subject_dn(&der).unwrap(), "CN=alice,OU=ops,O=Weir,C=US");
    let p = PrincipalMapper::default().principal(&der).unwrap();
    assert_eq!(p.to_string(), "User:CN=alice,OU=ops,O=Weir,C=US");
}

#[test]
fn special_characters_are_escaped() {
    let der = cert(&[
        (DnType::CommonName, "a,b+c \"d\""),
        (DnType::OrganizationName, " x"),
    ]);
    assert_eq!(subject_dn(&der).unwrap(), r#"O=\ x,CN=a\,b\+c \"d\""#);
}

#[test]
fn unknown_attribute_types_are_printed_as_oid_and_hex() {
    let der = cert(&[
        (DnType::CustomDnType(vec![1, 2, 3, 4]), "z"),
        (DnType::CommonName, "bob"),
    ]);
    // UTF8String "z": tag 0x0c, length 1, 0x7a.
    assert_eq!(subject_dn(&der).unwrap(), "CN=bob,1.2.3.4=#0c017a");
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    assert!(subject_dn(b"not a certificate").is_err());
    assert!(subject_dn(&[]).is_err());
    assert!(subject_dn(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
}

#[test]
fn mapping_rules_as_kafka_documents_them() {
    let m = PrincipalMapper::parse(
        r"RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L,DEFAULT",
    )
    .unwrap();
    assert_eq!(
        m.name("CN=kafka-server1,OU=ServiceUsers,O=Org,C=US")
            .unwrap(),
        "kafka-server1"
    );
    assert_eq!(
        m.name("CN=Duke,OU=JavaSoft,O=Sun Microsystems,L=Santa Clara,ST=California,C=US")
            .unwrap(),
        "duke@javasoft"
    );
    assert_eq!(m.name("CN=Admin,O=X").unwrap(), "admin");
    assert_eq!(m.name("O=NoCommonName").unwrap(), "O=NoCommonName");
    let upper = PrincipalMapper::parse(r"RULE:^CN=([^,]*).*$/$1x/U").unwrap();
    assert_eq!(upper.name("CN=svc,O=Y").unwrap(), "SVCX");
    assert_eq!(upper.name("O=Y"), Err(SslPrincipalError::NoRuleMatched));
    let slash = PrincipalMapper::parse(r"RULE:^CN=([^,]*)\/.*$/$1/").unwrap();
    assert_eq!(slash.name("CN=a/b").unwrap(), "a");
}

#[test]
fn malformed_rules_are_refused() {
    for bad in [
        "",
        "RULE:abc",
        "RULE:a/b",
        "NOPE",
        "DEFAULT DEFAULT",
        "RULE:(/x/",
    ] {
        assert!(PrincipalMapper::parse(bad).is_err(), "{bad}");
    }
}
