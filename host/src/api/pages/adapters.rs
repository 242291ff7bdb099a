//! The dashboard's adapters: the loaded versions, each manifest rendered for
//! reading (config, outbound hosts, limits, and per entity its operations
//! with their permissions, fields with their access, child collections and
//! state locks), files that failed to load, and an upload form.

use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Serialize;
use serde_json::json;

use super::layout::{self, Section, page, path};
use super::session::Operator;
use crate::api::AppState;
use crate::manifest::{Entity, Field, FieldSelection, FieldType};
use crate::registry::file_name;

/// A manifest value's name as the API spells it (`read_only`, `create`).
fn spelled<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Every loaded adapter and every file that failed to load.
pub async fn list(operator: Operator, State(state): State<AppState>) -> Response {
    let loaded = state.registry.loaded();
    let errors = state.registry.load_errors();
    page(
        "Adapters",
        Section::Adapters,
        Some(&operator.csrf),
        html! {
            h1 { "Adapters" }
            table {
                thead { tr { th { "Adapter" } th { "Version" } th { "Entities" } th { "File" } th { "Loaded" } } }
                tbody {
                    @for l in &loaded {
                        @let m = l.adapter.manifest();
                        tr {
                            td { a href=(path(&["dashboard", "adapters", &m.id])) { (m.name) } div.small.muted { code { (m.id) } } }
                            td { (m.version) div.small.muted { "contract " (m.contract_version) } }
                            td.small { @for e in &m.entities { (e.name) " " } }
                            td.small { code { (file_name(&l.path)) } div.muted { "sha256 " (&l.adapter.sha256()[..12]) } }
                            td.small { (humantime::format_rfc3339_seconds(l.loaded_at)) }
                        }
                    }
                }
            }
            @if !errors.is_empty() {
                h2 { "Files that did not load" }
                table {
                    thead { tr { th { "File" } th { "Why" } th { "Still serving" } } }
                    tbody {
                        @for f in &errors {
                            tr {
                                td { code { (f.file) } }
                                td.small { (f.error.as_deref().unwrap_or_default()) }
                                td { (f.adapter.as_deref().unwrap_or("nothing")) }
                            }
                        }
                    }
                }
            }
            h2 { "Upload an adapter" }
            form.card method="post" action="/dashboard/adapters" enctype="multipart/form-data" {
                input type="hidden" name="csrf" value=(operator.csrf);
                label for="component" { "Component (.wasm)"
                    span.hint { "A new adapter, or a new version of a loaded one: validated and compiled first, then swapped in without failing calls in flight." }
                }
                input #component type="file" name="component" accept=".wasm,application/wasm" required;
                button type="submit" { "Upload" }
            }
        },
    )
    .into_response()
}

/// A field's type in words: `text`, `one of draft, open`.
fn type_of(kind: &FieldType) -> String {
    match kind {
        FieldType::Text => "text".into(),
        FieldType::Integer => "integer".into(),
        FieldType::Decimal => "decimal".into(),
        FieldType::Boolean => "boolean".into(),
        FieldType::Date => "date".into(),
        FieldType::DateTime => "date and time".into(),
        FieldType::Enumeration(values) => format!("one of {}", values.join(", ")),
        FieldType::Object => "object".into(),
    }
}

fn fields_table(fields: &[Field]) -> Markup {
    html! {
        table {
            thead { tr { th { "Field" } th { "Type" } th { "Access" } th { "Required" } th { "Notes" } } }
            tbody {
                @for f in fields {
                    tr {
                        td { code { (f.name) } @if !f.description.is_empty() { div.small.muted { (f.description) } } }
                        td { (type_of(&f.kind)) }
                        td { (spelled(&f.access).replace('_', " ")) }
                        td { @if f.required { "yes" } @else { span.muted { "no" } } }
                        td.small {
                            @if f.custom { "custom field " }
                            @if let Some(r) = &f.references { "references " code { (r) } }
                        }
                    }
                }
            }
        }
    }
}

