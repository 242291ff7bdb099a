//! [`SyncStorage`] on PostgreSQL.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{QueryBuilder, Row};
use time::OffsetDateTime;

use super::{PostgresStorage, collect, optional_time_at, time_at, ts};
use crate::storage::decode_text;
use crate::storage::syncs::*;
use crate::storage::{Result, StorageError};
use crate::timestamps;

const RUN_COLUMNS: &str = "id, connection_id, entity, trigger, kind, status, request_id, page_size, modified_after, \
     cursor, pages, added, updated, unchanged, deleted, high_water, error_code, error_message, started_at, finished_at, \
     lease_owner";

fn schedule_from_row(row: &PgRow) -> std::result::Result<Schedule, sqlx::Error> {
    Ok(Schedule {
        connection_id: row.try_get("connection_id")?,
        entity: row.try_get("entity")?,
        interval: Duration::from_secs(row.try_get::<i64, _>("interval_seconds")? as u64),
        page_size: row.try_get::<i64, _>("page_size")? as u32,
        backfill_since: row.try_get("backfill_since")?,
        modified_after: row.try_get("modified_after")?,
        next_run_at: time_at(row, "next_run_at")?,
        created_at: time_at(row, "created_at")?,
    })
}

fn run_from_row(row: &PgRow) -> std::result::Result<Run, sqlx::Error> {
    let count = |c: &str| row.try_get::<i64, _>(c).map(|n| n as u64);
    Ok(Run {
        id: row.try_get("id")?,
        connection_id: row.try_get("connection_id")?,
        entity: row.try_get("entity")?,
        trigger: decode_text("trigger", &row.try_get::<String, _>("trigger")?)?,
        kind: decode_text("kind", &row.try_get::<String, _>("kind")?)?,
        status: decode_text("status", &row.try_get::<String, _>("status")?)?,
        request_id: row.try_get("request_id")?,
        page_size: row.try_get::<i64, _>("page_size")? as u32,
        modified_after: row.try_get("modified_after")?,
        cursor: row.try_get("cursor")?,
        pages: count("pages")?,
        counts: Counts {
            added: count("added")?,
            updated: count("updated")?,
            unchanged: count("unchanged")?,
            deleted: count("deleted")?,
        },
        high_water: row.try_get("high_water")?,
        error: match row.try_get::<Option<String>, _>("error_code")? {
            Some(code) => Some(RunError {
                code,
                message: row
                    .try_get::<Option<String>, _>("error_message")?
                    .unwrap_or_default(),
            }),
            None => None,
        },
        started_at: time_at(row, "started_at")?,
        finished_at: optional_time_at(row, "finished_at")?,
        lease_owner: row.try_get("lease_owner")?,
    })
}

/// A stored time as `GET /v1/synced` shows it (and takes it back in a
/// cursor): RFC 3339 in UTC with six decimals, as on SQLite.
fn text(t: OffsetDateTime) -> String {
    timestamps::micros(t)
}

/// A time the API took from a client or a cursor, for a `timestamptz`
/// parameter.
fn parse(t: &str) -> Result<OffsetDateTime> {
    timestamps::parse(t).ok_or_else(|| {
        StorageError(sqlx::Error::Encode(
            format!("{t:?} is not an RFC 3339 time").into(),
        ))
    })
}

