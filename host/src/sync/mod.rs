//! Scheduled syncs: per connection and entity, a schedule whose runs copy
//! the system's records into the host's database, page by page.
//!
//! A run commits each page of records together with its cursor and counts
//! ([`crate::storage::SyncStorage::commit_page`]), so a host killed mid-run
//! resumes from the last committed page when it restarts, without losing or
//! duplicating records. The first run reads everything (or everything since
//! `backfill_since`); later runs read what changed after the newest
//! `updated_at` seen. A run starts only while its connection is active, in
//! the same transaction that records it, and stops at its next page once
//! the connection is disconnected.
//!
//! A running run is leased to the node that drives it ([`Syncs::with_node`]),
//! which renews the lease every tick; a node takes over the runs whose lease
//! lapsed (their node died) and, when it starts, the runs it held before it
//! was killed, each from its last committed page. A node that lost a run's
//! lease commits nothing more of it.

mod run;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use thiserror::Error;

use crate::connections::{Connection, Connections};
use crate::dataplane::DataPlane;
use crate::manifest::Operation;
use crate::storage::syncs::{Counts, Run, RunKind, RunStatus, Schedule, SyncedRecord, Trigger};
use crate::storage::{StorageError, Store};
use crate::webhooks::Webhooks;

/// The default and the shortest interval between runs.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(3600);
pub const MIN_INTERVAL: Duration = Duration::from_secs(60);
/// The longest interval between runs: a year.
pub const MAX_INTERVAL: Duration = Duration::from_secs(365 * 24 * 3600);
/// Records per page asked of the adapter.
pub const DEFAULT_PAGE_SIZE: u32 = 200;
pub const MAX_PAGE_SIZE: u32 = 1000;
/// How often the scheduler looks for due schedules when nothing wakes it.
const TICK: Duration = Duration::from_secs(1);
/// How long a run's lease lasts without being renewed: how long after its
/// node died another node takes the run over.
const LEASE: Duration = Duration::from_secs(30);

