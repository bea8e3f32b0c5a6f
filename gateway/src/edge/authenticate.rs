//! Who the user is: the bearer token, verified.
//!
//! Routes that act for a person (`auth = "user"` upstream routes,
//! `/v1/me...`) need a valid token; other built-in routes take one when it
//! is sent (an organizer's token opens people search) and refuse a bad
//! one rather than silently ignoring it. On `auth = "key"` upstream routes
//! an `Authorization` header is the upstream's business and is not read
//! (a bearer token is still never forwarded).

use http::request::Parts;
use turnout_core::Problem;

use crate::auth::User;
use crate::auth::http::invalid_token;
use crate::auth::tokens::Tokens;
use crate::config::RouteAuth;
use crate::routes::{Route, Target};

/// The bearer token of the `Authorization` header, if any.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts
        .headers
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

pub fn authenticate(
    tokens: &Tokens,
    parts: &Parts,
    route: &Route,
) -> Result<Option<User>, Problem> {
    let reads_tokens = route.auth == RouteAuth::User || matches!(route.target, Target::BuiltIn(_));
    let user = match bearer(parts).filter(|_| reads_tokens) {
        Some(token) => Some(
            tokens
                .verify(token)
                .map_err(|e| invalid_token(e.to_string()))?,
        ),
        None => None,
    };
    if route.auth == RouteAuth::User {
        let Some(user) = &user else {
            return Err(invalid_token(
                "this route acts for a signed-in person: send `Authorization: Bearer <token>`",
            ));
        };
        if user.role < route.role {
            return Err(Problem::forbidden(format!(
                "{} needs a signed-in {} or higher",
                route.prefix,
                route.role.as_str()
            )));
        }
    }
    Ok(user)
}
