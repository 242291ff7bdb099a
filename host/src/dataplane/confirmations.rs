//! Confirmed writes: a door that shows a write's plan before sending it
//! (the MCP door) keeps, for each plan, a token good for one send. The
//! token is issued here for the calling connection, bound to what the door
//! says the plan was for, and taken out by its first use. It is stored as
//! its SHA-256 only ([`crate::storage::confirmations`]), so every node of a
//! shared database knows it and only one of them can take it.

use std::time::{Duration, SystemTime};

use super::{Caller, DataError, DataPlane};
use crate::connections::{new_secret, token_hash};
use crate::storage::confirmations::Confirmation;

impl DataPlane {
    /// Issues a token for `caller`'s connection, bound to `binding`, good
    /// once within `ttl`.
    ///
    /// # Errors
    ///
    /// The database failed.
    pub async fn issue_confirmation(
        &self,
        caller: &Caller,
        binding: String,
        ttl: Duration,
    ) -> Result<String, DataError> {
        let token = new_secret("ilk_confirm_");
        let now = SystemTime::now();
        let confirmation = Confirmation {
            token_hash: token_hash(&token),
            connection_id: caller.connection().id.clone(),
            binding,
            expires_at: now + ttl,
        };
        self.store.insert_confirmation(&confirmation, now).await?;
        Ok(token)
    }

    /// Takes `token` out: answers its binding if it was issued to
    /// `caller`'s connection and has not expired, `None` otherwise. A token
    /// is answered at most once.
    ///
    /// # Errors
    ///
    /// The database failed.
    pub async fn take_confirmation(
        &self,
        caller: &Caller,
        token: &str,
    ) -> Result<Option<String>, DataError> {
        let taken = self
            .store
            .take_confirmation(
                &token_hash(token),
                &caller.connection().id,
                SystemTime::now(),
            )
            .await?;
        Ok(taken)
    }
}
