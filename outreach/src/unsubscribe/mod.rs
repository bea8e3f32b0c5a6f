//! One-click unsubscribe (RFC 8058): each bulk email carries a link with
//! an opaque per-recipient token that never expires, and the page a `GET`
//! shows masks the address, since a forwarded email must not reveal whose
//! address it was sent to.

pub mod pages;
pub mod tokens;

/// The headers RFC 8058 asks of a bulk email whose unsubscribe link is
/// `url`: mail clients show an "Unsubscribe" button that POSTs to it.
pub fn headers(url: &str) -> Vec<(String, String)> {
    vec![
        ("List-Unsubscribe".to_string(), format!("<{url}>")),
        (
            "List-Unsubscribe-Post".to_string(),
            "List-Unsubscribe=One-Click".to_string(),
        ),
    ]
}

/// 22 base62 characters: 130 bits of randomness (the issue asks for at
/// least 128).
pub fn new_token() -> String {
    turnout_core::token::base62(22)
}

/// `ana.garcia@example.org` → `a*********@example.org`: the first
/// character of the local part, the rest starred, the domain kept.
pub fn mask(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let mut chars = local.chars();
            let first = chars.next().map(String::from).unwrap_or_default();
            format!("{first}{}@{domain}", "*".repeat(chars.count().max(1)))
        }
        None => "*".repeat(address.chars().count().max(1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_and_distinct() {
        let a = new_token();
        assert_eq!(a.len(), 22);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, new_token());
    }

    #[test]
    fn masked_addresses_keep_only_the_first_letter_and_the_domain() {
        assert_eq!(mask("ana.garcia@example.org"), "a*********@example.org");
        assert_eq!(mask("a@example.org"), "a*@example.org");
        assert_eq!(mask("not-an-address"), "**************");
    }
}
