//! The escalate Lambda function's entry point.

use escalate::{Deps, handler};
use lambda_runtime::{Error, run, service_fn};
use moat_aws::Aws;
use moat_aws::config::{env, required_env};
use moat_aws::metrics::measured;
use moat_aws::publish::SnsPublisher;
use moat_aws::records::DynamoRecords;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let table = required_env(env::TABLE)?;
    let topic_arn = required_env(env::ESCALATION_TOPIC_ARN)?;
    let aws = Aws::load().await;
    let region = aws.region().ok_or("AWS_REGION is not set")?;
    let deps = Deps {
        region,
        claims: DynamoRecords::new(&aws, table),
        publisher: SnsPublisher::new(&aws),
        topic_arn,
        clock: chrono::Utc::now,
    };
    run(service_fn(|event| {
        measured("escalate", handler(&deps, event), escalate::count)
    }))
    .await
}