fn entity_section(e: &Entity) -> Markup {
    html! {
        section.card aria-labelledby=(format!("entity-{}", e.name)) {
            h2 #(format!("entity-{}", e.name)) { (e.name) }
            @if !e.description.is_empty() { p.muted { (e.description) } }
            p { strong { "Operations: " }
                @for op in &e.operations {
                    code { (spelled(&op.operation)) }
                    @if !op.permissions.is_empty() { " (needs " (op.permissions.join(", ")) ")" }
                    " "
                }
            }
            (fields_table(&e.fields))
            @for c in &e.children {
                h2 { (e.name) " → " (c.name) }
                p.small {
                    @if c.create_with_parent { "Created in the same request as the " (e.name) " record. " }
                    @if c.min_count > 0 { "At least " (c.min_count) "." }
                }
                (fields_table(&c.fields))
            }
            @for lock in &e.state_locks {
                p.notice.warn {
                    "When " code { (lock.field) } " is " (lock.values.join(" or ")) ": "
                    @match &lock.locked_fields {
                        FieldSelection::All => "no field can change",
                        FieldSelection::AllExcept(except) => { "only " (except.join(", ")) " can change" },
                        FieldSelection::Only(only) => { (only.join(", ")) " cannot change" },
                    }
                    @if !lock.locked_operations.is_empty() {
                        "; refused: " (lock.locked_operations.iter().map(spelled).collect::<Vec<_>>().join(", "))
                    }
                    ". " (lock.reason)
                }
            }
        }
    }
}

/// One adapter's manifest, for reading.
pub async fn detail(
    operator: Operator,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Response {
    let Some(adapter) = state.registry.get(&id) else {
        return (
            StatusCode::NOT_FOUND,
            layout::message("No such adapter", &format!("No adapter `{id}` is loaded.")),
        )
            .into_response();
    };
    let m = adapter.manifest();
    page(
        &m.name,
        Section::Adapters,
        Some(&operator.csrf),
        html! {
            p.small { a href="/dashboard/adapters" { "← Adapters" } }
            h1 { (m.name) " " span.muted { (m.version) } }
            p { (m.description) }
            div.card {
                dl {
                    dt { "Id" } dd { code { (m.id) } }
                    dt { "Contract" } dd { (m.contract_version) }
                    dt { "Sign-in" } dd { (spelled(&m.auth).replace('_', " ")) }
                    dt { "Reaches" } dd { @for h in &m.outbound_hosts { div { code { (h) } } } }
                    dt { "Limits" } dd {
                        (m.limits.max_concurrent_requests) " requests at once"
                        @if let Some(w) = m.limits.writes_per_minute { ", " (w) " writes a minute" }
                    }
                    dt { "Config" } dd {
                        @for c in &m.config {
                            div { code { (c.name) } " " (spelled(&c.kind).replace('_', " "))
                                @if c.secret { ", secret" } @if c.required { ", required" }
                                @if !c.description.is_empty() { span.muted { " — " (c.description) } }
                            }
                        }
                    }
                }
            }
            @for e in &m.entities { (entity_section(e)) }
        },
    )
    .into_response()
}

/// `POST /dashboard/adapters`: an upload, as `PUT /v1/adapters/{id}` does it
/// (the id is the component's own).
pub async fn upload(
    operator: Operator,
    State(state): State<AppState>,
    mut multipart: Multipart,
) -> Response {
    let failed = |why: String| {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            layout::message("The adapter was not loaded", &why),
        )
            .into_response()
    };
    let mut csrf = String::new();
    let mut component = None;
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_string();
                // The form's token comes first: nothing else is read
                // without it.
                if name != "csrf" && operator.check(&csrf).is_err() {
                    break;
                }
                match (name.as_str(), field.bytes().await) {
                    ("csrf", Ok(bytes)) => csrf = String::from_utf8_lossy(&bytes).into_owned(),
                    ("component", Ok(bytes)) => component = Some(bytes),
                    (_, Ok(_)) => {}
                    (_, Err(e)) => return failed(format!("the upload could not be read: {e}")),
                }
            }
            Ok(None) => break,
            Err(e) => return failed(format!("the upload could not be read: {e}")),
        }
    }
    if let Err(refused) = operator.check(&csrf) {
        return refused.into_response();
    }
    let Some(bytes) = component.filter(|b| !b.is_empty()) else {
        return failed("Choose a .wasm file to upload.".into());
    };
    match state.registry.upload_any(bytes.to_vec()).await {
        Ok(loaded) => {
            let manifest = loaded.adapter.manifest();
            let detail = json!({"adapter": manifest.id, "version": manifest.version, "sha256": loaded.adapter.sha256()});
            state
                .audit
                .admin(&operator.actor(), "adapter.uploaded", None, detail);
            Redirect::to(&path(&[
                "dashboard",
                "adapters",
                &loaded.adapter.manifest().id,
            ]))
            .into_response()
        }
        Err(e) => failed(e.to_string()),
    }
}
