//! What SNS and SES share: the SDK's configuration (region, an emulator's
//! endpoint, credentials) and what its errors mean for a message.
//!
//! The SDK's own retries are off: a retry after a timeout could send a
//! message twice, and the queue already retries what is safe to retry,
//! with backoff that survives a restart.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_sesv2::error::{ProvideErrorMetadata, SdkError};

use super::Failure;
use crate::config::AwsSection;

/// The SDK configuration for a section: its region and endpoint, its keys
/// when given, else the SDK's default chain (environment, profile,
/// container or instance role).
pub async fn sdk_config(section: &AwsSection, timeout: Duration) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new(section.region.clone()))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_timeout(timeout)
                .connect_timeout(timeout.min(Duration::from_secs(5)))
                .build(),
        );
    if let Some(url) = &section.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let (Some(id), Some(secret)) = (&section.access_key_id, &section.secret_access_key) {
        loader = loader.credentials_provider(aws_sdk_sesv2::config::Credentials::new(
            id.clone(),
            secret.clone(),
            None,
            None,
            "turnout-config",
        ));
    }
    loader.load().await
}

/// Whether the error chain shows the connection was refused, so the
/// request never left.
fn refused(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// What an SDK error means: a throttle or server error → retry; another
/// service error → permanent; no answer → `unknown` unless the connection
/// was refused.
pub fn classify<E>(err: &SdkError<E>, retry_codes: &[&str]) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(s) => {
            let status = s.raw().status().as_u16();
            let code = s.err().code().unwrap_or("unknown").to_string();
            if status == 429 || status >= 500 || retry_codes.contains(&code.as_str()) {
                Failure::Retry { code, after: None }
            } else {
                Failure::Permanent {
                    reason: s.err().message().unwrap_or(&code).to_string(),
                    code,
                }
            }
        }
        SdkError::ConstructionFailure(_) => Failure::Permanent {
            code: "request".into(),
            reason: format!("the request could not be built: {err:?}"),
        },
        SdkError::DispatchFailure(d) if d.as_connector_error().is_some_and(|c| refused(c)) => {
            Failure::Retry {
                code: "connect".into(),
                after: None,
            }
        }
        other => Failure::Unknown {
            reason: format!("no usable answer: {other}"),
        },
    }
}
