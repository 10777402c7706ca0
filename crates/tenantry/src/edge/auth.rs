//! Bearer-token verification.
//!
//! Keys decide algorithms, never the token: an HMAC secret verifies only the
//! HMAC algorithms it was configured for, and a JWKS key verifies only the
//! one algorithm of its type and declared `alg` (RS/PS for RSA, ES256 for
//! P-256, ES384 for P-384, EdDSA for Ed25519). So `alg: none` and the
//! classic confusion (an RSA public key used as an HMAC secret) have no
//! path through.

use std::sync::Arc;

use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::auth_error::{AuthCause, AuthError};
use super::claims::ClaimMapping;
use super::identity::{Authenticator, Identity, bearer};
use super::jwks::{Jwks, JwksOptions, JwksSource};
use crate::registry::BoxFuture;

/// The claims of a token in tenantry's own layout, for issuing tokens
/// (development, tests, the reference server's `token` command). Tokens
/// from an identity provider are read through a [`ClaimMapping`] instead.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The user.
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
    /// Audience (checked when the verifier requires one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

/// Verifies bearer tokens against an HMAC secret and/or a JWKS, and reads
/// the [`Identity`] from them through a [`ClaimMapping`]. It is the
/// [`Authenticator`] for bearer tokens.
///
/// Every token must carry `exp`; `nbf` is honoured when present (30 s of
/// clock skew are allowed either way); with [`Self::require_issuer`] /
/// [`Self::require_audience`] the token must carry that `iss` / `aud` too,
/// so tokens an identity provider minted for another application do not
/// pass. Without a required audience, `aud` is not checked.
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
///     sub: "user-42".into(),
///     tenant: "acme".into(),
///     exp: now + 300,
///     iss: Some("https://id.example.com/".into()),
///     aud: Some("billing-api".into()),
///     ..Claims::default()
/// };
/// let identity = verifier.verify(&issue_hs256(secret, &claims).unwrap()).await.unwrap();
/// assert_eq!(identity.tenants, ["acme"]);
/// claims.aud = Some("another-app".into());
/// assert!(verifier.verify(&issue_hs256(secret, &claims).unwrap()).await.is_err());
/// # });
/// ```
pub struct TokenVerifier {
    hmac: Option<(DecodingKey, Vec<Algorithm>)>,
    jwks: Option<Arc<Jwks>>,
    issuer: Option<String>,
    audience: Option<String>,
    mapping: ClaimMapping,
}

impl TokenVerifier {
    fn empty() -> Self {
        super::install_jwt_crypto();
        Self {
            hmac: None,
            jwks: None,
            issuer: None,
            audience: None,
            mapping: ClaimMapping::default(),
        }
    }

    /// Accepts HS256 tokens signed with `secret`.
    pub fn hs256(secret: &[u8]) -> Self {
        Self::hmac(secret, &[Algorithm::HS256])
    }

