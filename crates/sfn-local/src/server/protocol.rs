//! The AWS JSON 1.0 protocol as Step Functions speaks it: the action named
//! by `X-Amz-Target: AWSStepFunctions.<Action>`, a JSON object in and out,
//! errors as HTTP 400 with `{"__type", "message"}`, timestamps as epoch
//! seconds, and the checks every action shares (required members, names,
//! ARNs, page sizes and page tokens).
//!
//! Everything here is a plain function of the request, so each protocol
//! edge has a unit test without a socket.

use base64::Engine;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::Full;
use hyper::{Response, StatusCode};
use serde_json::{Map, Value, json};

const TARGET_PREFIX: &str = "AWSStepFunctions.";
const CONTENT_TYPE: &str = "application/x-amz-json-1.0";

/// An error in AWS's shape. `kind` becomes `__type`, which the SDKs turn
/// into their typed errors (`ExecutionDoesNotExist`, ...).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ApiError {
    pub kind: &'static str,
    pub message: String,
    /// A member some errors carry besides the message (`resourceName`).
    pub extra: Option<(&'static str, String)>,
}

impl ApiError {
    pub(super) fn new(kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            extra: None,
        }
    }

    /// A malformed body or a member of the wrong JSON type.
    pub(super) fn serialization(message: impl Into<String>) -> Self {
        Self::new("SerializationException", message)
    }

    /// A member that breaks a constraint, in AWS's wording.
    pub(super) fn validation(value: &str, member: &str, constraint: &str) -> Self {
        Self::new(
            "ValidationException",
            format!(
                "1 validation error detected: Value {value} at '{member}' failed to satisfy constraint: {constraint}"
            ),
        )
    }

    /// What this endpoint refuses on purpose, with the reason.
    pub(super) fn unsupported(message: impl Into<String>) -> Self {
        Self::new("ValidationException", message)
    }

    pub(super) fn invalid_arn(detail: &str) -> Self {
        Self::new("InvalidArn", format!("Invalid Arn: '{detail}'"))
    }

    pub(super) fn resource_not_found(arn: &str) -> Self {
        Self {
            extra: Some(("resourceName", arn.to_owned())),
            ..Self::new("ResourceNotFound", format!("Resource not found: '{arn}'"))
        }
    }

    fn body(&self) -> Value {
        let mut body = json!({"__type": self.kind, "message": self.message});
        if let Some((key, value)) = &self.extra {
            body[*key] = json!(value);
        }
        body
    }
}

/// What an action answers: the response object or an error.
pub(super) type Reply = Result<Value, ApiError>;

/// The request's members. A member sent as `null` counts as absent, as
/// the SDKs never send one.
#[derive(Debug, Default)]
pub(super) struct Body(Map<String, Value>);

impl Body {
    #[cfg(test)]
    pub(super) fn from_json(value: Value) -> Self {
        match value {
            Value::Object(map) => Self(map),
            _ => Self::default(),
        }
    }

    /// A member as given, for structures that are stored and echoed back.
    pub(super) fn value(&self, member: &str) -> Option<&Value> {
        self.0.get(member).filter(|v| !v.is_null())
    }

    pub(super) fn string(&self, member: &str) -> Result<Option<&str>, ApiError> {
        match self.value(member) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(wrong_type(member, "a string", other)),
        }
    }

    /// A string member the action cannot do without.
    pub(super) fn required(&self, member: &str) -> Result<&str, ApiError> {
        match self.string(member)? {
            None => Err(ApiError::validation(
                "null",
                member,
                "Member must not be null",
            )),
            Some("") => Err(ApiError::validation(
                "''",
                member,
                "Member must have length greater than or equal to 1",
            )),
            Some(s) => Ok(s),
        }
    }

    pub(super) fn boolean(&self, member: &str) -> Result<Option<bool>, ApiError> {
        match self.value(member) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(wrong_type(member, "a boolean", other)),
        }
    }

    pub(super) fn integer(&self, member: &str) -> Result<Option<i64>, ApiError> {
        match self.value(member) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| wrong_type(member, "an integer", v)),
        }
    }

    pub(super) fn list(&self, member: &str) -> Result<&[Value], ApiError> {
        match self.value(member) {
            None => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(other) => Err(wrong_type(member, "a list", other)),
        }
    }
}

fn wrong_type(member: &str, expected: &str, got: &Value) -> ApiError {
    ApiError::serialization(format!(
        "the member '{member}' must be {expected}, not {got}"
    ))
}

