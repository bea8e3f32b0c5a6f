//! `X-Request-Id`: the client's, when it is a sane one (1 to 128 visible
//! ASCII characters), otherwise a fresh one. It is echoed on every response,
//! sent upstream, and written in every log line about the request.

use http::{HeaderMap, HeaderValue};

pub const HEADER: &str = "x-request-id";

pub fn from_request(headers: &HeaderMap) -> HeaderValue {
    if let Some(v) = headers.get(HEADER) {
        let b = v.as_bytes();
        if !b.is_empty() && b.len() <= 128 && b.iter().all(|c| (0x21..=0x7e).contains(c)) {
            return v.clone();
        }
    }
    HeaderValue::from_str(&turnout_core::token::base62(22)).expect("base62 is a header value")
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
        assert_eq!(from_request(&h).len(), 22);
        h.insert(HEADER, HeaderValue::from_static("has space"));
        assert_ne!(from_request(&h), "has space");
    }
}
