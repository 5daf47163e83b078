use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

/// A CA, and certificates it signs.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::default();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        let key = KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        Ca {
            issuer: Issuer::new(params, key),
            pem,
        }
    }

    /// (certificate PEM, key PEM) for `cn`, valid for 127.0.0.1 and localhost.
    fn sign(&self, cn: &str) -> (String, String) {
        let mut params =
            CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "Weir");
        dn.push(DnType::CommonName, cn);
        params.distinguished_name = dn;
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn client_config(ca: &Ca, cert: Option<(String, String)>) -> rustls::ClientConfig {
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca.pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let b = rustls::ClientConfig::builder_with_provider(Arc::new(crypto_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    match cert {
        None => b.with_no_client_auth(),
        Some((c, k)) => {
            let chain = CertificateDer::pem_slice_iter(c.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            b.with_client_auth_cert(chain, PrivateKeyDer::from_pem_slice(k.as_bytes()).unwrap())
                .unwrap()
        }
    }
}

/// Connects a client to a one-connection TLS server; the server's principal for it, or the
/// handshake error on either side.
async fn handshake(server: &TlsServer, client: rustls::ClientConfig) -> Result<Principal, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = server.acceptor();
    let serve = async move {
        let (socket, _) = listener.accept().await.unwrap();
        let mut s = acceptor.accept(socket).await.map_err(|e| e.to_string())?;
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
        s.write_all(b"pong").await.map_err(|e| e.to_string())?;
        s.flush().await.map_err(|e| e.to_string())?;
        Ok::<_, String>(
            s.get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| c.as_ref().to_vec()),
        )
    };
    let connect = async move {
        let socket = tokio::net::TcpStream::connect(addr).await.unwrap();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let mut s = connector
            .connect(name, socket)
            .await
            .map_err(|e| e.to_string())?;
        s.write_all(b"ping").await.map_err(|e| e.to_string())?;
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
        Ok::<_, String>(buf)
    };
    let (served, connected) = tokio::join!(serve, connect);
    let cert = served?;
    assert_eq!(&connected?, b"pong");
    server.principal(cert.as_deref())
}

fn settings(dir: &Path, ca: &Ca, client_auth: ClientAuth) -> TlsSettings {
    let (cert, key) = ca.sign("broker");
    // Kafka's PEM keystore: key and chain in one file.
    let keystore = write(dir, "broker.pem", &format!("{key}{cert}"));
    let mut s = TlsSettings::new(Pem::File(keystore.clone()), Pem::File(keystore));
    s.truststore = Some(Pem::File(write(dir, "ca.pem", &ca.pem)));
    s.client_auth = client_auth;
    s
}

#[tokio::test]
async fn a_client_certificate_names_the_principal() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test-ca");
    let server = TlsServer::new("SSL", settings(dir.path(), &ca, ClientAuth::Required)).unwrap();
    let p = handshake(&server, client_config(&ca, Some(ca.sign("alice"))))
        .await
        .unwrap();
    assert_eq!(p.to_string(), "User:CN=alice,O=Weir");
    // Required: no certificate, or one from another CA, is refused.
    assert!(handshake(&server, client_config(&ca, None)).await.is_err());
    let other = Ca::new("other-ca");
    assert!(
        handshake(&server, client_config(&ca, Some(other.sign("mallory"))))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn requested_client_auth_lets_anonymous_clients_in_and_rules_map_names() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test-ca");
    let mut s = settings(dir.path(), &ca, ClientAuth::Requested);
    s.principal_mapping = PrincipalMapper::parse("RULE:^CN=([^,]*),.*$/$1/U,DEFAULT").unwrap();
    let server = TlsServer::new("SSL", s).unwrap();
    let anon = handshake(&server, client_config(&ca, None)).await.unwrap();
    assert_eq!(anon, Principal::anonymous());
    let bob = handshake(&server, client_config(&ca, Some(ca.sign("bob"))))
        .await
        .unwrap();
    assert_eq!(bob.to_string(), "User:BOB");
}

/// Makes the next `acceptor()` look at the files again.
fn force_check(server: &TlsServer) {
    server.current.lock().unwrap().checked = Instant::now().checked_sub(RELOAD_CHECK * 2).unwrap();
}

#[tokio::test]
async fn certificates_are_reloaded_when_their_files_change() {
    let dir = tempfile::tempdir().unwrap();
    let old_ca = Ca::new("old-ca");
    let s = settings(dir.path(), &old_ca, ClientAuth::None);
    let server = TlsServer::new("SSL", s).unwrap();
    handshake(&server, client_config(&old_ca, None))
        .await
        .unwrap();
    // A file caught half-written: the old certificates stay in use.
    write(
        dir.path(),
        "broker.pem",
        "-----BEGIN PRIVATE KEY-----\nAAAA",
    );
    force_check(&server);
    handshake(&server, client_config(&old_ca, None))
        .await
        .unwrap();
    // Written out: the next connection after a look gets the new ones.
    let new_ca = Ca::new("new-ca");
    let (cert, key) = new_ca.sign("broker");
    write(dir.path(), "broker.pem", &format!("{key}{cert}"));
    force_check(&server);
    handshake(&server, client_config(&new_ca, None))
        .await
        .unwrap();
    assert!(handshake(&server, client_config(&old_ca, None))
        .await
        .is_err());
}

#[test]
fn bad_settings_are_refused_with_the_setting_named_and_no_key_shown() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test-ca");
    let (cert, key) = ca.sign("broker");
    let cert_file = write(dir.path(), "cert.pem", &cert);
    // No key in the file.
    let s = TlsSettings::new(Pem::File(cert_file.clone()), Pem::File(cert_file.clone()));
    let e = TlsServer::new("SSL", s).err().unwrap();
    assert!(e.contains("private key"), "{e}");
    // A key that does not belong to the certificate.
    let (_, other_key) = ca.sign("other");
    let s = TlsSettings::new(Pem::File(cert_file.clone()), Pem::Inline(other_key.clone()));
    let e = TlsServer::new("SSL", s).err().unwrap();
    assert!(!e.contains(other_key.lines().nth(1).unwrap()), "{e}");
    // Client auth without a trust store; an old protocol.
    let mut s = TlsSettings::new(Pem::File(cert_file.clone()), Pem::Inline(key.clone()));
    s.client_auth = ClientAuth::Required;
    assert!(TlsServer::new("SSL", s.clone())
        .err()
        .unwrap()
        .contains("trust store"));
    s.client_auth = ClientAuth::None;
    s.protocols = vec!["TLSv1.1".into()];
    assert!(TlsServer::new("SSL", s).err().unwrap().contains("TLSv1.1"));
    // Garbage and missing files.
    let junk = write(dir.path(), "junk.pem", "garbage");
    assert!(TlsServer::new(
        "SSL",
        TlsSettings::new(Pem::File(junk.clone()), Pem::File(junk))
    )
    .is_err());
    let missing = dir.path().join("missing.pem");
    let e = TlsServer::new(
        "SSL",
        TlsSettings::new(Pem::File(missing.clone()), Pem::File(missing)),
    )
    .err()
    .unwrap();
    assert!(e.contains("missing.pem"), "{e}");
    assert!(!format!(
        "{:?}",
        TlsSettings::new(Pem::Inline(cert), Pem::Inline(key.clone()))
    )
    .contains("PRIVATE"));
}
