//! The records of the metadata log. Each is stored as one JSON-encoded Kafka record.

use serde::{Deserialize, Serialize};

/// A topic's 16-byte id (Kafka's topic UUID).
pub type TopicId = [u8; 16];

/// A Kafka listener a broker advertises: its name (`PLAINTEXT`, `SASL_SSL`, ...), host and
/// port. Clients are sent the endpoints of the listener they connected to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// Listener name, upper case.
    pub name: String,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: i32,
}

/// One change to cluster metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum MetadataRecord {
    /// The cluster's identity, written once when a data dir is first formatted.
    Cluster {
        /// Kafka-style base64 cluster id.
        cluster_id: String,
    },
    /// A broker announced itself (and is no longer fenced).
    RegisterBroker {
        /// Node id.
        node_id: i32,
        /// Advertised host.
        host: String,
        /// Advertised Kafka port.
        port: i32,
        /// Rack, if any.
        rack: Option<String>,
        /// Its controller listener (HOST:PORT), where the quorum reaches it.
        #[serde(default)]
        controller: Option<String>,
        /// Every Kafka listener it advertises, by name; empty: only `host:port`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        listeners: Vec<Endpoint>,
    },
    /// A broker stopped heartbeating: it leads nothing until it comes back.
    FenceBroker {
        /// Node id.
        node_id: i32,
    },
    /// A fenced broker heartbeats again.
    UnfenceBroker {
        /// Node id.
        node_id: i32,
    },
    /// A topic was created.
    Topic {
        /// Topic name.
        name: String,
        /// Topic id.
        topic_id: TopicId,
    },
    /// A partition was created or its assignment changed.
    Partition {
        /// Owning topic.
        topic_id: TopicId,
        /// Partition index.
        partition: i32,
        /// Replica broker ids, preferred leader first.
        replicas: Vec<i32>,
        /// In-sync replicas.
        isr: Vec<i32>,
        /// Current leader, or -1.
        leader: i32,
        /// Leader epoch.
        leader_epoch: i32,
    },
    /// A partition reassignment began (`Some`: the replicas before it and its target) or
    /// ended (`None`); the replica list itself changes through `Partition` records.
    Reassignment {
        /// Owning topic.
        topic_id: TopicId,
        /// Partition index.
        partition: i32,
        /// (original replicas, target replicas), or `None` when it ended.
        moving: Option<(Vec<i32>, Vec<i32>)>,
    },
    /// A topic config was set (`Some`) or removed (`None`).
    TopicConfig {
        /// Owning topic.
        topic_id: TopicId,
        /// Config key.
        key: String,
        /// New value, or `None` to revert to the default.
        value: Option<String>,
    },
    /// A block of producer ids was handed out: ids below `next_producer_id` are taken.
    ProducerIds {
        /// First id not yet handed out.
        next_producer_id: i64,
    },
    /// A topic and all its partitions were deleted.
    RemoveTopic {
        /// The deleted topic.
        topic_id: TopicId,
    },
    /// A dynamic broker config was set (`Some`) or removed (`None`), for one broker or, with
    /// `node_id` -1, as the cluster-wide default.
    BrokerConfig {
        /// The broker, or -1 for the cluster default.
        node_id: i32,
        /// Config key (Kafka's broker key).
        key: String,
        /// New value, or `None` to remove the dynamic setting.
        value: Option<String>,
    },
    /// A group config was set (`Some`) or removed (`None`): Kafka's GROUP config resource
    /// (share group settings, dead-letter topic, session timeouts).
    GroupConfig {
        /// The group id.
        group: String,
        /// Config key.
        key: String,
        /// New value, or `None` to go back to the broker default.
        value: Option<String>,
    },
    /// A user's SCRAM credential for one mechanism was set (`Some`) or deleted (`None`).
    /// Only the salted and hashed form is stored, never the password.
    UserScramCredential {
        /// The user name.
        name: String,
        /// The mechanism, as Kafka codes it (1 SCRAM-SHA-256, 2 SCRAM-SHA-512).
        mechanism: i8,
        /// The credential, or `None` when it was deleted.
        credential: Option<StoredScram>,
    },
    /// A cluster-wide feature was finalized at `level` (Kafka's FeatureLevelRecord), as the
    /// `epoch`-th feature change.
    FeatureLevel {
        /// The feature, e.g. `transaction.version`.
        name: String,
        /// Its finalized level; 0 turns it off.
        level: i16,
        /// The finalized-features epoch this change makes (ApiVersions reports it).
        epoch: i64,
    },
    /// An ACL was added (`Some`) or removed (`None`).
    Acl {
        /// Its id.
        id: [u8; 16],
        /// The ACL, or `None` when it was removed.
        acl: Option<AclEntry>,
    },
}

/// One ACL, with Kafka's wire codes for its enums.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AclEntry {
    /// Resource type code (2 topic, 3 group, 4 cluster, 5 transactional id, ...).
    pub resource_type: i8,
    /// Resource name, prefix, or `*`.
    pub resource_name: String,
    /// Pattern type code (3 literal, 4 prefixed).
    pub pattern_type: i8,
    /// Principal, `TYPE:NAME`.
    pub principal: String,
    /// Host, or `*`.
    pub host: String,
    /// Operation code.
    pub operation: i8,
    /// Permission code (2 deny, 3 allow).
    pub permission: i8,
}

/// A SCRAM credential as stored: the salt, StoredKey, ServerKey and iteration count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredScram {
    /// The salt.
    pub salt: Vec<u8>,
    /// H(ClientKey).
    pub stored_key: Vec<u8>,
    /// HMAC(SaltedPassword, "Server Key").
    pub server_key: Vec<u8>,
    /// PBKDF2 iterations.
    pub iterations: i32,
}
