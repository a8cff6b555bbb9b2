//! Creates one region's resources in moto from the stack description.
//!
//! Every step is a create that moto (like AWS) answers idempotently or that
//! runs once on a fresh server, so provisioning a fresh moto always ends in
//! the same state.

use aws_config::SdkConfig;
use aws_sdk_dynamodb as dynamodb;
use aws_sdk_s3 as s3;
use aws_sdk_sns as sns;
use aws_sdk_sqs as sqs;
use moat_aws::Aws;
use moat_aws::policy_store::S3PolicySource;

use crate::{ACCOUNT, Error, StackSpec, aws_error};

/// The names, ARNs and URLs of one region's resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources {
    pub policy_bucket: String,
    pub reports_bucket: String,
    pub records_table: String,
    pub notification_topic_arn: String,
    pub escalation_topic_arn: String,
    pub dead_letter_queue_url: String,
    /// Local only: where the EventBridge rule delivers.
    pub event_queue_url: String,
    /// Local only: subscribed to the notification topic.
    pub notification_inbox_url: String,
    /// Local only: subscribed to the escalation topic.
    pub escalation_inbox_url: String,
    /// The central bus the rule listens on (and the archive keeps).
    pub event_bus: String,
    pub event_rule_arn: String,
}

pub(crate) async fn provision(
    spec: &StackSpec,
    config: &SdkConfig,
    region: &str,
) -> Result<Resources, Error> {
    let policy_bucket = create_policy_bucket(spec, config, region).await?;
    let reports_bucket = spec.reports_bucket_in(ACCOUNT, region);
    create_bucket(config, region, &reports_bucket).await?;
    create_records_table(spec, config, region).await?;
    let queues = Queues::new(config, region);
    let (dead_letter_queue_url, _) = queues.create(&spec.dead_letter_queue).await?;
    let (event_queue_url, event_queue_arn) = queues.create(&spec.local.event_queue).await?;
    let topics = Topics::new(config, region);
    let (notification_topic_arn, notification_inbox_url) = topics
        .create_with_inbox(
            &queues,
            &spec.notification_topic,
            &spec.local_inbox_of(&spec.notification_topic),
        )
        .await?;
    let (escalation_topic_arn, escalation_inbox_url) = topics
        .create_with_inbox(
            &queues,
            &spec.escalation_topic,
            &spec.local_inbox_of(&spec.escalation_topic),
        )
        .await?;
    aws_sdk_securityhub::Client::new(config)
        .enable_security_hub()
        .send()
        .await
        .map_err(|error| aws_error("EnableSecurityHub", region, error))?;
    let event_rule_arn = create_event_rule(spec, config, region, event_queue_arn).await?;
    create_role_parameter(spec, config, region).await?;
    Ok(Resources {
        policy_bucket,
        reports_bucket,
        records_table: spec.records_table.clone(),
        notification_topic_arn,
        escalation_topic_arn,
        dead_letter_queue_url,
        event_queue_url,
        notification_inbox_url,
        escalation_inbox_url,
        event_bus: spec.event_bus.clone(),
        event_rule_arn,
    })
}

/// An empty bucket in `region`.
async fn create_bucket(config: &SdkConfig, region: &str, bucket: &str) -> Result<(), Error> {
    let mut create_bucket = s3::Client::new(config).create_bucket().bucket(bucket);
    // us-east-1 is S3's default location and refuses to be named as one.
    if region != "us-east-1" {
        create_bucket = create_bucket.create_bucket_configuration(
            s3::types::CreateBucketConfiguration::builder()
                .location_constraint(s3::types::BucketLocationConstraint::from(region))
                .build(),
        );
    }
    create_bucket
        .send()
        .await
        .map_err(|error| aws_error("CreateBucket", region, error))?;
    Ok(())
}

