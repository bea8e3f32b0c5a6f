//! Provider webhooks: each verifies that it comes from the provider before
//! it changes anything.

pub mod inbound;
pub mod twilio;
pub mod twilio_signature;
