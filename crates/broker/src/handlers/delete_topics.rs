//! DeleteTopics: by name (v0-5) or by name or id (v6+); the topic's logs are removed.

use weir_protocol::error::ErrorCode;
use weir_protocol::messages::delete_topics_response::DeletableTopicResult;
use weir_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse};

use weir_auth::acl::{Operation, ResourceType};

use crate::handlers::context::RequestContext;
use crate::ids::{from_uuid, to_uuid};

pub(crate) async fn handle(ctx: RequestContext, req: DeleteTopicsRequest) -> DeleteTopicsResponse {
    let state = &ctx.state;
    let wanted: Vec<(Option<String>, [u8; 16])> = if ctx.version >= 6 {
        req.topics
            .iter()
            .map(|t| (t.name.clone(), from_uuid(&t.topic_id)))
            .collect()
    } else {
        req.topic_names
            .iter()
            .map(|n| (Some(n.clone()), [0u8; 16]))
            .collect()
    };
    let mut responses = Vec::with_capacity(wanted.len());
    for (name, id) in wanted {
        let image = state.image();
        let resolved = match &name {
            Some(n) => Some(n.clone()),
            None => image.topic_by_id(&id).map(|t| t.name.clone()),
        };
        let mut r = DeletableTopicResult {
            name: name.clone(),
            topic_id: to_uuid(&id),
            ..Default::default()
        };
        match resolved {
            None => r.error_code = ErrorCode::UnknownTopicId.code(),
            Some(n) if !ctx.allowed(Operation::Delete, ResourceType::Topic, &n) => {
                r.error_code = ErrorCode::TopicAuthorizationFailed.code();
            }
            Some(n) => match state.delete_topic(&n).await {
                Ok(deleted) => {
                    r.name = Some(n);
                    r.topic_id = to_uuid(&deleted);
                }
                Err(e) => {
                    r.error_code = e.code();
                    r.error_message = Some(e.to_string());
                }
            },
        }
        responses.push(r);
    }
    DeleteTopicsResponse {
        responses,
        ..Default::default()
    }
}