/// The versioned policy bucket, holding the default policy.
async fn create_policy_bucket(
    spec: &StackSpec,
    config: &SdkConfig,
    region: &str,
) -> Result<String, Error> {
    let policy_bucket = spec.policy_bucket_in(ACCOUNT, region);
    create_bucket(config, region, &policy_bucket).await?;
    let s3_client = s3::Client::new(config);
    s3_client
        .put_bucket_versioning()
        .bucket(&policy_bucket)
        .versioning_configuration(
            s3::types::VersioningConfiguration::builder()
                .status(s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .map_err(|error| aws_error("PutBucketVersioning", region, error))?;
    S3PolicySource::new(&Aws::from_sdk_config(config.clone()))
        .put(
            &policy_bucket,
            &spec.policy_key,
            moat_domain::policy::BUILTIN_JSON,
        )
        .await
        .map_err(|error| aws_error("PutObject", region, error))?;
    Ok(policy_bucket)
}

/// The records table: string keys `pk` and `sk`, as Terraform makes it.
async fn create_records_table(
    spec: &StackSpec,
    config: &SdkConfig,
    region: &str,
) -> Result<(), Error> {
    let key = |name: &str, kind| {
        dynamodb::types::KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .expect("name and key type are set")
    };
    let attribute = |name: &str| {
        dynamodb::types::AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(dynamodb::types::ScalarAttributeType::S)
            .build()
            .expect("name and type are set")
    };
    dynamodb::Client::new(config)
        .create_table()
        .table_name(&spec.records_table)
        .key_schema(key("pk", dynamodb::types::KeyType::Hash))
        .key_schema(key("sk", dynamodb::types::KeyType::Range))
        .attribute_definitions(attribute("pk"))
        .attribute_definitions(attribute("sk"))
        .billing_mode(dynamodb::types::BillingMode::PayPerRequest)
        .send()
        .await
        .map_err(|error| aws_error("CreateTable", region, error))?;
    Ok(())
}

/// Creating SQS queues in one region.
struct Queues<'a> {
    client: sqs::Client,
    region: &'a str,
}

impl<'a> Queues<'a> {
    fn new(config: &SdkConfig, region: &'a str) -> Queues<'a> {
        Queues {
            client: sqs::Client::new(config),
            region,
        }
    }

    /// Creates the queue and gives its URL and ARN.
    async fn create(&self, name: &str) -> Result<(String, String), Error> {
        let url = self
            .client
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .map_err(|error| aws_error("CreateQueue", self.region, error))?
            .queue_url
            .unwrap_or_default();
        let arn = format!("arn:aws:sqs:{}:{ACCOUNT}:{name}", self.region);
        Ok((url, arn))
    }
}

/// Creating SNS topics in one region.
struct Topics<'a> {
    client: sns::Client,
    region: &'a str,
}

impl<'a> Topics<'a> {
    fn new(config: &SdkConfig, region: &'a str) -> Topics<'a> {
        Topics {
            client: sns::Client::new(config),
            region,
        }
    }

    /// Creates the topic and an inbox queue subscribed to it, so that what
    /// Moat announced can be read back; gives the topic's ARN and the
    /// inbox's URL.
    async fn create_with_inbox(
        &self,
        queues: &Queues<'_>,
        topic: &str,
        inbox: &str,
    ) -> Result<(String, String), Error> {
        let (inbox_url, inbox_arn) = queues.create(inbox).await?;
        let topic_arn = self
            .client
            .create_topic()
            .name(topic)
            .send()
            .await
            .map_err(|error| aws_error("CreateTopic", self.region, error))?
            .topic_arn
            .unwrap_or_default();
        self.client
            .subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(inbox_arn)
            .send()
            .await
            .map_err(|error| aws_error("Subscribe", self.region, error))?;
        Ok((topic_arn, inbox_url))
    }
}

/// The central bus member accounts forward to, its archive, and the
/// production rule on it, delivering to the local event queue in place of
/// Step Functions; gives the rule's ARN.
async fn create_event_rule(
    spec: &StackSpec,
    config: &SdkConfig,
    region: &str,
    event_queue_arn: String,
) -> Result<String, Error> {
    let events = aws_sdk_eventbridge::Client::new(config);
    let bus_arn = events
        .create_event_bus()
        .name(&spec.event_bus)
        .send()
        .await
        .map_err(|error| aws_error("CreateEventBus", region, error))?
        .event_bus_arn
        .unwrap_or_default();
    // What a failover replays: every event the bus received, as the
    // central module's archive keeps them.
    events
        .create_archive()
        .archive_name(&spec.event_archive)
        .event_source_arn(bus_arn)
        .send()
        .await
        .map_err(|error| aws_error("CreateArchive", region, error))?;
    let event_rule_arn = events
        .put_rule()
        .name(&spec.event_rule)
        .event_bus_name(&spec.event_bus)
        .event_pattern(spec.event_pattern()?)
        .state(aws_sdk_eventbridge::types::RuleState::Enabled)
        .description("Security-group changes from CloudTrail, except Moat's own")
        .send()
        .await
        .map_err(|error| aws_error("PutRule", region, error))?
        .rule_arn
        .unwrap_or_default();
    events
        .put_targets()
        .rule(&spec.event_rule)
        .event_bus_name(&spec.event_bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("moat-local-executor")
                .arn(event_queue_arn)
                .build()
                .expect("id and arn are set"),
        )
        .send()
        .await
        .map_err(|error| aws_error("PutTargets", region, error))?;
    Ok(event_rule_arn)
}

/// The region's role parameter, as the central module creates it: the
/// primary starts `active`, the other `passive`. Only the failover
/// commands change it afterwards.
async fn create_role_parameter(
    spec: &StackSpec,
    config: &SdkConfig,
    region: &str,
) -> Result<(), Error> {
    let role = if region == spec.regions.primary {
        "active"
    } else {
        "passive"
    };
    aws_sdk_ssm::Client::new(config)
        .put_parameter()
        .name(&spec.active_region_parameter)
        .value(role)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .map_err(|error| aws_error("PutParameter", region, error))?;
    Ok(())
}
