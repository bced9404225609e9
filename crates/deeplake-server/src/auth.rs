//! Tokens: HS256 JWTs with the reference's claims, signed and verified
//! with the server's secret.
//!
//! Contract: a request is authenticated only by a token whose header says
//! HS256, whose signature verifies with the secret, and whose `Exp` claim
//! (seconds since the epoch, the reference's capitalised name) is present
//! and in the future. Anything else is refused before any handler runs.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::ServerError;

/// The claims of a Deeplake token, named as the reference names them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    #[serde(rename = "Type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(rename = "Name", default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "UserID", default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(rename = "OrgID", default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    #[serde(rename = "Exp", default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(rename = "Iat", default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
}

/// Seconds since the epoch (0 if the clock is before it).
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The HS256 signing secret, which must be long enough to resist guessing.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

/// Shorter secrets are refused: HS256 with a short key is brute-forceable.
pub const MIN_SECRET_BYTES: usize = 32;

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Secret, ServerError> {
        let bytes: Vec<u8> = bytes.into();
        let trimmed = bytes.trim_ascii();
        if trimmed.len() < MIN_SECRET_BYTES {
            return Err(ServerError::config(format!(
                "the JWT secret is {} bytes long; it must be at least {MIN_SECRET_BYTES}",
                trimmed.len()
            )));
        }
        Ok(Secret(trimmed.to_vec()))
    }

    /// The secret from `$DEEPLAKE_JWT_SECRET`, else from `file`; without
    /// either, a clear refusal (a server must never run unauthenticated).
    pub fn from_env_or_file(file: Option<&std::path::Path>) -> Result<Secret, ServerError> {
        if let Some(path) = file {
            let bytes = std::fs::read(path).map_err(|e| {
                ServerError::config(format!(
                    "cannot read the JWT secret file {}: {e}",
                    path.display()
                ))
            })?;
            return Secret::new(bytes);
        }
        match std::env::var("DEEPLAKE_JWT_SECRET") {
            Ok(v) if !v.trim().is_empty() => Secret::new(v.into_bytes()),
            _ => Err(ServerError::config(
                "no JWT signing secret: set DEEPLAKE_JWT_SECRET or pass --jwt-secret-file FILE \
                 (at least 32 bytes, e.g. from `openssl rand -hex 32`)",
            )),
        }
    }

    /// A signed token carrying `claims`.
    pub fn sign(&self, claims: &Claims) -> Result<String, ServerError> {
        encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(&self.0),
        )
        .map_err(|e| ServerError::internal(format!("cannot sign the token: {e}")))
    }

    /// The claims of a token this secret signed, checked for algorithm,
    /// signature and expiry at `now`.
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, ServerError> {
        let mut v = Validation::new(Algorithm::HS256);
        // The reference's expiry claim is `Exp`, which the library does not
        // know; it is checked below instead, and required.
        v.validate_exp = false;
        v.required_spec_claims.clear();
        v.validate_aud = false;
        let data = decode::<Claims>(token.trim(), &DecodingKey::from_secret(&self.0), &v).map_err(
            |e| {
                use jsonwebtoken::errors::ErrorKind as K;
                let why = match e.kind() {
                    K::InvalidSignature => "invalid signature".to_string(),
                    K::InvalidAlgorithm | K::InvalidAlgorithmName => {
                        "the token is not signed with HS256".to_string()
                    }
                    K::InvalidToken | K::Base64(_) | K::Json(_) | K::Utf8(_) => {
                        "malformed token".to_string()
                    }
                    other => format!("{other:?}"),
                };
                ServerError::unauthorized(format!("Unauthorized: {why}"))
            },
        )?;
        let claims = data.claims;
        match claims.exp {
            None => Err(ServerError::unauthorized(
                "Unauthorized: the token has no Exp claim",
            )),
            Some(exp) if exp <= now => {
                Err(ServerError::unauthorized("Unauthorized: token expired"))
            }
            Some(_) => Ok(claims),
        }
    }
}

/// Claims of a new token: `ttl` seconds from `now`.
pub fn new_claims(
    org: Option<&str>,
    user: Option<&str>,
    name: Option<&str>,
    ttl: i64,
    now: i64,
) -> Claims {
    Claims {
        kind: Some("API".into()),
        name: name.map(str::to_string),
        user_id: user.map(str::to_string),
        org_id: org.map(str::to_string),
        exp: Some(now + ttl),
        iat: Some(now),
    }
}
