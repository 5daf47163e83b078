//! SCRAM credentials (AlterUserScramCredentials) as the controller checks them, the way
//! Kafka's ScramControlManager does: a user named twice in one request, an empty name, an
//! unknown mechanism, an iteration count outside 4096..=16384, and deleting a credential
//! that does not exist are refused per user; everything else becomes records.

use std::collections::BTreeMap;

use crate::error::MetaError;
use crate::image::MetadataImage;
use crate::records::{MetadataRecord, StoredScram};

/// The fewest iterations accepted.
pub const MIN_ITERATIONS: i32 = 4096;
/// The most iterations accepted.
pub const MAX_ITERATIONS: i32 = 16384;

/// One change to a user's credentials.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ScramChange {
    /// Set the credential of `mechanism`.
    Upsert {
        /// Mechanism code (1 SCRAM-SHA-256, 2 SCRAM-SHA-512; others are refused).
        mechanism: i8,
        /// The salted and hashed credential.
        credential: StoredScram,
    },
    /// Delete the credential of `mechanism`.
    Delete {
        /// Mechanism code.
        mechanism: i8,
    },
}

fn known_mechanism(code: i8) -> bool {
    matches!(code, 1 | 2)
}

/// Each user's result, in the order users first appear.
pub type UserResults = Vec<(String, Result<(), MetaError>)>;

/// The records for `changes` (user, change) against `image`, and one result per user, in
/// the order users first appear.
pub fn alter_scram(
    image: &MetadataImage,
    changes: &[(String, ScramChange)],
) -> (Vec<MetadataRecord>, UserResults) {
    let mut by_user: BTreeMap<&str, Vec<&ScramChange>> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    for (user, change) in changes {
        let entry = by_user.entry(user).or_default();
        if entry.is_empty() {
            order.push(user);
        }
        entry.push(change);
    }
    let mut records = Vec::new();
    let mut results = Vec::new();
    for user in order {
        let user_changes = &by_user[user];
        let result = check(image, user, user_changes);
        if result.is_ok() {
            for change in user_changes {
                records.push(match change {
                    ScramChange::Upsert {
                        mechanism,
                        credential,
                    } => MetadataRecord::UserScramCredential {
                        name: user.to_string(),
                        mechanism: *mechanism,
                        credential: Some(credential.clone()),
                    },
                    ScramChange::Delete { mechanism } => MetadataRecord::UserScramCredential {
                        name: user.to_string(),
                        mechanism: *mechanism,
                        credential: None,
                    },
                });
            }
        }
        results.push((user.to_string(), result));
    }
    (records, results)
}

fn check(image: &MetadataImage, user: &str, changes: &[&ScramChange]) -> Result<(), MetaError> {
    if changes.len() > 1 {
        return Err(MetaError::DuplicateResource(
            "A user credential cannot be altered twice in the same request".into(),
        ));
    }
    if user.is_empty() {
        return Err(MetaError::UnacceptableCredential(
            "Username must not be empty".into(),
        ));
    }
    for change in changes {
        match change {
            ScramChange::Upsert {
                mechanism,
                credential,
            } => {
                if !known_mechanism(*mechanism) {
                    return Err(MetaError::UnsupportedSaslMechanism(
                        "Unknown SCRAM mechanism".into(),
                    ));
                }
                if credential.iterations < MIN_ITERATIONS {
                    return Err(MetaError::UnacceptableCredential(
                        "Too few iterations".into(),
                    ));
                }
                if credential.iterations > MAX_ITERATIONS {
                    return Err(MetaError::UnacceptableCredential(
                        "Too many iterations".into(),
                    ));
                }
            }
            ScramChange::Delete { mechanism } => {
                if !known_mechanism(*mechanism) {
                    return Err(MetaError::UnsupportedSaslMechanism(
                        "Unknown SCRAM mechanism".into(),
                    ));
                }
                let exists = image
                    .scram
                    .get(user)
                    .is_some_and(|m| m.contains_key(mechanism));
                if !exists {
                    return Err(MetaError::ResourceNotFound(
                        "Attempt to delete a user credential that does not exist".into(),
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cred(iterations: i32) -> StoredScram {
        StoredScram {
            salt: b"salt".to_vec(),
            stored_key: vec![1; 32],
            server_key: vec![2; 32],
            iterations,
        }
    }

    fn upsert(user: &str, mechanism: i8, iterations: i32) -> (String, ScramChange) {
        (
            user.into(),
            ScramChange::Upsert {
                mechanism,
                credential: cred(iterations),
            },
        )
    }

    fn delete(user: &str, mechanism: i8) -> (String, ScramChange) {
        (user.into(), ScramChange::Delete { mechanism })
    }

    #[test]
    fn credentials_are_set_replaced_and_deleted() {
        let mut image = MetadataImage::default();
        let (records, results) =
            alter_scram(&image, &[upsert("alice", 1, 4096), upsert("bob", 2, 8192)]);
        assert!(results.iter().all(|(_, r)| r.is_ok()));
        for r in &records {
            image.apply(r);
        }
        assert_eq!(image.scram["alice"][&1].iterations, 4096);
        assert_eq!(image.scram["bob"][&2].iterations, 8192);
        // A snapshot keeps them.
        let mut copy = MetadataImage::default();
        for r in image.to_records() {
            copy.apply(&r);
        }
        assert_eq!(copy.scram, image.scram);
        let (records, results) = alter_scram(&image, &[delete("alice", 1)]);
        assert_eq!(results, vec![("alice".to_string(), Ok(()))]);
        for r in &records {
            image.apply(r);
        }
        assert!(!image.scram.contains_key("alice"));
    }

    #[test]
    fn bad_changes_are_refused_per_user_as_kafka_does() {
        let image = MetadataImage::default();
        let (records, results) = alter_scram(
            &image,
            &[
                upsert("few", 1, 4095),
                upsert("many", 1, 16385),
                upsert("", 1, 4096),
                upsert("mech", 3, 4096),
                delete("ghost", 1),
                upsert("twice", 1, 4096),
                delete("twice", 2),
                upsert("fine", 2, 16384),
            ],
        );
        let codes: Vec<(String, i16)> = results
            .into_iter()
            .map(|(u, r)| (u, r.err().map_or(0, |e| e.code())))
            .collect();
        assert_eq!(
            codes,
            vec![
                ("few".to_string(), 93),
                ("many".to_string(), 93),
                (String::new(), 93),
                ("mech".to_string(), 33),
                ("ghost".to_string(), 91),
                ("twice".to_string(), 92),
                ("fine".to_string(), 0),
            ]
        );
        assert_eq!(records.len(), 1);
    }
}
