//! Cluster-wide feature levels (Kafka's finalized features, KIP-584): which ones this
//! release knows, their defaults, and the checks of UpdateFeatures.

use crate::error::MetaError;
use crate::image::MetadataImage;
use crate::records::MetadataRecord;

/// `transaction.version`: 2 is KIP-890 part 2 (an epoch bump per transaction, partitions
/// added by Produce and TxnOffsetCommit themselves).
pub const TRANSACTION_VERSION: &str = "transaction.version";

/// A feature this release supports: its name, lowest and highest level, and the level of a
/// cluster that never set it.
pub struct FeatureDef {
    /// The feature's name.
    pub name: &'static str,
    /// The lowest level supported.
    pub min: i16,
    /// The highest level supported.
    pub max: i16,
    /// The level a cluster has until an UpdateFeatures sets one (Kafka 4's default for a
    /// new cluster).
    pub default: i16,
}

/// Every feature UpdateFeatures may set.
pub const FEATURES: &[FeatureDef] = &[FeatureDef {
    name: TRANSACTION_VERSION,
    min: 0,
    max: 2,
    default: 2,
}];

/// How UpdateFeatures may move a level (Kafka's `UpgradeType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum UpgradeType {
    /// Only up (1).
    Upgrade,
    /// Down too, where nothing is lost (2).
    SafeDowngrade,
    /// Down even where something may be lost (3).
    UnsafeDowngrade,
}

impl UpgradeType {
    /// The type a request's code names; `None` for an unknown code.
    pub fn from_code(code: i8) -> Option<Self> {
        match code {
            1 => Some(Self::Upgrade),
            2 => Some(Self::SafeDowngrade),
            3 => Some(Self::UnsafeDowngrade),
            _ => None,
        }
    }
}

/// The finalized level of `name`: what was set, else the feature's default (0 if unknown).
pub fn level(image: &MetadataImage, name: &str) -> i16 {
    image.features.get(name).copied().unwrap_or_else(|| {
        FEATURES
            .iter()
            .find(|f| f.name == name)
            .map_or(0, |f| f.default)
    })
}

/// Every known feature with its finalized level.
pub fn finalized(image: &MetadataImage) -> Vec<(&'static str, i16)> {
    FEATURES
        .iter()
        .map(|f| (f.name, level(image, f.name)))
        .collect()
}

/// The record that sets one feature, after Kafka's checks: a known feature, a level within
/// its range, and a downgrade only when asked for as one. `None`: already at that level.
pub fn update(
    image: &MetadataImage,
    name: &str,
    target: i16,
    how: UpgradeType,
) -> Result<Option<MetadataRecord>, MetaError> {
    let Some(def) = FEATURES.iter().find(|f| f.name == name) else {
        return Err(MetaError::InvalidUpdateVersion(format!(
            "Invalid update version {target} for feature {name}. The controller does not support the given feature."
        )));
    };
    // A level below 1 asks for the feature's removal, which is level 0.
    let target = target.max(0);
    if target < def.min || target > def.max {
        return Err(MetaError::InvalidUpdateVersion(format!(
            "Invalid update version {target} for feature {name}. The broker only supports versions {}-{}",
            def.min, def.max
        )));
    }
    let current = level(image, name);
    if target == current {
        return Ok(None);
    }
    if target < current && how == UpgradeType::Upgrade {
        return Err(MetaError::InvalidUpdateVersion(format!(
            "Invalid update version {target} for feature {name}. Can't downgrade the version of this feature without setting the upgrade type to either safe or unsafe downgrade."
        )));
    }
    if target > current && how != UpgradeType::Upgrade {
        return Err(MetaError::InvalidUpdateVersion(format!(
            "Invalid update version {target} for feature {name}. Can't downgrade to a newer version."
        )));
    }
    Ok(Some(MetadataRecord::FeatureLevel {
        name: def.name.to_string(),
        level: target,
        epoch: image.features_epoch + 1,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_version_moves_only_as_asked() {
        let mut image = MetadataImage::default();
        assert_eq!(level(&image, TRANSACTION_VERSION), 2);
        assert!(matches!(
            update(&image, TRANSACTION_VERSION, 1, UpgradeType::Upgrade),
            Err(MetaError::InvalidUpdateVersion(_))
        ));
        assert!(matches!(
            update(&image, TRANSACTION_VERSION, 3, UpgradeType::Upgrade),
            Err(MetaError::InvalidUpdateVersion(_))
        ));
        assert!(matches!(
            update(&image, "no.such.feature", 1, UpgradeType::Upgrade),
            Err(MetaError::InvalidUpdateVersion(_))
        ));
        assert_eq!(
            update(&image, TRANSACTION_VERSION, 2, UpgradeType::Upgrade),
            Ok(None)
        );
        let r = update(&image, TRANSACTION_VERSION, 1, UpgradeType::SafeDowngrade)
            .ok()
            .flatten();
        let Some(r) = r else {
            panic!("a safe downgrade is allowed");
        };
        image.apply(&r);
        assert_eq!(level(&image, TRANSACTION_VERSION), 1);
        assert_eq!(image.features_epoch, 1);
        // Snapshots keep the level and the epoch.
        let mut again = MetadataImage::default();
        for r in image.to_records() {
            again.apply(&r);
        }
        assert_eq!(level(&again, TRANSACTION_VERSION), 1);
        assert_eq!(again.features_epoch, 1);
        assert!(matches!(
            update(&image, TRANSACTION_VERSION, 2, UpgradeType::SafeDowngrade),
            Err(MetaError::InvalidUpdateVersion(_))
        ));
    }
}
