//! Reading a request body before it is forwarded: bounded in size (413) and
//! in time (408, and the connection is closed), so neither a huge nor a
//! trickling upload ties the gateway up. Bodies are buffered whole, which
//! also lets a request be retried on the next target when a connection is
//! refused.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use turnout_core::Problem;

pub async fn read(
    body: Incoming,
    declared_len: Option<u64>,
    max: usize,
    timeout: Duration,
) -> Result<Bytes, Problem> {
    if declared_len.is_some_and(|n| n > max as u64) {
        return Err(too_large(max));
    }
    match tokio::time::timeout(timeout, Limited::new(body, max).collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(err))
            if err
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(too_large(max))
        }
        Ok(Err(err)) => Err(Problem::bad_request(
            "malformed_body",
            format!("the request body could not be read: {err}"),
        )),
        Err(_) => Err(Problem::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!(
                "the request body did not arrive within {} ms",
                timeout.as_millis()
            ),
        )
        .with_header(header::CONNECTION, HeaderValue::from_static("close"))),
    }
}

fn too_large(max: usize) -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the request body is larger than {max} bytes"),
    )
}

pub fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}
