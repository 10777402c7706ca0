//! [`TenantSettings`]: the reference server's per-tenant settings — its
//! own type, stored, cached and invalidated by tenantry's
//! [`TenantConfig`](tenantry::config::TenantConfig).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tenantry::config::{FieldError, LimitOverrides, Settings};

/// A tenant's settings. Unknown fields are refused, missing ones default.
///
/// ```
/// use tenantry::config::Settings;
/// use tenantry_server::tenant_settings::TenantSettings;
///
/// let ok: TenantSettings = serde_json::from_str(r#"{"currency": "EUR", "timezone": "Europe/Paris"}"#).unwrap();
/// assert!(ok.validate().is_ok());
/// let bad = TenantSettings { currency: "euro".into(), request_timeout_ms: Some(5), ..TenantSettings::default() };
/// let errors = bad.validate().unwrap_err();
/// assert_eq!(errors.iter().map(|e| e.field).collect::<Vec<_>>(), ["currency", "request_timeout_ms"]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantSettings {
    /// Sender of the tenant's e-mails (`billing@acme.example`), or none for the platform's.
    pub email_from: Option<String>,
    /// ISO 4217 currency code (`EUR`).
    pub currency: String,
    /// IANA time zone (`Europe/Paris`), or `UTC`.
    pub timezone: String,
    /// Where the tenant's webhooks go (`https://…`), or none.
    pub webhook_url: Option<String>,
    /// How long one of the tenant's requests may run, 100 ms to 60 s, or
    /// none for the plan's limit (a setting above the plan's has no effect).
    pub request_timeout_ms: Option<u32>,
    /// How long a call to the tenant's endpoints (webhooks) may take, 100 ms
    /// to 60 s: a slow endpoint holds a worker no longer than this.
    pub outbound_timeout_ms: u32,
    /// The tenant's own request rate limit (per second), or none for the
    /// plan's. Lowers the plan's limit, never raises it.
    pub rate_limit_per_second: Option<u32>,
    /// Requests the tenant allows above its rate at once, or none for the plan's.
    pub rate_limit_burst: Option<u32>,
    /// Requests of the tenant's in flight at once, or none for the plan's.
    pub max_concurrent_requests: Option<u32>,
}

impl Default for TenantSettings {
    fn default() -> Self {
        Self {
            email_from: None,
            currency: "USD".into(),
            timezone: "UTC".into(),
            webhook_url: None,
            request_timeout_ms: None,
            outbound_timeout_ms: 10_000,
            rate_limit_per_second: None,
            rate_limit_burst: None,
            max_concurrent_requests: None,
        }
    }
}

impl TenantSettings {
    /// Amounts and dates as this tenant reads them.
    pub(crate) fn locale(&self) -> crate::locale::Locale {
        crate::locale::Locale::new(&self.currency, &self.timezone)
    }
}

impl Settings for TenantSettings {
    fn limit_overrides(&self) -> LimitOverrides {
        LimitOverrides {
            requests_per_second: self.rate_limit_per_second,
            burst: self.rate_limit_burst,
            concurrent_requests: self.max_concurrent_requests,
            request_timeout_ms: self.request_timeout_ms,
        }
    }

    fn outbound_timeout(&self) -> Option<Duration> {
        Some(Duration::from_millis(u64::from(self.outbound_timeout_ms)))
    }

    /// Every field's problem, or `Ok`.
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut fail = |field, message: &str| {
            errors.push(FieldError {
                field,
                message: message.to_owned(),
            })
        };
        if let Some(email) = &self.email_from
            && !is_email(email)
        {
            fail("email_from", "must be an e-mail address (name@domain)");
        }
        if !(self.currency.len() == 3 && self.currency.bytes().all(|b| b.is_ascii_uppercase())) {
            fail(
                "currency",
                "must be an ISO 4217 code: three capital letters (EUR)",
            );
        }
        if !is_timezone(&self.timezone) {
            fail(
                "timezone",
                "must be an IANA time zone (Europe/Paris) or UTC",
            );
        }
        if let Some(url) = &self.webhook_url
            && !is_web_url(url)
        {
            fail(
                "webhook_url",
                "must be an http:// or https:// URL with a host",
            );
        }
        let out_of = |value: Option<u32>, range: std::ops::RangeInclusive<u32>| {
            value.is_some_and(|v| !range.contains(&v))
        };
        if out_of(self.request_timeout_ms, 100..=60_000) {
            fail(
                "request_timeout_ms",
                "must be between 100 and 60000, or null",
            );
        }
        if !(100..=60_000).contains(&self.outbound_timeout_ms) {
            fail("outbound_timeout_ms", "must be between 100 and 60000");
        }
        if out_of(self.rate_limit_per_second, 1..=1_000_000) {
            fail(
                "rate_limit_per_second",
                "must be between 1 and 1000000, or null",
            );
        }
        if out_of(self.rate_limit_burst, 0..=1_000_000) {
            fail("rate_limit_burst", "must be between 0 and 1000000, or null");
        }
        if out_of(self.max_concurrent_requests, 1..=100_000) {
            fail(
                "max_concurrent_requests",
                "must be between 1 and 100000, or null",
            );
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    let printable = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_graphic() && c != '@');
    text.len() <= 254 && printable(local) && printable(domain) && domain.contains('.')
}

/// `UTC`, or a zone the time-zone database knows (`Europe/Paris`): a
/// name that looks right but is not a zone would fail every date shown.
fn is_timezone(text: &str) -> bool {
    crate::locale::zone(text).is_some()
}

fn is_web_url(text: &str) -> bool {
    let Some(rest) = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
    else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    text.chars().count() <= 2048
        && !host.is_empty()
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
}
