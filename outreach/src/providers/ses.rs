//! Email through AWS SES v2: the MIME message we build (`mime`), sent as
//! Raw content with the configured configuration set (which carries the
//! bounce and complaint events back to `/webhooks/ses`).

use std::time::Duration;

use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, RawMessage};

use super::mime::Mail;
use super::{Accepted, Failure, Outgoing, Provider, SendFuture};
use crate::config::AwsSection;

pub struct SesProvider {
    client: aws_sdk_sesv2::Client,
    from: String,
    configuration_set: Option<String>,
}

/// SES codes that mean "later".
const RETRY: [&str; 3] = [
    "TooManyRequestsException",
    "LimitExceededException",
    "InternalFailure",
];

impl SesProvider {
    pub async fn new(
        section: &AwsSection,
        from: String,
        configuration_set: Option<String>,
        timeout: Duration,
    ) -> Self {
        let config = super::aws::sdk_config(section, timeout).await;
        SesProvider {
            client: aws_sdk_sesv2::Client::new(&config),
            from,
            configuration_set,
        }
    }

    async fn send_mail(&self, mail: &Mail<'_>) -> Result<Accepted, Failure> {
        let raw = RawMessage::builder()
            .data(Blob::new(mail.render()))
            .build()
            .map_err(|e| Failure::Permanent {
                code: "request".into(),
                reason: e.to_string(),
            })?;
        let mut request = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(mail.to).build())
            .content(EmailContent::builder().raw(raw).build());
        if let Some(set) = &self.configuration_set {
            request = request.configuration_set_name(set);
        }
        match request.send().await {
            Ok(out) => Ok(Accepted {
                provider_message_id: out.message_id().unwrap_or_default().to_string(),
            }),
            Err(e) => Err(super::aws::classify(&e, &RETRY)),
        }
    }
}

impl Provider for SesProvider {
    fn name(&self) -> &'static str {
        "ses"
    }

    fn send<'a>(&'a self, message: &'a Outgoing) -> SendFuture<'a> {
        Box::pin(async move {
            match message {
                Outgoing::Email {
                    id,
                    to,
                    subject,
                    text,
                    html,
                    headers,
                } => {
                    let mail = Mail {
                        id: *id,
                        from: &self.from,
                        to,
                        subject,
                        text,
                        html: html.as_deref(),
                        headers,
                        date: chrono::Utc::now().to_rfc2822(),
                    };
                    self.send_mail(&mail).await
                }
                Outgoing::Sms { .. } => Err(Failure::Permanent {
                    code: "wrong_channel".into(),
                    reason: "SES sends email only".into(),
                }),
            }
        })
    }
}
