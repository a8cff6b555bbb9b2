//! The state machine actions: `CreateStateMachine` (idempotent by name,
//! definition, role and type), `DescribeStateMachine`,
//! `ListStateMachines`, `UpdateStateMachine`, `DeleteStateMachine`,
//! `ValidateStateMachineDefinition` and `ListStateMachineVersions`.
//!
//! A definition is checked by the crate's validator, the one `sfn run`
//! uses, so the endpoint refuses exactly what the executor could not run.
//! Refused on purpose: `EXPRESS` machines (the executor runs the standard
//! workflow semantics only) and `publish: true` (no versions are kept).

use std::sync::Arc;

use chrono::Utc;
use serde_json::{Value, json};

use super::Service;
use super::protocol::{ApiError, Body, Reply, check_name, epoch, page, page_size};
use super::registry::Machine;
use super::tags::read_tags;
use crate::asl;
use crate::executor::machine_arn;

pub(super) fn create(service: &Service, body: &Body) -> Reply {
    let name = body.required("name")?;
    check_name(name)?;
    let definition = body.required("definition")?;
    let role_arn = body.required("roleArn")?;
    check_role(role_arn)?;
    check_type(body)?;
    check_no_publish(body)?;
    let tags = read_tags(body.list("tags")?)?;
    let arn = machine_arn(&service.config, name);
    let mut registry = service.registry();
    if let Some(existing) = registry.machines.get(&arn) {
        // AWS's idempotency: the same request again gets the machine back.
        if existing.definition == definition && existing.role_arn == role_arn {
            return Ok(json!({"stateMachineArn": arn, "creationDate": epoch(existing.created)}));
        }
        return Err(ApiError::new(
            "StateMachineAlreadyExists",
            format!("State Machine Already Exists: '{arn}'"),
        ));
    }
    let mut parsed = parse(name, definition)?;
    parsed.role_arn = Some(role_arn.to_owned());
    let now = Utc::now();
    let machine = Machine {
        seq: registry.seq(),
        arn: arn.clone(),
        name: name.to_owned(),
        definition: definition.to_owned(),
        role_arn: role_arn.to_owned(),
        created: now,
        updated: now,
        revision_id: uuid::Uuid::new_v4().to_string(),
        logging: configuration(body, "loggingConfiguration"),
        tracing: configuration(body, "tracingConfiguration"),
        encryption: configuration(body, "encryptionConfiguration"),
        parsed,
        tags,
    };
    registry.machines.insert(arn.clone(), Arc::new(machine));
    Ok(json!({"stateMachineArn": arn, "creationDate": epoch(now)}))
}

pub(super) fn describe(service: &Service, body: &Body) -> Reply {
    let registry = service.registry();
    let machine = registry.machine(body.required("stateMachineArn")?)?;
    Ok(json!({
        "stateMachineArn": machine.arn,
        "name": machine.name,
        "status": "ACTIVE",
        "definition": machine.definition,
        "roleArn": machine.role_arn,
        "type": "STANDARD",
        "creationDate": epoch(machine.created),
        "loggingConfiguration": machine.logging,
        "tracingConfiguration": machine.tracing,
        "encryptionConfiguration": machine.encryption,
        "revisionId": machine.revision_id,
    }))
}

pub(super) fn list(service: &Service, body: &Body) -> Reply {
    let size = page_size(body, 100, 1000)?;
    let registry = service.registry();
    let mut machines: Vec<&Arc<Machine>> = registry.machines.values().collect();
    machines.sort_by_key(|m| m.seq);
    let items = machines
        .into_iter()
        .map(|m| {
            let item = json!({"stateMachineArn": m.arn, "name": m.name, "type": "STANDARD", "creationDate": epoch(m.created)});
            (m.seq, item)
        })
        .collect();
    let (page, next) = page(items, body.string("nextToken")?, size, false)?;
    Ok(with_token(json!({"stateMachines": page}), next))
}

