//! SMS and email outreach (the outreach issue builds it out). So far the
//! pure rules every later part relies on: SMS segment counting
//! (`segments`), inbound keywords (`keywords`), the recipient's send
//! window (`consent::window`), Twilio's webhook signature
//! (`webhooks::twilio_signature`), templates, unsubscribe tokens, and what
//! a provider's answer means for a message (`providers`).

pub mod breaker;
pub mod campaigns;
pub mod config;
pub mod consent;
pub mod http;
pub mod keywords;
pub mod providers;
pub mod queue;
pub mod recipients;
pub mod reminders;
pub mod segments;
pub mod templates;
/// Provider peers for tests and benchmarks.
pub mod testing;
pub mod throttle;
pub mod unsubscribe;
pub mod webhooks;
pub mod worker;
