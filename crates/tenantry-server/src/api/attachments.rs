//! `/api/invoices/{id}/attachments`: files on an invoice, kept in the
//! tenant's object storage under `invoices/<invoice id>/<name>`, downloaded
//! and uploaded through signed URLs; and `/files/…`, where the local
//! backend's signed URLs are served.

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tenantry::context;
use tenantry::storage::{Access, ObjectInfo, ObjectKey, SignedObject, StorageError};
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::{Body, Id};
use super::{ApiError, AppState};
use crate::store::invoices;

/// How long a download or upload URL stays valid.
const URL_TTL: Duration = Duration::from_secs(300);

/// The largest attachment accepted through the API.
pub(crate) const MAX_ATTACHMENT_BYTES: usize = 10 * 1024 * 1024;

/// Files one invoice may hold: what bounds its attachment list.
pub(crate) const MAX_ATTACHMENTS: usize = 20;

/// Refuses a new name on an invoice that holds [`MAX_ATTACHMENTS`] files
/// (replacing one of them is fine).
async fn room_for(app: &AppState, invoice: uuid::Uuid, key: &ObjectKey) -> Result<(), ApiError> {
    let prefix = ObjectKey::join(["invoices", invoice.to_string().as_str()])?;
    let files = app.services.storage.list(Some(&prefix)).await?;
    if files.len() >= MAX_ATTACHMENTS && !files.iter().any(|f| f.key == *key) {
        return Err(ApiError::Conflict(format!(
            "an invoice holds at most {MAX_ATTACHMENTS} files; delete one first"
        )));
    }
    Ok(())
}

/// One file on an invoice.
#[derive(Serialize, ToSchema)]
pub(crate) struct Attachment {
    /// File name.
    pub(crate) name: String,
    /// Size in bytes.
    pub(crate) size: u64,
    /// A URL that downloads it for the next five minutes, no token needed.
    pub(crate) download_url: String,
}

/// An invoice's files.
#[derive(Serialize, ToSchema)]
pub(crate) struct AttachmentList {
    /// By name.
    pub(crate) attachments: Vec<Attachment>,
}

/// The file to be uploaded.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UploadRequest {
    /// Its exact size in bytes, 1 to 10 MiB: the URL accepts a body of this
    /// size only.
    #[serde(deserialize_with = "super::integer::required")]
    #[schema(minimum = 1, maximum = 10485760)]
    pub(crate) size: u64,
}

/// Where to send a file.
#[derive(Serialize, ToSchema)]
pub(crate) struct UploadUrl {
    /// `PUT` the file's bytes here within five minutes, no token needed.
    pub(crate) url: String,
    /// Always `PUT`.
    pub(crate) method: &'static str,
}

/// `{id}` and `{name}`: an unknown id is a 404 like any other; a name that
/// is not one plain file name is a 400.
pub(crate) struct InvoiceFile {
    invoice: Uuid,
    key: ObjectKey,
}

impl<S: Send + Sync> FromRequestParts<S> for InvoiceFile {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path((id, name)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound)?;
        let invoice = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
        let key = file_key(invoice, &name)?;
        Ok(Self { invoice, key })
    }
}

/// The longest file name, in characters (well inside an object key's bound).
const MAX_NAME_CHARS: usize = 200;

