//! TLS to PostgreSQL, as libpq's `sslmode` and `sslrootcert` ask for it.
//!
//! A URL is read the way `psql` reads it, so one URL serves both:
//!
//! | `sslmode` | encrypted | certificate checked | host name checked |
//! |---|---|---|---|
//! | `disable` | no | — | — |
//! | `prefer` (default), `allow` | if the server offers it | no | no |
//! | `require` | yes | only with `sslrootcert` (then as `verify-ca`) | no |
//! | `verify-ca` | yes | yes | no |
//! | `verify-full` | yes | yes | yes |
//!
//! Certificates are checked against `sslrootcert` (a PEM file of CA
//! certificates) or, without one, the system's roots. The same TLS settings
//! reach every server of the deployment (database-tier tenants on other
//! servers included); with `verify-full` each is checked under its own name.
//!
//! Only `verify-ca` and `verify-full` stop an attacker on the network path;
//! [`PgTls::verifies_server`] says which a URL has, so a server can refuse
//! to start without it when the database is not on the same host.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::{Host, SslMode as DriverSslMode};
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::data::DataError;

/// How much a connection checks, from the URL's `sslmode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SslMode {
    /// Plain text.
    Disable,
    /// TLS when the server offers it, unverified.
    Prefer,
    /// TLS always, unverified.
    Require,
    /// TLS, certificate chain verified.
    VerifyCa,
    /// TLS, chain and host name verified.
    VerifyFull,
}

impl FromStr for SslMode {
    type Err = DataError;
    fn from_str(text: &str) -> Result<Self, DataError> {
        Ok(match text {
            "disable" => Self::Disable,
            "allow" | "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            other => {
                return Err(DataError::config(format!(
                    "sslmode={other}: expected disable, allow, prefer, require, verify-ca or verify-full"
                )));
            }
        })
    }
}

/// The TLS connector for one deployment's connections (cheap to clone).
#[derive(Clone)]
pub struct PgTls {
    mode: SslMode,
    connector: MakeRustlsConnect,
}

impl std::fmt::Debug for PgTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTls").field("mode", &self.mode).finish()
    }
}

impl PgTls {
    /// What connections with this connector check.
    pub fn mode(&self) -> SslMode {
        self.mode
    }

    /// Whether the server's certificate is verified (`verify-ca` or
    /// `verify-full`, or `require` with a root certificate).
    pub fn verifies_server(&self) -> bool {
        self.mode >= SslMode::VerifyCa
    }
}

impl<S> MakeTlsConnect<S> for PgTls
where
    MakeRustlsConnect: MakeTlsConnect<S>,
{
    type Stream = <MakeRustlsConnect as MakeTlsConnect<S>>::Stream;
    type TlsConnect = <MakeRustlsConnect as MakeTlsConnect<S>>::TlsConnect;
    type Error = <MakeRustlsConnect as MakeTlsConnect<S>>::Error;

    fn make_tls_connect(&mut self, domain: &str) -> Result<Self::TlsConnect, Self::Error> {
        MakeTlsConnect::<S>::make_tls_connect(&mut self.connector, domain)
    }
}

/// Parses a `postgres://` URL with libpq's TLS parameters: the driver's
/// configuration and the connector that does what `sslmode` asks.
///
/// ```
/// use tenantry::data::postgres::{SslMode, parse_url};
///
/// let (_, tls) = parse_url("postgres://app@db.internal/tenantry?sslmode=verify-full").unwrap();
/// assert_eq!(tls.mode(), SslMode::VerifyFull);
/// let (_, tls) = parse_url("postgres://app@127.0.0.1/tenantry").unwrap();
/// assert_eq!(tls.mode(), SslMode::Prefer);
/// assert!(parse_url("postgres://app@db/t?sslmode=paranoid").is_err());
/// ```
pub fn parse_url(url: &str) -> Result<(tokio_postgres::Config, PgTls), DataError> {
    let bad = |why: String| DataError::config(format!("bad PostgreSQL URL: {why}"));
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut kept = Vec::new();
    let mut mode = SslMode::Prefer;
    let mut root_cert: Option<PathBuf> = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value).map_err(bad)?;
        match key {
            "sslmode" => mode = value.parse()?,
            "sslrootcert" => root_cert = Some(PathBuf::from(value)),
            "sslcert" | "sslkey" | "sslpassword" => {
                return Err(bad(format!("{key}: client certificates are not supported")));
            }
            _ => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    let mut config = tokio_postgres::Config::from_str(&rest).map_err(|e| {
        DataError::Config(
            crate::data::DbFailure::new(format!("bad PostgreSQL URL: {e}")).with_source(e),
        )
    })?;
    // libpq: `require` with a root certificate checks the chain.
    if mode == SslMode::Require && root_cert.is_some() {
        mode = SslMode::VerifyCa;
    }
    config.ssl_mode(match mode {
        SslMode::Disable => DriverSslMode::Disable,
        SslMode::Prefer => DriverSslMode::Prefer,
        _ => DriverSslMode::Require,
    });
    let tls = PgTls {
        mode,
        connector: MakeRustlsConnect::new(client_config(mode, root_cert.as_deref())?),
    };
    Ok((config, tls))
}

