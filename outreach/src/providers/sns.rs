//! SMS through AWS SNS: `Publish` to a phone number, marked Promotional
//! for campaign messages and Transactional for the rest (AWS routes and
//! prices the two differently), from the configured origination number.

use std::time::Duration;

use aws_sdk_sns::types::MessageAttributeValue;

use super::{Accepted, Failure, Outgoing, Provider, SendFuture};
use crate::config::AwsSection;

pub struct SnsProvider {
    client: aws_sdk_sns::Client,
    origination_number: Option<String>,
}

/// SNS codes that mean "later".
const RETRY: [&str; 3] = ["Throttled", "ThrottledException", "InternalError"];

impl SnsProvider {
    pub async fn new(
        section: &AwsSection,
        origination_number: Option<String>,
        timeout: Duration,
    ) -> Self {
        let config = super::aws::sdk_config(section, timeout).await;
        SnsProvider {
            client: aws_sdk_sns::Client::new(&config),
            origination_number,
        }
    }

    fn attribute(value: &str) -> MessageAttributeValue {
        MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
            .expect("data_type is set")
    }

    async fn publish(&self, to: &str, body: &str, bulk: bool) -> Result<Accepted, Failure> {
        let mut request = self
            .client
            .publish()
            .phone_number(to)
            .message(body)
            .message_attributes(
                "AWS.SNS.SMS.SMSType",
                Self::attribute(if bulk { "Promotional" } else { "Transactional" }),
            );
        if let Some(n) = &self.origination_number {
            request =
                request.message_attributes("AWS.MM.SMS.OriginationNumber", Self::attribute(n));
        }
        match request.send().await {
            Ok(out) => Ok(Accepted {
                provider_message_id: out.message_id().unwrap_or_default().to_string(),
            }),
            Err(e) => Err(super::aws::classify(&e, &RETRY)),
        }
    }
}

impl Provider for SnsProvider {
    fn name(&self) -> &'static str {
        "sns"
    }

    fn send<'a>(&'a self, message: &'a Outgoing) -> SendFuture<'a> {
        Box::pin(async move {
            match message {
                Outgoing::Sms { to, body, bulk, .. } => self.publish(to, body, *bulk).await,
                Outgoing::Email { .. } => Err(Failure::Permanent {
                    code: "wrong_channel".into(),
                    reason: "SNS sends SMS only".into(),
                }),
            }
        })
    }
}
