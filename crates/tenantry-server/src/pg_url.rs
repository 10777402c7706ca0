//! Small edits to `postgres://` URLs (swap the user or the database name).

use anyhow::{Context, bail};

struct Parts<'a> {
    scheme: &'a str,
    userinfo: Option<&'a str>,
    host: &'a str,
    path: &'a str,
    query: &'a str,
}

fn split(url: &str) -> anyhow::Result<Parts<'_>> {
    let (scheme, rest) = url
        .split_once("://")
        .context("expected a postgres:// URL")?;
    if scheme != "postgres" && scheme != "postgresql" {
        bail!("expected a postgres:// URL, got {scheme}://");
    }
    let (authority, after) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let (userinfo, host) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (path, query) = match after.find('?') {
        Some(i) => after.split_at(i),
        None => (after, ""),
    };
    Ok(Parts {
        scheme,
        userinfo,
        host,
        path,
        query,
    })
}

fn join(p: &Parts<'_>, userinfo: Option<&str>, path: &str) -> String {
    let user = userinfo.map(|u| format!("{u}@")).unwrap_or_default();
    format!("{}://{user}{}{path}{}", p.scheme, p.host, p.query)
}

/// `url` connecting as `user` (no password: the app role's password, if
/// any, belongs in `--app-database-url`).
pub fn with_user(url: &str, user: &str) -> anyhow::Result<String> {
    let p = split(url)?;
    Ok(join(&p, Some(user), p.path))
}

/// `url` connecting to database `name`.
pub fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let p = split(url)?;
    Ok(join(&p, p.userinfo, &format!("/{name}")))
}

/// The database name in `url`, if it has one.
pub fn database(url: &str) -> anyhow::Result<Option<String>> {
    let p = split(url)?;
    Ok(p.path
        .strip_prefix('/')
        .filter(|s| !s.is_empty())
        .map(str::to_owned))
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
    }
}
