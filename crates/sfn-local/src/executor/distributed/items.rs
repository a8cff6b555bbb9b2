//! A Distributed Map's items: read from S3 by its ItemReader (a JSON
//! array, JSON Lines, delimited text with a header, or the object listing
//! of a prefix), cut to `MaxItems`, and grouped into the batches its
//! ItemBatcher asks for, each becoming one child execution's input.
//!
//! The parsers and the batching are plain functions of bytes and values,
//! so that AWS's formats are tested without S3.

use serde_json::{Map, Value, json};

use crate::asl::{InputType, ItemReader, ItemSource};
use crate::executor::Run;
use crate::executor::context::StateContext;
use crate::failure::Failure;

/// The error of an ItemReader that could not read its items.
const READER_FAILED: &str = "States.ItemReaderFailed";

fn reader_failure(cause: String) -> Failure {
    Failure::new(READER_FAILED, Some(cause))
}

/// A text parameter of the ItemReader's `Parameters`.
fn text(parameters: &Value, field: &str) -> Option<String> {
    parameters.get(field).map(crate::unquoted)
}

impl Run {
    /// Reads the items the ItemReader names, through the region's local
    /// endpoint (a region without one fails, as every integration does).
    pub(super) async fn read_items(
        &self,
        reader: &ItemReader,
        effective: &Value,
        sc: &StateContext<'_>,
    ) -> Result<Vec<Value>, Failure> {
        let parameters = sc.fill(&reader.parameters, effective)?;
        let region = &self.inner.config.region;
        let integrations = &self.inner.integrations;
        let bucket = text(&parameters, "Bucket")
            .ok_or_else(|| reader_failure("The ItemReader's Parameters have no Bucket".into()))?;
        let not_read = |failure: Failure| match failure.error.as_str() {
            "States.Runtime" => failure,
            error => reader_failure(format!("{error}: {}", failure.cause.unwrap_or_default())),
        };
        match &reader.source {
            ItemSource::ListObjects => integrations
                .s3_list_objects(region, &bucket, text(&parameters, "Prefix"))
                .await
                .map_err(not_read),
            ItemSource::Object(format) => {
                let key = text(&parameters, "Key").ok_or_else(|| {
                    reader_failure("The ItemReader's Parameters have no Key".into())
                })?;
                let version = text(&parameters, "VersionId");
                let bytes = integrations
                    .s3_get_object(region, &bucket, &key, version)
                    .await
                    .map_err(not_read)?;
                parse(format, &bytes)
                    .map_err(|e| reader_failure(format!("s3://{bucket}/{key}: {e}")))
            }
        }
    }
}

/// The items of an object in `format`.
pub(super) fn parse(format: &InputType, bytes: &[u8]) -> Result<Vec<Value>, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("the object is not UTF-8: {e}"))?;
    match format {
        InputType::Json => match serde_json::from_str(text) {
            Ok(Value::Array(items)) => Ok(items),
            Ok(_) => Err("a JSON ItemReader needs the object to hold a JSON array".into()),
            Err(e) => Err(format!("the object is not JSON: {e}")),
        },
        InputType::Jsonl => json_lines(text),
        InputType::Csv { headers, delimiter } => csv_items(text, headers.as_deref(), *delimiter),
    }
}

/// JSON Lines: one value per line; blank lines (a final newline) hold none.
fn json_lines(text: &str) -> Result<Vec<Value>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| format!("line {} is not JSON: {e}", i + 1))
        })
        .collect()
}

/// Delimited rows as objects from the header's names to the fields, as
/// strings: the header is `given`, or the first row.
fn csv_items(text: &str, given: Option<&[String]>, delimiter: char) -> Result<Vec<Value>, String> {
    let mut rows = csv_rows(text, delimiter)?.into_iter();
    let headers: Vec<String> = match given {
        Some(headers) => headers.to_vec(),
        None => rows.next().ok_or("the CSV object has no header row")?,
    };
    rows.enumerate()
        .map(|(i, row)| {
            if row.len() != headers.len() {
                return Err(format!(
                    "row {} has {} fields but the header names {}",
                    i + 1,
                    row.len(),
                    headers.len()
                ));
            }
            let object: Map<String, Value> = headers
                .iter()
                .cloned()
                .zip(row.into_iter().map(Value::String))
                .collect();
            Ok(Value::Object(object))
        })
        .collect()
}

/// Splits delimited text into rows of fields (RFC 4180: a field in double
/// quotes may hold the delimiter, line breaks and `""` for a quote).
/// Empty lines hold no row.
fn csv_rows(text: &str, delimiter: char) -> Result<Vec<Vec<String>>, String> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            '"' if quoted => quoted = false,
            '"' if field.is_empty() => quoted = true,
            c if quoted => field.push(c),
            c if c == delimiter => row.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => end_row(&mut rows, &mut row, &mut field),
            c => field.push(c),
        }
    }
    if quoted {
        return Err("the CSV object ends inside a quoted field".into());
    }
    end_row(&mut rows, &mut row, &mut field);
    Ok(rows)
}

/// Ends a row at a line break; an empty line is no row.
fn end_row(rows: &mut Vec<Vec<String>>, row: &mut Vec<String>, field: &mut String) {
    if row.is_empty() && field.is_empty() {
        return;
    }
    row.push(std::mem::take(field));
    rows.push(std::mem::take(row));
}

/// One child execution's input and how many items it holds.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ChildInput {
    pub input: Value,
    pub items: usize,
}

