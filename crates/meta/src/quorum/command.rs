//! What brokers ask of the controller. A [`Command`] runs on the Raft leader against its
//! image (after it caught up with everything committed), under one lock so commands see
//! each other's effects, and becomes the records of one entry.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config_change::ConfigOp;
use crate::controller::{Controller, CreateTopicSpec};
use crate::error::MetaError;
use crate::image::MetadataImage;
use crate::membership::Registration;
use crate::reassign::Election;
use crate::records::{MetadataRecord, TopicId};

/// Producer ids handed out to a broker at a time.
pub const PRODUCER_ID_BLOCK: i64 = 1000;

/// A request to the controller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Command {
    /// Writes the cluster id, unless the cluster has one.
    Format {
        /// The id to use.
        cluster_id: String,
        /// SCRAM users created with the cluster (Kafka's `kafka-storage format
        /// --add-scram`): written only by the Format that formats it.
        #[serde(default)]
        scram: Vec<(String, crate::users::ScramChange)>,
    },
    /// A broker (re)starting.
    Register(Registration),
    /// A broker is alive.
    Heartbeat {
        /// Node id.
        node_id: i32,
    },
    /// CreateTopics, one topic after the other; `ids` are the new topics' ids.
    CreateTopics {
        /// The topics.
        specs: Vec<(CreateTopicSpec, TopicId)>,
        /// Check only.
        validate_only: bool,
    },
    /// DeleteTopics for one topic.
    DeleteTopic {
        /// The topic.
        name: String,
    },
    /// CreatePartitions for one topic.
    CreatePartitions {
        /// The topic.
        name: String,
        /// The new partition count.
        count: i32,
        /// Manual assignments of the new partitions.
        assignments: Option<Vec<Vec<i32>>>,
        /// Check only.
        validate_only: bool,
    },
    /// Config changes of a topic (`topic: Some`), a group (`group: Some`) or of broker
    /// `node_id` (-1: all).
    AlterConfigs {
        /// The topic, if a topic's.
        topic: Option<String>,
        /// The group, if a group's.
        #[serde(default)]
        group: Option<String>,
        /// The broker, if a broker's.
        node_id: i32,
        /// The changes.
        ops: Vec<(String, ConfigOp)>,
        /// AlterConfigs: remove what is not named.
        replace_all: bool,
        /// Check only.
        validate_only: bool,
        /// Effective values of the named keys where the change starts from (APPEND).
        current: BTreeMap<String, String>,
    },
    /// A block of never-used producer ids.
    AllocateProducerIds,
    /// A broker stopping on purpose: it is fenced at once, so that its partitions get
    /// other leaders (and it leaves their ISRs) before it goes (controlled shutdown).
    ControlledShutdown {
        /// Node id.
        node_id: i32,
    },
    /// A partition leader changes its ISR (Kafka's AlterPartition).
    AlterIsr {
        /// The topic.
        topic_id: TopicId,
        /// The partition.
        partition: i32,
        /// The asking leader.
        leader: i32,
        /// Its leader epoch.
        leader_epoch: i32,
        /// The ISR it wants.
        isr: Vec<i32>,
    },
    /// AlterPartitionReassignments: per partition, the target replicas, or `None` to
    /// cancel its move.
    Reassign {
        /// (topic, partition, target).
        items: Vec<(String, i32, Option<Vec<i32>>)>,
    },
    /// ElectLeaders for these partitions.
    ElectLeaders {
        /// (topic, partition).
        items: Vec<(String, i32)>,
        /// Preferred or unclean.
        election: Election,
    },
    /// AlterUserScramCredentials: (user, change) in request order; one result per user.
    AlterScram {
        /// The changes.
        changes: Vec<(String, crate::users::ScramChange)>,
    },
    /// CreateAcls and DeleteAcls: ACLs to add under fresh ids (one already there is not
    /// added twice) and ids of ACLs to remove (those gone already are passed over).
    AlterAcls {
        /// (new id, ACL).
        add: Vec<([u8; 16], crate::records::AclEntry)>,
        /// Ids to remove.
        remove: Vec<[u8; 16]>,
    },
    /// UpdateFeatures: (feature, level, how) each, all or none applied.
    UpdateFeatures {
        /// The changes.
        updates: Vec<(String, i16, crate::features::UpgradeType)>,
        /// Check only.
        validate_only: bool,
    },
    /// The periodic preferred-leader rebalance (`auto.leader.rebalance.enable`).
    RebalanceLeaders {
        /// `leader.imbalance.per.broker.percentage`.
        imbalance_percent: u32,
    },
}

/// What a command did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// Entries applied once its records are (the next index): wait for the local image to
    /// reach it before relying on the change.
    pub applied: u64,
    /// Per item (a topic of CreateTopics), or one for the whole command.
    pub results: Vec<Result<(), MetaError>>,
    /// `AllocateProducerIds`: the block `[start, end)`.
    pub producer_ids: Option<(i64, i64)>,
}

