//! The report Lambda function's entry point.

use lambda_runtime::{Error, run, service_fn};
use moat_aws::Aws;
use moat_aws::config::{env, required_env};
use moat_aws::metrics::measured;
use moat_aws::records::DynamoRecords;
use moat_aws::reports::S3Reports;
use report::{Deps, handler};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let table = required_env(env::TABLE)?;
    let bucket = required_env(env::REPORTS_BUCKET)?;
    let aws = Aws::load().await;
    let deps = Deps {
        reports: S3Reports::new(&aws, bucket),
        records: DynamoRecords::new(&aws, table),
        clock: chrono::Utc::now,
    };
    run(service_fn(|event| {
        measured("report", handler(&deps, event), |_, _| {})
    }))
    .await
}
