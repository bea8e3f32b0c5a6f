//! May this caller use this route? The one place the answer is given, so
//! user-token roles (sign-in issue) join here rather than in each service.

use turnout_core::Problem;

use crate::keys::{KeyEntry, KeyType};
use crate::routes::Route;

/// What a key may do with people, events and attendances. Personal data
/// needs a confidential key: a public key ships inside an app and is
/// assumed extracted. Organizer tokens join here with the sign-in issue.
pub fn search_access(key: &KeyEntry) -> turnout_search::http::Access {
    let confidential = key.key_type == KeyType::Confidential;
    turnout_search::http::Access {
        events: key.scopes.contains("events"),
        private_events: key.scopes.contains("events:private"),
        events_write: key.scopes.contains("events:write"),
        people_read: confidential && key.scopes.contains("people:read"),
        people_write: confidential && key.scopes.contains("people:write"),
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
