//! The keys user tokens are signed with (Ed25519, `alg: EdDSA`), kept in
//! the shared store so every instance signs and verifies with the same
//! set, and published at `/.well-known/jwks.json`.
//!
//! Rotation publishes before it signs: `turnout keys rotate-signing`
//! stores a new key whose `active_from` lies a few seconds ahead, and
//! retires the current one at that same moment. Every instance reloads
//! the set every second, so all of them verify the new kid before any
//! token carries it; the retired key keeps verifying until the last token
//! it signed has expired, then drops out of the JWKS.

use std::sync::Arc;

use arc_swap::ArcSwap;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{DecodingKey, EncodingKey};
use serde_json::{Value, json};
use turnout_core::Store;
use turnout_core::store::StoreError;

/// One key as loaded.
pub struct SigningKey {
    pub kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// The JWK's `x`.
    x: String,
    /// Unix seconds.
    active_from: i64,
    retired_at: Option<i64>,
}

impl SigningKey {
    pub fn encoding(&self) -> &EncodingKey {
        &self.encoding
    }

    pub fn decoding(&self) -> &DecodingKey {
        &self.decoding
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("signing key {kid} is unreadable: {reason}")]
    Corrupt { kid: String, reason: String },
    #[error("generating a key failed")]
    Generate,
}

impl From<sqlx::Error> for SigningError {
    fn from(e: sqlx::Error) -> Self {
        SigningError::Store(e.into())
    }
}

/// The set of keys, reloaded from the store in the background.
pub struct SigningKeys {
    store: Store,
    keys: ArcSwap<Vec<Arc<SigningKey>>>,
    /// How long a retired key still verifies: the access-token lifetime
    /// plus the clock leeway.
    verify_after_retirement: i64,
}

impl SigningKeys {
    /// Loads the set, creating the first key on first start.
    pub async fn open(
        store: Store,
        now: i64,
        verify_after_retirement: i64,
    ) -> Result<Self, SigningError> {
        let keys = Self {
            store,
            keys: ArcSwap::from_pointee(Vec::new()),
            verify_after_retirement,
        };
        keys.reload().await?;
        if keys.signer(now).is_none() {
            let mut conn = keys.store.pool().acquire().await?;
            insert_new(&mut conn, now, now).await?;
            keys.reload().await?;
        }
        Ok(keys)
    }

    pub async fn reload(&self) -> Result<(), SigningError> {
        let rows: Vec<(String, String, String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT kid, private_key, public_key, active_from, retired_at \
             FROM auth_signing_keys ORDER BY active_from, kid",
        )
        .fetch_all(self.store.pool())
        .await?;
        let mut keys = Vec::with_capacity(rows.len());
        for (kid, private, x, active_from, retired_at) in rows {
            let corrupt = |reason: String| SigningError::Corrupt {
                kid: kid.clone(),
                reason,
            };
            let pkcs8 = STANDARD
                .decode(&private)
                .map_err(|e| corrupt(e.to_string()))?;
            let public = URL_SAFE_NO_PAD
                .decode(&x)
                .map_err(|e| corrupt(e.to_string()))?;
            keys.push(Arc::new(SigningKey {
                encoding: EncodingKey::from_ed_der(&pkcs8),
                decoding: DecodingKey::from_ed_der(&public),
                kid,
                x,
                active_from,
                retired_at,
            }));
        }
        self.keys.store(Arc::new(keys));
        Ok(())
    }

    /// The key that signs at `now`: in force, active, the newest such.
    pub fn signer(&self, now: i64) -> Option<Arc<SigningKey>> {
        self.keys
            .load()
            .iter()
            .filter(|k| k.active_from <= now && k.retired_at.is_none_or(|r| r > now))
            .max_by(|a, b| (a.active_from, &a.kid).cmp(&(b.active_from, &b.kid)))
            .cloned()
    }

    fn verifies(&self, k: &SigningKey, now: i64) -> bool {
        k.retired_at
            .is_none_or(|r| now < r + self.verify_after_retirement)
    }

    /// The key a token's `kid` names, if it may still verify at `now`.
    pub fn verifier(&self, kid: &str, now: i64) -> Option<Arc<SigningKey>> {
        self.keys
            .load()
            .iter()
            .find(|k| k.kid == kid && self.verifies(k, now))
            .cloned()
    }

    /// The JWKS document: every key that verifies now, including one
    /// published but not yet signing.
    pub fn jwks(&self, now: i64) -> Value {
        let keys: Vec<Value> = self
            .keys
            .load()
            .iter()
            .filter(|k| self.verifies(k, now))
            .map(|k| {
                json!({"kty": "OKP", "crv": "Ed25519", "x": k.x, "kid": k.kid,
                       "alg": "EdDSA", "use": "sig"})
            })
            .collect();
        json!({ "keys": keys })
    }
}

/// Publishes a new key that starts signing `delay_secs` after `now`, and
/// retires the key(s) in force at that moment, in one transaction: there
/// is never a moment without a key to sign with. Returns the new kid.
pub async fn rotate(store: &Store, now: i64, delay_secs: i64) -> Result<String, SigningError> {
    let active_from = now + delay_secs;
    let mut tx = store.pool().begin().await?;
    sqlx::query("UPDATE auth_signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
        .bind(active_from)
        .execute(&mut *tx)
        .await?;
    let kid = insert_new(&mut tx, now, active_from).await?;
    tx.commit().await?;
    Ok(kid)
}

async fn insert_new(
    conn: &mut sqlx::AnyConnection,
    now: i64,
    active_from: i64,
) -> Result<String, SigningError> {
    let pkcs8 =
        Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| SigningError::Generate)?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| SigningError::Generate)?;
    let kid = format!(
        "{}-{}",
        chrono::DateTime::from_timestamp(now, 0)
            .unwrap_or_default()
            .format("%Y%m%d"),
        turnout_core::token::lower36(8)
    );
    sqlx::query(
        "INSERT INTO auth_signing_keys (kid, private_key, public_key, created_at, active_from) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&kid)
    .bind(STANDARD.encode(pkcs8.as_ref()))
    .bind(URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()))
    .bind(now)
    .bind(active_from)
    .execute(conn)
    .await?;
    Ok(kid)
}