#[async_trait]
impl SyncStorage for PostgresStorage {
    async fn put_schedule(&self, s: &Schedule) -> Result<()> {
        sqlx::query(
            "INSERT INTO sync_schedules (connection_id, entity, interval_seconds, page_size, backfill_since, modified_after, next_run_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (connection_id, entity) DO UPDATE SET interval_seconds = excluded.interval_seconds, \
               page_size = excluded.page_size, backfill_since = excluded.backfill_since, \
               modified_after = excluded.modified_after, next_run_at = excluded.next_run_at",
        )
        .bind(&s.connection_id)
        .bind(&s.entity)
        .bind(s.interval.as_secs() as i64)
        .bind(i64::from(s.page_size))
        .bind(&s.backfill_since)
        .bind(&s.modified_after)
        .bind(ts(s.next_run_at))
        .bind(ts(s.created_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn delete_schedule(&self, connection: &str, entity: &str) -> Result<bool> {
        let done =
            sqlx::query("DELETE FROM sync_schedules WHERE connection_id = $1 AND entity = $2")
                .bind(connection)
                .bind(entity)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn schedule(&self, connection: &str, entity: &str) -> Result<Option<Schedule>> {
        let row =
            sqlx::query("SELECT * FROM sync_schedules WHERE connection_id = $1 AND entity = $2")
                .bind(connection)
                .bind(entity)
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref()
            .map(schedule_from_row)
            .transpose()
            .map_err(StorageError)
    }

    async fn schedules(&self, connection: &str) -> Result<Vec<Schedule>> {
        let rows =
            sqlx::query("SELECT * FROM sync_schedules WHERE connection_id = $1 ORDER BY entity")
                .bind(connection)
                .fetch_all(&self.pool)
                .await?;
        collect(rows, schedule_from_row)
    }

    async fn all_schedules(&self) -> Result<Vec<Schedule>> {
        let rows = sqlx::query("SELECT * FROM sync_schedules ORDER BY connection_id, entity")
            .fetch_all(&self.pool)
            .await?;
        collect(rows, schedule_from_row)
    }

    async fn due_schedules(&self, now: SystemTime) -> Result<Vec<Schedule>> {
        let rows = sqlx::query(
            "SELECT s.* FROM sync_schedules s JOIN connections c ON c.id = s.connection_id \
             WHERE c.status = 'active' AND s.next_run_at <= $1 ORDER BY s.next_run_at",
        )
        .bind(ts(now))
        .fetch_all(&self.pool)
        .await?;
        collect(rows, schedule_from_row)
    }

    async fn start_run(
        &self,
        run: &Run,
        next_run_at: SystemTime,
        lease_until: SystemTime,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        // `one_running_sync` lets one of two concurrent starts insert; the
        // other's insert waits for the first to commit, then does nothing.
        // Once the first has committed, its schedule is no longer due.
        let inserted = sqlx::query(
            "INSERT INTO sync_runs (id, connection_id, entity, trigger, kind, status, request_id, page_size, \
               modified_after, started_at, lease_owner, lease_until) \
             SELECT $1, $2, $3, $4, $5, 'running', $6, $7, $8, $9, $10, $11 \
             WHERE EXISTS (SELECT 1 FROM connections WHERE id = $2 AND status = 'active') \
               AND ($4 = 'manual' OR EXISTS (SELECT 1 FROM sync_schedules \
                 WHERE connection_id = $2 AND entity = $3 AND next_run_at <= $9)) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&run.id)
        .bind(&run.connection_id)
        .bind(&run.entity)
        .bind(run.trigger.as_str())
        .bind(run.kind.as_str())
        .bind(&run.request_id)
        .bind(i64::from(run.page_size))
        .bind(&run.modified_after)
        .bind(ts(run.started_at))
        .bind(&run.lease_owner)
        .bind(ts(lease_until))
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if inserted {
            sqlx::query(
                "UPDATE sync_schedules SET next_run_at = $1 WHERE connection_id = $2 AND entity = $3",
            )
            .bind(ts(next_run_at))
            .bind(&run.connection_id)
            .bind(&run.entity)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(inserted)
    }

    async fn claim_runs(
        &self,
        node: &str,
        now: SystemTime,
        until: SystemTime,
        own: bool,
    ) -> Result<Vec<Run>> {
        // A run another node is committing a page of is skipped: its lease
        // is being used.
        let rows = sqlx::query(&format!(
            "WITH lapsed AS ( \
               SELECT id FROM sync_runs WHERE status = 'running' \
                 AND (((lease_until IS NULL OR lease_until < $3) AND lease_owner IS DISTINCT FROM $1) \
                   OR ($4 AND lease_owner = $1)) \
               FOR UPDATE SKIP LOCKED) \
             UPDATE sync_runs SET lease_owner = $1, lease_until = $2 \
             WHERE id IN (SELECT id FROM lapsed) RETURNING {RUN_COLUMNS}"
        ))
        .bind(node)
        .bind(ts(until))
        .bind(ts(now))
        .bind(own)
        .fetch_all(&self.pool)
        .await?;
        let mut runs = collect(rows, run_from_row)?;
        runs.sort_by(|a, b| (a.started_at, &a.id).cmp(&(b.started_at, &b.id)));
        Ok(runs)
    }

    async fn renew_leases(&self, node: &str, until: SystemTime) -> Result<()> {
        sqlx::query(
            "UPDATE sync_runs SET lease_until = $1 WHERE lease_owner = $2 AND status = 'running'",
        )
        .bind(ts(until))
        .bind(node)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn commit_page(&self, page: &PageCommit<'_>) -> Result<Option<Counts>> {
        let run = page.run;
        let mut tx = self.begin().await?;
        // The run's row is locked (one page at a time), the connection's is
        // shared: a disconnect waits for this page, and the next page sees it.
        let live: Option<(String, String)> = sqlx::query_as(
            "SELECT c.status, r.status FROM sync_runs r JOIN connections c ON c.id = r.connection_id \
             WHERE r.id = $1 AND r.lease_owner IS NOT DISTINCT FROM $2 FOR UPDATE OF r FOR SHARE OF c",
        )
        .bind(&run.id)
        .bind(&run.lease_owner)
        .fetch_optional(&mut *tx)
        .await?;
        if live.as_ref().map(|(c, r)| (c.as_str(), r.as_str())) != Some(("active", "running")) {
            return Ok(None);
        }

        let ids: Vec<&str> = page.records.iter().map(|r| r.id).collect();
        let known: std::collections::HashMap<String, (String, bool)> = sqlx::query_as(
            "SELECT record_id, content_hash, deleted_at IS NOT NULL FROM records \
             WHERE connection_id = $1 AND entity = $2 AND record_id = ANY($3)",
        )
        .bind(&run.connection_id)
        .bind(&run.entity)
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|(id, hash, deleted): (String, String, bool)| (id, (hash, deleted)))
        .collect();
        let mut counts = Counts::default();
        let mut changed = Vec::new();
        let mut unchanged = Vec::new();
        for record in page.records {
            match known.get(record.id) {
                None => {
                    counts.added += 1;
                    changed.push((record, Change::Added));
                }
                Some((hash, false)) if *hash == record.content_hash => {
                    counts.unchanged += 1;
                    unchanged.push(record.id);
                }
                Some(_) => {
                    counts.updated += 1;
                    changed.push((record, Change::Updated));
                }
            }
        }
        if !changed.is_empty() {
            let ids: Vec<&str> = changed.iter().map(|(r, _)| r.id).collect();
            let data: Vec<&str> = changed.iter().map(|(r, _)| r.json).collect();
            let hashes: Vec<&str> = changed
                .iter()
                .map(|(r, _)| r.content_hash.as_str())
                .collect();
            let kinds: Vec<&str> = changed.iter().map(|(_, c)| c.as_str()).collect();
            sqlx::query(
                "INSERT INTO records (connection_id, entity, record_id, data, content_hash, first_seen_at, \
                 last_modified_at, run_id, change, seen_by_run) \
                 SELECT $1, $2, r.id, r.data, r.hash, $3, $3, $4, r.change, $4 \
                 FROM UNNEST($5::text[], $6::text[], $7::text[], $8::text[]) AS r (id, data, hash, change) \
                 ON CONFLICT (connection_id, entity, record_id) DO UPDATE SET data = excluded.data, \
                 content_hash = excluded.content_hash, deleted_at = NULL, last_modified_at = excluded.last_modified_at, \
                 run_id = excluded.run_id, change = excluded.change, seen_by_run = excluded.seen_by_run",
            )
            .bind(&run.connection_id)
            .bind(&run.entity)
            .bind(ts(page.at))
            .bind(&run.id)
            .bind(&ids)
            .bind(&data)
            .bind(&hashes)
            .bind(&kinds)
            .execute(&mut *tx)
            .await?;
        }
        if run.kind == RunKind::Full && !unchanged.is_empty() {
            sqlx::query(
                "UPDATE records SET seen_by_run = $1 \
                 WHERE connection_id = $2 AND entity = $3 AND record_id = ANY($4)",
            )
            .bind(&run.id)
            .bind(&run.connection_id)
            .bind(&run.entity)
            .bind(&unchanged)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE sync_runs SET cursor = $1, pages = pages + 1, added = added + $2, updated = updated + $3, \
             unchanged = unchanged + $4, high_water = COALESCE($5, high_water) WHERE id = $6",
        )
        .bind(page.next_cursor)
        .bind(counts.added as i64)
        .bind(counts.updated as i64)
        .bind(counts.unchanged as i64)
        .bind(page.high_water)
        .bind(&run.id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.note_added(counts.added);
        Ok(Some(counts))
    }

    async fn mark_unseen_deleted(&self, run: &Run, at: SystemTime) -> Result<u64> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE records SET deleted_at = $1, last_modified_at = $1, run_id = $2, change = 'deleted' \
             WHERE connection_id = $3 AND entity = $4 AND deleted_at IS NULL \
               AND seen_by_run IS DISTINCT FROM $2",
        )
        .bind(ts(at))
        .bind(&run.id)
        .bind(&run.connection_id)
        .bind(&run.entity)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE sync_runs SET deleted = $1 WHERE id = $2")
            .bind(done.rows_affected() as i64)
            .bind(&run.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    async fn finish_run(
        &self,
        run: &Run,
        status: RunStatus,
        error: Option<&RunError>,
        modified_after: Option<&str>,
        at: SystemTime,
    ) -> Result<bool> {
        let duration = at.duration_since(run.started_at).unwrap_or_default();
        let mut tx = self.begin().await?;
        let ended = sqlx::query(
            "UPDATE sync_runs SET status = $1, error_code = $2, error_message = $3, finished_at = $4, duration_ms = $5, \
             lease_until = NULL WHERE id = $6 AND status = 'running' AND lease_owner IS NOT DISTINCT FROM $7",
        )
        .bind(status.as_str())
        .bind(error.map(|e| &e.code))
        .bind(error.map(|e| &e.message))
        .bind(ts(at))
        .bind(duration.as_millis() as i64)
        .bind(&run.id)
        .bind(&run.lease_owner)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !ended {
            return Ok(false);
        }
        if status == RunStatus::Succeeded {
            sqlx::query(
                "UPDATE sync_schedules SET modified_after = $1 WHERE connection_id = $2 AND entity = $3",
            )
            .bind(modified_after)
            .bind(&run.connection_id)
            .bind(&run.entity)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn run(&self, id: &str) -> Result<Option<Run>> {
        let row = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM sync_runs WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref()
            .map(run_from_row)
            .transpose()
            .map_err(StorageError)
    }

    async fn runs(&self, connection: &str, limit: u32) -> Result<Vec<Run>> {
        let rows = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM sync_runs WHERE connection_id = $1 \
             ORDER BY started_at DESC, id DESC LIMIT $2"
        ))
        .bind(connection)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        collect(rows, run_from_row)
    }

    async fn latest_runs(&self, connection: Option<&str>, per_schedule: u32) -> Result<Vec<Run>> {
        let columns = RUN_COLUMNS
            .split(", ")
            .map(|c| format!("r.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = sqlx::query(&format!(
            "SELECT {columns} FROM sync_schedules s CROSS JOIN LATERAL ( \
               SELECT * FROM sync_runs WHERE connection_id = s.connection_id AND entity = s.entity \
               ORDER BY started_at DESC, id DESC LIMIT $1) r \
             WHERE $2::text IS NULL OR s.connection_id = $2 \
             ORDER BY r.started_at DESC, r.id DESC"
        ))
        .bind(i64::from(per_schedule))
        .bind(connection)
        .fetch_all(&self.pool)
        .await?;
        collect(rows, run_from_row)
    }

    async fn run_changes(&self, run: &str) -> Result<Vec<(String, Change)>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT record_id, change FROM records WHERE run_id = $1 ORDER BY record_id",
        )
        .bind(run)
        .fetch_all(&self.pool)
        .await?;
        let changes = rows
            .into_iter()
            .map(|(id, change)| Ok((id, decode_text("change", &change)?)))
            .collect::<Result<_, sqlx::Error>>()?;
        Ok(changes)
    }

    async fn synced_records(
        &self,
        connection: &str,
        entity: &str,
        after: Option<(&str, &str)>,
        modified_after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<SyncedRecord>> {
        let mut query = QueryBuilder::<sqlx::Postgres>::new(
            "SELECT record_id, data, content_hash, first_seen_at, last_modified_at, deleted_at, run_id \
             FROM records WHERE connection_id = ",
        );
        query.push_bind(connection);
        query.push(" AND entity = ").push_bind(entity);
        if let Some((modified, id)) = after {
            query.push(" AND (last_modified_at, record_id) > (");
            query
                .push_bind(parse(modified)?)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        if let Some(t) = modified_after {
            query.push(" AND last_modified_at > ").push_bind(parse(t)?);
        }
        query.push(" ORDER BY last_modified_at, record_id LIMIT ");
        query.push_bind(i64::from(limit));
        let rows = query.build().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(SyncedRecord {
                    id: r.try_get(0)?,
                    data: r.try_get(1)?,
                    content_hash: r.try_get(2)?,
                    first_seen_at: text(r.try_get(3)?),
                    last_modified_at: text(r.try_get(4)?),
                    deleted_at: r.try_get::<Option<OffsetDateTime>, _>(5)?.map(text),
                    run_id: r.try_get(6)?,
                })
            })
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(StorageError)
    }
}
