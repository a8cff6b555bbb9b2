//! Payload templates: the JSON of `Parameters`, `ResultSelector` and
//! `ItemSelector`, in which a key ending in `.$` takes its value from a path
//! (`$...`), the context object (`$$...`) or an intrinsic function.
//!
//! Templates are compiled once when the definition is read, so that a bad
//! path or intrinsic is a definition error and running a state does no
//! parsing.

use serde_json::{Map, Value};

use crate::intrinsics::{self, Call, IntrinsicError};
use crate::path::Path;

/// A compiled payload template.
#[derive(Debug, Clone)]
pub(crate) enum Template {
    /// A JSON object whose fields may be dynamic.
    Object(Vec<(String, Field)>),
    /// A JSON array whose object elements may hold dynamic fields.
    Array(Vec<Template>),
    /// Anything else, copied as it is.
    Literal(Value),
}

/// One field of an object template.
#[derive(Debug, Clone)]
pub(crate) enum Field {
    /// A field whose value is itself a template.
    Static(Template),
    /// A `.$` field filled from a path; the original key is kept for errors.
    Path { key: String, path: Path },
    /// A `.$` field filled by an intrinsic function.
    Intrinsic { key: String, call: Call },
}

/// Why a template could not be filled.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TemplateError {
    /// A path matched nothing: AWS fails the state with `States.Runtime`.
    PathNotFound { key: String, path: String },
    /// An intrinsic function failed: `States.IntrinsicFailure`.
    Intrinsic { key: String, message: String },
}

impl Template {
    /// Compiles a template, checking every `.$` value.
    pub(crate) fn compile(value: &Value) -> Result<Self, String> {
        match value {
            Value::Object(object) => {
                let mut fields = Vec::with_capacity(object.len());
                for (key, v) in object {
                    if let Some(name) = key.strip_suffix(".$") {
                        let Value::String(text) = v else {
                            return Err(format!(
                                "the value of the field '{key}' must be a path or an intrinsic function"
                            ));
                        };
                        // AWS's words for a `.$` value it cannot read, with
                        // the reason (such as an unknown function) after them.
                        let invalid = |reason: String| {
                            format!(
                                "The value for the field '{key}' must be a valid JSONPath or a valid intrinsic function call ({reason})"
                            )
                        };
                        let field = if intrinsics::is_intrinsic(text) {
                            Field::Intrinsic {
                                key: key.clone(),
                                call: Call::parse(text).map_err(invalid)?,
                            }
                        } else {
                            Field::Path {
                                key: key.clone(),
                                path: Path::parse(text).map_err(invalid)?,
                            }
                        };
                        fields.push((name.to_owned(), field));
                    } else {
                        fields.push((key.clone(), Field::Static(Self::compile(v)?)));
                    }
                }
                Ok(Self::Object(fields))
            }
            Value::Array(items) => Ok(Self::Array(
                items.iter().map(Self::compile).collect::<Result<_, _>>()?,
            )),
            other => Ok(Self::Literal(other.clone())),
        }
    }

    /// Fills the template from the state's data and the context object.
    pub(crate) fn evaluate(&self, data: &Value, context: &Value) -> Result<Value, TemplateError> {
        match self {
            Self::Literal(v) => Ok(v.clone()),
            Self::Array(items) => Ok(Value::Array(
                items
                    .iter()
                    .map(|t| t.evaluate(data, context))
                    .collect::<Result<_, _>>()?,
            )),
            Self::Object(fields) => {
                let mut out = Map::new();
                for (name, field) in fields {
                    let value = match field {
                        Field::Static(t) => t.evaluate(data, context)?,
                        Field::Path { key, path } => {
                            path.select(data, context).ok_or_else(|| {
                                TemplateError::PathNotFound {
                                    key: key.clone(),
                                    path: path.text().to_owned(),
                                }
                            })?
                        }
                        Field::Intrinsic { key, call } => {
                            call.evaluate(data, context).map_err(|e| match e {
                                IntrinsicError::PathNotFound(path) => TemplateError::PathNotFound {
                                    key: key.clone(),
                                    path,
                                },
                                IntrinsicError::Invalid(message) => TemplateError::Intrinsic {
                                    key: key.clone(),
                                    message,
                                },
                            })?
                        }
                    };
                    out.insert(name.clone(), value);
                }
                Ok(Value::Object(out))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dynamic_fields_lose_their_suffix_and_nest() {
        let template = Template::compile(&json!({
            "flagged": true,
            "parts": {"first.$": "$.vals[0]", "last.$": "$.vals[-1]"},
            "list": [{"id.$": "$$.Execution.Name"}, 3],
            "size.$": "States.ArrayLength($.vals)"
        }))
        .unwrap();
        let out = template
            .evaluate(
                &json!({"vals": [1, 2, 3]}),
                &json!({"Execution": {"Name": "run"}}),
            )
            .unwrap();
        assert_eq!(
            out,
            json!({"flagged": true, "parts": {"first": 1, "last": 3}, "list": [{"id": "run"}, 3], "size": 3})
        );
    }

    #[test]
    fn missing_paths_name_the_field() {
        let template = Template::compile(&json!({"address.$": "$.application.address"})).unwrap();
        assert_eq!(
            template.evaluate(&json!({"flagged": false}), &json!({})),
            Err(TemplateError::PathNotFound {
                key: "address.$".to_owned(),
                path: "$.application.address".to_owned()
            })
        );
    }

    #[test]
    fn a_dynamic_field_must_hold_a_string() {
        assert!(Template::compile(&json!({"a.$": 1})).is_err());
        assert!(Template::compile(&json!({"a.$": "not a path"})).is_err());
    }
}
