//! Random tokens and their digests. Secrets are drawn from the OS-seeded
//! CSPRNG and spelled in base62, so they survive URLs, headers and
//! copy-paste, and never contain the `_` that separates parts of a key.

use rand::Rng;
use sha2::{Digest, Sha256};

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const LOWER36: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// `len` base62 characters: 5.95 bits each, so 43 characters carry 256 bits.
pub fn base62(len: usize) -> String {
    from_alphabet(BASE62, len)
}

/// `len` lowercase alphanumerics, for identifiers people read aloud.
pub fn lower36(len: usize) -> String {
    from_alphabet(LOWER36, len)
}

fn from_alphabet(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

/// Lowercase hex SHA-256, for high-entropy secrets (admin tokens) where a
/// slow password hash would buy nothing.
pub fn sha256_hex(input: &str) -> String {
    sha256_hex_bytes(input.as_bytes())
}

pub fn sha256_hex_bytes(input: &[u8]) -> String {
    let digest = Sha256::digest(input);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_use_only_their_alphabet_and_differ() {
        let a = base62(43);
        let b = base62(43);
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert!(
            lower36(12)
                .bytes()
                .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
        );
    }

    #[test]
    fn sha256_hex_matches_a_known_vector() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