/// Whether every host of `config` is on this machine (a Unix socket or a
/// loopback address), where TLS guards against nobody.
pub fn is_local(config: &tokio_postgres::Config) -> bool {
    config.get_hosts().iter().all(|host| match host {
        Host::Unix(_) => true,
        Host::Tcp(name) => {
            name.eq_ignore_ascii_case("localhost")
                || name
                    .trim_matches(['[', ']'])
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
    })
}

fn client_config(mode: SslMode, root_cert: Option<&Path>) -> Result<ClientConfig, DataError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| {
            DataError::Config(crate::data::DbFailure::new(e.to_string()).with_source(e))
        })?;
    let chain = |provider: Arc<rustls::crypto::CryptoProvider>| {
        rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots(root_cert)?),
            provider,
        )
        .build()
        .map_err(|e| DataError::Config(crate::data::DbFailure::new(e.to_string()).with_source(e)))
    };
    let config = match mode {
        SslMode::VerifyFull => builder
            .with_webpki_verifier(chain(provider)?)
            .with_no_client_auth(),
        SslMode::VerifyCa => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Relaxed {
                chain: Some(chain(provider.clone())?),
                provider,
            }))
            .with_no_client_auth(),
        SslMode::Disable | SslMode::Prefer | SslMode::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Relaxed {
                chain: None,
                provider,
            }))
            .with_no_client_auth(),
    };
    Ok(config)
}

fn roots(root_cert: Option<&Path>) -> Result<RootCertStore, DataError> {
    let mut store = RootCertStore::empty();
    match root_cert {
        Some(path) => {
            let unreadable = |e: Box<dyn std::error::Error + Send + Sync>| {
                DataError::Config(
                    crate::data::DbFailure::new(format!("sslrootcert {}: {e}", path.display()))
                        .with_source(e),
                )
            };
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| unreadable(Box::new(e)))? {
                store
                    .add(cert.map_err(|e| unreadable(Box::new(e)))?)
                    .map_err(|e| unreadable(Box::new(e)))?;
            }
            if store.is_empty() {
                return Err(DataError::config(format!(
                    "sslrootcert {}: no certificate in the file",
                    path.display()
                )));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                return Err(DataError::config(
                    "no system root certificates: give sslrootcert=FILE",
                ));
            }
        }
    }
    Ok(store)
}

/// `verify-ca` (`chain` set: the chain must lead to a trusted root, the
/// name is not checked) and `prefer` / `require` (`chain` unset: encryption
/// against passive listeners only, as in libpq). Either way the handshake's
/// signatures are checked with the provider's algorithms.
#[derive(Debug)]
struct Relaxed {
    chain: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Relaxed {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        use rustls::{CertificateError, Error};
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `%2F` → `/` in a query value (socket directories, file paths).
fn percent_decode(value: &str) -> Result<String, String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent escape in {value:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{value:?} is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_parameters_are_taken_out_and_the_rest_kept() {
        let (config, tls) = parse_url(
            "postgres://app@db.internal:6432/t?application_name=x&sslmode=require&connect_timeout=3",
        )
        .unwrap();
        assert_eq!(tls.mode(), SslMode::Require);
        assert!(!tls.verifies_server());
        assert_eq!(config.get_application_name(), Some("x"));
        assert_eq!(config.get_ssl_mode(), DriverSslMode::Require);
        assert!(!is_local(&config));
        let (config, tls) = parse_url("postgres://app@127.0.0.1/t?sslmode=disable").unwrap();
        assert_eq!(config.get_ssl_mode(), DriverSslMode::Disable);
        assert_eq!(tls.mode(), SslMode::Disable);
        assert!(is_local(&config));
        assert!(parse_url("postgres://app@db/t?sslcert=/c.pem").is_err());
        assert!(
            parse_url("postgres://app@db/t?sslmode=verify-full&sslrootcert=/nonexistent.pem")
                .is_err()
        );
    }

    #[test]
    fn sockets_and_loopback_are_local() {
        let (config, _) = parse_url("postgres://app@%2Fvar%2Frun%2Fpostgresql/t").unwrap();
        assert!(is_local(&config));
        let (config, _) = parse_url("postgres://app@[::1]:5432/t").unwrap();
        assert!(is_local(&config));
        let (config, _) = parse_url("postgres://app@localhost/t").unwrap();
        assert!(is_local(&config));
    }
}
