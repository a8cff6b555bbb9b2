//! CloudWatch metrics in the Embedded Metric Format (EMF): one JSON object
//! per log line, which CloudWatch Logs turns into metrics without a
//! `PutMetricData` call. The functions log one such line per invocation.
//!
//! The names and the namespace are declared here once; the Terraform
//! dashboard reads the same names (a tidy test compares them).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// The CloudWatch namespace of every Moat metric.
pub const NAMESPACE: &str = "Moat";

/// The dimension every metric carries: the function that emitted it.
pub const FUNCTION_DIMENSION: &str = "Function";

/// Every metric a function emits, with its unit.
pub const METRICS: &[(&str, &str)] = &[
    (DURATION, "Milliseconds"),
    (VIOLATIONS_FOUND, "Count"),
    (RULES_REVOKED, "Count"),
    (REMEDIATED, "Count"),
    (ESCALATED, "Count"),
    (GROUPS_JUDGED, "Count"),
];

/// How long a handler took: the latency of one step.
pub const DURATION: &str = "Duration";
/// Judgements with at least one finding.
pub const VIOLATIONS_FOUND: &str = "ViolationsFound";
/// Rules revoked by a remediation.
pub const RULES_REVOKED: &str = "RulesRevoked";
/// Remediations that revoked at least one rule.
pub const REMEDIATED: &str = "Remediated";
/// Escalations published.
pub const ESCALATED: &str = "Escalated";
/// Groups a sweep batch judged.
pub const GROUPS_JUDGED: &str = "GroupsJudged";

/// One invocation's metrics.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Metrics {
    function: String,
    values: BTreeMap<&'static str, f64>,
}

impl Metrics {
    pub fn new(function: &str) -> Metrics {
        Metrics {
            function: function.to_owned(),
            values: BTreeMap::new(),
        }
    }

    /// Sets `name` (one of [`METRICS`]) to `value`.
    pub fn set(&mut self, name: &'static str, value: f64) -> &mut Metrics {
        self.values.insert(name, value);
        self
    }

    /// The EMF line, stamped `timestamp_ms` (milliseconds since the epoch).
    /// Unknown names are left out: a metric no dashboard declares would be
    /// paid for and never seen.
    pub fn to_emf(&self, timestamp_ms: i64) -> String {
        let declared: Vec<Value> = self
            .values
            .keys()
            .filter_map(|name| unit_of(name).map(|unit| json!({"Name": name, "Unit": unit})))
            .collect();
        let mut line = Map::new();
        line.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [[FUNCTION_DIMENSION]],
                    "Metrics": declared,
                }],
            }),
        );
        line.insert(FUNCTION_DIMENSION.into(), json!(self.function));
        for (name, value) in &self.values {
            if unit_of(name).is_some() {
                line.insert((*name).into(), json!(value));
            }
        }
        Value::Object(line).to_string()
    }
}

fn unit_of(name: &str) -> Option<&'static str> {
    METRICS
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, unit)| *unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_declares_each_metric_with_its_unit_under_the_function_dimension() {
        let mut metrics = Metrics::new("remediate");
        metrics
            .set(DURATION, 41.5)
            .set(RULES_REVOKED, 2.0)
            .set("NotAMetric", 1.0);
        let line: Value = serde_json::from_str(&metrics.to_emf(1_764_554_400_000)).unwrap();
        let spec = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(spec["Namespace"], NAMESPACE);
        assert_eq!(spec["Dimensions"], json!([["Function"]]));
        assert_eq!(
            spec["Metrics"],
            json!([{"Name": "Duration", "Unit": "Milliseconds"}, {"Name": "RulesRevoked", "Unit": "Count"}])
        );
        assert_eq!(line["Function"], "remediate");
        assert_eq!(line["RulesRevoked"], 2.0);
        assert!(line.get("NotAMetric").is_none());
        assert_eq!(line["_aws"]["Timestamp"], 1_764_554_400_000_i64);
    }
}
