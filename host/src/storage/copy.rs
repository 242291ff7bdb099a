//! Copies an SQLite database into an empty PostgreSQL one: how a host moves
//! from one node on SQLite to PostgreSQL (`interlink db copy`).
//!
//! The copy is table by table, in one PostgreSQL transaction (all or
//! nothing), in the order foreign keys need. Each column is converted to its
//! PostgreSQL type: SQLite's RFC 3339 text times become `timestamptz`,
//! blobs `bytea`, integers `bigint`. Rows are streamed, not loaded whole.

use std::path::Path;

use anyhow::{Context, Result, bail};
use futures::TryStreamExt;
use sqlx::{QueryBuilder, Row};

use super::postgres::PostgresStorage;
use super::sqlite::SqliteStorage;
use crate::timestamps;

/// Every table, parents before children. The state calls share (`kv`,
/// `budgets`, `upstream_slots`) is not copied: it is cached or lasts
/// seconds, and fills again. Nor are the adapter tables, which only nodes
/// on PostgreSQL fill: the first node publishes its folder's adapters; nor
/// the MCP door's confirm tokens, which last minutes.
const TABLES: &[&str] = &[
    "settings",
    "connections",
    "connection_tokens",
    "records",
    "idempotency_keys",
    "sync_schedules",
    "sync_runs",
    "webhook_subscriptions",
    "webhook_deliveries",
    "webhook_attempts",
    "connect_sessions",
    "dashboard_sessions",
    "failed_requests",
    "audit_log",
];

/// Rows per `INSERT`: well under PostgreSQL's 65,535 parameters for the
/// widest table (21 columns).
const BATCH: usize = 1000;

/// A column's value on its way from SQLite to PostgreSQL.
enum Value {
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
    Integer(Option<i64>),
    Time(Option<time::OffsetDateTime>),
}

/// The PostgreSQL types of the schema's columns.
#[derive(Clone, Copy)]
enum Type {
    Text,
    Bytes,
    Integer,
    Time,
}

/// The rows copied, per table.
pub type Copied = Vec<(&'static str, u64)>;

/// Copies the SQLite database at `from` into the PostgreSQL database at `to`,
/// which must hold no data yet (its tables are created if needed). Both are
/// migrated to the current schema first.
///
/// # Errors
///
/// `from` does not exist, or either database cannot be opened or migrated;
/// the PostgreSQL database holds data already; a value cannot be read or
/// converted (a time that is not one), or a column has a type the copy does
/// not know; a query failed. The transaction is then rolled back: nothing
/// is copied.
pub async fn sqlite_to_postgres(from: &Path, to: &str) -> Result<Copied> {
    if !from.exists() {
        bail!("{} does not exist", from.display());
    }
    let source = SqliteStorage::open(from)
        .await
        .with_context(|| format!("opening {}", from.display()))?;
    let target = PostgresStorage::open(to).await?;
    let mut tx = target.pool().begin().await?;
    for table in TABLES {
        let any: bool = sqlx::query_scalar(&format!("SELECT EXISTS (SELECT 1 FROM {table})"))
            .fetch_one(&mut *tx)
            .await?;
        if any {
            bail!("the PostgreSQL database is not empty ({table} has rows); copy into a new one");
        }
    }
    let mut copied = Vec::new();
    for table in TABLES {
        let columns = columns(&mut tx, table).await?;
        let names: Vec<&str> = columns.iter().map(|(name, _)| name.as_str()).collect();
        // `seq` (of the failed requests and the audit trail) is generated
        // again, in the same order.
        let order = if ["failed_requests", "audit_log"].contains(table) {
            " ORDER BY seq"
        } else {
            ""
        };
        let select = format!("SELECT {} FROM {table}{order}", names.join(", "));
        let mut rows = sqlx::query(&select).fetch(source.pool());
        let mut batch: Vec<Vec<Value>> = Vec::with_capacity(BATCH);
        let mut count = 0;
        while let Some(row) = rows.try_next().await? {
            let values = columns
                .iter()
                .enumerate()
                .map(|(i, (name, kind))| {
                    read(&row, i, *kind).with_context(|| format!("reading {table}.{name}"))
                })
                .collect::<Result<Vec<_>>>()?;
            batch.push(values);
            if batch.len() == BATCH {
                count += insert(&mut tx, table, &names, &mut batch).await?;
            }
        }
        count += insert(&mut tx, table, &names, &mut batch).await?;
        copied.push((*table, count));
    }
    tx.commit().await?;
    Ok(copied)
}

/// The columns of `table` in PostgreSQL that a copy writes, with their types.
async fn columns(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    table: &str,
) -> Result<Vec<(String, Type)>> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text, is_generated::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
    )
    .bind(table)
    .fetch_all(&mut **tx)
    .await?;
    rows.into_iter()
        .filter(|(name, _, generated)| generated == "NEVER" && name != "seq")
        .map(|(name, data_type, _)| {
            let kind = match data_type.as_str() {
                "text" => Type::Text,
                "bytea" => Type::Bytes,
                "bigint" => Type::Integer,
                "timestamp with time zone" => Type::Time,
                other => bail!("{table}.{name} has a type the copy does not know: {other}"),
            };
            Ok((name, kind))
        })
        .collect()
}

fn read(row: &sqlx::sqlite::SqliteRow, i: usize, kind: Type) -> Result<Value> {
    Ok(match kind {
        Type::Text => Value::Text(row.try_get(i)?),
        Type::Bytes => Value::Bytes(row.try_get(i)?),
        Type::Integer => Value::Integer(row.try_get(i)?),
        Type::Time => Value::Time(
            row.try_get::<Option<String>, _>(i)?
                .map(|text| {
                    timestamps::parse(&text).with_context(|| format!("{text:?} is not a time"))
                })
                .transpose()?,
        ),
    })
}

/// Inserts `batch` (and empties it); answers how many rows.
async fn insert(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    table: &str,
    columns: &[&str],
    batch: &mut Vec<Vec<Value>>,
) -> Result<u64> {
    if batch.is_empty() {
        return Ok(0);
    }
    let mut query = QueryBuilder::<sqlx::Postgres>::new(format!(
        "INSERT INTO {table} ({}) ",
        columns.join(", ")
    ));
    query.push_values(batch.drain(..), |mut row, values| {
        for value in values {
            match value {
                Value::Text(v) => row.push_bind(v),
                Value::Bytes(v) => row.push_bind(v),
                Value::Integer(v) => row.push_bind(v),
                Value::Time(v) => row.push_bind(v),
            };
        }
    });
    let done = query.build().execute(&mut **tx).await?;
    Ok(done.rows_affected())
}
