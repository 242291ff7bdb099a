//! `/v1/adapters`: what is loaded, each manifest, and uploads.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::AppState;
use super::auth::Admin;
use super::error::ApiError;
use crate::code::Code;
use crate::manifest::Manifest;
use crate::registry::{FileStatus, Loaded, RegistryError};

/// A loaded adapter, briefly.
#[derive(Serialize, ToSchema)]
pub struct AdapterSummary {
    pub id: String,
    pub name: String,
    pub version: String,
    pub contract_version: String,
    pub description: String,
    pub entities: Vec<String>,
    pub sha256: String,
    /// The file's name in the adapters folder.
    pub file: String,
    #[serde(with = "humantime_serde")]
    #[schema(value_type = String, format = DateTime)]
    pub loaded_at: std::time::SystemTime,
}

impl From<&Loaded> for AdapterSummary {
    fn from(l: &Loaded) -> Self {
        let m = l.adapter.manifest();
        AdapterSummary {
            id: m.id.clone(),
            name: m.name.clone(),
            version: m.version.clone(),
            contract_version: m.contract_version.clone(),
            description: m.description.clone(),
            entities: m.entities.iter().map(|e| e.name.clone()).collect(),
            sha256: l.adapter.sha256().to_string(),
            file: crate::registry::file_name(&l.path),
            loaded_at: l.loaded_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AdapterList {
    pub adapters: Vec<AdapterSummary>,
    /// Files in the adapters folder that did not load, and why.
    pub load_errors: Vec<FileStatus>,
}

/// An adapter with its whole manifest.
#[derive(Serialize, ToSchema)]
pub struct AdapterDetail {
    #[serde(flatten)]
    pub summary: AdapterSummary,
    pub manifest: Manifest,
}

/// The loaded adapters, and files that failed to load.
#[utoipa::path(get, path = "/v1/adapters", tag = "adapters", security(("admin_key" = [])),
    responses((status = 200, body = AdapterList), (status = 401, body = super::error::ErrorBody)))]
pub async fn list(_: Admin, State(state): State<AppState>) -> Json<AdapterList> {
    Json(AdapterList {
        adapters: state
            .registry
            .loaded()
            .iter()
            .map(AdapterSummary::from)
            .collect(),
        load_errors: state.registry.load_errors(),
    })
}

fn find(state: &AppState, id: &str) -> Result<Loaded, ApiError> {
    state
        .registry
        .loaded()
        .into_iter()
        .find(|l| l.adapter.id() == id)
        .ok_or_else(|| {
            ApiError::new(
                Code::AdapterNotFound,
                format!("no adapter `{id}` is loaded"),
            )
        })
}

/// One adapter with its whole manifest.
///
/// # Errors
///
/// `adapter_not_found` when no loaded adapter has this id.
#[utoipa::path(get, path = "/v1/adapters/{id}", tag = "adapters", params(("id" = String, Path)),
    security(("admin_key" = [])),
    responses((status = 200, body = AdapterDetail), (status = 401, body = super::error::ErrorBody),
        (status = 404, body = super::error::ErrorBody)))]
pub async fn get(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<AdapterDetail>, ApiError> {
    let loaded = find(&state, &id)?;
    Ok(Json(AdapterDetail {
        summary: (&loaded).into(),
        manifest: loaded.adapter.manifest().clone(),
    }))
}

/// Upload a new adapter or a new version (the `.wasm` component as the body).
///
/// # Errors
///
/// - `payload_too_large` when the body passes the upload limit,
///   `bad_request` when it cannot be read otherwise (which the client sees
///   as `request_timeout` when the body's deadline passed);
/// - `empty_body` when there is no body;
/// - `invalid_adapter` when the body is not a usable adapter;
/// - `adapter_id_mismatch` when its manifest names another adapter than
///   `id`;
/// - `internal` when it cannot be stored (folder or database).
#[utoipa::path(put, path = "/v1/adapters/{id}", tag = "adapters", params(("id" = String, Path)),
    security(("admin_key" = [])), request_body(content = Vec<u8>, content_type = "application/octet-stream",
        description = "The adapter's .wasm component"),
    responses((status = 200, body = AdapterDetail), (status = "4XX", body = super::error::ErrorBody)))]
pub async fn upload(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<AdapterDetail>, ApiError> {
    // The key is judged before a byte of the body is read (extractors of
    // the request's head run first): an unauthenticated upload is refused
    // without the host ever holding it.
    let body = body.map_err(|r| {
        ApiError::for_status(r.status()).with_details(json!({"reason": r.body_text()}))
    })?;
    if body.is_empty() {
        return Err(ApiError::new(
            Code::EmptyBody,
            "send the adapter's .wasm component as the request body",
        ));
    }
    let loaded = state
        .registry
        .upload(&id, body.to_vec())
        .await
        .map_err(|e| match e {
            RegistryError::Load(e) => ApiError::new(Code::InvalidAdapter, e.to_string()),
            RegistryError::IdMismatch { .. } => {
                ApiError::new(Code::AdapterIdMismatch, e.to_string())
            }
            // An upload replaces the file that serves its adapter, under the
            // registry's load lock: no other file can serve it by then.
            e @ RegistryError::IdTaken { .. } => ApiError::internal(e),
            RegistryError::Io(e) => ApiError::internal(e),
            RegistryError::Storage(e) => ApiError::internal(e),
        })?;
    let summary: AdapterSummary = (&loaded).into();
    state.audit.admin(
        &admin.actor(),
        "adapter.uploaded",
        None,
        json!({"adapter": id, "version": summary.version, "sha256": summary.sha256}),
    );
    Ok(Json(AdapterDetail {
        summary,
        manifest: loaded.adapter.manifest().clone(),
    }))
}
