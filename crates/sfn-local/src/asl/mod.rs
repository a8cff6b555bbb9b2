//! Amazon States Language definitions: the model the executor runs (a
//! state machine read from its JSON, validated, with every path, template
//! and Choice rule compiled), and the checks of a definition's transitions
//! that other tools share.
//!
//! `parse` (in `validate.rs`) is the only way to build the model, so the
//! executor never meets a definition AWS would have refused. `graph.rs`
//! holds the one reading of which state goes where; `unreachable_states`
//! is its public form.

mod graph;
mod validate;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;

use crate::choice::Rule;
use crate::intrinsics::Call;
use crate::path::Path;
use crate::retry::{Catcher, Retrier};
use crate::template::Template;

pub use graph::unreachable_states;
pub(crate) use validate::{check, parse, substitute};

/// A block of states: the whole machine, a Parallel branch or a Map's
/// ItemProcessor.
#[derive(Debug, Clone)]
pub(crate) struct Block {
    /// The first state.
    pub start_at: String,
    /// The states by name.
    pub states: HashMap<String, State>,
}

/// One state.
#[derive(Debug, Clone)]
pub(crate) struct State {
    /// The state's name.
    pub name: String,
    /// What the state does.
    pub kind: Kind,
    /// `InputPath`: `None` is `null` (the effective input becomes `{}`).
    pub input_path: Option<Path>,
    /// `OutputPath`: `None` is `null` (the output becomes `{}`).
    pub output_path: Option<Path>,
    /// `ResultPath`: `None` is `null` (the result is discarded).
    pub result_path: Option<Path>,
    /// `Parameters`. Always `None` for a Map, where `Parameters` is the
    /// older name of the per-item `ItemSelector` held in `MapSpec`.
    pub parameters: Option<Template>,
    /// `ResultSelector`.
    pub result_selector: Option<Template>,
    /// `Next`, or `None` for `"End": true` and for terminal types.
    pub next: Option<String>,
    /// `Retry`.
    pub retry: Vec<Retrier>,
    /// `Catch`.
    pub catch: Vec<Catcher>,
}

/// A number given directly or read from the input by a `*Path` field.
#[derive(Debug, Clone)]
pub(crate) enum Dynamic<T> {
    /// The value written in the definition.
    Fixed(T),
    /// A Reference Path resolved when the state runs.
    Path(Path),
}

/// A Fail state's `Error` or `Cause`.
#[derive(Debug, Clone)]
pub(crate) enum Text {
    /// A literal string.
    Fixed(String),
    /// `ErrorPath`/`CausePath` given as a path.
    Path(Path),
    /// `ErrorPath`/`CausePath` given as an intrinsic function.
    Intrinsic(Call),
}

/// How long a Wait state waits.
#[derive(Debug, Clone)]
pub(crate) enum WaitFor {
    /// `Seconds`.
    Seconds(u64),
    /// `Timestamp`.
    Timestamp(chrono::DateTime<chrono::FixedOffset>),
    /// `SecondsPath`.
    SecondsPath(Path),
    /// `TimestampPath`.
    TimestampPath(Path),
}

/// The state types and what each one needs.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    /// `Pass`, with its optional `Result`.
    Pass { result: Option<Value> },
    /// `Task`.
    Task {
        resource: String,
        timeout: Option<Dynamic<u64>>,
        heartbeat: Option<Dynamic<u64>>,
    },
    /// `Choice`.
    Choice {
        choices: Vec<(Rule, String)>,
        default: Option<String>,
    },
    /// `Wait`.
    Wait(WaitFor),
    /// `Succeed`.
    Succeed,
    /// `Fail`.
    Fail {
        error: Option<Text>,
        cause: Option<Text>,
    },
    /// `Parallel`.
    Parallel { branches: Vec<Block> },
    /// `Map` in inline mode.
    Map(Box<MapSpec>),
}