/// `UpdateStateMachine`: a new definition, role or configuration for
/// executions started from now on; running ones keep what they started with.
pub(super) fn update(service: &Service, body: &Body) -> Reply {
    let arn = body.required("stateMachineArn")?;
    let definition = body.string("definition")?;
    let role_arn = body.string("roleArn")?;
    let configurations = [
        "loggingConfiguration",
        "tracingConfiguration",
        "encryptionConfiguration",
    ];
    if definition.is_none()
        && role_arn.is_none()
        && configurations.iter().all(|c| body.value(c).is_none())
    {
        return Err(ApiError::new(
            "MissingRequiredParameter",
            "Either the definition, the role ARN, the LoggingConfiguration, the EncryptionConfiguration or the TracingConfiguration must be specified",
        ));
    }
    role_arn.map(check_role).transpose()?;
    check_no_publish(body)?;
    let mut registry = service.registry();
    let mut machine = Machine::clone(registry.machine(arn)?);
    if let Some(definition) = definition {
        machine.parsed = parse(&machine.name, definition)?;
        machine.definition = definition.to_owned();
    }
    if let Some(role_arn) = role_arn {
        machine.role_arn = role_arn.to_owned();
    }
    machine.parsed.role_arn = Some(machine.role_arn.clone());
    let fields = [
        &mut machine.logging,
        &mut machine.tracing,
        &mut machine.encryption,
    ];
    for (field, name) in fields.into_iter().zip(configurations) {
        if let Some(value) = body.value(name) {
            *field = value.clone();
        }
    }
    machine.updated = Utc::now();
    machine.revision_id = uuid::Uuid::new_v4().to_string();
    let reply = json!({"updateDate": epoch(machine.updated), "revisionId": machine.revision_id});
    registry.machines.insert(arn.to_owned(), Arc::new(machine));
    Ok(reply)
}

/// `DeleteStateMachine`: the machine goes at once (AWS lets it linger as
/// `DELETING` while executions run); its executions stay describable.
/// Deleting a machine that does not exist succeeds, as in AWS.
pub(super) fn delete(service: &Service, body: &Body) -> Reply {
    let arn = body.required("stateMachineArn")?;
    super::protocol::check_arn(arn, "stateMachine")?;
    service.registry().machines.remove(arn);
    Ok(json!({}))
}

/// `ValidateStateMachineDefinition`: the validator's problems as ERROR
/// diagnostics; it finds no warnings, so `severity` changes nothing.
pub(super) fn validate(body: &Body) -> Reply {
    let definition = body.required("definition")?;
    check_type(body)?;
    match body.string("severity")? {
        None | Some("ERROR" | "WARNING") => {}
        Some(other) => {
            return Err(ApiError::validation(
                &format!("'{other}'"),
                "severity",
                "Member must satisfy enum value set: [ERROR, WARNING]",
            ));
        }
    }
    let max = page_size(body, 100, 100)?;
    let diagnostics: Vec<Value> = match asl::check("Validation", definition) {
        Ok(_) => Vec::new(),
        Err(problems) => problems.iter().map(|p| diagnostic(p)).collect(),
    };
    let result = if diagnostics.is_empty() { "OK" } else { "FAIL" };
    let truncated = diagnostics.len() > max;
    let diagnostics: Vec<Value> = diagnostics.into_iter().take(max).collect();
    Ok(json!({"result": result, "diagnostics": diagnostics, "truncated": truncated}))
}

/// `ListStateMachineVersions`: no versions are ever published here.
pub(super) fn list_versions(service: &Service, body: &Body) -> Reply {
    service
        .registry()
        .machine(body.required("stateMachineArn")?)?;
    page_size(body, 100, 1000)?;
    Ok(json!({"stateMachineVersions": []}))
}

/// A definition validated as `CreateStateMachine` does, or AWS's
/// `InvalidDefinition` with the validator's message.
fn parse(name: &str, definition: &str) -> Result<asl::StateMachine, ApiError> {
    asl::parse(name, definition).map_err(|message| ApiError::new("InvalidDefinition", message))
}

