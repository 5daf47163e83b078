//! The controller's pure core: validates admin requests against an image and returns the
//! records that carry them out. It does no I/O; the broker appends and applies the records.

use std::collections::BTreeMap;

use crate::error::MetaError;
use crate::image::MetadataImage;
use crate::names::validate_topic_name;
use crate::records::{MetadataRecord, TopicId};
use crate::topic_config;

/// Largest partition count one request may ask for (bounds the records one request makes).
pub const MAX_PARTITIONS: i32 = 100_000;

/// What a CreateTopics item asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CreateTopicSpec {
    /// Topic name.
    pub name: String,
    /// Partition count, or -1 for the default.
    pub num_partitions: i32,
    /// Replication factor, or -1 for the default.
    pub replication_factor: i16,
    /// Manual assignment: partition index -> replica ids (empty for automatic).
    pub assignments: Vec<(i32, Vec<i32>)>,
    /// Config overrides.
    pub configs: BTreeMap<String, String>,
}

/// Controller settings that decide defaults.
#[derive(Debug, Clone)]
pub struct Controller {
    /// `num.partitions`.
    pub default_partitions: i32,
    /// `default.replication.factor`.
    pub default_replication_factor: i16,
}

impl Default for Controller {
    fn default() -> Self {
        Self {
            default_partitions: 1,
            default_replication_factor: 1,
        }
    }
}

impl Controller {
    /// Validates a topic creation and returns its records (`Topic`, one `Partition` per
    /// partition, one `TopicConfig` per override).
    pub fn create_topic(
        &self,
        image: &MetadataImage,
        spec: &CreateTopicSpec,
        topic_id: TopicId,
    ) -> Result<Vec<MetadataRecord>, MetaError> {
        validate_topic_name(&spec.name).map_err(MetaError::InvalidTopic)?;
        if image.topic(&spec.name).is_some() {
            return Err(MetaError::TopicAlreadyExists(spec.name.clone()));
        }
        if let Some(clash) = image.topics.keys().find(|n| collides(n, &spec.name)) {
            return Err(MetaError::InvalidTopic(format!(
                "Topic '{}' collides with existing topic: {clash}",
                spec.name
            )));
        }
        for (k, v) in &spec.configs {
            topic_config::validate(k, v).map_err(MetaError::InvalidConfig)?;
        }
        let assignment = if spec.assignments.is_empty() {
            let n = if spec.num_partitions == -1 {
                self.default_partitions
            } else {
                spec.num_partitions
            };
            if n <= 0 || n > MAX_PARTITIONS {
                return Err(MetaError::InvalidPartitions(format!(
                    "Number of partitions was set to an invalid non-positive value: {n}."
                )));
            }
            let rf = if spec.replication_factor == -1 {
                self.default_replication_factor
            } else {
                spec.replication_factor
            };
            place_replicas(image, 0, n, rf, &topic_id)?
        } else {
            if spec.num_partitions != -1 || spec.replication_factor != -1 {
                return Err(MetaError::InvalidRequest(
                    "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.".into(),
                ));
            }
            manual_assignment(image, &spec.assignments)?
        };
        let mut out = vec![MetadataRecord::Topic {
            name: spec.name.clone(),
            topic_id,
        }];
        out.extend(partition_records(topic_id, 0, assignment));
        out.extend(
            spec.configs
                .iter()
                .map(|(k, v)| MetadataRecord::TopicConfig {
                    topic_id,
                    key: k.clone(),
                    value: Some(v.clone()),
                }),
        );
        Ok(out)
    }

    /// Validates a topic deletion and returns its record.
    pub fn delete_topic(
        &self,
        image: &MetadataImage,
        name: &str,
    ) -> Result<Vec<MetadataRecord>, MetaError> {
        let t = image
            .topic(name)
            .ok_or_else(|| MetaError::UnknownTopic(name.into()))?;
        Ok(vec![MetadataRecord::RemoveTopic {
            topic_id: t.topic_id,
        }])
    }

