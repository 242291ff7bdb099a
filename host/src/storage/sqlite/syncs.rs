//! [`SyncStorage`] on SQLite.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};

use super::{SqliteStorage, collect, parse_time, time};
use crate::storage::decode_text;
use crate::storage::syncs::*;
use crate::storage::{Result, StorageError};

const RUN_COLUMNS: &str = "id, connection_id, entity, trigger, kind, status, request_id, page_size, modified_after, \
     cursor, pages, added, updated, unchanged, deleted, high_water, error_code, error_message, started_at, finished_at, \
     lease_owner";

fn schedule_from_row(row: &SqliteRow) -> std::result::Result<Schedule, sqlx::Error> {
    Ok(Schedule {
        connection_id: row.try_get("connection_id")?,
        entity: row.try_get("entity")?,
        interval: Duration::from_secs(row.try_get::<i64, _>("interval_seconds")? as u64),
        page_size: row.try_get::<i64, _>("page_size")? as u32,
        backfill_since: row.try_get("backfill_since")?,
        modified_after: row.try_get("modified_after")?,
        next_run_at: parse_time(&row.try_get::<String, _>("next_run_at")?),
        created_at: parse_time(&row.try_get::<String, _>("created_at")?),
    })
}

fn run_from_row(row: &SqliteRow) -> std::result::Result<Run, sqlx::Error> {
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
        started_at: parse_time(&row.try_get::<String, _>("started_at")?),
        finished_at: row
            .try_get::<Option<String>, _>("finished_at")?
            .map(|t| parse_time(&t)),
        lease_owner: row.try_get("lease_owner")?,
    })
}

/// Rows per multi-row statement: 10 parameters each, well under SQLite's
/// limit. A statement of n rows is one of its own: the connection keeps
/// the statements of a full chunk prepared, and runs a page's shorter rest
/// unprepared, so that it does not keep one for every n it has seen.
const CHUNK: usize = 500;

