//! Moat's AWS adapter: the only crate that speaks the AWS SDK.
//!
//! Each need of the functions is a small trait (read and change security
//! groups, store records, publish, import Security Hub findings, fetch
//! policies) with one implementation here on the SDK. Functions are generic
//! over the traits, so their logic can be tested with in-memory fakes, and
//! these implementations are tested against moto. Every SDK failure becomes an [`Error`] with a stable
//! [`moat_domain::ErrorType`] the state machine matches on.

pub mod config;
pub mod ec2;
pub mod error;
pub mod memory;
pub mod policy_store;
pub mod publish;
pub mod records;
pub mod security_hub;

pub use config::{Accounts, MemberAccess};
pub use error::Error;

pub use aws_config::SdkConfig;
pub use aws_sdk_dynamodb as dynamodb;
pub use aws_sdk_ec2 as ec2_sdk;
pub use aws_sdk_s3 as s3;
pub use aws_sdk_securityhub as securityhub;
pub use aws_sdk_sns as sns;
pub use aws_sdk_sqs as sqs;

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
