//! Which region acts: the active-region record, with an epoch that only
//! grows, and what a region may do given the records it can see.
//!
//! Both regions are deployed and both receive every event; only the active
//! one backs up, revokes and announces. The record is kept where both
//! regions read it (the records table, a global table), and a failover
//! writes a higher epoch naming the new region. An old primary that comes
//! back sees the higher epoch and is fenced: it can replay its queue or
//! redrive its executions, and never revoke anything.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Who is active, since when, and by whose command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveRegion {
    pub region: String,
    /// Raised by one at every failover or failback; never lowered.
    pub epoch: u64,
    pub since: DateTime<Utc>,
    /// The operator (or command) that made it so.
    pub by: String,
}

/// What a region may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// No record exists: a single-region deployment, or one from before
    /// fencing. Every region acts, as before.
    Unfenced,
    /// This region is the active one, at this epoch.
    Active { epoch: u64 },
    /// Another region is active: record what was seen, do nothing else.
    Passive { active: ActiveRegion },
}

impl Standing {
    /// Whether this region may back up, revoke and announce.
    pub fn may_act(&self) -> bool {
        !matches!(self, Standing::Passive { .. })
    }
}

/// The standing of `region` given every copy of the record it can read
/// (the table's, the region's own parameter): the highest epoch wins, so a
/// stale copy can never make a fenced region active again.
pub fn standing(region: &str, seen: &[ActiveRegion]) -> Standing {
    match seen.iter().max_by_key(|record| record.epoch) {
        None => Standing::Unfenced,
        Some(record) if record.region == region => Standing::Active {
            epoch: record.epoch,
        },
        Some(record) => Standing::Passive {
            active: record.clone(),
        },
    }
}

/// The record a failover or failback writes: the next epoch, naming `to`.
pub fn next(
    current: Option<&ActiveRegion>,
    to: &str,
    by: &str,
    now: DateTime<Utc>,
) -> ActiveRegion {
    ActiveRegion {
        region: to.to_owned(),
        epoch: current.map_or(1, |record| record.epoch + 1),
        since: now,
        by: by.to_owned(),
    }
}

/// The record a move to `to` writes, given the highest record seen:
/// `current` itself when it names `to` already (a re-run of the same move
/// finds it done and raises nothing), else the next epoch.
pub fn moved_to(
    current: Option<&ActiveRegion>,
    to: &str,
    by: &str,
    now: DateTime<Utc>,
) -> ActiveRegion {
    match current {
        Some(record) if record.region == to => record.clone(),
        _ => next(current, to, by, now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(region: &str, epoch: u64) -> ActiveRegion {
        ActiveRegion {
            region: region.into(),
            epoch,
            since: "2026-12-01T03:00:00Z".parse().unwrap(),
            by: "arn:aws:iam::1:user/oncall".into(),
        }
    }

    #[test]
    fn the_highest_epoch_decides_and_a_stale_copy_never_wins() {
        let seen = [record("us-east-1", 3), record("us-west-2", 4)];
        assert_eq!(standing("us-west-2", &seen), Standing::Active { epoch: 4 });
        let old_primary = standing("us-east-1", &seen);
        assert!(!old_primary.may_act(), "{old_primary:?}");
        assert_eq!(standing("us-east-1", &[]), Standing::Unfenced);
        assert!(Standing::Unfenced.may_act());
    }

    #[test]
    fn a_move_already_made_is_found_made() {
        let now = "2026-12-01T04:00:00Z".parse().unwrap();
        let active = record("us-west-2", 4);
        assert_eq!(moved_to(Some(&active), "us-west-2", "oncall", now), active);
        let back = moved_to(Some(&active), "us-east-1", "oncall", now);
        assert_eq!((back.region.as_str(), back.epoch), ("us-east-1", 5));
        assert_eq!(moved_to(None, "us-east-1", "oncall", now).epoch, 1);
    }

    #[test]
    fn a_failover_raises_the_epoch_by_one() {
        let now = "2026-12-01T04:00:00Z".parse().unwrap();
        let first = next(None, "us-east-1", "setup", now);
        assert_eq!(first.epoch, 1);
        let moved = next(Some(&first), "us-west-2", "oncall", now);
        assert_eq!((moved.region.as_str(), moved.epoch), ("us-west-2", 2));
    }
}
