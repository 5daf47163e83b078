//! SaslHandshake and SaslAuthenticate once a connection is past authentication (or on a
//! PLAINTEXT listener): answered with ILLEGAL_SASL_STATE, as Kafka's KafkaApis answers them.
//! Authentication itself happens before dispatch, in `crate::sasl`.

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
