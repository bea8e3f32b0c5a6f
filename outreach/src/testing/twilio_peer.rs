//! A behavioural Twilio: answers `Create Message` the way Twilio does, or
//! with the failure a test scripts (21610, 20429 with `Retry-After`, 500,
//! no answer at all), records every request it received, and posts status
//! callbacks signed with the account's auth token.
//!
//! Prism checks that our requests match Twilio's published contract; this
//! peer checks what we do with Twilio's answers, which Prism cannot give.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use serde_json::json;

use crate::webhooks::twilio_signature;

pub const ACCOUNT_SID: &str = "AC00000000000000000000000000000000";
pub const AUTH_TOKEN: &str = "peer-auth-token";

/// What the peer does with the next request.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// 201 with a new message SID.
    Accept,
    /// Twilio's error JSON with this HTTP status and code.
    Error {
        status: u16,
        code: u32,
        retry_after: Option<u64>,
    },
    /// Records the message (Twilio has it) and then never answers.
    Hang,
}

/// A request the peer received.
#[derive(Debug, Clone)]
pub struct Received {
    /// Milliseconds since the peer started.
    pub at_ms: u64,
    pub form: Vec<(String, String)>,
    /// The SID it answered with, when it accepted.
    pub sid: Option<String>,
}

impl Received {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

struct PeerState {
    started: std::time::Instant,
    /// How long an accepted message takes to be answered (the request is
    /// recorded first, as Twilio has it from then on).
    delay: Duration,
    script: VecDeque<Reply>,
    received: Vec<Received>,
    next_sid: u64,
}

#[derive(Clone)]
pub struct TwilioPeer {
    pub addr: SocketAddr,
    state: Arc<Mutex<PeerState>>,
}

impl TwilioPeer {
    /// Starts the peer on a random port of 127.0.0.1.
    pub async fn start() -> TwilioPeer {
        Self::start_on("127.0.0.1:0").await
    }

    /// Starts the peer on `addr` (a benchmark's fixed port, say).
    pub async fn start_on(addr: &str) -> TwilioPeer {
        let state = Arc::new(Mutex::new(PeerState {
            started: std::time::Instant::now(),
            delay: Duration::ZERO,
            script: VecDeque::new(),
            received: Vec::new(),
            next_sid: 0,
        }));
        let app = axum::Router::new()
            .route("/2010-04-01/Accounts/{sid}/Messages.json", post(create))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("bind the Twilio peer");
        let addr = listener.local_addr().expect("peer address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TwilioPeer { addr, state }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The replies for the next requests, in order; after them it accepts.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state
            .lock()
            .expect("peer state")
            .script
            .extend(replies);
    }

    pub fn set_delay(&self, delay: Duration) {
        self.state.lock().expect("peer state").delay = delay;
    }

    /// How many requests arrived, and when (ms since start), without
    /// copying their forms.
    pub fn arrivals(&self) -> Vec<u64> {
        self.state
            .lock()
            .expect("peer state")
            .received
            .iter()
            .map(|r| r.at_ms)
            .collect()
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().expect("peer state").received.clone()
    }

    /// Posts a status callback for `sid` to `post_to`, signed over
    /// `signed_url` (the `StatusCallback` our client sent, which is our
    /// public URL) as Twilio signs it. Returns the HTTP status.
    pub async fn post_status(
        &self,
        post_to: &str,
        signed_url: &str,
        sid: &str,
        status: &str,
        error_code: Option<u32>,
    ) -> u16 {
        let mut params = vec![
            ("AccountSid".to_string(), ACCOUNT_SID.to_string()),
            ("MessageSid".to_string(), sid.to_string()),
            ("SmsSid".to_string(), sid.to_string()),
            ("MessageStatus".to_string(), status.to_string()),
            ("SmsStatus".to_string(), status.to_string()),
            ("ApiVersion".to_string(), "2010-04-01".to_string()),
        ];
        if let Some(code) = error_code {
            params.push(("ErrorCode".to_string(), code.to_string()));
        }
        post_signed(post_to, signed_url, &params, AUTH_TOKEN)
            .await
            .0
    }
}

/// Posts form `params` to `post_to` with Twilio's signature over
/// `signed_url` (the URL as Twilio knows it). Returns the HTTP status and
/// body.
pub async fn post_signed(
    post_to: &str,
    signed_url: &str,
    params: &[(String, String)],
    auth_token: &str,
) -> (u16, String) {
    let signature = twilio_signature::sign(auth_token, signed_url, params);
    match reqwest::Client::new()
        .post(post_to)
        .header("X-Twilio-Signature", signature)
        .form(params)
        .send()
        .await
    {
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(_) => (0, String::new()),
    }
}

async fn create(
    State(state): State<Arc<Mutex<PeerState>>>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let authorized = sid == ACCOUNT_SID
        && headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .is_some_and(|raw| raw == format!("{ACCOUNT_SID}:{AUTH_TOKEN}").as_bytes());
    if !authorized {
        return error(401, 20003, None);
    }
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let (reply, sid, delay) = {
        let mut s = state.lock().expect("peer state");
        let reply = s.script.pop_front().unwrap_or(Reply::Accept);
        let sid = match reply {
            Reply::Accept | Reply::Hang => {
                s.next_sid += 1;
                Some(format!("SM{:032x}", s.next_sid))
            }
            Reply::Error { .. } => None,
        };
        let at_ms = s.started.elapsed().as_millis() as u64;
        s.received.push(Received {
            at_ms,
            form: form.clone(),
            sid: sid.clone(),
        });
        (reply, sid, s.delay)
    };
    match reply {
        Reply::Accept => {
            tokio::time::sleep(delay).await;
            let value = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            (
                StatusCode::CREATED,
                axum::Json(json!({
                    "sid": sid,
                    "account_sid": ACCOUNT_SID,
                    "to": value("To"),
                    "from": value("From"),
                    "messaging_service_sid": value("MessagingServiceSid"),
                    "body": value("Body"),
                    "status": "queued",
                    "error_code": null,
                    "error_message": null,
                })),
            )
                .into_response()
        }
        Reply::Error {
            status,
            code,
            retry_after,
        } => error(status, code, retry_after),
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
    }
}

fn error(status: u16, code: u32, retry_after: Option<u64>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (
        status,
        axum::Json(json!({
            "code": code,
            "message": format!("peer error {code}"),
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status.as_u16(),
        })),
    )
        .into_response();
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
    }
    response
}
