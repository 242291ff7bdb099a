//! `notifications/tools/list_changed`: when the registry swaps or unloads an
//! adapter ([`Registry::changes`]), each open session (protocol versions
//! before 2026-07-28) and each subscription (`subscriptions/listen`,
//! 2026-07-28) of a connection of that adapter is told that its tools
//! changed; the client lists them again.

use rmcp::model::ErrorData as McpError;
use rmcp::service::{Peer, RoleServer, SubscriptionContext};
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::registry::Registry;

/// Waits for the next change of `adapter`; false once the registry is gone.
/// A receiver that lagged may have missed one: that counts as a change.
async fn next_change(changes: &mut Receiver<String>, adapter: &str) -> bool {
    loop {
        match changes.recv().await {
            Ok(id) if id != adapter => continue,
            Ok(_) | Err(RecvError::Lagged(_)) => return true,
            Err(RecvError::Closed) => return false,
        }
    }
}

/// Tells `peer`, a session of a connection of `adapter`, of each change of
/// the adapter, until the session ends (`ended`) or its transport closes.
pub fn watch_session(
    registry: &Registry,
    adapter: String,
    peer: Peer<RoleServer>,
    ended: CancellationToken,
) {
    let mut changes = registry.changes();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = ended.cancelled() => return,
                changed = next_change(&mut changes, &adapter) => if !changed {
                    return;
                },
            }
            if peer.notify_tool_list_changed().await.is_err() {
                return;
            }
        }
    });
}

/// Runs one subscription of a connection of `adapter`: tells it of each
/// change of the adapter until the client ends it.
///
/// # Errors
///
/// The notification could not be sent.
pub async fn listen(
    registry: &Registry,
    adapter: &str,
    context: SubscriptionContext,
) -> Result<(), McpError> {
    let mut changes = registry.changes();
    loop {
        tokio::select! {
            () = context.cancelled() => return Ok(()),
            changed = next_change(&mut changes, adapter) => if !changed {
                return Ok(());
            },
        }
        context
            .sink()
            .notify_tool_list_changed()
            .await
            .map_err(|e| McpError::internal_error(e.to_string(), None))?;
    }
}
