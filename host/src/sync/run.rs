//! One sync run: pages from the adapter into the database, each page
//! committed with the run's cursor.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde::Deserialize;
use serde_json::{Value, json};
use tracing::Instrument;

use super::Syncs;
use crate::dataplane::{Caller, DataError, Wait};
use crate::runtime::{ListRequest, Page};
use crate::storage::StorageError;
use crate::storage::content_hash;
use crate::storage::syncs::{
    Change, Counts, PageCommit, PageRecord, Run, RunError, RunKind, RunStatus,
};

/// How often a long run logs its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// The members of a record a run reads.
#[derive(Deserialize)]
struct Head {
    id: Option<Value>,
    updated_at: Option<String>,
}

enum Stop {
    Done,
    Cancelled,
    Failed(RunError),
}

impl From<StorageError> for Stop {
    fn from(e: StorageError) -> Self {
        DataError::from(e).into()
    }
}

impl From<DataError> for Stop {
    fn from(e: DataError) -> Self {
        Stop::Failed(RunError {
            code: e.code().as_str().into(),
            message: e.to_string(),
        })
    }
}

fn later(a: &str, b: &str) -> bool {
    match (
        humantime::parse_rfc3339_weak(a.trim_end_matches('Z')),
        humantime::parse_rfc3339_weak(b.trim_end_matches('Z')),
    ) {
        (Ok(a), Ok(b)) => a > b,
        _ => a > b,
    }
}

/// Runs `run` to its end, from its cursor (a resumed run continues there).
pub(super) async fn execute(syncs: Arc<Syncs>, mut run: Run) {
    let span = tracing::info_span!("sync", run = %run.id, connection = %run.connection_id, entity = %run.entity, request_id = %run.request_id);
    async move {
        let stop = pages(&syncs, &mut run).await.unwrap_or_else(|stop| stop);
        let now = SystemTime::now();
        let (status, error) = match stop {
            Stop::Done => (RunStatus::Succeeded, None),
            Stop::Cancelled => (RunStatus::Cancelled, None),
            Stop::Failed(e) => (RunStatus::Failed, Some(e)),
        };
        if status == RunStatus::Succeeded && run.kind == RunKind::Full {
            match syncs.store.mark_unseen_deleted(&run, now).await {
                Ok(n) => run.counts.deleted = n,
                Err(e) => tracing::error!(error = %e, "could not mark deleted records"),
            }
        }
        let next = next_modified_after(&run);
        match syncs
            .store
            .finish_run(&run, status, error.as_ref(), next.as_deref(), now)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!("sync run taken over by another node; this node stops driving it");
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, "could not record the end of a sync run");
                return;
            }
        }
        let seconds = now.duration_since(run.started_at).unwrap_or_default().as_secs_f64();
        tracing::info!(status = status.as_str(), added = run.counts.added, updated = run.counts.updated,
            unchanged = run.counts.unchanged, deleted = run.counts.deleted, seconds, error = ?error, "sync run finished");
        if status == RunStatus::Succeeded
            && run.counts.added + run.counts.updated + run.counts.deleted > 0
        {
            changed(&syncs, &run).await;
        }
    }
    .instrument(span)
    .await
}

/// Where the next run starts: after the newest record seen, but not after
/// this run started (less a second for clocks), so that records changed
/// while it ran are read again. A run that saw no records leaves the
/// starting point where it was.
fn next_modified_after(run: &Run) -> Option<String> {
    let started =
        humantime::format_rfc3339_millis(run.started_at - Duration::from_secs(1)).to_string();
    match &run.high_water {
        Some(high) if later(high, &started) => Some(started),
        Some(high) => Some(high.clone()),
        None => run.modified_after.clone(),
    }
}

/// A page being fetched while the previous one is committed.
type Prefetch = tokio::task::JoinHandle<Result<Page, DataError>>;

async fn pages(syncs: &Syncs, run: &mut Run) -> Result<Stop, Stop> {
    let mut prefetch: Option<Prefetch> = None;
    let stop = pipelined(syncs, run, &mut prefetch).await;
    if let Some(fetching) = prefetch {
        fetching.abort();
    }
    stop
}

