//! Provider webhooks: verifying that they come from the provider.

pub mod twilio_signature;
