//! TLS on a Kafka listener (SSL, SASL_SSL) with rustls: a PEM certificate chain and key
//! (Kafka's `ssl.keystore.type=PEM` keys, or plain file paths), TLS 1.2 and 1.3 only,
//! `ssl.client.auth` against a PEM trust store (and revocation lists), and the client
//! certificate's principal. Certificates are read again when their files change: the next
//! connection after a change gets the new ones, and a file caught half-written keeps the
//! old ones in use.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tracing::{info, warn};
use weir_auth::principal::Principal;
use weir_auth::ssl_principal::PrincipalMapper;

/// How long a client may take to finish the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the certificate files are checked for changes, at most.
const RELOAD_CHECK: Duration = Duration::from_secs(1);

/// PEM text, from a file or given inline in the config.
#[derive(Clone, PartialEq, Eq)]
pub enum Pem {
    /// A file to read (and to watch for changes).
    File(PathBuf),
    /// The PEM text itself (`ssl.keystore.certificate.chain`, `ssl.keystore.key`,
    /// `ssl.truststore.certificates`).
    Inline(String),
}

impl std::fmt::Debug for Pem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pem::File(p) => write!(f, "File({})", p.display()),
            // Inline PEM may hold a private key: never printed.
            Pem::Inline(_) => f.write_str("Inline(..)"),
        }
    }
}

/// `ssl.client.auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// Every client must present a certificate the trust store vouches for.
    Required,
    /// A certificate is asked for; a client without one is `User:ANONYMOUS`.
    Requested,
    /// No certificate is asked for.
    None,
}

impl ClientAuth {
    /// Parses Kafka's value (`required`, `requested`, `none`).
    pub fn parse(v: &str) -> Result<Self, String> {
        match v.trim().to_ascii_lowercase().as_str() {
            "required" => Ok(ClientAuth::Required),
            "requested" => Ok(ClientAuth::Requested),
            "none" => Ok(ClientAuth::None),
            _ => Err(format!(
                "ssl.client.auth must be required, requested or none, got {v}"
            )),
        }
    }
}

/// A TLS listener's settings.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// The certificate chain, leaf first.
    pub certificate_chain: Pem,
    /// The private key (PKCS#8, PKCS#1 or SEC1, unencrypted).
    pub key: Pem,
    /// CA certificates that vouch for client certificates.
    pub truststore: Option<Pem>,
    /// Certificate revocation lists checked for client certificates (`ssl.crl.location`).
    pub crl: Option<PathBuf>,
    /// `ssl.client.auth`.
    pub client_auth: ClientAuth,
    /// `ssl.enabled.protocols`: `TLSv1.2`, `TLSv1.3` or both.
    pub protocols: Vec<String>,
    /// `ssl.principal.mapping.rules`.
    pub principal_mapping: PrincipalMapper,
}

impl TlsSettings {
    /// Settings with a chain and key and Kafka's defaults for the rest.
    pub fn new(certificate_chain: Pem, key: Pem) -> Self {
        TlsSettings {
            certificate_chain,
            key,
            truststore: None,
            crl: None,
            client_auth: ClientAuth::None,
            protocols: vec!["TLSv1.2".into(), "TLSv1.3".into()],
            principal_mapping: PrincipalMapper::default(),
        }
    }

    /// Files whose changes reload the certificates.
    fn files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for pem in [Some(&self.certificate_chain), Some(&self.key)]
            .into_iter()
            .chain([self.truststore.as_ref()])
            .flatten()
        {
            if let Pem::File(p) = pem {
                if !out.contains(p) {
                    out.push(p.clone());
                }
            }
        }
        out.extend(self.crl.clone());
        out
    }

    /// Builds the rustls server config from the files as they are now.
    pub fn server_config(&self) -> Result<ServerConfig, String> {
        let (certs, key) = self.chain_and_key()?;
        let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
        for p in &self.protocols {
            match p.trim() {
                "TLSv1.2" => versions.push(&rustls::version::TLS12),
                "TLSv1.3" => versions.push(&rustls::version::TLS13),
                other => {
                    return Err(format!(
                        "ssl.enabled.protocols: {other} is not supported (TLSv1.2, TLSv1.3)"
                    ))
                }
            }
        }
        if versions.is_empty() {
            return Err("ssl.enabled.protocols is empty".into());
        }
        let provider = Arc::new(crypto_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| format!("TLS versions: {e}"))?;
        let builder = match self.client_auth {
            ClientAuth::None => builder.with_no_client_auth(),
            ClientAuth::Required | ClientAuth::Requested => {
                let trust = self
                    .truststore
                    .as_ref()
                    .ok_or("ssl.client.auth needs a trust store (ssl.truststore.location)")?;
                let roots = roots(trust)?;
                let mut verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                if let Some(crl) = &self.crl {
                    let crls: Vec<CertificateRevocationListDer<'static>> =
                        CertificateRevocationListDer::pem_file_iter(crl)
                            .map_err(|e| format!("ssl.crl.location: {e}"))?
                            .collect::<Result<_, _>>()
                            .map_err(|e| format!("ssl.crl.location: {e}"))?;
                    verifier = verifier.with_crls(crls);
                }
                if self.client_auth == ClientAuth::Requested {
                    verifier = verifier.allow_unauthenticated();
                }
                let verifier = verifier
                    .build()
                    .map_err(|e| format!("client verifier: {e}"))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        builder
            .with_single_cert(certs, key)
            .map_err(|e| format!("certificate and key: {e}"))
    }
}

/// rustls's *ring* provider. rustls now prefers aws-lc-rs for its post-quantum key exchange,
/// which no Kafka client offers yet (Java 17, librdkafka with OpenSSL 3.0), while aws-lc
/// adds a C build of minutes to every fresh build; *ring* serves TLS 1.2 and 1.3 with the
/// same classic suites and groups.
#[allow(deprecated)]
pub fn crypto_provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

impl TlsSettings {
    /// The rustls client config for this broker's connections to the others on this
    /// listener: brokers are trusted by the trust store, and this broker shows its own
    /// certificate when asked, as Kafka does.
    pub fn client_config(&self) -> Result<rustls::ClientConfig, String> {
        let trust = self.truststore.as_ref().ok_or(
            "TLS between brokers needs a trust store (ssl.truststore.location) to check them",
        )?;
        let roots = roots(trust)?;
        let (certs, key) = self.chain_and_key()?;
        rustls::ClientConfig::builder_with_provider(Arc::new(crypto_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS versions: {e}"))?
            .with_root_certificates(roots)
            .with_client_auth_cert(certs, key)
            .map_err(|e| format!("certificate and key: {e}"))
    }
}

impl TlsSettings {
    /// The certificate chain and private key, read and parsed.
    fn chain_and_key(
        &self,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
        let chain = read(&self.certificate_chain, "certificate chain")?;
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&chain)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("certificate chain: {e}"))?;
        if certs.is_empty() {
            return Err("certificate chain: no CERTIFICATE in the PEM".into());
        }
        let key_pem = read(&self.key, "private key")?;
        if String::from_utf8_lossy(&key_pem).contains("ENCRYPTED PRIVATE KEY") {
            return Err(
                "private key: encrypted keys are not supported; give an unencrypted \
                        PKCS#8 key"
                    .into(),
            );
        }
        // The error text of a key parse never includes the key.
        let key = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|_| "private key: no readable PRIVATE KEY in the PEM".to_string())?;
        Ok((certs, key))
    }
}

