//! Where a sign-in code goes: a phone number (by SMS) or an email
//! address, parsed once from the request, and the countries SMS codes may
//! be sent to.

use serde_json::{Map, Value};
use turnout_core::problem::FieldError;
use turnout_outreach::queue::Channel;
use turnout_search::model::PhoneNumber;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Phone(PhoneNumber),
    /// Lower-cased.
    Email(String),
}

impl Destination {
    /// Exactly one of `phone` and `email` from a request body.
    pub fn from_body(body: &Map<String, Value>) -> Result<Self, FieldError> {
        match (body.get("phone"), body.get("email")) {
            (Some(p), None) => {
                let raw = p
                    .as_str()
                    .ok_or_else(|| FieldError::new("phone", "must be a string"))?;
                PhoneNumber::parse(raw)
                    .map(Destination::Phone)
                    .map_err(|e| FieldError::new("phone", e.0))
            }
            (None, Some(e)) => match e.as_str() {
                Some(e) if turnout_search::model::resources::is_email_address(e.trim()) => {
                    Ok(Destination::Email(e.trim().to_lowercase()))
                }
                _ => Err(FieldError::new("email", "is not an email address")),
            },
            _ => Err(FieldError::new(
                "phone",
                "send exactly one of \"phone\" (E.164) and \"email\"",
            )),
        }
    }

    pub fn channel(&self) -> Channel {
        match self {
            Destination::Phone(_) => Channel::Sms,
            Destination::Email(_) => Channel::Email,
        }
    }

    pub fn address(&self) -> &str {
        match self {
            Destination::Phone(p) => p.as_str(),
            Destination::Email(e) => e,
        }
    }

    /// The text its keyed hash is taken over.
    pub fn canonical(&self) -> String {
        format!("{}:{}", self.channel().as_str(), self.address())
    }

    pub fn field(&self) -> &'static str {
        match self {
            Destination::Phone(_) => "phone",
            Destination::Email(_) => "email",
        }
    }
}

/// Canada's area codes (NANP), for `sms_countries = ["CA"]`.
const CANADA: &str = "204 226 236 249 250 257 263 289 306 343 354 365 367 368 382 403 416 418 \
    428 431 437 438 450 460 468 474 506 514 519 548 579 581 584 587 604 613 639 647 672 683 705 \
    709 742 753 778 780 782 807 819 825 867 873 879 902 905 942";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Country {
    /// A US number: +1 and an area code of the US table.
    Us,
    Canada,
    /// Any number starting with this calling code (`+44`).
    Prefix(String),
}

/// The countries SMS codes may go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsCountries(Vec<Country>);

impl SmsCountries {
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        entries
            .iter()
            .map(|e| match e.trim() {
                "US" => Ok(Country::Us),
                "CA" => Ok(Country::Canada),
                p if p.len() > 1
                    && p.starts_with('+')
                    && p[1..].bytes().all(|b| b.is_ascii_digit()) =>
                {
                    Ok(Country::Prefix(p.to_string()))
                }
                other => Err(format!(
                    "auth.otp.sms_countries: {other:?} is neither US, CA nor a calling code like \"+44\""
                )),
            })
            .collect::<Result<_, _>>()
            .map(SmsCountries)
    }

    pub fn allows(&self, number: &PhoneNumber) -> bool {
        let n = number.as_str();
        self.0.iter().any(|c| match c {
            Country::Us => turnout_outreach::consent::area_codes::zone(n).is_some(),
            Country::Canada => n
                .strip_prefix("+1")
                .filter(|d| d.len() == 10)
                .is_some_and(|d| CANADA.split_ascii_whitespace().any(|c| c == &d[..3])),
            Country::Prefix(p) => n.starts_with(p.as_str()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phone(s: &str) -> PhoneNumber {
        PhoneNumber::parse(s).unwrap()
    }

    #[test]
    fn countries_by_area_code_or_calling_code() {
        let us = SmsCountries::parse(&["US".into()]).unwrap();
        assert!(us.allows(&phone("+12155550123")));
        // Jamaica and Toronto share +1 but are not the US.
        assert!(!us.allows(&phone("+18765550123")));
        assert!(!us.allows(&phone("+14165550123")));
        let ca_uk = SmsCountries::parse(&["CA".into(), "+44".into()]).unwrap();
        assert!(ca_uk.allows(&phone("+14165550123")));
        assert!(ca_uk.allows(&phone("+447700900123")));
        assert!(!ca_uk.allows(&phone("+12155550123")));
        assert!(SmsCountries::parse(&["France".into()]).is_err());
    }

    #[test]
    fn a_body_names_exactly_one_destination() {
        let body = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(
            Destination::from_body(&body(serde_json::json!({"email": " Ann@Example.org"}))),
            Ok(Destination::Email("ann@example.org".into()))
        );
        assert!(
            Destination::from_body(&body(
                serde_json::json!({"email": "a@b.org", "phone": "+12155550123"})
            ))
            .is_err()
        );
        assert!(Destination::from_body(&body(serde_json::json!({"phone": "555"}))).is_err());
    }
}
