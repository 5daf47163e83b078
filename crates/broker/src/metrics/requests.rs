//! Request instruments, as Kafka's `kafka.network:type=RequestMetrics` has them: requests
//! per API and version, errors per API and code, and each request's time in its phases
//! (queue, local, remote, response queue, send, total). The hot path touches only
//! atomics and pre-made histograms: a series is created on its first use and kept.

use std::sync::OnceLock;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::ApiKey;

use super::latency_buckets;

/// API keys with a slot of their own (Kafka's keys are below this).
const API_SLOTS: usize = 128;
/// Versions per API with a slot of their own.
const VERSION_SLOTS: usize = 32;

/// The phases of a request, as Kafka's RequestMetrics names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// From being read off the socket to its handler starting (RequestQueueTimeMs).
    Queue,
    /// In its handler (LocalTimeMs).
    Local,
    /// Waiting for replication, an fsync or a long poll (RemoteTimeMs).
    Remote,
    /// Ready, waiting for earlier responses of its connection (ResponseQueueTimeMs).
    ResponseQueue,
    /// Writing the response to the socket (ResponseSendTimeMs).
    Send,
    /// All of it (TotalTimeMs).
    Total,
}

const PHASES: [Phase; 6] = [
    Phase::Queue,
    Phase::Local,
    Phase::Remote,
    Phase::ResponseQueue,
    Phase::Send,
    Phase::Total,
];

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Queue => "queue",
            Phase::Local => "local",
            Phase::Remote => "remote",
            Phase::ResponseQueue => "response_queue",
            Phase::Send => "send",
            Phase::Total => "total",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiVersion {
    api: &'static str,
    version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiError {
    api: &'static str,
    error: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiPhase {
    api: &'static str,
    phase: &'static str,
}

fn histogram() -> Histogram {
    Histogram::new(latency_buckets())
}

/// Request counts, errors and phase times.
pub(crate) struct RequestMetrics {
    requests: Family<ApiVersion, Counter>,
    errors: Family<ApiError, Counter>,
    time: Family<ApiPhase, Histogram, fn() -> Histogram>,
    request_slots: Box<[OnceLock<Counter>]>,
    time_slots: Box<[OnceLock<[Histogram; 6]>]>,
}

impl Default for RequestMetrics {
    fn default() -> Self {
        RequestMetrics {
            requests: Family::default(),
            errors: Family::default(),
            time: Family::new_with_constructor(histogram),
            request_slots: (0..API_SLOTS * VERSION_SLOTS)
                .map(|_| OnceLock::new())
                .collect(),
            time_slots: (0..API_SLOTS).map(|_| OnceLock::new()).collect(),
        }
    }
}

fn slot(api: ApiKey) -> usize {
    usize::try_from(api.key()).unwrap_or(usize::MAX)
}

impl RequestMetrics {
    /// Counts one request of `api` at `version`.
    pub(crate) fn count(&self, api: ApiKey, version: i16) {
        let v = usize::try_from(version).unwrap_or(usize::MAX);
        let i = slot(api);
        if i < API_SLOTS && v < VERSION_SLOTS {
            self.request_slots[i * VERSION_SLOTS + v]
                .get_or_init(|| self.requests.get_or_create_owned(&labels(api, version)))
                .inc();
        } else {
            self.requests.get_or_create(&labels(api, version)).inc();
        }
    }

    /// Counts the error codes of one response (NONE is not counted).
    pub(crate) fn errors(&self, api: ApiKey, codes: &[i16]) {
        for &code in codes {
            let error = ErrorCode::from_code(code).name();
            self.errors
                .get_or_create(&ApiError {
                    api: api.name(),
                    error,
                })
                .inc();
        }
    }

    /// Records `seconds` spent by a request of `api` in `phase`.
    pub(crate) fn time(&self, api: ApiKey, phase: Phase, seconds: f64) {
        let i = slot(api);
        let k = PHASES.iter().position(|p| *p == phase).unwrap_or(0);
        if i < API_SLOTS {
            let hs = self.time_slots[i].get_or_init(|| {
                PHASES.map(|p| {
                    self.time.get_or_create_owned(&ApiPhase {
                        api: api.name(),
                        phase: p.name(),
                    })
                })
            });
            hs[k].observe(seconds);
        }
    }

    pub(crate) fn register(&self, registry: &mut Registry) {
        registry.register(
            "weir_requests",
            "Requests per API and version (kafka.network:type=RequestMetrics,name=RequestsPerSec)",
            self.requests.clone(),
        );
        registry.register(
            "weir_request_errors",
            "Error codes in responses, per API (kafka.network:type=RequestMetrics,name=ErrorsPerSec)",
            self.errors.clone(),
        );
        registry.register_with_unit(
            "weir_request_time",
            "Time requests spent per phase (kafka.network:type=RequestMetrics,name=*TimeMs)",
            Unit::Seconds,
            self.time.clone(),
        );
    }
}

fn labels(api: ApiKey, version: i16) -> ApiVersion {
    ApiVersion {
        api: api.name(),
        version: version.to_string(),
    }
}

/// When a request passed each point: read, handled, ready, written.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RequestTimer {
    /// Which API.
    pub(crate) api: ApiKey,
    /// When its frame was read.
    pub(crate) read: Instant,
    /// When its handler started.
    pub(crate) started: Instant,
    /// When its handler returned (a reply or a task).
    pub(crate) handled: Instant,
}

impl RequestTimer {
    /// Records the phases of a request whose response became ready at `ready`, was
    /// picked up by the writer at `writing` and written at `written`.
    pub(crate) fn finish(
        &self,
        m: &RequestMetrics,
        ready: Instant,
        writing: Instant,
        written: Instant,
    ) {
        let s = |a: Instant, b: Instant| b.saturating_duration_since(a).as_secs_f64();
        m.time(self.api, Phase::Queue, s(self.read, self.started));
        m.time(self.api, Phase::Local, s(self.started, self.handled));
        m.time(self.api, Phase::Remote, s(self.handled, ready));
        m.time(self.api, Phase::ResponseQueue, s(ready, writing));
        m.time(self.api, Phase::Send, s(writing, written));
        m.time(self.api, Phase::Total, s(self.read, written));
    }
}
