//! [`Tenants`]: the registry as the edge sees it — a store behind a TTL cache.

use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;

use super::{NewTenant, RegistryError, TenantKey, TenantRecord, TenantState, TenantStore};
use crate::context::TenantId;

/// The tenant registry with an in-process TTL cache in front of it.
///
/// Lookups hit the store at most once per key per TTL. Misses are cached
/// too, so a flood of requests for one unknown slug does not reach the
/// database — but in a cache of their own, smaller and shorter-lived, so a
/// flood of *different* unknown names (anyone can make them up) evicts other
/// made-up names, never real tenants' records.
/// Every change made through this handle invalidates the affected keys at
/// once and is announced through [`RegistryEvents`] when one is attached
/// ([`Self::with_events`]); other processes that listen drop their copies
/// too, instead of serving them until the TTL runs out.
///
/// Clones share the cache.
#[derive(Clone)]
pub struct Tenants {
    store: Arc<dyn TenantStore>,
    // Keyed by every way a tenant is looked up.
    cache: Cache<TenantKey, Arc<TenantRecord>>,
    // Known misses, bounded apart from `cache` (see the type's docs).
    misses: Cache<TenantKey, ()>,
    events: Option<Arc<dyn RegistryEvents>>,
    lookups: Arc<Lookups>,
}

/// Cache hits and misses of [`Tenants::find`], shared by every clone.
#[derive(Debug, Default)]
struct Lookups {
    hits: std::sync::atomic::AtomicU64,
    misses: std::sync::atomic::AtomicU64,
}

/// Where registry changes are announced to other processes.
pub trait RegistryEvents: Send + Sync + 'static {
    /// Tells the other processes that the keys of `record` changed.
    fn changed(&self, record: &TenantRecord) -> super::BoxFuture<'_, ()>;
}

/// The cache keys of one tenant, as announced between processes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChangedKeys {
    /// Tenant id.
    pub id: crate::context::TenantId,
    /// Slug.
    pub slug: String,
    /// Custom domains.
    pub domains: Vec<String>,
}

impl Tenants {
    /// Default lifetime of a cached record.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(60);

    /// Wraps `store` with a cache of [`Self::DEFAULT_TTL`].
    pub fn new(store: Arc<dyn TenantStore>) -> Self {
        Self::with_ttl(store, Self::DEFAULT_TTL)
    }

    /// Records kept at most.
    pub const MAX_RECORDS: u64 = 100_000;
    /// Unknown names remembered at most (each costs one store query per
    /// [`Self::MISS_TTL`] once forgotten).
    pub const MAX_MISSES: u64 = 10_000;
    /// The longest an unknown name is remembered.
    pub const MISS_TTL: Duration = Duration::from_secs(10);

    /// Wraps `store` with a cache whose entries live for `ttl`.
    pub fn with_ttl(store: Arc<dyn TenantStore>, ttl: Duration) -> Self {
        let cache = Cache::builder()
            .max_capacity(Self::MAX_RECORDS)
            .time_to_live(ttl)
            .build();
        let misses = Cache::builder()
            .max_capacity(Self::MAX_MISSES)
            .time_to_live(ttl.min(Self::MISS_TTL))
            .build();
        Self {
            store,
            cache,
            misses,
            events: None,
            lookups: Arc::default(),
        }
    }

    /// Announces every change through `events` (e.g. Redis pub/sub).
    pub fn with_events(mut self, events: Arc<dyn RegistryEvents>) -> Self {
        self.events = Some(events);
        self
    }

    /// Drops the cached keys another process announced as changed.
    pub fn forget(&self, keys: &ChangedKeys) {
        let mut all = vec![TenantKey::Id(keys.id), TenantKey::Slug(keys.slug.clone())];
        all.extend(keys.domains.iter().cloned().map(TenantKey::Domain));
        for key in &all {
            self.cache.invalidate(key);
            self.misses.invalidate(key);
        }
    }

    async fn announce(&self, record: &TenantRecord) {
        self.invalidate(record);
        if let Some(events) = &self.events {
            events.changed(record).await;
        }
    }

