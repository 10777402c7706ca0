//! Per-tenant settings and feature flags, read through the tenant context.
//!
//! [`TenantConfig`] keeps each tenant's settings — the app's own struct,
//! see [`Settings`] — and flag overrides in the control plane behind a short-TTL cache. A change made
//! in one process is announced through [`ConfigEvents`] (Redis pub/sub in
//! production) so every process drops its cached copy at once rather than
//! when the TTL runs out.
//!
//! Flags are defined in code ([`FlagSet`]): on for some plans, rolled out
//! to a percentage of the other tenants with sticky bucketing, and
//! overridable per tenant by an admin. With the `openfeature` feature,
//! [`OpenFeatureProvider`] serves them to the OpenFeature SDK, evaluated
//! for the tenant of the current context.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::sync::Arc;
//! use tenantry::config::{Flag, FlagSet, MemoryConfigStore, TenantConfig};
//! use tenantry::context::{Plan, TenantContext, TenantId};
//!
//! const TEAM: Plan = Plan::from_static("team");
//! let flags = FlagSet::new().with(Flag::new("bulk_export", "CSV export of every invoice").on_for(TEAM));
//! let config: TenantConfig<()> = TenantConfig::new(Arc::new(MemoryConfigStore::default()), flags);
//! let pro = TenantContext::builder(TenantId::new_v4(), "acme").plan(TEAM).build().unwrap();
//! assert!(pro.clone().scope(config.flag("bulk_export")).await.unwrap());
//! pro.clone().scope(config.set_flag("bulk_export", Some(false))).await.unwrap();
//! assert!(!pro.scope(config.flag("bulk_export")).await.unwrap());
//! # }
//! ```

mod flags;
#[cfg(feature = "openfeature")]
mod openfeature;
mod settings;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod stored;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use flags::{Flag, FlagSet, FlagSource, bucket};
#[cfg(feature = "openfeature")]
pub use openfeature::OpenFeatureProvider;
pub use settings::{FieldError, LimitOverrides, Settings};
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub use stored::SqlConfigStore;

use crate::context::{NoTenantContext, TenantContext, TenantId};
pub use crate::registry::BoxFuture;

/// How long a tenant's configuration is cached when no change is announced.
pub const DEFAULT_TTL: Duration = Duration::from_secs(60);

/// A tenant's stored configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoredConfig {
    /// Settings as JSON, if the tenant ever saved any.
    pub settings: Option<serde_json::Value>,
    /// Flag overrides, by flag key.
    pub flags: BTreeMap<String, bool>,
}

/// A boxed future of this module's `Result`: what the trait's methods return.
pub type ConfigFuture<'a, T> = BoxFuture<'a, Result<T, ConfigError>>;

/// Where tenants' configuration is kept (the control plane).
pub trait ConfigStore: Send + Sync + 'static {
    /// `tenant`'s settings and overrides.
    fn load(&self, tenant: TenantId) -> ConfigFuture<'_, StoredConfig>;
    /// Replaces `tenant`'s settings.
    fn save_settings<'a>(
        &'a self,
        tenant: TenantId,
        settings: &'a serde_json::Value,
    ) -> ConfigFuture<'a, ()>;
    /// Sets (or with `None` removes) `tenant`'s override of `flag`.
    fn set_flag<'a>(
        &'a self,
        tenant: TenantId,
        flag: &'a str,
        value: Option<bool>,
    ) -> ConfigFuture<'a, ()>;
}

/// Announces configuration changes to the other processes.
pub trait ConfigEvents: Send + Sync + 'static {
    /// `tenant`'s configuration changed.
    fn changed(&self, tenant: TenantId) -> BoxFuture<'_, ()>;
}

/// A flag as an admin sees it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FlagState {
    /// Key.
    pub key: &'static str,
    /// What it turns on.
    pub description: &'static str,
    /// Its value for this tenant.
    pub enabled: bool,
    /// Why.
    pub source: FlagSource,
}

