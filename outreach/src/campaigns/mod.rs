//! Campaigns: one template sent to an audience (a people search or a list
//! of ids) resolved once, at launch, into one message row per person.
//!
//! - `spec`: what a client writes, parsed and checked once.
//! - `store`: the campaign rows, their status and their live stats.
//! - `launch`: audience → consent → render → enqueue, page by page.
//! - `limits`: a campaign's own messages-per-second.

pub mod launch;
pub mod limits;
pub mod spec;
pub mod store;

pub use spec::{Audience, Spec, TemplateRef};
pub use store::{Campaign, CampaignStatus, Campaigns};