    /// Validates growing a topic to `count` partitions and returns the new partitions' records.
    pub fn create_partitions(
        &self,
        image: &MetadataImage,
        name: &str,
        count: i32,
        assignments: Option<&[Vec<i32>]>,
    ) -> Result<Vec<MetadataRecord>, MetaError> {
        let t = image
            .topic(name)
            .ok_or_else(|| MetaError::UnknownTopic(name.into()))?;
        let current = i32::try_from(t.partitions.len()).unwrap_or(i32::MAX);
        if count < current {
            return Err(MetaError::InvalidPartitions(format!(
                "The topic {name} currently has {current} partition(s); {count} would not be an increase."
            )));
        }
        if count == current {
            return Err(MetaError::InvalidPartitions(format!(
                "Topic already has {current} partition(s)."
            )));
        }
        if count > MAX_PARTITIONS {
            return Err(MetaError::InvalidPartitions(format!(
                "Too many partitions: {count}."
            )));
        }
        let rf = t.partitions.get(&0).map_or(1, |p| p.replicas.len());
        let rf = i16::try_from(rf).unwrap_or(i16::MAX);
        let new = match assignments {
            Some(a) => {
                if i32::try_from(a.len()).ok() != Some(count - current) {
                    return Err(MetaError::InvalidReplicaAssignment(format!(
                        "Increasing the number of partitions by {} but {} assignments provided.",
                        count - current,
                        a.len()
                    )));
                }
                let indexed: Vec<(i32, Vec<i32>)> =
                    (current..count).zip(a.iter().cloned()).collect();
                manual_assignment(image, &indexed)?
            }
            None => place_replicas(image, current, count, rf, &t.topic_id)?,
        };
        Ok(partition_records(t.topic_id, current, new))
    }
}

/// Kafka refuses topics whose names differ only by '.' versus '_' (metric names collide).
fn collides(a: &str, b: &str) -> bool {
    a != b && a.replace('.', "_") == b.replace('.', "_")
}

/// Kafka's round-robin placement over the unfenced brokers, starting at a broker the topic
/// id picks (so single-partition topics spread too): partition `p`'s replicas are the `rf`
/// brokers from `start + p`, the first of them its leader. With racks, the brokers are
/// taken in rack-alternating order (one from each rack in turn, as Kafka's rack-aware
/// assignment does), so each partition's replicas span as many racks as they can.
fn place_replicas(
    image: &MetadataImage,
    from: i32,
    to: i32,
    rf: i16,
    topic_id: &TopicId,
) -> Result<Vec<Vec<i32>>, MetaError> {
    let brokers = rack_alternating(image);
    if rf <= 0 {
        return Err(MetaError::InvalidReplicationFactor(
            "Replication factor must be larger than 0, or -1 to use the default value.".into(),
        ));
    }
    let rf = usize::try_from(rf).unwrap_or(0);
    if rf > brokers.len() {
        return Err(MetaError::InvalidReplicationFactor(format!(
            "Unable to replicate the partition {rf} time(s): The target replication factor of {rf} cannot be reached because only {} broker(s) are registered.",
            brokers.len()
        )));
    }
    let n = brokers.len();
    let rack_of = |id: i32| {
        image
            .brokers
            .get(&id)
            .and_then(|b| b.rack.clone())
            .unwrap_or_else(|| format!("\u{0}{id}"))
    };
    let seed = usize::from(topic_id[0]) + usize::from(topic_id[1]) * 256;
    Ok((from..to)
        .map(|p| {
            let start = (seed + usize::try_from(p).unwrap_or(0)) % n;
            let ring = || (0..n).filter_map(|i| brokers.get((start + i) % n).copied());
            // From `start` on, a broker in a rack the partition does not use yet; once
            // every rack is used (or no other is left), the next brokers in turn.
            let mut chosen: Vec<i32> = Vec::with_capacity(rf);
            let mut racks: Vec<String> = Vec::with_capacity(rf);
            for b in ring() {
                if chosen.len() == rf {
                    break;
                }
                let rack = rack_of(b);
                if !racks.contains(&rack) {
                    racks.push(rack);
                    chosen.push(b);
                }
            }
            for b in ring() {
                if chosen.len() == rf {
                    break;
                }
                if !chosen.contains(&b) {
                    chosen.push(b);
                }
            }
            chosen
        })
        .collect())
}

