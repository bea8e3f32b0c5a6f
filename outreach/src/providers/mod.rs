//! What a provider's answer means for a message: the classification every
//! provider adapter maps its own errors into, so the queue's retry and
//! failover rules are written once.

pub mod twilio;

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The recipient opted out at the carrier or provider: record the
    /// opt-out, never retry, never fail over.
    OptedOut { code: String },
    /// This message can never be sent as it is (a bad number, say): fail
    /// it now. Failover to another provider is allowed: the rejection is
    /// definite.
    Permanent { code: String, reason: String },
    /// Try again later, after `after` when the provider said.
    Retry {
        code: String,
        after: Option<Duration>,
    },
    /// The request may or may not have reached the provider (a timeout
    /// after sending, a connection reset): never resend blindly; the
    /// message ends `unknown`.
    Unknown { reason: String },
}
