//! The providers a config names, built once per process.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::Provider;
use super::log::LogProvider;
use crate::config::{ConfigError, EmailProviderKind, OutreachConfig, SmsProviderKind};

/// The configured providers of both channels, and the SMS failover.
pub struct Built {
    pub sms: Arc<dyn Provider>,
    pub sms_failover: Option<Arc<dyn Provider>>,
    pub email: Arc<dyn Provider>,
}

/// `status_callback` is our Twilio status webhook's public URL.
pub async fn build(
    o: &OutreachConfig,
    data_dir: &Path,
    status_callback: Option<String>,
) -> Result<Built, ConfigError> {
    let outbox = Arc::new(LogProvider::new(data_dir));
    let sms = sms_provider(o, o.sms.provider, &outbox, status_callback.clone()).await?;
    let sms_failover = match o.sms.failover {
        Some(kind) => Some(sms_provider(o, kind, &outbox, status_callback).await?),
        None => None,
    };
    let email: Arc<dyn Provider> = match o.email.provider {
        EmailProviderKind::Ses => {
            let ses = o
                .email
                .ses
                .as_ref()
                .ok_or_else(|| ConfigError("outreach.email.ses is missing".into()))?;
            let from = o
                .email
                .from
                .clone()
                .ok_or_else(|| ConfigError("outreach.email.from is missing".into()))?;
            Arc::new(
                super::ses::SesProvider::new(
                    &ses.aws(),
                    from,
                    ses.configuration_set.clone(),
                    Duration::from_millis(ses.timeout_ms),
                )
                .await,
            )
        }
        EmailProviderKind::Log => outbox,
    };
    Ok(Built {
        sms,
        sms_failover,
        email,
    })
}

async fn sms_provider(
    o: &OutreachConfig,
    kind: SmsProviderKind,
    outbox: &Arc<LogProvider>,
    status_callback: Option<String>,
) -> Result<Arc<dyn Provider>, ConfigError> {
    Ok(match kind {
        SmsProviderKind::Twilio => {
            let twilio = o
                .twilio(status_callback)
                .ok_or_else(|| ConfigError("outreach.sms.twilio is incomplete".into()))?;
            Arc::new(
                super::twilio::TwilioProvider::new(twilio)
                    .map_err(|e| ConfigError(format!("building the Twilio client: {e}")))?,
            )
        }
        SmsProviderKind::Sns => {
            let sns = o
                .sms
                .sns
                .as_ref()
                .ok_or_else(|| ConfigError("outreach.sms.sns is missing".into()))?;
            Arc::new(
                super::sns::SnsProvider::new(
                    &sns.aws(),
                    sns.origination_number.clone(),
                    Duration::from_millis(sns.timeout_ms),
                )
                .await,
            )
        }
        SmsProviderKind::Log => outbox.clone(),
    })
}
