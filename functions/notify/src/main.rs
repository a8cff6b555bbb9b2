//! The notify Lambda function's entry point.

use lambda_runtime::{Error, run, service_fn};
use moat_aws::Accounts;
use moat_aws::config::{self, MemberAccess, optional_env, required_env};
use moat_aws::publish::SnsPublisher;
use moat_aws::records::DynamoRecords;
use moat_aws::security_hub::SecurityHub;
use notify::{Deps, handler};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let table = required_env("MOAT_TABLE")?;
    let topic_arn = required_env("MOAT_TOPIC_ARN")?;
    let security_hub = match optional_env("MOAT_SECURITY_HUB").as_deref() {
        None | Some("enabled") => true,
        Some("disabled") => false,
        Some(other) => {
            return Err(
                format!("MOAT_SECURITY_HUB must be enabled or disabled, not `{other}`").into(),
            );
        }
    };
    let base = config::load().await;
    let deps = Deps {
        records: DynamoRecords::new(moat_aws::dynamodb::Client::new(&base), table),
        publisher: SnsPublisher::new(moat_aws::sns::Client::new(&base)),
        topic_arn,
        findings: security_hub.then(|| {
            SecurityHub::new(Accounts::new(
                base.clone(),
                MemberAccess::from_env("moat-notify"),
            ))
        }),
        clock: chrono::Utc::now,
    };
    run(service_fn(|event| handler(&deps, event))).await
}
