//! Sign-in codes that never rest in the store.
//!
//! A code is derived when it is needed: HMAC-SHA256 of the challenge's id
//! under the deployment's `code_key`, read as six decimal digits. The
//! message that carries a code is queued with [`MARK`] where the code goes
//! and the challenge's id beside it; the worker puts the digits in right
//! before the provider call. So the bodies kept in the store, the message
//! API and the logs never hold a code, while a retry after a crash still
//! sends the same one. Verification derives it again and compares in
//! constant time.
//!
//! The key lives in the shared store (every gateway and worker process
//! needs it), generated on first start like the other deployment secrets.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use turnout_core::Store;
use turnout_core::store::StoreError;

/// Where a code goes in a queued body, subject or HTML part.
pub const MARK: &str = "{code}";

/// The deployment's code key.
#[derive(Clone)]
pub struct CodeKey([u8; 32]);

impl std::fmt::Debug for CodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeKey(..)")
    }
}

impl CodeKey {
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Loads the key, creating it on first start. Two processes starting
    /// together both try to insert; the first insert wins and both read
    /// it back.
    pub async fn load_or_create(store: &Store) -> Result<Self, StoreError> {
        let fresh = turnout_core::token::base62(43);
        sqlx::query(
            "INSERT INTO outreach_secrets (name, value) VALUES ('code_key', $1) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(&fresh)
        .execute(store.pool())
        .await?;
        let value: String =
            sqlx::query_scalar("SELECT value FROM outreach_secrets WHERE name = 'code_key'")
                .fetch_one(store.pool())
                .await?;
        Ok(Self::from_text(&value))
    }

    fn from_text(text: &str) -> Self {
        use sha2::Digest;
        Self(Sha256::digest(text.as_bytes()).into())
    }

    /// The six digits of a challenge's code.
    pub fn code(&self, challenge: &str) -> String {
        let tag = self.tag("code", challenge);
        let n = u64::from_be_bytes(tag[..8].try_into().expect("8 bytes"));
        // 2^64 mod 10^6 leaves a bias below 1e-13: negligible.
        format!("{:06}", n % 1_000_000)
    }

    /// Whether `presented` is the challenge's code, in constant time.
    pub fn matches(&self, challenge: &str, presented: &str) -> bool {
        let expected = self.code(challenge);
        presented.len() == expected.len()
            && bool::from(presented.as_bytes().ct_eq(expected.as_bytes()))
    }

    /// A keyed digest under a purpose label, for values that must be
    /// looked up without being stored (a sign-in destination, say).
    pub fn tag(&self, purpose: &str, value: &str) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// [`CodeKey::tag`] as lowercase hex.
    pub fn tag_hex(&self, purpose: &str, value: &str) -> String {
        self.tag(purpose, value)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Puts the challenge's code where [`MARK`] stands.
    pub fn fill(&self, challenge: &str, text: &str) -> String {
        text.replace(MARK, &self.code(challenge))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_stable_per_challenge_and_keyed() {
        let a = CodeKey::new([1; 32]);
        let b = CodeKey::new([2; 32]);
        let code = a.code("ch1");
        assert_eq!(code.len(), 6);
        assert!(code.bytes().all(|c| c.is_ascii_digit()));
        assert_eq!(code, a.code("ch1"));
        assert!(a.matches("ch1", &code));
        assert!(!a.matches("ch1", "12345"));
        // Another challenge or another deployment gives other codes
        // (a collision of six digits is possible but not for these).
        assert_ne!(a.code("ch2"), code);
        assert_ne!(b.code("ch1"), code);
        assert_eq!(
            a.fill("ch1", "Your code is {code}."),
            format!("Your code is {code}.")
        );
    }
}
