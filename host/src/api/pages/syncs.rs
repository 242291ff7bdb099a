//! The dashboard's syncs: every schedule with its latest runs (records
//! added, updated and deleted, duration, errors) and a small chart of them,
//! and a **Run now** button.

use std::time::Duration;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::connection::find;
use super::layout::{
    self, Connections, Section, badge, count, page, status_badge, took, when, with_query,
};
use super::session::{Operator, internal};
use crate::api::AppState;
use crate::connections::Status;
use crate::storage::syncs::{Run, RunKind, RunStatus, Schedule, Trigger};
use crate::sync::SyncError;

/// Runs per schedule in the chart.
const CHART_RUNS: u32 = 20;
/// Runs in the table below.
const TABLE_RUNS: usize = 50;

#[derive(Deserialize)]
pub struct SyncsQuery {
    connection: Option<String>,
    /// A run just started from this page.
    started: Option<String>,
}

fn run_badge(status: RunStatus) -> Markup {
    match status {
        RunStatus::Running => badge("warn", "Running"),
        RunStatus::Succeeded => badge("ok", "Succeeded"),
        RunStatus::Failed => badge("bad", "Failed"),
        RunStatus::Cancelled => badge("off", "Cancelled"),
    }
}

fn duration(run: &Run) -> Option<Duration> {
    let finished = run.finished_at?;
    Some(finished.duration_since(run.started_at).unwrap_or_default())
}

fn changed(run: &Run) -> u64 {
    run.counts.added + run.counts.updated + run.counts.deleted
}

/// A bar per run, oldest left: its height the records it changed, its
/// colour its outcome (a failed run is a full red bar).
fn chart(runs: &[&Run]) -> Markup {
    const BAR: usize = 7;
    const HEIGHT: u64 = 32;
    let most = runs.iter().map(|r| changed(r)).max().unwrap_or(0).max(1);
    let failed = runs
        .iter()
        .filter(|r| r.status == RunStatus::Failed)
        .count();
    let label = format!(
        "The last {} runs: {} failed; the most records one changed: {most}",
        runs.len(),
        failed
    );
    html! {
        svg.chart role="img" aria-label=(label) width=(CHART_RUNS as usize * BAR) height=(HEIGHT)
            viewBox=(format!("0 0 {} {HEIGHT}", CHART_RUNS as usize * BAR)) {
            @for (i, run) in runs.iter().rev().enumerate() {
                @let (tone, height) = match run.status {
                    RunStatus::Failed => ("bad", HEIGHT),
                    RunStatus::Succeeded => ("ok", (changed(run) * (HEIGHT - 2) / most).max(2)),
                    _ => ("off", 2),
                };
                rect class=(tone) x=(i * BAR) y=(HEIGHT - height) width=(BAR - 2) height=(height) {
                    title {
                        (when(run.started_at)) ": " (run.status.as_str()) ", "
                        (run.counts.added) " added, " (run.counts.updated) " updated, "
                        (run.counts.deleted) " deleted"
                    }
                }
            }
        }
    }
}

