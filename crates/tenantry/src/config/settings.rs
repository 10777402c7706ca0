//! [`Settings`]: the app's own typed per-tenant settings.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// One field's problem, for a clear 400.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field (`currency`).
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

impl FieldError {
    /// `field` is wrong because of `message`.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// Limits a tenant's own admins may set for the tenant. They lower the
/// plan's limits, never raise them (see
/// [`SettingsLimits`](crate::limits::SettingsLimits)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LimitOverrides {
    /// Sustained requests per second.
    pub requests_per_second: Option<u32>,
    /// Requests allowed at once above the sustained rate.
    pub burst: Option<u32>,
    /// Requests in flight at once.
    pub concurrent_requests: Option<u32>,
    /// Longest a request may take, in milliseconds.
    pub request_timeout_ms: Option<u32>,
}

/// A tenant's settings: the app's own struct, stored as JSON in the control
/// plane by [`TenantConfig`](super::TenantConfig), which caches it and
/// drops every process's copy when it changes.
///
/// A tenant that never saved any gets `Default`. Make the struct
/// `#[serde(default)]` so fields added later read as their defaults from
/// what older versions stored.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use tenantry::config::{FieldError, Settings};
///
/// #[derive(Clone, Debug, Default, Serialize, Deserialize)]
/// #[serde(default, deny_unknown_fields)]
/// struct ShopSettings {
///     storefront_title: String,
///     tax_rate_percent: u8,
/// }
///
/// impl Settings for ShopSettings {
///     fn validate(&self) -> Result<(), Vec<FieldError>> {
///         if self.tax_rate_percent > 50 {
///             return Err(vec![FieldError::new("tax_rate_percent", "must be 50 or less")]);
///         }
///         Ok(())
///     }
/// }
/// assert!(ShopSettings { tax_rate_percent: 90, ..Default::default() }.validate().is_err());
/// ```
pub trait Settings: Serialize + DeserializeOwned + Default + Clone + Send + Sync + 'static {
    /// Every field's problem, or `Ok`; checked before each save.
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        Ok(())
    }

    /// The limits the tenant set for itself, if the app lets tenants set any.
    fn limit_overrides(&self) -> LimitOverrides {
        LimitOverrides::default()
    }

    /// How long one call to the tenant's own endpoints (webhooks) may
    /// take, if the tenant chose; see
    /// [`TimeoutPolicy`](crate::http_client::TimeoutPolicy).
    fn outbound_timeout(&self) -> Option<std::time::Duration> {
        None
    }
}

/// No settings: an app that uses tenantry's flags only.
impl Settings for () {}
