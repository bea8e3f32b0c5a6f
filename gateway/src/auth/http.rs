//! `/v1/auth/*` (asking for a code, exchanging it and refresh tokens for
//! tokens, signing out) and `/v1/me` (the signed-in person's profile and
//! account). `/v1/me/attendances` and registering are the search crate's,
//! which gets the person from the edge too.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Map, Value, json};
use turnout_core::Problem;
use turnout_core::problem::FieldError;
use turnout_search::model::Person;

use super::destination::Destination;
use super::otp::RequestError;
use super::refresh::RotateError;
use super::{Auth, Caller};

pub fn router(auth: Arc<Auth>) -> Router {
    Router::new()
        .route("/v1/auth/otp", post(request_code))
        .route("/v1/auth/token", post(token))
        .route("/v1/auth/logout", post(logout))
        .route("/v1/me", get(me).patch(edit_me).delete(erase_me))
        .fallback(|| async { Problem::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async { Problem::method_not_allowed() })
        .with_state(auth)
}

/// `GET /.well-known/jwks.json`, served without an API key.
pub fn jwks_router(
    keys: Arc<super::signing::SigningKeys>,
    clock: Arc<dyn turnout_core::Clock>,
) -> Router {
    Router::new()
        .route("/.well-known/jwks.json", get(jwks))
        .with_state(JwksState { keys, clock })
}

#[derive(Clone)]
struct JwksState {
    keys: Arc<super::signing::SigningKeys>,
    clock: Arc<dyn turnout_core::Clock>,
}

/// The public keys that verify user tokens, by `kid`. Retired keys stay
/// listed until the tokens they signed have expired.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "sign-in", operation_id = "jwks",
    security(()),
    responses((status = 200, description = "The key set.", body = super::doc::Jwks)))]
async fn jwks(State(s): State<JwksState>) -> Response {
    let body = s.keys.jwks(s.clock.now().timestamp());
    (
        [(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=60"),
        )],
        Json(body),
    )
        .into_response()
}

fn invalid_grant(detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "invalid_grant", detail)
}

pub fn invalid_token(detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::UNAUTHORIZED, "invalid_token", detail).with_header(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"invalid_token\""),
    )
}

fn store_problem(e: impl std::fmt::Display) -> Problem {
    Problem::internal(&e)
}

/// Send a sign-in code by SMS or email.
///
/// Answers 202 whether or not the person exists. Rate-limited per
/// destination.
#[utoipa::path(post, path = "/v1/auth/otp", tag = "sign-in", operation_id = "requestCode",
    request_body = super::doc::OtpRequest,
    responses((status = 202, description = "A code is on its way (if the address can receive it).", body = super::doc::OtpSent)))]
pub async fn request_code(
    State(auth): State<Arc<Auth>>,
    Extension(caller): Extension<Caller>,
    bytes: Bytes,
) -> Result<Response, Problem> {
    let body = turnout_core::problem::json_object(&bytes)?;
    let mut errors = FieldError::unknown_fields(&body, &["phone", "email"]);
    let destination = Destination::from_body(&body)
        .map_err(|e| errors.push(e))
        .ok();
    let Some(d) = destination.filter(|_| errors.is_empty()) else {
        return Err(Problem::validation(errors));
    };
    match auth.otp.request(&d, &caller.key_id).await {
        Ok(withheld) => {
            if let Some(why) = withheld {
                metrics::counter!("turnout_otp_withheld_total", "reason" => why.as_str())
                    .increment(1);
            } else {
                metrics::counter!("turnout_otp_sent_total", "channel" => d.channel().as_str())
                    .increment(1);
            }
            Ok((
                StatusCode::ACCEPTED,
                Json(json!({"expires_in": auth.otp.config.ttl_secs})),
            )
                .into_response())
        }
        Err(RequestError::Country) => Err(Problem::validation(vec![FieldError::new(
            d.field(),
            "sign-in codes are not sent to this country",
        )])),
        Err(e @ RequestError::KeyLimit { retry_after_secs }) => {
            Err(
                Problem::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", e.to_string())
                    .with_header(
                        header::RETRY_AFTER,
                        HeaderValue::from_str(&retry_after_secs.to_string()).expect("digits"),
                    ),
            )
        }
        Err(RequestError::Store(e)) => Err(e.into()),
    }
}

