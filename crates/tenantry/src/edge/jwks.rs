//! A cached JSON Web Key Set, selected by `kid`.
//!
//! The cache lives for [`JwksOptions::ttl`]; after that a lookup still gets
//! the cached key while one refresh runs in the background
//! (stale-while-revalidate), so an identity provider's slow minute is not
//! ours — but only up to [`JwksOptions::max_stale`], after which the keys are
//! not used at all. A key the provider stops publishing (revoked) therefore
//! stops verifying within one TTL of the next request.
//!
//! Providers rotate keys by publishing the new one before signing with it;
//! a token with a `kid` we have not seen triggers a refresh. Refreshes are
//! single-flight and at most one per [`MIN_REFRESH_INTERVAL`], so a flood of
//! tokens with made-up key ids cannot turn into a flood of fetches. A fetch
//! is bounded: a timeout, no redirects, a size cap, and over HTTPS only
//! (plain HTTP only to a loopback address, and only when asked for).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};
// Tokio's clock, so tests can step past the refresh interval with `time::pause`.
use tokio::time::Instant;

use super::auth_error::{AuthCause, AuthError};

/// Where the key set comes from.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum JwksSource {
    /// A JSON file on disk (re-read on refresh).
    File(PathBuf),
    /// An HTTPS URL (feature `jwks-http`).
    #[cfg(feature = "jwks-http")]
    Url(JwksUrl),
}

/// The URL of a key set: HTTPS, or plain HTTP to a loopback address when
/// explicitly allowed (tests, a sidecar on the same host).
#[cfg(feature = "jwks-http")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwksUrl(reqwest::Url);

/// A key-set URL that was refused.
#[cfg(feature = "jwks-http")]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("JWKS URL {url:?}: {reason}")]
pub struct JwksUrlError {
    url: String,
    reason: &'static str,
}

#[cfg(feature = "jwks-http")]
impl JwksUrl {
    /// An `https://` URL; anything else is refused.
    pub fn https(url: &str) -> Result<Self, JwksUrlError> {
        Self::parse(url, false)
    }

    /// An `https://` URL, or an `http://` one whose host is a loopback
    /// address (`127.0.0.0/8`, `::1`, `localhost`).
    pub fn allowing_loopback_http(url: &str) -> Result<Self, JwksUrlError> {
        Self::parse(url, true)
    }

    fn parse(url: &str, loopback_http: bool) -> Result<Self, JwksUrlError> {
        let refuse = |reason| JwksUrlError {
            url: url.to_owned(),
            reason,
        };
        let parsed = reqwest::Url::parse(url).map_err(|_| refuse("not a URL"))?;
        match parsed.scheme() {
            "https" => Ok(Self(parsed)),
            "http" if loopback_http && is_loopback(&parsed) => Ok(Self(parsed)),
            "http" if loopback_http => Err(refuse("plain HTTP is allowed to loopback hosts only")),
            "http" => Err(refuse("key sets are fetched over HTTPS only")),
            _ => Err(refuse("the scheme must be https")),
        }
    }

    /// The URL.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub(crate) fn as_url(&self) -> &reqwest::Url {
        &self.0
    }
}

#[cfg(feature = "jwks-http")]
fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// How long keys are trusted and how a fetch is bounded.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct JwksOptions {
    /// How long a fetched set is fresh.
    pub ttl: Duration,
    /// How long past its fetch a set may still be used while refreshes fail.
    pub max_stale: Duration,
    /// The longest a fetch may take.
    pub timeout: Duration,
    /// The largest key set accepted, in bytes.
    pub max_bytes: usize,
}

impl Default for JwksOptions {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(300),
            max_stale: Duration::from_secs(3600),
            timeout: Duration::from_secs(5),
            max_bytes: 256 * 1024,
        }
    }
}

impl JwksOptions {
    /// These options with a fetch `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// These options with a `ttl` and a `max_stale`.
    pub fn lifetimes(mut self, ttl: Duration, max_stale: Duration) -> Self {
        self.ttl = ttl;
        self.max_stale = max_stale.max(ttl);
        self
    }
}

/// A verification key with the one algorithm it may verify.
pub(crate) struct JwksKey {
    pub(crate) decoding: DecodingKey,
    pub(crate) algorithm: Algorithm,
}

#[derive(Default)]
struct KeySet {
    keys: HashMap<String, Arc<JwksKey>>,
    fetched_at: Option<Instant>,
}

pub(crate) struct Jwks {
    source: JwksSource,
    options: JwksOptions,
    // A TLS set-up failure is reported when a fetch needs the client.
    #[cfg(feature = "jwks-http")]
    http: Result<reqwest::Client, AuthCause>,
    // Read on every token; written once per refresh. Never held across an
    // await, so a plain lock.
    set: RwLock<KeySet>,
    // Held for the duration of one fetch (single flight). Each fetch is
    // bounded by `options.timeout`, so waiters wait at most that long.
    refreshing: tokio::sync::Mutex<()>,
    // When the last fetch was attempted, successful or not: the rate limit.
    last_attempt: std::sync::Mutex<Option<Instant>>,
}

