//! The Kafka listeners from `server.properties` keys as Kafka names them: `listeners`
//! (`NAME://HOST:PORT,...`), `advertised.listeners`, `listener.security.protocol.map`,
//! `inter.broker.listener.name` and `controller.listener.names`, and each TLS listener's
//! `ssl.*` keys (global, or `listener.name.<name>.ssl.*` for one listener). The `--listen`
//! and `--advertised-listener` flags set the inter-broker listener.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context};
use weir_auth::ssl_principal::PrincipalMapper;
use weir_broker::listener_security::{Listener, ListenerSecurity, SecurityProtocol};
use weir_broker::tls::{ClientAuth, Pem, TlsSettings};

/// The listeners a config file and the flags describe.
pub(crate) struct Listeners {
    /// The inter-broker listener's address.
    pub(crate) listen: SocketAddr,
    /// What it advertises.
    pub(crate) advertised: Option<(String, u16)>,
    /// Its security, and the SASL settings of all.
    pub(crate) security: ListenerSecurity,
    /// The other listeners.
    pub(crate) more: Vec<Listener>,
    /// The controller listener named by `controller.listener.names`, if `listeners` has one.
    pub(crate) controller: Option<SocketAddr>,
    /// Its TLS, when the protocol map makes it SSL (mutual TLS between the nodes).
    pub(crate) controller_tls: Option<TlsSettings>,
}

/// `NAME://HOST:PORT` (or a bare `HOST:PORT`, a PLAINTEXT listener); an empty host binds
/// every interface, as in Kafka.
fn parse_entry(entry: &str) -> anyhow::Result<(String, String)> {
    let (name, addr) = match entry.split_once("://") {
        Some((n, a)) => (n.trim().to_ascii_uppercase(), a.trim()),
        None => ("PLAINTEXT".to_string(), entry.trim()),
    };
    if name.is_empty() {
        bail!("listener {entry}: no name before ://");
    }
    Ok((name, addr.to_string()))
}

fn socket_addr(name: &str, addr: &str) -> anyhow::Result<SocketAddr> {
    let addr = if addr.starts_with(':') {
        format!("0.0.0.0{addr}")
    } else {
        addr.to_string()
    };
    addr.parse()
        .with_context(|| format!("listener {name}: {addr} is not IP:PORT"))
}

fn host_port(name: &str, addr: &str) -> anyhow::Result<(String, u16)> {
    let (host, port) = addr
        .rsplit_once(':')
        .with_context(|| format!("advertised listener {name}: expected HOST:PORT"))?;
    let port = port
        .parse()
        .with_context(|| format!("advertised listener {name}: bad port"))?;
    Ok((host.trim_matches(['[', ']']).to_string(), port))
}

