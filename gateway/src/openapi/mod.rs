//! The OpenAPI 3.1 document of the whole public API, generated from the
//! annotations on the handlers (`#[utoipa::path]`) and the types they
//! read and write (`ToSchema`), in every crate. `conventions` adds what
//! the edge does for every operation (security, the errors it answers,
//! rate-limit headers), so no handler has to repeat it.
//!
//! The document is checked in at `openapi/openapi.json`; `turnout openapi`
//! writes it, and a test fails when the two differ.

mod conventions;
pub mod serve;

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Turnout",
        description = "The mobile backend of a campaign: events and volunteers near a place, sign-in for app users, SMS and email outreach, behind an API gateway with keys, plans and rate limits.\n\nEvery request under `/v1/` carries an API key (`X-Api-Key` or the `api_key` query parameter). Lists use the envelope `{\"data\", \"count\", \"next\", \"previous\"}`; errors are `application/problem+json` with a stable `code`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        crate::auth::http::request_code,
        crate::auth::http::token,
        crate::auth::http::logout,
        crate::auth::http::me,
        crate::auth::http::edit_me,
        crate::auth::http::erase_me,
        crate::auth::http::jwks,
        crate::admin::handlers::create_plan,
        crate::admin::handlers::list_plans,
        crate::admin::handlers::get_plan,
        crate::admin::handlers::update_plan,
        crate::admin::handlers::delete_plan,
        crate::admin::handlers::create_key,
        crate::admin::handlers::list_keys,
        crate::admin::handlers::get_key,
        crate::admin::handlers::update_key,
        crate::admin::handlers::revoke_key,
        crate::admin::handlers::list_audit,
        crate::admin::usage::get_usage,
        crate::admin::search::import_people,
        crate::admin::search::import_events,
        crate::admin::search::status,
        crate::admin::search::reindex,
        crate::admin::search::set_role,
        crate::admin::suppressions::create,
        crate::admin::suppressions::list,
        crate::admin::suppressions::remove,
        crate::ops::healthz,
        crate::ops::readyz,
        crate::ops::metrics,
        serve::openapi_json,
        serve::docs,
    ),
    tags(
        (name = "sign-in", description = "One-time codes by SMS or email, and the tokens they buy."),
        (name = "me", description = "The signed-in person: an API key and the user's bearer token."),
        (name = "admin", description = "Operators: plans, keys, usage, audit, imports. `Authorization: Bearer <admin token>`."),
        (name = "operations", description = "Health, readiness, metrics and this documentation. No key."),
    )
)]
struct GatewayDoc;

/// The whole document, as served at `/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = GatewayDoc::openapi();
    let search = turnout_search::http::doc::SearchDoc::openapi();
    let outreach = turnout_outreach::http::doc::OutreachDoc::openapi();
    // Public resources first, then sign-in, outreach, admin and the rest,
    // which is the order a reader meets them in.
    let mut ordered = search;
    ordered.merge(outreach);
    ordered.merge(doc.clone());
    doc.paths = ordered.paths;
    doc.components = ordered.components;
    let mut tags = ordered.tags.unwrap_or_default();
    tags.dedup_by(|a, b| a.name == b.name);
    doc.tags = Some(tags);
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    conventions::apply(&mut doc);
    doc
}

/// The document as checked in: pretty JSON and a final newline, so that
/// a diff of two versions reads line by line.
pub fn document_json() -> String {
    let mut text = document()
        .to_pretty_json()
        .expect("an OpenAPI document always serializes");
    text.push('\n');
    text
}
