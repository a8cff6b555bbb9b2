//! Retriers and Catchers: which one handles a failure and how long a retry
//! waits.
//!
//! The wait before retry *n* (counting from 0) is
//! `IntervalSeconds × BackoffRate^n`, capped at `MaxDelaySeconds`, and with
//! `"JitterStrategy": "FULL"` a uniformly random value between 0 and that
//! figure. Each Retrier counts its own attempts across one visit to the
//! state, as the "Complex retry scenarios" example of the developer guide
//! describes.

use std::time::Duration;

use crate::failure::Failure;
use crate::path::Path;

/// How the computed delay is randomised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Jitter {
    /// No randomisation.
    None,
    /// Uniformly random between zero and the computed delay.
    Full,
}

/// One entry of a `Retry` array.
#[derive(Debug, Clone)]
pub(crate) struct Retrier {
    /// The error names it handles.
    pub error_equals: Vec<String>,
    /// The wait before the first retry (default 1).
    pub interval_seconds: f64,
    /// How many retries it allows (default 3; 0 means never).
    pub max_attempts: u64,
    /// The multiplier applied per retry (default 2.0).
    pub backoff_rate: f64,
    /// The cap on any single wait.
    pub max_delay_seconds: Option<f64>,
    /// The randomisation of the wait.
    pub jitter: Jitter,
}

/// One entry of a `Catch` array.
#[derive(Debug, Clone)]
pub(crate) struct Catcher {
    /// The error names it handles.
    pub error_equals: Vec<String>,
    /// Where the Error Output goes in the state's input; `None` is `null`.
    pub result_path: Option<Path>,
    /// The state to go to.
    pub next: String,
}

impl Retrier {
    /// The wait before retry number `attempt` (0 for the first retry),
    /// before jitter.
    pub(crate) fn delay(&self, attempt: u64) -> Duration {
        let exponent = i32::try_from(attempt).unwrap_or(i32::MAX);
        let mut seconds = self.interval_seconds * self.backoff_rate.powi(exponent);
        if let Some(cap) = self.max_delay_seconds {
            seconds = seconds.min(cap);
        }
        Duration::from_secs_f64(seconds.clamp(0.0, 1.0e9))
    }

    /// The wait with the jitter strategy applied.
    pub(crate) fn jittered_delay(&self, attempt: u64) -> Duration {
        let delay = self.delay(attempt);
        match self.jitter {
            Jitter::None => delay,
            Jitter::Full => delay.mul_f64(rand::random::<f64>()),
        }
    }
}

/// What to do with a failure: retry after a delay, or not.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RetryDecision {
    /// Retry after this delay; the Retrier at this index counted it.
    Retry { retrier: usize, delay: Duration },
    /// No Retrier handles it, or the one that does is exhausted.
    GiveUp,
}

/// Picks the first Retrier that matches, and decides with its counter.
/// `counts[i]` is how many retries Retrier `i` has made on this visit.
pub(crate) fn decide(retriers: &[Retrier], counts: &mut [u64], failure: &Failure) -> RetryDecision {
    let Some(index) = retriers
        .iter()
        .position(|r| failure.matches_any(&r.error_equals))
    else {
        return RetryDecision::GiveUp;
    };
    let retrier = &retriers[index];
    if counts[index] >= retrier.max_attempts {
        return RetryDecision::GiveUp;
    }
    let delay = retrier.jittered_delay(counts[index]);
    counts[index] += 1;
    RetryDecision::Retry {
        retrier: index,
        delay,
    }
}

/// The first Catcher that matches.
pub(crate) fn catcher<'a>(catchers: &'a [Catcher], failure: &Failure) -> Option<&'a Catcher> {
    catchers
        .iter()
        .find(|c| failure.matches_any(&c.error_equals))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retrier(errors: &[&str], interval: f64, attempts: u64, rate: f64) -> Retrier {
        Retrier {
            error_equals: errors.iter().map(|s| (*s).to_owned()).collect(),
            interval_seconds: interval,
            max_attempts: attempts,
            backoff_rate: rate,
            max_delay_seconds: None,
            jitter: Jitter::None,
        }
    }

    // "Here is an example of a Retry field that will make four retry attempts
    // after waits of 3, 4.5, 6.75 and 10.125 seconds" (developer guide, Error
    // handling in Step Functions).
    #[test]
    fn backoff_follows_the_documented_example() {
        let r = retrier(&["States.Timeout"], 3.0, 4, 1.5);
        let waits: Vec<f64> = (0..4).map(|n| r.delay(n).as_secs_f64()).collect();
        assert_eq!(waits, vec![3.0, 4.5, 6.75, 10.125]);
    }

    #[test]
    fn max_delay_caps_every_wait_and_full_jitter_stays_below_it() {
        let mut r = retrier(&["States.ALL"], 2.0, 10, 3.0);
        r.max_delay_seconds = Some(10.0);
        let waits: Vec<f64> = (0..4).map(|n| r.delay(n).as_secs_f64()).collect();
        assert_eq!(waits, vec![2.0, 6.0, 10.0, 10.0]);
        r.jitter = Jitter::Full;
        assert!((0..50).all(|n| r.jittered_delay(n) <= Duration::from_secs(10)));
    }

    // The "Complex retry scenarios" example: ErrorA, ErrorB, ErrorC, ErrorB.
    #[test]
    fn each_retrier_counts_its_own_attempts() {
        let retriers = vec![
            retrier(&["ErrorA", "ErrorB"], 1.0, 2, 2.0),
            retrier(&["ErrorC"], 5.0, 3, 2.0),
        ];
        let mut counts = vec![0; 2];
        let decide_for = |name: &str, counts: &mut Vec<u64>| {
            decide(&retriers, counts, &Failure::new(name, None))
        };
        assert_eq!(
            decide_for("ErrorA", &mut counts),
            RetryDecision::Retry {
                retrier: 0,
                delay: Duration::from_secs(1)
            }
        );
        assert_eq!(
            decide_for("ErrorB", &mut counts),
            RetryDecision::Retry {
                retrier: 0,
                delay: Duration::from_secs(2)
            }
        );
        assert_eq!(
            decide_for("ErrorC", &mut counts),
            RetryDecision::Retry {
                retrier: 1,
                delay: Duration::from_secs(5)
            }
        );
        assert_eq!(decide_for("ErrorB", &mut counts), RetryDecision::GiveUp);
    }
}