    /// Looks a tenant up, through the cache.
    pub async fn find(&self, key: &TenantKey) -> Result<Option<Arc<TenantRecord>>, RegistryError> {
        use std::sync::atomic::Ordering::Relaxed;
        if let Some(hit) = self.cache.get(key) {
            self.lookups.hits.fetch_add(1, Relaxed);
            return Ok(Some(hit));
        }
        if self.misses.contains_key(key) {
            self.lookups.hits.fetch_add(1, Relaxed);
            return Ok(None);
        }
        self.lookups.misses.fetch_add(1, Relaxed);
        let found = self.store.find(key).await?.map(Arc::new);
        match &found {
            Some(record) => self.cache.insert(key.clone(), record.clone()),
            None => self.misses.insert(key.clone(), ()),
        }
        Ok(found)
    }

    /// Drops every key of tenant `id` cached in this process and reads its
    /// record again from the store (caching it): what the process serves
    /// from now on, whatever it held before.
    pub async fn refresh(&self, id: TenantId) -> Result<Option<Arc<TenantRecord>>, RegistryError> {
        let key = TenantKey::Id(id);
        if let Some(old) = self.cache.get(&key) {
            self.invalidate(&old);
        }
        self.cache.invalidate(&key);
        self.misses.invalidate(&key);
        let found = self.store.find(&key).await?.map(Arc::new);
        if let Some(record) = &found {
            // Its slug and domains may be cached on their own, from before.
            self.invalidate(record);
            self.cache.insert(key, record.clone());
        }
        Ok(found)
    }

    /// Lookups answered from the cache and from the store, since start
    /// (for a hit-ratio metric).
    pub fn cache_stats(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.lookups.hits.load(Relaxed),
            self.lookups.misses.load(Relaxed),
        )
    }

    /// Lists every tenant, straight from the store.
    pub async fn list(&self) -> Result<Vec<TenantRecord>, RegistryError> {
        self.store.list().await
    }

    /// Registers a tenant.
    pub async fn create(&self, tenant: NewTenant) -> Result<TenantRecord, RegistryError> {
        super::validate_slug(&tenant.slug)?;
        let record = self.store.insert(tenant).await?;
        self.announce(&record).await;
        Ok(record)
    }

    /// Moves a tenant to `state` if the lifecycle allows it.
    pub async fn set_state(
        &self,
        id: TenantId,
        state: TenantState,
    ) -> Result<TenantRecord, RegistryError> {
        let current = self
            .store
            .find(&TenantKey::Id(id))
            .await?
            .ok_or(RegistryError::NotFound)?;
        if !current.state.can_become(state) {
            return Err(RegistryError::InvalidTransition {
                from: current.state,
                to: state,
            });
        }
        let record = self.store.set_state(id, state).await?;
        self.announce(&record).await;
        Ok(record)
    }

    /// Puts a tenant on `plan`; every process holding its record (with
    /// registry events, e.g. Redis) drops it at once.
    pub async fn set_plan(
        &self,
        id: TenantId,
        plan: &crate::context::Plan,
    ) -> Result<TenantRecord, RegistryError> {
        let record = self.store.set_plan(id, plan).await?;
        self.announce(&record).await;
        Ok(record)
    }

    /// Routes a tenant to `tier`, its writes mirrored to `moving_to` during a
    /// tier move; every process holding its record (with registry events,
    /// e.g. Redis) drops it at once and picks the new route up.
    pub async fn set_route(
        &self,
        id: TenantId,
        change: super::RouteChange,
    ) -> Result<TenantRecord, RegistryError> {
        let record = self.store.set_route(id, change).await?;
        self.announce(&record).await;
        Ok(record)
    }

    /// Marks a tenant as a canary (fleet migrations reach it first), or not.
    pub async fn set_canary(
        &self,
        id: TenantId,
        canary: bool,
    ) -> Result<TenantRecord, RegistryError> {
        let record = self.store.set_canary(id, canary).await?;
        self.announce(&record).await;
        Ok(record)
    }

    /// Drops every cached record and miss in this process (after changes
    /// may have been missed, e.g. while the change channel was down).
    pub fn forget_all(&self) {
        self.cache.invalidate_all();
        self.misses.invalidate_all();
    }

    /// Drops every cached key of `record` (id, slug, domains) in this process.
    pub fn invalidate(&self, record: &TenantRecord) {
        self.forget(&ChangedKeys::of(record));
    }
}

