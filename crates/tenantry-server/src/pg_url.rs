//! Small edits to `postgres://` URLs (swap the user or the database name),
//! through the `url` crate: user names and database names are
//! percent-encoded and decoded as the driver expects.

use url::Url;

/// Why a PostgreSQL URL could not be read or edited.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgUrlError {
    /// Not a URL at all.
    #[error("expected a postgres:// URL: {0}")]
    Unparsable(#[from] url::ParseError),
    /// A URL of another scheme.
    #[error("expected a postgres:// URL, got {0}://")]
    Scheme(String),
    /// No host to connect to as another user.
    #[error(
        "the database URL names no host to connect to as {user}: \
         give the app role's URL with --app-database-url"
    )]
    NoHost {
        /// The user the URL was to connect as.
        user: String,
    },
    /// A URL that cannot name a database (no path).
    #[error("{0}: not a URL with a path")]
    NoPath(String),
    /// The database name does not decode to UTF-8.
    #[error("the database name is not UTF-8")]
    NotUtf8(#[source] std::str::Utf8Error),
}

fn parse(url: &str) -> Result<Url, PgUrlError> {
    let parsed = Url::parse(url)?;
    if !matches!(parsed.scheme(), "postgres" | "postgresql") {
        return Err(PgUrlError::Scheme(parsed.scheme().to_owned()));
    }
    Ok(parsed)
}

/// `url` connecting as `user` (no password: the app role's password, if
/// any, belongs in `--app-database-url`).
pub fn with_user(url: &str, user: &str) -> Result<String, PgUrlError> {
    let mut parsed = parse(url)?;
    let no_host = || PgUrlError::NoHost {
        user: user.to_owned(),
    };
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(no_host());
    }
    parsed.set_password(None).map_err(|()| no_host())?;
    parsed.set_username(user).map_err(|()| no_host())?;
    Ok(parsed.into())
}

/// `url` connecting to database `name`.
pub fn with_database(url: &str, name: &str) -> Result<String, PgUrlError> {
    let mut parsed = parse(url)?;
    parsed
        .path_segments_mut()
        .map_err(|()| PgUrlError::NoPath(url.to_owned()))?
        .clear()
        .push(name);
    Ok(parsed.into())
}

/// The database name in `url`, if it has one.
pub fn database(url: &str) -> Result<Option<String>, PgUrlError> {
    let parsed = parse(url)?;
    let Some(first) = parsed.path_segments().and_then(|mut s| s.next()) else {
        return Ok(None);
    };
    let name = percent_encoding::percent_decode_str(first)
        .decode_utf8()
        .map_err(PgUrlError::NotUtf8)?;
    Ok((!name.is_empty()).then(|| name.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swaps_user_and_database() {
        let url = "postgres://postgres:pw@127.0.0.1:5432/tenantry?sslmode=disable";
        assert_eq!(
            with_user(url, "app").unwrap(),
            "postgres://app@127.0.0.1:5432/tenantry?sslmode=disable"
        );
        assert_eq!(
            with_database(url, "postgres").unwrap(),
            "postgres://postgres:pw@127.0.0.1:5432/postgres?sslmode=disable"
        );
        assert_eq!(database(url).unwrap().as_deref(), Some("tenantry"));
        assert_eq!(
            with_user("postgres://localhost", "app").unwrap(),
            "postgres://app@localhost"
        );
        assert!(with_user("mysql://x", "app").is_err());
        assert_eq!(database("postgres://localhost").unwrap(), None);
    }

    #[test]
    fn names_are_encoded_and_decoded() {
        let url = with_database("postgres://h/x", "my db").unwrap();
        assert_eq!(url, "postgres://h/my%20db");
        assert_eq!(database(&url).unwrap().as_deref(), Some("my db"));
        assert_eq!(
            with_user("postgres://h/x", "app@corp").unwrap(),
            "postgres://app%40corp@h/x"
        );
    }

    #[test]
    fn a_socket_url_without_a_host_is_refused_with_a_hint() {
        let err = with_user("postgres:///tenantry?host=/var/run/postgresql", "app")
            .unwrap_err()
            .to_string();
        assert!(err.contains("--app-database-url"), "{err}");
        assert_eq!(
            database("postgres:///tenantry?host=/var/run/postgresql")
                .unwrap()
                .as_deref(),
            Some("tenantry")
        );
    }
}
