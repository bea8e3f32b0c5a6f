//! May this caller use this route? The one place the answer is given, so
//! user-token roles (sign-in issue) join here rather than in each service.

use turnout_core::Problem;

use crate::keys::KeyEntry;
use crate::routes::Route;

pub fn check(key: &KeyEntry, route: &Route) -> Result<(), Problem> {
    if key.scopes.satisfies(&route.scopes) {
        return Ok(());
    }
    let missing: Vec<&str> = route
        .scopes
        .iter()
        .map(|s| s.as_str())
        .filter(|s| !key.scopes.contains(s))
        .collect();
    Err(Problem::forbidden(format!(
        "this key lacks the scope{} {} that {} requires",
        if missing.len() == 1 { "" } else { "s" },
        missing.join(", "),
        route.prefix
    )))
}
