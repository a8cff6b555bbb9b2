//! A local AWS Step Functions executor: runs the exact Amazon States
//! Language definition AWS runs (JSONPath query language), with the real
//! Lambda function binaries behind a local Lambda Runtime API and the
//! service integrations sent to a local AWS endpoint (moto).
//!
//! ```no_run
//! # async fn demo() -> Result<(), sfn_local::Error> {
//! use std::collections::HashMap;
//! use sfn_local::{Executor, ExecutorConfig, FunctionConfig, StateMachine};
//!
//! let text = std::fs::read_to_string("statemachines/guardrail.asl.json").unwrap();
//! let subs = HashMap::from([(
//!     "DetectFunctionArn".to_owned(),
//!     "arn:aws:lambda:us-east-1:123456789012:function:detect".to_owned(),
//! )]);
//! let machine = StateMachine::new("guardrail", &text, &subs)?;
//! let executor = Executor::new(ExecutorConfig {
//!     functions: vec![FunctionConfig::new("detect", "target/debug/detect")],
//!     virtual_time: true,
//!     ..ExecutorConfig::default()
//! });
//! let result = executor.run_to_completion(&machine, Some("run-1"), serde_json::json!({})).await;
//! println!("{:?} {:?}", result.description.status, result.output());
//! # Ok(()) }
//! ```
//!
//! Invariants: the executor never calls real AWS (a region without a local
//! endpoint fails the task); every function process it starts is killed when
//! the executor is dropped or shut down.

mod asl;
mod choice;
mod clock;
mod error;
mod executor;
mod failure;
mod history;
mod integrations;
mod intrinsics;
mod lambda;
mod path;
mod retry;
mod template;

use std::collections::HashMap;

pub use asl::StateMachine;
pub use error::Error;
pub use executor::{
    DescribeExecution, Execution, ExecutionResult, ExecutionStatus, Executor, ExecutorConfig,
};
pub use history::HistoryEvent;
pub use lambda::{FunctionConfig, InvocationReport, LogSink};

impl StateMachine {
    /// Reads a definition, replacing `${Name}` placeholders from
    /// `substitutions`, and validates it as `CreateStateMachine` would.
    pub fn new(
        name: &str,
        definition: &str,
        substitutions: &HashMap<String, String>,
    ) -> Result<Self, Error> {
        let text = asl::substitute(definition, substitutions).map_err(Error::Substitution)?;
        asl::parse(name, &text).map_err(Error::InvalidDefinition)
    }
}

/// Reads an execution input: JSON text, as `StartExecution` takes it.
pub fn parse_input(text: &str) -> Result<serde_json::Value, Error> {
    serde_json::from_str(text).map_err(|e| Error::InvalidInput(e.to_string()))
}
