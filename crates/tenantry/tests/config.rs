//! Tenant settings and flags: validation, plan defaults and overrides, the
//! OpenFeature provider evaluating for the context's tenant.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tenantry::config::{
    ConfigError, FieldError, Flag, FlagSet, FlagSource, MemoryConfigStore, Settings, TenantConfig,
};
use tenantry::context::{self, Plan, TenantContext, TenantId};

/// An app's own settings type: tenantry stores, caches and validates it
/// without knowing its fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ShopSettings {
    currency: String,
    request_timeout_ms: Option<u32>,
}

impl Default for ShopSettings {
    fn default() -> Self {
        Self {
            currency: "USD".into(),
            request_timeout_ms: None,
        }
    }
}

impl Settings for ShopSettings {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        if self.request_timeout_ms.is_some_and(|ms| ms < 100) {
            return Err(vec![FieldError::new(
                "request_timeout_ms",
                "must be at least 100",
            )]);
        }
        Ok(())
    }
}

fn tenant(slug: &str, plan: Plan) -> TenantContext {
    TenantContext::builder(TenantId::new_v4(), slug)
        .plan(plan)
        .build()
        .unwrap()
}

fn config() -> TenantConfig<ShopSettings> {
    let flags = FlagSet::new()
        .with(Flag::new("bulk_export", "CSV export").on_for(Plan::from_static("enterprise")))
        .with(Flag::new("everyone", "On for all").rollout(100))
        .with(Flag::new("nobody", "Off for all"));
    TenantConfig::new(Arc::new(MemoryConfigStore::default()), flags)
}

#[tokio::test]
async fn settings_are_validated_and_kept_per_tenant() {
    let config = config();
    let (acme, globex) = (
        tenant("acme", Plan::from_static("pro")),
        tenant("globex", Plan::from_static("pro")),
    );
    let eur = ShopSettings {
        currency: "EUR".into(),
        ..ShopSettings::default()
    };
    acme.clone()
        .scope(config.update_settings(eur.clone()))
        .await
        .unwrap();
    assert_eq!(acme.clone().scope(config.settings()).await.unwrap(), eur);
    assert_eq!(
        globex.clone().scope(config.settings()).await.unwrap(),
        ShopSettings::default()
    );

    let bad = ShopSettings {
        request_timeout_ms: Some(0),
        ..eur.clone()
    };
    let err = acme
        .clone()
        .scope(config.update_settings(bad))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ConfigError::Invalid(fields) if fields[0].field == "request_timeout_ms"),
        "{err}"
    );
    assert_eq!(
        acme.clone().scope(config.settings()).await.unwrap(),
        eur,
        "nothing saved"
    );

    assert!(matches!(
        config.settings().await,
        Err(ConfigError::NoTenantContext(_))
    ));
    assert!(matches!(
        context::run_as_system("test", config.settings()).await,
        Err(ConfigError::SystemTenant)
    ));
}

#[tokio::test]
async fn flags_follow_plan_rollout_and_override() {
    let config = config();
    let (big, small) = (
        tenant("big", Plan::from_static("enterprise")),
        tenant("small", Plan::from_static("free")),
    );
    let state = |ctx: &TenantContext, key: &'static str| {
        let (ctx, config) = (ctx.clone(), config.clone());
        async move { ctx.scope(config.flag_state(key)).await.unwrap() }
    };
    assert_eq!(
        (
            state(&big, "bulk_export").await.enabled,
            state(&big, "bulk_export").await.source
        ),
        (true, FlagSource::Plan)
    );
    assert!(!state(&small, "bulk_export").await.enabled);
    assert!(state(&small, "everyone").await.enabled);
    assert!(!state(&small, "nobody").await.enabled);

    small
        .clone()
        .scope(config.set_flag("bulk_export", Some(true)))
        .await
        .unwrap();
    let overridden = state(&small, "bulk_export").await;
    assert_eq!(
        (overridden.enabled, overridden.source),
        (true, FlagSource::Override)
    );
    assert!(state(&big, "bulk_export").await.enabled);
    small
        .clone()
        .scope(config.set_flag("bulk_export", None))
        .await
        .unwrap();
    assert!(!state(&small, "bulk_export").await.enabled);

    assert!(matches!(
        small.clone().scope(config.flag("missing")).await,
        Err(ConfigError::UnknownFlag(_))
    ));
}

