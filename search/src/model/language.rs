use std::fmt;

use serde::{Deserialize, Serialize};

use super::InvalidValue;

/// A well-formed RFC 5646 language tag in its canonical case: language
/// lowercase, script titlecase, region uppercase, everything else
/// lowercase (`ES` → `es`, `en-us` → `en-US`, `zh-hant-tw` → `zh-Hant-TW`).
/// Tags are compared after normalising, so `languages_spoken=ES` finds a
/// volunteer who speaks `es`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LanguageTag(String);

impl LanguageTag {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let refuse = || {
            InvalidValue(format!(
                "{raw:?} is not an RFC 5646 language tag (like es or en-US)"
            ))
        };
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > 64 {
            return Err(refuse());
        }
        let parts: Vec<&str> = raw.split('-').collect();
        if parts
            .iter()
            .any(|p| p.is_empty() || p.len() > 8 || !p.bytes().all(|b| b.is_ascii_alphanumeric()))
        {
            return Err(refuse());
        }
        let alpha = |s: &str| s.bytes().all(|b| b.is_ascii_alphabetic());
        let digit = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        let mut out = Vec::with_capacity(parts.len());
        let mut i = 0;
        // Private-use tags (x-...) stand alone.
        if parts[0].eq_ignore_ascii_case("x") {
            if parts.len() < 2 {
                return Err(refuse());
            }
            return Ok(Self(raw.to_ascii_lowercase()));
        }
        // language: 2-3 letters (with up to 3 extlang subtags) or 4-8 letters.
        let lang = parts[0];
        if !(alpha(lang) && (2..=8).contains(&lang.len())) {
            return Err(refuse());
        }
        out.push(lang.to_ascii_lowercase());
        i += 1;
        if lang.len() <= 3 {
            let mut extlangs = 0;
            while i < parts.len() && parts[i].len() == 3 && alpha(parts[i]) && extlangs < 3 {
                out.push(parts[i].to_ascii_lowercase());
                i += 1;
                extlangs += 1;
            }
        }
        // script: 4 letters.
        if i < parts.len() && parts[i].len() == 4 && alpha(parts[i]) {
            let s = parts[i].to_ascii_lowercase();
            out.push(s[..1].to_ascii_uppercase() + &s[1..]);
            i += 1;
        }
        // region: 2 letters or 3 digits.
        if i < parts.len()
            && ((parts[i].len() == 2 && alpha(parts[i]))
                || (parts[i].len() == 3 && digit(parts[i])))
        {
            out.push(parts[i].to_ascii_uppercase());
            i += 1;
        }
        // variants: 5-8 alphanumerics, or a digit and 3 alphanumerics.
        while i < parts.len()
            && ((5..=8).contains(&parts[i].len())
                || (parts[i].len() == 4 && parts[i].as_bytes()[0].is_ascii_digit()))
        {
            out.push(parts[i].to_ascii_lowercase());
            i += 1;
        }
        // extensions (a singleton other than x, then 2-8 character subtags)
        // and private use (x, then 1-8 character subtags).
        while i < parts.len() {
            let singleton = parts[i];
            if singleton.len() != 1 {
                return Err(refuse());
            }
            let private = singleton.eq_ignore_ascii_case("x");
            out.push(singleton.to_ascii_lowercase());
            i += 1;
            let start = i;
            while i < parts.len() && (private || parts[i].len() >= 2) {
                out.push(parts[i].to_ascii_lowercase());
                i += 1;
            }
            if i == start {
                return Err(refuse());
            }
        }
        Ok(Self(out.join("-")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The primary language (`en` for `en-US`).
    pub fn primary(&self) -> &str {
        self.0.split('-').next().unwrap_or(&self.0)
    }
}

impl TryFrom<String> for LanguageTag {
    type Error = InvalidValue;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<LanguageTag> for String {
    fn from(t: LanguageTag) -> Self {
        t.0
    }
}

impl fmt::Display for LanguageTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_normalised() {
        for (raw, canonical) in [
            ("ES", "es"),
            ("en-us", "en-US"),
            ("zh-hant-tw", "zh-Hant-TW"),
            ("es-419", "es-419"),
            ("sl-ROZAJ-biske", "sl-rozaj-biske"),
            ("de-CH-1901", "de-CH-1901"),
            ("en-US-u-ca-gregory", "en-US-u-ca-gregory"),
            ("x-klingon", "x-klingon"),
            ("haw", "haw"),
        ] {
            assert_eq!(
                LanguageTag::parse(raw).unwrap().as_str(),
                canonical,
                "{raw}"
            );
        }
        assert_eq!(LanguageTag::parse("en-GB").unwrap().primary(), "en");
    }

    #[test]
    fn malformed_tags_are_refused() {
        // ("english-language" would be well-formed: RFC 5646 allows a 5-8
        // letter primary language and an 8-character variant.)
        for bad in [
            "",
            "e",
            "e1",
            "en-toolongsubtag",
            "en_US",
            "en--US",
            "en-US-",
            "12",
            "en-a",
            "en-u",
            "x",
            "en-US-x",
        ] {
            assert!(LanguageTag::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
