//! Twilio's error body (`{"code", "message", "more_info", "status"}`) and
//! what its codes mean for a message.

use std::time::Duration;

use serde::Deserialize;

use super::super::Failure;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TwilioError {
    pub code: Option<u32>,
    pub message: Option<String>,
    pub more_info: Option<String>,
    pub status: Option<u16>,
}

/// Codes that mean "this recipient does not want messages".
const OPTED_OUT: [u32; 1] = [21610];
/// Codes that mean "later": 20429 (too many requests), 30001 (queue
/// overflow).
const RETRY: [u32; 2] = [20429, 30001];

/// Classifies a Twilio answer that was not a success: its HTTP status, its
/// `Retry-After` header (seconds) and its body.
pub fn classify(status: u16, retry_after: Option<&str>, body: &str) -> Failure {
    let parsed: Option<TwilioError> = serde_json::from_str(body).ok();
    let code = parsed.as_ref().and_then(|e| e.code);
    let code_text = code.map_or_else(|| format!("http_{status}"), |c| c.to_string());
    let reason = parsed
        .as_ref()
        .and_then(|e| e.message.clone())
        .unwrap_or_else(|| format!("HTTP {status}"));
    let after = retry_after
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    match code {
        Some(c) if OPTED_OUT.contains(&c) => Failure::OptedOut { code: code_text },
        Some(c) if RETRY.contains(&c) => Failure::Retry {
            code: code_text,
            after,
        },
        _ if status == 429 || status >= 500 => Failure::Retry {
            code: code_text,
            after,
        },
        _ => Failure::Permanent {
            code: code_text,
            reason,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(code: u32, status: u16) -> String {
        format!(
            r#"{{"code": {code}, "message": "m{code}", "more_info": "https://www.twilio.com/docs/errors/{code}", "status": {status}}}"#
        )
    }

    #[test]
    fn opted_out_retry_later_and_bad_numbers_are_told_apart() {
        assert_eq!(
            classify(400, None, &body(21610, 400)),
            Failure::OptedOut {
                code: "21610".into()
            }
        );
        assert_eq!(
            classify(429, Some("7"), &body(20429, 429)),
            Failure::Retry {
                code: "20429".into(),
                after: Some(Duration::from_secs(7))
            }
        );
        assert_eq!(
            classify(400, None, &body(21211, 400)),
            Failure::Permanent {
                code: "21211".into(),
                reason: "m21211".into()
            }
        );
    }

    #[test]
    fn server_errors_are_retried_even_without_a_body() {
        assert_eq!(
            classify(503, None, "<html>oops</html>"),
            Failure::Retry {
                code: "http_503".into(),
                after: None
            }
        );
        assert!(matches!(classify(401, None, ""), Failure::Permanent { .. }));
    }
}
