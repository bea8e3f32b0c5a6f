//! Which API key a request presents: the `X-Api-Key` header, else the
//! `api_key` query parameter (Mashery's convention). Finding the key in the
//! registry is the registry's business.

use std::borrow::Cow;

use http::request::Parts;

pub fn presented_key(parts: &Parts) -> Option<Cow<'_, str>> {
    if let Some(value) = parts.headers.get("x-api-key") {
        // A value that is not text cannot be a key; it is answered as an
        // unknown key rather than a different error, like any other typo.
        return Some(Cow::Borrowed(value.to_str().unwrap_or("")));
    }
    let query = parts.uri.query()?;
    query.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (name == "api_key").then(|| percent_encoding::percent_decode_str(value).decode_utf8_lossy())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str, header: Option<&str>) -> Parts {
        let mut b = http::Request::builder().uri(uri);
        if let Some(h) = header {
            b = b.header("x-api-key", h);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn header_first_then_query() {
        assert_eq!(
            presented_key(&parts("/v1/x?api_key=q", Some("h"))).as_deref(),
            Some("h")
        );
        assert_eq!(
            presented_key(&parts("/v1/x?a=1&api_key=tk%5Fq", None)).as_deref(),
            Some("tk_q")
        );
        assert_eq!(presented_key(&parts("/v1/x?a=1", None)), None);
    }
}
