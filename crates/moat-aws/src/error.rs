//! The adapter's error enum, and the one place that decides which stable
//! [`ErrorType`] an AWS failure becomes.
//!
//! The state machine retries `Throttled` and `Retryable` and sends the rest
//! to a person, so this mapping decides what is retried in production: a
//! code that lands in the wrong bucket either hammers AWS or gives up on a
//! blip. Unknown client errors are `Invalid` (not retried), unknown server
//! errors `Retryable`.

use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use moat_domain::ErrorType;
use moat_domain::error::display_chain;

/// Error codes AWS uses for "slow down", across the services Moat calls.
const THROTTLED: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequests",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceededException",
    "SlowDown",
    "BandwidthLimitExceeded",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// Error codes for a transient fault on AWS's side.
const RETRYABLE: &[&str] = &[
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "InternalServiceError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "Unavailable",
    "RequestTimeout",
    "RequestTimeoutException",
    "IDPCommunicationError",
    "TransactionInProgressException",
];

/// Error codes for "that thing does not exist".
const NOT_FOUND: &[&str] = &[
    "InvalidGroup.NotFound",
    "InvalidGroupId.NotFound",
    "InvalidSecurityGroupRuleId.NotFound",
    "InvalidPermission.NotFound",
    "InvalidPrefixListID.NotFound",
    "InvalidPrefixListId.NotFound",
    "NoSuchKey",
    "NoSuchBucket",
    "NoSuchVersion",
    "NotFound",
    "NotFoundException",
    "ResourceNotFoundException",
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
];

/// Error codes for "you may not".
const ACCESS_DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AuthFailure",
    "AuthorizationError",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
];

/// Everything the adapter can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// AWS answered with an error.
    #[error("{operation} failed with {code}: {message}")]
    Service {
        operation: &'static str,
        code: String,
        message: String,
        error_type: ErrorType,
    },
    /// AWS could not be reached or did not answer in time.
    #[error("{operation} did not reach AWS: {message}")]
    Transport {
        operation: &'static str,
        message: String,
    },
    /// A required setting is missing or malformed.
    #[error("configuration: {0}")]
    Config(String),
    /// Something Moat stored cannot be read back.
    #[error("stored {what} at {key} is unreadable: {message}")]
    Corrupt {
        what: &'static str,
        key: String,
        message: String,
    },
    /// Another region is active: this one must not act.
    #[error("{region} is fenced: {active} is the active region at epoch {epoch}; nothing was done")]
    Fenced {
        region: String,
        active: String,
        epoch: u64,
    },
    /// A claim on a message is held by another run that has not finished.
    #[error("{key} is being published by another run; try again")]
    ClaimBusy { key: String },
    #[error(transparent)]
    Domain(#[from] moat_domain::Error),
}

impl Error {
    /// The stable name the state machine matches on.
    pub fn error_type(&self) -> ErrorType {
        match self {
            Error::Service { error_type, .. } => *error_type,
            Error::Transport { .. } => ErrorType::Retryable,
            Error::ClaimBusy { .. } => ErrorType::Busy,
            Error::Fenced { .. } => ErrorType::Fenced,
            Error::Config(_) => ErrorType::Config,
            Error::Corrupt { .. } => ErrorType::Invalid,
            Error::Domain(error) => error.error_type(),
        }
    }

    /// The AWS error code, when AWS gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Service { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether AWS said the thing does not exist.
    pub fn is_not_found(&self) -> bool {
        self.error_type() == ErrorType::NotFound
    }

    /// Converts any SDK error, naming the operation that failed.
    pub fn from_sdk<E>(operation: &'static str, error: SdkError<E, HttpResponse>) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        match &error {
            SdkError::ServiceError(context) => {
                let status = context.raw().status().as_u16();
                let service_error = context.err();
                let code = service_error.code().unwrap_or("Unknown").to_owned();
                let message = service_error
                    .message()
                    .map(str::to_owned)
                    .unwrap_or_else(|| service_error.to_string());
                Error::Service {
                    error_type: classify(&code, status),
                    operation,
                    code,
                    message,
                }
            }
            SdkError::DispatchFailure(failure) if !(failure.is_io() || failure.is_timeout()) => {
                credentials_failure(operation, &error)
            }
            SdkError::ResponseError(_)
            | SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_) => Error::Transport {
                operation,
                message: display_chain(&error),
            },
            // Construction failures are our bug or our configuration
            // (a missing region, say): retrying will not help.
            _ => Error::Config(format!("{operation}: {}", display_chain(&error))),
        }
    }
}

