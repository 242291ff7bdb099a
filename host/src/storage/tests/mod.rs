//! The storage conformance suite: every case runs against SQLite and
//! against PostgreSQL, including the guarantees that must hold when several
//! nodes share one database (each node is a [`Store`] of its own on the
//! same database, racing the others).
//!
//! The PostgreSQL cases need a server: `cargo xtask test` starts one and
//! hands its admin URL over in `INTERLINK_TEST_POSTGRES_URL`; each case makes
//! a database of its own there.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::future::join_all;

use super::requests::{FailedRequest, FailedRequestFilter};
use super::sessions::{ConnectSession, DashboardSession, FieldRequest, Preset};
use super::syncs::*;
use super::webhooks::{Attempt, DeliveryStatus, Outcome, Subscription};
use super::*;

/// One database, and how to open it again as another node would.
enum Backend {
    Sqlite(tempfile::TempDir),
    Postgres(String),
}

impl Backend {
    async fn sqlite() -> Backend {
        Backend::Sqlite(tempfile::tempdir().unwrap())
    }

    async fn postgres() -> Backend {
        let admin = std::env::var("INTERLINK_TEST_POSTGRES_URL").expect(
            "the PostgreSQL tests need a server: run them with `cargo xtask test`, \
             or set INTERLINK_TEST_POSTGRES_URL to a server's admin URL",
        );
        Backend::Postgres(
            postgres::PostgresStorage::new_database(&admin)
                .await
                .unwrap(),
        )
    }

    /// A node: the database, opened (and migrated) once more.
    async fn node(&self) -> Arc<dyn Store> {
        match self {
            Backend::Sqlite(dir) => Arc::new(
                sqlite::SqliteStorage::open(&dir.path().join("test.db"))
                    .await
                    .unwrap(),
            ),
            Backend::Postgres(url) => Arc::new(postgres::PostgresStorage::open(url).await.unwrap()),
        }
    }

    /// A node, and its pool: to count the statements its connections keep
    /// prepared.
    async fn node_with_pool(&self) -> (Arc<dyn Store>, Pool) {
        match self {
            Backend::Sqlite(dir) => {
                let node = sqlite::SqliteStorage::open(&dir.path().join("test.db"))
                    .await
                    .unwrap();
                let pool = Pool::Sqlite(node.pool().clone());
                (Arc::new(node), pool)
            }
            Backend::Postgres(url) => {
                let node = postgres::PostgresStorage::open(url).await.unwrap();
                let pool = Pool::Postgres(node.pool().clone());
                (Arc::new(node), pool)
            }
        }
    }

    async fn nodes(&self, n: usize) -> Vec<Arc<dyn Store>> {
        let mut nodes = Vec::new();
        for _ in 0..n {
            nodes.push(self.node().await);
        }
        nodes
    }
}

/// A node's connection pool.
enum Pool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Pool {
    /// All the pool's connections but one, held: until the answer is
    /// dropped, the node runs every statement on that one.
    async fn all_but_one(&self) -> Box<dyn Send> {
        async fn take<DB: sqlx::Database>(
            pool: &sqlx::Pool<DB>,
        ) -> Vec<sqlx::pool::PoolConnection<DB>> {
            let mut held = Vec::new();
            for _ in 1..pool.options().get_max_connections() {
                held.push(pool.acquire().await.unwrap());
            }
            held
        }
        match self {
            Pool::Sqlite(pool) => Box::new(take(pool).await),
            Pool::Postgres(pool) => Box::new(take(pool).await),
        }
    }

    /// The statements the connection [`Pool::all_but_one`] left keeps
    /// prepared (sqlx's statement cache, one per connection), once the node
    /// gave it back.
    async fn kept_statements(&self) -> usize {
        async fn kept<DB: sqlx::Database + sqlx::database::HasStatementCache>(
            pool: &sqlx::Pool<DB>,
        ) -> usize {
            use sqlx::Connection as _;
            pool.acquire().await.unwrap().cached_statements_size()
        }
        match self {
            Pool::Sqlite(pool) => kept(pool).await,
            Pool::Postgres(pool) => kept(pool).await,
        }
    }
}

/// A time the database keeps exactly (whole microseconds).
fn at(seconds: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + seconds)
}

fn connection(id: &str) -> Connection {
    Connection {
        id: id.into(),
        adapter_id: "example".into(),
        adapter_version: "1.0.0".into(),
        status: Status::Active,
        config: [("base_url".to_string(), "http://127.0.0.1:1".to_string())].into(),
        credentials: vec![1, 2, 3],
        account_id: "a".into(),
        account_name: "A".into(),
        permissions: vec!["vendors.read".into()],
        custom_fields: vec![],
        status_reason: None,
        status_changed_at: at(0),
        last_error: None,
        created_at: at(0),
        disconnected_at: None,
        audit_bodies: false,
        field_mappings: vec![],
    }
}

fn token(id: &str, connection: &str) -> StoredToken {
    StoredToken {
        id: id.into(),
        connection_id: connection.into(),
        name: "default".into(),
        scopes: vec!["read".into()],
        expires_at: None,
        created_at: at(0),
        last_used_at: None,
        revoked_at: None,
    }
}

/// `id` with its first token (whose hash is `[n; 32]`), in a pool of
/// `credits`.
async fn insert(store: &dyn Store, id: &str, n: u8, credits: u32) -> bool {
    store
        .insert_connection(
            &connection(id),
            &token(&format!("tok_{id}"), id),
            &[n; 32],
            credits,
        )
        .await
        .unwrap()
}

fn schedule(entity: &str, t: SystemTime) -> Schedule {
    Schedule {
        connection_id: "c1".into(),
        entity: entity.into(),
        interval: Duration::from_secs(60),
        page_size: 10,
        backfill_since: None,
        modified_after: None,
        next_run_at: t,
        created_at: t,
    }
}

/// How long the tests' runs are leased.
const LEASE: Duration = Duration::from_secs(30);

/// A lease from now on.
fn lease() -> SystemTime {
    SystemTime::now() + LEASE
}

async fn commit(store: &dyn Store, run: &Run, records: &[(&str, &str)]) -> Option<Counts> {
    let records: Vec<PageRecord> = records
        .iter()
        .map(|(id, json)| PageRecord {
            id,
            json,
            content_hash: content_hash(json),
        })
        .collect();
    let page = PageCommit {
        run,
        records: &records,
        next_cursor: Some("next"),
        high_water: None,
        at: SystemTime::now(),
    };
    store.commit_page(&page).await.unwrap()
}

/// Each case, once on SQLite and once on PostgreSQL.
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::Backend::sqlite().await).await
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::Backend::postgres().await).await
                }
            )*
        }
    };
}

mod adapters;
mod audit;
mod connections;
mod kv;
mod limits;
mod sessions;
mod syncs;
mod webhooks;
