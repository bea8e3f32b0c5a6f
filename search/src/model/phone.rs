use std::fmt;

use serde::{Deserialize, Serialize};

use super::InvalidValue;

/// An E.164 number: `+`, a country code that does not start with 0, at
/// most 15 digits in all. Spaces, dots, dashes and parentheses between
/// digits are accepted and dropped, so `+1 (215) 555-0123` is
/// `+12155550123`; a number without its `+` is refused rather than guessed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let refuse = || {
            InvalidValue(format!(
                "{raw:?} is not an E.164 phone number (like +12155550123)"
            ))
        };
        let rest = raw.trim().strip_prefix('+').ok_or_else(refuse)?;
        let mut digits = String::with_capacity(16);
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(refuse()),
            }
        }
        if !(8..=15).contains(&digits.len()) || digits.starts_with('0') {
            return Err(refuse());
        }
        Ok(Self(format!("+{digits}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = InvalidValue;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<PhoneNumber> for String {
    fn from(p: PhoneNumber) -> Self {
        p.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_normalised_to_e164() {
        assert_eq!(
            PhoneNumber::parse("+1 (215) 555-0123").unwrap().as_str(),
            "+12155550123"
        );
        assert_eq!(
            PhoneNumber::parse(" +44 20 7946 0958 ").unwrap().as_str(),
            "+442079460958"
        );
        assert_eq!(
            PhoneNumber::parse("+491701234567").unwrap().to_string(),
            "+491701234567"
        );
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "2155550123",
            "+0215555012",
            "+1215",
            "+1234567890123456",
            "+1 215 555 O123",
            "",
            "+",
            "++12155550123",
        ] {
            assert!(PhoneNumber::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
