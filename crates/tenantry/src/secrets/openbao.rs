//! [`OpenBaoTransit`]: the master key in an OpenBao (or Vault) transit
//! engine. Data keys go to the server to be wrapped and unwrapped; the
//! master key never leaves it, and rotating it is the server's
//! `keys/<name>/rotate`.

use crate::secrets::SecretsFuture;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::{MasterKey, SecretsError, WrappedKey};

/// A transit key on an OpenBao/Vault server.
#[derive(Clone)]
pub struct OpenBaoTransit {
    http: reqwest::Client,
    addr: String,
    token: String,
    mount: String,
    key: String,
}

impl std::fmt::Debug for OpenBaoTransit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenBaoTransit")
            .field("addr", &self.addr)
            .field("mount", &self.mount)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl OpenBaoTransit {
    /// Transit key `key` under mount `transit` at `addr`
    /// (`http://127.0.0.1:8200`), authenticated with `token`. Fails only
    /// when the HTTPS client cannot be set up ([`crate::https`]).
    pub fn new(
        addr: impl Into<String>,
        token: impl Into<String>,
        key: impl Into<String>,
    ) -> Result<Self, SecretsError> {
        // An unreachable OpenBao fails a secrets call within seconds
        // (a 503 upstream) instead of holding the request.
        let http = crate::https::client_builder()
            .and_then(|builder| {
                Ok(builder
                    .connect_timeout(std::time::Duration::from_secs(2))
                    .timeout(std::time::Duration::from_secs(5))
                    .build()?)
            })
            .map_err(|e| SecretsError::master_key_at("OpenBao client", e))?;
        Ok(Self {
            http,
            addr: addr.into().trim_end_matches('/').to_owned(),
            token: token.into(),
            mount: "transit".into(),
            key: key.into(),
        })
    }

    /// Creates the transit key if the server lacks it (idempotent).
    pub async fn ensure_key(&self) -> Result<(), SecretsError> {
        self.call(
            reqwest::Method::POST,
            &format!("keys/{}", self.key),
            json!({}),
        )
        .await
        .map(drop)
    }

    /// Adds a new version of the master key; new data keys are wrapped with
    /// it, and [`Secrets::rewrap_all`](super::Secrets::rewrap_all) moves the
    /// old ones over.
    pub async fn rotate(&self) -> Result<(), SecretsError> {
        self.call(
            reqwest::Method::POST,
            &format!("keys/{}/rotate", self.key),
            json!({}),
        )
        .await
        .map(drop)
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> Result<Value, SecretsError> {
        let url = format!("{}/v1/{}/{path}", self.addr, self.mount);
        let unreachable = |e: reqwest::Error| SecretsError::master_key_at(&url, e);
        let mut request = self
            .http
            .request(method.clone(), &url)
            .header("X-Vault-Token", &self.token);
        if method != reqwest::Method::GET {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let text = response.text().await.map_err(unreachable)?;
        if !status.is_success() {
            return Err(SecretsError::master_key(format!("{url}: {status}: {text}")));
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| SecretsError::master_key_at(&url, e))
    }

    fn id_for_version(&self, version: &str) -> String {
        format!("openbao:{}:{version}", self.key)
    }
}

/// The data key with its context in front, so unwrapping under another
/// context fails even though transit itself binds none.
fn framed(data_key: &[u8], context: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + context.len() + data_key.len());
    out.extend_from_slice(
        &u16::try_from(context.len())
            .unwrap_or(u16::MAX)
            .to_be_bytes(),
    );
    out.extend_from_slice(context.as_bytes());
    out.extend_from_slice(data_key);
    out
}

fn unframed(plain: &[u8], context: &str) -> Result<Vec<u8>, SecretsError> {
    let mismatch = SecretsError::Crypto("the data key was wrapped for another tenant");
    let (len, rest) = plain
        .split_at_checked(2)
        .ok_or(SecretsError::Crypto("short data key"))?;
    let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
    let (wrapped_for, key) = rest
        .split_at_checked(len)
        .ok_or(SecretsError::Crypto("short data key"))?;
    if wrapped_for != context.as_bytes() {
        return Err(mismatch);
    }
    Ok(key.to_vec())
}

impl MasterKey for OpenBaoTransit {
    fn wrap<'a>(&'a self, data_key: &'a [u8], context: &'a str) -> SecretsFuture<'a, WrappedKey> {
        Box::pin(async move {
            let plaintext = STANDARD.encode(framed(data_key, context));
            let reply = self
                .call(
                    reqwest::Method::POST,
                    &format!("encrypt/{}", self.key),
                    json!({ "plaintext": plaintext }),
                )
                .await?;
            let ciphertext = reply
                .pointer("/data/ciphertext")
                .and_then(Value::as_str)
                .ok_or_else(|| SecretsError::master_key("transit returned no ciphertext"))?;
            // `vault:v3:…`: the version that wrapped it.
            let version = ciphertext.split(':').nth(1).unwrap_or("v?");
            Ok(WrappedKey {
                master_key_id: self.id_for_version(version),
                ciphertext: ciphertext.as_bytes().to_vec(),
            })
        })
    }

    fn unwrap<'a>(
        &'a self,
        wrapped: &'a WrappedKey,
        context: &'a str,
    ) -> SecretsFuture<'a, Vec<u8>> {
        Box::pin(async move {
            let ciphertext = std::str::from_utf8(&wrapped.ciphertext)
                .map_err(|_| SecretsError::Crypto("not a transit ciphertext"))?;
            let reply = self
                .call(
                    reqwest::Method::POST,
                    &format!("decrypt/{}", self.key),
                    json!({ "ciphertext": ciphertext }),
                )
                .await?;
            let plain = reply
                .pointer("/data/plaintext")
                .and_then(Value::as_str)
                .and_then(|p| STANDARD.decode(p).ok())
                .ok_or_else(|| SecretsError::master_key("transit returned no plaintext"))?;
            unframed(&plain, context)
        })
    }

    fn current_id(&self) -> SecretsFuture<'_, String> {
        Box::pin(async move {
            let reply = self
                .call(
                    reqwest::Method::GET,
                    &format!("keys/{}", self.key),
                    Value::Null,
                )
                .await?;
            let latest = reply
                .pointer("/data/latest_version")
                .and_then(Value::as_u64)
                .ok_or_else(|| SecretsError::master_key("transit key has no latest_version"))?;
            Ok(self.id_for_version(&format!("v{latest}")))
        })
    }
}
