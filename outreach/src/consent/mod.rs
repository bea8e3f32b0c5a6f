//! Consent and compliance: who may be messaged, and when.

pub mod area_codes;
pub mod optouts;
pub mod window;
