//! Refresh tokens, rotated on every use. A sign-in starts a family; each
//! refresh spends its token and issues the next in the same family. A
//! token presented a second time means two parties hold it (the user and
//! a thief, or a replay), and nobody can tell which is which: the whole
//! family is revoked, and both must sign in again.
//!
//! Tokens look like `rt_<id>_<secret>`; the store keeps the SHA-256 of the
//! secret (it has 256 bits: no slow hash needed) and finds the row by id.

use subtle::ConstantTimeEq;
use turnout_core::Store;
use turnout_core::store::StoreError;
use turnout_core::token::{base62, sha256_hex};

/// Why a refresh token was refused (the client sees 400 `invalid_grant`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RefreshError {
    #[error("the refresh token is not valid")]
    Unknown,
    #[error("the refresh token has expired")]
    Expired,
    #[error("this sign-in has been revoked")]
    Revoked,
    #[error("the refresh token was already used; this sign-in is now revoked")]
    Reused,
}

#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error(transparent)]
    Refused(#[from] RefreshError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for RotateError {
    fn from(e: sqlx::Error) -> Self {
        RotateError::Store(e.into())
    }
}

/// A spent token's family and person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spent {
    pub family: String,
    pub person_id: i64,
}

#[derive(Debug, Clone)]
pub struct RefreshTokens {
    pub store: Store,
    pub ttl_ms: i64,
}

/// A token's row joined with its family.
struct Row {
    id: String,
    family: String,
    secret_hash: String,
    expires_at: i64,
    used_at: Option<i64>,
    person_id: i64,
    revoked_at: Option<i64>,
}

fn parse(raw: &str) -> Option<(&str, &str)> {
    let rest = raw.trim().strip_prefix("rt_")?;
    let (id, secret) = rest.split_once('_')?;
    (!id.is_empty() && !secret.is_empty()).then_some((id, secret))
}

impl RefreshTokens {
    /// Starts a family for a new sign-in.
    pub async fn start_family(&self, person_id: i64, now: i64) -> Result<String, StoreError> {
        let family = base62(22);
        sqlx::query(
            "INSERT INTO auth_refresh_families (id, person_id, created_at) VALUES ($1, $2, $3)",
        )
        .bind(&family)
        .bind(person_id)
        .bind(now)
        .execute(self.store.pool())
        .await?;
        Ok(family)
    }

    /// A new token in `family`.
    pub async fn issue(&self, family: &str, now: i64) -> Result<String, StoreError> {
        let (id, secret) = (base62(22), base62(43));
        sqlx::query(
            "INSERT INTO auth_refresh_tokens (id, family, secret_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(family)
        .bind(sha256_hex(&secret))
        .bind(now)
        .bind(now + self.ttl_ms)
        .execute(self.store.pool())
        .await?;
        Ok(format!("rt_{id}_{secret}"))
    }

    /// Finds a token's row and checks its secret, without spending it.
    async fn find(&self, raw: &str) -> Result<Row, RotateError> {
        let (id, secret) = parse(raw).ok_or(RefreshError::Unknown)?;
        type Tuple = (String, String, String, i64, Option<i64>, i64, Option<i64>);
        let row: Option<Tuple> = sqlx::query_as(
            "SELECT t.id, t.family, t.secret_hash, t.expires_at, t.used_at, f.person_id, \
             f.revoked_at FROM auth_refresh_tokens t \
             JOIN auth_refresh_families f ON f.id = t.family WHERE t.id = $1",
        )
        .bind(id)
        .fetch_optional(self.store.pool())
        .await?;
        let row = row.map(
            |(id, family, secret_hash, expires_at, used_at, person_id, revoked_at)| Row {
                id,
                family,
                secret_hash,
                expires_at,
                used_at,
                person_id,
                revoked_at,
            },
        );
        match row {
            Some(row)
                if bool::from(
                    sha256_hex(secret)
                        .as_bytes()
                        .ct_eq(row.secret_hash.as_bytes()),
                ) =>
            {
                Ok(row)
            }
            _ => Err(RefreshError::Unknown.into()),
        }
    }

    /// Spends a token: its family and person when it was good; a reuse
    /// revokes the family.
    pub async fn spend(&self, raw: &str, now: i64) -> Result<Spent, RotateError> {
        let Row {
            id,
            family,
            expires_at,
            used_at,
            person_id,
            revoked_at,
            ..
        } = self.find(raw).await?;
        if revoked_at.is_some() {
            return Err(RefreshError::Revoked.into());
        }
        let reused = || async {
            self.revoke_family(&family, "reuse", now).await?;
            tracing::warn!(
                family = %family,
                "a refresh token was used twice; its sign-in is revoked"
            );
            Err::<Spent, RotateError>(RefreshError::Reused.into())
        };
        if used_at.is_some() {
            return reused().await;
        }
        if now >= expires_at {
            return Err(RefreshError::Expired.into());
        }
        let spent = sqlx::query(
            "UPDATE auth_refresh_tokens SET used_at = $1 WHERE id = $2 AND used_at IS NULL",
        )
        .bind(now)
        .bind(&id)
        .execute(self.store.pool())
        .await?
        .rows_affected();
        if spent == 0 {
            // Another request spent it a moment ago: a reuse all the same.
            return reused().await;
        }
        Ok(Spent { family, person_id })
    }

    /// The family a token belongs to, if the token is genuine (spent or
    /// not): for logout with a refresh token.
    pub async fn family_of(&self, raw: &str) -> Result<Option<String>, RotateError> {
        match self.find(raw).await {
            Ok(row) => Ok(Some(row.family)),
            Err(RotateError::Refused(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn revoke_family(
        &self,
        family: &str,
        reason: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE auth_refresh_families SET revoked_at = $1, reason = $2 \
             WHERE id = $3 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(reason)
        .bind(family)
        .execute(self.store.pool())
        .await?;
        Ok(())
    }

    /// Erases every family and token of a person.
    pub async fn forget_person(&self, person_id: i64) -> Result<(), StoreError> {
        let mut tx = self.store.pool().begin().await?;
        sqlx::query(
            "DELETE FROM auth_refresh_tokens WHERE family IN \
             (SELECT id FROM auth_refresh_families WHERE person_id = $1)",
        )
        .bind(person_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM auth_refresh_families WHERE person_id = $1")
            .bind(person_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn tokens_parse_into_id_and_secret() {
        assert_eq!(parse("rt_abc_def"), Some(("abc", "def")));
        assert_eq!(parse("rt__def"), None);
        assert_eq!(parse("abc_def"), None);
        assert_eq!(parse("rt_abc"), None);
    }
}
