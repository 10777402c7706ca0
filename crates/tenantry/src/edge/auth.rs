//! Bearer-token verification.
//!
//! Keys decide algorithms, never the token: the HS256 secret verifies only
//! HS256 tokens, and a JWKS key verifies only the algorithm of its own type
//! (RS256 for RSA, ES256 for P-256). So `alg: none` and the classic
//! confusion (an RSA public key used as an HMAC secret) have no path through.

use std::sync::Arc;

use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::jwks::{Jwks, JwksOptions, JwksSource};
use crate::context::{Role, UserId};

/// The claims tenantry reads from a token.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
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
    /// Not before, Unix seconds (checked when present).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Issuer (checked when the verifier requires one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Audience (checked when the verifier requires one). Verification reads
    /// the raw claim, so a token whose `aud` is an array passes too; this
    /// field is for issuing.
    #[serde(default, skip_serializing_if = "Option::is_none", skip_deserializing)]
    pub aud: Option<String>,
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
    /// Malformed, badly signed, expired, not yet valid, for another issuer
    /// or audience, or of a refused algorithm.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// Signed with a key id the JWKS does not have.
    #[error("unknown signing key {0:?}")]
    UnknownKey(String),
    /// The key set could not be fetched and no usable copy is cached.
    #[error("key set unavailable: {0}")]
    KeySetUnavailable(String),
}

/// Verifies bearer tokens against an HS256 secret and/or a JWKS.
///
/// Every token must carry `exp` and `sub`; `nbf` is honoured when present;
/// with [`Self::require_issuer`] / [`Self::require_audience`] the token must
/// carry that `iss` / `aud` too, so tokens an identity provider minted for
/// another application do not pass. Without a required audience, `aud` is
/// not checked (a token that carries one is still accepted).
///
/// ```
/// use tenantry::edge::{Claims, TokenVerifier, issue_hs256};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let secret = b"a-long-random-secret-from-the-vault";
/// let verifier = TokenVerifier::hs256(secret)
///     .require_issuer("https://id.example.com/")
///     .require_audience("billing-api");
/// let now = jsonwebtoken::get_current_timestamp();
/// let mut claims = Claims {
///     sub: "0190a5a0-7b1c-7c3e-9c1a-2f5d9b1e4a10".into(),
///     tenant: "acme".into(),
///     exp: now + 300,
///     iss: Some("https://id.example.com/".into()),
///     aud: Some("billing-api".into()),
///     ..Claims::default()
/// };
/// assert!(verifier.verify(&issue_hs256(secret, &claims).unwrap()).await.is_ok());
/// claims.aud = Some("another-app".into());
/// assert!(verifier.verify(&issue_hs256(secret, &claims).unwrap()).await.is_err());
/// # });
/// ```
pub struct TokenVerifier {
    hs256: Option<DecodingKey>,
    jwks: Option<Arc<Jwks>>,
    issuer: Option<String>,
    audience: Option<String>,
}

impl TokenVerifier {
    /// Accepts HS256 tokens signed with `secret`.
    pub fn hs256(secret: &[u8]) -> Self {
        Self {
            hs256: Some(DecodingKey::from_secret(secret)),
            jwks: None,
            issuer: None,
            audience: None,
        }
    }

    /// Accepts only RS256/ES256 tokens whose `kid` is in the JWKS.
    pub fn jwks(source: JwksSource) -> Self {
        Self::jwks_with(source, JwksOptions::default())
    }

    /// [`Self::jwks`] with explicit refresh, timeout and size settings.
    pub fn jwks_with(source: JwksSource, options: JwksOptions) -> Self {
        Self {
            hs256: None,
            jwks: Some(Arc::new(Jwks::new(source, options))),
            issuer: None,
            audience: None,
        }
    }

    /// Also accepts RS256/ES256 tokens from the JWKS, beside HS256.
    ///
    /// Think twice: with an identity provider configured, a shared HS256
    /// secret is a second way in that the provider cannot revoke.
    pub fn with_jwks(mut self, source: JwksSource) -> Self {
        self.jwks = Some(Arc::new(Jwks::new(source, JwksOptions::default())));
        self
    }

