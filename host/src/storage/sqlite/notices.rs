//! [`NoticeStorage`] on SQLite: one node, so nothing to hear or tell.

use async_trait::async_trait;

use super::SqliteStorage;
use crate::storage::Result;
use crate::storage::notices::{Notice, NoticeListener, NoticeStorage};

#[async_trait]
impl NoticeStorage for SqliteStorage {
    async fn listen(&self) -> Result<Option<Box<dyn NoticeListener>>> {
        Ok(None)
    }

    async fn announce(&self, _notice: &Notice) -> Result<()> {
        Ok(())
    }
}