#[derive(Debug, Error)]
pub enum SyncError {
    #[error("the adapter has no entity `{0}` that it can list")]
    NotListable(String),
    #[error(
        "the interval must be {} to {} seconds",
        MIN_INTERVAL.as_secs(),
        MAX_INTERVAL.as_secs()
    )]
    InvalidInterval,
    #[error("page_size must be 1 to {MAX_PAGE_SIZE}")]
    InvalidPageSize,
    #[error("`{0}` is not an RFC 3339 timestamp or a date (YYYY-MM-DD)")]
    InvalidTime(String),
    #[error("no sync schedule for `{0}`; create one with PUT /v1/syncs/{0}")]
    NoSchedule(String),
    #[error("a run of `{0}` is already running")]
    AlreadyRunning(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A schedule as asked for.
pub struct ScheduleRequest {
    pub interval: Option<Duration>,
    pub page_size: Option<u32>,
    pub backfill_since: Option<String>,
}

/// The sync engine: schedules, the scheduler loop, and running runs. Runs
/// read pages through the data plane, as API clients do.
pub struct Syncs {
    store: Arc<dyn Store>,
    connections: Arc<Connections>,
    dataplane: Arc<DataPlane>,
    webhooks: Arc<Webhooks>,
    wake: tokio::sync::Notify,
    /// This node's name in run leases.
    node: String,
    /// Runs this node drives now.
    running: Arc<std::sync::atomic::AtomicI64>,
}

/// A timestamp or a date, as RFC 3339 in UTC.
fn normalize_time(text: &str) -> Result<String, SyncError> {
    crate::timestamps::normalize(text).ok_or_else(|| SyncError::InvalidTime(text.into()))
}

impl Syncs {
    /// Syncs keeping their schedules, runs and records in `store`, reading
    /// `connections` through `dataplane` and announcing changes through
    /// `webhooks`.
    pub fn new(
        store: Arc<dyn Store>,
        connections: Arc<Connections>,
        dataplane: Arc<DataPlane>,
        webhooks: Arc<Webhooks>,
    ) -> Self {
        Syncs {
            store,
            connections,
            dataplane,
            webhooks,
            wake: tokio::sync::Notify::new(),
            node: format!("node_{}", uuid::Uuid::now_v7().simple()),
            running: Arc::default(),
        }
    }

    /// Names this node in run leases (by default a name of its own per
    /// process). A node that keeps its name across restarts (the data
    /// folder's) resumes its runs at once when it starts again, instead of
    /// once their leases lapse.
    pub fn with_node(mut self, node: impl Into<String>) -> Self {
        self.node = node.into();
        self
    }

    /// Deletes the schedule of `connection`'s `entity` (its records stay);
    /// answers whether there was one.
    ///
    /// # Errors
    ///
    /// The database failed.
    pub async fn delete_schedule(
        &self,
        connection: &str,
        entity: &str,
    ) -> Result<bool, StorageError> {
        self.store.delete_schedule(connection, entity).await
    }

    /// The schedules of `connection`, and its latest `runs` runs.
    ///
    /// # Errors
    ///
    /// The database failed.
    pub async fn status(
        &self,
        connection: &str,
        runs: u32,
    ) -> Result<(Vec<Schedule>, Vec<Run>), StorageError> {
        tokio::try_join!(
            self.store.schedules(connection),
            self.store.runs(connection, runs)
        )
    }

    /// Every schedule, and the latest `per_schedule` runs of each (of
    /// `connection`'s only, when given).
    ///
    /// # Errors
    ///
    /// The database failed.
    pub async fn overview(
        &self,
        connection: Option<&str>,
        per_schedule: u32,
    ) -> Result<(Vec<Schedule>, Vec<Run>), StorageError> {
        tokio::try_join!(
            self.store.all_schedules(),
            self.store.latest_runs(connection, per_schedule)
        )
    }

    /// A page of the records synced for `connection`'s `entity`, in the
    /// order they last changed: up to `limit` after `after` (a last-changed
    /// time and id), changed after `modified_after` when given.
    ///
    /// # Errors
    ///
    /// The database failed.
    pub async fn synced_records(
        &self,
        connection: &str,
        entity: &str,
        after: Option<(&str, &str)>,
        modified_after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<SyncedRecord>, StorageError> {
        self.store
            .synced_records(connection, entity, after, modified_after, limit)
            .await
    }

    /// Creates or replaces the schedule of `entity`; its first run is due now.
    ///
    /// # Errors
    ///
    /// [`SyncError::NotListable`] when the connection's adapter is not
    /// loaded, or does not list `entity`; [`SyncError::InvalidInterval`],
    /// [`SyncError::InvalidPageSize`] or [`SyncError::InvalidTime`] when
    /// the interval, the page size or `backfill_since` is out of its range
    /// or not a time; [`SyncError::Storage`] when the database failed.
    pub async fn put_schedule(
        &self,
        connection: &Connection,
        entity: &str,
        request: ScheduleRequest,
    ) -> Result<Schedule, SyncError> {
        let listable = self
            .dataplane
            .resolve(connection, entity)
            .ok()
            .and_then(|a| {
                a.manifest()
                    .entity(entity)
                    .map(|e| e.operations.iter().any(|o| o.operation == Operation::List))
            })
            .unwrap_or(false);
        if !listable {
            return Err(SyncError::NotListable(entity.into()));
        }
        let interval = request.interval.unwrap_or(DEFAULT_INTERVAL);
        if !(MIN_INTERVAL..=MAX_INTERVAL).contains(&interval) {
            return Err(SyncError::InvalidInterval);
        }
        let page_size = request.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&page_size) {
            return Err(SyncError::InvalidPageSize);
        }
        let backfill_since = request
            .backfill_since
            .as_deref()
            .map(normalize_time)
            .transpose()?;
        let existing = self.store.schedule(&connection.id, entity).await?;
        // A new backfill point starts over; otherwise the position is kept.
        let modified_after = existing
            .as_ref()
            .filter(|s| s.backfill_since == backfill_since)
            .and_then(|s| s.modified_after.clone());
        let now = SystemTime::now();
        let schedule = Schedule {
            connection_id: connection.id.clone(),
            entity: entity.to_string(),
            interval,
            page_size,
            backfill_since,
            modified_after,
            next_run_at: now,
            created_at: existing.map_or(now, |s| s.created_at),
        };
        self.store.put_schedule(&schedule).await?;
        self.wake.notify_one();
        Ok(schedule)
    }

    /// Starts a run of `entity` now (`full`: read everything, and mark what
    /// is gone as deleted).
    ///
    /// # Errors
    ///
    /// [`SyncError::NoSchedule`] when `entity` has no schedule;
    /// [`SyncError::AlreadyRunning`] when a run of it is running, or the
    /// connection is no longer active; [`SyncError::Storage`] when the
    /// database failed.
    pub async fn trigger(
        self: &Arc<Self>,
        connection: &Connection,
        entity: &str,
        full: bool,
        request_id: &str,
    ) -> Result<Run, SyncError> {
        let schedule = self
            .store
            .schedule(&connection.id, entity)
            .await?
            .ok_or_else(|| SyncError::NoSchedule(entity.into()))?;
        self.begin(&schedule, Trigger::Manual, full, request_id)
            .await?
            .ok_or_else(|| SyncError::AlreadyRunning(entity.into()))
    }

    /// Records a run of `schedule` as running and spawns it; `None` when one
    /// is already running or the connection is no longer active.
    async fn begin(
        self: &Arc<Self>,
        schedule: &Schedule,
        trigger: Trigger,
        full: bool,
        request_id: &str,
    ) -> Result<Option<Run>, StorageError> {
        let modified_after = if full {
            None
        } else {
            schedule
                .modified_after
                .clone()
                .or_else(|| schedule.backfill_since.clone())
        };
        let now = SystemTime::now();
        let run = Run {
            id: format!("run_{}", uuid::Uuid::now_v7().simple()),
            connection_id: schedule.connection_id.clone(),
            entity: schedule.entity.clone(),
            trigger,
            kind: if modified_after.is_none() {
                RunKind::Full
            } else {
                RunKind::Incremental
            },
            status: RunStatus::Running,
            request_id: request_id.to_string(),
            page_size: schedule.page_size,
            modified_after,
            cursor: None,
            pages: 0,
            counts: Counts::default(),
            high_water: None,
            error: None,
            started_at: now,
            finished_at: None,
            lease_owner: Some(self.node.clone()),
        };
        if !self
            .store
            .start_run(&run, now + schedule.interval, now + LEASE)
            .await?
        {
            return Ok(None);
        }
        tracing::info!(run = %run.id, connection = %run.connection_id, entity = %run.entity, kind = ?run.kind, ?trigger, "sync run started");
        self.drive(run.clone());
        Ok(Some(run))
    }

    /// Drives `run` on a task of its own, counted in [`Syncs::running`]
    /// until it ends.
    fn drive(self: &Arc<Self>, run: Run) {
        use std::sync::atomic::Ordering;

        struct Counted(Arc<std::sync::atomic::AtomicI64>);
        impl Drop for Counted {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::Relaxed);
            }
        }
        self.running.fetch_add(1, Ordering::Relaxed);
        let counted = Counted(self.running.clone());
        let syncs = self.clone();
        tokio::spawn(async move {
            let _counted = counted;
            run::execute(syncs, run).await;
        });
    }

    /// The runs this node drives now.
    pub fn running(&self) -> i64 {
        self.running.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Resumes the runs this node left running when it was killed, then,
    /// every tick until the process ends: renews the leases of its runs,
    /// takes over runs whose node died, and starts due schedules.
    pub fn start(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.clone().schedule())
    }

    /// [`Syncs::start`]'s work, in the caller's task: it never returns.
    pub async fn schedule(self: Arc<Self>) {
        let syncs = self;
        syncs.resume(true).await;
        loop {
            let now = SystemTime::now();
            if let Err(e) = syncs.store.renew_leases(&syncs.node, now + LEASE).await {
                tracing::error!(error = %e, "could not renew the leases of sync runs");
            }
            syncs.resume(false).await;
            match syncs.store.due_schedules(SystemTime::now()).await {
                Ok(due) => {
                    for schedule in due {
                        let request_id = uuid::Uuid::now_v7().to_string();
                        if let Err(e) = syncs
                            .begin(&schedule, Trigger::Schedule, false, &request_id)
                            .await
                        {
                            tracing::error!(error = %e, "could not start a sync run");
                        }
                    }
                }
                Err(e) => tracing::error!(error = %e, "could not read due sync schedules"),
            }
            tokio::select! {
                _ = syncs.wake.notified() => {}
                _ = tokio::time::sleep(TICK) => {}
            }
        }
    }

    /// Takes over the runs whose lease lapsed and, with `own`, those this
    /// node held before a restart, and drives each from its last committed
    /// page.
    async fn resume(self: &Arc<Self>, own: bool) {
        let now = SystemTime::now();
        match self
            .store
            .claim_runs(&self.node, now, now + LEASE, own)
            .await
        {
            Ok(runs) => {
                for run in runs {
                    tracing::info!(run = %run.id, connection = %run.connection_id, entity = %run.entity, pages = run.pages, "resuming a sync run");
                    self.drive(run);
                }
            }
            Err(e) => tracing::error!(error = %e, "could not take over interrupted sync runs"),
        }
    }
}
