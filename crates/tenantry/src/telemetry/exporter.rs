//! [`Telemetry`]: the tracer provider, its OTLP exporter and the layer.

use bytes::Bytes;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{HttpClient, HttpError};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing_subscriber::registry::LookupSpan;

use super::attributes::TenantAttributes;

/// Why telemetry could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// Started outside a Tokio runtime (the exporter sends on it).
    #[error("telemetry must start inside a Tokio runtime")]
    NoRuntime,
    /// The exporter could not be built (a bad endpoint, say).
    #[error("OTLP exporter: {0}")]
    Exporter(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Traces exported over OTLP/HTTP; see the [module docs](super).
///
/// ```no_run
/// # async fn demo() -> Result<(), tenantry::telemetry::TelemetryError> {
/// use tracing_subscriber::layer::SubscriberExt as _;
/// let telemetry = tenantry::telemetry::Telemetry::otlp("http://127.0.0.1:4318", "billing")?;
/// let subscriber = tracing_subscriber::registry().with(telemetry.layer());
/// # drop(subscriber);
/// // … serve …
/// telemetry.shutdown().await; // sends what is still buffered
/// # Ok(()) }
/// ```
pub struct Telemetry {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
}

impl Telemetry {
    /// Exports to the OTLP/HTTP collector at `endpoint` (`http://host:4318`;
    /// spans go to `/v1/traces`) as service `service_name`. Spans are sent
    /// in batches from a background thread; `OTEL_BSP_*` variables tune them.
    pub fn otlp(endpoint: &str, service_name: &str) -> Result<Self, TelemetryError> {
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| TelemetryError::NoRuntime)?;
        let endpoint = endpoint.trim_end_matches('/');
        let url = if endpoint.ends_with("/v1/traces") {
            endpoint.to_owned()
        } else {
            format!("{endpoint}/v1/traces")
        };
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(url)
            .with_http_client(OnRuntime {
                client: crate::https::client()
                    .map_err(|e| TelemetryError::Exporter(Box::new(e)))?,
                runtime,
            })
            .build()
            .map_err(|e| TelemetryError::Exporter(Box::new(e)))?;
        let provider = SdkTracerProvider::builder()
            .with_span_processor(TenantAttributes)
            .with_batch_exporter(exporter)
            .with_resource(
                Resource::builder()
                    .with_service_name(service_name.to_owned())
                    .build(),
            )
            .build();
        let tracer = provider.tracer("tenantry");
        crate::context::on_scope_span(super::adopt);
        Ok(Self { provider, tracer })
    }

    /// The `tracing` layer that turns spans into OpenTelemetry spans.
    pub fn layer<S>(&self) -> tracing_opentelemetry::OpenTelemetryLayer<S, SdkTracer>
    where
        S: tracing::Subscriber + for<'span> LookupSpan<'span>,
    {
        crate::context::on_scope_span(super::adopt);
        tracing_opentelemetry::layer().with_tracer(self.tracer.clone())
    }

    /// Sends every finished span now.
    pub async fn flush(&self) {
        let provider = self.provider.clone();
        // `force_flush` blocks until the export thread is done, and that
        // thread sends on this runtime: block elsewhere.
        let flushed = tokio::task::spawn_blocking(move || provider.force_flush()).await;
        if let Ok(Err(e)) = flushed {
            tracing::warn!(error = %e, "flushing spans failed");
        }
    }

    /// Flushes and stops the exporter.
    pub async fn shutdown(self) {
        let provider = self.provider;
        let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
    }
}

/// An HTTP client for the exporter's thread: the SDK exports from a thread
/// of its own, outside any runtime, so each send is spawned on the runtime
/// telemetry started on, and awaited from there.
#[derive(Debug)]
struct OnRuntime {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for OnRuntime {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, HttpError> {
        let client = self.client.clone();
        let sent = self.runtime.spawn(async move {
            let (parts, body) = request.into_parts();
            let response = client
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.bytes().await?;
            let mut out = http::Response::new(body);
            *out.status_mut() = status;
            *out.headers_mut() = headers;
            Ok::<_, reqwest::Error>(out)
        });
        match sent.await {
            Ok(result) => result.map_err(|e| Box::new(e) as HttpError),
            Err(e) => Err(Box::new(e) as HttpError),
        }
    }
}