/// Every schedule (of one connection, with `?connection=`) and the latest
/// runs.
pub async fn list(
    operator: Operator,
    State(state): State<AppState>,
    Query(query): Query<SyncsQuery>,
) -> Response {
    let only = query.connection.as_deref().filter(|c| !c.is_empty());
    let ((schedules, runs), connections) = match tokio::try_join!(
        state.syncs.overview(only, CHART_RUNS),
        state.connections.list(),
    ) {
        Ok(found) => found,
        Err(e) => return internal(&e),
    };
    let schedules: Vec<Schedule> = schedules
        .into_iter()
        .filter(|s| only.is_none_or(|c| s.connection_id == c))
        .collect();
    let connections = Connections::new(&connections);
    let name = |id: &str| connections.name(id).to_string();
    let runs_of = |s: &Schedule| -> Vec<&Run> {
        runs.iter()
            .filter(|r| r.connection_id == s.connection_id && r.entity == s.entity)
            .collect()
    };
    let title = match only {
        Some(id) => format!("Syncs of {}", name(id)),
        None => "Syncs".to_string(),
    };
    page(
        &title,
        Section::Syncs,
        Some(&operator.csrf),
        html! {
            h1 { (title) }
            @if only.is_some() { p.small { a href="/dashboard/syncs" { "All connections" } } }
            @if let Some(run) = &query.started {
                p.notice.ok role="status" { "Run " code { (run) } " started; reload to follow it." }
            }
            @if schedules.is_empty() {
                p.card { "No sync schedules. A connection schedules a sync with "
                    code { "PUT /v1/syncs/{entity}" } " and its token." }
            } @else {
                table {
                    thead { tr {
                        th { "Connection" } th { "Entity" } th { "Every" } th { "Next run" }
                        th { "Last run" } th { "Last " (CHART_RUNS) " runs" } th { span.muted { "Action" } }
                    } }
                    tbody {
                        @for s in &schedules {
                            @let last = runs_of(s);
                            @let connection = connections.get(&s.connection_id);
                            tr {
                                td {
                                    a href=(with_query("/dashboard/syncs", &[("connection", &s.connection_id)])) { (name(&s.connection_id)) }
                                    @if let Some(c) = connection { @if c.status != Status::Active { " " (status_badge(c.status)) } }
                                }
                                td { (s.entity) }
                                td { (took(s.interval)) }
                                td.small { (when(s.next_run_at)) }
                                td {
                                    @if let Some(run) = last.first() {
                                        (run_badge(run.status))
                                        div.small.muted { (when(run.started_at)) }
                                    } @else { span.muted { "none yet" } }
                                }
                                td { (chart(&last)) }
                                td {
                                    @if connection.is_some_and(|c| c.status == Status::Active) {
                                        form method="post" action="/dashboard/syncs/run" {
                                            input type="hidden" name="csrf" value=(operator.csrf);
                                            input type="hidden" name="connection" value=(s.connection_id);
                                            input type="hidden" name="entity" value=(s.entity);
                                            button.secondary.flush type="submit"
                                                aria-label=(format!("Run now: {} of {}", s.entity, name(&s.connection_id))) { "Run now" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                h2 { "Recent runs" }
                (runs_table(&runs, only.is_none().then_some(&name)))
            }
        },
    )
    .into_response()
}

/// The latest runs; with `name`, each with its connection's name.
fn runs_table(runs: &[Run], name: Option<&dyn Fn(&str) -> String>) -> Markup {
    html! {
        table {
            thead { tr {
                th { "Started" } @if name.is_some() { th { "Connection" } } th { "Entity" } th { "Run" }
                th { "Status" } th { "Records" } th { "Took" } th { "Error" }
            } }
            tbody {
                @for run in runs.iter().take(TABLE_RUNS) {
                    tr {
                        td.small { (when(run.started_at)) }
                        @if let Some(name) = name { td { (name(&run.connection_id)) } }
                        td { (run.entity) }
                        td.small {
                            (match run.kind { RunKind::Full => "full", RunKind::Incremental => "incremental" })
                            ", " (match run.trigger { Trigger::Schedule => "scheduled", Trigger::Manual => "manual" })
                            div.muted { code { (run.id) } }
                        }
                        td { (run_badge(run.status)) }
                        td.small {
                            (count(run.counts.added)) " added" br;
                            (count(run.counts.updated)) " updated" br;
                            (count(run.counts.deleted)) " deleted"
                        }
                        td.small { @if let Some(d) = duration(run) { (took(d)) } }
                        td.small {
                            @if let Some(e) = &run.error {
                                code { (e.code) } " " (e.message)
                                div.muted { "request " code { (run.request_id) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct RunNowForm {
    #[serde(default)]
    csrf: String,
    connection: String,
    entity: String,
}

/// Starts a run of a schedule now, then shows it on the syncs page.
pub async fn run_now(
    operator: Operator,
    State(state): State<AppState>,
    Form(form): Form<RunNowForm>,
) -> Response {
    if let Err(refused) = operator.check(&form.csrf) {
        return refused.into_response();
    }
    let connection = match find(&state, &form.connection).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    let refused = |status, text: &str| {
        (status, layout::message("The run did not start", text)).into_response()
    };
    if connection.status != Status::Active {
        return refused(
            StatusCode::CONFLICT,
            "The connection is not active: its syncs do not run.",
        );
    }
    let request_id = uuid::Uuid::now_v7().to_string();
    match state
        .syncs
        .trigger(&connection, &form.entity, false, &request_id)
        .await
    {
        Ok(run) => Redirect::to(&with_query(
            "/dashboard/syncs",
            &[("connection", &connection.id), ("started", &run.id)],
        ))
        .into_response(),
        Err(SyncError::Storage(e)) => internal(&e),
        Err(e @ SyncError::AlreadyRunning(_)) => refused(StatusCode::CONFLICT, &e.to_string()),
        Err(e) => refused(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::storage::syncs::Counts;

    fn run(status: RunStatus, added: u64) -> Run {
        Run {
            status,
            counts: Counts {
                added,
                ..Counts::default()
            },
            started_at: SystemTime::UNIX_EPOCH,
            ..Run::sample("r", RunKind::Incremental)
        }
    }

    #[test]
    fn the_chart_has_a_bar_per_run_scaled_to_the_busiest_with_failures_full_height() {
        let runs = [
            run(RunStatus::Failed, 0),
            run(RunStatus::Succeeded, 10),
            run(RunStatus::Succeeded, 5),
        ];
        let refs: Vec<&Run> = runs.iter().collect();
        let svg = chart(&refs).into_string();
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(
            svg.contains(
                r#"aria-label="The last 3 runs: 1 failed; the most records one changed: 10""#
            ),
            "{svg}"
        );
        // Newest (the failure) is drawn last, at full height.
        let bars: Vec<&str> = svg.split("<rect").skip(1).collect();
        assert!(
            bars[0].contains(r#"class="ok" x="0" y="17" width="5" height="15""#),
            "{}",
            bars[0]
        );
        assert!(bars[1].contains(r#"height="30""#), "{}", bars[1]);
        assert!(
            bars[2].contains(r#"class="bad" x="14" y="0" width="5" height="32""#),
            "{}",
            bars[2]
        );
    }
}
