//! The remediate Lambda function's entry point.

use lambda_runtime::{Error, run, service_fn};
use moat_aws::config::{MemberAccess, env, required_env};
use moat_aws::ec2::Ec2SecurityGroups;
use moat_aws::metrics::measured;
use moat_aws::records::DynamoRecords;
use moat_aws::{Accounts, Aws};
use remediate::{Deps, handler};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let table = required_env(env::TABLE)?;
    let aws = Aws::load().await;
    let region = aws.region().ok_or("AWS_REGION is not set")?;
    let deps = Deps {
        region,
        records: DynamoRecords::new(&aws, table),
        groups: Ec2SecurityGroups::new(Accounts::new(
            &aws,
            MemberAccess::from_env("moat-remediate"),
        )),
        clock: chrono::Utc::now,
    };
    run(service_fn(|event| {
        measured("remediate", handler(&deps, event), remediate::count)
    }))
    .await
}
