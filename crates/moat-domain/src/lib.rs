//! Moat's domain: what a security-group change is, what a group looks like,
//! how policy judges it, what to revoke, and what to record and announce.
//!
//! This crate is pure. It never calls AWS, never does I/O and never reads the
//! clock: time comes in as an argument. That keeps every decision Moat makes
//! testable with plain unit tests, and keeps the functions thin.

pub mod arn;
pub mod describe;
pub mod error;
pub mod evaluation;
pub mod event;
pub mod fencing;
pub mod metrics;
pub mod notification;
pub mod plan;
pub mod policy;
pub mod records;
pub mod report;
pub mod security_hub;
pub mod snapshot;
pub mod sweep;
pub mod undo;

pub use error::{Error, ErrorType};
