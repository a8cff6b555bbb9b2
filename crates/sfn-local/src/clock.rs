//! The execution's clock: real time, or a virtual clock on which Wait states
//! and Retry intervals are recorded as elapsed without being slept.
//!
//! Each thread of an execution (the main flow, each Parallel branch, each Map
//! iteration) carries its own copy, because branches wait independently;
//! when they join, the parent takes the latest of their clocks, as it would
//! in real time.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// A per-thread clock.
#[derive(Debug, Clone)]
pub(crate) struct Clock {
    virtual_time: bool,
    skipped: Duration,
}

impl Clock {
    /// A clock that sleeps for real (`false`) or only records (`true`).
    pub(crate) fn new(virtual_time: bool) -> Self {
        Self {
            virtual_time,
            skipped: Duration::ZERO,
        }
    }

    /// The current time on this clock.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::from_std(self.skipped).unwrap_or(chrono::Duration::MAX)
    }

    /// Lets `duration` pass.
    pub(crate) async fn sleep(&mut self, duration: Duration) {
        if self.virtual_time {
            self.skipped += duration;
        } else {
            tokio::time::sleep(duration).await;
        }
    }

    /// Lets time pass until `instant`; does nothing if it is already past.
    pub(crate) async fn sleep_until(&mut self, instant: DateTime<Utc>) {
        if let Ok(wait) = (instant - self.now()).to_std() {
            self.sleep(wait).await;
        }
    }

    /// Brings this clock forward to a branch's clock after a join.
    pub(crate) fn join(&mut self, branch: &Clock) {
        self.skipped = self.skipped.max(branch.skipped);
    }
}
