//! API keys and plans: their model, their storage, and the in-memory
//! registry that answers every request without touching the store.

pub mod announce;
pub mod model;
pub mod registry;
pub mod scope;
pub mod secret;
pub mod store;
pub mod sync;

pub use model::{ApiKey, KeyStatus, KeyType, Overrides, Plan, PlanSpec};
pub use registry::{KeyEntry, Registry};
pub use scope::{Scope, ScopeSet};
