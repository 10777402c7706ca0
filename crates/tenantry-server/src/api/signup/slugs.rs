//! Slugs self-service sign-up refuses, whoever asks: names the platform
//! uses or that look like it (`admin`, `www`, `api`, `status`, …), names
//! that read as something else (a UUID, which the edge would take for a
//! tenant id; an `xn--` punycode label, which a browser may show as a
//! look-alike of another name), and the operator's own list.

/// The platform's names: hosts it serves, mailboxes mail providers
/// expect, and words a phishing page would like to sit under.
const BUILT_IN: &[&str] = &[
    "abuse",
    "account",
    "accounts",
    "admin",
    "administrator",
    "api",
    "app",
    "apps",
    "assets",
    "auth",
    "billing",
    "blog",
    "cdn",
    "console",
    "dashboard",
    "dev",
    "docs",
    "ftp",
    "help",
    "hostmaster",
    "imap",
    "internal",
    "login",
    "mail",
    "noreply",
    "no-reply",
    "oauth",
    "ops",
    "pop",
    "postmaster",
    "root",
    "security",
    "signin",
    "signup",
    "smtp",
    "sso",
    "staging",
    "static",
    "status",
    "support",
    "system",
    "test",
    "webmaster",
    "www",
];

/// Why `slug` cannot be signed up for, if it cannot (`extra`: the
/// operator's reserved slugs, lowercase).
pub(super) fn refusal(slug: &str, extra: &[String]) -> Option<&'static str> {
    if BUILT_IN.contains(&slug) || extra.iter().any(|reserved| reserved == slug) {
        return Some("is reserved");
    }
    if uuid::Uuid::try_parse(slug).is_ok() {
        return Some("must not look like a tenant id");
    }
    if slug.starts_with("xn--") {
        return Some("must not be an internationalised (punycode) name");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::refusal;

    #[test]
    fn reserved_and_look_alike_slugs_are_refused() {
        for slug in ["admin", "www", "api", "system", "status"] {
            assert_eq!(refusal(slug, &[]), Some("is reserved"), "{slug}");
        }
        assert_eq!(refusal("paypal", &["paypal".into()]), Some("is reserved"));
        assert!(refusal("a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", &[]).is_some());
        assert!(refusal("a1b2c3d4e5f64a7b8c9d0e1f2a3b4c5d", &[]).is_some());
        assert!(refusal("xn--pypal-4ve", &[]).is_some());
        assert_eq!(refusal("initech", &[]), None);
        assert_eq!(refusal("administrators-guild", &[]), None);
    }
}
