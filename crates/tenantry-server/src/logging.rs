//! Log output: JSON lines by default (one object per event, with the
//! enclosing spans' fields — so `tenant_id`, `tenant_slug` and `request_id`
//! appear on every line emitted inside a tenant context), or human-readable.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// How log lines look.
#[derive(Clone, Copy, Debug, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line.
    #[default]
    Json,
    /// Human-readable, for a terminal.
    Pretty,
}

/// Keeps the log writer thread alive (dropping it flushes what is queued)
/// and, when traces are exported, the exporter.
#[must_use = "logs written after the guard is dropped are lost"]
pub struct LogGuard {
    _writer: tracing_appender::non_blocking::WorkerGuard,
    #[cfg(feature = "otel")]
    telemetry: Option<tenantry::telemetry::Telemetry>,
}

impl LogGuard {
    /// Sends the spans still buffered (logs flush on drop).
    pub async fn shutdown(self) {
        #[cfg(feature = "otel")]
        if let Some(telemetry) = self.telemetry {
            telemetry.shutdown().await;
        }
    }
}

/// Where log lines go.
#[derive(Clone, Copy, Debug)]
pub enum LogTarget {
    /// Standard output (the server: logs are its output).
    Stdout,
    /// Standard error (commands whose stdout is their result).
    Stderr,
}

/// Installs the global subscriber writing to `target`; `RUST_LOG` filters
/// (default `info`). With `otlp` (an OTLP/HTTP endpoint; needs the `otel`
/// feature) spans are exported as traces too.
///
/// Lines are formatted on the calling thread but written by a dedicated
/// thread through a buffer that it flushes whenever its queue runs dry: at
/// load, many lines leave in one `write`; idle, each line leaves at once.
/// The queue is not lossy — a full queue slows callers rather than dropping
/// lines, since these logs are the tenant audit trail.
pub fn init(
    format: LogFormat,
    target: LogTarget,
    otlp: Option<&str>,
) -> Result<LogGuard, LoggingError> {
    let sink: Box<dyn std::io::Write + Send> = match target {
        LogTarget::Stdout => Box::new(std::io::stdout()),
        LogTarget::Stderr => Box::new(std::io::stderr()),
    };
    let buffered = std::io::BufWriter::with_capacity(64 * 1024, sink);
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("tenantry-log-writer")
        .finish(buffered);
    #[cfg(feature = "otel")]
    {
        let telemetry = otlp
            .map(|endpoint| tenantry::telemetry::Telemetry::otlp(endpoint, "tenantry"))
            .transpose()?;
        install(format, writer, telemetry.as_ref());
        Ok(LogGuard {
            _writer: guard,
            telemetry,
        })
    }
    #[cfg(not(feature = "otel"))]
    {
        if otlp.is_some() {
            return Err(LoggingError::NoOtel);
        }
        install(format, writer);
        Ok(LogGuard { _writer: guard })
    }
}

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoggingError {
    /// `--otlp-endpoint` in a build without OpenTelemetry.
    #[error("--otlp-endpoint needs a build with the `otel` feature")]
    NoOtel,
    /// The OTLP exporter could not be built.
    #[cfg(feature = "otel")]
    #[error(transparent)]
    Telemetry(#[from] tenantry::telemetry::TelemetryError),
}

/// Installs the global subscriber writing to `writer` (tests capture logs this way).
pub fn init_with_writer<W>(format: LogFormat, writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    #[cfg(feature = "otel")]
    install(format, writer, None);
    #[cfg(not(feature = "otel"))]
    install(format, writer);
}

fn install<W>(
    format: LogFormat,
    writer: W,
    #[cfg(feature = "otel")] telemetry: Option<&tenantry::telemetry::Telemetry>,
) where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let lines = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(false)
            .with_span_list(true)
            .with_writer(writer)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .compact()
            .with_writer(writer)
            .boxed(),
    };
    let subscriber = tracing_subscriber::registry().with(filter).with(lines);
    #[cfg(feature = "otel")]
    let subscriber = subscriber.with(telemetry.map(|t| t.layer()));
    // Already installed (tests): keep the first.
    drop(subscriber.try_init());
}