/// The shortest gap between two fetches.
pub(crate) const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(10);

enum Lookup {
    Fresh(Arc<JwksKey>),
    Stale(Arc<JwksKey>),
    Missing,
}

impl Jwks {
    pub(crate) fn new(source: JwksSource, options: JwksOptions) -> Self {
        Self {
            #[cfg(feature = "jwks-http")]
            http: bounded_client(&options),
            source,
            options,
            set: RwLock::new(KeySet::default()),
            refreshing: tokio::sync::Mutex::new(()),
            last_attempt: std::sync::Mutex::new(None),
        }
    }

    pub(crate) async fn key(this: &Arc<Self>, kid: &str) -> Result<Arc<JwksKey>, AuthError> {
        match this.lookup(kid) {
            Lookup::Fresh(key) => return Ok(key),
            Lookup::Stale(key) => {
                if this.attempt_due() {
                    let jwks = this.clone();
                    tokio::spawn(async move {
                        let Ok(_guard) = jwks.refreshing.try_lock() else {
                            return; // a refresh is already running
                        };
                        if let Err(e) = jwks.refresh().await {
                            tracing::warn!(error = %e, "JWKS refresh failed; serving the cached keys");
                        }
                    });
                }
                return Ok(key);
            }
            Lookup::Missing => {}
        }
        {
            let _guard = this.refreshing.lock().await;
            // Another task may have refreshed while we waited for the lock.
            if let Lookup::Fresh(key) | Lookup::Stale(key) = this.lookup(kid) {
                return Ok(key);
            }
            // An expired set is no reason to fetch more often: requests
            // queued behind a failed fetch fail at once, not each after
            // a fetch of its own.
            if this.attempt_due() {
                this.refresh().await?;
            } else if this.expired() {
                return Err(AuthError::KeySetUnavailable(
                    format!(
                        "the key set is out of date and was fetched less than {} s ago",
                        MIN_REFRESH_INTERVAL.as_secs()
                    )
                    .into(),
                ));
            }
        }
        match this.lookup(kid) {
            Lookup::Fresh(key) | Lookup::Stale(key) => Ok(key),
            Lookup::Missing => Err(AuthError::UnknownKey(kid.to_owned())),
        }
    }

    fn lookup(&self, kid: &str) -> Lookup {
        let set = self.set.read().unwrap_or_else(|e| e.into_inner());
        let Some(fetched_at) = set.fetched_at else {
            return Lookup::Missing;
        };
        let age = fetched_at.elapsed();
        match set.keys.get(kid) {
            Some(key) if age < self.options.ttl => Lookup::Fresh(key.clone()),
            Some(key) if age < self.options.max_stale => Lookup::Stale(key.clone()),
            _ => Lookup::Missing,
        }
    }

    fn expired(&self) -> bool {
        let set = self.set.read().unwrap_or_else(|e| e.into_inner());
        set.fetched_at
            .is_none_or(|at| at.elapsed() >= self.options.max_stale)
    }

    /// Whether the rate limit allows another fetch now.
    fn attempt_due(&self) -> bool {
        let last = self.last_attempt.lock().unwrap_or_else(|e| e.into_inner());
        last.is_none_or(|at| at.elapsed() >= MIN_REFRESH_INTERVAL)
    }

    /// Fetches the set and replaces the cached one. The caller holds `refreshing`.
    async fn refresh(&self) -> Result<(), AuthError> {
        *self.last_attempt.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        let keys = self.fetch().await?;
        let mut set = self.set.write().unwrap_or_else(|e| e.into_inner());
        *set = KeySet {
            keys,
            fetched_at: Some(Instant::now()),
        };
        Ok(())
    }

    async fn fetch(&self) -> Result<HashMap<String, Arc<JwksKey>>, AuthError> {
        let unavailable = |e: AuthCause| AuthError::KeySetUnavailable(e);
        let body = match &self.source {
            JwksSource::File(path) => {
                let body = tokio::fs::read(path)
                    .await
                    .map_err(|e| unavailable(AuthCause::new(e)))?;
                if body.len() > self.options.max_bytes {
                    return Err(unavailable(AuthCause::from(format!(
                        "larger than {} bytes",
                        self.options.max_bytes
                    ))));
                }
                body
            }
            #[cfg(feature = "jwks-http")]
            JwksSource::Url(url) => self.fetch_url(url).await?,
        };
        let set: JwkSet =
            serde_json::from_slice(&body).map_err(|e| unavailable(AuthCause::new(e)))?;
        Ok(parse_set(&set))
    }

