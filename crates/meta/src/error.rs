//! Per-item errors of metadata operations, each naming the Kafka error it maps to.

use thiserror::Error;

/// Why one admin item (a topic, a partition count) was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum MetaError {
    /// TOPIC_ALREADY_EXISTS (36).
    #[error("Topic '{0}' already exists.")]
    TopicAlreadyExists(String),
    /// UNKNOWN_TOPIC_OR_PARTITION (3).
    #[error("This server does not host this topic-partition.")]
    UnknownTopic(String),
    /// INVALID_TOPIC_EXCEPTION (17).
    #[error("{0}")]
    InvalidTopic(String),
    /// INVALID_PARTITIONS (37).
    #[error("{0}")]
    InvalidPartitions(String),
    /// INVALID_REPLICATION_FACTOR (38).
    #[error("{0}")]
    InvalidReplicationFactor(String),
    /// INVALID_REPLICA_ASSIGNMENT (39).
    #[error("{0}")]
    InvalidReplicaAssignment(String),
    /// INVALID_CONFIG (40).
    #[error("{0}")]
    InvalidConfig(String),
    /// INVALID_REQUEST (42).
    #[error("{0}")]
    InvalidRequest(String),
    /// REQUEST_TIMED_OUT (7): no controller could carry out the change.
    #[error("{0}")]
    Unavailable(String),
    /// FENCED_LEADER_EPOCH (74): the asker no longer leads the partition at that epoch.
    #[error("{0}")]
    StaleLeader(String),
    /// INELIGIBLE_REPLICA (107): a replica that may not join the ISR (it is fenced).
    #[error("{0}")]
    IneligibleReplica(String),
    /// PREFERRED_LEADER_NOT_AVAILABLE (80): the preferred replica is not in the ISR or not
    /// alive.
    #[error("{0}")]
    PreferredLeaderNotAvailable(String),
    /// ELIGIBLE_LEADERS_NOT_AVAILABLE (83): no live replica may lead.
    #[error("{0}")]
    EligibleLeadersNotAvailable(String),
    /// ELECTION_NOT_NEEDED (84): the partition already has the leader asked for.
    #[error("{0}")]
    ElectionNotNeeded(String),
    /// NO_REASSIGNMENT_IN_PROGRESS (85): nothing to cancel.
    #[error("{0}")]
    NoReassignmentInProgress(String),
    /// UNSUPPORTED_SASL_MECHANISM (33).
    #[error("{0}")]
    UnsupportedSaslMechanism(String),
    /// RESOURCE_NOT_FOUND (91).
    #[error("{0}")]
    ResourceNotFound(String),
    /// DUPLICATE_RESOURCE (92).
    #[error("{0}")]
    DuplicateResource(String),
    /// UNACCEPTABLE_CREDENTIAL (93).
    #[error("{0}")]
    UnacceptableCredential(String),
    /// INVALID_UPDATE_VERSION (95): a feature level out of range, or a downgrade not asked
    /// for as one.
    #[error("{0}")]
    InvalidUpdateVersion(String),
}

impl MetaError {
    /// The Kafka error code for this error.
    pub fn code(&self) -> i16 {
        match self {
            Self::TopicAlreadyExists(_) => 36,
            Self::UnknownTopic(_) => 3,
            Self::InvalidTopic(_) => 17,
            Self::InvalidPartitions(_) => 37,
            Self::InvalidReplicationFactor(_) => 38,
            Self::InvalidReplicaAssignment(_) => 39,
            Self::InvalidConfig(_) => 40,
            Self::InvalidRequest(_) => 42,
            Self::InvalidUpdateVersion(_) => 95,
            Self::Unavailable(_) => 7,
            Self::StaleLeader(_) => 74,
            Self::IneligibleReplica(_) => 107,
            Self::PreferredLeaderNotAvailable(_) => 80,
            Self::EligibleLeadersNotAvailable(_) => 83,
            Self::ElectionNotNeeded(_) => 84,
            Self::NoReassignmentInProgress(_) => 85,
            Self::UnsupportedSaslMechanism(_) => 33,
            Self::ResourceNotFound(_) => 91,
            Self::DuplicateResource(_) => 92,
            Self::UnacceptableCredential(_) => 93,
        }
    }
}
