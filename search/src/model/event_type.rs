use std::fmt;

use serde::{Deserialize, Serialize};

use super::InvalidValue;

/// Mobilize's event types, the values campaign tools already exchange.
/// Parsing accepts any case (`canvass` → `CANVASS`) and refuses the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(into = "&'static str")]
pub struct EventType(&'static str);

/// By hand: a derived impl would only read from `'static` input because of
/// the `&'static str` inside.
impl<'de> Deserialize<'de> for EventType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        EventType::parse(&raw).map_err(serde::de::Error::custom)
    }
}

const KNOWN: [&str; 35] = [
    "CANVASS",
    "PHONE_BANK",
    "TEXT_BANK",
    "MEETING",
    "COMMUNITY",
    "FUNDRAISER",
    "MEET_GREET",
    "HOUSE_PARTY",
    "VOTER_REG",
    "TRAINING",
    "FRIEND_TO_FRIEND_OUTREACH",
    "DEBATE_WATCH_PARTY",
    "ADVOCACY_CALL",
    "RALLY",
    "TOWN_HALL",
    "OFFICE_OPENING",
    "BARNSTORM",
    "SOLIDARITY_EVENT",
    "COMMUNITY_CANVASS",
    "SIGNATURE_GATHERING",
    "CARPOOL",
    "WORKSHOP",
    "PETITION",
    "AUTOMATED_PHONE_BANK",
    "LETTER_WRITING",
    "LITERATURE_DROP_OFF",
    "VISIBILITY_EVENT",
    "PLEDGE",
    "INTEREST_FORM",
    "DONATION_CAMPAIGN",
    "SOCIAL_MEDIA_CAMPAIGN",
    "POSTCARD_WRITING",
    "GROUP",
    "VOLUNTEER_SHIFT",
    "OTHER",
];

impl EventType {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let upper = raw.trim().to_ascii_uppercase();
        KNOWN
            .iter()
            .find(|k| **k == upper)
            .map(|k| EventType(k))
            .ok_or_else(|| InvalidValue(format!("{raw:?} is not a known event type (CANVASS, PHONE_BANK, TEXT_BANK, MEETING, ...)")))
    }

    pub fn as_str(&self) -> &'static str {
        self.0
    }

    pub fn all() -> impl Iterator<Item = EventType> {
        KNOWN.iter().map(|k| EventType(k))
    }
}

impl TryFrom<String> for EventType {
    type Error = InvalidValue;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<EventType> for &'static str {
    fn from(t: EventType) -> Self {
        t.0
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_types_parse_in_any_case_and_others_do_not() {
        assert_eq!(EventType::parse("canvass").unwrap().as_str(), "CANVASS");
        assert_eq!(
            EventType::parse(" Phone_Bank ").unwrap(),
            EventType::parse("PHONE_BANK").unwrap()
        );
        assert!(EventType::parse("PICNIC").is_err());
        assert!(EventType::parse("").is_err());
        assert_eq!(EventType::all().count(), 35);
    }
}
