//! One connection's SASL authentication on a SASL listener (KIP-152), as Kafka's
//! SaslServerAuthenticator runs it: before a client has authenticated only ApiVersions,
//! SaslHandshake (v1) and SaslAuthenticate are served; the handshake names a mechanism
//! from `sasl.enabled.mechanisms`; SaslAuthenticate carries PLAIN's one token or SCRAM's two
//! (credentials from the metadata image). A failure answers SASL_AUTHENTICATION_FAILED
//! (UNSUPPORTED_SASL_MECHANISM for an unknown mechanism, ILLEGAL_SASL_STATE out of order)
//! and the connection closes after `connection.failed.authentication.delay.ms`; any other
//! request before authentication closes it with no answer. With `connections.max.reauth.ms`
//! a session expires: the client re-authenticates on the same connection (KIP-368: a new
//! SaslHandshake and SaslAuthenticate, for the same principal) or is disconnected at its
//! next request. Tokens are bounded, and no password, token or proof is ever logged.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use weir_auth::principal::Principal;
use weir_auth::scram::{Mechanism, ScramCredential, ScramServer};
use weir_auth::{plain, SaslError, MAX_TOKEN_BYTES};
use weir_meta::MetadataImage;
use weir_protocol::codec::{Decode, Reader};
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::{
    ApiKey, RequestHeader, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};

use crate::handlers::api_versions;
use crate::listener_security::ListenerSecurity;
use crate::response::{encode, Outcome};

/// Where a connection's authentication is.
enum State {
    /// Waiting for ApiVersions or SaslHandshake.
    Handshake,
    /// PLAIN chosen: waiting for its token.
    Plain,
    /// SCRAM chosen: waiting for client-first.
    ScramFirst(ScramServer),
    /// SCRAM under way: waiting for client-final.
    ScramFinal(ScramServer),
    /// Authenticated.
    Done {
        principal: Principal,
        expires: Option<Instant>,
    },
}

/// What to do with a request received before authentication.
pub(crate) enum Step {
    /// Answer and go on.
    Answer(Outcome),
    /// Wait the failed-authentication delay, answer (if there is an answer) and close;
    /// `why` is logged.
    Fail {
        /// The answer, if the client gets one.
        answer: Option<Outcome>,
        /// Why, for the log (never a secret).
        why: String,
    },
}

/// One connection's authentication.
pub(crate) struct Session {
    state: State,
    /// While re-authenticating (KIP-368): the principal the session had, which the new
    /// login must name again.
    reauth_of: Option<Principal>,
}

impl Session {
    /// A connection that has not authenticated yet.
    pub(crate) fn new() -> Self {
        Session {
            state: State::Handshake,
            reauth_of: None,
        }
    }

    /// Starts re-authenticating an authenticated session (a SaslHandshake after login,
    /// KIP-368); false when it is not authenticated.
    pub(crate) fn begin_reauth(&mut self) -> bool {
        let state = std::mem::replace(&mut self.state, State::Handshake);
        match state {
            State::Done { principal, .. } => {
                self.reauth_of = Some(principal);
                true
            }
            other => {
                self.state = other;
                false
            }
        }
    }

    /// The authenticated principal, once there is one.
    pub(crate) fn principal(&self) -> Option<&Principal> {
        match &self.state {
            State::Done { principal, .. } => Some(principal),
            _ => None,
        }
    }

    /// Whether an authenticated session has outlived `connections.max.reauth.ms`.
    pub(crate) fn expired(&self, now: Instant) -> bool {
        matches!(&self.state, State::Done { expires: Some(at), .. } if now >= *at)
    }

    /// The largest frame accepted before authentication.
    pub(crate) fn max_frame() -> usize {
        MAX_TOKEN_BYTES + 4096
    }

    /// Handles a request received before authentication.
    pub(crate) fn handle(
        &mut self,
        security: &ListenerSecurity,
        image: &MetadataImage,
        header: &RequestHeader,
        api_key: Option<ApiKey>,
        mut body: Reader,
        peer: SocketAddr,
    ) -> Step {
        let id = header.correlation_id;
        let version = header.request_api_version;
        match api_key {
            Some(ApiKey::ApiVersions) if matches!(self.state, State::Handshake) => {
                Step::Answer(api_versions::handle_raw(header, body, peer, image))
            }
            Some(ApiKey::SaslHandshake) if matches!(self.state, State::Handshake) => {
                let Ok(req) = SaslHandshakeRequest::decode(&mut body, version) else {
                    return fail(None, "malformed SaslHandshake");
                };
                if version < 1 {
                    return fail(None, "SaslHandshake v0 (unframed tokens) is not supported");
                }
                let enabled = security.sasl_mechanisms.clone();
                if !enabled.contains(&req.mechanism) {
                    let resp = SaslHandshakeResponse {
                        error_code: ErrorCode::UnsupportedSaslMechanism.code(),
                        mechanisms: enabled,
                    };
                    let why = format!("unsupported SASL mechanism {:?}", short(&req.mechanism));
                    return fail(
                        Some(encode(id, ApiKey::SaslHandshake, &resp, version)),
                        &why,
                    );
                }
                self.state = match req.mechanism.as_str() {
                    "PLAIN" => State::Plain,
                    m => match Mechanism::from_name(m) {
                        Some(mech) => State::ScramFirst(ScramServer::new(mech)),
                        None => return fail(None, "an enabled mechanism without a server"),
                    },
                };
                let resp = SaslHandshakeResponse {
                    error_code: 0,
                    mechanisms: enabled,
                };
                Step::Answer(encode(id, ApiKey::SaslHandshake, &resp, version))
            }
            Some(ApiKey::SaslAuthenticate) => {
                let Ok(req) = SaslAuthenticateRequest::decode(&mut body, version) else {
                    return fail(None, "malformed SaslAuthenticate");
                };
                self.authenticate(security, image, id, version, &req.auth_bytes)
            }
            Some(key) => {
                let why = format!("{} before authentication", key.name());
                fail(None, &why)
            }
            None => fail(None, "an unknown API key before authentication"),
        }
    }