/// The CA certificates of a trust store.
fn roots(trust: &Pem) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&read(trust, "trust store")?) {
        let cert = cert.map_err(|e| format!("trust store: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("trust store certificate: {e}"))?;
    }
    if roots.is_empty() {
        return Err("trust store: no CERTIFICATE in the PEM".into());
    }
    Ok(roots)
}

fn read(pem: &Pem, what: &str) -> Result<Vec<u8>, String> {
    match pem {
        Pem::File(p) => std::fs::read(p).map_err(|e| format!("{what} {}: {e}", p.display())),
        Pem::Inline(text) => Ok(text.as_bytes().to_vec()),
    }
}

/// When and how big each watched file was.
type Stamps = Vec<Option<(SystemTime, u64)>>;

fn stamps(files: &[PathBuf]) -> Stamps {
    files
        .iter()
        .map(|f| {
            let m = std::fs::metadata(f).ok()?;
            Some((m.modified().ok()?, m.len()))
        })
        .collect()
}

struct Current {
    acceptor: TlsAcceptor,
    stamps: Stamps,
    checked: Instant,
}

/// A listener's TLS: the acceptor in use, rebuilt when the certificate files change.
pub struct TlsServer {
    name: String,
    settings: TlsSettings,
    files: Vec<PathBuf>,
    current: Mutex<Current>,
}

impl TlsServer {
    /// Loads the certificates of the listener `name`; an error names the setting at fault.
    pub fn new(name: &str, settings: TlsSettings) -> Result<Self, String> {
        let files = settings.files();
        let before = stamps(&files);
        let config = settings
            .server_config()
            .map_err(|e| format!("listener {name}: {e}"))?;
        Ok(TlsServer {
            name: name.to_string(),
            settings,
            files,
            current: Mutex::new(Current {
                acceptor: TlsAcceptor::from(Arc::new(config)),
                stamps: before,
                checked: Instant::now(),
            }),
        })
    }

    /// The acceptor for a new connection, with the certificates as the files hold them now.
    pub fn acceptor(&self) -> TlsAcceptor {
        // A poisoned lock still guards a valid config: nothing panics between its updates.
        let mut cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if cur.checked.elapsed() >= RELOAD_CHECK {
            cur.checked = Instant::now();
            let now = stamps(&self.files);
            if now != cur.stamps {
                match self.settings.server_config() {
                    Ok(config) => {
                        cur.acceptor = TlsAcceptor::from(Arc::new(config));
                        cur.stamps = now;
                        info!(listener = %self.name, "TLS certificates reloaded");
                    }
                    // Half-written files, most likely: keep serving with the old ones and
                    // try again on the next check.
                    Err(e) => {
                        warn!(listener = %self.name, error = %e, "TLS certificates changed but cannot be loaded; keeping the old ones")
                    }
                }
            }
        }
        cur.acceptor.clone()
    }

    /// The principal of a client that presented `certificate` (DER), by
    /// `ssl.principal.mapping.rules`; `User:ANONYMOUS` without one.
    pub fn principal(&self, certificate: Option<&[u8]>) -> Result<Principal, String> {
        match certificate {
            None => Ok(Principal::anonymous()),
            Some(der) => self
                .settings
                .principal_mapping
                .principal(der)
                .map_err(|e| e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests;
