//! The checks of a Map state's processing mode: `ProcessorConfig`, and the
//! fields only a `DISTRIBUTED` Map may have (`ItemReader`, `ItemBatcher`,
//! `ResultWriter`, `Label`), each read into the model with AWS's limits.
//!
//! An `INLINE` Map that names one of those fields is refused, as
//! `CreateStateMachine` refuses it, rather than run with the field ignored.

use serde_json::{Map, Value};

use super::Checker;
use crate::asl::{Distributed, ExecutionType, InputType, ItemBatcher, ItemReader, ItemSource};

/// The fields only a Map in `DISTRIBUTED` mode may have.
const DISTRIBUTED_ONLY: &[&str] = &["ItemReader", "ItemBatcher", "ResultWriter", "Label"];

/// The largest batch AWS lets `MaxInputBytesPerBatch` ask for: 256 KiB.
const MAX_BATCH_BYTES: u64 = 256 * 1024;

/// A `Label` is at most 40 characters, none of them one of these (nor
/// white space or a control character), since it becomes part of ARNs.
const LABEL_FORBIDDEN: &str = "<>{}[]?*\"#%\\^|~`$&,;:/";

impl Checker {
    /// `ItemProcessor.ProcessorConfig`: `None` for `INLINE` (the default),
    /// the child execution type for `DISTRIBUTED`, whose `ExecutionType`
    /// AWS requires.
    pub(super) fn processor_mode(
        &mut self,
        processor: &Value,
        at: &str,
    ) -> Option<Option<ExecutionType>> {
        let Some(config) = processor.get("ProcessorConfig") else {
            return Some(None);
        };
        let at = format!("{at}/ProcessorConfig");
        let Some(config) = config.as_object() else {
            self.schema(
                "The value for the field 'ProcessorConfig' must be an OBJECT",
                &at,
            );
            return None;
        };
        self.known_fields(config, &["Mode", "ExecutionType"], &at);
        match config.get("Mode").and_then(Value::as_str) {
            None | Some("INLINE") => Some(None),
            Some("DISTRIBUTED") => self.execution_type(config, &at).map(Some),
            Some(other) => {
                self.schema(
                    format!("The value for the field 'Mode' must be one of [INLINE, DISTRIBUTED] but was '{other}'"),
                    &format!("{at}/Mode"),
                );
                None
            }
        }
    }

    fn execution_type(&mut self, config: &Map<String, Value>, at: &str) -> Option<ExecutionType> {
        match config.get("ExecutionType").and_then(Value::as_str) {
            Some("STANDARD") => Some(ExecutionType::Standard),
            Some("EXPRESS") => Some(ExecutionType::Express),
            None => {
                self.schema(
                    "These fields are required: [ExecutionType] (in DISTRIBUTED mode)",
                    at,
                );
                None
            }
            Some(other) => {
                self.schema(
                    format!("The value for the field 'ExecutionType' must be one of [STANDARD, EXPRESS] but was '{other}'"),
                    &format!("{at}/ExecutionType"),
                );
                None
            }
        }
    }

    /// Refuses the fields an `INLINE` Map cannot have.
    pub(super) fn inline_only(&mut self, object: &Map<String, Value>, at: &str) {
        for field in DISTRIBUTED_ONLY {
            if object.contains_key(*field) {
                self.schema(
                    format!("The field \"{field}\" is not supported by Step Functions for a Map state in INLINE mode (only in DISTRIBUTED mode)"),
                    at,
                );
            }
        }
    }

    /// The fields of a `DISTRIBUTED` Map; `None` once any is invalid.
    pub(super) fn distributed(
        &mut self,
        object: &Map<String, Value>,
        execution_type: ExecutionType,
        at: &str,
    ) -> Option<Distributed> {
        let before = self.problems.len();
        if object.contains_key("ItemReader") && object.contains_key("ItemsPath") {
            self.schema(
                "Only one of the fields [ItemReader, ItemsPath] can be set",
                at,
            );
        }
        let label = self.label(object, at);
        let item_reader = object
            .get("ItemReader")
            .and_then(|r| self.item_reader(r, &format!("{at}/ItemReader")));
        let item_batcher = object
            .get("ItemBatcher")
            .and_then(|b| self.item_batcher(b, &format!("{at}/ItemBatcher")));
        let result_writer = object
            .get("ResultWriter")
            .and_then(|w| self.result_writer(w, &format!("{at}/ResultWriter")));
        (self.problems.len() == before).then_some(Distributed {
            execution_type,
            label,
            item_reader,
            item_batcher,
            result_writer,
        })
    }

