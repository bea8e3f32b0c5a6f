//! Consent and compliance: who may be messaged, and when.

pub mod optouts;
pub mod window;
