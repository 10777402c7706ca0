//! Signed URLs: a client holds one of the tenant's objects for a while —
//! presigned by S3, or signed by [`UrlSigner`](super::UrlSigner) for the
//! local backend and checked by the app's edge.

use std::time::Duration;

#[cfg(feature = "storage-s3")]
use object_store::path::Path;

use super::{
    Backend, ObjectKey, SIGNED_PATH_PREFIX, SignatureError, StorageError, TenantStorage, signing,
    tenant,
};
#[cfg(feature = "storage-s3")]
use super::{s3, sigv4};
use crate::context::TenantId;

/// What a signed URL allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Download (`GET`).
    Read,
    /// Upload (`PUT`).
    Write,
}

impl Access {
    fn method(self) -> &'static str {
        match self {
            Access::Read => "GET",
            Access::Write => "PUT",
        }
    }
}

/// A local signed URL, verified: the object, and the body size an upload
/// URL holds the request to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedObject {
    /// The object the URL names.
    pub key: ObjectKey,
    /// For an upload URL made by [`TenantStorage::upload_url`], the exact
    /// size the body must have.
    pub size: Option<u64>,
}

impl TenantStorage {
    /// A URL that lets its holder read or write `key` for `ttl`: presigned
    /// by S3, or, on the local backend, a path below the tenant's own URL
    /// space (`/files/…`) signed with [`UrlSigner`](super::UrlSigner).
    pub async fn signed_url(
        &self,
        access: Access,
        key: &ObjectKey,
        ttl: Duration,
    ) -> Result<String, StorageError> {
        let ctx = tenant()?;
        match &self.inner.backend {
            Backend::Local { .. } => {
                Ok(self
                    .inner
                    .signer
                    .sign(access.method(), ctx.tenant_id(), key, ttl))
            }
            #[cfg(feature = "storage-s3")]
            Backend::S3(_) => {
                let (opened, prefix) = self.open(&ctx)?;
                let path = Path::parse(format!("{prefix}{key}")).map_err(StorageError::failed)?;
                let client = opened.s3.ok_or_else(|| {
                    StorageError::config("an S3 bucket opened without its client")
                })?;
                s3::presign(&client, access, &path, ttl).await
            }
        }
    }

    /// A URL that lets its holder upload exactly `size` bytes to `key` for
    /// `ttl`, admitted against the tenant's quota now: on S3 the size is
    /// signed into the presigned request (S3 refuses any other body
    /// length); on the local backend it is signed into the URL and handed
    /// back by [`verify_signed`](Self::verify_signed) for the server to hold
    /// the body to.
    pub async fn upload_url(
        &self,
        key: &ObjectKey,
        size: u64,
        ttl: Duration,
    ) -> Result<String, StorageError> {
        let ctx = tenant()?;
        self.admit(key, size).await?;
        match &self.inner.backend {
            Backend::Local { .. } => {
                Ok(self
                    .inner
                    .signer
                    .sign_upload(ctx.tenant_id(), key, size, ttl))
            }
            #[cfg(feature = "storage-s3")]
            Backend::S3(config) => {
                let (bucket, prefix) = self.inner.policy.place(&ctx);
                // Make sure the bucket exists before a client writes to it.
                self.open(&ctx)?;
                let url = sigv4::Presign {
                    endpoint: config.endpoint.as_deref(),
                    region: &config.region,
                    access_key_id: &config.access_key_id,
                    secret_access_key: &config.secret_access_key,
                    bucket: &bucket,
                }
                .put_sized(
                    &format!("{prefix}{key}"),
                    size,
                    ttl,
                    std::time::SystemTime::now(),
                )?;
                // The upload bypasses this server: count it now.
                self.count_write(size, 0);
                Ok(url)
            }
        }
    }

    /// Checks a request for a local signed URL against `tenant` (what the
    /// edge resolved): the raw path and query as received.
    pub fn verify_signed(
        &self,
        method: &str,
        tenant: TenantId,
        path: &str,
        query: Option<&str>,
    ) -> Result<SignedObject, SignatureError> {
        let size = self.inner.signer.verify(method, tenant, path, query)?;
        let encoded = path
            .strip_prefix(SIGNED_PATH_PREFIX)
            .ok_or(SignatureError::Mismatch)?;
        let key = signing::decode_key(encoded).ok_or(SignatureError::Mismatch)?;
        let key = ObjectKey::parse(&key).map_err(|_| SignatureError::Mismatch)?;
        Ok(SignedObject { key, size })
    }
}

#[cfg(feature = "edge")]
impl crate::edge::SignedRequests for TenantStorage {
    fn covers(&self, path: &str) -> bool {
        path.starts_with(SIGNED_PATH_PREFIX)
    }

    fn verify(&self, method: &str, tenant: TenantId, path: &str, query: Option<&str>) -> bool {
        self.verify_signed(method, tenant, path, query).is_ok()
    }
}
