//! What the sync engine keeps: schedules, runs, and pages of records
//! committed together with the run's cursor.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde::Serialize;
use utoipa::ToSchema;

use super::Result;

/// A sync schedule of one entity of one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub connection_id: String,
    pub entity: String,
    pub interval: Duration,
    pub page_size: u32,
    /// The first run fetches records modified after this; `None`: all.
    pub backfill_since: Option<String>,
    /// Where the next run starts; `None` until a run succeeded.
    pub modified_after: Option<String>,
    pub next_run_at: SystemTime,
    pub created_at: SystemTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

stored_as_text!(RunStatus {
    Running = "running",
    Succeeded = "succeeded",
    Failed = "failed",
    Cancelled = "cancelled",
});

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Schedule,
    Manual,
}

stored_as_text!(Trigger {
    Schedule = "schedule",
    Manual = "manual",
});

/// A full run reads everything and marks what it did not see as deleted; an
/// incremental run reads what changed after a point in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    Full,
    Incremental,
}

stored_as_text!(RunKind {
    Full = "full",
    Incremental = "incremental",
});

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RunError {
    pub code: String,
    pub message: String,
}

/// Records a run added, updated, found unchanged, and marked deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Counts {
    pub added: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub deleted: u64,
}

impl Counts {
    pub fn total(&self) -> u64 {
        self.added + self.updated + self.unchanged
    }
}

/// One sync run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub id: String,
    pub connection_id: String,
    pub entity: String,
    pub trigger: Trigger,
    pub kind: RunKind,
    pub status: RunStatus,
    /// The id its logs and errors carry.
    pub request_id: String,
    pub page_size: u32,
    pub modified_after: Option<String>,
    /// Where the next page starts (the last committed page's `next_cursor`).
    pub cursor: Option<String>,
    pub pages: u64,
    pub counts: Counts,
    /// The newest `updated_at` among the records seen.
    pub high_water: Option<String>,
    pub error: Option<RunError>,
    pub started_at: SystemTime,
    pub finished_at: Option<SystemTime>,
    /// The node that drives the run while it runs: the holder of its lease,
    /// which alone commits its pages and ends it.
    pub lease_owner: Option<String>,
}

#[cfg(test)]
impl Run {
    /// A running manual run of connection `c1`'s `vendors`, for tests.
    pub fn sample(id: &str, kind: RunKind) -> Run {
        Run {
            id: id.into(),
            connection_id: "c1".into(),
            entity: "vendors".into(),
            trigger: Trigger::Manual,
            kind,
            status: RunStatus::Running,
            request_id: "r".into(),
            page_size: 10,
            modified_after: None,
            cursor: None,
            pages: 0,
            counts: Counts::default(),
            high_water: None,
            error: None,
            started_at: SystemTime::now(),
            finished_at: None,
            lease_owner: Some("node1".into()),
        }
    }
}

/// A record of a page, with the hash that tells changed from unchanged.
pub struct PageRecord<'a> {
    pub id: &'a str,
    pub json: &'a str,
    pub content_hash: String,
}

/// A page to commit with the run's new position.
pub struct PageCommit<'a> {
    pub run: &'a Run,
    pub records: &'a [PageRecord<'a>],
    pub next_cursor: Option<&'a str>,
    pub high_water: Option<&'a str>,
    pub at: SystemTime,
}

/// A stored record, as `GET /v1/synced/{entity}` shows it.
#[derive(Debug, Clone)]
pub struct SyncedRecord {
    pub id: String,
    pub data: String,
    pub content_hash: String,
    pub first_seen_at: String,
    pub last_modified_at: String,
    pub deleted_at: Option<String>,
    pub run_id: Option<String>,
}

/// A change a run made, for `records.changed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Added,
    Updated,
    Deleted,
}

stored_as_text!(Change {
    Added = "added",
    Updated = "updated",
    Deleted = "deleted",
});

#[async_trait]
pub trait SyncStorage: Send + Sync + 'static {
    /// Creates or replaces a schedule.
    async fn put_schedule(&self, schedule: &Schedule) -> Result<()>;
    /// Answers whether there was one.
    async fn delete_schedule(&self, connection: &str, entity: &str) -> Result<bool>;
    async fn schedule(&self, connection: &str, entity: &str) -> Result<Option<Schedule>>;
    async fn schedules(&self, connection: &str) -> Result<Vec<Schedule>>;
    /// Every schedule, by connection and entity.
    async fn all_schedules(&self) -> Result<Vec<Schedule>>;
    /// Schedules of active connections whose next run is due at `now`.
    async fn due_schedules(&self, now: SystemTime) -> Result<Vec<Schedule>>;
    /// Stores `run` as running, leased to its `lease_owner` until
    /// `lease_until`, and moves its schedule's next run to `next_run_at`, if
    /// the connection is active, no run of the entity is running, and (for a
    /// scheduled run) the schedule is still due at the run's start; answers
    /// whether it did. One transaction, so a run never starts after a
    /// disconnect has been committed, and of the nodes that find a schedule
    /// due, one starts its run for the interval.
    async fn start_run(
        &self,
        run: &Run,
        next_run_at: SystemTime,
        lease_until: SystemTime,
    ) -> Result<bool>;
    /// Takes over the running runs of other nodes whose lease lapsed before
    /// `now` (their node died), and with `own` those `node` held (the same
    /// node, restarted), leasing them to `node` until `until`; oldest first.
    /// Without `own`, a run of `node` itself is never taken again, even if
    /// its lease lapsed: its driver may still be at work.
    async fn claim_runs(
        &self,
        node: &str,
        now: SystemTime,
        until: SystemTime,
        own: bool,
    ) -> Result<Vec<Run>>;
    /// Extends the leases of the runs `node` drives to `until`.
    async fn renew_leases(&self, node: &str, until: SystemTime) -> Result<()>;
    /// Stores a page of records and the run's new cursor and counts in one
    /// transaction; answers the page's counts, or `None` (nothing stored)
    /// when the connection is no longer active, the run no longer running,
    /// or no longer leased to the run's `lease_owner` (another node took it
    /// over).
    async fn commit_page(&self, page: &PageCommit<'_>) -> Result<Option<Counts>>;
    /// After a full run: marks the entity's records the run did not see as
    /// deleted; answers how many.
    async fn mark_unseen_deleted(&self, run: &Run, at: SystemTime) -> Result<u64>;
    /// Ends a run that is still leased to its `lease_owner`, and answers
    /// whether it was. A successful one moves its schedule's starting point
    /// to `modified_after`.
    async fn finish_run(
        &self,
        run: &Run,
        status: RunStatus,
        error: Option<&RunError>,
        modified_after: Option<&str>,
        at: SystemTime,
    ) -> Result<bool>;
    async fn run(&self, id: &str) -> Result<Option<Run>>;
    /// The connection's runs, newest first.
    async fn runs(&self, connection: &str, limit: u32) -> Result<Vec<Run>>;
    /// The latest `per_schedule` runs of every schedule (of `connection`'s
    /// only, when given), newest first.
    async fn latest_runs(&self, connection: Option<&str>, per_schedule: u32) -> Result<Vec<Run>>;
    /// The records a run changed last, and how.
    async fn run_changes(&self, run: &str) -> Result<Vec<(String, Change)>>;
    /// Stored records of an entity ordered by (last modification, id), after
    /// `after` and modified after `modified_after`.
    async fn synced_records(
        &self,
        connection: &str,
        entity: &str,
        after: Option<(&str, &str)>,
        modified_after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<SyncedRecord>>;
}
