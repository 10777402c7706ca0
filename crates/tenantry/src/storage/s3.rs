//! The S3 backend: any S3-compatible server, one client per bucket.

use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::signer::Signer;

use super::{Access, StorageError};

/// How to reach an S3-compatible server.
#[derive(Clone)]
pub struct S3Config {
    /// Endpoint URL (`http://127.0.0.1:8333`); `None` is AWS itself.
    pub endpoint: Option<String>,
    /// Region (`us-east-1` when the server does not care).
    pub region: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl S3Config {
    pub(super) fn store(&self, bucket: &str) -> Result<AmazonS3, StorageError> {
        // An unreachable S3 fails a request within a few seconds (a 503
        // upstream), rather than after object_store's default three minutes
        // of retries with every caller waiting.
        let retry = object_store::RetryConfig {
            backoff: object_store::BackoffConfig::default(),
            max_retries: 2,
            retry_timeout: std::time::Duration::from_secs(3),
        };
        let allow_http = self
            .endpoint
            .as_deref()
            .is_some_and(|e| e.starts_with("http://"));
        let mut builder = AmazonS3Builder::new()
            .with_retry(retry)
            .with_http_connector(Connector { allow_http })
            .with_bucket_name(bucket)
            .with_region(&self.region)
            .with_access_key_id(&self.access_key_id)
            .with_secret_access_key(&self.secret_access_key);
        if let Some(endpoint) = &self.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(allow_http)
                .with_virtual_hosted_style_request(false);
        }
        builder
            .build()
            .map_err(|e| StorageError::config_failed("S3 client", e))
    }
}

/// Builds object_store's HTTP client from [`crate::https`], so S3 traffic
/// uses the same rustls provider and trust store as the rest of tenantry.
#[derive(Debug)]
struct Connector {
    allow_http: bool,
}

impl object_store::client::HttpConnector for Connector {
    fn connect(
        &self,
        _options: &object_store::ClientOptions,
    ) -> object_store::Result<object_store::client::HttpClient> {
        let generic = |e: Box<dyn std::error::Error + Send + Sync>| object_store::Error::Generic {
            store: "S3",
            source: e,
        };
        let client = crate::https::client_builder()
            .map_err(|e| generic(e.into()))?
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(60))
            .https_only(!self.allow_http)
            .build()
            .map_err(|e| generic(e.into()))?;
        Ok(object_store::client::HttpClient::new(client))
    }
}

/// A presigned URL for `path` in `client`'s bucket.
pub(super) async fn presign(
    client: &AmazonS3,
    access: Access,
    path: &Path,
    ttl: Duration,
) -> Result<String, StorageError> {
    let method = match access {
        Access::Read => http::Method::GET,
        Access::Write => http::Method::PUT,
    };
    let url = client
        .signed_url(method, path, ttl)
        .await
        .map_err(StorageError::failed)?;
    Ok(url.to_string())
}

/// `PUT` (create) or `DELETE` `bucket` on `config`'s server. An existing
/// bucket on create, or a missing one on delete, is success: both calls
/// are idempotent.
pub(super) async fn bucket_call(
    config: &S3Config,
    bucket: &str,
    method: reqwest::Method,
) -> Result<(), StorageError> {
    let failed = |e: String| StorageError::Backend {
        message: format!("bucket {bucket}: {e}"),
        source: None,
    };
    // Outside us-east-1, S3 wants the region named in the body.
    let body = if method == reqwest::Method::PUT && config.region != "us-east-1" {
        format!(
            "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
            config.region
        )
        .into_bytes()
    } else {
        Vec::new()
    };
    let (url, headers) = super::sigv4::Presign {
        endpoint: config.endpoint.as_deref(),
        region: &config.region,
        access_key_id: &config.access_key_id,
        secret_access_key: &config.secret_access_key,
        bucket,
    }
    .bucket_request(method.as_str(), &body, std::time::SystemTime::now())?;
    let client = crate::https::client_builder()
        .and_then(|b| Ok(b.timeout(Duration::from_secs(10)).build()?))
        .map_err(|e| StorageError::failed_at(format!("bucket {bucket}"), e))?;
    let mut request = client.request(method.clone(), url).body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request
        .send()
        .await
        .map_err(|e| StorageError::failed_at(format!("bucket {bucket}"), e))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let text = response.text().await.unwrap_or_default();
    let already = method == reqwest::Method::PUT
        && (text.contains("BucketAlreadyOwnedByYou") || text.contains("BucketAlreadyExists"));
    let gone =
        method == reqwest::Method::DELETE && (status == 404 || text.contains("NoSuchBucket"));
    if already || gone {
        return Ok(());
    }
    Err(failed(format!(
        "HTTP {status}: {}",
        text.chars().take(300).collect::<String>()
    )))
}
