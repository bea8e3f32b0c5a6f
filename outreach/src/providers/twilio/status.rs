//! Twilio's message status, as an open enum: Twilio adds statuses (RCS
//! brought `read`), and an unknown one must not make a callback fail.

use serde::Deserialize;

use crate::queue::Status;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageStatus {
    Accepted,
    Scheduled,
    Queued,
    Sending,
    Sent,
    Delivered,
    Undelivered,
    Failed,
    Read,
    Canceled,
    Other(String),
}

impl MessageStatus {
    pub fn parse(raw: &str) -> MessageStatus {
        match raw {
            "accepted" => MessageStatus::Accepted,
            "scheduled" => MessageStatus::Scheduled,
            "queued" => MessageStatus::Queued,
            "sending" => MessageStatus::Sending,
            "sent" => MessageStatus::Sent,
            "delivered" => MessageStatus::Delivered,
            "undelivered" => MessageStatus::Undelivered,
            "failed" => MessageStatus::Failed,
            "read" => MessageStatus::Read,
            "canceled" => MessageStatus::Canceled,
            other => MessageStatus::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            MessageStatus::Accepted => "accepted",
            MessageStatus::Scheduled => "scheduled",
            MessageStatus::Queued => "queued",
            MessageStatus::Sending => "sending",
            MessageStatus::Sent => "sent",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Undelivered => "undelivered",
            MessageStatus::Failed => "failed",
            MessageStatus::Read => "read",
            MessageStatus::Canceled => "canceled",
            MessageStatus::Other(s) => s,
        }
    }

    /// What a status callback changes in our record of the message: only
    /// the end of the story (delivered, or failed at the carrier) does;
    /// Twilio's intermediate statuses are what `sent` already says.
    pub fn settles_as(&self) -> Option<Status> {
        match self {
            MessageStatus::Delivered | MessageStatus::Read => Some(Status::Delivered),
            MessageStatus::Undelivered | MessageStatus::Failed => Some(Status::Failed),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for MessageStatus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Ok(MessageStatus::parse(&raw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_statuses_are_kept_not_rejected() {
        let s: MessageStatus = serde_json::from_str("\"partially_delivered\"").unwrap();
        assert_eq!(s, MessageStatus::Other("partially_delivered".into()));
        assert_eq!(s.settles_as(), None);
        assert_eq!(
            MessageStatus::parse("undelivered").settles_as(),
            Some(Status::Failed)
        );
        assert_eq!(
            MessageStatus::parse("delivered").settles_as(),
            Some(Status::Delivered)
        );
    }
}