/// The unfenced brokers, ordered so that consecutive ones sit in different racks while
/// racks remain: the first broker of each rack, then the second of each, and so on. A
/// broker without a rack counts as a rack of its own. Without racks: id order.
fn rack_alternating(image: &MetadataImage) -> Vec<i32> {
    let live = image.brokers.values().filter(|b| !b.fenced);
    if image.brokers.values().all(|b| b.rack.is_none()) {
        return live.map(|b| b.node_id).collect();
    }
    let mut racks: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for b in live {
        let rack = b
            .rack
            .clone()
            .unwrap_or_else(|| format!("\u{0}{}", b.node_id));
        racks.entry(rack).or_default().push(b.node_id);
    }
    let deepest = racks.values().map(Vec::len).max().unwrap_or(0);
    (0..deepest)
        .flat_map(|i| racks.values().filter_map(move |r| r.get(i).copied()))
        .collect()
}

/// A replica list names at least one broker, none twice, and only registered ones
/// (INVALID_REPLICA_ASSIGNMENT otherwise, naming `what`).
pub(crate) fn check_replicas(
    image: &MetadataImage,
    replicas: &[i32],
    what: &str,
) -> Result<(), MetaError> {
    if replicas.is_empty() {
        return Err(MetaError::InvalidReplicaAssignment(format!(
            "{what} has no replicas."
        )));
    }
    let mut seen = replicas.to_vec();
    seen.sort_unstable();
    seen.dedup();
    if seen.len() != replicas.len() {
        return Err(MetaError::InvalidReplicaAssignment(format!(
            "{what} has duplicate replicas."
        )));
    }
    if let Some(b) = replicas.iter().find(|b| !image.brokers.contains_key(b)) {
        return Err(MetaError::InvalidReplicaAssignment(format!(
            "Broker {b} is not registered."
        )));
    }
    Ok(())
}

fn manual_assignment(
    image: &MetadataImage,
    a: &[(i32, Vec<i32>)],
) -> Result<Vec<Vec<i32>>, MetaError> {
    let mut out = Vec::with_capacity(a.len());
    for (i, (_, replicas)) in a.iter().enumerate() {
        check_replicas(image, replicas, &format!("Partition {i}"))?;
        out.push(replicas.clone());
    }
    Ok(out)
}

