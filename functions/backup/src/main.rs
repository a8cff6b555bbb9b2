//! The backup Lambda function's entry point.

use backup::{Deps, handler};
use lambda_runtime::{Error, run, service_fn};
use moat_aws::Aws;
use moat_aws::config::{env, required_env};
use moat_aws::metrics::measured;
use moat_aws::records::DynamoRecords;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let table = required_env(env::TABLE)?;
    let aws = Aws::load().await;
    let region = aws.region().ok_or("AWS_REGION is not set")?;
    let deps = Deps {
        records: DynamoRecords::new(&aws, table),
        region,
        clock: chrono::Utc::now,
    };
    run(service_fn(|event| {
        measured("backup", handler(&deps, event), |_, _| {})
    }))
    .await
}