/// Configuration failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Used outside a tenant context.
    #[error(transparent)]
    NoTenantContext(#[from] NoTenantContext),
    /// The system tenant has no configuration of its own.
    #[error("the system tenant has no tenant configuration")]
    SystemTenant,
    /// Settings that do not validate.
    #[error("invalid settings: {}", .0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    /// No flag has this key.
    #[error("no flag {0:?}")]
    UnknownFlag(String),
    /// Settings that do not convert to or from JSON as the app's type
    /// (saved by an older version of the app, or not serialisable).
    #[error("settings as JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The data layer failed; the [`DataError`](crate::data::DataError)
    /// says how (unavailable, timeout, constraint, SQLSTATE) and keeps the
    /// driver's error as its source.
    #[cfg(any(feature = "postgres", feature = "sqlite"))]
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
}

/// Tenants' settings (the app's type `S`) and flags; see the module docs.
pub struct TenantConfig<S: Settings> {
    store: Arc<dyn ConfigStore>,
    flags: Arc<FlagSet>,
    cache: moka::sync::Cache<TenantId, Arc<Loaded<S>>>,
    events: Option<Arc<dyn ConfigEvents>>,
}

impl<S: Settings> Clone for TenantConfig<S> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            flags: self.flags.clone(),
            cache: self.cache.clone(),
            events: self.events.clone(),
        }
    }
}

/// A tenant's configuration as cached: settings decoded once per load.
struct Loaded<S> {
    settings: Option<S>,
    flags: BTreeMap<String, bool>,
}

impl<S: Settings> TenantConfig<S> {
    /// Configuration kept in `store`, with `flags` defined.
    pub fn new(store: Arc<dyn ConfigStore>, flags: FlagSet) -> Self {
        Self::with_ttl(store, flags, DEFAULT_TTL)
    }

    /// [`new`](Self::new) with another cache lifetime.
    pub fn with_ttl(store: Arc<dyn ConfigStore>, flags: FlagSet, ttl: Duration) -> Self {
        Self {
            store,
            flags: Arc::new(flags),
            cache: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl)
                .build(),
            events: None,
        }
    }

    /// Announces every change through `events`.
    pub fn with_events(mut self, events: Arc<dyn ConfigEvents>) -> Self {
        self.events = Some(events);
        self
    }

    /// The defined flags.
    pub fn flag_set(&self) -> &FlagSet {
        &self.flags
    }

    /// The current tenant's settings (defaults if it saved none).
    pub async fn settings(&self) -> Result<S, ConfigError> {
        let ctx = tenant()?;
        Ok(self
            .load(ctx.tenant_id())
            .await?
            .settings
            .clone()
            .unwrap_or_default())
    }

    /// Validates and saves the current tenant's settings.
    pub async fn update_settings(&self, settings: S) -> Result<S, ConfigError> {
        settings.validate().map_err(ConfigError::Invalid)?;
        let ctx = tenant()?;
        let json = serde_json::to_value(&settings)?;
        self.store.save_settings(ctx.tenant_id(), &json).await?;
        self.announce(ctx.tenant_id()).await;
        Ok(settings)
    }

    /// Flag `key`'s value for the current tenant.
    pub async fn flag(&self, key: &str) -> Result<bool, ConfigError> {
        Ok(self.flag_state(key).await?.enabled)
    }

    /// Flag `key`'s value for the current tenant, and why.
    pub async fn flag_state(&self, key: &str) -> Result<FlagState, ConfigError> {
        let ctx = tenant()?;
        let flag = self
            .flags
            .get(key)
            .ok_or_else(|| ConfigError::UnknownFlag(key.to_owned()))?;
        let stored = self.load(ctx.tenant_id()).await?;
        Ok(state(flag, &ctx, &stored))
    }

    /// Every flag for the current tenant.
    pub async fn flag_states(&self) -> Result<Vec<FlagState>, ConfigError> {
        let ctx = tenant()?;
        let stored = self.load(ctx.tenant_id()).await?;
        Ok(self
            .flags
            .iter()
            .map(|flag| state(flag, &ctx, &stored))
            .collect())
    }

    /// Overrides flag `key` for the current tenant (`None` removes the override).
    pub async fn set_flag(&self, key: &str, value: Option<bool>) -> Result<FlagState, ConfigError> {
        let ctx = tenant()?;
        let flag = self
            .flags
            .get(key)
            .ok_or_else(|| ConfigError::UnknownFlag(key.to_owned()))?;
        self.store
            .set_flag(ctx.tenant_id(), flag.key, value)
            .await?;
        self.announce(ctx.tenant_id()).await;
        let stored = self.load(ctx.tenant_id()).await?;
        Ok(state(flag, &ctx, &stored))
    }

    /// Drops `tenant`'s cached configuration (another process changed it).
    pub fn forget(&self, tenant: TenantId) {
        self.cache.invalidate(&tenant);
    }

    /// Drops every tenant's cached configuration (after changes may have
    /// been missed, e.g. while the change channel was down).
    pub fn forget_all(&self) {
        self.cache.invalidate_all();
    }

    async fn announce(&self, tenant: TenantId) {
        self.forget(tenant);
        if let Some(events) = &self.events {
            events.changed(tenant).await;
        }
    }

    async fn load(&self, tenant: TenantId) -> Result<Arc<Loaded<S>>, ConfigError> {
        if let Some(found) = self.cache.get(&tenant) {
            return Ok(found);
        }
        let stored = self.store.load(tenant).await?;
        let settings = stored
            .settings
            .map(serde_json::from_value::<S>)
            .transpose()?;
        let loaded = Arc::new(Loaded {
            settings,
            flags: stored.flags,
        });
        self.cache.insert(tenant, loaded.clone());
        Ok(loaded)
    }
}