/// The action named by the `X-Amz-Target` header and the body as an
/// object. An empty body is `{}`, as AWS takes it.
pub(super) fn read_request(target: Option<&str>, body: &[u8]) -> Result<(String, Body), ApiError> {
    let action = match target.and_then(|t| t.strip_prefix(TARGET_PREFIX)) {
        Some(action) if !action.is_empty() => action.to_owned(),
        _ => {
            return Err(ApiError::new(
                "UnknownOperationException",
                format!(
                    "the X-Amz-Target header must name an action as {TARGET_PREFIX}<Action>, not {}",
                    target.unwrap_or("nothing")
                ),
            ));
        }
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok((action, Body::default()));
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok((action, Body(map))),
        Ok(other) => Err(ApiError::serialization(format!(
            "the request body must be a JSON object, not {other}"
        ))),
        Err(e) => Err(ApiError::serialization(format!(
            "the request body is not JSON: {e}"
        ))),
    }
}

/// The HTTP response for a reply: 200 with the object, or 400 with the
/// error, in the protocol's content type.
pub(super) fn response(reply: &Reply) -> Response<Full<Bytes>> {
    let (status, body) = match reply {
        Ok(value) => (StatusCode::OK, value.clone()),
        Err(error) => (StatusCode::BAD_REQUEST, error.body()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(CONTENT_TYPE),
    );
    if let Ok(id) = uuid::Uuid::new_v4().to_string().parse() {
        headers.insert("x-amzn-requestid", id);
    }
    response
}

/// A time as the JSON protocol writes it: epoch seconds, with milliseconds.
pub(super) fn epoch(t: DateTime<Utc>) -> Value {
    json!(t.timestamp_millis() as f64 / 1000.0)
}

/// Checks a state machine or execution name as AWS does: 1 to 80
/// characters, none of them white space, brackets, wildcards, the special
/// characters AWS lists or control characters.
pub(super) fn check_name(name: &str) -> Result<(), ApiError> {
    let forbidden = |c: char| {
        c.is_whitespace()
            || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(c)
            || matches!(c as u32, 0..=0x1f | 0x7f..=0x9f)
    };
    let length = name.chars().count();
    if (1..=80).contains(&length) && !name.contains(forbidden) {
        Ok(())
    } else {
        Err(ApiError::new(
            "InvalidName",
            format!("Invalid Name: '{name}'"),
        ))
    }
}

/// Checks that `arn` is a Step Functions ARN of `resource_type`
/// (`stateMachine`, `execution`); whether it exists is the caller's look-up.
pub(super) fn check_arn(arn: &str, resource_type: &str) -> Result<(), ApiError> {
    let parts: Vec<&str> = arn.split(':').collect();
    if parts.len() < 7 || parts[0] != "arn" || parts[2] != "states" {
        return Err(ApiError::invalid_arn(&format!("Invalid ARN prefix: {arn}")));
    }
    if parts[5] != resource_type {
        return Err(ApiError::invalid_arn(&format!(
            "Resource type not valid in this context: {}",
            parts[5]
        )));
    }
    Ok(())
}

/// `maxResults`: 0 or absent is `default`, more than `max` is refused.
pub(super) fn page_size(body: &Body, default: usize, max: usize) -> Result<usize, ApiError> {
    match body.integer("maxResults")? {
        None | Some(0) => Ok(default),
        Some(n) if n < 0 => Err(ApiError::validation(
            &format!("'{n}'"),
            "maxResults",
            "Member must have value greater than or equal to 0",
        )),
        Some(n) if n as usize > max => Err(ApiError::validation(
            &format!("'{n}'"),
            "maxResults",
            &format!("Member must have value less than or equal to {max}"),
        )),
        Some(n) => Ok(n as usize),
    }
}

/// One page of `items`, which are in the order they are listed, each
/// with a key that grows (or, when `descending`, shrinks) along the list.
/// The token names the key of the first item of the next page, so a page
/// stays right while a running execution adds events.
pub(super) fn page<T>(
    items: Vec<(u64, T)>,
    token: Option<&str>,
    size: usize,
    descending: bool,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let from = token.map(read_token).transpose()?;
    let mut rest = items
        .into_iter()
        .skip_while(|(key, _)| match from {
            Some(from) if descending => *key > from,
            Some(from) => *key < from,
            None => false,
        })
        .peekable();
    let page: Vec<T> = rest.by_ref().take(size).map(|(_, item)| item).collect();
    let next = rest.peek().map(|(key, _)| write_token(*key));
    Ok((page, next))
}

const TOKEN_PREFIX: &str = "sfn-local/";

fn write_token(key: u64) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{TOKEN_PREFIX}{key}"))
}