/// Why a command did not run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// This node is not (or no longer) the leader: try the leader.
    #[error("not the controller")]
    NotLeader,
    /// The leader failed to write.
    #[error("controller failure: {0}")]
    Failed(String),
}

/// What running a command yields: records to write, per-item results, and
/// the producer-id block it allocated, if any.
pub(crate) type Ran = (
    Vec<MetadataRecord>,
    Vec<Result<(), MetaError>>,
    Option<(i64, i64)>,
);

/// Runs `op` on each item in turn, each against the image the earlier ones left.
fn each<T>(
    image: &MetadataImage,
    items: Vec<T>,
    mut op: impl FnMut(&MetadataImage, T) -> Result<Vec<MetadataRecord>, MetaError>,
) -> Ran {
    let mut next = image.clone();
    let mut records = Vec::new();
    let mut results = Vec::with_capacity(items.len());
    for item in items {
        match op(&next, item) {
            Ok(recs) => {
                for r in &recs {
                    next.apply(r);
                }
                records.extend(recs);
                results.push(Ok(()));
            }
            Err(e) => results.push(Err(e)),
        }
    }
    (records, results, None)
}

/// Runs `cmd` against `image`: the records to write and the per-item results.
pub(crate) fn run(c: &Controller, image: &MetadataImage, cmd: Command) -> Ran {
    let one = |r: Result<Vec<MetadataRecord>, MetaError>| match r {
        Ok(recs) => (recs, vec![Ok(())], None),
        Err(e) => (Vec::new(), vec![Err(e)], None),
    };
    match cmd {
        Command::Format { cluster_id, scram } => {
            if image.cluster_id.is_some() {
                (Vec::new(), vec![Ok(())], None)
            } else {
                let mut records = vec![MetadataRecord::Cluster { cluster_id }];
                let (users, results) = crate::users::alter_scram(image, &scram);
                match results.into_iter().find_map(|(_, r)| r.err()) {
                    Some(e) => (Vec::new(), vec![Err(e)], None),
                    None => {
                        records.extend(users);
                        (records, vec![Ok(())], None)
                    }
                }
            }
        }
        Command::Register(r) => (c.register_broker(image, &r), vec![Ok(())], None),
        Command::Heartbeat { node_id } => (c.unfence_broker(image, node_id), vec![Ok(())], None),
        Command::CreateTopics {
            specs,
            validate_only,
        } => {
            let (mut records, results, ids) = each(image, specs, |next, (spec, id)| {
                c.create_topic(next, &spec, id)
            });
            if validate_only {
                records.clear();
            }
            (records, results, ids)
        }
        Command::DeleteTopic { name } => one(c.delete_topic(image, &name)),
        Command::CreatePartitions {
            name,
            count,
            assignments,
            validate_only,
        } => {
            let r = c.create_partitions(image, &name, count, assignments.as_deref());
            let r = r.map(|recs| if validate_only { Vec::new() } else { recs });
            one(r)
        }
        Command::AlterConfigs {
            topic,
            group,
            node_id,
            ops,
            replace_all,
            validate_only,
            current,
        } => {
            let cur = |k: &str| current.get(k).cloned();
            let r = match (topic, group) {
                (Some(t), _) => c.alter_topic_configs(image, &t, &ops, replace_all, &cur),
                (None, Some(g)) => c.alter_group_configs(image, &g, &ops, replace_all),
                (None, None) => c.alter_broker_configs(image, node_id, &ops, replace_all, &cur),
            };
            one(r.map(|recs| if validate_only { Vec::new() } else { recs }))
        }
        Command::ControlledShutdown { node_id } => {
            (c.fence_broker(image, node_id), vec![Ok(())], None)
        }
        Command::AlterIsr {
            topic_id,
            partition,
            leader,
            leader_epoch,
            isr,
        } => one(c
            .alter_isr(image, &topic_id, partition, leader, leader_epoch, isr)
            .map(|mut recs| {
                // The new ISR may finish a reassignment.
                let mut next = image.clone();
                for r in &recs {
                    next.apply(r);
                }
                recs.extend(c.complete_reassignment(&next, &topic_id, partition));
                recs
            })),
        Command::Reassign { items } => each(image, items, |next, (topic, index, target)| {
            c.reassign(next, &topic, index, target)
        }),
        Command::ElectLeaders { items, election } => each(image, items, |next, (topic, index)| {
            c.elect_leader(next, &topic, index, election)
        }),
        Command::RebalanceLeaders { imbalance_percent } => (
            c.rebalance_leaders(image, imbalance_percent),
            vec![Ok(())],
            None,
        ),
        Command::AlterScram { changes } => {
            let (records, results) = crate::users::alter_scram(image, &changes);
            (records, results.into_iter().map(|(_, r)| r).collect(), None)
        }
        Command::AlterAcls { add, remove } => {
            let mut records = Vec::new();
            let mut seen: std::collections::BTreeSet<&crate::records::AclEntry> =
                image.acls.values().collect();
            for (id, acl) in &add {
                if seen.insert(acl) && !image.acls.contains_key(id) {
                    records.push(MetadataRecord::Acl {
                        id: *id,
                        acl: Some(acl.clone()),
                    });
                }
            }
            let mut removed = std::collections::BTreeSet::new();
            for id in remove {
                if image.acls.contains_key(&id) && removed.insert(id) {
                    records.push(MetadataRecord::Acl { id, acl: None });
                }
            }
            (records, vec![Ok(())], None)
        }
        Command::UpdateFeatures {
            updates,
            validate_only,
        } => {
            let mut records = Vec::new();
            let mut next = image.clone();
            let mut results = Vec::with_capacity(updates.len());
            for (name, level, how) in &updates {
                match crate::features::update(&next, name, *level, *how) {
                    Ok(r) => {
                        if let Some(r) = r {
                            next.apply(&r);
                            records.push(r);
                        }
                        results.push(Ok(()));
                    }
                    Err(e) => results.push(Err(e)),
                }
            }
            // Kafka applies a request's updates together or not at all.
            if validate_only || results.iter().any(Result::is_err) {
                records.clear();
            }
            (records, results, None)
        }
        Command::AllocateProducerIds => {
            let start = image.next_producer_id;
            let end = start + PRODUCER_ID_BLOCK;
            (
                vec![MetadataRecord::ProducerIds {
                    next_producer_id: end,
                }],
                vec![Ok(())],
                Some((start, end)),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::AclEntry;

    fn entry(name: &str) -> AclEntry {
        AclEntry {
            resource_type: 2,
            resource_name: name.into(),
            pattern_type: 3,
            principal: "User:alice".into(),
            host: "*".into(),
            operation: 3,
            permission: 3,
        }
    }

    fn apply(image: &mut MetadataImage, cmd: Command) -> usize {
        let (records, results, _) = run(&Controller::default(), image, cmd);
        assert_eq!(results, vec![Ok(())]);
        for r in &records {
            image.apply(r);
        }
        records.len()
    }

    #[test]
    fn scram_users_come_with_the_format_that_formats_the_cluster() {
        let user = |pw: u8| {
            (
                "admin".to_string(),
                crate::users::ScramChange::Upsert {
                    mechanism: 2,
                    credential: crate::records::StoredScram {
                        salt: vec![pw; 16],
                        stored_key: vec![pw; 64],
                        server_key: vec![pw; 64],
                        iterations: 4096,
                    },
                },
            )
        };
        let mut image = MetadataImage::default();
        let first = Command::Format {
            cluster_id: "c1".into(),
            scram: vec![user(1)],
        };
        assert_eq!(apply(&mut image, first), 2);
        // Formatting again (another voter, a restart) changes nothing.
        let again = Command::Format {
            cluster_id: "c2".into(),
            scram: vec![user(2)],
        };
        assert_eq!(apply(&mut image, again), 0);
        assert_eq!(image.cluster_id.as_deref(), Some("c1"));
        assert_eq!(image.scram["admin"][&2].salt, vec![1; 16]);
    }

    #[test]
    fn acls_are_added_once_and_removed_by_id() {
        let mut image = MetadataImage::default();
        let add = vec![
            ([1; 16], entry("a")),
            ([2; 16], entry("a")),
            ([3; 16], entry("b")),
        ];
        // The same ACL twice in one request, and again later, is stored once.
        assert_eq!(
            apply(
                &mut image,
                Command::AlterAcls {
                    add,
                    remove: vec![]
                }
            ),
            2
        );
        let again = vec![([4; 16], entry("b"))];
        assert_eq!(
            apply(
                &mut image,
                Command::AlterAcls {
                    add: again,
                    remove: vec![]
                }
            ),
            0
        );
        assert_eq!(image.acls.len(), 2);
        let epoch = image.acl_epoch;
        // Removing an id twice, or one never there, is passed over.
        let remove = vec![[1; 16], [1; 16], [9; 16]];
        assert_eq!(
            apply(
                &mut image,
                Command::AlterAcls {
                    add: vec![],
                    remove
                }
            ),
            1
        );
        assert_eq!(image.acls.keys().collect::<Vec<_>>(), vec![&[3u8; 16]]);
        assert!(image.acl_epoch > epoch);
        // A snapshot carries them.
        let mut rebuilt = MetadataImage::default();
        for r in image.to_records() {
            rebuilt.apply(&r);
        }
        assert_eq!(rebuilt.acls, image.acls);
    }
}