    /// Refuses tokens whose `iss` is not `issuer` (or that have none).
    pub fn require_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Refuses tokens whose `aud` does not include `audience`.
    pub fn require_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Verifies `token` and returns its claims.
    pub async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let header = decode_header(token).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let invalid = |e: jsonwebtoken::errors::Error| AuthError::Invalid(e.to_string());
        match header.alg {
            Algorithm::HS256 => {
                let key = self.hs256.as_ref().ok_or_else(|| refused(header.alg))?;
                decode::<Claims>(token, key, &self.validation(Algorithm::HS256))
                    .map(|d| d.claims)
                    .map_err(invalid)
            }
            Algorithm::RS256 | Algorithm::ES256 => {
                let jwks = self.jwks.as_ref().ok_or_else(|| refused(header.alg))?;
                let kid = header
                    .kid
                    .ok_or_else(|| AuthError::Invalid("token has no kid".into()))?;
                let key = Jwks::key(jwks, &kid).await?;
                if key.algorithm != header.alg {
                    return Err(refused(header.alg));
                }
                decode::<Claims>(token, &key.decoding, &self.validation(key.algorithm))
                    .map(|d| d.claims)
                    .map_err(invalid)
            }
            other => Err(refused(other)),
        }
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        let mut required = vec!["exp", "sub"];
        v.validate_nbf = true;
        v.leeway = 30;
        match &self.issuer {
            Some(issuer) => {
                v.set_issuer(&[issuer]);
                required.push("iss");
            }
            None => v.iss = None,
        }
        match &self.audience {
            Some(audience) => {
                v.set_audience(&[audience]);
                required.push("aud");
            }
            // jsonwebtoken refuses any token that carries `aud` unless an
            // audience is set; with none required, `aud` is not ours to judge.
            None => v.validate_aud = false,
        }
        v.set_required_spec_claims(&required);
        v
    }
}

fn refused(alg: Algorithm) -> AuthError {
    AuthError::Invalid(format!("algorithm {alg:?} is not accepted"))
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
            ..Claims::default()
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

    #[tokio::test]
    async fn a_token_not_yet_valid_is_refused() {
        let mut c = claims(600);
        c.nbf = Some(jsonwebtoken::get_current_timestamp() + 300);
        let token = issue_hs256(b"s3cret", &c).unwrap();
        assert!(
            TokenVerifier::hs256(b"s3cret")
                .verify(&token)
                .await
                .is_err()
        );
        c.nbf = Some(jsonwebtoken::get_current_timestamp() - 5);
        let token = issue_hs256(b"s3cret", &c).unwrap();
        assert!(TokenVerifier::hs256(b"s3cret").verify(&token).await.is_ok());
    }

    #[tokio::test]
    async fn issuer_and_audience_are_required_when_configured() {
        let verifier = TokenVerifier::hs256(b"s3cret")
            .require_issuer("https://id.example/")
            .require_audience("api");
        let mut c = claims(300);
        let bare = issue_hs256(b"s3cret", &c).unwrap();
        assert!(verifier.verify(&bare).await.is_err(), "no iss, no aud");
        c.iss = Some("https://id.example/".into());
        c.aud = Some("api".into());
        let good = issue_hs256(b"s3cret", &c).unwrap();
        assert!(verifier.verify(&good).await.is_ok());
        c.iss = Some("https://evil.example/".into());
        let other_issuer = issue_hs256(b"s3cret", &c).unwrap();
        assert!(verifier.verify(&other_issuer).await.is_err());
        c.iss = Some("https://id.example/".into());
        c.aud = Some("another-app".into());
        let other_app = issue_hs256(b"s3cret", &c).unwrap();
        assert!(verifier.verify(&other_app).await.is_err());
    }

    #[tokio::test]
    async fn an_audience_array_passes_when_it_names_ours() {
        let verifier = TokenVerifier::hs256(b"s3cret").require_audience("api");
        let mut value = serde_json::to_value(claims(300)).unwrap();
        value["aud"] = serde_json::json!(["other", "api"]);
        let token = encode(
            &Header::new(Algorithm::HS256),
            &value,
            &EncodingKey::from_secret(b"s3cret"),
        )
        .unwrap();
        assert!(verifier.verify(&token).await.is_ok());
    }

    #[tokio::test]
    async fn a_token_with_an_audience_passes_when_none_is_required() {
        // OIDC providers put `aud` in every token; with no audience
        // configured it must not make the token invalid.
        let mut c = claims(300);
        c.aud = Some("whatever".into());
        let token = issue_hs256(b"s3cret", &c).unwrap();
        assert!(TokenVerifier::hs256(b"s3cret").verify(&token).await.is_ok());
    }

    #[test]
    fn system_role_cannot_be_claimed() {
        let mut c = claims(300);
        c.role = Some("system".into());
        assert_eq!(c.role(), Role::Member);
    }
}
