//! The detect Lambda function's entry point.

use detect::{Deps, handler};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use moat_aws::config::{MemberAccess, env, required_env};
use moat_aws::ec2::Ec2SecurityGroups;
use moat_aws::metrics::measured;
use moat_aws::{Accounts, Aws};
use moat_domain::event::SelfIdentity;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    // Required, and never empty: without its own roles Moat would judge its
    // own revokes and react to them.
    let me = SelfIdentity::parse(&required_env(env::SELF_ROLE_ARNS)?)
        .map_err(|error| format!("{}: {error}", env::SELF_ROLE_ARNS))?;
    let accounts = Accounts::new(&Aws::load().await, MemberAccess::from_env("moat-detect"));
    let deps = Deps {
        groups: Ec2SecurityGroups::new(accounts),
        me,
    };
    run(service_fn(|event: LambdaEvent<Value>| {
        measured("detect", handler(&deps, event), |_, _| {})
    }))
    .await
}
