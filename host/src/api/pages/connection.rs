//! What the pages of one connection share: finding it, and the page that
//! asks to confirm an action on it.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::layout::{self, Section, connection_path, page};
use super::session::{Operator, internal};
use crate::api::AppState;
use crate::storage::Connection;

/// The page for a connection id that names none.
pub(super) fn not_found(id: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        layout::message(
            "No such connection",
            &format!("There is no connection `{id}`."),
        ),
    )
        .into_response()
}

/// The stored connection `id`, or the page that says why there is none.
pub(super) async fn find(state: &AppState, id: &str) -> Result<Connection, Response> {
    match state.connections.get(id).await {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err(not_found(id)),
        Err(e) => Err(internal(&e)),
    }
}

/// A confirmation page for an action on stored connection `c`: `what` says
/// what will happen, and its button posts to `action`, the segments after
/// the connection's path (each one a fixed name or a stored id).
pub(super) fn confirm(
    operator: &Operator,
    c: &Connection,
    (action, title): (&[&str], &str),
    what: Markup,
) -> Response {
    page(
        title,
        Section::Connections,
        Some(&operator.csrf),
        html! {
            div.card.medium {
                h1 { (title) }
                (what)
                form method="post" action=(connection_path(c, action)) {
                    input type="hidden" name="csrf" value=(operator.csrf);
                    button.danger type="submit" { (title) }
                    " "
                    a href=(connection_path(c, &[])) { "Cancel" }
                }
            }
        },
    )
    .into_response()
}
