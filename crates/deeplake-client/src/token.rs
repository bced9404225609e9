//! Reading the org from a JWT. Embedded mode trusts the token's claims
//! without a signature check (the server verifies signatures).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::error::{ClientError, Result};

/// The claims a token carries that the client uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    pub org_id: Option<String>,
    pub exp: Option<i64>,
}

pub fn parse(token: &str) -> Result<Claims> {
    let parts: Vec<&str> = token.trim().split('.').collect();
    if parts.len() != 3 {
        return Err(ClientError::token(
            "Invalid token format: expected JWT with 3 parts",
        ));
    }
    let payload = URL_SAFE_NO_PAD
        .decode(parts[1].trim_end_matches('='))
        .map_err(|e| ClientError::token(format!("Invalid token payload: {e}")))?;
    let json: serde_json::Value = serde_json::from_slice(&payload)
        .map_err(|e| ClientError::token(format!("Invalid token payload: {e}")))?;
    let org_id = ["OrgID", "org_id"]
        .iter()
        .find_map(|k| json.get(*k).and_then(|v| v.as_str()).map(str::to_string))
        .filter(|s| !s.is_empty());
    let exp = ["Exp", "exp"]
        .iter()
        .find_map(|k| json.get(*k).and_then(|v| v.as_i64()));
    Ok(Claims { org_id, exp })
}

/// The org a token names, rejecting expired tokens.
pub fn org_of(token: &str, now_secs: i64) -> Result<String> {
    let claims = parse(token)?;
    if let Some(exp) = claims.exp {
        if exp < now_secs {
            return Err(ClientError::auth("Token expired"));
        }
    }
    claims
        .org_id
        .ok_or_else(|| ClientError::token("Token does not contain org_id claim"))
}