/// The limits of an ItemBatcher, resolved: at most `max_items` items and
/// `max_bytes` bytes of input per batch (0: no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BatchLimits {
    pub max_items: u64,
    pub max_bytes: u64,
}

/// Each item as its own child input, without an ItemBatcher.
pub(super) fn one_per_child(items: Vec<Value>) -> Vec<ChildInput> {
    items
        .into_iter()
        .map(|input| ChildInput { input, items: 1 })
        .collect()
}

/// Groups items into batches `{"BatchInput": ..., "Items": [...]}` in
/// order, each as full as both limits allow. A batch's size is that of its
/// whole input as JSON; an item too big for any batch goes alone.
pub(super) fn batches(
    items: Vec<Value>,
    limits: BatchLimits,
    batch_input: Option<&Value>,
) -> Vec<ChildInput> {
    // `{"BatchInput":<input>,"Items":[` and `]}` around the items, which
    // are separated by commas.
    let frame = match batch_input {
        Some(input) => r#"{"BatchInput":,"Items":[]}"#.len() + input.to_string().len(),
        None => r#"{"Items":[]}"#.len(),
    };
    let mut out = Vec::new();
    let mut current: Vec<Value> = Vec::new();
    let mut bytes = frame;
    for item in items {
        let size = item.to_string().len() + usize::from(!current.is_empty());
        let full_by_count = limits.max_items > 0 && current.len() as u64 >= limits.max_items;
        let full_by_bytes = limits.max_bytes > 0 && (bytes + size) as u64 > limits.max_bytes;
        if !current.is_empty() && (full_by_count || full_by_bytes) {
            out.push(batch(std::mem::take(&mut current), batch_input));
            bytes = frame;
        }
        bytes += item.to_string().len() + usize::from(!current.is_empty());
        current.push(item);
    }
    if !current.is_empty() {
        out.push(batch(current, batch_input));
    }
    out
}

fn batch(items: Vec<Value>, batch_input: Option<&Value>) -> ChildInput {
    let count = items.len();
    let mut input = json!({"Items": items});
    if let Some(batch_input) = batch_input {
        input["BatchInput"] = batch_input.clone();
    }
    ChildInput {
        input,
        items: count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_json_lines_give_their_values() {
        assert_eq!(
            parse(&InputType::Json, br#"[{"a":1},2]"#),
            Ok(vec![json!({"a": 1}), json!(2)])
        );
        assert!(parse(&InputType::Json, br#"{"a":1}"#).is_err());
        assert_eq!(
            parse(
                &InputType::Jsonl,
                b"{\"id\":\"sg-1\"}\n\n{\"id\":\"sg-2\"}\n"
            ),
            Ok(vec![json!({"id": "sg-1"}), json!({"id": "sg-2"})])
        );
        let error = parse(&InputType::Jsonl, b"{\"id\":1}\nnope\n").unwrap_err();
        assert!(error.starts_with("line 2 is not JSON"), "{error}");
    }

    #[test]
    fn csv_rows_become_objects_of_strings_named_by_the_header() {
        let first_row = InputType::Csv {
            headers: None,
            delimiter: ',',
        };
        let text = "id,name\r\nsg-1,\"web, public\"\nsg-2,\"say \"\"hi\"\"\"\n";
        assert_eq!(
            parse(&first_row, text.as_bytes()),
            Ok(vec![
                json!({"id": "sg-1", "name": "web, public"}),
                json!({"id": "sg-2", "name": "say \"hi\""}),
            ])
        );
        let given = InputType::Csv {
            headers: Some(vec!["id".into(), "port".into()]),
            delimiter: '|',
        };
        assert_eq!(
            parse(&given, b"sg-1|22\nsg-2|443"),
            Ok(vec![
                json!({"id": "sg-1", "port": "22"}),
                json!({"id": "sg-2", "port": "443"})
            ])
        );
        assert!(parse(&given, b"sg-1|22|x\n").is_err());
        assert!(parse(&first_row, b"id\n\"open").is_err());
    }

    #[test]
    fn batches_fill_to_the_item_limit_and_carry_the_batch_input() {
        let items: Vec<Value> = (0..5).map(|i| json!(i)).collect();
        let limits = BatchLimits {
            max_items: 2,
            max_bytes: 0,
        };
        let out = batches(items, limits, Some(&json!({"sweep": "s1"})));
        let sizes: Vec<usize> = out.iter().map(|b| b.items).collect();
        assert_eq!(sizes, [2, 2, 1]);
        assert_eq!(
            out[0].input,
            json!({"BatchInput": {"sweep": "s1"}, "Items": [0, 1]})
        );
        assert_eq!(
            out[2].input,
            json!({"BatchInput": {"sweep": "s1"}, "Items": [4]})
        );
    }

    #[test]
    fn batches_stay_within_the_byte_limit_counting_the_whole_input() {
        let items: Vec<Value> = (0..6).map(|_| json!("abcd")).collect();
        // `{"Items":["abcd","abcd"]}` is 25 bytes; a third item makes 32.
        let limits = BatchLimits {
            max_items: 0,
            max_bytes: 25,
        };
        let out = batches(items, limits, None);
        assert_eq!(out.len(), 3);
        for batch in &out {
            assert_eq!(batch.input.to_string().len(), 25, "{}", batch.input);
        }
        let alone = batches(vec![json!("x".repeat(40))], limits, None);
        assert_eq!(alone.len(), 1);
    }
}