    #[cfg(feature = "jwks-http")]
    async fn fetch_url(&self, url: &JwksUrl) -> Result<Vec<u8>, AuthError> {
        fetch_bounded(&self.http, &url.0, self.options.max_bytes).await
    }
}

/// A client for identity-provider documents: no redirects, no proxy, the
/// fetch timeout on connect and on the whole request.
#[cfg(feature = "jwks-http")]
pub(crate) fn bounded_client(options: &JwksOptions) -> Result<reqwest::Client, AuthCause> {
    let build = || -> Result<reqwest::Client, crate::https::HttpsError> {
        Ok(crate::https::client_builder()?
            .redirect(reqwest::redirect::Policy::none())
            .timeout(options.timeout)
            .connect_timeout(options.timeout)
            .no_proxy()
            .build()?)
    };
    build().map_err(AuthCause::new)
}

/// `url`'s body, refused when not a success or larger than `max_bytes`.
#[cfg(feature = "jwks-http")]
pub(crate) async fn fetch_bounded(
    http: &Result<reqwest::Client, AuthCause>,
    url: &reqwest::Url,
    max_bytes: usize,
) -> Result<Vec<u8>, AuthError> {
    let unavailable = |e: AuthCause| AuthError::KeySetUnavailable(e);
    let http = http.as_ref().map_err(|e| unavailable(e.clone()))?;
    let too_large = || unavailable(format!("{url}: larger than {max_bytes} bytes").into());
    let mut response = http
        .get(url.clone())
        .send()
        .await
        .map_err(|e| unavailable(AuthCause::new(e)))?;
    if !response.status().is_success() {
        // Redirects are not followed: a 3xx lands here too.
        return Err(unavailable(AuthCause::from(format!(
            "{url}: HTTP {}",
            response.status()
        ))));
    }
    if response
        .content_length()
        .is_some_and(|n| n > max_bytes as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| unavailable(AuthCause::new(e)))?
    {
        if body.len() + chunk.len() > max_bytes {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Keeps the keys we can use, each bound to one algorithm: an RSA key to
/// the RSA algorithm it declares (RS256/384/512, PS256/384/512; RS256 when
/// it declares none), a P-256 key to ES256, a P-384 key to ES384, an
/// Ed25519 key to EdDSA. Keys without a `kid`, of other types, or whose
/// declared `alg` disagrees with their type are dropped.
fn parse_set(set: &JwkSet) -> HashMap<String, Arc<JwksKey>> {
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        let Some(algorithm) = algorithm_of(jwk) else {
            continue;
        };
        if let Ok(decoding) = DecodingKey::from_jwk(jwk) {
            keys.insert(
                kid,
                Arc::new(JwksKey {
                    decoding,
                    algorithm,
                }),
            );
        }
    }
    keys
}

/// The one algorithm `jwk` verifies, if any.
fn algorithm_of(jwk: &jsonwebtoken::jwk::Jwk) -> Option<Algorithm> {
    let declared = jwk.common.key_algorithm;
    let natural = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => {
            return match declared {
                None | Some(KeyAlgorithm::RS256) => Some(Algorithm::RS256),
                Some(KeyAlgorithm::RS384) => Some(Algorithm::RS384),
                Some(KeyAlgorithm::RS512) => Some(Algorithm::RS512),
                Some(KeyAlgorithm::PS256) => Some(Algorithm::PS256),
                Some(KeyAlgorithm::PS384) => Some(Algorithm::PS384),
                Some(KeyAlgorithm::PS512) => Some(Algorithm::PS512),
                Some(_) => None,
            };
        }
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => (Algorithm::ES256, KeyAlgorithm::ES256),
            EllipticCurve::P384 => (Algorithm::ES384, KeyAlgorithm::ES384),
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            (Algorithm::EdDSA, KeyAlgorithm::EdDSA)
        }
        _ => return None,
    };
    match declared {
        None => Some(natural.0),
        Some(d) if d == natural.1 => Some(natural.0),
        Some(_) => None,
    }
}

#[cfg(all(test, feature = "jwks-http"))]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http_when_asked() {
        assert!(JwksUrl::https("https://id.example.com/jwks.json").is_ok());
        assert!(JwksUrl::https("http://id.example.com/jwks.json").is_err());
        assert!(JwksUrl::https("http://127.0.0.1:9/jwks.json").is_err());
        assert!(JwksUrl::https("file:///etc/passwd").is_err());
        assert!(JwksUrl::allowing_loopback_http("http://127.0.0.1:9/jwks.json").is_ok());
        assert!(JwksUrl::allowing_loopback_http("http://[::1]:9/jwks.json").is_ok());
        assert!(JwksUrl::allowing_loopback_http("http://localhost:9/jwks.json").is_ok());
        assert!(JwksUrl::allowing_loopback_http("http://10.0.0.1/jwks.json").is_err());
        assert!(JwksUrl::allowing_loopback_http("http://127.0.0.1.evil.example/").is_err());
    }
}
