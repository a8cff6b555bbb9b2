//! The Parallel state, and the join that it shares with the Map state:
//! every branch runs on a thread of its own, from a copy of the parent's
//! clock, and the parent's clock then moves to the latest of theirs.

use std::future::Future;

use serde_json::Value;

use super::{Run, Thread};
use crate::asl::Block;
use crate::failure::{Failure, Origin};

/// Runs the threads together until all succeed, giving their outputs in
/// order, or until one fails, giving its failure. A failing thread stops
/// the others, as in AWS: their futures are dropped, which also stops
/// their functions. `thread`'s clock joins every thread that finished.
pub(super) async fn all_or_first_failure<F>(
    runs: impl IntoIterator<Item = F>,
    thread: &mut Thread,
) -> Result<Vec<Value>, Failure>
where
    F: Future<Output = (Result<Value, Failure>, Thread)>,
{
    let results = futures::future::try_join_all(runs.into_iter().map(|run| async move {
        match run.await {
            (Ok(v), run_thread) => Ok((v, run_thread)),
            (Err(e), run_thread) => Err((e, run_thread)),
        }
    }))
    .await;
    match results {
        Ok(done) => {
            let mut outputs = Vec::with_capacity(done.len());
            for (output, run_thread) in done {
                thread.clock.join(&run_thread.clock);
                outputs.push(output);
            }
            Ok(outputs)
        }
        Err((failure, run_thread)) => {
            thread.clock.join(&run_thread.clock);
            Err(failure)
        }
    }
}

/// A failure that came out of a branch or an iteration, which is what
/// `States.BranchFailed` matches.
pub(super) fn branch_failure(failure: Failure) -> Failure {
    failure.seen_from(Origin::Branch)
}

impl Run {
    pub(super) async fn run_parallel(
        &self,
        branches: &[Block],
        input: &Value,
        thread: &mut Thread,
        base: &Value,
    ) -> Result<Value, Failure> {
        self.record(thread, "ParallelStateStarted", None);
        let started = thread.clone();
        let runs = branches.iter().map(|branch| {
            let mut branch_thread = started.clone();
            let input = input.clone();
            async move {
                let result = self
                    .run_block(branch, input, &mut branch_thread, base)
                    .await;
                (result, branch_thread)
            }
        });
        match all_or_first_failure(runs, thread).await {
            Ok(outputs) => {
                self.record(thread, "ParallelStateSucceeded", None);
                Ok(Value::Array(outputs))
            }
            Err(failure) => {
                self.record(thread, "ParallelStateFailed", None);
                Err(branch_failure(failure))
            }
        }
    }
}
