//! The evaluate Lambda function's entry point.

use evaluate::{Deps, handle};
use lambda_runtime::{Error, run, service_fn};
use moat_aws::Aws;
use moat_aws::config::{env, required_env};
use moat_aws::metrics::measured;
use moat_aws::policy_store::S3PolicySource;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let bucket = required_env(env::POLICY_BUCKET)?;
    let key = required_env(env::POLICY_KEY)?;
    let source = S3PolicySource::new(&Aws::load().await);
    let deps = Deps::new(source, bucket, key, chrono::Utc::now);
    run(service_fn(|event| {
        measured("evaluate", handle(&deps, event), evaluate::count)
    }))
    .await
}
