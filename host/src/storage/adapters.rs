//! Adapters uploaded through the API, kept in the database so that every
//! node sharing it serves them: components content-addressed by SHA-256, and
//! the one each adapter id runs.

use std::time::SystemTime;

use async_trait::async_trait;

use super::Result;

#[async_trait]
pub trait AdapterStorage: Send + Sync + 'static {
    /// Makes `component` (whose SHA-256 is `sha256`) the one `adapter` runs.
    async fn put_adapter(
        &self,
        adapter: &str,
        sha256: &str,
        component: &[u8],
        at: SystemTime,
    ) -> Result<()>;
    /// Each stored adapter id with the SHA-256 of the component it runs.
    async fn adapter_versions(&self) -> Result<Vec<(String, String)>>;
    /// The component whose SHA-256 is `sha256`.
    async fn adapter_component(&self, sha256: &str) -> Result<Option<Vec<u8>>>;
}
