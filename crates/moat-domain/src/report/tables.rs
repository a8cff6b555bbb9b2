//! The two reference tables the daily report is computed with, compiled in:
//! which compliance requirements each Security Hub control maps to
//! (`policies/frameworks.json`) and what each unit of usage costs
//! (`infra/pricing.json`).
//!
//! Both are files rather than code so that a person can check every figure
//! against the page it was copied from, which each file names.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// `policies/frameworks.json`, as shipped.
pub const FRAMEWORKS_JSON: &str = include_str!("../../../../policies/frameworks.json");

/// `infra/pricing.json`, as shipped.
pub const PRICING_JSON: &str = include_str!("../../../../infra/pricing.json");

/// Where a table's figures were copied from.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceRef {
    pub title: String,
    pub url: String,
    /// The day the page was read.
    pub read: Option<NaiveDate>,
}

/// The control-to-framework table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Frameworks {
    pub source: SourceRef,
    pub fsbp_source: SourceRef,
    pub controls: BTreeMap<String, ControlMapping>,
}

/// What one Security Hub control maps to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ControlMapping {
    pub title: String,
    /// Whether AWS counts the control in its FSBP standard.
    pub fsbp: bool,
    /// The PCI DSS v3.2.1 requirements AWS lists for it; empty when AWS
    /// lists none.
    #[serde(rename = "pciDss321")]
    pub pci_dss_321: Vec<String>,
}

impl Frameworks {
    /// The shipped table.
    pub fn builtin() -> &'static Frameworks {
        static TABLE: OnceLock<Frameworks> = OnceLock::new();
        // A unit test parses the shipped file, so this cannot fail in a
        // build whose tests passed.
        TABLE.get_or_init(|| {
            serde_json::from_str(FRAMEWORKS_JSON).expect("policies/frameworks.json parses")
        })
    }

    /// The mapping of a control id such as `EC2.13`, if the table has it.
    pub fn control(&self, control: &str) -> Option<&ControlMapping> {
        self.controls.get(control)
    }
}

/// The price table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pricing {
    pub as_of: NaiveDate,
    pub region: String,
    pub currency: String,
    pub prices: Prices,
}

/// One price per usage figure of [`super::Usage`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Prices {
    pub state_transitions: Price,
    pub lambda_requests: Price,
    pub lambda_gb_seconds: Price,
    pub dynamodb_read_requests: Price,
    pub dynamodb_write_requests: Price,
    pub s3_get_requests: Price,
    pub s3_put_requests: Price,
}

/// `usd` dollars per `per` units.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Price {
    pub label: String,
    pub usd: f64,
    pub per: f64,
    pub source: String,
}

impl Pricing {
    /// The shipped table.
    pub fn builtin() -> &'static Pricing {
        static TABLE: OnceLock<Pricing> = OnceLock::new();
        // As for the frameworks: a unit test parses the shipped file.
        TABLE.get_or_init(|| serde_json::from_str(PRICING_JSON).expect("infra/pricing.json parses"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_mapping_parses_and_covers_the_reported_controls() {
        let table: Frameworks = serde_json::from_str(FRAMEWORKS_JSON).unwrap();
        for control in super::super::REPORTED_CONTROLS {
            assert!(table.control(control).is_some(), "{control} is not mapped");
        }
        assert_eq!(
            table.control("EC2.13").unwrap().pci_dss_321,
            ["1.2.1", "1.3.1", "2.2.2"]
        );
        assert!(table.control("EC2.2").unwrap().fsbp);
        assert!(!table.control("EC2.13").unwrap().fsbp);
        assert!(table.source.url.starts_with("https://docs.aws.amazon.com/"));
    }

    #[test]
    fn the_shipped_prices_parse_and_are_positive() {
        let pricing: Pricing = serde_json::from_str(PRICING_JSON).unwrap();
        let prices = &pricing.prices;
        for price in [
            &prices.state_transitions,
            &prices.lambda_requests,
            &prices.lambda_gb_seconds,
            &prices.dynamodb_read_requests,
            &prices.dynamodb_write_requests,
            &prices.s3_get_requests,
            &prices.s3_put_requests,
        ] {
            assert!(price.usd > 0.0 && price.per >= 1.0, "{}", price.label);
            assert!(
                price.source.starts_with("https://aws.amazon.com/"),
                "{}",
                price.label
            );
        }
        let per_transition = prices.state_transitions.usd / prices.state_transitions.per;
        assert!(
            (per_transition - 0.000025).abs() < 1e-15,
            "{per_transition}"
        );
        assert_eq!(pricing.region, "us-east-1");
    }
}