/// Fetches page n+1 while page n is committed: fetching and storing overlap,
/// and commits stay in order, each with its cursor. Each round:
/// 1. [`caller`]: the connection, opened again, so that a disconnect stops
///    the run at its next page;
/// 2. [`next_page`]: the page fetched ahead (or now), and the fetch of the
///    one after it started;
/// 3. [`heads`] and [`records_of`]: the page's records by id (the last
///    wins), and its newest change;
/// 4. [`commit`]: the records and the run's new position in one
///    transaction, then the run's counts.
async fn pipelined(
    syncs: &Syncs,
    run: &mut Run,
    prefetch: &mut Option<Prefetch>,
) -> Result<Stop, Stop> {
    let mut progress = Progress::new(run);
    loop {
        let Some(caller) = caller(syncs, run).await? else {
            return Ok(Stop::Cancelled);
        };
        let page = next_page(syncs, run, caller, prefetch).await?;
        let heads = heads(&page);
        let (records, high) = records_of(&page, &heads, run.high_water.clone());
        let Some(counts) = commit(syncs, run, &records, &page, high.as_deref()).await? else {
            return Ok(Stop::Cancelled);
        };
        run.counts.added += counts.added;
        run.counts.updated += counts.updated;
        run.counts.unchanged += counts.unchanged;
        run.pages += 1;
        run.high_water = high;
        run.cursor = page.next_cursor;
        progress.log(run);
        if run.cursor.is_none() {
            return Ok(Stop::Done);
        }
    }
}

/// The run's caller: its connection, if it is still active.
async fn caller(syncs: &Syncs, run: &Run) -> Result<Option<Caller>, Stop> {
    let open = syncs
        .connections
        .open_active(&run.connection_id)
        .await
        .map_err(DataError::from)?;
    Ok(open.map(|open| {
        Caller::new(
            Arc::new(open),
            run.request_id.clone(),
            ("sync".to_string(), None),
            Arc::default(),
            Wait::Queue,
        )
    }))
}

/// The page at the run's cursor (fetched ahead when it was), and the fetch
/// of the next one started in `prefetch`.
async fn next_page(
    syncs: &Syncs,
    run: &Run,
    caller: Caller,
    prefetch: &mut Option<Prefetch>,
) -> Result<Page, Stop> {
    let request = |cursor: Option<String>| ListRequest {
        entity: run.entity.clone(),
        cursor,
        page_size: run.page_size,
        modified_after: run.modified_after.clone(),
    };
    let page = match prefetch.take() {
        Some(fetching) => fetching
            .await
            .unwrap_or_else(|e| Err(DataError::Internal(format!("the page fetch stopped: {e}"))))?,
        None => {
            syncs
                .dataplane
                .list_unmapped(&caller, &request(run.cursor.clone()))
                .await?
        }
    };
    if let Some(next) = &page.next_cursor {
        let (dataplane, next) = (syncs.dataplane.clone(), request(Some(next.clone())));
        *prefetch = Some(tokio::spawn(async move {
            dataplane.list_unmapped(&caller, &next).await
        }));
    }
    Ok(page)
}

/// Each record's id (empty when it has none) and last change.
fn heads(page: &Page) -> Vec<(String, Option<String>)> {
    page.records
        .iter()
        .map(|r| match serde_json::from_str::<Head>(r.get()) {
            Ok(Head {
                id: Some(Value::String(id)),
                updated_at,
            }) => (id, updated_at),
            Ok(Head {
                id: Some(Value::Number(n)),
                updated_at,
            }) => (n.to_string(), updated_at),
            _ => (String::new(), None),
        })
        .collect()
}

/// The page's records by id, the last of an id winning, and the newest
/// change among them and `high` (the run's newest so far).
fn records_of<'a>(
    page: &'a Page,
    heads: &'a [(String, Option<String>)],
    mut high: Option<String>,
) -> (Vec<PageRecord<'a>>, Option<String>) {
    let mut records: Vec<PageRecord> = Vec::with_capacity(page.records.len());
    let mut index = std::collections::HashMap::new();
    for (record, (id, updated_at)) in page.records.iter().zip(heads) {
        if id.is_empty() {
            tracing::warn!("a record without an id was skipped");
            continue;
        }
        if let Some(t) = updated_at
            && high.as_deref().is_none_or(|h| later(t, h))
        {
            high = Some(t.clone());
        }
        let entry = PageRecord {
            id,
            json: record.get(),
            content_hash: content_hash(record.get()),
        };
        match index.get(id.as_str()) {
            Some(&i) => records[i] = entry,
            None => {
                index.insert(id.as_str(), records.len());
                records.push(entry);
            }
        }
    }
    (records, high)
}

