//! Exemptions: a tag on the group that names policy rules it may break until
//! a date.
//!
//! The tag (key `moat:exempt` unless the policy names another) holds entries
//! `<rule-id>:<YYYY-MM-DD>`, separated by commas or spaces, for example
//! `ec2-13-ssh-open:2026-12-31, ec2-19-high-risk-ports:2026-06-30`. Spaces
//! are accepted as separators because some AWS services do not allow commas
//! in tag values. An exemption holds through the whole of its date (UTC) and
//! is expired from the next day on.
//!
//! Every entry must carry a date: an exemption that never ends is a policy
//! change, not an exemption. An entry that cannot be read exempts nothing
//! (Moat fails closed) and is reported, so the group's owner learns that the
//! exemption they think they have does not exist.
//!
//! How far a readable entry is trusted is the policy's business and is
//! applied by the engine: at most `exemptions.maxDays` from the evaluation
//! day, and, with `exemptions.allowedTaggers`, only from a known tagger.

use chrono::NaiveDate;

/// The `policyRuleId` of the finding that reports unreadable exemption
/// entries; it is not a rule of any policy.
pub const EXEMPTION_PROBLEM_RULE_ID: &str = "moat-exemption-tag";

/// One readable exemption entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exemption {
    pub rule_id: String,
    pub until: NaiveDate,
    /// The date as written on the tag, for reports.
    pub until_text: String,
}

impl Exemption {
    /// Whether the exemption still holds on `today`.
    pub fn holds_on(&self, today: NaiveDate) -> bool {
        today <= self.until
    }
}

/// One entry of the tag value, readable or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExemptionEntry {
    Valid(Exemption),
    Invalid { entry: String, reason: String },
}

/// Reads a tag value; never fails, because a bad tag must not stop the
/// evaluation of the rest of the group.
pub fn parse_exemption_tag(value: &str) -> Vec<ExemptionEntry> {
    value
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|entry| !entry.is_empty())
        .map(parse_entry)
        .collect()
}

fn parse_entry(entry: &str) -> ExemptionEntry {
    let invalid = |reason: &str| ExemptionEntry::Invalid {
        entry: entry.to_owned(),
        reason: reason.to_owned(),
    };
    let Some((rule_id, date)) = entry.split_once(':') else {
        return invalid("has no expiry date (write <rule-id>:<YYYY-MM-DD>)");
    };
    if rule_id.is_empty() {
        return invalid("names no rule");
    }
    // `%Y-%m-%d` alone would accept `2026-1-5`; insisting on the full
    // ten-character form keeps tags unambiguous when people read them.
    match NaiveDate::parse_from_str(date, "%Y-%m-%d") {
        Ok(until) if date.len() == 10 => ExemptionEntry::Valid(Exemption {
            rule_id: rule_id.to_owned(),
            until,
            until_text: date.to_owned(),
        }),
        _ => invalid("has an expiry that is not a date YYYY-MM-DD"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn reads_entries_separated_by_commas_or_spaces() {
        let entries =
            parse_exemption_tag(" ec2-13-ssh-open:2026-12-31,ec2-19:2026-06-30  other:2025-01-01 ");
        let ids: Vec<String> = entries
            .iter()
            .map(|entry| match entry {
                ExemptionEntry::Valid(exemption) => {
                    format!("{}@{}", exemption.rule_id, exemption.until)
                }
                ExemptionEntry::Invalid { entry, .. } => format!("invalid {entry}"),
            })
            .collect();
        assert_eq!(
            ids,
            [
                "ec2-13-ssh-open@2026-12-31",
                "ec2-19@2026-06-30",
                "other@2025-01-01"
            ]
        );
    }

    #[test]
    fn unreadable_entries_are_kept_with_a_reason() {
        for bad in [
            "ec2-13",
            ":2026-01-01",
            "ec2-13:2026-13-01",
            "ec2-13:2026-1-5",
            "ec2-13:tomorrow",
        ] {
            assert!(
                matches!(
                    parse_exemption_tag(bad).as_slice(),
                    [ExemptionEntry::Invalid { .. }]
                ),
                "{bad} should be invalid"
            );
        }
        assert!(parse_exemption_tag("  , ").is_empty());
    }

    #[test]
    fn an_exemption_holds_through_its_last_day() {
        let ExemptionEntry::Valid(exemption) = parse_entry("r:2026-12-31") else {
            panic!("valid entry")
        };
        assert!(exemption.holds_on(date("2026-12-30")));
        assert!(exemption.holds_on(date("2026-12-31")));
        assert!(!exemption.holds_on(date("2027-01-01")));
    }
}
