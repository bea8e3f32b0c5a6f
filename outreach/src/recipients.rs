//! A person as a recipient: the address a channel uses, the variables a
//! template sees, and the zones whose clock the send window follows.

use chrono_tz::Tz;
use serde_json::{Map, Value};
use turnout_search::model::Person;

use crate::consent::area_codes;
use crate::queue::Channel;

/// SMS: the primary SMS-capable number, else any SMS-capable one; a
/// number not known to take texts is never used for a campaign. Email:
/// the primary address, else the first.
pub fn address(person: &Person, channel: Channel) -> Option<String> {
    match channel {
        Channel::Sms => person
            .phone_numbers
            .iter()
            .filter(|p| p.sms_capable)
            .max_by_key(|p| p.primary)
            .map(|p| p.number.as_str().to_string()),
        Channel::Email => person
            .email_addresses
            .iter()
            .max_by_key(|e| e.primary)
            .map(|e| e.address.clone()),
    }
}

/// A bare address given for a channel, in the form messages are sent to:
/// an E.164 number for SMS, an email address as given for email; else why
/// not, for the caller's field error.
pub fn parse_address(channel: Channel, raw: &str) -> Result<String, String> {
    match channel {
        Channel::Sms => turnout_search::model::PhoneNumber::parse(raw)
            .map(|p| p.as_str().to_string())
            .map_err(|e| e.0),
        Channel::Email if turnout_search::model::resources::is_email_address(raw) => {
            Ok(raw.to_string())
        }
        Channel::Email => Err("is not an email address".to_string()),
    }
}

/// The person as served, which is what `{{ given_name }}` reads.
pub fn vars(person: &Person) -> Map<String, Value> {
    match serde_json::to_value(person) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// Where the recipient's clock is: the zone of their address; else the
/// zone of their phone's area code; else the campaign's `timezone`; else
/// unknown, and then the window must be open in every zone of the
/// contiguous US at once.
pub fn zones(person: Option<&Person>, fallback: Option<Tz>) -> Vec<Tz> {
    let own = person.and_then(|p| {
        p.timezone
            .as_deref()
            .and_then(|z| z.parse::<Tz>().ok())
            .or_else(|| {
                p.phone_numbers
                    .iter()
                    .find_map(|ph| area_codes::zone(ph.number.as_str()))
            })
    });
    match own.or(fallback) {
        Some(tz) => vec![tz],
        None => vec![
            chrono_tz::America::New_York,
            chrono_tz::America::Chicago,
            chrono_tz::America::Denver,
            chrono_tz::America::Los_Angeles,
        ],
    }
}
