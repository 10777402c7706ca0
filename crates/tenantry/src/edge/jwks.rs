//! A cached JSON Web Key Set, selected by `kid`, refreshed on an unknown `kid`.
//!
//! Identity providers rotate keys by publishing the new one before signing
//! with it; a token with a `kid` we have not seen triggers one refresh. The
//! refresh is single-flight and rate-limited, so a flood of tokens with
//! made-up key ids cannot turn into a flood of fetches.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::{Mutex, RwLock};
// Tokio's clock, so tests can step past the refresh interval with `time::pause`.
use tokio::time::Instant;

use super::auth::AuthError;

/// Where the key set comes from.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum JwksSource {
    /// A JSON file on disk (re-read on refresh).
    File(PathBuf),
    /// An HTTP(S) URL (feature `jwks-http`).
    #[cfg(feature = "jwks-http")]
    Url(String),
}

/// A verification key with the one algorithm it may verify.
pub(crate) struct JwksKey {
    pub(crate) decoding: DecodingKey,
    pub(crate) algorithm: Algorithm,
}

pub(crate) struct Jwks {
    source: JwksSource,
    keys: RwLock<HashMap<String, Arc<JwksKey>>>,
    // Held during a fetch (single flight); stores when the last one started.
    last_refresh: Mutex<Option<Instant>>,
}

/// The shortest gap between two fetches triggered by unknown key ids.
const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(10);

impl Jwks {
    pub(crate) fn new(source: JwksSource) -> Self {
        Self {
            source,
            keys: RwLock::new(HashMap::new()),
            last_refresh: Mutex::new(None),
        }
    }

    pub(crate) async fn key(&self, kid: &str) -> Result<Arc<JwksKey>, AuthError> {
        if let Some(key) = self.keys.read().await.get(kid) {
            return Ok(key.clone());
        }
        {
            let mut last = self.last_refresh.lock().await;
            // Another task may have refreshed while we waited for the lock.
            if let Some(key) = self.keys.read().await.get(kid) {
                return Ok(key.clone());
            }
            if last.is_none_or(|at| at.elapsed() >= MIN_REFRESH_INTERVAL) {
                *last = Some(Instant::now());
                let fresh = self.fetch().await?;
                *self.keys.write().await = fresh;
            }
        }
        self.keys
            .read()
            .await
            .get(kid)
            .cloned()
            .ok_or_else(|| AuthError::UnknownKey(kid.to_owned()))
    }

    async fn fetch(&self) -> Result<HashMap<String, Arc<JwksKey>>, AuthError> {
        let unavailable = |e: String| AuthError::Invalid(format!("key set unavailable: {e}"));
        let body = match &self.source {
            JwksSource::File(path) => tokio::fs::read(path)
                .await
                .map_err(|e| unavailable(e.to_string()))?,
            #[cfg(feature = "jwks-http")]
            JwksSource::Url(url) => {
                let response = reqwest::get(url)
                    .await
                    .map_err(|e| unavailable(e.to_string()))?;
                let response = response
                    .error_for_status()
                    .map_err(|e| unavailable(e.to_string()))?;
                response
                    .bytes()
                    .await
                    .map_err(|e| unavailable(e.to_string()))?
                    .to_vec()
            }
        };
        let set: JwkSet = serde_json::from_slice(&body).map_err(|e| unavailable(e.to_string()))?;
        Ok(parse_set(&set))
    }
}

/// Keeps the keys we can use: RSA (RS256) and P-256 (ES256) with a `kid`;
/// a key whose declared `alg` disagrees with its type is dropped.
fn parse_set(set: &JwkSet) -> HashMap<String, Arc<JwksKey>> {
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        let algorithm = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
                Algorithm::ES256
            }
            _ => continue,
        };
        let declared_ok = match jwk.common.key_algorithm {
            None => true,
            Some(KeyAlgorithm::RS256) => algorithm == Algorithm::RS256,
            Some(KeyAlgorithm::ES256) => algorithm == Algorithm::ES256,
            Some(_) => false,
        };
        if !declared_ok {
            continue;
        }
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
