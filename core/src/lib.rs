//! What every part of Turnout shares, and nothing more: the store (a pool
//! over SQLite or PostgreSQL, its SQL dialect and the migrations runner), the
//! clock that all deadlines are read from, random tokens, and the
//! problem+json error that every HTTP edge answers with.

pub mod clock;
pub mod openapi;
pub mod problem;
pub mod store;
pub mod token;

pub use clock::{Clock, ManualClock, SystemClock};
pub use problem::Problem;
pub use store::{Dialect, Store, StoreError};
