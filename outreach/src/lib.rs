//! SMS and email outreach: messages go into a durable queue in the store
//! (`queue`) and out through providers (`providers`: log, Twilio, SNS,
//! SES) by workers (`worker`) that check consent (`consent`) and send
//! windows again right before each call, under per-provider limits
//! (`throttle`) and circuit breakers (`breaker`). Campaigns (`campaigns`)
//! turn a people search into one message per person; reminders
//! (`reminders`) follow event registrations; webhooks (`webhooks`) and
//! unsubscribe links (`unsubscribe`) bring the answers back. `http` is
//! the API the gateway mounts; `testing` holds the provider peers the
//! tests and benchmarks use.

pub mod breaker;
pub mod campaigns;
pub mod codes;
pub mod config;
pub mod consent;
pub mod erasure;
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
