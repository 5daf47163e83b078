//! UpdateFeatures (KIP-584): finalizes cluster-wide feature levels through the controller,
//! as `kafka-features.sh upgrade|downgrade` asks; only `transaction.version` is settable.
//! Version 2 answers with one top-level error, older versions per feature.

use tracing::{info, warn};
use weir_auth::acl::Operation;
use weir_meta::features::UpgradeType;
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::update_features_response::UpdatableFeatureResult;
use weir_protocol::messages::{UpdateFeaturesRequest, UpdateFeaturesResponse};

use crate::handlers::context::RequestContext;

pub(crate) async fn handle(
    ctx: RequestContext,
    req: UpdateFeaturesRequest,
) -> UpdateFeaturesResponse {
    let names: Vec<String> = req
        .feature_updates
        .iter()
        .map(|u| u.feature.clone())
        .collect();
    let refuse = |code: ErrorCode, message: String| {
        let results = names
            .iter()
            .map(|name| UpdatableFeatureResult {
                feature: name.clone(),
                error_code: code.code(),
                error_message: Some(message.clone()),
                ..Default::default()
            })
            .collect();
        UpdateFeaturesResponse {
            error_code: code.code(),
            error_message: Some(message),
            results,
            ..Default::default()
        }
    };
    if !ctx.allowed_cluster(Operation::Alter) {
        return refuse(
            ErrorCode::ClusterAuthorizationFailed,
            ErrorCode::ClusterAuthorizationFailed.message().to_string(),
        );
    }
    if req.feature_updates.is_empty() {
        return refuse(
            ErrorCode::InvalidRequest,
            "No feature updates were given".into(),
        );
    }
    let mut updates = Vec::with_capacity(req.feature_updates.len());
    for u in &req.feature_updates {
        // Version 0 says downgrade with a flag; later versions with an upgrade type.
        let how = if ctx.version == 0 {
            Some(if u.allow_downgrade {
                UpgradeType::SafeDowngrade
            } else {
                UpgradeType::Upgrade
            })
        } else {
            UpgradeType::from_code(u.upgrade_type)
        };
        let Some(how) = how else {
            warn!(peer = %ctx.peer, feature = %u.feature, upgrade_type = u.upgrade_type, "UpdateFeatures: unknown upgrade type");
            return refuse(
                ErrorCode::InvalidRequest,
                format!("Unknown upgrade type {}", u.upgrade_type),
            );
        };
        if updates.iter().any(|(n, _, _)| n == &u.feature) {
            return refuse(
                ErrorCode::InvalidRequest,
                format!("Feature {} was given more than once", u.feature),
            );
        }
        updates.push((u.feature.clone(), u.max_version_level, how));
    }
    let asked: Vec<(String, i16)> = updates.iter().map(|(n, l, _)| (n.clone(), *l)).collect();
    let results = ctx.state.update_features(updates, req.validate_only).await;
    if let Some(e) = results.iter().find_map(|r| r.as_ref().err()) {
        info!(peer = %ctx.peer, error = %e, "UpdateFeatures refused");
        if ctx.version >= 2 {
            return refuse(ErrorCode::from_code(e.code()), e.to_string());
        }
    } else if !req.validate_only {
        info!(peer = %ctx.peer, features = ?asked, "finalized feature levels changed");
    }
    UpdateFeaturesResponse {
        results: names
            .into_iter()
            .zip(results)
            .map(|(feature, r)| UpdatableFeatureResult {
                feature,
                error_code: r.as_ref().err().map_or(0, weir_meta::MetaError::code),
                error_message: r.err().map(|e| e.to_string()),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}