impl ChangedKeys {
    /// The keys of `record`.
    pub fn of(record: &TenantRecord) -> Self {
        Self {
            id: record.id,
            slug: record.slug.clone(),
            domains: record.domains.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::super::{MemoryTenantStore, RegistryFuture};
    use super::*;
    use crate::context::{Plan, Tier};

    /// The in-memory store, counting lookups to observe the cache.
    #[derive(Default)]
    struct CountingStore {
        inner: MemoryTenantStore,
        finds: AtomicUsize,
    }

    impl TenantStore for CountingStore {
        fn find(&self, key: &TenantKey) -> RegistryFuture<'_, Option<TenantRecord>> {
            self.finds.fetch_add(1, Ordering::SeqCst);
            self.inner.find(key)
        }
        fn list(&self) -> RegistryFuture<'_, Vec<TenantRecord>> {
            self.inner.list()
        }
        fn insert(&self, t: NewTenant) -> RegistryFuture<'_, TenantRecord> {
            self.inner.insert(t)
        }
        fn set_state(&self, id: TenantId, state: TenantState) -> RegistryFuture<'_, TenantRecord> {
            self.inner.set_state(id, state)
        }
    }

    fn new_tenant(slug: &str) -> NewTenant {
        NewTenant {
            id: None,
            slug: slug.into(),
            name: slug.into(),
            plan: Plan::from_static("free"),
            tier: Tier::Shared,
            state: TenantState::Active,
            domains: vec![],
            database_server: None,
        }
    }

    #[tokio::test]
    async fn lookups_are_cached_and_changes_invalidate() {
        let store = Arc::new(CountingStore::default());
        let tenants = Tenants::new(store.clone());
        let acme = tenants.create(new_tenant("acme")).await.unwrap();
        let key = TenantKey::Slug("acme".into());

        tenants.find(&key).await.unwrap();
        tenants.find(&key).await.unwrap();
        assert_eq!(
            store.finds.load(Ordering::SeqCst),
            1,
            "second lookup is served by the cache"
        );

        tenants
            .set_state(acme.id, TenantState::Suspended)
            .await
            .unwrap();
        let seen = tenants.find(&key).await.unwrap().unwrap();
        assert_eq!(
            seen.state,
            TenantState::Suspended,
            "the change is visible at once"
        );
    }

    #[tokio::test]
    async fn misses_are_cached_until_the_tenant_is_created() {
        let store = Arc::new(CountingStore::default());
        let tenants = Tenants::new(store.clone());
        let key = TenantKey::Slug("later".into());
        assert!(tenants.find(&key).await.unwrap().is_none());
        assert!(tenants.find(&key).await.unwrap().is_none());
        assert_eq!(store.finds.load(Ordering::SeqCst), 1);
        tenants.create(new_tenant("later")).await.unwrap();
        assert!(tenants.find(&key).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn made_up_names_never_evict_real_records() {
        let store = Arc::new(CountingStore::default());
        let tenants = Tenants::new(store.clone());
        let mut real = Vec::new();
        for i in 0..100 {
            let slug = format!("real{i}");
            tenants.create(new_tenant(&slug)).await.unwrap();
            real.push(TenantKey::Slug(slug));
        }
        for key in &real {
            tenants.find(key).await.unwrap().unwrap();
        }
        // An enumeration run: far more made-up names than both caches hold.
        let flood = Tenants::MAX_RECORDS + Tenants::MAX_MISSES;
        for i in 0..flood {
            tenants
                .find(&TenantKey::Slug(format!("guess{i}")))
                .await
                .unwrap();
        }
        tenants.cache.run_pending_tasks();
        tenants.misses.run_pending_tasks();
        assert!(tenants.misses.entry_count() <= Tenants::MAX_MISSES);
        let before = store.finds.load(Ordering::SeqCst);
        for key in &real {
            tenants.find(key).await.unwrap().unwrap();
        }
        assert_eq!(
            store.finds.load(Ordering::SeqCst),
            before,
            "every real record is still served from the cache"
        );
    }

    #[tokio::test]
    async fn refuses_invalid_transitions_and_slugs() {
        let tenants = Tenants::new(Arc::new(CountingStore::default()));
        assert!(matches!(
            tenants.create(new_tenant("Bad Slug")).await,
            Err(RegistryError::InvalidSlug(_))
        ));
        let t = tenants.create(new_tenant("gone")).await.unwrap();
        tenants
            .set_state(t.id, TenantState::Deleting)
            .await
            .unwrap();
        assert!(matches!(
            tenants.set_state(t.id, TenantState::Active).await,
            Err(RegistryError::InvalidTransition { .. })
        ));
    }
}
