//! The inline Map state: its items, its limits (MaxConcurrency and the
//! tolerated failures, each fixed or read by a `*Path`), one thread per
//! iteration, and the `MapIteration*` events, including `Aborted` for the
//! iterations still running when another one failed. A Map in
//! `DISTRIBUTED` mode shares the limits and the items of `ItemsPath`, and
//! runs as `distributed` describes.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use serde_json::{Value, json};
use tokio::sync::Semaphore;

use super::context::StateContext;
use super::parallel::{all_or_first_failure, branch_failure};
use super::{Run, Thread};
use crate::asl::{Dynamic, MapSpec, State};
use crate::failure::Failure;
use crate::path::Path;

/// The limits of one Map visit, with every `*Path` resolved.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct MapLimits {
    /// `MaxConcurrency`; 0 means no limit.
    pub max_concurrency: u64,
    pub tolerated_count: Option<u64>,
    pub tolerated_percentage: Option<f64>,
}

impl MapLimits {
    pub(super) fn resolve(
        spec: &MapSpec,
        effective: &Value,
        sc: &StateContext<'_>,
    ) -> Result<Self, Failure> {
        let whole = |d: &Dynamic<u64>, field: &str| {
            resolve(d, field, "integer", Value::as_u64, effective, sc)
        };
        let max_concurrency = whole(&spec.max_concurrency, "MaxConcurrencyPath")?;
        let tolerated_count = spec
            .tolerated_count
            .as_ref()
            .map(|d| whole(d, "ToleratedFailureCountPath"))
            .transpose()?;
        let tolerated_percentage = spec
            .tolerated_percentage
            .as_ref()
            .map(|d| {
                let field = "ToleratedFailurePercentagePath";
                resolve(d, field, "float", Value::as_f64, effective, sc)
            })
            .transpose()?;
        Ok(Self {
            max_concurrency,
            tolerated_count,
            tolerated_percentage,
        })
    }

    /// How many of `items` iterations may run at once.
    fn concurrency(&self, items: usize) -> usize {
        if self.max_concurrency == 0 {
            items.max(1)
        } else {
            self.max_concurrency as usize
        }
    }

    /// Whether failed iterations become outputs instead of failing the Map.
    fn tolerates_failures(&self) -> bool {
        self.tolerated_count.is_some() || self.tolerated_percentage.is_some()
    }

    /// The limits of a Distributed Map, which tolerates no failure unless
    /// it says otherwise: AWS's default ToleratedFailurePercentage is 0.
    pub(super) fn strict_by_default(self) -> Self {
        if self.tolerates_failures() {
            return self;
        }
        Self {
            tolerated_count: Some(0),
            ..self
        }
    }

    /// Whether `failures` of `count` iterations are more than tolerated.
    /// With both a count and a percentage, both must be exceeded.
    pub(super) fn exceeded(&self, failures: usize, count: usize) -> bool {
        let over_count = self.tolerated_count.is_some_and(|c| failures as u64 > c);
        let over_percentage = self
            .tolerated_percentage
            .is_some_and(|p| count > 0 && failures as f64 * 100.0 / count as f64 > p);
        match (self.tolerated_count, self.tolerated_percentage) {
            (Some(_), Some(_)) => over_count && over_percentage,
            _ => over_count || over_percentage,
        }
    }
}

/// A limit given directly or read by its `*Path` (`field`), which must
/// give a valid `kind` of number.
pub(super) fn resolve<T: Copy>(
    value: &Dynamic<T>,
    field: &str,
    kind: &str,
    read: fn(&Value) -> Option<T>,
    effective: &Value,
    sc: &StateContext<'_>,
) -> Result<T, Failure> {
    match value {
        Dynamic::Fixed(n) => Ok(*n),
        Dynamic::Path(p) => {
            let found = sc.select(&Some(p.clone()), effective)?;
            read(&found).ok_or_else(|| not_valid(field, &found, kind, p, sc))
        }
    }
}

/// AWS: "The MaxConcurrencyPath field refers to value "NoNumber" which is
/// not a valid integer: $.MaxConcurrencyValue".
fn not_valid(
    field: &str,
    value: &Value,
    kind: &str,
    path: &Path,
    sc: &StateContext<'_>,
) -> Failure {
    sc.runtime_failure(&format!(
        "The {field} field refers to value \"{}\" which is not a valid {kind}: {}",
        crate::unquoted(value),
        path.text()
    ))
}

/// The items ItemsPath selects, which must be an array.
pub(super) fn items(
    spec: &MapSpec,
    effective: &Value,
    sc: &StateContext<'_>,
) -> Result<Vec<Value>, Failure> {
    let path = &spec.items_path;
    match path.select(effective, sc.context()) {
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(sc.runtime_failure(&format!(
            "Unable to apply ItemsPath '{}': the ItemsPath field must point to a JSON array, not {other}",
            path.text()
        ))),
        None => Err(sc.runtime_failure(&format!(
            "Invalid path '{}' : No results for path: {}",
            path.text(),
            path.normalized()
        ))),
    }
}

/// What the iterations of one Map visit share.
struct MapRun<'a> {
    state: &'a State,
    spec: &'a MapSpec,
    effective: &'a Value,
    sc: &'a StateContext<'a>,
    /// One permit per iteration allowed to run at once.
    permits: Semaphore,
    /// The `MapIterationStarted` event of every iteration still running,
    /// so that a failure can record the others as aborted.
    running: Mutex<HashMap<usize, u64>>,
}