#[cfg(feature = "openfeature")]
#[tokio::test]
async fn the_openfeature_provider_evaluates_for_the_context_tenant() {
    use open_feature::{EvaluationContext, OpenFeature};
    use tenantry::config::OpenFeatureProvider;

    let config = config();
    let mut api = OpenFeature::default();
    api.set_provider(OpenFeatureProvider::new(config.clone()))
        .await;
    let client = api.create_client();
    let (big, small) = (
        tenant("big", Plan::from_static("enterprise")),
        tenant("small", Plan::from_static("free")),
    );

    // A targeting key naming another tenant changes nothing: the context decides.
    let pretend = EvaluationContext::default().with_targeting_key(big.tenant_id().to_string());
    let for_big = big
        .clone()
        .scope(client.get_bool_value("bulk_export", None, None))
        .await
        .unwrap();
    let for_small = small
        .clone()
        .scope(client.get_bool_value("bulk_export", Some(&pretend), None))
        .await
        .unwrap();
    assert!(for_big);
    assert!(!for_small);

    // An override made through tenantry is what the SDK sees next.
    small
        .clone()
        .scope(config.set_flag("bulk_export", Some(true)))
        .await
        .unwrap();
    let details = small
        .clone()
        .scope(client.get_bool_details("bulk_export", None, None))
        .await
        .unwrap();
    assert!(details.value);
    assert_eq!(details.variant.as_deref(), Some("on"));

    // Outside a tenant context, or for an unknown flag: an evaluation error.
    assert!(
        client
            .get_bool_value("bulk_export", None, None)
            .await
            .is_err()
    );
    assert!(
        small
            .clone()
            .scope(client.get_bool_value("missing", None, None))
            .await
            .is_err()
    );
    assert!(
        small
            .scope(client.get_int_value("bulk_export", None, None))
            .await
            .is_err()
    );
}

#[cfg(feature = "cache-redis")]
#[tokio::test]
async fn a_change_in_one_process_reaches_the_other_at_once() {
    use std::time::{Duration, Instant};
    use tenantry::cache::RedisRegistryEvents;

    let url =
        std::env::var("TENANTRY_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let (Ok(a_events), Ok(b_events)) = (
        RedisRegistryEvents::connect(&url).await,
        RedisRegistryEvents::connect(&url).await,
    ) else {
        tenantry_testkit::require_service("Redis", &url);
        return;
    };
    // Two "processes": one store, separate caches with an hour's TTL.
    let store = Arc::new(MemoryConfigStore::default());
    let flags = || FlagSet::new().with(Flag::new("beta", "Beta"));
    let hour = Duration::from_secs(3600);
    let a: TenantConfig<ShopSettings> =
        TenantConfig::with_ttl(store.clone(), flags(), hour).with_events(Arc::new(a_events));
    let b: TenantConfig<ShopSettings> = TenantConfig::with_ttl(store, flags(), hour);
    let listener = b_events.listen_config(b.clone()).await.unwrap();

    let acme = tenant("acme", Plan::from_static("pro"));
    assert!(
        !acme.clone().scope(b.flag("beta")).await.unwrap(),
        "b caches the default"
    );
    acme.clone()
        .scope(a.set_flag("beta", Some(true)))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !acme.clone().scope(b.flag("beta")).await.unwrap() {
        assert!(Instant::now() < deadline, "b still serves its cached value");
        tokio::task::yield_now().await;
    }
    listener.abort();
}