#[async_trait]
impl SyncStorage for SqliteStorage {
    async fn put_schedule(&self, s: &Schedule) -> Result<()> {
        sqlx::query(
            "INSERT INTO sync_schedules (connection_id, entity, interval_seconds, page_size, backfill_since, modified_after, next_run_at, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (connection_id, entity) DO UPDATE SET interval_seconds = excluded.interval_seconds, \
               page_size = excluded.page_size, backfill_since = excluded.backfill_since, \
               modified_after = excluded.modified_after, next_run_at = excluded.next_run_at",
        )
        .bind(&s.connection_id)
        .bind(&s.entity)
        .bind(s.interval.as_secs() as i64)
        .bind(s.page_size as i64)
        .bind(&s.backfill_since)
        .bind(&s.modified_after)
        .bind(time(s.next_run_at))
        .bind(time(s.created_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn delete_schedule(&self, connection: &str, entity: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM sync_schedules WHERE connection_id = ? AND entity = ?")
            .bind(connection)
            .bind(entity)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn schedule(&self, connection: &str, entity: &str) -> Result<Option<Schedule>> {
        let row =
            sqlx::query("SELECT * FROM sync_schedules WHERE connection_id = ? AND entity = ?")
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
            sqlx::query("SELECT * FROM sync_schedules WHERE connection_id = ? ORDER BY entity")
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
             WHERE c.status = 'active' AND s.next_run_at <= ? ORDER BY s.next_run_at",
        )
        .bind(time(now))
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
        let inserted = sqlx::query(
            "INSERT INTO sync_runs (id, connection_id, entity, trigger, kind, status, request_id, page_size, \
               modified_after, started_at, lease_owner, lease_until) \
             SELECT ?1, ?2, ?3, ?4, ?5, 'running', ?6, ?7, ?8, ?9, ?10, ?11 \
             WHERE EXISTS (SELECT 1 FROM connections WHERE id = ?2 AND status = 'active') \
               AND NOT EXISTS (SELECT 1 FROM sync_runs WHERE connection_id = ?2 AND entity = ?3 AND status = 'running') \
               AND (?4 = 'manual' OR EXISTS (SELECT 1 FROM sync_schedules \
                 WHERE connection_id = ?2 AND entity = ?3 AND next_run_at <= ?9))",
        )
        .bind(&run.id)
        .bind(&run.connection_id)
        .bind(&run.entity)
        .bind(run.trigger.as_str())
        .bind(run.kind.as_str())
        .bind(&run.request_id)
        .bind(run.page_size as i64)
        .bind(&run.modified_after)
        .bind(time(run.started_at))
        .bind(&run.lease_owner)
        .bind(time(lease_until))
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if inserted {
            sqlx::query(
                "UPDATE sync_schedules SET next_run_at = ? WHERE connection_id = ? AND entity = ?",
            )
            .bind(time(next_run_at))
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
        let mut tx = self.begin().await?;
        let rows = sqlx::query(&format!(
            "UPDATE sync_runs SET lease_owner = ?1, lease_until = ?2 \
             WHERE status = 'running' \
               AND (((lease_until IS NULL OR lease_until < ?3) AND lease_owner IS NOT ?1) \
                 OR (?4 AND lease_owner = ?1)) \
             RETURNING {RUN_COLUMNS}"
        ))
        .bind(node)
        .bind(time(until))
        .bind(time(now))
        .bind(own)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut runs = collect(rows, run_from_row)?;
        runs.sort_by(|a, b| (a.started_at, &a.id).cmp(&(b.started_at, &b.id)));
        Ok(runs)
    }

    async fn renew_leases(&self, node: &str, until: SystemTime) -> Result<()> {
        sqlx::query(
            "UPDATE sync_runs SET lease_until = ?1 WHERE lease_owner = ?2 AND status = 'running'",
        )
        .bind(time(until))
        .bind(node)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn commit_page(&self, page: &PageCommit<'_>) -> Result<Option<Counts>> {
        let run = page.run;
        let mut tx = self.begin().await?;
        let live: Option<(String, String)> = sqlx::query_as(
            "SELECT c.status, r.status FROM connections c JOIN sync_runs r ON r.connection_id = c.id \
             WHERE r.id = ? AND r.lease_owner IS ?",
        )
        .bind(&run.id)
        .bind(&run.lease_owner)
        .fetch_optional(&mut *tx)
        .await?;
        if live.as_ref().map(|(c, r)| (c.as_str(), r.as_str())) != Some(("active", "running")) {
            return Ok(None);
        }

        // What is stored already, to tell added, updated and unchanged apart.
        let mut known = std::collections::HashMap::new();
        for chunk in page.records.chunks(CHUNK) {
            let mut query = QueryBuilder::<Sqlite>::new(
                "SELECT record_id, content_hash, deleted_at IS NOT NULL FROM records WHERE connection_id = ",
            );
            query.push_bind(&run.connection_id);
            query.push(" AND entity = ").push_bind(&run.entity);
            query.push(" AND record_id IN (");
            let mut ids = query.separated(", ");
            for record in chunk {
                ids.push_bind(record.id);
            }
            query.push(")");
            let rows: Vec<(String, String, bool)> = query
                .build_query_as()
                .persistent(chunk.len() == CHUNK)
                .fetch_all(&mut *tx)
                .await?;
            known.extend(
                rows.into_iter()
                    .map(|(id, hash, deleted)| (id, (hash, deleted))),
            );
        }
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
        let now = time(page.at);
        for chunk in changed.chunks(CHUNK) {
            let mut query = QueryBuilder::<Sqlite>::new(
                "INSERT INTO records (connection_id, entity, record_id, data, content_hash, first_seen_at, last_modified_at, run_id, change, seen_by_run) ",
            );
            query.push_values(chunk, |mut row, (record, change)| {
                row.push_bind(&run.connection_id)
                    .push_bind(&run.entity)
                    .push_bind(record.id)
                    .push_bind(record.json)
                    .push_bind(&record.content_hash)
                    .push_bind(&now)
                    .push_bind(&now)
                    .push_bind(&run.id)
                    .push_bind(change.as_str())
                    .push_bind(&run.id);
            });
            query.push(
                " ON CONFLICT (connection_id, entity, record_id) DO UPDATE SET data = excluded.data, \
                 content_hash = excluded.content_hash, deleted_at = NULL, last_modified_at = excluded.last_modified_at, \
                 run_id = excluded.run_id, change = excluded.change, seen_by_run = excluded.seen_by_run",
            );
            query
                .build()
                .persistent(chunk.len() == CHUNK)
                .execute(&mut *tx)
                .await?;
        }
        if run.kind == RunKind::Full {
            for chunk in unchanged.chunks(CHUNK) {
                let mut query = QueryBuilder::<Sqlite>::new("UPDATE records SET seen_by_run = ");
                query.push_bind(&run.id);
                query
                    .push(" WHERE connection_id = ")
                    .push_bind(&run.connection_id);
                query.push(" AND entity = ").push_bind(&run.entity);
                query.push(" AND record_id IN (");
                let mut ids = query.separated(", ");
                for id in chunk {
                    ids.push_bind(*id);
                }
                query.push(")");
                query
                    .build()
                    .persistent(chunk.len() == CHUNK)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        sqlx::query(
            "UPDATE sync_runs SET cursor = ?, pages = pages + 1, added = added + ?, updated = updated + ?, \
             unchanged = unchanged + ?, high_water = COALESCE(?, high_water) WHERE id = ?",
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
        Ok(Some(counts))
    }

    async fn mark_unseen_deleted(&self, run: &Run, at: SystemTime) -> Result<u64> {
        let now = time(at);
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE records SET deleted_at = ?1, last_modified_at = ?1, run_id = ?2, change = 'deleted' \
             WHERE connection_id = ?3 AND entity = ?4 AND deleted_at IS NULL AND seen_by_run IS NOT ?2",
        )
        .bind(&now)
        .bind(&run.id)
        .bind(&run.connection_id)
        .bind(&run.entity)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE sync_runs SET deleted = ? WHERE id = ?")
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
            "UPDATE sync_runs SET status = ?, error_code = ?, error_message = ?, finished_at = ?, duration_ms = ?, \
             lease_until = NULL WHERE id = ? AND status = 'running' AND lease_owner IS ?",
        )
        .bind(status.as_str())
        .bind(error.map(|e| &e.code))
        .bind(error.map(|e| &e.message))
        .bind(time(at))
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
                "UPDATE sync_schedules SET modified_after = ? WHERE connection_id = ? AND entity = ?",
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
        let row = sqlx::query(&format!("SELECT {RUN_COLUMNS} FROM sync_runs WHERE id = ?"))
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
            "SELECT {RUN_COLUMNS} FROM sync_runs WHERE connection_id = ? ORDER BY started_at DESC, id DESC LIMIT ?"
        ))
        .bind(connection)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        collect(rows, run_from_row)
    }

    async fn latest_runs(&self, connection: Option<&str>, per_schedule: u32) -> Result<Vec<Run>> {
        let rows = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM sync_runs WHERE id IN ( \
               SELECT r.id FROM sync_schedules s JOIN sync_runs r ON r.id IN ( \
                 SELECT id FROM sync_runs WHERE connection_id = s.connection_id AND entity = s.entity \
                 ORDER BY started_at DESC, id DESC LIMIT ?1) \
               WHERE ?2 IS NULL OR s.connection_id = ?2) \
             ORDER BY started_at DESC, id DESC"
        ))
        .bind(i64::from(per_schedule))
        .bind(connection)
        .fetch_all(&self.pool)
        .await?;
        collect(rows, run_from_row)
    }

    async fn run_changes(&self, run: &str) -> Result<Vec<(String, Change)>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT record_id, change FROM records WHERE run_id = ? ORDER BY record_id",
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
        let mut query = QueryBuilder::<Sqlite>::new(
            "SELECT record_id, data, content_hash, first_seen_at, last_modified_at, deleted_at, run_id \
             FROM records WHERE connection_id = ",
        );
        query.push_bind(connection);
        query.push(" AND entity = ").push_bind(entity);
        if let Some((modified, id)) = after {
            query.push(" AND (last_modified_at, record_id) > (");
            query.push_bind(modified).push(", ").push_bind(id).push(")");
        }
        if let Some(t) = modified_after {
            query.push(" AND last_modified_at > ").push_bind(t);
        }
        query.push(" ORDER BY last_modified_at, record_id LIMIT ");
        query.push_bind(limit as i64);
        let rows = query.build().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(SyncedRecord {
                    id: r.try_get(0)?,
                    data: r.try_get(1)?,
                    content_hash: r.try_get(2)?,
                    first_seen_at: r.try_get(3)?,
                    last_modified_at: r.try_get(4)?,
                    deleted_at: r.try_get(5)?,
                    run_id: r.try_get(6)?,
                })
            })
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(StorageError)
    }
}
