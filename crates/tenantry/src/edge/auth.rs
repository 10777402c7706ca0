//! Bearer-token verification.
//!
//! Keys decide algorithms, never the token: the HS256 secret verifies only
//! HS256 tokens, and a JWKS key verifies only the algorithm of its own type
//! (RS256 for RSA, ES256 for P-256). So `alg: none` and the classic
//! confusion (an RSA public key used as an HMAC secret) have no path through.

use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::jwks::{Jwks, JwksSource};
use crate::context::{Role, UserId};

/// The claims tenantry reads from a token.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The user (a UUID).
    pub sub: String,
    /// The tenant the token was issued for: its slug or its id.
    pub tenant: String,
    /// The user's role in the tenant (`admin` or `member`; default member).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Issued at, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
}

impl Claims {
    /// The user id, if `sub` is a UUID.
    pub fn user_id(&self) -> Option<UserId> {
        Uuid::parse_str(&self.sub).ok().map(UserId)
    }

    /// The role; unknown or absent roles are members, and nobody becomes
    /// `system` through a token.
    pub fn role(&self) -> Role {
        match self.role.as_deref() {
            Some("admin") => Role::Admin,
            _ => Role::Member,
        }
    }
}

/// Why a token was refused (all become 401; the text is for logs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    #[error("missing bearer token")]
    Missing,
    /// Malformed, badly signed, expired, or of a refused algorithm.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// Signed with a key id the JWKS does not have.
    #[error("unknown signing key {0:?}")]
    UnknownKey(String),
}

/// Verifies bearer tokens against an HS256 secret and/or a JWKS.
pub struct TokenVerifier {
    hs256: Option<(DecodingKey, Validation)>,
    jwks: Option<Jwks>,
}

impl TokenVerifier {
    /// Accepts HS256 tokens signed with `secret`.
    pub fn hs256(secret: &[u8]) -> Self {
        Self {
            hs256: Some((
                DecodingKey::from_secret(secret),
                validation(Algorithm::HS256),
            )),
            jwks: None,
        }
    }

    /// Accepts only RS256/ES256 tokens whose `kid` is in the JWKS.
    pub fn jwks(source: JwksSource) -> Self {
        Self {
            hs256: None,
            jwks: Some(Jwks::new(source)),
        }
    }

    /// Also accepts RS256/ES256 tokens from the JWKS.
    pub fn with_jwks(mut self, source: JwksSource) -> Self {
        self.jwks = Some(Jwks::new(source));
        self
    }

    /// Verifies `token` and returns its claims.
    pub async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let header = decode_header(token).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let invalid = |e: jsonwebtoken::errors::Error| AuthError::Invalid(e.to_string());
        match header.alg {
            Algorithm::HS256 => {
                let (key, validation) = self.hs256.as_ref().ok_or_else(|| refused(header.alg))?;
                decode::<Claims>(token, key, validation)
                    .map(|d| d.claims)
                    .map_err(invalid)
            }
            Algorithm::RS256 | Algorithm::ES256 => {
                let jwks = self.jwks.as_ref().ok_or_else(|| refused(header.alg))?;
                let kid = header
                    .kid
                    .ok_or_else(|| AuthError::Invalid("token has no kid".into()))?;
                let key = jwks.key(&kid).await?;
                if key.algorithm != header.alg {
                    return Err(refused(header.alg));
                }
                decode::<Claims>(token, &key.decoding, &validation(key.algorithm))
                    .map(|d| d.claims)
                    .map_err(invalid)
            }
            other => Err(refused(other)),
        }
    }
}

fn refused(alg: Algorithm) -> AuthError {
    AuthError::Invalid(format!("algorithm {alg:?} is not accepted"))
}

fn validation(alg: Algorithm) -> Validation {
    let mut v = Validation::new(alg);
    v.set_required_spec_claims(&["exp", "sub"]);
    v.leeway = 30;
    v
}

/// Signs `claims` with an HS256 `secret` (dev tokens, tests, the CLI).
pub fn issue_hs256(secret: &[u8], claims: &Claims) -> Result<String, AuthError> {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .map_err(|e| AuthError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn claims(exp_offset: i64) -> Claims {
        let now = jsonwebtoken::get_current_timestamp() as i64;
        Claims {
            sub: Uuid::new_v4().to_string(),
            tenant: "acme".into(),
            role: Some("admin".into()),
            exp: (now + exp_offset) as u64,
            iat: None,
        }
    }

    #[tokio::test]
    async fn hs256_round_trip_and_expiry() {
        let verifier = TokenVerifier::hs256(b"s3cret");
        let token = issue_hs256(b"s3cret", &claims(300)).unwrap();
        assert_eq!(verifier.verify(&token).await.unwrap().tenant, "acme");
        let expired = issue_hs256(b"s3cret", &claims(-300)).unwrap();
        assert!(matches!(
            verifier.verify(&expired).await,
            Err(AuthError::Invalid(_))
        ));
        let other_secret = issue_hs256(b"other", &claims(300)).unwrap();
        assert!(verifier.verify(&other_secret).await.is_err());
    }

    #[tokio::test]
    async fn alg_none_is_refused() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(300)).unwrap());
        let token = format!("{header}.{body}.");
        assert!(
            TokenVerifier::hs256(b"s3cret")
                .verify(&token)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn rs256_token_is_refused_without_jwks() {
        // A well-formed RS256 header: with only an HMAC secret configured, the
        // verifier must not try the secret as a public key or vice versa.
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT","kid":"k1"}"#);
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(300)).unwrap());
        let token = format!("{header}.{body}.c2ln");
        let err = TokenVerifier::hs256(b"s3cret")
            .verify(&token)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not accepted"), "{err}");
    }

    #[test]
    fn system_role_cannot_be_claimed() {
        let mut c = claims(300);
        c.role = Some("system".into());
        assert_eq!(c.role(), Role::Member);
    }
}
