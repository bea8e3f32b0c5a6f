//! May this caller use this route? The one place the answer is given: the
//! key's scopes and the user token's role, combined here rather than in
//! each service.

use turnout_core::Problem;
use turnout_search::model::resources::Role;

use crate::auth::{Caller, User};
use crate::keys::{KeyEntry, KeyType};
use crate::routes::Route;

/// What a caller may do with people, events and attendances. Personal
/// data needs a confidential key (a public key ships inside an app and is
/// assumed extracted) or, for reading, an organizer's token with a key
/// that holds `events`. A signed-in person acts for themselves through a
/// key holding `attendances`.
pub fn search_access(key: &KeyEntry, user: Option<&User>) -> turnout_search::http::Access {
    let confidential = key.key_type == KeyType::Confidential;
    let events = key.scopes.contains("events");
    let organizer = user.is_some_and(|u| u.role >= Role::Organizer);
    turnout_search::http::Access {
        events,
        private_events: key.scopes.contains("events:private"),
        events_write: key.scopes.contains("events:write"),
        people_read: (confidential && key.scopes.contains("people:read")) || (organizer && events),
        people_write: confidential && key.scopes.contains("people:write"),
        attend: key.scopes.contains("attendances"),
        person: user.map(|u| u.person_id),
    }
}

/// The sign-in endpoints' view of the caller.
pub fn caller(key: &KeyEntry, user: Option<User>) -> Caller {
    Caller {
        key_id: key.id.to_string(),
        user,
    }
}

/// Who is sending messages, and whether it may.
pub fn sender(key: &KeyEntry) -> turnout_outreach::http::Sender {
    turnout_outreach::http::Sender {
        key_id: key.id.to_string(),
        may_send: key.scopes.contains("messages:send"),
        campaigns: key.key_type == KeyType::Confidential && key.scopes.contains("campaigns"),
    }
}

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
