//! The fence every acting function checks: the active-region record in
//! the records table, read before anything is backed up, revoked or
//! announced. `moat_domain::fencing` decides; this reads.

use moat_domain::fencing::{Standing, standing};

use crate::Error;
use crate::records::ActiveRegions;

/// This region's standing now.
pub async fn standing_of<R: ActiveRegions>(records: &R, region: &str) -> Result<Standing, Error> {
    let seen: Vec<_> = records.active_region().await?.into_iter().collect();
    Ok(standing(region, &seen))
}

/// `Ok` when `region` may act, `Error::Fenced` (type `Fenced`, never
/// retried) when another region is active.
pub async fn ensure_active<R: ActiveRegions>(records: &R, region: &str) -> Result<(), Error> {
    match standing_of(records, region).await? {
        Standing::Passive { active } => {
            tracing::warn!(region, active = %active.region, epoch = active.epoch, "fenced");
            Err(Error::Fenced {
                region: region.to_owned(),
                active: active.region,
                epoch: active.epoch,
            })
        }
        Standing::Active { .. } | Standing::Unfenced => Ok(()),
    }
}
