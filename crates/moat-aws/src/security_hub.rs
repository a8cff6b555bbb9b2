//! Importing Moat's findings into AWS Security Hub (`BatchImportFindings`).
//!
//! Security Hub accepts a finding on the account's default product only from
//! the account the finding is about, so each batch is imported with the
//! member account's credentials, in the group's region.

use std::future::Future;

use std::collections::BTreeMap;

use aws_sdk_securityhub::Client;
use aws_sdk_securityhub::types::{
    AwsSecurityFinding, Compliance, ComplianceStatus, Recommendation, RecordState, Remediation,
    Resource, Severity, SeverityLabel, Workflow, WorkflowStatus,
};
use moat_domain::ErrorType;
use moat_domain::security_hub::SecurityHubFinding;

use crate::{Accounts, Error};

/// Security Hub accepts at most 100 findings per call.
const BATCH: usize = 100;

/// Where findings go.
pub trait FindingsSink {
    /// Imports (creates or updates) the findings. A finding Security Hub
    /// rejects is an error naming it, so nothing is silently dropped.
    fn import(
        &self,
        findings: &[SecurityHubFinding],
    ) -> impl Future<Output = Result<(), Error>> + Send;
}

/// [`FindingsSink`] on Security Hub, in whichever account a group is.
#[derive(Debug)]
pub struct SecurityHub {
    accounts: Accounts,
}

impl SecurityHub {
    pub fn new(accounts: Accounts) -> SecurityHub {
        SecurityHub { accounts }
    }
}

impl FindingsSink for SecurityHub {
    async fn import(&self, findings: &[SecurityHubFinding]) -> Result<(), Error> {
        let mut by_place: BTreeMap<(&str, &str), Vec<&SecurityHubFinding>> = BTreeMap::new();
        for finding in findings {
            by_place
                .entry((finding.account.as_str(), finding.region.as_str()))
                .or_default()
                .push(finding);
        }
        for ((account, region), findings) in by_place {
            let client = Client::new(&self.accounts.config_for(account, region).await?);
            import_batches(&client, &findings).await?;
        }
        Ok(())
    }
}

async fn import_batches(client: &Client, findings: &[&SecurityHubFinding]) -> Result<(), Error> {
    for batch in findings.chunks(BATCH) {
        let output = client
            .batch_import_findings()
            .set_findings(Some(batch.iter().map(|finding| to_asff(finding)).collect()))
            .send()
            .await
            .map_err(|error| Error::from_sdk("BatchImportFindings", error))?;
        if let Some(failed) = output.failed_findings().first() {
            return Err(Error::Service {
                operation: "BatchImportFindings",
                code: failed.error_code().unwrap_or("ImportFailed").to_owned(),
                message: format!(
                    "{} of {} findings refused; first {}: {}",
                    output.failed_count().unwrap_or(1),
                    batch.len(),
                    failed.id().unwrap_or("?"),
                    failed.error_message().unwrap_or("no message")
                ),
                error_type: ErrorType::Invalid,
            });
        }
    }
    Ok(())
}

fn to_asff(finding: &SecurityHubFinding) -> AwsSecurityFinding {
    AwsSecurityFinding::builder()
        .schema_version(moat_domain::security_hub::SCHEMA_VERSION)
        .id(&finding.id)
        .product_arn(&finding.product_arn)
        .generator_id(&finding.generator_id)
        .aws_account_id(&finding.account)
        .region(&finding.region)
        .set_types(Some(finding.types.clone()))
        .created_at(&finding.created_at)
        .updated_at(&finding.updated_at)
        .severity(
            Severity::builder()
                .label(SeverityLabel::from(finding.severity_label.as_str()))
                .build(),
        )
        .title(&finding.title)
        .description(&finding.description)
        .resources(
            Resource::builder()
                .r#type("AwsEc2SecurityGroup")
                .id(&finding.resource_arn)
                .partition(finding.partition.as_str().into())
                .region(&finding.region)
                .build(),
        )
        .compliance(
            Compliance::builder()
                .status(ComplianceStatus::from(finding.compliance_status.as_str()))
                .set_related_requirements(Some(finding.related_requirements.clone()))
                .build(),
        )
        .workflow(
            Workflow::builder()
                .status(WorkflowStatus::from(finding.workflow_status.as_str()))
                .build(),
        )
        .record_state(RecordState::Active)
        .remediation(
            Remediation::builder()
                .recommendation(
                    Recommendation::builder()
                        .text(&finding.recommendation)
                        .build(),
                )
                .build(),
        )
        .build()
}