fn partition_records(
    topic_id: TopicId,
    first: i32,
    assignment: Vec<Vec<i32>>,
) -> Vec<MetadataRecord> {
    (first..)
        .zip(assignment)
        .map(|(partition, replicas)| MetadataRecord::Partition {
            topic_id,
            partition,
            leader: replicas.first().copied().unwrap_or(-1),
            isr: replicas.clone(),
            replicas,
            leader_epoch: 0,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image_with_broker() -> MetadataImage {
        let mut img = MetadataImage::default();
        img.apply(&MetadataRecord::RegisterBroker {
            controller: None,
            listeners: Vec::new(),
            node_id: 1,
            host: "127.0.0.1".into(),
            port: 9092,
            rack: None,
        });
        img
    }

    fn spec(name: &str, n: i32) -> CreateTopicSpec {
        CreateTopicSpec {
            name: name.into(),
            num_partitions: n,
            replication_factor: -1,
            ..Default::default()
        }
    }

    #[test]
    fn replicas_span_racks_and_leaders_spread() {
        let c = Controller::default();
        let mut img = MetadataImage::default();
        // Racks a, b, c with two brokers each, registered in rack order.
        for (n, rack) in [(1, "a"), (2, "a"), (3, "b"), (4, "b"), (5, "c"), (6, "c")] {
            img.apply(&MetadataRecord::RegisterBroker {
                controller: None,
                listeners: Vec::new(),
                node_id: n,
                host: "127.0.0.1".into(),
                port: 9000 + n,
                rack: Some(rack.into()),
            });
        }
        let rack = |n: i32| (n + 1) / 2;
        let mut spec = spec("racked", 12);
        spec.replication_factor = 3;
        let recs = c.create_topic(&img, &spec, [3; 16]).expect("create");
        let mut leaders = BTreeMap::new();
        for r in &recs {
            if let MetadataRecord::Partition {
                replicas, leader, ..
            } = r
            {
                let mut rs: Vec<i32> = replicas.iter().map(|&n| rack(n)).collect();
                rs.sort_unstable();
                rs.dedup();
                assert_eq!(rs.len(), 3, "replicas {replicas:?} in three racks");
                *leaders.entry(*leader).or_insert(0) += 1;
            }
        }
        assert_eq!(leaders.len(), 6, "every broker leads: {leaders:?}");
        assert!(leaders.values().all(|&n| n == 2), "evenly: {leaders:?}");
    }

    #[test]
    fn uneven_racks_never_put_two_replicas_in_one_rack_while_another_is_free() {
        let c = Controller::default();
        let mut img = MetadataImage::default();
        // Rack a holds brokers 1 and 2; b and c one each.
        for (n, rack) in [(1, "a"), (2, "a"), (3, "b"), (4, "c")] {
            img.apply(&MetadataRecord::RegisterBroker {
                controller: None,
                listeners: Vec::new(),
                node_id: n,
                host: "127.0.0.1".into(),
                port: 9000 + n,
                rack: Some(rack.into()),
            });
        }
        let mut spec = spec("uneven", 8);
        spec.replication_factor = 2;
        let recs = c.create_topic(&img, &spec, [5; 16]).expect("create");
        let mut leaders = BTreeMap::new();
        for r in &recs {
            if let MetadataRecord::Partition {
                replicas, leader, ..
            } = r
            {
                assert_ne!(
                    {
                        let mut v = replicas.clone();
                        v.sort_unstable();
                        v
                    },
                    vec![1, 2],
                    "both in rack a"
                );
                *leaders.entry(*leader).or_insert(0) += 1;
            }
        }
        assert!(leaders.values().all(|&n| n == 2), "evenly: {leaders:?}");
    }

    #[test]
    fn creates_topic_with_default_and_explicit_partitions() {
        let c = Controller::default();
        let img = image_with_broker();
        let recs = c
            .create_topic(&img, &spec("a", -1), [1; 16])
            .expect("create");
        assert_eq!(recs.len(), 2);
        let recs = c
            .create_topic(&img, &spec("b", 3), [2; 16])
            .expect("create");
        assert_eq!(recs.len(), 4);
    }

    #[test]
    fn rejects_bad_requests_with_kafka_codes() {
        let c = Controller::default();
        let mut img = image_with_broker();
        for r in c
            .create_topic(&img, &spec("a.b", 1), [1; 16])
            .expect("create")
        {
            img.apply(&r);
        }
        let err = |s: &CreateTopicSpec| c.create_topic(&img, s, [9; 16]).unwrap_err().code();
        assert_eq!(err(&spec("a.b", 1)), 36);
        assert_eq!(err(&spec("a_b", 1)), 17);
        assert_eq!(err(&spec("bad/name", 1)), 17);
        assert_eq!(err(&spec("z", 0)), 37);
        assert_eq!(
            err(&CreateTopicSpec {
                replication_factor: 3,
                ..spec("z", 1)
            }),
            38
        );
        let mut s = spec("z", 1);
        s.configs.insert("max.message.bytes".into(), "x".into());
        assert_eq!(err(&s), 40);
        assert_eq!(c.delete_topic(&img, "nope").unwrap_err().code(), 3);
        assert_eq!(
            c.create_partitions(&img, "a.b", 1, None)
                .unwrap_err()
                .code(),
            37
        );
        assert_eq!(
            c.create_partitions(&img, "a.b", 3, None)
                .expect("grow")
                .len(),
            2
        );
    }
}