/// The fields of an inline Map state.
#[derive(Debug, Clone)]
pub(crate) struct MapSpec {
    /// `ItemsPath` (default `$`).
    pub items_path: Path,
    /// `ItemSelector`, or the older `Parameters`, applied to each item.
    pub item_selector: Option<Template>,
    /// `ItemProcessor`, or the older `Iterator`.
    pub processor: Block,
    /// `MaxConcurrency`; 0 means no limit.
    pub max_concurrency: Dynamic<u64>,
    /// `ToleratedFailureCount`.
    pub tolerated_count: Option<Dynamic<u64>>,
    /// `ToleratedFailurePercentage`.
    pub tolerated_percentage: Option<Dynamic<f64>>,
    /// What a Map in `DISTRIBUTED` mode adds; `None` in `INLINE` mode.
    pub distributed: Option<Box<Distributed>>,
}

/// The fields of a Map whose `ProcessorConfig.Mode` is `DISTRIBUTED`: each
/// item (or batch) runs as a child execution of a Map Run.
#[derive(Debug, Clone)]
pub(crate) struct Distributed {
    /// `ProcessorConfig.ExecutionType`: whether the children are Standard
    /// or Express executions, which their ARNs show.
    pub execution_type: ExecutionType,
    /// `Label`, the Map Run ARN's label; the state's name when absent.
    pub label: Option<String>,
    /// `ItemReader`; without it the items come from `ItemsPath`.
    pub item_reader: Option<ItemReader>,
    /// `ItemBatcher`; without it each item is one child execution.
    pub item_batcher: Option<ItemBatcher>,
    /// `ResultWriter`; without it the Map's result is the children's outputs.
    pub result_writer: Option<Template>,
}

/// `ProcessorConfig.ExecutionType` of a Distributed Map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExecutionType {
    Standard,
    Express,
}

/// `ItemReader`: where a Distributed Map reads its items.
#[derive(Debug, Clone)]
pub(crate) struct ItemReader {
    /// The S3 action, from `Resource`.
    pub source: ItemSource,
    /// `Parameters`: `Bucket`, `Key` or `Prefix`, `VersionId`.
    pub parameters: Template,
    /// `ReaderConfig.MaxItems` or `MaxItemsPath`; 0 reads every item.
    pub max_items: Option<Dynamic<u64>>,
}

/// What an `ItemReader` reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ItemSource {
    /// `s3:listObjectsV2`: one item per object under `Prefix`.
    ListObjects,
    /// `s3:getObject`: the items of one object, in this format.
    Object(InputType),
}

/// `ReaderConfig.InputType` of an `s3:getObject` reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InputType {
    /// A JSON array.
    Json,
    /// JSON Lines: one JSON value per line.
    Jsonl,
    /// Delimited text: each row an object from the header's names to the
    /// row's fields, as strings.
    Csv {
        /// `CSVHeaders` for `CSVHeaderLocation: GIVEN`; `None` for
        /// `FIRST_ROW`, where the first row names the columns.
        headers: Option<Vec<String>>,
        /// `CSVDelimiter`.
        delimiter: char,
    },
}

/// `ItemBatcher`: how many items each child execution gets.
#[derive(Debug, Clone)]
pub(crate) struct ItemBatcher {
    /// `MaxItemsPerBatch` or its `*Path`.
    pub max_items: Option<Dynamic<u64>>,
    /// `MaxInputBytesPerBatch` or its `*Path`.
    pub max_bytes: Option<Dynamic<u64>>,
    /// `BatchInput`, which every batch carries next to its `Items`.
    pub batch_input: Option<Template>,
}

/// A validated state machine, ready to run.
#[derive(Debug, Clone)]
pub struct StateMachine {
    /// The name, used in ARNs and `$$.StateMachine.Name`.
    pub(crate) name: String,
    pub(crate) root: Block,
    /// The machine's `TimeoutSeconds`.
    pub(crate) timeout: Option<Duration>,
    /// The execution role, when the machine has its own (one created
    /// through the Step Functions endpoint); otherwise the executor's.
    pub(crate) role_arn: Option<String>,
}
