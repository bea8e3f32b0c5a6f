//! Inbound SMS keywords (API.md, carriers' rules): a reply that is one of
//! these words, in any case, with surrounding spaces or punctuation, opts
//! the number out, back in, or asks for help. Anything else is a reply to
//! be stored and listed.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    OptOut,
    OptIn,
    Help,
}

const OPT_OUT: [&str; 8] = [
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "END",
    "QUIT",
    "CANCEL",
    "REVOKE",
    "OPTOUT",
];
const OPT_IN: [&str; 3] = ["START", "YES", "UNSTOP"];
const HELP: [&str; 2] = ["HELP", "INFO"];

pub fn classify(body: &str) -> Option<Keyword> {
    let word: String = body
        .trim()
        .trim_matches(|c: char| c.is_ascii_punctuation() || c.is_whitespace())
        .to_uppercase();
    if OPT_OUT.contains(&word.as_str()) {
        Some(Keyword::OptOut)
    } else if OPT_IN.contains(&word.as_str()) {
        Some(Keyword::OptIn)
    } else if HELP.contains(&word.as_str()) {
        Some(Keyword::Help)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_keyword_of_the_contract_is_recognised() {
        for w in OPT_OUT {
            assert_eq!(classify(w), Some(Keyword::OptOut), "{w}");
        }
        for w in OPT_IN {
            assert_eq!(classify(w), Some(Keyword::OptIn), "{w}");
        }
        for w in HELP {
            assert_eq!(classify(w), Some(Keyword::Help), "{w}");
        }
    }

    #[test]
    fn case_spaces_and_punctuation_do_not_matter_but_sentences_do() {
        assert_eq!(classify("  stop. "), Some(Keyword::OptOut));
        assert_eq!(classify("Stop!"), Some(Keyword::OptOut));
        assert_eq!(classify("yes"), Some(Keyword::OptIn));
        assert_eq!(classify("please stop texting me"), None);
        assert_eq!(classify("Can I help?"), None);
        assert_eq!(classify(""), None);
    }
}
