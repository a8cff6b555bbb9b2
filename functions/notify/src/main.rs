//! The notify Lambda function's entry point.

use lambda_runtime::{Error, run, service_fn};
use moat_aws::config::{MemberAccess, env, optional_env, required_env};
use moat_aws::metrics::measured;
use moat_aws::publish::SnsPublisher;
use moat_aws::records::DynamoRecords;
use moat_aws::security_hub::SecurityHub;
use moat_aws::{Accounts, Aws};
use notify::{Deps, handler};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let table = required_env(env::TABLE)?;
    let topic_arn = required_env(env::TOPIC_ARN)?;
    let security_hub = match optional_env(env::SECURITY_HUB).as_deref() {
        None | Some("enabled") => true,
        Some("disabled") => false,
        Some(other) => {
            return Err(format!(
                "{} must be enabled or disabled, not `{other}`",
                env::SECURITY_HUB
            )
            .into());
        }
    };
    let aws = Aws::load().await;
    let region = aws.region().ok_or("AWS_REGION is not set")?;
    let deps = Deps {
        region,
        records: DynamoRecords::new(&aws, table),
        publisher: SnsPublisher::new(&aws),
        topic_arn,
        findings: security_hub
            .then(|| SecurityHub::new(Accounts::new(&aws, MemberAccess::from_env("moat-notify")))),
        clock: chrono::Utc::now,
    };
    run(service_fn(|event| {
        measured("notify", handler(&deps, event), |_, _| {})
    }))
    .await
}
