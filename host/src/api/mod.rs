//! The HTTP API. Handlers are thin: they extract, call the domain, and map
//! errors to [`ApiError`]; all state lives in [`AppState`].
//!
//! - admin plane (admin key): `/v1/adapters` uploads, `/v1/connections` (and their
//!   tokens), `/v1/credits`,
//!   `/v1/connect-sessions`, `/v1/certificates/platform`, `/v1/failed-requests`,
//!   `/metrics` ([`metrics`]);
//! - data plane (connection token): `/v1/{entity}`, `/v1/passthrough/{path}`; syncs (`/v1/syncs/{entity}`,
//!   `/v1/sync-status`, `/v1/synced/{entity}`) and webhooks (`/v1/webhooks`);
//! - `/healthz`, `/openapi.json`;
//! - HTML pages ([`pages`]): the dashboard and the customer's connect page.
//!
//! [`edge`] serves them: the connections, within their timeouts and cap.

mod adapters;
mod audit;
pub mod auth;
mod certificates;
mod connect_sessions;
mod connections;
pub mod data;
pub mod edge;
pub mod error;
pub mod failed_requests;
mod json;
mod mappings;
pub mod meta;
pub mod metrics;
pub mod openapi;
pub mod pages;
mod passthrough;
mod prefer;
pub mod request_id;
pub mod syncs;
pub mod token;
mod tokens;
mod webhooks;
pub mod writes;

pub use request_id::ACCESS_LOG;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use tower_http::limit::RequestBodyLimitLayer;
use utoipa::OpenApi;

use crate::code::Code;
use error::ApiError;

/// The largest adapter upload.
pub const MAX_UPLOAD_BYTES: usize = 64 << 20;
/// The largest JSON body.
pub const MAX_JSON_BYTES: usize = 2 << 20;

/// Everything handlers share. axum clones the state for every handler and
/// extractor that takes it, so it is one `Arc`: a request pays one
/// reference count, not one per service.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl From<Shared> for AppState {
    fn from(shared: Shared) -> Self {
        AppState(Arc::new(shared))
    }
}

impl AppState {
    /// Sets where customers reach this host to `url()`, unless the
    /// operator said (`--public-url`). Call it before the state is shared
    /// (before a router is made of it): a shared state is copied, and the
    /// copies already handed out keep the URL they had.
    pub fn default_public_url(&mut self, url: impl FnOnce() -> String) {
        if self.public_url.is_empty() {
            Arc::make_mut(&mut self.0).public_url = url();
        }
    }
}

/// What an [`AppState`] holds.
#[derive(Clone)]
pub struct Shared {
    /// The one path to adapters, which every call takes.
    pub dataplane: Arc<crate::dataplane::DataPlane>,
    /// Connections and their tokens.
    pub connections: Arc<crate::connections::Connections>,
    /// The loaded adapters.
    pub registry: Arc<crate::registry::Registry>,
    /// Operators' dashboard sessions.
    pub dashboard_sessions: Arc<pages::DashboardSessions>,
    pub admin_key_hash: [u8; 32],
    /// The host's platform certificate, when it has one.
    pub platform_certificate: Option<Arc<crate::certificates::PlatformCertificate>>,
    pub syncs: Arc<crate::sync::Syncs>,
    pub webhooks: Arc<crate::webhooks::Webhooks>,
    /// Where customers reach this host (`--public-url`): connect links
    /// start with it.
    pub public_url: String,
    /// The log of failed requests.
    pub failed_requests: Arc<failed_requests::FailedRequests>,
    /// The rate limit of each connection token
    /// (`--api-requests-per-minute`), or none.
    pub api_rate: Option<Arc<crate::connections::TokenRate>>,
    /// Failed dashboard sign-ins, by client address.
    pub sign_in_attempts: Arc<crate::rate_limit::Buckets>,
    /// The audit trail: where actions are recorded, and read from.
    pub audit: Arc<crate::audit::Audit>,
    /// What `/metrics` shows.
    pub metrics: Arc<crate::telemetry::Metrics>,
    /// The operator's brand on the customer's pages.
    pub brand: Arc<pages::Brand>,
}

/// The services an [`AppState`] serves from.
pub struct AppServices {
    pub dataplane: Arc<crate::dataplane::DataPlane>,
    pub connections: Arc<crate::connections::Connections>,
    pub registry: Arc<crate::registry::Registry>,
    pub syncs: Arc<crate::sync::Syncs>,
    pub webhooks: Arc<crate::webhooks::Webhooks>,
    pub audit: Arc<crate::audit::Audit>,
}

impl Shared {
    /// The state of an API over `services`, keeping failed requests and
    /// dashboard sessions in `store`, for operators who hold `admin_key`.
    pub fn new(
        services: AppServices,
        store: Arc<dyn crate::storage::Store>,
        admin_key: &str,
    ) -> Self {
        let AppServices {
            dataplane,
            connections,
            registry,
            syncs,
            webhooks,
            audit,
        } = services;
        Shared {
            failed_requests: failed_requests::FailedRequests::start(store.clone()),
            dashboard_sessions: Arc::new(pages::DashboardSessions::new(store)),
            dataplane,
            connections,
            registry,
            syncs,
            webhooks,
            admin_key_hash: auth::key_hash(admin_key),
            platform_certificate: None,
            public_url: String::new(),
            api_rate: None,
            sign_in_attempts: Default::default(),
            audit,
            metrics: Arc::default(),
            brand: Arc::default(),
        }
    }

