//! The detect Lambda function's entry point.

use detect::{Deps, handler};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use moat_aws::Accounts;
use moat_aws::config::{self, MemberAccess, optional_env};
use moat_aws::ec2::Ec2SecurityGroups;
use moat_domain::event::SelfIdentity;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let me = SelfIdentity::parse(&optional_env("MOAT_SELF_ROLE_ARNS").unwrap_or_default())
        .map_err(|error| format!("MOAT_SELF_ROLE_ARNS: {error}"))?;
    let accounts = Accounts::new(config::load().await, MemberAccess::from_env("moat-detect"));
    let deps = Deps {
        groups: Ec2SecurityGroups::new(accounts),
        me,
    };
    run(service_fn(|event: LambdaEvent<Value>| {
        handler(&deps, event)
    }))
    .await
}
