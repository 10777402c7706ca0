//! The client's resolver: every name's addresses pass the guard before a
//! connection is made to them, so what was vetted is what is dialled.

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::webhooks::{DestinationError, DestinationGuard};

pub(super) struct GuardedResolver {
    guard: Arc<DestinationGuard>,
}

impl GuardedResolver {
    pub(super) fn new(guard: Arc<DestinationGuard>) -> Self {
        Self { guard }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.guard.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| DestinationError::resolve(&host, e))?
                .collect();
            guard.vet(&host, &addrs)?;
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}
