//! Provider webhooks: each verifies that it comes from the provider before
//! it changes anything.

pub mod inbound;
pub mod ses;
pub mod sns_signature;
pub mod twilio;
pub mod twilio_signature;
