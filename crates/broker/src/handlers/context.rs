//! What every handler takes besides its request, and what it gives back.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use tracing::debug;
use weir_auth::acl::{Operation, ResourceType, CLUSTER_NAME};
use weir_auth::principal::Principal;

use crate::produce_order::ProduceOrder;
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
    /// Who the client is.
    pub principal: Arc<Principal>,
    /// The connection's produce order.
    pub(crate) order: Arc<ProduceOrder>,
}

impl RequestContext {
    /// May this client do `op` on the resource `resource_type`/`name`? (Always, without
    /// an authorizer.) A refusal is logged at debug level, as Kafka's authorizer log does.
    pub(crate) fn allowed(&self, op: Operation, resource_type: ResourceType, name: &str) -> bool {
        let authz = &self.state.authz;
        if !authz.enabled() {
            return true;
        }
        let image = self.state.image();
        let host = self.peer.ip().to_string();
        let ok = authz.allowed(&image, &self.principal, &host, op, resource_type, name);
        if !ok {
            debug!(principal = %self.principal, %host, operation = op.name(),
                resource = resource_type.name(), name, "denied");
        }
        ok
    }

    /// May this client do `op` on the cluster?
    pub(crate) fn allowed_cluster(&self, op: Operation) -> bool {
        self.allowed(op, ResourceType::Cluster, CLUSTER_NAME)
    }

    /// The operations this client may do on `resource_type`/`name`, among those Kafka
    /// defines for the type, as KIP-430's bit field (bit `1 << code` per operation); all of
    /// them without an authorizer, as Kafka answers.
    pub(crate) fn authorized_operations(&self, resource_type: ResourceType, name: &str) -> i32 {
        use Operation as O;
        let ops: &[Operation] = match resource_type {
            ResourceType::Topic => &[
                O::Read,
                O::Write,
                O::Create,
                O::Describe,
                O::Delete,
                O::Alter,
                O::DescribeConfigs,
                O::AlterConfigs,
            ],
            ResourceType::Cluster => &[
                O::Create,
                O::ClusterAction,
                O::DescribeConfigs,
                O::AlterConfigs,
                O::IdempotentWrite,
                O::Alter,
                O::Describe,
            ],
            ResourceType::Group => &[
                O::Read,
                O::Describe,
                O::Delete,
                O::DescribeConfigs,
                O::AlterConfigs,
            ],
            ResourceType::TransactionalId => &[O::Describe, O::Write],
            _ => &[],
        };
        ops.iter()
            .filter(|op| self.allowed(**op, resource_type, name))
            .fold(0, |bits, op| bits | (1 << op.code()))
    }

    /// May this client do `op` on some resource of `resource_type`?
    pub(crate) fn allowed_any(&self, op: Operation, resource_type: ResourceType) -> bool {
        let authz = &self.state.authz;
        if !authz.enabled() {
            return true;
        }
        let image = self.state.image();
        let host = self.peer.ip().to_string();
        authz.allowed_any(&image, &self.principal, &host, op, resource_type)
    }
}

/// A handler's answer.
pub(crate) enum Reply<R> {
    /// Respond with this now.
    Now(R),
    /// Respond with what this future yields, run as a task of its own.
    Later(Pin<Box<dyn Future<Output = R> + Send>>),
    /// Send nothing back (acks=0).
    Nothing,
}
