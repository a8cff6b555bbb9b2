//! Emits a function's [`Metrics`] as one EMF line on stdout, where Lambda
//! sends it to CloudWatch Logs and CloudWatch extracts the metrics. No
//! client and no call: a metric never delays or fails an invocation.

use std::future::Future;
use std::time::Instant;

use moat_domain::metrics::{DURATION, Metrics};

/// Prints `metrics` as one EMF line, stamped now.
pub fn emit(metrics: &Metrics) {
    let now = chrono::Utc::now().timestamp_millis();
    println!("{}", metrics.to_emf(now));
}

/// Runs a handler and emits its duration with whatever `count` reads from
/// its outcome (the step's own figures: violations, rules revoked, ...).
pub async fn measured<T, E, F>(
    function: &str,
    handler: F,
    count: impl FnOnce(&Result<T, E>, &mut Metrics),
) -> Result<T, E>
where
    F: Future<Output = Result<T, E>>,
{
    let started = Instant::now();
    // Boxed: inline, the handler's future nests inside this one and the
    // runtime's, past the compiler's query depth limit for the layout.
    let outcome = Box::pin(handler).await;
    let mut metrics = Metrics::new(function);
    metrics.set(DURATION, started.elapsed().as_secs_f64() * 1000.0);
    count(&outcome, &mut metrics);
    emit(&metrics);
    outcome
}