    fn authenticate(
        &mut self,
        security: &ListenerSecurity,
        image: &MetadataImage,
        id: i32,
        version: i16,
        token: &[u8],
    ) -> Step {
        let answer =
            |resp: &SaslAuthenticateResponse| encode(id, ApiKey::SaslAuthenticate, resp, version);
        let reauth = self.reauth_of.is_some();
        let refused = |mech: &str, e: SaslError| {
            let resp = SaslAuthenticateResponse {
                error_code: ErrorCode::SaslAuthenticationFailed.code(),
                error_message: Some(e.client_message(mech, reauth)),
                ..Default::default()
            };
            let why = format!("{mech} authentication failed: {e}");
            fail(Some(answer(&resp)), &why)
        };
        if token.len() > MAX_TOKEN_BYTES {
            return fail(None, "a SASL token larger than its bound");
        }
        let state = std::mem::replace(&mut self.state, State::Handshake);
        match state {
            State::Plain => {
                let users = &security.plain_users;
                match plain::authenticate(token, |u| users.get(u).map(String::as_str)) {
                    Ok(user) => self.done(security, Principal::user(user), Vec::new(), &answer),
                    Err(e) => refused("PLAIN", e),
                }
            }
            State::ScramFirst(mut server) => {
                let mech = server.mechanism();
                match server.client_first(token, |u| stored(image, u, mech)) {
                    Ok(reply) => {
                        self.state = State::ScramFinal(server);
                        let resp = SaslAuthenticateResponse {
                            auth_bytes: Bytes::from(reply),
                            ..Default::default()
                        };
                        Step::Answer(answer(&resp))
                    }
                    Err(e) => refused(mech.name(), e),
                }
            }
            State::ScramFinal(mut server) => {
                let mech = server.mechanism();
                match server.client_final(token) {
                    Ok((reply, user)) => self.done(security, Principal::user(user), reply, &answer),
                    Err(e) => refused(mech.name(), e),
                }
            }
            State::Handshake | State::Done { .. } => {
                let resp = SaslAuthenticateResponse {
                    error_code: ErrorCode::IllegalSaslState.code(),
                    error_message: Some(
                        "SaslAuthenticate request received before a SaslHandshake".into(),
                    ),
                    ..Default::default()
                };
                fail(Some(answer(&resp)), "SaslAuthenticate out of order")
            }
        }
    }

    fn done(
        &mut self,
        security: &ListenerSecurity,
        principal: Principal,
        reply: Vec<u8>,
        answer: &dyn Fn(&SaslAuthenticateResponse) -> Outcome,
    ) -> Step {
        if let Some(before) = self.reauth_of.take() {
            if before != principal {
                let message = format!(
                    "Cannot change principals during re-authentication from {before}: {principal}"
                );
                let resp = SaslAuthenticateResponse {
                    error_code: ErrorCode::SaslAuthenticationFailed.code(),
                    error_message: Some(message.clone()),
                    ..Default::default()
                };
                return fail(Some(answer(&resp)), &message);
            }
        }
        let lifetime = security.max_reauth_ms.max(0);
        let expires = (lifetime > 0)
            .then(|| Instant::now() + Duration::from_millis(u64::try_from(lifetime).unwrap_or(0)));
        self.state = State::Done { principal, expires };
        let resp = SaslAuthenticateResponse {
            auth_bytes: Bytes::from(reply),
            session_lifetime_ms: lifetime,
            ..Default::default()
        };
        Step::Answer(answer(&resp))
    }
}

/// A user's stored credential for `mech`, from the image.
pub(crate) fn stored(
    image: &MetadataImage,
    user: &str,
    mech: Mechanism,
) -> Option<ScramCredential> {
    let c = image.scram.get(user)?.get(&mech.code())?;
    Some(ScramCredential {
        salt: c.salt.clone(),
        stored_key: c.stored_key.clone(),
        server_key: c.server_key.clone(),
        iterations: u32::try_from(c.iterations).ok()?,
    })
}

fn fail(answer: Option<Outcome>, why: &str) -> Step {
    Step::Fail {
        answer,
        why: why.to_string(),
    }
}

/// At most 64 characters of something a client sent, for a log line.
fn short(s: &str) -> &str {
    match s.char_indices().nth(64) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