/// Reads the listener keys out of `file`; `listen` and `advertised` are the flags.
pub(crate) fn from_file(
    file: &mut BTreeMap<String, String>,
    listen: Option<SocketAddr>,
    advertised: Option<String>,
    default_listen: SocketAddr,
) -> anyhow::Result<Listeners> {
    let mut entries: Vec<(String, String)> = match file.remove("listeners") {
        Some(v) => v
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(parse_entry)
            .collect::<anyhow::Result<_>>()?,
        None => Vec::new(),
    };
    let mut controller = None;
    let mut controller_name = None;
    if let Some(names) = file.remove("controller.listener.names") {
        let names: Vec<String> = names
            .split(',')
            .map(|n| n.trim().to_ascii_uppercase())
            .collect();
        if let Some(pos) = entries.iter().position(|(n, _)| names.contains(n)) {
            let (n, a) = entries.remove(pos);
            controller = Some(socket_addr(&n, &a)?);
        }
        entries.retain(|(n, _)| !names.contains(n));
        controller_name = names.into_iter().next().filter(|n| !n.is_empty());
    }
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    if let Some(m) = file.remove("listener.security.protocol.map") {
        for pair in m.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (l, p) = pair
                .split_once(':')
                .context("listener.security.protocol.map entries must be NAME:PROTOCOL")?;
            map.insert(l.trim().to_ascii_uppercase(), p.trim().to_string());
        }
    }
    let protocol_of = |name: &str| -> anyhow::Result<SecurityProtocol> {
        match map.get(name) {
            Some(p) => SecurityProtocol::from_name(p).map_err(anyhow::Error::msg),
            None => SecurityProtocol::from_name(name).map_err(|_| {
                anyhow::anyhow!("listener.security.protocol.map does not map the listener {name}")
            }),
        }
    };
    let inter_broker = match (
        file.remove("inter.broker.listener.name"),
        file.remove("security.inter.broker.protocol"),
    ) {
        (Some(n), _) => n.trim().to_ascii_uppercase(),
        (None, Some(p)) => p.trim().to_ascii_uppercase(),
        // Kafka's default inter-broker protocol is PLAINTEXT; without such a listener, the
        // first one serves the other brokers.
        (None, None) => entries
            .iter()
            .find(|(n, _)| n == "PLAINTEXT")
            .or(entries.first())
            .map_or_else(|| "PLAINTEXT".to_string(), |(n, _)| n.clone()),
    };
    if entries.is_empty() {
        entries.push((inter_broker.clone(), default_listen.to_string()));
    }
    let Some(inter_pos) = entries.iter().position(|(n, _)| *n == inter_broker) else {
        bail!("inter.broker.listener.name {inter_broker} is not one of the listeners");
    };
    let mut advertised_by_name: BTreeMap<String, (String, u16)> = BTreeMap::new();
    if let Some(v) = file.remove("advertised.listeners") {
        for e in v.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (name, addr) = match e.split_once("://") {
                Some(_) => parse_entry(e)?,
                None => (inter_broker.clone(), e.to_string()),
            };
            advertised_by_name.insert(name.clone(), host_port(&name, &addr)?);
        }
    }
    if let Some(a) = advertised {
        advertised_by_name.insert(inter_broker.clone(), host_port(&inter_broker, &a)?);
    }
    let mut named = entries.clone();
    named.extend(controller_name.clone().map(|n| (n, String::new())));
    let tls_keys = TlsKeys::take(file, &named);
    // The controller listener: PLAINTEXT unless the map says SSL (mutual TLS); SASL is not
    // spoken between controllers.
    let controller_tls = match controller_name.as_deref().map(|n| (n, map.get(n))) {
        Some((n, Some(p))) => match SecurityProtocol::from_name(p).map_err(anyhow::Error::msg)? {
            SecurityProtocol::Plaintext => None,
            SecurityProtocol::Ssl => {
                let mut s = tls_keys.settings(n)?;
                s.client_auth = ClientAuth::Required;
                Some(s)
            }
            other => bail!("the controller listener {n} must be PLAINTEXT or SSL, not {other:?}"),
        },
        _ => None,
    };
    let mut more = Vec::new();
    let mut names = Vec::new();
    let mut inter = None;
    for (i, (name, addr)) in entries.iter().enumerate() {
        let protocol = protocol_of(name)?;
        let tls = match protocol.tls() {
            true => Some(tls_keys.settings(name)?),
            false => None,
        };
        names.push((name.clone(), protocol));
        let addr = match (i == inter_pos, listen) {
            (true, Some(flag)) => flag,
            _ => socket_addr(name, addr)?,
        };
        let l = Listener {
            name: name.clone(),
            addr,
            advertised: advertised_by_name.get(name).cloned(),
            protocol,
            tls,
        };
        if i == inter_pos {
            inter = Some(l);
        } else {
            more.push(l);
        }
    }
    tls_keys.check_used()?;
    let Some(inter) = inter else {
        bail!("no inter-broker listener");
    };
    let mut security = crate::security::from_file(file, &inter.name, &names)?;
    security.protocol = inter.protocol;
    security.tls = inter.tls;
    Ok(Listeners {
        listen: inter.addr,
        advertised: inter.advertised,
        security,
        more,
        controller,
        controller_tls,
    })
}

/// The `ssl.*` keys: global ones, and those of each listener.
struct TlsKeys {
    global: BTreeMap<String, String>,
    per_listener: BTreeMap<String, BTreeMap<String, String>>,
    used: std::cell::Cell<bool>,
}