/// `{"access_token", "token_type", "expires_in", "refresh_token"}`, never
/// cached.
fn token_response(access: String, expires_in: i64, refresh: String) -> Response {
    (
        [
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (header::PRAGMA, HeaderValue::from_static("no-cache")),
        ],
        Json(json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": expires_in,
            "refresh_token": refresh,
        })),
    )
        .into_response()
}

/// Exchange a code, or a refresh token, for tokens.
#[utoipa::path(post, path = "/v1/auth/token", tag = "sign-in", operation_id = "token",
    request_body = super::doc::TokenRequest,
    responses(
        (status = 200, description = "Signed in.", body = super::doc::TokenResponse),
        (status = 400, description = "`invalid_grant`: a wrong or expired code, or a refresh token that is not valid."),
    ))]
pub async fn token(State(auth): State<Arc<Auth>>, bytes: Bytes) -> Result<Response, Problem> {
    let body = turnout_core::problem::json_object(&bytes)?;
    match body.get("grant_type").and_then(Value::as_str) {
        Some("otp") => otp_grant(&auth, &body).await,
        Some("refresh_token") => refresh_grant(&auth, &body).await,
        _ => Err(Problem::validation(vec![FieldError::new(
            "grant_type",
            "must be \"otp\" or \"refresh_token\"",
        )])),
    }
}

async fn otp_grant(auth: &Auth, body: &Map<String, Value>) -> Result<Response, Problem> {
    let mut errors = FieldError::unknown_fields(body, &["grant_type", "phone", "email", "code"]);
    let destination = Destination::from_body(body)
        .map_err(|e| errors.push(e))
        .ok();
    let code = body.get("code").and_then(Value::as_str);
    if code.is_none() {
        errors.push(FieldError::new("code", "is required: the 6 digits sent"));
    }
    let (Some(d), Some(code)) = (destination, code) else {
        return Err(Problem::validation(errors));
    };
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    if !auth.otp.verify(&d, code).await? {
        return Err(invalid_grant(
            "the code is wrong, expired or used up; ask for a new one",
        ));
    }
    let person = auth
        .people
        .sign_in(&d, &auth.otp.destination_hash(&d))
        .await
        .map_err(store_problem)?;
    let now = auth.now_ms();
    let family = auth.refresh.start_family(person.id, now).await?;
    let refresh = auth.refresh.issue(&family, now).await?;
    let (access, expires_in) = auth
        .tokens
        .issue(person.id, person.role, &family)
        .map_err(store_problem)?;
    Ok(token_response(access, expires_in, refresh))
}

async fn refresh_grant(auth: &Auth, body: &Map<String, Value>) -> Result<Response, Problem> {
    let errors = FieldError::unknown_fields(body, &["grant_type", "refresh_token"]);
    let Some(raw) = body.get("refresh_token").and_then(Value::as_str) else {
        let mut errors = errors;
        errors.push(FieldError::new("refresh_token", "is required"));
        return Err(Problem::validation(errors));
    };
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    let now = auth.now_ms();
    let spent = match auth.refresh.spend(raw, now).await {
        Ok(s) => s,
        Err(RotateError::Refused(why)) => return Err(invalid_grant(why.to_string())),
        Err(RotateError::Store(e)) => return Err(e.into()),
    };
    // The role is read again now: a promotion or demotion takes effect at
    // the next refresh.
    let Some(person) = auth
        .people
        .current(spent.person_id)
        .await
        .map_err(store_problem)?
    else {
        auth.refresh
            .revoke_family(&spent.family, "person_gone", now)
            .await?;
        return Err(invalid_grant("this account no longer exists"));
    };
    let refresh = auth.refresh.issue(&spent.family, now).await?;
    let (access, expires_in) = auth
        .tokens
        .issue(person.id, person.role, &spent.family)
        .map_err(store_problem)?;
    Ok(token_response(access, expires_in, refresh))
}

