//! The web console: three embedded files (`index.html`, `console.js`, `console.css`, so it
//! works offline with no other server) and the read-only JSON API they call, under `/api/`.
//! The page builds its DOM from text nodes only, so nothing a record or a name holds can
//! run as markup. Every answer is bounded: the record browser returns at most
//! [`records::MAX_RECORDS`] records of at most [`records::MAX_SHOWN`] bytes each.
//!
//! - `api`: cluster, topics and groups as JSON.
//! - `records`: the record browser.

mod api;
mod records;

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use crate::state::BrokerState;

/// The page.
pub(crate) const INDEX_HTML: &str = include_str!("index.html");
/// Its script.
pub(crate) const CONSOLE_JS: &str = include_str!("console.js");
/// Its style.
pub(crate) const CONSOLE_CSS: &str = include_str!("console.css");

/// An API answer: a status code and a JSON body.
pub(crate) type Answer = (u16, Value);

/// A JSON error answer.
pub(crate) fn error(status: u16, message: &str) -> Answer {
    (status, serde_json::json!({ "error": message }))
}

/// Answers `GET /api/<rest>?<query>`.
pub(crate) async fn api(state: &Arc<BrokerState>, rest: &str, query: Option<&str>) -> Answer {
    let segments: Vec<String> = rest
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let params: HashMap<String, String> = query
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    match segments.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["overview"] => api::overview(state),
        ["topics"] => api::topics(state),
        ["topics", name] => api::topic(state, name),
        ["topics", name, "records"] => records::browse(state, name, &params).await,
        ["groups"] => api::groups(state),
        ["groups", id] => api::group(state, id),
        _ => error(404, "no such API"),
    }
}
