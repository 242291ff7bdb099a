//! `GET /metrics` (admin key) and the layer that measures and traces every
//! request ([`observe`]). What the metrics are: [`crate::telemetry::metrics`].
//!
//! `/metrics` shows which routes are used and how often, the adapters
//! loaded and how their systems answer, and how busy the host is; never a
//! request's path, id, token or body. It is served on the API's listener
//! with the admin key, and, with `--metrics-listen`, without a key on a
//! listener of its own ([`router`]), which must stay on a private network.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tracing::Instrument;

use super::AppState;
use super::auth::Admin;
use crate::telemetry::Metrics;
use crate::telemetry::trace::{self, SPANS};
use crate::webhooks::Webhooks;

/// The content type of the OpenMetrics text format.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `GET /metrics` with the admin key: the host's Prometheus metrics, in
/// the OpenMetrics text format.
#[utoipa::path(get, path = "/metrics", tag = "health", security(("admin_key" = [])),
    responses(
        (status = 200, body = String, content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"),
        (status = "4XX", body = super::error::ErrorBody)))]
pub async fn scrape(_: Admin, State(state): State<AppState>) -> Response {
    answer(&state.metrics, &state.webhooks).await
}

/// A router of `GET /metrics` alone, without a key: for
/// `--metrics-listen`, a listener on a private network.
pub fn router(metrics: Arc<Metrics>, webhooks: Arc<Webhooks>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || async move { answer(&metrics, &webhooks).await }),
    )
}

/// The metrics, with the webhook deliveries pending counted now (one count
/// on an index; the gauge keeps its last value when the database fails).
async fn answer(metrics: &Metrics, webhooks: &Webhooks) -> Response {
    match webhooks.pending().await {
        Ok(pending) => metrics.set_pending_deliveries(pending),
        Err(e) => tracing::warn!(error = %e, "/metrics could not count pending webhook deliveries"),
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, OPENMETRICS)],
        metrics.encode(),
    )
        .into_response()
}

/// Counts and times every request by its route's template and status, in
/// a server span (the parent of the call's spans) whose parent is the
/// client's `traceparent`, when traces are exported.
pub async fn observe(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let template = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let span = tracing::info_span!(
        target: SPANS,
        "request",
        otel.name = format!("{method} {template}"),
        otel.kind = "server",
        http.request.method = %method,
        http.route = template,
        http.response.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    trace::adopt_parent(&span, request.headers());
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    metrics.request(&method, route, status.as_u16(), started.elapsed());
    response
}
