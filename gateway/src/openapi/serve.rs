//! `GET /openapi.json` and `GET /docs`: the document, and the project's
//! own page that renders it. The page is one HTML file with its script
//! inline (openapi/docs.html), so it works with no internet: no CDN, no
//! third-party bundle.

use std::sync::OnceLock;

use axum::Router;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use http::header;

const DOCS_PAGE: &str = include_str!("../../../openapi/docs.html");

pub fn router() -> Router {
    Router::new()
        .route("/openapi.json", get(openapi_json))
        .route("/docs", get(docs))
}

/// This API's OpenAPI 3.1 document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", operation_id = "openapi",
    responses((status = 200, description = "The document.", body = Object, content_type = "application/json")))]
pub async fn openapi_json() -> Response {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    let body: &'static str = DOCUMENT.get_or_init(super::document_json);
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The documentation page: operations by tag, their parameters, bodies,
/// answers and error codes, and a form to try each with one's own key.
#[utoipa::path(get, path = "/docs", tag = "operations", operation_id = "docs",
    responses((status = 200, description = "The page.", body = String, content_type = "text/html")))]
pub async fn docs() -> Html<&'static str> {
    Html(DOCS_PAGE)
}
