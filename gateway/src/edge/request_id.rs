//! `X-Request-Id`: the client's, when it is a sane one (1 to 128 visible
//! ASCII characters), otherwise a fresh one. It is echoed on every response,
//! sent upstream, and written in every log line about the request.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use http::{HeaderMap, HeaderValue};

pub const HEADER: &str = "x-request-id";

/// A fresh id: a random per-process prefix and a counter. Unique across
/// instances and restarts (the prefix has 71 random bits) and cheap enough
/// for every request; ids are for correlation, not secrets.
fn fresh() -> HeaderValue {
    static PREFIX: OnceLock<String> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| turnout_core::token::base62(12));
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    HeaderValue::from_str(&format!("{prefix}{n:010x}")).expect("base62 and hex are header values")
}

pub fn from_request(headers: &HeaderMap) -> HeaderValue {
    if let Some(v) = headers.get(HEADER) {
        let b = v.as_bytes();
        if !b.is_empty() && b.len() <= 128 && b.iter().all(|c| (0x21..=0x7e).contains(c)) {
            return v.clone();
        }
    }
    fresh()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sane_client_id_is_kept_and_others_replaced() {
        let mut h = HeaderMap::new();
        h.insert(HEADER, HeaderValue::from_static("abc-123"));
        assert_eq!(from_request(&h), "abc-123");
        h.insert(HEADER, HeaderValue::from_str(&"x".repeat(129)).unwrap());
        let fresh = from_request(&h);
        assert_eq!(fresh.len(), 22);
        assert_ne!(fresh, from_request(&h), "fresh ids differ");
        h.insert(HEADER, HeaderValue::from_static("has space"));
        assert_ne!(from_request(&h), "has space");
    }
}
