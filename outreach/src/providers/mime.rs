//! The MIME message SES sends as Raw content. We build it ourselves so the
//! headers are exactly ours (`List-Unsubscribe`, a stable `Message-ID`):
//! SES's Simple content would add and rewrite its own.
//!
//! Parts are base64 (UTF-8 text of any length is safe that way), header
//! values with non-ASCII text are RFC 2047 encoded words, and CR/LF are
//! removed from every header value so no value can start a header of its
//! own.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

pub struct Mail<'a> {
    pub id: i64,
    pub from: &'a str,
    pub to: &'a str,
    pub subject: &'a str,
    pub text: &'a str,
    pub html: Option<&'a str>,
    pub headers: &'a [(String, String)],
    /// RFC 5322 date, e.g. `Tue, 01 Dec 2026 17:00:00 +0000`.
    pub date: String,
}

fn clean(value: &str) -> String {
    value.replace(['\r', '\n'], " ")
}

/// An encoded word when the value is not plain ASCII.
fn header_text(value: &str) -> String {
    let value = clean(value);
    if value.is_ascii() {
        value
    } else {
        format!("=?UTF-8?B?{}?=", STANDARD.encode(value.as_bytes()))
    }
}

/// Base64 in lines of 76 characters, as RFC 2045 asks.
fn base64_lines(body: &str) -> String {
    let encoded = STANDARD.encode(body.as_bytes());
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 76 * 2 + 2);
    for chunk in encoded.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push_str("\r\n");
    }
    out
}

/// The domain of the `From` address (`Team <team@example.org>` →
/// `example.org`), for the Message-ID.
fn domain(from: &str) -> &str {
    let address = from
        .rsplit_once('<')
        .map_or(from, |(_, a)| a.trim_end_matches('>'));
    address
        .rsplit_once('@')
        .map_or("localhost", |(_, d)| d.trim())
}

impl Mail<'_> {
    /// `<turnout.{id}@{domain}>`: the same for every attempt at one
    /// message, so a receiver can tell a resend from a new message.
    pub fn message_id(&self) -> String {
        format!("<turnout.{}@{}>", self.id, domain(self.from))
    }

    pub fn render(&self) -> Vec<u8> {
        let mut out = String::new();
        let mut header = |name: &str, value: &str| {
            out.push_str(name);
            out.push_str(": ");
            out.push_str(value);
            out.push_str("\r\n");
        };
        header("From", &clean(self.from));
        header("To", &clean(self.to));
        header("Subject", &header_text(self.subject));
        header("Date", &clean(&self.date));
        header("Message-ID", &self.message_id());
        header("MIME-Version", "1.0");
        for (name, value) in self.headers {
            let name: String = name
                .chars()
                .filter(|c| c.is_ascii_graphic() && *c != ':')
                .collect();
            if !name.is_empty() {
                header(&name, &header_text(value));
            }
        }
        match self.html {
            None => {
                header("Content-Type", "text/plain; charset=UTF-8");
                header("Content-Transfer-Encoding", "base64");
                out.push_str("\r\n");
                out.push_str(&base64_lines(self.text));
            }
            Some(html) => {
                let boundary = format!("turnout-{}-{}", self.id, turnout_core::token::lower36(12));
                header(
                    "Content-Type",
                    &format!("multipart/alternative; boundary=\"{boundary}\""),
                );
                out.push_str("\r\n");
                for (kind, body) in [("text/plain", self.text), ("text/html", html)] {
                    out.push_str(&format!(
                        "--{boundary}\r\nContent-Type: {kind}; charset=UTF-8\r\n\
                         Content-Transfer-Encoding: base64\r\n\r\n"
                    ));
                    out.push_str(&base64_lines(body));
                }
                out.push_str(&format!("--{boundary}--\r\n"));
            }
        }
        out.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail<'a>(headers: &'a [(String, String)], html: Option<&'a str>) -> Mail<'a> {
        Mail {
            id: 42,
            from: "Campaign <team@example.org>",
            to: "ana@example.org",
            subject: "Sábado: canvass",
            text: "Hi Ana",
            html,
            headers,
            date: "Tue, 01 Dec 2026 17:00:00 +0000".into(),
        }
    }

    #[test]
    fn headers_are_ours_and_cannot_be_injected() {
        let headers = vec![
            (
                "List-Unsubscribe".to_string(),
                "<https://api.example.org/unsubscribe/abc>".to_string(),
            ),
            (
                "X-Evil".to_string(),
                "x\r\nBcc: victim@example.org".to_string(),
            ),
        ];
        let raw = String::from_utf8(mail(&headers, None).render()).unwrap();
        assert!(raw.contains("Message-ID: <turnout.42@example.org>\r\n"));
        assert!(raw.contains("List-Unsubscribe: <https://api.example.org/unsubscribe/abc>\r\n"));
        assert!(raw.contains("Subject: =?UTF-8?B?"), "{raw}");
        assert!(!raw.contains("\r\nBcc:"), "{raw}");
        let body = raw.split("\r\n\r\n").nth(1).unwrap();
        assert_eq!(
            STANDARD.decode(body.trim()).unwrap(),
            b"Hi Ana",
            "the text part decodes to the body"
        );
    }

    #[test]
    fn html_makes_a_multipart_alternative() {
        let raw = String::from_utf8(mail(&[], Some("<p>Hi Ana</p>")).render()).unwrap();
        assert!(raw.contains("Content-Type: multipart/alternative; boundary="));
        assert!(raw.contains("Content-Type: text/plain; charset=UTF-8"));
        assert!(raw.contains("Content-Type: text/html; charset=UTF-8"));
        assert!(raw.trim_end().ends_with("--"));
    }
}
