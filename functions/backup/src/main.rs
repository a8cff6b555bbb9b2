//! The backup Lambda function's entry point.

use backup::{Deps, handler};
use lambda_runtime::{Error, run, service_fn};
use moat_aws::config::{self, required_env};
use moat_aws::records::DynamoRecords;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let table = required_env("MOAT_TABLE")?;
    let dynamodb = moat_aws::dynamodb::Client::new(&config::load().await);
    let deps = Deps {
        records: DynamoRecords::new(dynamodb, table),
        clock: chrono::Utc::now,
    };
    run(service_fn(|event| handler(&deps, event))).await
}
