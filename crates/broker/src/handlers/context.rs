//! What every handler takes besides its request, and what it gives back.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use crate::state::BrokerState;

/// What a handler sees besides its request.
pub(crate) struct RequestContext {
    /// Broker state.
    pub state: Arc<BrokerState>,
    /// API version of the request.
    pub version: i16,
    /// The client id from the request header.
    pub client_id: String,
    /// The client's address.
    pub peer: SocketAddr,
    /// The name of the listener the client connected to (`PLAINTEXT`, `SASL_SSL`, ...):
    /// brokers are advertised to it by their endpoints on that listener.
    pub listener: Arc<str>,
}

/// A handler's answer.
pub(crate) enum Reply<R> {
    /// Respond with this now.
    Now(R),
    /// Respond with what this future yields.
    Later(Pin<Box<dyn Future<Output = R> + Send>>),
    /// Send nothing back (acks=0).
    Nothing,
}
