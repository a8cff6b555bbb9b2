//! The tagging actions on state machines: `TagResource`, `UntagResource`
//! and `ListTagsForResource` (Terraform calls them after every create),
//! with AWS's limit of 50 tags per resource.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::Service;
use super::protocol::{ApiError, Body, Reply, check_arn};
use super::registry::Machine;

const MAX_TAGS: usize = 50;

pub(super) fn tag(service: &Service, body: &Body) -> Reply {
    let new = read_tags(body.list("tags")?)?;
    change(service, body, |tags| tags.extend(new))
}

pub(super) fn untag(service: &Service, body: &Body) -> Reply {
    let keys = body.list("tagKeys")?;
    let keys: Vec<&str> = keys
        .iter()
        .map(|k| k.as_str().ok_or_else(|| wrong_key(k)))
        .collect::<Result<_, _>>()?;
    change(service, body, |tags| {
        tags.retain(|k, _| !keys.contains(&k.as_str()))
    })
}

pub(super) fn list(service: &Service, body: &Body) -> Reply {
    let arn = body.required("resourceArn")?;
    check_arn(arn, "stateMachine")?;
    let registry = service.registry();
    let machine = registry
        .machines
        .get(arn)
        .ok_or_else(|| ApiError::resource_not_found(arn))?;
    let tags: Vec<Value> = machine
        .tags
        .iter()
        .map(|(key, value)| json!({"key": key, "value": value}))
        .collect();
    Ok(json!({"tags": tags}))
}

/// Applies `edit` to the tags of the machine `resourceArn` names.
fn change(
    service: &Service,
    body: &Body,
    edit: impl FnOnce(&mut BTreeMap<String, String>),
) -> Reply {
    let arn = body.required("resourceArn")?;
    check_arn(arn, "stateMachine")?;
    let mut registry = service.registry();
    let machine = registry
        .machines
        .get(arn)
        .ok_or_else(|| ApiError::resource_not_found(arn))?;
    let mut machine = Machine::clone(machine);
    edit(&mut machine.tags);
    if machine.tags.len() > MAX_TAGS {
        return Err(too_many(arn));
    }
    registry.machines.insert(arn.to_owned(), Arc::new(machine));
    Ok(json!({}))
}

/// A `tags` list, `[{"key", "value"}]`; a missing value is empty, as AWS
/// allows.
pub(super) fn read_tags(list: &[Value]) -> Result<BTreeMap<String, String>, ApiError> {
    let mut tags = BTreeMap::new();
    for tag in list {
        let key = tag
            .get("key")
            .and_then(Value::as_str)
            .filter(|k| !k.is_empty());
        let Some(key) = key else {
            return Err(ApiError::validation(
                &tag.to_string(),
                "tags.member.key",
                "Member must have length greater than or equal to 1",
            ));
        };
        let value = tag.get("value").and_then(Value::as_str).unwrap_or_default();
        tags.insert(key.to_owned(), value.to_owned());
    }
    if tags.len() > MAX_TAGS {
        return Err(too_many("the new state machine"));
    }
    Ok(tags)
}

fn too_many(resource: &str) -> ApiError {
    ApiError {
        extra: Some(("resourceName", resource.to_owned())),
        ..ApiError::new(
            "TooManyTags",
            format!("Too many tags: {resource} may hold at most {MAX_TAGS}"),
        )
    }
}

fn wrong_key(key: &Value) -> ApiError {
    ApiError::serialization(format!("the member 'tagKeys' must hold strings, not {key}"))
}
