//! [`NoticeStorage`] on PostgreSQL: `LISTEN`/`NOTIFY` on one channel.
//! Changes of connections and tokens are announced by triggers
//! (`migrations/postgres/0005_notices.sql`), in the transaction that makes
//! them, so they reach the other nodes exactly when they commit.

use async_trait::async_trait;
use sqlx::postgres::PgListener;

use super::PostgresStorage;
use crate::storage::Result;
use crate::storage::notices::{Notice, NoticeListener, NoticeStorage};

/// The channel every node listens to (the triggers' too).
const CHANNEL: &str = "interlink_notices";

struct Listener(PgListener);

#[async_trait]
impl NoticeListener for Listener {
    async fn next(&mut self) -> Result<Notice> {
        loop {
            // `None`: the connection was lost; the next call reconnects and
            // listens again.
            let Some(notification) = self.0.try_recv().await? else {
                return Ok(Notice::Resumed);
            };
            if let Some(notice) = Notice::parse(notification.payload()) {
                return Ok(notice);
            }
        }
    }
}

#[async_trait]
impl NoticeStorage for PostgresStorage {
    async fn listen(&self) -> Result<Option<Box<dyn NoticeListener>>> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(CHANNEL).await?;
        Ok(Some(Box::new(Listener(listener))))
    }

    async fn announce(&self, notice: &Notice) -> Result<()> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(notice.payload())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
