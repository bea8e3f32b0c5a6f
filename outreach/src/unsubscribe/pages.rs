//! `/unsubscribe/{token}`: `GET` shows a confirmation page with the
//! address masked and changes nothing (mail scanners follow links); `POST`
//! unsubscribes, from the page's button or from a mail client's one-click
//! button (RFC 8058 sends `List-Unsubscribe=One-Click` in the body, which
//! needs no checking: the token is the authority).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Html;
use axum::routing::get;
use turnout_core::{Clock, Problem};

use super::tokens::Tokens;
use crate::consent::optouts::{OptOuts, Reason};
use crate::queue::Channel;

pub struct Unsubscribe {
    pub tokens: Tokens,
    pub optouts: OptOuts,
    pub clock: Arc<dyn Clock>,
}

pub fn router(api: Arc<Unsubscribe>) -> axum::Router {
    axum::Router::new()
        .route("/unsubscribe/{token}", get(show).post(unsubscribe))
        .with_state(api)
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title></head><body style=\"font-family: system-ui, sans-serif; \
         max-width: 32rem; margin: 3rem auto; padding: 0 1rem\"><h1>{title}</h1>{body}</body></html>"
    ))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn address(api: &Unsubscribe, token: &str) -> Result<String, Problem> {
    api.tokens
        .address(token)
        .await?
        .ok_or_else(|| Problem::not_found("this unsubscribe link is not one of ours"))
}

/// The confirmation page of an unsubscribe link (the address masked).
/// Changes nothing.
#[utoipa::path(get, path = "/unsubscribe/{token}", tag = "unsubscribe", operation_id = "showUnsubscribe",
    params(("token" = String, Path, description = "The opaque token from the List-Unsubscribe link.")),
    responses(
        (status = 200, description = "The page.", body = String, content_type = "text/html"),
        (status = 404, description = "Not one of our links."),
    ))]
pub async fn show(
    State(api): State<Arc<Unsubscribe>>,
    Path(token): Path<String>,
) -> Result<Html<String>, Problem> {
    let address = address(&api, &token).await?;
    Ok(page(
        "Unsubscribe",
        &format!(
            "<p>Stop campaign emails to <strong>{}</strong>?</p>\
             <form method=\"post\"><button type=\"submit\">Unsubscribe</button></form>",
            escape(&super::mask(&address))
        ),
    ))
}

/// RFC 8058 one-click unsubscribe.
#[utoipa::path(post, path = "/unsubscribe/{token}", tag = "unsubscribe", operation_id = "unsubscribe",
    params(("token" = String, Path, description = "The opaque token from the List-Unsubscribe link.")),
    responses(
        (status = 200, description = "Unsubscribed.", body = String, content_type = "text/html"),
        (status = 404, description = "Not one of our links."),
    ))]
pub async fn unsubscribe(
    State(api): State<Arc<Unsubscribe>>,
    Path(token): Path<String>,
) -> Result<Html<String>, Problem> {
    let address = address(&api, &token).await?;
    let now = api.clock.now_nanos().div_euclid(1_000_000);
    api.optouts
        .add(Channel::Email, &address, Reason::Unsubscribe, now)
        .await?;
    Ok(page(
        "Unsubscribed",
        &format!(
            "<p><strong>{}</strong> will get no more campaign emails from us.</p>",
            escape(&super::mask(&address))
        ),
    ))
}