/// Commits `records` with the run's position after `page`; `None` when the
/// run was cancelled meanwhile.
async fn commit(
    syncs: &Syncs,
    run: &Run,
    records: &[PageRecord<'_>],
    page: &Page,
    high_water: Option<&str>,
) -> Result<Option<Counts>, Stop> {
    let commit = PageCommit {
        run,
        records,
        next_cursor: page.next_cursor.as_deref(),
        high_water,
        at: SystemTime::now(),
    };
    let committing = Instant::now();
    let committed = syncs.store.commit_page(&commit).await?;
    tracing::debug!(
        records = records.len(),
        ms = committing.elapsed().as_secs_f64() * 1e3,
        "page committed"
    );
    Ok(committed)
}

/// A long run's progress, logged every [`PROGRESS_EVERY`].
struct Progress {
    last_log: Instant,
    began: Instant,
    resumed_with: u64,
}

impl Progress {
    fn new(run: &Run) -> Self {
        Progress {
            last_log: Instant::now(),
            began: Instant::now(),
            resumed_with: run.counts.total(),
        }
    }

    fn log(&mut self, run: &Run) {
        if self.last_log.elapsed() < PROGRESS_EVERY {
            return;
        }
        self.last_log = Instant::now();
        let done = run.counts.total();
        let rate = (done - self.resumed_with) as f64 / self.began.elapsed().as_secs_f64();
        tracing::info!(
            records = done,
            pages = run.pages,
            records_per_second = rate.round(),
            "sync progress"
        );
    }
}

/// Emits `records.changed` with the ids the run changed.
async fn changed(syncs: &Syncs, run: &Run) {
    let changes = match syncs.store.run_changes(&run.id).await {
        Ok(changes) => changes,
        Err(e) => {
            tracing::error!(error = %e, "could not read a run's changes");
            return;
        }
    };
    let ids = |kind: Change| -> Vec<&str> {
        changes
            .iter()
            .filter(|(_, c)| *c == kind)
            .map(|(id, _)| id.as_str())
            .collect()
    };
    let payload = json!({
        "entity": run.entity,
        "run_id": run.id,
        "added": ids(Change::Added),
        "updated": ids(Change::Updated),
        "deleted": ids(Change::Deleted),
    });
    syncs
        .webhooks
        .emit(
            &run.connection_id,
            "records.changed",
            Some(&run.entity),
            payload,
        )
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::value::RawValue;

    /// A page's records: by id, the last of an id wins, one without an id
    /// is skipped, and the newest change is the run's new high water.
    #[test]
    fn a_page_keeps_the_last_record_of_each_id_and_its_newest_change() {
        let raw = |text: &str| RawValue::from_string(text.into()).unwrap();
        let page = Page {
            records: vec![
                raw(r#"{"id":"a","updated_at":"2026-01-02T00:00:00Z","v":1}"#),
                raw(r#"{"id":7,"updated_at":"2026-01-03T00:00:00Z"}"#),
                raw(r#"{"name":"no id","updated_at":"2027-01-01T00:00:00Z"}"#),
                raw(r#"{"id":"a","updated_at":"2026-01-01T00:00:00Z","v":2}"#),
            ],
            next_cursor: None,
        };
        let heads = heads(&page);
        let (records, high) = records_of(&page, &heads, Some("2025-12-31T00:00:00Z".into()));
        let kept: Vec<(&str, &str)> = records.iter().map(|r| (r.id, r.json)).collect();
        assert_eq!(
            kept,
            [
                (
                    "a",
                    r#"{"id":"a","updated_at":"2026-01-01T00:00:00Z","v":2}"#
                ),
                ("7", r#"{"id":7,"updated_at":"2026-01-03T00:00:00Z"}"#),
            ]
        );
        assert_eq!(high.as_deref(), Some("2026-01-03T00:00:00Z"));
        let (_, unchanged) = records_of(&page, &heads, Some("2026-02-01T00:00:00Z".into()));
        assert_eq!(unchanged.as_deref(), Some("2026-02-01T00:00:00Z"));
    }

    fn run(started: &str, high_water: Option<&str>, modified_after: Option<&str>) -> Run {
        Run {
            modified_after: modified_after.map(String::from),
            high_water: high_water.map(String::from),
            started_at: humantime::parse_rfc3339(started).unwrap(),
            ..Run::sample("r", RunKind::Incremental)
        }
    }

    #[test]
    fn the_next_run_starts_after_the_newest_record_unless_records_changed_during_this_one() {
        let before = run("2026-11-27T10:00:00Z", Some("2026-11-27T09:00:00Z"), None);
        assert_eq!(
            next_modified_after(&before).as_deref(),
            Some("2026-11-27T09:00:00Z")
        );
        let during = run("2026-11-27T10:00:00Z", Some("2026-11-27T10:00:30Z"), None);
        assert_eq!(
            next_modified_after(&during).as_deref(),
            Some("2026-11-27T09:59:59.000Z")
        );
        let nothing = run("2026-11-27T10:00:00Z", None, Some("2026-11-01T00:00:00Z"));
        assert_eq!(
            next_modified_after(&nothing).as_deref(),
            Some("2026-11-01T00:00:00Z")
        );
    }

    #[test]
    fn timestamps_compare_as_times_not_text() {
        assert!(later("2026-11-27T10:00:00.500Z", "2026-11-27T10:00:00Z"));
        assert!(!later("2026-11-27T10:00:00Z", "2026-11-27T10:00:00.500Z"));
    }
}
