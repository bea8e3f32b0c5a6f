//! API key strings and their keyed hashes.
//!
//! A key reads `tk_<public id>_<secret>`. The public id finds the key in
//! memory; the secret is checked against an HMAC-SHA256 computed with the
//! server's hashing key. A keyed hash rather than a slow password hash: the
//! secret has ~190 random bits, so there is nothing to brute-force, and the
//! check must cost microseconds on every request.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub const KEY_PREFIX: &str = "tk_";
const ID_LEN: usize = 12;
const SECRET_LEN: usize = 32;

/// A presented key, split into its parts. Parsing rejects anything that
/// could not have been issued, before any lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresentedKey<'a> {
    pub id: &'a str,
    pub secret: &'a str,
}

impl<'a> PresentedKey<'a> {
    pub fn parse(raw: &'a str) -> Option<Self> {
        let rest = raw.strip_prefix(KEY_PREFIX)?;
        let (id, secret) = rest.split_once('_')?;
        let id_ok = id.len() == ID_LEN
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let secret_ok =
            secret.len() == SECRET_LEN && secret.bytes().all(|b| b.is_ascii_alphanumeric());
        (id_ok && secret_ok).then_some(Self { id, secret })
    }
}

/// A freshly issued key: the full string is shown once, then forgotten.
#[derive(Debug, Clone)]
pub struct IssuedKey {
    pub id: String,
    pub full: String,
    pub hash: [u8; 32],
}

/// Computes and checks keyed hashes of key secrets.
#[derive(Clone)]
pub struct KeyHasher {
    /// The MAC keyed once; cloning it per check skips re-deriving the pads.
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyHasher(..)")
    }
}

impl KeyHasher {
    pub fn new(hashing_key: &[u8]) -> Self {
        Self {
            mac: Hmac::<Sha256>::new_from_slice(hashing_key).expect("HMAC takes any key length"),
        }
    }

    pub fn hash(&self, secret: &str) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(secret.as_bytes());
        mac.finalize().into_bytes().into()
    }

    pub fn verify(&self, secret: &str, expected: &[u8; 32]) -> bool {
        self.hash(secret).ct_eq(expected).into()
    }

    pub fn issue(&self) -> IssuedKey {
        let id = turnout_core::token::lower36(ID_LEN);
        let secret = turnout_core::token::base62(SECRET_LEN);
        IssuedKey {
            full: format!("{KEY_PREFIX}{id}_{secret}"),
            hash: self.hash(&secret),
            id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issued_key_parses_and_verifies() {
        let hasher = KeyHasher::new(b"server secret");
        let issued = hasher.issue();
        let presented = PresentedKey::parse(&issued.full).expect("parses");
        assert_eq!(presented.id, issued.id);
        assert!(hasher.verify(presented.secret, &issued.hash));
    }

    #[test]
    fn a_wrong_secret_or_hashing_key_fails() {
        let hasher = KeyHasher::new(b"server secret");
        let issued = hasher.issue();
        let other = hasher.issue();
        let presented = PresentedKey::parse(&other.full).unwrap();
        assert!(!hasher.verify(presented.secret, &issued.hash));
        let elsewhere = KeyHasher::new(b"another server");
        let mine = PresentedKey::parse(&issued.full).unwrap();
        assert!(!elsewhere.verify(mine.secret, &issued.hash));
    }

    #[test]
    fn malformed_keys_do_not_parse() {
        for raw in [
            "",
            "tk_",
            "tk_abc_def",
            "xx_abcdefghijkl_0123456789abcdef0123456789ABCDEF",
            "tk_ABCDEFGHIJKL_0123456789abcdef0123456789ABCDEF",
            "tk_abcdefghijkl_0123456789abcdef0123456789ABCDE!",
            "tk_abcdefghijkl_0123456789abcdef0123456789ABCDEFG",
        ] {
            assert!(PresentedKey::parse(raw).is_none(), "{raw:?} parsed");
        }
        assert!(PresentedKey::parse("tk_abcdefghijkl_0123456789abcdef0123456789ABCDEF").is_some());
    }
}
