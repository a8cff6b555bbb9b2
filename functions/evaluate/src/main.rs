//! The evaluate Lambda function's entry point.

use evaluate::{Deps, handler};
use lambda_runtime::{Error, run, service_fn};
use moat_aws::config::{self, optional_env, required_env};
use moat_aws::policy_store::S3PolicySource;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let bucket = required_env("MOAT_POLICY_BUCKET")?;
    let key = optional_env("MOAT_POLICY_KEY").unwrap_or_else(|| "policy.json".to_owned());
    let s3 = moat_aws::s3::Client::new(&config::load().await);
    let deps = Deps::new(S3PolicySource::new(s3), bucket, key, chrono::Utc::now);
    run(service_fn(|event| handler(&deps, event))).await
}