/// One validator problem, `CODE: message at /pointer`, as a diagnostic.
fn diagnostic(problem: &str) -> Value {
    let (code, rest) = problem
        .split_once(": ")
        .unwrap_or(("SCHEMA_VALIDATION_FAILED", problem));
    let mut diagnostic = json!({"severity": "ERROR", "code": code, "message": rest});
    if let Some((message, pointer)) = rest.rsplit_once(" at /") {
        diagnostic["message"] = json!(message);
        diagnostic["location"] = json!(format!("/{pointer}"));
    }
    diagnostic
}

/// A logging, tracing or encryption configuration as given, or the one
/// AWS reports for a machine created without it.
fn configuration(body: &Body, member: &str) -> Value {
    body.value(member).cloned().unwrap_or_else(|| match member {
        "loggingConfiguration" => json!({"level": "OFF", "includeExecutionData": false}),
        "tracingConfiguration" => json!({"enabled": false}),
        _ => json!({"type": "AWS_OWNED_KEY"}),
    })
}

fn check_role(role_arn: &str) -> Result<(), ApiError> {
    let parts: Vec<&str> = role_arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _, "iam", "", _, resource] if resource.starts_with("role/") => Ok(()),
        _ => Err(ApiError::invalid_arn(&format!(
            "Invalid role ARN: {role_arn}"
        ))),
    }
}

fn check_type(body: &Body) -> Result<(), ApiError> {
    match body.string("type")? {
        None | Some("STANDARD") => Ok(()),
        Some("EXPRESS") => Err(ApiError::new(
            "StateMachineTypeNotSupported",
            "sfn-local runs STANDARD state machines only, not EXPRESS",
        )),
        Some(other) => Err(ApiError::validation(
            &format!("'{other}'"),
            "type",
            "Member must satisfy enum value set: [STANDARD, EXPRESS]",
        )),
    }
}

fn check_no_publish(body: &Body) -> Result<(), ApiError> {
    if body.boolean("publish")? == Some(true) {
        return Err(ApiError::unsupported(
            "sfn-local does not publish state machine versions: send publish=false",
        ));
    }
    Ok(())
}

/// A list reply with its `nextToken`, when there is a next page.
pub(super) fn with_token(mut reply: Value, next: Option<String>) -> Value {
    if let Some(token) = next {
        reply["nextToken"] = json!(token);
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_become_diagnostics_with_their_location() {
        assert_eq!(
            diagnostic("MISSING_TRANSITION_TARGET: Missing 'Next' target: B at /States/A/Next"),
            json!({"severity": "ERROR", "code": "MISSING_TRANSITION_TARGET", "message": "Missing 'Next' target: B", "location": "/States/A/Next"})
        );
        assert_eq!(
            diagnostic("INVALID_JSON_DESCRIPTION: expected value at line 1 column 1"),
            json!({"severity": "ERROR", "code": "INVALID_JSON_DESCRIPTION", "message": "expected value at line 1 column 1"})
        );
    }

    #[test]
    fn validation_answers_ok_or_fail() {
        let ok = validate(&Body::from_json(json!({
            "definition": r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}"#
        })))
        .unwrap();
        assert_eq!(
            ok,
            json!({"result": "OK", "diagnostics": [], "truncated": false})
        );
        let fail = validate(&Body::from_json(
            json!({"definition": "{}", "maxResults": 1}),
        ))
        .unwrap();
        assert_eq!(fail["result"], "FAIL");
        assert_eq!(fail["diagnostics"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn role_arns_must_name_an_iam_role() {
        assert_eq!(check_role("arn:aws:iam::123456789012:role/moat"), Ok(()));
        assert_eq!(check_role("moat").unwrap_err().kind, "InvalidArn");
        assert_eq!(
            check_role("arn:aws:iam::123456789012:user/moat")
                .unwrap_err()
                .kind,
            "InvalidArn"
        );
    }
}
