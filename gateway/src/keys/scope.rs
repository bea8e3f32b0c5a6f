//! Scopes: what a key may call. Parsed once, then compared as strings.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Scopes a `public` key (one shipped inside an app, so assumed extracted)
/// may never hold: each reaches personal data or spends money on its own.
pub const PUBLIC_FORBIDDEN: [&str; 5] = [
    "people:read",
    "people:write",
    "events:write",
    "messages:send",
    "campaigns",
];

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Scope(String);

impl Scope {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_forbidden_for_public_keys(&self) -> bool {
        PUBLIC_FORBIDDEN.contains(&self.0.as_str())
    }
}

impl TryFrom<String> for Scope {
    type Error = String;

    /// 1 to 64 characters of `a-z 0-9 : _ . -`, starting with a letter or
    /// digit: enough for `events:private`, nothing that needs escaping.
    fn try_from(value: String) -> Result<Self, Self::Error> {
        let ok = !value.is_empty()
            && value.len() <= 64
            && value.as_bytes()[0].is_ascii_alphanumeric()
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b":_.-".contains(&b));
        if ok {
            Ok(Scope(value))
        } else {
            Err(format!(
                "{value:?} is not a scope (1-64 characters of a-z, 0-9, ':', '_', '.', '-')"
            ))
        }
    }
}

impl From<Scope> for String {
    fn from(scope: Scope) -> Self {
        scope.0
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The scopes a caller holds, for the one question the edge asks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet(BTreeSet<String>);

impl ScopeSet {
    pub fn new(scopes: &[Scope]) -> Self {
        Self(scopes.iter().map(|s| s.0.clone()).collect())
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    /// True when every required scope is held (an empty requirement is met).
    pub fn satisfies(&self, required: &[Scope]) -> bool {
        required.iter().all(|s| self.0.contains(s.as_str()))
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_validated() {
        assert!(Scope::try_from("events:private".to_string()).is_ok());
        assert!(Scope::try_from("canvass".to_string()).is_ok());
        assert!(Scope::try_from("".to_string()).is_err());
        assert!(Scope::try_from("Events".to_string()).is_err());
        assert!(Scope::try_from(":x".to_string()).is_err());
        assert!(Scope::try_from("a b".to_string()).is_err());
    }

    #[test]
    fn public_keys_may_not_hold_personal_data_scopes() {
        let s = Scope::try_from("people:read".to_string()).unwrap();
        assert!(s.is_forbidden_for_public_keys());
        let s = Scope::try_from("events".to_string()).unwrap();
        assert!(!s.is_forbidden_for_public_keys());
    }
}