pub(crate) fn file_key(invoice: Uuid, name: &str) -> Result<ObjectKey, ApiError> {
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::field(
            "name",
            format!("must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    let invoice = invoice.to_string();
    ObjectKey::join(["invoices", invoice.as_str(), name]).map_err(|e| ApiError::BadRequest {
        field: Some("name".into()),
        message: e.to_string(),
    })
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound(_) => ApiError::NotFound,
            StorageError::InvalidKey { .. } => ApiError::BadRequest {
                field: Some("name".into()),
                message: e.to_string(),
            },
            StorageError::QuotaExceeded { quota, used, .. } => ApiError::Conflict(format!(
                "the tenant's storage quota of {} MiB has no room for this file ({} MiB used); delete files first",
                quota / (1024 * 1024),
                used.div_ceil(1024 * 1024)
            )),
            StorageError::Backend {
                message: detail, ..
            } => ApiError::FeatureUnavailable {
                what: "file storage",
                detail,
            },
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// 404 unless the invoice is the tenant's.
async fn require_invoice(app: &AppState, id: Uuid) -> Result<(), ApiError> {
    invoices::get(&app.services.db, id)
        .await?
        .map(drop)
        .ok_or(ApiError::NotFound)
}

/// A signed URL as clients use it: the local backend's paths get the
/// tenant's `/t/<slug>` prefix, so they resolve whatever host they are
/// sent to; S3's are absolute.
async fn url_for(app: &AppState, access: Access, key: &ObjectKey) -> Result<String, ApiError> {
    local_in_tenant_space(
        app.services
            .storage
            .signed_url(access, key, URL_TTL)
            .await?,
    )
}

fn local_in_tenant_space(url: String) -> Result<String, ApiError> {
    if url.starts_with('/') {
        let ctx = context::require().map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(format!("/t/{}{url}", ctx.slug()))
    } else {
        Ok(url)
    }
}

async fn describe(app: &AppState, object: ObjectInfo) -> Result<Attachment, ApiError> {
    Ok(Attachment {
        name: object.key.file_name().to_owned(),
        size: object.size,
        download_url: url_for(app, Access::Read, &object.key).await?,
    })
}

/// List an invoice's files.
#[utoipa::path(get, path = "/api/invoices/{id}/attachments", tag = "attachments",
    params(("id" = uuid::Uuid, Path, description = "Invoice id")),
    responses((status = 200, description = "the invoice's files", body = AttachmentList), (status = 404, description = "no such invoice for this tenant")))]
pub(crate) async fn list(
    State(app): State<AppState>,
    Id(id): Id,
) -> Result<Json<AttachmentList>, ApiError> {
    require_invoice(&app, id).await?;
    let prefix = ObjectKey::join(["invoices", id.to_string().as_str()])?;
    let mut attachments = Vec::new();
    for object in app.services.storage.list(Some(&prefix)).await? {
        attachments.push(describe(&app, object).await?);
    }
    Ok(Json(AttachmentList { attachments }))
}

/// Store a file on an invoice (the raw request body, at most 10 MiB).
#[utoipa::path(put, path = "/api/invoices/{id}/attachments/{name}", tag = "attachments",
    params(("id" = uuid::Uuid, Path, description = "Invoice id"), ("name" = String, Path, description = "File name: 1 to 200 characters; not `.` or `..`; no `/`, backslash, control character or any of `< > : \" | ? *`", example = "receipt.txt", pattern = r#"^([^./\\<>:"|?*\x00-\x1f\x7f-\x9f]|[^/\\<>:"|?*\x00-\x1f\x7f-\x9f][^./\\<>:"|?*\x00-\x1f\x7f-\x9f]|[^./\\<>:"|?*\x00-\x1f\x7f-\x9f][^/\\<>:"|?*\x00-\x1f\x7f-\x9f]|[^/\\<>:"|?*\x00-\x1f\x7f-\x9f]{3,200})$"#)),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, description = "the file, stored", body = Attachment), (status = 400, description = "bad file name, or an empty file"), (status = 404, description = "no such invoice for this tenant"), (status = 409, description = "the invoice holds 20 files already, or the tenant's storage quota has no room"), (status = 413, description = "over 10 MiB")))]
pub(crate) async fn put(
    State(app): State<AppState>,
    file: InvoiceFile,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<(StatusCode, Json<Attachment>), ApiError> {
    // Another tenant's invoice is a 404 whatever the body is.
    require_invoice(&app, file.invoice).await?;
    let body = body?;
    if body.is_empty() {
        return Err(ApiError::BadRequest {
            field: None,
            message: "the file is empty".into(),
        });
    }
    room_for(&app, file.invoice, &file.key).await?;
    let stored = app.services.storage.put(&file.key, body).await?;
    Ok((StatusCode::CREATED, Json(describe(&app, stored).await?)))
}

/// One file's size and a download URL.
#[utoipa::path(get, path = "/api/invoices/{id}/attachments/{name}", tag = "attachments",
    params(("id" = uuid::Uuid, Path, description = "Invoice id"), ("name" = String, Path, description = "File name: 1 to 200 characters; not `.` or `..`; no `/`, backslash, control character or any of `< > : \" | ? *`", example = "receipt.txt", pattern = r#"^([^./\\<>:"|?*\x00-\x1f\x7f-\x9f]|[^/\\<>:"|?*\x00-\x1f\x7f-\x9f][^./\\<>:"|?*\x00-\x1f\x7f-\x9f]|[^./\\<>:"|?*\x00-\x1f\x7f-\x9f][^/\\<>:"|?*\x00-\x1f\x7f-\x9f]|[^/\\<>:"|?*\x00-\x1f\x7f-\x9f]{3,200})$"#)),
    responses((status = 200, description = "the file's metadata", body = Attachment), (status = 400, description = "bad file name"), (status = 404, description = "no such invoice or file for this tenant")))]
pub(crate) async fn get(
    State(app): State<AppState>,
    file: InvoiceFile,
) -> Result<Json<Attachment>, ApiError> {
    require_invoice(&app, file.invoice).await?;
    let object = app.services.storage.head(&file.key).await?;
    Ok(Json(describe(&app, object).await?))
}

/// Delete a file.
#[utoipa::path(delete, path = "/api/invoices/{id}/attachments/{name}", tag = "attachments",
    params(("id" = uuid::Uuid, Path, description = "Invoice id"), ("name" = String, Path, description = "File name: 1 to 200 characters; not `.` or `..`; no `/`, backslash, control character or any of `< > : \" | ? *`", example = "receipt.txt", pattern = r#"^([^./\\<>:"|?*\x00-\x1f\x7f-\x9f]|[^/\\<>:"|?*\x00-\x1f\x7f-\x9f][^./\\<>:"|?*\x00-\x1f\x7f-\x9f]|[^./\\<>:"|?*\x00-\x1f\x7f-\x9f][^/\\<>:"|?*\x00-\x1f\x7f-\x9f]|[^/\\<>:"|?*\x00-\x1f\x7f-\x9f]{3,200})$"#)),
    responses((status = 204, description = "deleted"), (status = 400, description = "bad file name"), (status = 404, description = "no such invoice or file for this tenant")))]
pub(crate) async fn delete(
    State(app): State<AppState>,
    file: InvoiceFile,
) -> Result<StatusCode, ApiError> {
    require_invoice(&app, file.invoice).await?;
    app.services.storage.head(&file.key).await?;
    app.services.storage.delete(&file.key).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A URL to upload a file of a given size directly (to S3, or to this
/// server): the URL accepts a body of exactly that size.
#[utoipa::path(post, path = "/api/invoices/{id}/attachments/{name}/upload-url", tag = "attachments",
    request_body = UploadRequest,
    params(("id" = uuid::Uuid, Path, description = "Invoice id"), ("name" = String, Path, description = "File name: 1 to 200 characters; not `.` or `..`; no `/`, backslash, control character or any of `< > : \" | ? *`", example = "receipt.txt", pattern = r#"^([^./\\<>:"|?*\x00-\x1f\x7f-\x9f]|[^/\\<>:"|?*\x00-\x1f\x7f-\x9f][^./\\<>:"|?*\x00-\x1f\x7f-\x9f]|[^./\\<>:"|?*\x00-\x1f\x7f-\x9f][^/\\<>:"|?*\x00-\x1f\x7f-\x9f]|[^/\\<>:"|?*\x00-\x1f\x7f-\x9f]{3,200})$"#)),
    responses((status = 200, description = "a signed URL to upload the file to", body = UploadUrl), (status = 400, description = "bad file name or size"), (status = 404, description = "no such invoice for this tenant"), (status = 409, description = "the invoice holds 20 files already, or the tenant's storage quota has no room")))]
pub(crate) async fn upload_url(
    State(app): State<AppState>,
    file: InvoiceFile,
    request: Result<Body<UploadRequest>, ApiError>,
) -> Result<Json<UploadUrl>, ApiError> {
    // Another tenant's invoice is a 404 whatever the body says.
    require_invoice(&app, file.invoice).await?;
    let Body(request) = request?;
    if !(1..=MAX_ATTACHMENT_BYTES as u64).contains(&request.size) {
        return Err(ApiError::field(
            "size",
            format!("must be between 1 and {MAX_ATTACHMENT_BYTES}"),
        ));
    }
    room_for(&app, file.invoice, &file.key).await?;
    let url = app
        .services
        .storage
        .upload_url(&file.key, request.size, URL_TTL)
        .await?;
    Ok(Json(UploadUrl {
        url: local_in_tenant_space(url)?,
        method: "PUT",
    }))
}

/// `GET /files/…`: a download through a URL the local backend signed.
///
/// The edge admitted the request on its signature; it is checked again
/// here so that a bearer token alone never reads raw objects.
pub(crate) async fn serve_signed(State(app): State<AppState>, uri: Uri) -> Response {
    match signed_key(&app, "GET", &uri) {
        Ok(signed) => match app.services.storage.get(&signed.key).await {
            // A tenant's file is never run as a page in our origin: the
            // browser must not sniff a type, and saves it rather than shows it.
            Ok(bytes) => (
                [
                    (axum::http::header::CONTENT_TYPE, "application/octet-stream"),
                    (axum::http::header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                    (axum::http::header::CONTENT_DISPOSITION, "attachment"),
                ],
                bytes,
            )
                .into_response(),
            Err(e) => ApiError::from(e).into_response(),
        },
        Err(e) => e.into_response(),
    }
}

/// `PUT /files/…`: an upload through a URL the local backend signed, of
/// exactly the size it was signed for.
pub(crate) async fn accept_signed(State(app): State<AppState>, uri: Uri, body: Bytes) -> Response {
    let signed = match signed_key(&app, "PUT", &uri) {
        Ok(signed) => signed,
        Err(e) => return e.into_response(),
    };
    if let Some(size) = signed.size
        && body.len() as u64 != size
    {
        return ApiError::BadRequest {
            field: None,
            message: format!(
                "this URL accepts a body of {size} bytes; {} were sent",
                body.len()
            ),
        }
        .into_response();
    }
    match app.services.storage.put(&signed.key, body).await {
        Ok(_) => StatusCode::OK.into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

fn signed_key(app: &AppState, method: &str, uri: &Uri) -> Result<SignedObject, ApiError> {
    let ctx = context::require().map_err(|e| ApiError::Internal(e.to_string()))?;
    app.services
        .storage
        .verify_signed(method, ctx.tenant_id(), uri.path(), uri.query())
        .map_err(|_| ApiError::Forbidden("this URL is not signed for this tenant and method"))
}
