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

/// Keeps the log writer thread alive; dropping it flushes what is queued.
#[must_use = "logs written after the guard is dropped are lost"]
pub struct LogGuard(#[allow(dead_code)] tracing_appender::non_blocking::WorkerGuard);

/// Where log lines go.
#[derive(Clone, Copy, Debug)]
pub enum LogTarget {
    /// Standard output (the server: logs are its output).
    Stdout,
    /// Standard error (commands whose stdout is their result).
    Stderr,
}

/// Installs the global subscriber writing to `target`; `RUST_LOG` filters
/// (default `info`).
///
/// Lines are formatted on the calling thread but written by a dedicated
/// thread through a buffer that it flushes whenever its queue runs dry: at
/// load, many lines leave in one `write`; idle, each line leaves at once.
/// The queue is not lossy — a full queue slows callers rather than dropping
/// lines, since these logs are the tenant audit trail.
pub fn init(format: LogFormat, target: LogTarget) -> LogGuard {
    let sink: Box<dyn std::io::Write + Send> = match target {
        LogTarget::Stdout => Box::new(std::io::stdout()),
        LogTarget::Stderr => Box::new(std::io::stderr()),
    };
    let buffered = std::io::BufWriter::with_capacity(64 * 1024, sink);
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("tenantry-log-writer")
        .finish(buffered);
    init_with_writer(format, writer);
    LogGuard(guard)
}

/// Installs the global subscriber writing to `writer` (tests capture logs this way).
pub fn init_with_writer<W>(format: LogFormat, writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let installed = match format {
        LogFormat::Json => builder
            .json()
            .with_current_span(false)
            .with_span_list(true)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
    // Already installed (tests): keep the first.
    drop(installed);
}
