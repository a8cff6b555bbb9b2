//! What an execution remembers of its Map Runs while they run and after:
//! each Map Run's `DescribeMapRun` view (status, limits, item and
//! execution counts) and its child executions, which the Step Functions
//! endpoint lists by `mapRunArn`.

use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::executor::{ExecutionResult, ExecutionStatus};

/// A Map Run's status, as `DescribeMapRun` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MapRunStatus {
    /// Child executions are still running or waiting to.
    Running,
    /// Every child succeeded, or no more failed than tolerated.
    Succeeded,
    /// More children failed than tolerated, or its results could not be
    /// written.
    Failed,
    /// The parent execution was stopped while it ran.
    Aborted,
}

/// Counts of items or of child executions by their state, the
/// `itemCounts` and `executionCounts` of `DescribeMapRun`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MapRunCounts {
    /// Not started yet.
    pub pending: u64,
    /// Running now.
    pub running: u64,
    /// Ended successfully.
    pub succeeded: u64,
    /// Failed.
    pub failed: u64,
    /// Timed out.
    pub timed_out: u64,
    /// Stopped before they ended.
    pub aborted: u64,
    /// All of them.
    pub total: u64,
    /// Written to the ResultWriter's files.
    pub results_written: u64,
}

impl MapRunCounts {
    /// `total` items or executions, all pending.
    pub(super) fn pending(total: u64) -> Self {
        Self {
            pending: total,
            total,
            ..Self::default()
        }
    }

    /// Moves `n` from pending to running.
    pub(super) fn start(&mut self, n: u64) {
        self.pending = self.pending.saturating_sub(n);
        self.running += n;
    }

    /// Moves `n` from running to the count of `status`.
    pub(super) fn end(&mut self, n: u64, status: ExecutionStatus) {
        self.running = self.running.saturating_sub(n);
        *match status {
            ExecutionStatus::Succeeded => &mut self.succeeded,
            ExecutionStatus::Failed => &mut self.failed,
            ExecutionStatus::TimedOut => &mut self.timed_out,
            ExecutionStatus::Aborted => &mut self.aborted,
        } += n;
    }
}

/// One Map Run: what `DescribeMapRun` returns, with the child executions
/// that have ended (their descriptions and histories).
#[derive(Debug, Clone)]
pub struct MapRunDescription {
    /// `arn:aws:states:<region>:<account>:mapRun:<machine>/<label>:<uuid>`.
    pub map_run_arn: String,
    /// The execution whose Map state started it.
    pub execution_arn: String,
    /// How it stands.
    pub status: MapRunStatus,
    /// When it started.
    pub start_date: DateTime<Utc>,
    /// When it ended.
    pub stop_date: Option<DateTime<Utc>>,
    /// `MaxConcurrency` as resolved (0: AWS's default for a Distributed
    /// Map, up to 10,000 at once).
    pub max_concurrency: u64,
    /// `ToleratedFailureCount` as resolved.
    pub tolerated_failure_count: u64,
    /// `ToleratedFailurePercentage` as resolved.
    pub tolerated_failure_percentage: f64,
    /// Items by state.
    pub item_counts: MapRunCounts,
    /// Child executions by state.
    pub execution_counts: MapRunCounts,
    /// The child executions that have ended, in the order they ended.
    pub children: Vec<ExecutionResult>,
}

/// The Map Runs of one execution, shared by the execution and its
/// `ExecutionControl`.
#[derive(Debug, Default)]
pub(crate) struct MapRuns {
    runs: Mutex<Vec<Arc<Mutex<MapRunDescription>>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl MapRuns {
    /// Adds a Map Run that has just started and gives its shared record.
    pub(super) fn add(&self, run: MapRunDescription) -> SharedMapRun {
        let shared = Arc::new(Mutex::new(run));
        lock(&self.runs).push(shared.clone());
        SharedMapRun(shared)
    }

    /// A copy of every Map Run so far.
    pub(crate) fn descriptions(&self) -> Vec<MapRunDescription> {
        lock(&self.runs)
            .iter()
            .map(|run| lock(run).clone())
            .collect()
    }
}

/// The record of one running Map Run, updated as its children run.
#[derive(Debug, Clone)]
pub(super) struct SharedMapRun(Arc<Mutex<MapRunDescription>>);

impl SharedMapRun {
    /// Changes the record.
    pub(super) fn update(&self, change: impl FnOnce(&mut MapRunDescription)) {
        change(&mut lock(&self.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_move_from_pending_through_running_to_how_they_ended() {
        let mut counts = MapRunCounts::pending(5);
        counts.start(3);
        counts.end(2, ExecutionStatus::Succeeded);
        counts.end(1, ExecutionStatus::Failed);
        assert_eq!(
            counts,
            MapRunCounts {
                pending: 2,
                running: 0,
                succeeded: 2,
                failed: 1,
                total: 5,
                ..MapRunCounts::default()
            }
        );
    }
}
