//! The HTTP API. Handlers are thin: they extract, call the domain, and map
//! errors to [`ApiError`]; all state lives in [`AppState`].

mod adapters;
pub mod auth;
pub mod error;
pub mod request_id;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::{Json, Router, middleware};
use serde_json::{Value, json};
use tower_http::trace::TraceLayer;

use crate::registry::Registry;
use error::ApiError;

/// The largest adapter upload.
pub const MAX_UPLOAD_BYTES: usize = 64 << 20;

/// Everything handlers share.
#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    pub admin_key_hash: [u8; 32],
}

impl AppState {
    pub fn new(registry: Arc<Registry>, admin_key: &str) -> Self {
        AppState {
            registry,
            admin_key_hash: auth::key_hash(admin_key),
        }
    }
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/adapters", get(adapters::list))
        .route(
            "/v1/adapters/{id}",
            get(adapters::get)
                .put(adapters::upload)
                .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)),
        )
        .fallback(|| async { ApiError::for_status(axum::http::StatusCode::NOT_FOUND) })
        .layer(TraceLayer::new_for_http())
        .layer(middleware::from_fn(request_id::middleware))
        .with_state(state)
}

async fn healthz(axum::extract::State(state): axum::extract::State<AppState>) -> Json<Value> {
    Json(json!({"status": "ok", "adapters": state.registry.loaded().len()}))
}
