//! The execution's clock: real time, or a virtual clock on which Wait states
//! and Retry intervals are recorded as elapsed without being slept.
//!
//! Each thread of an execution (the main flow, each Parallel branch, each Map
//! iteration) carries its own copy, because branches wait independently;
//! when they join, the parent takes the latest of their clocks, as it would
//! in real time.
//!
//! The clock also holds the execution's deadline (the machine's
//! `TimeoutSeconds`), because on the virtual clock only the clock knows when
//! a skipped wait passes it: a wait that would end past the deadline ends at
//! it instead, and says so.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// A per-thread clock.
#[derive(Debug, Clone)]
pub(crate) struct Clock {
    virtual_time: bool,
    skipped: Duration,
    deadline: Option<DateTime<Utc>>,
}

/// A wait reached the execution's deadline before it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DeadlinePassed;

impl Clock {
    /// A clock that sleeps for real (`false`) or only records (`true`).
    pub(crate) fn new(virtual_time: bool) -> Self {
        Self {
            virtual_time,
            skipped: Duration::ZERO,
            deadline: None,
        }
    }

    /// The same clock, with the execution ending at `timeout` from now.
    pub(crate) fn with_timeout(self, timeout: Option<Duration>) -> Self {
        let deadline = timeout
            .and_then(|t| chrono::Duration::from_std(t).ok())
            .map(|t| self.now() + t);
        Self { deadline, ..self }
    }

    /// Whether the execution's deadline has passed on this clock.
    pub(crate) fn past_deadline(&self) -> bool {
        self.deadline.is_some_and(|d| self.now() >= d)
    }

    /// The current time on this clock.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::from_std(self.skipped).unwrap_or(chrono::Duration::MAX)
    }

    /// Lets `duration` pass, or only the time up to the deadline when the
    /// wait would end past it. In real time the execution's own timer
    /// stops it at the deadline, so the wait is slept whole.
    pub(crate) async fn sleep(&mut self, duration: Duration) -> Result<(), DeadlinePassed> {
        if !self.virtual_time {
            tokio::time::sleep(duration).await;
            return Ok(());
        }
        let left = self
            .deadline
            .map(|d| (d - self.now()).to_std().unwrap_or(Duration::ZERO));
        match left {
            Some(left) if left <= duration => {
                self.skipped += left;
                Err(DeadlinePassed)
            }
            _ => {
                self.skipped += duration;
                Ok(())
            }
        }
    }

    /// Lets time pass until `instant`; does nothing if it is already past.
    pub(crate) async fn sleep_until(
        &mut self,
        instant: DateTime<Utc>,
    ) -> Result<(), DeadlinePassed> {
        match (instant - self.now()).to_std() {
            Ok(wait) => self.sleep(wait).await,
            Err(_) => Ok(()),
        }
    }

    /// Brings this clock forward to a branch's clock after a join.
    pub(crate) fn join(&mut self, branch: &Clock) {
        self.skipped = self.skipped.max(branch.skipped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_virtual_wait_past_the_deadline_stops_at_it() {
        let start = Utc::now();
        let mut clock = Clock::new(true).with_timeout(Some(Duration::from_secs(10)));
        assert_eq!(clock.sleep(Duration::from_secs(4)).await, Ok(()));
        assert!(!clock.past_deadline());
        assert_eq!(
            clock.sleep(Duration::from_secs(20)).await,
            Err(DeadlinePassed)
        );
        assert!(clock.past_deadline());
        let waited = (clock.now() - start).num_milliseconds();
        assert!((10_000..10_500).contains(&waited), "{waited}");
        let mut unbounded = Clock::new(true);
        assert_eq!(unbounded.sleep(Duration::from_secs(3600)).await, Ok(()));
        assert!(!unbounded.past_deadline());
    }
}
