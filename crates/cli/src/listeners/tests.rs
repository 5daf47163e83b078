use super::*;

fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn default_listen() -> SocketAddr {
    "127.0.0.1:9092".parse().unwrap()
}

#[test]
fn no_listeners_key_is_one_plaintext_listener() {
    let l = from_file(&mut props(&[]), None, None, default_listen()).unwrap();
    assert_eq!(l.listen, default_listen());
    assert_eq!(l.security.listener_name, "PLAINTEXT");
    assert_eq!(l.security.protocol, SecurityProtocol::Plaintext);
    assert!(l.more.is_empty() && l.controller.is_none());
    let flag: SocketAddr = "127.0.0.1:9999".parse().unwrap();
    let l = from_file(
        &mut props(&[]),
        Some(flag),
        Some("h:1".into()),
        default_listen(),
    )
    .unwrap();
    assert_eq!((l.listen, l.advertised), (flag, Some(("h".into(), 1))));
}

#[test]
fn a_kafka_server_properties_with_four_listeners_carries_over() {
    let mut f = props(&[
        (
            "listeners",
            "PLAINTEXT://127.0.0.1:9092,SSL://127.0.0.1:9093,SASL_SSL://127.0.0.1:9094,CONTROLLER://127.0.0.1:9095",
        ),
        (
            "advertised.listeners",
            "PLAINTEXT://localhost:9092,SSL://localhost:9093,SASL_SSL://localhost:9094",
        ),
        ("controller.listener.names", "CONTROLLER"),
        ("inter.broker.listener.name", "PLAINTEXT"),
        (
            "listener.security.protocol.map",
            "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
        ),
        ("ssl.keystore.type", "PEM"),
        ("ssl.keystore.location", "/certs/broker.pem"),
        ("ssl.truststore.type", "PEM"),
        ("ssl.truststore.location", "/certs/ca.pem"),
        ("ssl.client.auth", "requested"),
        ("listener.name.ssl.ssl.client.auth", "required"),
        ("ssl.endpoint.identification.algorithm", ""),
        ("sasl.enabled.mechanisms", "SCRAM-SHA-512"),
        (
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config",
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        ),
    ]);
    let l = from_file(&mut f, None, None, default_listen()).unwrap();
    assert!(f.is_empty(), "{f:?}");
    assert_eq!(l.controller, Some("127.0.0.1:9095".parse().unwrap()));
    assert_eq!(l.security.listener_name, "PLAINTEXT");
    assert_eq!(l.advertised, Some(("localhost".into(), 9092)));
    let names: Vec<_> = l
        .more
        .iter()
        .map(|m| (m.name.as_str(), m.protocol))
        .collect();
    assert_eq!(
        names,
        [
            ("SSL", SecurityProtocol::Ssl),
            ("SASL_SSL", SecurityProtocol::SaslSsl)
        ]
    );
    let ssl = l.more[0].tls.as_ref().unwrap();
    assert_eq!(ssl.client_auth, ClientAuth::Required);
    assert_eq!(
        ssl.certificate_chain,
        Pem::File(PathBuf::from("/certs/broker.pem"))
    );
    let sasl_ssl = l.more[1].tls.as_ref().unwrap();
    assert_eq!(sasl_ssl.client_auth, ClientAuth::Requested);
    assert_eq!(l.more[1].advertised, Some(("localhost".into(), 9094)));
}

#[test]
fn plain_paths_and_inline_pem_are_accepted() {
    let mut f = props(&[
        ("listeners", "SSL://127.0.0.1:0"),
        ("ssl.certificate.location", "/c.pem"),
        ("ssl.key.location", "/k.pem"),
        ("ssl.ca.location", "/ca.pem"),
    ]);
    let l = from_file(&mut f, None, None, default_listen()).unwrap();
    let tls = l.security.tls.unwrap();
    assert_eq!(tls.key, Pem::File("/k.pem".into()));
    assert_eq!(tls.truststore, Some(Pem::File("/ca.pem".into())));
    let mut f = props(&[
        ("listeners", "SSL://127.0.0.1:0"),
        (
            "ssl.keystore.certificate.chain",
            "-----BEGIN CERTIFICATE-----\\nAA",
        ),
        ("ssl.keystore.key", "-----BEGIN PRIVATE KEY-----\\nBB"),
    ]);
    let l = from_file(&mut f, None, None, default_listen()).unwrap();
    let tls = l.security.tls.unwrap();
    assert_eq!(
        tls.key,
        Pem::Inline("-----BEGIN PRIVATE KEY-----\nBB".into())
    );
}

#[test]
fn mistakes_are_refused_by_name() {
    let cases: &[&[(&str, &str)]] = &[
        &[("listeners", "SSL://127.0.0.1:0")],
        &[("listeners", "CLIENT://127.0.0.1:0")],
        &[("listeners", "PLAINTEXT://nohost")],
        &[
            ("listeners", "PLAINTEXT://127.0.0.1:0"),
            ("inter.broker.listener.name", "X"),
        ],
        &[
            ("listeners", "PLAINTEXT://127.0.0.1:0"),
            ("ssl.keystore.location", "/k"),
        ],
        &[
            ("listeners", "SSL://127.0.0.1:0"),
            ("ssl.keystore.type", "JKS"),
            ("ssl.keystore.location", "/k"),
        ],
        &[
            ("listeners", "SSL://127.0.0.1:0"),
            ("ssl.keystore.location", "/k"),
            ("ssl.key.password", "secret-pw"),
        ],
        &[
            ("listeners", "SSL://127.0.0.1:0"),
            ("ssl.keystore.location", "/k"),
            ("ssl.client.auth", "maybe"),
        ],
        &[
            ("listeners", "SSL://127.0.0.1:0"),
            ("ssl.keystore.location", "/k"),
            ("ssl.bogus", "1"),
        ],
    ];
    for case in cases {
        let e = match from_file(&mut props(case), None, None, default_listen()) {
            Ok(_) => panic!("{case:?} was accepted"),
            Err(e) => format!("{e:#}"),
        };
        assert!(!e.contains("secret-pw"), "{e}");
    }
}

#[test]
fn an_ssl_controller_listener_is_mutual_tls() {
    let keys = |proto: &str| {
        props(&[
            (
                "listeners",
                "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
            ),
            ("controller.listener.names", "CONTROLLER"),
            (
                "listener.security.protocol.map",
                &format!("PLAINTEXT:PLAINTEXT,CONTROLLER:{proto}"),
            ),
            (
                "listener.name.controller.ssl.keystore.location",
                "/certs/node.pem",
            ),
            (
                "listener.name.controller.ssl.truststore.location",
                "/certs/ca.pem",
            ),
        ])
    };
    let l = from_file(&mut keys("SSL"), None, None, default_listen()).unwrap();
    let tls = l.controller_tls.unwrap();
    assert_eq!(tls.client_auth, ClientAuth::Required);
    assert_eq!(l.controller, Some("127.0.0.1:9093".parse().unwrap()));
    assert!(l.security.tls.is_none() && l.more.is_empty());
    assert!(from_file(&mut keys("SASL_SSL"), None, None, default_listen()).is_err());
}
