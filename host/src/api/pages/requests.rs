//! The dashboard's failed requests: the API's latest error answers, found
//! by the request id a customer reports, or by connection.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;

use super::layout::{Connections, Section, connection_path, count, page, took, when};
use super::session::{Operator, internal};
use crate::api::AppState;
use crate::api::failed_requests::KEEP;
use crate::storage::requests::FailedRequestFilter;

/// Requests shown on one page.
const SHOWN: u32 = 100;

#[derive(Deserialize)]
pub struct RequestsQuery {
    request_id: Option<String>,
    connection: Option<String>,
}

/// The latest failed requests, or those with one request id.
pub async fn list(
    operator: Operator,
    State(state): State<AppState>,
    Query(query): Query<RequestsQuery>,
) -> Response {
    let filter = FailedRequestFilter {
        request_id: query
            .request_id
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty()),
        connection_id: query.connection.as_deref().filter(|s| !s.is_empty()),
    };
    let (requests, connections) = match tokio::try_join!(
        state.failed_requests.list(filter, SHOWN),
        state.connections.list()
    ) {
        Ok(found) => found,
        Err(e) => return internal(&e),
    };
    let connections = Connections::new(&connections);
    page(
        "Failed requests",
        Section::Requests,
        Some(&operator.csrf),
        html! {
            h1 { "Failed requests" }
            p.muted { "The API's latest answers with an error (4xx or 5xx), newest first; the newest "
                (count(KEEP.into())) " are kept. Every answer carries its id in " code { "x-request-id" }
                " and in its error body." }
            form.search.card method="get" action="/dashboard/requests" role="search" {
                div {
                    label for="request_id" { "Request id" }
                    input #request_id type="text" name="request_id" value=[filter.request_id]
                        placeholder="0193…" autocomplete="off";
                }
                @if let Some(c) = filter.connection_id { input type="hidden" name="connection" value=(c); }
                button type="submit" { "Find" }
                @if filter.request_id.is_some() || filter.connection_id.is_some() {
                    a href="/dashboard/requests" { "Show all" }
                }
            }
            @if requests.is_empty() {
                p.card role="status" {
                    @if let Some(id) = filter.request_id {
                        "No failed request with id " code { (id) } ". Successful requests are not kept, nor failed ones older than the newest " (count(KEEP.into())) "."
                    } @else { "No failed requests." }
                }
            } @else {
                table {
                    thead { tr { th { "At" } th { "Request" } th { "Status" } th { "Error" } th { "Connection" } th { "Took" } } }
                    tbody {
                        @for r in &requests {
                            tr {
                                td.small { (when(r.at)) }
                                td.small { code { (r.method) " " (r.path) } div.muted { code { (r.request_id) } } }
                                td { strong { (r.status) } }
                                td.small { code { (r.code) } " " (r.message) }
                                td.small {
                                    @if let Some(c) = r.connection_id.as_deref().and_then(|c| connections.get(c)) {
                                        a href=(connection_path(c, &[])) { (c.account_name) }
                                    } @else if let Some(id) = &r.connection_id {
                                        code { (id) }
                                    } @else { span.muted { "none" } }
                                }
                                td.small { (took(std::time::Duration::from_millis(r.duration_ms))) }
                            }
                        }
                    }
                }
            }
        },
    )
    .into_response()
}