    /// `path` as a link for someone outside: under `--public-url`.
    pub fn public_url(&self, path: &str) -> String {
        format!("{}{path}", self.public_url.trim_end_matches('/'))
    }
}

/// The whole API.
///
/// Body sizes are checked twice: on `Content-Length`, before any of the
/// body is read (so a client is refused before it sends megabytes), and while
/// reading, for bodies without one.
pub fn router(state: AppState) -> Router {
    let uploads = Router::new()
        .route(
            "/v1/adapters/{id}",
            get(adapters::get).put(adapters::upload),
        )
        .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES))
        .layer(RequestBodyLimitLayer::new(MAX_UPLOAD_BYTES));
    let json = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics::scrape))
        .route(
            "/openapi.json",
            get(|| async { Json(openapi::ApiDoc::openapi()) }),
        )
        .route("/v1/adapters", get(adapters::list))
        .route(
            "/v1/connections",
            post(connections::create).get(connections::list),
        )
        .route("/v1/connections/{id}", get(connections::get))
        .route(
            "/v1/connections/{id}/disconnect",
            post(connections::disconnect),
        )
        .route(
            "/v1/connections/{id}/tokens",
            post(tokens::create).get(tokens::list),
        )
        .route(
            "/v1/connections/{id}/tokens/{token_id}",
            axum::routing::delete(tokens::revoke),
        )
        .route(
            "/v1/connections/{id}/data",
            axum::routing::delete(connections::delete_data),
        )
        .route("/v1/credits", get(connections::credits))
        .route("/v1/failed-requests", get(failed_requests::list))
        .route("/v1/audit", get(audit::list))
        .route("/v1/audit/export", get(audit::export))
        .route(
            "/v1/connections/{id}/audit",
            axum::routing::put(audit::settings),
        )
        .route(
            "/v1/connections/{id}/mappings",
            get(mappings::get).put(mappings::set),
        )
        .route("/v1/connections/{id}/refresh", post(mappings::refresh))
        .route("/v1/connect-sessions", post(connect_sessions::create))
        .route("/v1/connect-sessions/{id}", get(connect_sessions::get))
        .route(
            "/v1/connect-sessions/{id}/token",
            post(connect_sessions::claim_token),
        )
        .route("/v1/certificates/platform", get(certificates::platform))
        .route(
            "/v1/syncs/{entity}",
            axum::routing::put(syncs::put).delete(syncs::delete),
        )
        .route("/v1/syncs/{entity}/run", post(syncs::run))
        .route("/v1/sync-status", get(syncs::status))
        .route("/v1/connections/{id}/sync-status", get(syncs::admin_status))
        .route("/v1/synced/{entity}", get(syncs::synced))
        .route("/v1/webhooks", post(webhooks::create).get(webhooks::list))
        .route("/v1/webhooks/{id}", axum::routing::delete(webhooks::delete))
        .route("/v1/webhooks/{id}/deliveries", get(webhooks::deliveries))
        .route(
            "/v1/webhooks/{id}/deliveries/{delivery_id}/replay",
            post(webhooks::replay),
        )
        .route(
            "/v1/webhooks/{id}/rotate-secret",
            post(webhooks::rotate_secret),
        )
        .route(
            "/v1/passthrough/{*path}",
            axum::routing::any(passthrough::forward),
        )
        .route("/v1/{entity}", get(data::list).post(writes::create))
        .route("/v1/{entity}/meta", get(meta::get))
        .route(
            "/v1/{entity}/{id}",
            get(data::get).patch(writes::update).delete(writes::delete),
        )
        .fallback(|| async { ApiError::for_status(StatusCode::NOT_FOUND) })
        .layer(DefaultBodyLimit::max(MAX_JSON_BYTES))
        .layer(RequestBodyLimitLayer::new(MAX_JSON_BYTES));
    uploads
        .merge(json)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            request_id::middleware,
        ))
        .with_state(state)
}

/// Whether the host is ready: 200 `ok` once the adapters folder has been
/// loaded, and how many adapters are loaded; before that, 503 `starting`.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, body = Health), (status = 503, body = error::ErrorBody)))]
async fn healthz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    let registry = &state.registry;
    let adapters = registry.loaded().len();
    if !registry.ready() {
        return Err(
            ApiError::new(Code::Starting, "the host is loading its adapters")
                .with_details(serde_json::json!({"adapters": adapters})),
        );
    }
    Ok(Json(Health {
        status: "ok",
        adapters,
    }))
}

/// `GET /healthz`
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`
    pub status: &'static str,
    /// Adapters loaded.
    pub adapters: usize,
}
