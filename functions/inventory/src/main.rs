//! The inventory Lambda function's entry point.

use inventory::{Deps, handler};
use lambda_runtime::{Error, run, service_fn};
use moat_aws::config::{env, required_env};
use moat_aws::ec2::Ec2SecurityGroups;
use moat_aws::metrics::measured;
use moat_aws::records::DynamoRecords;
use moat_aws::reports::S3Reports;
use moat_aws::{Accounts, Aws, MemberAccess};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let table = required_env(env::TABLE)?;
    let bucket = required_env(env::REPORTS_BUCKET)?;
    let aws = Aws::load().await;
    let accounts = Accounts::new(&aws, MemberAccess::from_env("moat-inventory"));
    let deps = Deps {
        groups: Ec2SecurityGroups::new(accounts),
        records: DynamoRecords::new(&aws, table),
        reports: S3Reports::new(&aws, bucket),
    };
    run(service_fn(|event| {
        measured("inventory", handler(&deps, event), |_, _| {})
    }))
    .await
}
