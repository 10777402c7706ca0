//! How a tenant sees amounts and dates: in its `currency` (with that
//! currency's minor units) and its `timezone`, from its settings
//! ([`TenantSettings::locale`](crate::tenant_settings::TenantSettings::locale)). Used by
//! the invoice API and the e-mails, so a tenant in Paris billing in euros
//! reads `EUR 12.34` and `27 Nov 2026, 21:14 CET`, not cents and UTC.

use std::time::SystemTime;

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// The zone named `name`, if it is one of [`zone_names`].
pub(crate) fn zone(name: &str) -> Option<TimeZone> {
    zone_names()
        .binary_search_by(|known| known.as_str().cmp(name))
        .ok()
        .and_then(|_| TimeZone::get(name).ok())
}

/// The zones a tenant may choose, sorted: `UTC` and every `Area/Location`
/// of the time-zone database (the system's zoneinfo, or the bundled one).
/// The settings are checked against this list and the API document lists
/// it, so what the document allows is exactly what is accepted.
pub(crate) fn zone_names() -> &'static [String] {
    static NAMES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| {
        let mut names: Vec<String> = jiff::tz::db()
            .available()
            .map(|name| name.to_string())
            .filter(|name| name.contains('/') && !name.starts_with("Etc/"))
            .chain(["UTC".to_owned()])
            .collect();
        names.sort();
        names.dedup();
        names
    })
}

/// A tenant's currency and time zone.
#[derive(Clone, Debug)]
pub(crate) struct Locale {
    currency: String,
    zone: TimeZone,
}

impl Locale {
    /// Amounts in `currency`, dates in zone `timezone` (UTC if the zone has
    /// since vanished from the database).
    pub(crate) fn new(currency: &str, timezone: &str) -> Self {
        Self {
            currency: currency.to_owned(),
            zone: zone(timezone).unwrap_or(TimeZone::UTC),
        }
    }

    /// The ISO 4217 code.
    pub(crate) fn currency(&self) -> &str {
        &self.currency
    }

    /// `cents` (the currency's minor units) as a decimal: `1234` → `12.34`
    /// in EUR, `1234` in JPY, `1.234` in KWD.
    pub(crate) fn decimal(&self, minor: i64) -> String {
        let digits = minor_digits(&self.currency);
        if digits == 0 {
            return minor.to_string();
        }
        let scale = 10_i64.pow(digits);
        let sign = if minor < 0 { "-" } else { "" };
        let (whole, fraction) = (
            minor.unsigned_abs() / scale as u64,
            minor.unsigned_abs() % scale as u64,
        );
        format!("{sign}{whole}.{fraction:0width$}", width = digits as usize)
    }

    /// `EUR 12.34`.
    pub(crate) fn money(&self, minor: i64) -> String {
        format!("{} {}", self.currency, self.decimal(minor))
    }

    /// `t` in the tenant's zone, RFC 3339 with its offset
    /// (`2026-11-27T21:14:05+01:00`), for machines.
    pub(crate) fn rfc3339(&self, t: SystemTime) -> String {
        match Timestamp::try_from(t) {
            Ok(ts) => ts
                .to_zoned(self.zone.clone())
                .strftime("%Y-%m-%dT%H:%M:%S%:z")
                .to_string(),
            Err(_) => crate::store::rfc3339(t),
        }
    }

    /// `t` in the tenant's zone for people: `27 Nov 2026, 21:14 CET`.
    pub(crate) fn human(&self, t: SystemTime) -> String {
        match Timestamp::try_from(t) {
            Ok(ts) => ts
                .to_zoned(self.zone.clone())
                .strftime("%-d %b %Y, %H:%M %Z")
                .to_string(),
            Err(_) => crate::store::rfc3339(t),
        }
    }
}

/// Digits after the point in `currency`'s minor unit (ISO 4217): none for
/// yen-like currencies, three for the dinars, two for the rest.
fn minor_digits(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn locale(currency: &str, timezone: &str) -> Locale {
        Locale::new(currency, timezone)
    }

    #[test]
    fn amounts_follow_the_currency_minor_units() {
        assert_eq!(locale("EUR", "UTC").money(1234), "EUR 12.34");
        assert_eq!(locale("EUR", "UTC").decimal(5), "0.05");
        assert_eq!(locale("USD", "UTC").decimal(-1999), "-19.99");
        assert_eq!(locale("JPY", "UTC").money(1234), "JPY 1234");
        assert_eq!(locale("KWD", "UTC").decimal(1234), "1.234");
    }

    #[test]
    fn dates_are_shown_in_the_tenant_zone() {
        // 2026-11-27T20:14:05Z: 21:14 in Paris (CET, +01:00), 15:14 in New York.
        let t = UNIX_EPOCH + Duration::from_secs(1_795_810_445);
        assert_eq!(locale("EUR", "UTC").rfc3339(t), "2026-11-27T20:14:05+00:00");
        assert_eq!(
            locale("EUR", "Europe/Paris").rfc3339(t),
            "2026-11-27T21:14:05+01:00"
        );
        assert_eq!(
            locale("USD", "America/New_York").human(t),
            "27 Nov 2026, 15:14 EST"
        );
        // Summer time moves the offset: 2026-07-01T12:00:00Z.
        let summer = UNIX_EPOCH + Duration::from_secs(1_782_907_200);
        assert_eq!(
            locale("EUR", "Europe/Paris").rfc3339(summer),
            "2026-07-01T14:00:00+02:00"
        );
    }

    #[test]
    fn only_known_zones_are_zones() {
        assert!(zone("Europe/Paris").is_some());
        assert!(zone("Mars/Olympus_Mons").is_none());
    }
}
