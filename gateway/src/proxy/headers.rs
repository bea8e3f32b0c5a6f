//! What crosses the proxy in each direction.
//!
//! Toward the upstream: everything the client sent except hop-by-hop
//! headers (and those the client named in `Connection`), its own
//! `X-Forwarded-*`, `Forwarded` and `X-Turnout-*` headers (those are ours to
//! set), the API key, a bearer token, and `Host` (the target's own is used).
//! We add `X-Request-Id`, `X-Forwarded-For` and `X-Forwarded-Proto`, and
//! on `auth = "user"` routes `X-Turnout-Person` and `X-Turnout-Role` from
//! the verified token.
//! Toward the client: the upstream's headers less hop-by-hop ones.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn named_in_connection(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

fn is_hop_by_hop(name: &HeaderName, extra: &[String]) -> bool {
    let n = name.as_str();
    HOP_BY_HOP.contains(&n) || extra.iter().any(|e| e == n)
}

fn is_ours(name: &HeaderName) -> bool {
    let n = name.as_str();
    n.starts_with("x-forwarded-")
        || n.starts_with("x-turnout-")
        || n == "forwarded"
        || n == "x-api-key"
        || n == "x-request-id"
        || n == "host"
        || n == "content-length"
}

fn is_bearer(value: &HeaderValue) -> bool {
    value
        .as_bytes()
        .get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"bearer "))
}

pub struct Forwarded<'a> {
    pub request_id: &'a HeaderValue,
    pub client_ip: IpAddr,
    pub proto: &'a HeaderValue,
    /// The signed-in person's id and role, on user routes.
    pub user: Option<(i64, &'static str)>,
}

/// The headers the upstream receives.
pub fn to_upstream(incoming: &HeaderMap, fwd: &Forwarded<'_>) -> HeaderMap {
    let extra = named_in_connection(incoming);
    let mut out = HeaderMap::with_capacity(incoming.len() + 3);
    for (name, value) in incoming {
        if is_hop_by_hop(name, &extra) || is_ours(name) {
            continue;
        }
        if name == header::AUTHORIZATION && is_bearer(value) {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out.insert(
        HeaderName::from_static("x-request-id"),
        fwd.request_id.clone(),
    );
    out.insert(
        HeaderName::from_static("x-forwarded-for"),
        HeaderValue::from_str(&fwd.client_ip.to_string()).expect("an IP is a header value"),
    );
    out.insert(
        HeaderName::from_static("x-forwarded-proto"),
        fwd.proto.clone(),
    );
    if let Some((person, role)) = fwd.user {
        out.insert(
            HeaderName::from_static("x-turnout-person"),
            HeaderValue::from(person),
        );
        out.insert(
            HeaderName::from_static("x-turnout-role"),
            HeaderValue::from_static(role),
        );
    }
    out
}

/// Cleans the upstream's response headers in place.
pub fn from_upstream(headers: &mut HeaderMap) {
    let extra = named_in_connection(headers);
    let drop: Vec<HeaderName> = headers
        .keys()
        .filter(|n| is_hop_by_hop(n, &extra))
        .cloned()
        .collect();
    for name in drop {
        headers.remove(&name);
    }
}

/// The query without any `api_key` parameter (by decoded name), so the key
/// reaches neither the upstream nor a log line. `None` when nothing is left.
pub fn query_without_key(query: &str) -> Option<String> {
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let name = pair.split('=').next().unwrap_or_default();
            let decoded = percent_encoding::percent_decode_str(&name.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned();
            !pair.is_empty() && decoded != "api_key"
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_and_hop_by_hop_headers_are_dropped_and_ours_added() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("connection", "keep-alive, x-secret"),
            ("x-secret", "1"),
            ("keep-alive", "timeout=5"),
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-host", "evil"),
            ("forwarded", "for=6.6.6.6"),
            ("x-turnout-person", "p_admin"),
            ("x-api-key", "tk_x"),
            ("authorization", "Bearer abc"),
            ("accept", "application/json"),
            ("x-custom", "kept"),
        ] {
            h.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        let rid = HeaderValue::from_static("req-1");
        let proto = HeaderValue::from_static("https");
        let out = to_upstream(
            &h,
            &Forwarded {
                request_id: &rid,
                client_ip: "10.0.0.7".parse().unwrap(),
                proto: &proto,
                user: None,
            },
        );
        for gone in [
            "connection",
            "x-secret",
            "keep-alive",
            "forwarded",
            "x-forwarded-host",
            "x-turnout-person",
            "x-api-key",
            "authorization",
        ] {
            assert!(!out.contains_key(gone), "{gone} forwarded");
        }
        assert_eq!(out["x-forwarded-for"], "10.0.0.7");
        assert_eq!(out["x-forwarded-proto"], "https");
        assert_eq!(out["x-request-id"], "req-1");
        assert_eq!(out["x-custom"], "kept");
        assert_eq!(out["accept"], "application/json");
    }

    #[test]
    fn a_user_route_says_who_is_signed_in_and_nothing_the_client_claimed() {
        let mut h = HeaderMap::new();
        h.append("x-turnout-person", HeaderValue::from_static("1"));
        h.append("x-turnout-role", HeaderValue::from_static("admin"));
        let rid = HeaderValue::from_static("r");
        let proto = HeaderValue::from_static("http");
        let out = to_upstream(
            &h,
            &Forwarded {
                request_id: &rid,
                client_ip: "127.0.0.1".parse().unwrap(),
                proto: &proto,
                user: Some((42, "volunteer")),
            },
        );
        assert_eq!(out.get_all("x-turnout-person").iter().count(), 1);
        assert_eq!(out["x-turnout-person"], "42");
        assert_eq!(out["x-turnout-role"], "volunteer");
    }

    #[test]
    fn basic_authorization_passes_through() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic dTpw"),
        );
        let rid = HeaderValue::from_static("r");
        let proto = HeaderValue::from_static("http");
        let out = to_upstream(
            &h,
            &Forwarded {
                request_id: &rid,
                client_ip: "127.0.0.1".parse().unwrap(),
                proto: &proto,
                user: None,
            },
        );
        assert_eq!(out[header::AUTHORIZATION], "Basic dTpw");
    }

    #[test]
    fn the_api_key_leaves_the_query() {
        assert_eq!(
            query_without_key("api_key=tk_1&a=1").as_deref(),
            Some("a=1")
        );
        assert_eq!(
            query_without_key("a=1&api%5Fkey=tk_1&b=2").as_deref(),
            Some("a=1&b=2")
        );
        assert_eq!(query_without_key("api_key=tk_1"), None);
        assert_eq!(
            query_without_key("api_keys=1").as_deref(),
            Some("api_keys=1")
        );
    }
}