    /// Accepts tokens signed with `secret` by one of `algorithms` (HS256,
    /// HS384, HS512; any other is ignored).
    pub fn hmac(secret: &[u8], algorithms: &[Algorithm]) -> Self {
        let algorithms = algorithms
            .iter()
            .copied()
            .filter(|a| matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512))
            .collect();
        Self {
            hmac: Some((DecodingKey::from_secret(secret), algorithms)),
            ..Self::empty()
        }
    }

    /// Accepts only tokens whose `kid` is in the JWKS, each with its key's
    /// algorithm (RS256/384/512, PS256/384/512, ES256, ES384, EdDSA).
    pub fn jwks(source: JwksSource) -> Self {
        Self::jwks_with(source, JwksOptions::default())
    }

    /// [`Self::jwks`] with explicit refresh, timeout and size settings.
    pub fn jwks_with(source: JwksSource, options: JwksOptions) -> Self {
        Self {
            jwks: Some(Arc::new(Jwks::new(source, options))),
            ..Self::empty()
        }
    }

    /// Also accepts tokens from the JWKS, beside the HMAC secret.
    ///
    /// Think twice: with an identity provider configured, a shared secret
    /// is a second way in that the provider cannot revoke.
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

    /// Reads tenant, subject and roles where `mapping` says (default:
    /// tenantry's own layout, see [`Claims`]).
    pub fn claims(mut self, mapping: ClaimMapping) -> Self {
        self.mapping = mapping;
        self
    }

    /// Verifies `token` and returns the identity in it.
    pub async fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        self.mapping.identity(&self.verify_claims(token).await?)
    }

    /// Verifies `token` and returns its whole payload, for claims beyond
    /// the identity (scopes, an e-mail address).
    pub async fn verify_claims(&self, token: &str) -> Result<Value, AuthError> {
        let header = decode_header(token).map_err(|e| AuthError::Invalid(AuthCause::new(e)))?;
        let invalid = |e: jsonwebtoken::errors::Error| AuthError::Invalid(AuthCause::new(e));
        match header.alg {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                let (key, algorithms) = self
                    .hmac
                    .as_ref()
                    .filter(|(_, algorithms)| algorithms.contains(&header.alg))
                    .ok_or_else(|| refused(header.alg))?;
                debug_assert!(algorithms.contains(&header.alg));
                decode::<Value>(token, key, &self.validation(header.alg))
                    .map(|d| d.claims)
                    .map_err(invalid)
            }
            _ => {
                let jwks = self.jwks.as_ref().ok_or_else(|| refused(header.alg))?;
                let kid = header
                    .kid
                    .ok_or_else(|| AuthError::Invalid("token has no kid".into()))?;
                let key = Jwks::key(jwks, &kid).await?;
                if key.algorithm != header.alg {
                    return Err(refused(header.alg));
                }
                decode::<Value>(token, &key.decoding, &self.validation(key.algorithm))
                    .map(|d| d.claims)
                    .map_err(invalid)
            }
        }
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        let mut required = vec!["exp"];
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

impl Authenticator for TokenVerifier {
    fn authenticate<'a>(
        &'a self,
        request: &'a http::request::Parts,
    ) -> BoxFuture<'a, Result<Identity, AuthError>> {
        Box::pin(async move {
            let token = bearer(request).ok_or(AuthError::Missing)?;
            self.verify(token).await
        })
    }
}

fn refused(alg: Algorithm) -> AuthError {
    AuthError::Invalid(format!("algorithm {alg:?} is not accepted").into())
}

/// Signs `claims` with an HS256 `secret` (dev tokens, tests, the CLI).
pub fn issue_hs256(secret: &[u8], claims: &Claims) -> Result<String, AuthError> {
    super::install_jwt_crypto();
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .map_err(|e| AuthError::Invalid(AuthCause::new(e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn claims(exp_offset: i64) -> Claims {
        let now = jsonwebtoken::get_current_timestamp() as i64;
        Claims {
            sub: uuid::Uuid::new_v4().to_string(),
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
        assert_eq!(verifier.verify(&token).await.unwrap().tenants, ["acme"]);
        let expired = issue_hs256(b"s3cret", &claims(-300)).unwrap();
        let refused = verifier.verify(&expired).await.unwrap_err();
        assert!(matches!(refused, AuthError::Invalid(_)));
        // The decoder's own error stays the cause, for a caller to inspect.
        let AuthError::Invalid(cause) = &refused else {
            unreachable!()
        };
        assert!(
            cause
                .get()
                .downcast_ref::<jsonwebtoken::errors::Error>()
                .is_some_and(|e| matches!(
                    e.kind(),
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature
                )),
            "{refused:?}"
        );
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

    #[tokio::test]
    async fn system_role_cannot_be_claimed() {
        let mut c = claims(300);
        c.role = Some("system".into());
        let token = issue_hs256(b"s3cret", &c).unwrap();
        let identity = TokenVerifier::hs256(b"s3cret")
            .verify(&token)
            .await
            .unwrap();
        assert_eq!(identity.role, crate::context::Role::Member);
    }

    #[tokio::test]
    async fn hmac_algorithms_are_the_configured_ones() {
        let c = claims(300);
        let hs512 = encode(
            &Header::new(Algorithm::HS512),
            &c,
            &EncodingKey::from_secret(b"s3cret"),
        )
        .unwrap();
        assert!(
            TokenVerifier::hs256(b"s3cret")
                .verify(&hs512)
                .await
                .is_err()
        );
        let both = TokenVerifier::hmac(b"s3cret", &[Algorithm::HS256, Algorithm::HS512]);
        assert!(both.verify(&hs512).await.is_ok());
        assert!(
            both.verify(&issue_hs256(b"s3cret", &c).unwrap())
                .await
                .is_ok()
        );
    }
}
