//! Twilio's REST API, as far as outreach uses it.

pub mod errors;
