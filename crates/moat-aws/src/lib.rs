//! Moat's AWS adapter: the only way production code reaches AWS.
//!
//! Each need of the functions is a small trait (read and change security
//! groups, store records, claim a message before publishing it, publish,
//! import Security Hub findings, read policies) with one implementation
//! here on the SDK. This crate builds every client from an [`Aws`]
//! configuration and exports no SDK type, so the functions depend on no SDK
//! crate (a tidy test checks both). Functions are generic over the traits,
//! so their logic is tested with the in-memory fakes of `moat-memory`, and
//! these implementations are tested against moto. Every SDK failure becomes
//! an [`Error`] with a stable [`moat_domain::ErrorType`] the state machine
//! matches on.

pub mod config;
pub mod ec2;
pub mod error;
pub mod fencing;
pub mod inventory;
pub mod metrics;
pub mod policy_store;
pub mod publish;
pub mod records;
pub mod reports;
pub mod security_hub;

pub use config::{Accounts, Aws, MemberAccess};
pub use error::Error;

/// Implements `From<$error> for lambda_runtime::Diagnostic` for a function's
/// error enum, so Lambda reports the stable error type (`error_type()`) as
/// `errorType` and the error's message as `errorMessage`. The state machine
/// matches on `errorType`. Expands in the function crate, which depends on
/// `lambda_runtime`; this crate does not.
#[macro_export]
macro_rules! lambda_diagnostic {
    ($error:ty) => {
        impl From<$error> for lambda_runtime::Diagnostic {
            fn from(error: $error) -> Self {
                lambda_runtime::Diagnostic {
                    error_type: error.error_type().as_str().to_owned(),
                    error_message: error.to_string(),
                }
            }
        }
    };
}
