//! HTTPS clients for everything tenantry sends over HTTP: JWKS and OIDC
//! discovery, outbound requests in the tenant's name, OpenBao, OTLP and S3.
//!
//! Every client uses rustls with the *ring* provider (the one the
//! PostgreSQL driver already links) and verifies servers against the
//! platform's trust store (on Linux the system CA bundle, `SSL_CERT_FILE`
//! honoured). The provider is handed to each client rather than installed
//! as the process default, so an application that chose another provider
//! keeps its choice.
//!
//! ```
//! # fn main() -> Result<(), tenantry::https::HttpsError> {
//! let client = tenantry::https::client_builder()?
//!     .timeout(std::time::Duration::from_secs(5))
//!     .build()?;
//! # let _ = client;
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;

/// A client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum HttpsError {
    /// The platform verifier or the TLS configuration could not be built.
    #[error("TLS set-up: {0}")]
    Tls(#[from] rustls::Error),
    /// reqwest refused the configuration.
    #[error("HTTP client set-up: {0}")]
    Client(#[from] reqwest::Error),
}

/// The rustls configuration every tenantry client uses: ring, TLS 1.2 and
/// 1.3, the platform's roots.
pub fn tls_config() -> Result<rustls::ClientConfig, HttpsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls_platform_verifier::Verifier::new(provider.clone())?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// A `reqwest` builder with [`tls_config`] in place; add timeouts and build.
pub fn client_builder() -> Result<reqwest::ClientBuilder, HttpsError> {
    Ok(reqwest::Client::builder().tls_backend_preconfigured(tls_config()?))
}

/// A client with [`tls_config`] and reqwest's defaults otherwise.
pub fn client() -> Result<reqwest::Client, HttpsError> {
    Ok(client_builder()?.build()?)
}