impl MapRun<'_> {
    fn running(&self) -> MutexGuard<'_, HashMap<usize, u64>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Run {
    pub(super) async fn run_map(
        &self,
        state: &State,
        spec: &MapSpec,
        effective: &Value,
        thread: &mut Thread,
        sc: &StateContext<'_>,
    ) -> Result<Value, Failure> {
        if let Some(distributed) = &spec.distributed {
            // Boxed: the Map Run's future is large, and inline it would
            // grow every state's future.
            let run = self.run_distributed_map(state, spec, distributed, effective, thread, sc);
            return Box::pin(run).await;
        }
        let items = items(spec, effective, sc)?;
        let limits = MapLimits::resolve(spec, effective, sc)?;
        self.record(
            thread,
            "MapStateStarted",
            Some(json!({"length": items.len()})),
        );
        let map = MapRun {
            state,
            spec,
            effective,
            sc,
            permits: Semaphore::new(limits.concurrency(items.len())),
            running: Mutex::default(),
        };
        let started = thread.clone();
        let iterations = items
            .into_iter()
            .enumerate()
            .map(|(index, item)| self.run_iteration(&map, index, item, started.clone()));
        if limits.tolerates_failures() {
            let done = futures::future::join_all(iterations).await;
            return self.end_tolerant_map(done, &limits, thread);
        }
        match all_or_first_failure(iterations, thread).await {
            Ok(outputs) => {
                self.record(thread, "MapStateSucceeded", None);
                Ok(Value::Array(outputs))
            }
            Err(failure) => {
                self.record_aborted(&map, thread);
                self.record(thread, "MapStateFailed", None);
                Err(branch_failure(failure))
            }
        }
    }

    /// One iteration, on its own thread, once a permit lets it run.
    async fn run_iteration(
        &self,
        map: &MapRun<'_>,
        index: usize,
        item: Value,
        mut thread: Thread,
    ) -> (Result<Value, Failure>, Thread) {
        let _permit = map
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let input = match &map.spec.item_selector {
            Some(t) => map.sc.for_item(index, item).fill(t, map.effective),
            None => Ok(item),
        };
        let details = json!({"name": map.state.name, "index": index});
        let id = self.record(&mut thread, "MapIterationStarted", Some(details.clone()));
        map.running().insert(index, id);
        let result = match input {
            Ok(input) => {
                self.run_block(&map.spec.processor, input, &mut thread, map.sc.base())
                    .await
            }
            Err(failure) => Err(failure),
        };
        map.running().remove(&index);
        let event = if result.is_ok() {
            "MapIterationSucceeded"
        } else {
            "MapIterationFailed"
        };
        self.record(&mut thread, event, Some(details));
        (result, thread)
    }

    /// With tolerated failures every iteration runs to its end; a failed
    /// one gives its Error Output, and the Map fails only past the limit.
    fn end_tolerant_map(
        &self,
        done: Vec<(Result<Value, Failure>, Thread)>,
        limits: &MapLimits,
        thread: &mut Thread,
    ) -> Result<Value, Failure> {
        let count = done.len();
        let mut failures = 0usize;
        let mut outputs = Vec::with_capacity(count);
        for (result, iteration_thread) in done {
            thread.clock.join(&iteration_thread.clock);
            outputs.push(result.unwrap_or_else(|failure| {
                failures += 1;
                failure.error_output()
            }));
        }
        if limits.exceeded(failures, count) {
            self.record(thread, "MapStateFailed", None);
            return Err(Failure::new(
                "States.ExceedToleratedFailureThreshold",
                Some("The specified tolerated failure threshold was exceeded".to_owned()),
            ));
        }
        self.record(thread, "MapStateSucceeded", None);
        Ok(Value::Array(outputs))
    }

    /// Records `MapIterationAborted` for every iteration still running when
    /// another one failed, each after its own `MapIterationStarted`.
    fn record_aborted(&self, map: &MapRun<'_>, thread: &Thread) {
        let mut aborted: Vec<(usize, u64)> = map.running().drain().collect();
        aborted.sort_unstable();
        for (index, started_id) in aborted {
            let mut aborted_thread = Thread {
                clock: thread.clock.clone(),
                last: started_id,
            };
            self.record(
                &mut aborted_thread,
                "MapIterationAborted",
                Some(json!({"name": map.state.name, "index": index})),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(count: Option<u64>, percentage: Option<f64>) -> MapLimits {
        MapLimits {
            max_concurrency: 0,
            tolerated_count: count,
            tolerated_percentage: percentage,
        }
    }

    #[test]
    fn a_threshold_is_exceeded_only_past_it_and_both_must_be_when_both_are_set() {
        assert!(!limits(Some(1), None).exceeded(1, 4));
        assert!(limits(Some(1), None).exceeded(2, 4));
        assert!(!limits(None, Some(50.0)).exceeded(2, 4));
        assert!(limits(None, Some(50.0)).exceeded(3, 4));
        assert!(!limits(None, Some(0.0)).exceeded(0, 0));
        assert!(!limits(Some(0), Some(50.0)).exceeded(1, 4));
        assert!(limits(Some(0), Some(50.0)).exceeded(3, 4));
    }

    #[test]
    fn a_distributed_map_tolerates_no_failure_unless_told() {
        let strict = limits(None, None).strict_by_default();
        assert!(strict.exceeded(1, 100));
        assert!(!strict.exceeded(0, 100));
        let lenient = limits(None, Some(10.0)).strict_by_default();
        assert!(!lenient.exceeded(10, 100));
        assert!(lenient.exceeded(11, 100));
    }

    #[test]
    fn max_concurrency_zero_runs_every_item_at_once() {
        assert_eq!(limits(None, None).concurrency(7), 7);
        assert_eq!(limits(None, None).concurrency(0), 1);
        let two = MapLimits {
            max_concurrency: 2,
            ..limits(None, None)
        };
        assert_eq!(two.concurrency(7), 2);
        assert!(!two.tolerates_failures());
        assert!(limits(Some(0), None).tolerates_failures());
    }
}
