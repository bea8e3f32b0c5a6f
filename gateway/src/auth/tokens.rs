//! Access tokens: what they claim, how they are issued, and the one
//! function that decides whether a presented token is good.
//!
//! Times are checked here against the injected clock, not by
//! jsonwebtoken (which reads the system clock), so expiry can be tested
//! without waiting. The algorithm is fixed: a token whose header names
//! any other (`none`, `HS256` keyed with our public key, ...) is refused
//! before any key is touched.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};
use turnout_core::Clock;
use turnout_search::model::resources::Role;

use super::signing::SigningKeys;

/// The claims API.md names, plus `nbf` and `sid` (the sign-in session:
/// the refresh-token family, which logout revokes).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub role: Role,
    pub iat: i64,
    #[serde(default)]
    pub nbf: Option<i64>,
    pub exp: i64,
    pub jti: String,
    #[serde(default)]
    pub sid: Option<String>,
}

/// A signed-in person, as a verified token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub person_id: i64,
    pub role: Role,
    pub session: Option<String>,
}

/// Why a token was refused. The client sees one answer (401
/// `invalid_token`) with this as its detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token's algorithm is not EdDSA")]
    Algorithm,
    #[error("the token's key (kid) is not one of ours")]
    UnknownKey,
    #[error("the token's signature does not verify")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued by someone else")]
    Issuer,
    #[error("the token is meant for another audience")]
    Audience,
    #[error("the token has no valid subject or claims")]
    Claims,
}

pub struct Tokens {
    keys: Arc<SigningKeys>,
    clock: Arc<dyn Clock>,
    issuer: String,
    audience: String,
    ttl_secs: i64,
    leeway_secs: i64,
    /// What jsonwebtoken checks (algorithm, signature, `iss`, `aud`, the
    /// required claims), built once rather than per request.
    validation: Validation,
}

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("no signing key is in force")]
    NoKey,
    #[error("signing failed: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
}

impl Tokens {
    pub fn new(
        keys: Arc<SigningKeys>,
        clock: Arc<dyn Clock>,
        issuer: String,
        audience: String,
        ttl_secs: i64,
        leeway_secs: i64,
    ) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        // Times are checked in `verify`, against the injected clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_issuer(&[&issuer]);
        validation.set_audience(&[&audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        Self {
            keys,
            clock,
            issuer,
            audience,
            ttl_secs,
            leeway_secs,
            validation,
        }
    }

    /// A fresh access token for a person.
    pub fn issue(
        &self,
        person_id: i64,
        role: Role,
        session: &str,
    ) -> Result<(String, i64), IssueError> {
        let now = self.clock.now().timestamp();
        let key = self.keys.signer(now).ok_or(IssueError::NoKey)?;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(key.kid.clone());
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: person_id.to_string(),
            role,
            iat: now,
            nbf: Some(now),
            exp: now + self.ttl_secs,
            jti: turnout_core::token::base62(22),
            sid: Some(session.to_string()),
        };
        let token = jsonwebtoken::encode(&header, &claims, key.encoding())?;
        Ok((token, self.ttl_secs))
    }

    pub fn verify(&self, token: &str) -> Result<User, TokenError> {
        use jsonwebtoken::errors::ErrorKind;
        // The header is read only to pick the key; nothing in it is
        // trusted beyond that.
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Algorithm);
        }
        let now = self.clock.now().timestamp();
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let key = self
            .keys
            .verifier(&kid, now)
            .ok_or(TokenError::UnknownKey)?;
        let data = jsonwebtoken::decode::<Claims>(token, key.decoding(), &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => TokenError::Signature,
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                    TokenError::Algorithm
                }
                ErrorKind::InvalidIssuer => TokenError::Issuer,
                ErrorKind::InvalidAudience => TokenError::Audience,
                ErrorKind::MissingRequiredClaim(_)
                | ErrorKind::InvalidClaimFormat(_)
                | ErrorKind::Json(_) => TokenError::Claims,
                _ => TokenError::Malformed,
            })?;
        let c = data.claims;
        if now > c.exp + self.leeway_secs {
            return Err(TokenError::Expired);
        }
        if c.nbf.is_some_and(|nbf| nbf > now + self.leeway_secs) || c.iat > now + self.leeway_secs {
            return Err(TokenError::NotYetValid);
        }
        let person_id = c.sub.parse::<i64>().map_err(|_| TokenError::Claims)?;
        Ok(User {
            person_id,
            role: c.role,
            session: c.sid,
        })
    }
}
