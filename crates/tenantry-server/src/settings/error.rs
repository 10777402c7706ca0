//! [`SettingsError`]: why the settings were refused at start-up. A weak
//! secret, TLS off to another host or a malformed value stops the server
//! with the setting's name in the message, never a silent default.

use std::fmt::Display;
use std::path::{Path, PathBuf};

// Any underlying parse error is kept as the source.
/// An underlying parse error, kept as the source.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why the settings were refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// A value one of the server's rules refuses (a short secret, plain
    /// text to another host, a flag without its partner).
    #[error("{0}")]
    Refused(String),
    /// A value that does not read as what the setting names.
    #[error("{setting}: {source}")]
    Unparsable {
        /// The setting (`--smtp-addr "x:y"`) or file.
        setting: String,
        /// Why it does not read.
        #[source]
        source: BoxError,
    },
    /// A PostgreSQL URL that does not read.
    #[error(transparent)]
    PgUrl(#[from] crate::pg_url::PgUrlError),
    /// A `--limits` file that does not read.
    #[error(transparent)]
    Limits(#[from] crate::limit_sizes::LimitsError),
    /// A file the settings name (or make) could not be read or written.
    #[error("{doing} {}: {source}", path.display())]
    File {
        /// `reading`, `creating`.
        doing: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl SettingsError {
    /// A refusal with no underlying error.
    pub(crate) fn refused(message: impl Into<String>) -> Self {
        Self::Refused(message.into())
    }

    /// Wraps a parse error of `setting`.
    pub(crate) fn unparsable<E: Into<BoxError>>(setting: impl Display) -> impl FnOnce(E) -> Self {
        move |source| Self::Unparsable {
            setting: setting.to_string(),
            source: source.into(),
        }
    }

    /// Wraps an I/O error `doing` something to `path`.
    pub(crate) fn file(doing: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_owned();
        move |source| Self::File {
            doing,
            path,
            source,
        }
    }
}