fn read_token(token: &str) -> Result<u64, ApiError> {
    base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix(TOKEN_PREFIX)?.parse().ok())
        .ok_or_else(|| ApiError::new("InvalidToken", format!("Invalid Token: '{token}'")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(result: Result<(String, Body), ApiError>) -> &'static str {
        result.map(|_| "ok").unwrap_or_else(|e| e.kind)
    }

    #[test]
    fn the_target_names_the_action() {
        let target = Some("AWSStepFunctions.ListStateMachines");
        let (action, body) = read_request(target, br#"{"maxResults": 2}"#).unwrap();
        assert_eq!(action, "ListStateMachines");
        assert_eq!(body.integer("maxResults"), Ok(Some(2)));
        let (_, empty) = read_request(target, b"").unwrap();
        assert_eq!(empty.string("nextToken"), Ok(None));
    }

    #[test]
    fn a_missing_or_foreign_target_is_an_unknown_operation() {
        for target in [
            None,
            Some("AWSStepFunctions."),
            Some("DynamoDB_20120810.Query"),
        ] {
            let error = read_request(target, b"{}").err().unwrap();
            assert_eq!(error.kind, "UnknownOperationException", "{target:?}");
            assert!(error.message.contains("X-Amz-Target"), "{}", error.message);
        }
    }

    #[test]
    fn a_body_that_is_not_a_json_object_is_a_serialization_error() {
        let target = Some("AWSStepFunctions.StartExecution");
        assert_eq!(
            kind(read_request(target, b"{not json")),
            "SerializationException"
        );
        assert_eq!(
            kind(read_request(target, b"[1, 2]")),
            "SerializationException"
        );
    }

    #[test]
    fn members_of_the_wrong_type_and_missing_ones_are_named() {
        let body = Body::from_json(json!({"name": 12, "input": "", "reverseOrder": "yes"}));
        let wrong = body.string("name").unwrap_err();
        assert_eq!(wrong.kind, "SerializationException");
        assert!(wrong.message.contains("'name'"), "{}", wrong.message);
        assert_eq!(
            body.boolean("reverseOrder").unwrap_err().kind,
            "SerializationException"
        );
        let missing = body.required("stateMachineArn").unwrap_err();
        assert_eq!(
            missing.message,
            "1 validation error detected: Value null at 'stateMachineArn' failed to satisfy constraint: Member must not be null"
        );
        assert_eq!(
            body.required("input").unwrap_err().kind,
            "ValidationException"
        );
    }

    #[test]
    fn errors_are_400_with_type_and_message() {
        let response = response(&Err(ApiError::resource_not_found("arn:x")));
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers()["content-type"], CONTENT_TYPE);
        let body = ApiError::resource_not_found("arn:x").body();
        assert_eq!(
            body,
            json!({"__type": "ResourceNotFound", "message": "Resource not found: 'arn:x'", "resourceName": "arn:x"})
        );
    }

    #[test]
    fn names_follow_aws_rules() {
        assert_eq!(check_name("run-1_A.b"), Ok(()));
        for bad in ["", "a b", "a:b", "a/b", "a{b", "a\u{7}b", &"x".repeat(81)] {
            assert_eq!(check_name(bad).unwrap_err().kind, "InvalidName", "{bad:?}");
        }
    }

    #[test]
    fn arns_must_be_of_the_expected_type() {
        let machine = "arn:aws:states:us-east-1:123456789012:stateMachine:m";
        assert_eq!(check_arn(machine, "stateMachine"), Ok(()));
        let wrong = check_arn(machine, "execution").unwrap_err();
        assert_eq!(
            wrong.message,
            "Invalid Arn: 'Resource type not valid in this context: stateMachine'"
        );
        assert_eq!(
            check_arn("m", "stateMachine").unwrap_err().kind,
            "InvalidArn"
        );
    }

    #[test]
    fn page_sizes_default_and_stop_at_the_maximum() {
        let size = |n: Value| page_size(&Body::from_json(json!({"maxResults": n})), 100, 1000);
        assert_eq!(size(json!(0)), Ok(100));
        assert_eq!(size(json!(2)), Ok(2));
        assert_eq!(size(json!(1001)).unwrap_err().kind, "ValidationException");
        assert_eq!(size(json!("2")).unwrap_err().kind, "SerializationException");
    }

    #[test]
    fn pages_follow_their_tokens_both_ways() {
        let items = |keys: &[u64]| keys.iter().map(|k| (*k, *k)).collect::<Vec<_>>();
        let (first, token) = page(items(&[1, 2, 3]), None, 2, false).unwrap();
        assert_eq!(first, [1, 2]);
        let (second, end) = page(items(&[1, 2, 3, 4]), token.as_deref(), 2, false).unwrap();
        assert_eq!((second, end), (vec![3, 4], None));
        let (down, token) = page(items(&[3, 2, 1]), None, 2, true).unwrap();
        assert_eq!(down, [3, 2]);
        let (last, _) = page(items(&[3, 2, 1]), token.as_deref(), 2, true).unwrap();
        assert_eq!(last, [1]);
        let bad = page(items(&[1]), Some("not-a-token"), 2, false);
        assert_eq!(bad.unwrap_err().kind, "InvalidToken");
    }
}
