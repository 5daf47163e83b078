//! SaslHandshake and SaslAuthenticate that reach dispatch (on a listener without SASL, or a
//! SaslAuthenticate with no handshake after login): answered with ILLEGAL_SASL_STATE, as
//! Kafka's KafkaApis answers them. Authentication and re-authentication happen before
//! dispatch, in `crate::sasl`.

use weir_protocol::error::ErrorCode;
use weir_protocol::messages::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};

use crate::handlers::context::RequestContext;

/// SaslHandshake after authentication.
pub(crate) async fn handshake(
    _ctx: RequestContext,
    _req: SaslHandshakeRequest,
) -> SaslHandshakeResponse {
    SaslHandshakeResponse {
        error_code: ErrorCode::IllegalSaslState.code(),
        ..Default::default()
    }
}

/// SaslAuthenticate after authentication.
pub(crate) async fn authenticate(
    _ctx: RequestContext,
    _req: SaslAuthenticateRequest,
) -> SaslAuthenticateResponse {
    SaslAuthenticateResponse {
        error_code: ErrorCode::IllegalSaslState.code(),
        error_message: Some(
            "SaslAuthenticate request received after successful authentication".into(),
        ),
        ..Default::default()
    }
}
