//! SMS and email outreach (the outreach issue builds it out). So far the
//! pure rules every later part relies on: SMS segment counting
//! (`segments`), inbound keywords (`keywords`), the recipient's send
//! window (`consent::window`) and Twilio's webhook signature
//! (`webhooks::twilio_signature`).

pub mod consent;
pub mod keywords;
pub mod segments;
pub mod webhooks;