fn state<S>(flag: &Flag, ctx: &TenantContext, stored: &Loaded<S>) -> FlagState {
    let (enabled, source) = flag.explain(
        ctx.tenant_id(),
        ctx.plan(),
        stored.flags.get(flag.key).copied(),
    );
    FlagState {
        key: flag.key,
        description: flag.description,
        enabled,
        source,
    }
}

fn tenant() -> Result<TenantContext, ConfigError> {
    let ctx = crate::context::require()?;
    if ctx.is_system() {
        return Err(ConfigError::SystemTenant);
    }
    Ok(ctx)
}

/// Configuration in memory (tests and examples).
#[derive(Default)]
pub struct MemoryConfigStore {
    rows: Mutex<HashMap<TenantId, StoredConfig>>,
}

impl MemoryConfigStore {
    fn rows(&self) -> std::sync::MutexGuard<'_, HashMap<TenantId, StoredConfig>> {
        self.rows.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ConfigStore for MemoryConfigStore {
    fn load(&self, tenant: TenantId) -> ConfigFuture<'_, StoredConfig> {
        let found = self.rows().get(&tenant).cloned().unwrap_or_default();
        Box::pin(async move { Ok(found) })
    }

    fn save_settings<'a>(
        &'a self,
        tenant: TenantId,
        settings: &'a serde_json::Value,
    ) -> ConfigFuture<'a, ()> {
        self.rows().entry(tenant).or_default().settings = Some(settings.clone());
        Box::pin(async move { Ok(()) })
    }

    fn set_flag<'a>(
        &'a self,
        tenant: TenantId,
        flag: &'a str,
        value: Option<bool>,
    ) -> ConfigFuture<'a, ()> {
        let mut rows = self.rows();
        let flags = &mut rows.entry(tenant).or_default().flags;
        match value {
            Some(v) => {
                flags.insert(flag.to_owned(), v);
            }
            None => {
                flags.remove(flag);
            }
        }
        Box::pin(async move { Ok(()) })
    }
}
