//! The list envelope `{"data", "count", "next", "previous"}` for admin
//! lists. Admin lists are small and change rarely, so the opaque cursor
//! carries an offset; `next`/`previous` are absolute URLs under
//! `public_url` (or the request's `Host` when none is configured).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Value, json};
use turnout_core::Problem;
use turnout_core::problem::FieldError;

pub const DEFAULT_PER_PAGE: i64 = 25;
pub const MAX_PER_PAGE: i64 = 100;

/// Read as strings so that a bad value is a 422 naming the field; the
/// OpenAPI document states the types a client should send.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Opaque; taken from a `next` or `previous` link.
    pub cursor: Option<String>,
    /// 25 by default, 100 at most.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub per_page: Option<String>,
}

#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub offset: i64,
    pub per_page: i64,
}

impl PageParams {
    pub fn parse(&self) -> Result<Page, Problem> {
        let mut errors = Vec::new();
        let per_page = match &self.per_page {
            None => DEFAULT_PER_PAGE,
            Some(raw) => match raw.parse::<i64>() {
                Ok(n) if (1..=MAX_PER_PAGE).contains(&n) => n,
                _ => {
                    errors.push(FieldError::new(
                        "per_page",
                        format!("must be a whole number from 1 to {MAX_PER_PAGE}"),
                    ));
                    DEFAULT_PER_PAGE
                }
            },
        };
        let offset = match &self.cursor {
            None => 0,
            Some(c) => match decode(c) {
                Some(n) => n,
                None => {
                    errors.push(FieldError::new(
                        "cursor",
                        "is not a cursor this server issued",
                    ));
                    0
                }
            },
        };
        if errors.is_empty() {
            Ok(Page { offset, per_page })
        } else {
            Err(Problem::validation(errors))
        }
    }
}

fn encode(offset: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("o:{offset}"))
}

fn decode(cursor: &str) -> Option<i64> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    text.strip_prefix("o:")?
        .parse()
        .ok()
        .filter(|n: &i64| *n >= 0)
}

/// `base` is scheme and authority, `path` the list's path, `extra` other
/// query parameters to carry along (already encoded).
pub fn envelope(
    data: Vec<Value>,
    count: i64,
    page: Page,
    base: &str,
    path: &str,
    extra: &str,
) -> Value {
    let link = |offset: i64| {
        let sep = if extra.is_empty() { "" } else { "&" };
        Value::String(format!(
            "{base}{path}?{extra}{sep}per_page={}&cursor={}",
            page.per_page,
            encode(offset)
        ))
    };
    let next = if page.offset + (data.len() as i64) < count && !data.is_empty() {
        link(page.offset + data.len() as i64)
    } else {
        Value::Null
    };
    let previous = if page.offset > 0 {
        link((page.offset - page.per_page).max(0))
    } else {
        Value::Null
    };
    json!({"data": data, "count": count, "next": next, "previous": previous})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        assert_eq!(decode(&encode(75)), Some(75));
        assert_eq!(decode("bm9wZQ"), None);
        assert_eq!(decode("!!"), None);
    }

    #[test]
    fn links_appear_only_where_there_is_a_page() {
        let page = Page {
            offset: 0,
            per_page: 2,
        };
        let v = envelope(
            vec![json!(1), json!(2)],
            3,
            page,
            "http://h",
            "/admin/v1/keys",
            "",
        );
        assert!(
            v["next"]
                .as_str()
                .unwrap()
                .starts_with("http://h/admin/v1/keys?per_page=2&cursor=")
        );
        assert!(v["previous"].is_null());
        let page = Page {
            offset: 2,
            per_page: 2,
        };
        let v = envelope(vec![json!(3)], 3, page, "http://h", "/admin/v1/keys", "");
        assert!(v["next"].is_null());
        assert!(v["previous"].is_string());
    }
}