impl TlsKeys {
    fn take(file: &mut BTreeMap<String, String>, entries: &[(String, String)]) -> TlsKeys {
        let mut global = BTreeMap::new();
        let mut per_listener: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let keys: Vec<String> = file.keys().cloned().collect();
        for key in keys {
            if let Some(rest) = key.strip_prefix("ssl.") {
                if let Some(v) = file.remove(&key) {
                    global.insert(rest.to_string(), v);
                }
                continue;
            }
            for (name, _) in entries {
                let prefix = format!("listener.name.{}.ssl.", name.to_ascii_lowercase());
                if let Some(rest) = key.strip_prefix(&prefix) {
                    if let Some(v) = file.remove(&key) {
                        per_listener
                            .entry(name.clone())
                            .or_default()
                            .insert(rest.to_string(), v);
                    }
                }
            }
        }
        TlsKeys {
            global,
            per_listener,
            used: std::cell::Cell::new(false),
        }
    }

    /// Fails when `ssl.*` keys were given but no listener uses TLS (a typo'd protocol map).
    fn check_used(&self) -> anyhow::Result<()> {
        if self.used.get() {
            return Ok(());
        }
        let only_client_side = self
            .global
            .keys()
            .all(|k| k == "endpoint.identification.algorithm");
        if !only_client_side {
            bail!("ssl.* keys are set but no listener is SSL or SASL_SSL");
        }
        Ok(())
    }

    /// The TLS settings of the listener `name`: its own keys, then the global ones.
    fn settings(&self, name: &str) -> anyhow::Result<TlsSettings> {
        self.used.set(true);
        let own = self.per_listener.get(name);
        let get = |k: &str| -> Option<&String> {
            own.and_then(|o| o.get(k)).or_else(|| self.global.get(k))
        };
        let known = [
            "keystore.type",
            "keystore.location",
            "keystore.certificate.chain",
            "keystore.key",
            "truststore.type",
            "truststore.location",
            "truststore.certificates",
            "certificate.location",
            "key.location",
            "ca.location",
            "crl.location",
            "client.auth",
            "enabled.protocols",
            "protocol",
            "principal.mapping.rules",
            "endpoint.identification.algorithm",
            "key.password",
            "keystore.password",
            "truststore.password",
        ];
        for k in self
            .global
            .keys()
            .chain(own.into_iter().flat_map(|o| o.keys()))
        {
            if !known.contains(&k.as_str()) {
                bail!("unknown config key ssl.{k} (listener {name})");
            }
        }
        for t in ["keystore.type", "truststore.type"] {
            if let Some(v) = get(t) {
                if !v.eq_ignore_ascii_case("PEM") {
                    bail!("ssl.{t} must be PEM (listener {name}), got {v}");
                }
            }
        }
        if get("key.password").is_some() || get("keystore.password").is_some() {
            bail!(
                "ssl.key.password / ssl.keystore.password (listener {name}): encrypted keys \
                 are not supported; give an unencrypted PKCS#8 key"
            );
        }
        let file = |k: &str| get(k).map(|v| Pem::File(PathBuf::from(v)));
        let inline = |k: &str| get(k).map(|v| Pem::Inline(v.replace("\\n", "\n")));
        let (chain, key) = match (
            get("keystore.location"),
            inline("keystore.certificate.chain"),
            inline("keystore.key"),
            file("certificate.location"),
            file("key.location"),
        ) {
            (Some(loc), None, None, None, None) => {
                let p = PathBuf::from(loc);
                (Pem::File(p.clone()), Pem::File(p))
            }
            (None, Some(c), Some(k), None, None) => (c, k),
            (None, None, None, Some(c), Some(k)) => (c, k),
            _ => bail!(
                "listener {name} needs its certificate and key: ssl.keystore.location (PEM \
                 with both), or ssl.keystore.certificate.chain and ssl.keystore.key, or \
                 ssl.certificate.location and ssl.key.location"
            ),
        };
        let mut s = TlsSettings::new(chain, key);
        s.truststore = file("truststore.location")
            .or_else(|| inline("truststore.certificates"))
            .or_else(|| file("ca.location"));
        s.crl = get("crl.location").map(PathBuf::from);
        if let Some(v) = get("client.auth") {
            s.client_auth = ClientAuth::parse(v).map_err(anyhow::Error::msg)?;
        }
        if let Some(v) = get("enabled.protocols") {
            s.protocols = v
                .split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect();
        }
        if let Some(v) = get("principal.mapping.rules") {
            s.principal_mapping = PrincipalMapper::parse(v)?;
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests;