/// Revokes the sign-in named by the bearer token's session, or by a
/// refresh token in the body. Access tokens already issued live out
/// their (short) lifetime.
/// Sign out: revokes the refresh-token family.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "sign-in", operation_id = "logout",
    request_body(content = Option<super::doc::LogoutRequest>),
    responses(
        (status = 204, description = "Signed out."),
        (status = 400, description = "`invalid_grant`: the refresh token is not valid."),
    ))]
pub async fn logout(
    State(auth): State<Arc<Auth>>,
    Extension(caller): Extension<Caller>,
    bytes: Bytes,
) -> Result<StatusCode, Problem> {
    let body = if bytes.is_empty() {
        Map::new()
    } else {
        turnout_core::problem::json_object(&bytes)?
    };
    let errors = FieldError::unknown_fields(&body, &["refresh_token"]);
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    let family = match body.get("refresh_token").and_then(Value::as_str) {
        Some(raw) => Some(
            auth.refresh
                .family_of(raw)
                .await
                .map_err(store_problem)?
                .ok_or_else(|| invalid_grant("the refresh token is not valid"))?,
        ),
        None => caller.user.as_ref().and_then(|u| u.session.clone()),
    };
    let Some(family) = family else {
        return Err(invalid_token(
            "sign out with the user's bearer token or a refresh token in the body",
        ));
    };
    auth.refresh
        .revoke_family(&family, "logout", auth.now_ms())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn signed_in(caller: &Caller) -> Result<&super::User, Problem> {
    caller
        .user
        .as_ref()
        .ok_or_else(|| invalid_token("this endpoint needs the user's bearer token"))
}

/// The signed-in person's profile.
#[utoipa::path(get, path = "/v1/me", tag = "me", operation_id = "getMe",
    responses((status = 200, description = "The person.", body = Person), (status = 404, description = "`not_found`: the account was erased.")))]
pub async fn me(
    State(auth): State<Arc<Auth>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Person>, Problem> {
    let user = signed_in(&caller)?;
    auth.people
        .current(user.person_id)
        .await
        .map_err(store_problem)?
        .map(Json)
        .ok_or_else(|| Problem::not_found("this account no longer exists"))
}

/// Fields a person may change about themselves. Contact addresses are
/// what sign-in verified, the role is an admin's to give, identifiers and
/// tags are the campaign's own bookkeeping.
const SELF_EDITABLE: [&str; 7] = [
    "given_name",
    "family_name",
    "postal_addresses",
    "languages_spoken",
    "skills",
    "availability",
    "timezone",
];

/// Change one's own profile.
#[utoipa::path(patch, path = "/v1/me", tag = "me", operation_id = "updateMe",
    request_body = super::doc::MeUpdate,
    responses((status = 200, description = "The person as now stored.", body = Person), (status = 404, description = "`not_found`: the account was erased.")))]
pub async fn edit_me(
    State(auth): State<Arc<Auth>>,
    Extension(caller): Extension<Caller>,
    bytes: Bytes,
) -> Result<Json<Person>, Problem> {
    let user = signed_in(&caller)?;
    let body = turnout_core::problem::json_object(&bytes)?;
    let errors: Vec<FieldError> = body
        .keys()
        .filter(|k| !SELF_EDITABLE.contains(&k.as_str()))
        .map(|k| {
            FieldError::new(
                k.as_str(),
                match k.as_str() {
                    "role" => "is given by an admin",
                    "phone_numbers" | "email_addresses" => {
                        "is verified by signing in; it cannot be changed here"
                    }
                    "identifiers" | "tags" => "is kept by the campaign",
                    _ => "is not a field of a person you may change",
                },
            )
        })
        .collect();
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    let person: Person = auth.people.records.update(user.person_id, body).await?;
    auth.index_wake.notify_one();
    Ok(Json(person))
}

/// Erase one's account: profile, attendances, stored message bodies and
/// outbox lines. Opt-outs are kept as hashes.
#[utoipa::path(delete, path = "/v1/me", tag = "me", operation_id = "deleteMe",
    responses((status = 204, description = "Erased."), (status = 404, description = "`not_found`: the account was already erased.")))]
pub async fn erase_me(
    State(auth): State<Arc<Auth>>,
    Extension(caller): Extension<Caller>,
) -> Result<StatusCode, Problem> {
    let user = signed_in(&caller)?;
    auth.erase(user.person_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