/// A request that failed before it was sent, which is where resolving
/// credentials fails: a member role Moat may not assume is `AccessDenied`, a
/// missing or broken credential setting is `Config`, and only the rest is
/// worth retrying.
fn credentials_failure(
    operation: &'static str,
    error: &(dyn std::error::Error + 'static),
) -> Error {
    use aws_credential_types::provider::error::CredentialsError;
    use aws_sdk_sts::operation::assume_role::AssumeRoleError;

    let message = display_chain(error);
    let mut source = error.source();
    while let Some(inner) = source {
        if let Some(sts) = inner.downcast_ref::<SdkError<AssumeRoleError, HttpResponse>>()
            && let Some(code) = sts.code()
        {
            let status = sts.raw_response().map_or(400, |raw| raw.status().as_u16());
            return Error::Service {
                operation,
                code: code.to_owned(),
                message: format!("assuming the member role failed: {message}"),
                error_type: classify(code, status),
            };
        }
        match inner.downcast_ref::<CredentialsError>() {
            Some(
                CredentialsError::InvalidConfiguration(_)
                | CredentialsError::CredentialsNotLoaded(_),
            ) => {
                return Error::Config(format!("{operation}: no usable credentials: {message}"));
            }
            Some(CredentialsError::ProviderTimedOut(_)) => {
                return Error::Transport { operation, message };
            }
            _ => {}
        }
        source = inner.source();
    }
    Error::Transport { operation, message }
}

/// Maps an AWS error code (and HTTP status, for codes we do not know) to a
/// stable error type. Together with `credentials_failure` for failures
/// before a request is sent, this is where AWS errors get their type.
pub fn classify(code: &str, status: u16) -> ErrorType {
    if THROTTLED.contains(&code) || status == 429 {
        ErrorType::Throttled
    } else if RETRYABLE.contains(&code) {
        ErrorType::Retryable
    } else if NOT_FOUND.contains(&code) {
        ErrorType::NotFound
    } else if ACCESS_DENIED.contains(&code) || status == 403 {
        ErrorType::AccessDenied
    } else if status >= 500 {
        ErrorType::Retryable
    } else if status == 404 {
        ErrorType::NotFound
    } else {
        ErrorType::Invalid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_codes_and_429_are_throttled() {
        for code in [
            "RequestLimitExceeded",
            "Throttling",
            "ThrottlingException",
            "TooManyRequestsException",
        ] {
            assert_eq!(classify(code, 400), ErrorType::Throttled, "{code}");
        }
        assert_eq!(classify("Whatever", 429), ErrorType::Throttled);
    }

    #[test]
    fn server_faults_are_retryable() {
        assert_eq!(classify("InternalError", 500), ErrorType::Retryable);
        assert_eq!(classify("Unknown", 503), ErrorType::Retryable);
    }

    #[test]
    fn missing_things_are_not_found() {
        assert_eq!(classify("InvalidGroup.NotFound", 400), ErrorType::NotFound);
        assert_eq!(
            classify("InvalidPermission.NotFound", 400),
            ErrorType::NotFound
        );
        assert_eq!(classify("NoSuchKey", 404), ErrorType::NotFound);
    }

    #[test]
    fn permission_errors_are_access_denied() {
        assert_eq!(
            classify("UnauthorizedOperation", 403),
            ErrorType::AccessDenied
        );
        assert_eq!(classify("AccessDenied", 403), ErrorType::AccessDenied);
    }

    type Failure = SdkError<
        aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsError,
        HttpResponse,
    >;

    fn before_sending(cause: aws_credential_types::provider::error::CredentialsError) -> Failure {
        SdkError::dispatch_failure(aws_sdk_ec2::error::ConnectorError::other(
            Box::new(cause),
            None,
        ))
    }

    #[test]
    fn missing_credentials_are_a_config_error_not_a_retry() {
        use aws_credential_types::provider::error::CredentialsError;
        let error = Error::from_sdk(
            "DescribeSecurityGroups",
            before_sending(CredentialsError::not_loaded("no profile")),
        );
        assert_eq!(error.error_type(), ErrorType::Config);
        let error = Error::from_sdk(
            "DescribeSecurityGroups",
            before_sending(CredentialsError::invalid_configuration("no role")),
        );
        assert_eq!(error.error_type(), ErrorType::Config);
    }

    #[test]
    fn a_credentials_provider_timing_out_is_retried() {
        use aws_credential_types::provider::error::CredentialsError;
        let error = Error::from_sdk(
            "DescribeSecurityGroups",
            before_sending(CredentialsError::provider_timed_out(
                std::time::Duration::from_secs(5),
            )),
        );
        assert_eq!(error.error_type(), ErrorType::Retryable);
    }

    #[test]
    fn other_client_errors_are_invalid() {
        assert_eq!(classify("InvalidParameterValue", 400), ErrorType::Invalid);
    }
}
