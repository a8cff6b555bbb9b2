//! The remediate Lambda function's entry point.

use lambda_runtime::{Error, run, service_fn};
use moat_aws::Accounts;
use moat_aws::config::{self, MemberAccess, required_env};
use moat_aws::ec2::Ec2SecurityGroups;
use moat_aws::records::DynamoRecords;
use remediate::{Deps, handler};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let table = required_env("MOAT_TABLE")?;
    let base = config::load().await;
    let deps = Deps {
        records: DynamoRecords::new(moat_aws::dynamodb::Client::new(&base), table),
        groups: Ec2SecurityGroups::new(Accounts::new(
            base,
            MemberAccess::from_env("moat-remediate"),
        )),
        clock: chrono::Utc::now,
    };
    run(service_fn(|event| handler(&deps, event))).await
}