    fn label(&mut self, object: &Map<String, Value>, at: &str) -> Option<String> {
        let value = object.get("Label")?;
        let valid = value.as_str().filter(|l| {
            !l.is_empty()
                && l.chars().count() <= 40
                && !l
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || LABEL_FORBIDDEN.contains(c))
        });
        if valid.is_none() {
            self.schema(
                "The value for the field 'Label' must be a STRING of 1 to 40 characters without white space or any of <>{}[]?*\"#%\\^|~`$&,;:/",
                &format!("{at}/Label"),
            );
        }
        valid.map(str::to_owned)
    }

    /// The object of a field, reporting one that is not an object.
    fn object<'v>(
        &mut self,
        value: &'v Value,
        field: &str,
        at: &str,
    ) -> Option<&'v Map<String, Value>> {
        let object = value.as_object();
        if object.is_none() {
            self.schema(
                format!("The value for the field '{field}' must be an OBJECT"),
                at,
            );
        }
        object
    }

    fn item_reader(&mut self, value: &Value, at: &str) -> Option<ItemReader> {
        let reader = self.object(value, "ItemReader", at)?;
        self.known_fields(reader, &["Resource", "Parameters", "ReaderConfig"], at);
        let config = match reader.get("ReaderConfig") {
            Some(c) => self
                .object(c, "ReaderConfig", &format!("{at}/ReaderConfig"))?
                .clone(),
            None => Map::new(),
        };
        let config_at = format!("{at}/ReaderConfig");
        self.known_fields(
            &config,
            &[
                "InputType",
                "CSVHeaderLocation",
                "CSVHeaders",
                "CSVDelimiter",
                "MaxItems",
                "MaxItemsPath",
            ],
            &config_at,
        );
        let source = match reader.get("Resource").and_then(Value::as_str) {
            Some("arn:aws:states:::s3:listObjectsV2") => ItemSource::ListObjects,
            Some("arn:aws:states:::s3:getObject") => {
                ItemSource::Object(self.input_type(&config, &config_at)?)
            }
            Some(other) => {
                self.schema(
                    format!("The resource '{other}' is not supported for an ItemReader; sfn-local reads items with arn:aws:states:::s3:getObject and arn:aws:states:::s3:listObjectsV2"),
                    &format!("{at}/Resource"),
                );
                return None;
            }
            None => {
                self.schema("These fields are required: [Resource]", at);
                return None;
            }
        };
        let Some(parameters) = self.template(reader, "Parameters", at) else {
            self.schema("These fields are required: [Parameters]", at);
            return None;
        };
        let max_items = self.dynamic_int(&config, "MaxItems", &config_at, true);
        Some(ItemReader {
            source,
            parameters,
            max_items,
        })
    }

    /// `ReaderConfig.InputType` of an `s3:getObject` reader, with its CSV
    /// settings. `MANIFEST` and `PARQUET` are AWS's too, but not read here.
    fn input_type(&mut self, config: &Map<String, Value>, at: &str) -> Option<InputType> {
        match config.get("InputType").and_then(Value::as_str) {
            Some("JSON") => Some(InputType::Json),
            Some("JSONL") => Some(InputType::Jsonl),
            Some("CSV") => self.csv(config, at),
            Some(other @ ("MANIFEST" | "PARQUET")) => {
                self.schema(
                    format!("The InputType '{other}' is not supported by this executor (JSON, JSONL and CSV are)"),
                    &format!("{at}/InputType"),
                );
                None
            }
            Some(other) => {
                self.schema(
                    format!("The value for the field 'InputType' must be one of [CSV, JSON, JSONL, MANIFEST, PARQUET] but was '{other}'"),
                    &format!("{at}/InputType"),
                );
                None
            }
            None => {
                self.schema(
                    "These fields are required: [InputType] (for arn:aws:states:::s3:getObject)",
                    at,
                );
                None
            }
        }
    }

    fn csv(&mut self, config: &Map<String, Value>, at: &str) -> Option<InputType> {
        let delimiter = match config.get("CSVDelimiter").and_then(Value::as_str) {
            None | Some("COMMA") => ',',
            Some("PIPE") => '|',
            Some("SEMICOLON") => ';',
            Some("SPACE") => ' ',
            Some("TAB") => '\t',
            Some(_) => {
                self.schema(
                    "The value for the field 'CSVDelimiter' must be one of [COMMA, PIPE, SEMICOLON, SPACE, TAB]",
                    &format!("{at}/CSVDelimiter"),
                );
                return None;
            }
        };
        let given = config.get("CSVHeaders").and_then(Value::as_array);
        let headers = match config.get("CSVHeaderLocation").and_then(Value::as_str) {
            None | Some("FIRST_ROW") => None,
            Some("GIVEN") => {
                let names: Option<Vec<String>> =
                    given.filter(|list| !list.is_empty()).map(|list| {
                        list.iter()
                            .filter_map(|h| h.as_str().map(str::to_owned))
                            .collect()
                    });
                match names {
                    Some(names) if Some(names.len()) == given.map(Vec::len) => Some(names),
                    _ => {
                        self.schema("CSVHeaders must be a non-empty array of strings when CSVHeaderLocation is GIVEN", at);
                        return None;
                    }
                }
            }
            Some(_) => {
                self.schema(
                    "The value for the field 'CSVHeaderLocation' must be one of [FIRST_ROW, GIVEN]",
                    &format!("{at}/CSVHeaderLocation"),
                );
                return None;
            }
        };
        Some(InputType::Csv { headers, delimiter })
    }

    fn item_batcher(&mut self, value: &Value, at: &str) -> Option<ItemBatcher> {
        let batcher = self.object(value, "ItemBatcher", at)?;
        self.known_fields(
            batcher,
            &[
                "MaxItemsPerBatch",
                "MaxItemsPerBatchPath",
                "MaxInputBytesPerBatch",
                "MaxInputBytesPerBatchPath",
                "BatchInput",
            ],
            at,
        );
        let max_items = self.dynamic_int(batcher, "MaxItemsPerBatch", at, false);
        let max_bytes = self.dynamic_int(batcher, "MaxInputBytesPerBatch", at, false);
        if let Some(crate::asl::Dynamic::Fixed(bytes)) = &max_bytes
            && *bytes > MAX_BATCH_BYTES
        {
            self.schema(
                format!("The value for the field 'MaxInputBytesPerBatch' must be at most {MAX_BATCH_BYTES}"),
                &format!("{at}/MaxInputBytesPerBatch"),
            );
        }
        if max_items.is_none() && max_bytes.is_none() {
            self.schema(
                "At least one of the fields [MaxItemsPerBatch, MaxItemsPerBatchPath, MaxInputBytesPerBatch, MaxInputBytesPerBatchPath] must be set",
                at,
            );
            return None;
        }
        Some(ItemBatcher {
            max_items,
            max_bytes,
            batch_input: self.template(batcher, "BatchInput", at),
        })
    }

    /// `ResultWriter`: `s3:putObject` with `Bucket` and `Prefix`. AWS's
    /// `WriterConfig` (a transformed preview of the results) is refused
    /// rather than ignored.
    fn result_writer(&mut self, value: &Value, at: &str) -> Option<crate::template::Template> {
        let writer = self.object(value, "ResultWriter", at)?;
        if writer.contains_key("WriterConfig") {
            self.schema(
                "The field \"WriterConfig\" is not supported by this executor",
                at,
            );
        }
        let known = ["Resource", "Parameters", "WriterConfig"];
        self.known_fields(writer, &known, at);
        if writer.get("Resource").and_then(Value::as_str) != Some("arn:aws:states:::s3:putObject") {
            self.schema(
                "The value for the field 'Resource' must be arn:aws:states:::s3:putObject",
                &format!("{at}/Resource"),
            );
            return None;
        }
        let parameters = self.template(writer, "Parameters", at);
        if parameters.is_none() {
            self.schema("These fields are required: [Parameters]", at);
        }
        parameters
    }
}
