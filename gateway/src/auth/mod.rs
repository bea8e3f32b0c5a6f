//! Sign-in for app users: one-time codes (`otp`), the person behind a
//! verified address (`people`), access tokens (`tokens`) signed with keys
//! kept in the store (`signing`), rotating refresh tokens (`refresh`), the
//! signed-in person's own endpoints (`http`) and erasing an account
//! (`erase`).
//!
//! The edge verifies access tokens (edge/authenticate.rs) and hands the
//! handlers here a [`Caller`]; nothing below the edge parses a token.

pub mod config;
pub mod destination;
pub mod doc;
pub mod erase;
pub mod http;
pub mod otp;
pub mod people;
pub mod refresh;
pub mod signing;
pub mod tokens;

use std::path::PathBuf;
use std::sync::Arc;

use turnout_core::{Clock, Store};

pub use tokens::{TokenError, User};

/// Who is calling a built-in route, as the edge established it.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key_id: String,
    pub user: Option<User>,
}

/// Everything the sign-in endpoints need.
pub struct Auth {
    pub store: Store,
    pub otp: otp::Otp,
    pub people: people::People,
    pub tokens: Arc<tokens::Tokens>,
    pub refresh: refresh::RefreshTokens,
    pub clock: Arc<dyn Clock>,
    /// The `log` providers' data dir, whose outbox an erasure rewrites.
    pub outbox_dir: Option<PathBuf>,
    /// Woken after a person is erased, so the index drops them at once.
    pub index_wake: Arc<tokio::sync::Notify>,
}

impl Auth {
    fn now_ms(&self) -> i64 {
        self.clock.now_nanos().div_euclid(1_000_000)
    }
}
