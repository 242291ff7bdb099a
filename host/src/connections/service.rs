//! The connection lifecycle: connect, fail, disconnect.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};
use thiserror::Error;

use super::cache::{Authenticated, TokenCache, TokenOwner};
use super::config::{ConfigError, split_config};
use super::tokens::{Grant, Scopes, TokenUse};
use super::{Connection, LastError, OpenConnection, Status, new_token, token_hash};
use crate::certificates::key::KeyKind;
use crate::contract::{AdapterError, FieldError};
use crate::manifest::ConfigType;
use crate::outbound::{HttpClient, OutboundError};
use crate::registry::Registry;
use crate::runtime::{Adapter, CallContext, CallError, PLATFORM_KEY, Secrets};
use crate::secret_box::{SecretBox, SecretBoxError};
use crate::storage::{Heard, StorageError, Store, StoredToken};
use crate::webhooks::Webhooks;

/// A request to connect an account.
#[derive(Debug, Clone)]
pub struct NewConnection {
    pub adapter: String,
    pub config: Map<String, Value>,
    pub credentials: Map<String, Value>,
    /// A connection this one replaces (a reconnect): disconnected once the new
    /// credentials are verified, so its credit passes to the new one.
    pub replaces: Option<String>,
    /// Whether a private key may be the host's platform key, and for what.
    pub platform_key: PlatformKeyUse,
}

/// Who may have a new connection sign with the host's platform key. Every
/// connection that uses it signs with the same key, which the systems of
/// all of them trust: a connection to another customer's account, named
/// with that account's identifiers, would be let in. So the platform key is
/// used only where the operator enrolled it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlatformKeyUse {
    /// The operator's own request (the admin API): the operator enrols the
    /// account by making the connection.
    Operator,
    /// A connect link the operator bound to these config values (of the
    /// ones that pick the system, such as NetSuite's `account_id`): a
    /// connection through it may use the platform key with exactly these
    /// values, and none for the fields that pick the system it does not
    /// name.
    BoundTo(BTreeMap<String, String>),
    /// A connect link the operator did not bind: the platform key is not
    /// offered.
    NotOffered,
}

/// Why a connection was not created.
#[derive(Debug, Error)]
pub enum ConnectError {
    #[error("no adapter `{0}` is loaded")]
    UnknownAdapter(String),
    #[error("the config does not fit the adapter")]
    Config(ConfigError),
    #[error("the system rejected the credentials: {0}")]
    CredentialsRejected(String),
    #[error("the adapter could not verify the connection: {0}")]
    Call(CallError),
    #[error(
        "all {total} connection credits are in use; disconnect a connection or raise --credits"
    )]
    NoCredits { total: u32 },
    #[error("connection `{0}`, which this one replaces, does not exist")]
    UnknownReplaced(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Refuses a connection that would sign with the platform key where the
/// operator did not enrol it (see [`PlatformKeyUse`]), before the system is
/// asked anything.
fn check_platform_key(
    adapter: &Adapter,
    rule: &PlatformKeyUse,
    config: &BTreeMap<String, String>,
    secrets: &BTreeMap<String, String>,
) -> Result<(), ConnectError> {
    let Some(field) = adapter.manifest().config.iter().find(|f| {
        f.kind == ConfigType::PrivateKey
            && secrets.get(&f.name).map(String::as_str) == Some(PLATFORM_KEY)
    }) else {
        return Ok(());
    };
    let refuse = |path: String, message: String| {
        Err(ConnectError::Config(ConfigError(vec![FieldError {
            path,
            code: "platform_key_not_enrolled".into(),
            message,
        }])))
    };
    match rule {
        PlatformKeyUse::Operator => Ok(()),
        PlatformKeyUse::NotOffered => refuse(
            format!("/credentials/{}", field.name),
            "this link does not offer the service's certificate: use your own key pair".into(),
        ),
        PlatformKeyUse::BoundTo(bound) => {
            // Every field that picks the system is as bound: a value the
            // binding does not name stays unset.
            let names = adapter
                .system_fields()
                .chain(bound.keys().map(String::as_str));
            for name in names {
                if config.get(name) == bound.get(name) {
                    continue;
                }
                let message = match bound.get(name) {
                    Some(value) => format!(
                        "the service's certificate is enrolled for another `{name}`: use \
                         `{value}`, or your own key pair"
                    ),
                    None => format!(
                        "with the service's certificate, `{name}` is set by the service: leave \
                         it empty, or use your own key pair"
                    ),
                };
                return refuse(format!("/config/{name}"), message);
            }
            Ok(())
        }
    }
}

/// Connections and the credit pool.
pub struct Connections {
    pub(super) storage: Arc<dyn Store>,
    pub(super) registry: Arc<Registry>,
    pub(super) secret_box: SecretBox,
    credits: u32,
    /// The kind of the platform certificate's key, when the host has one.
    platform: Option<KeyKind>,
    /// Where status changes are announced, and pending deliveries dropped.
    webhooks: Option<Arc<Webhooks>>,
    /// The outbound client that resolves URL config values, which must pass
    /// the adapter's network policy.
    outbound: Option<HttpClient>,
    /// Creates are serialized, so the credit count and the insert cannot race.
    creating: tokio::sync::Mutex<()>,
    /// Connections by token hash, for the request path.
    pub(super) cache: TokenCache,
    /// Until when the cache is known to hold every other node's changes
    /// (on a shared database; never otherwise).
    heard: Arc<Heard>,
    /// When tokens were last used, until written.
    pub(super) token_use: TokenUse,
}

/// Why a token's connection could not be read.
#[derive(Debug, Error)]
pub enum LookupError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("the connection's credentials cannot be opened: {0}")]
    Secrets(#[from] SecretBoxError),
}

impl Connections {
    pub fn new(
        storage: Arc<dyn Store>,
        registry: Arc<Registry>,
        secret_box: SecretBox,
        credits: u32,
    ) -> Self {
        Connections {
            storage,
            registry,
            secret_box,
            credits,
            platform: None,
            webhooks: None,
            outbound: None,
            creating: Default::default(),
            cache: TokenCache::default(),
            heard: Arc::new(Heard::new(Duration::ZERO)),
            token_use: TokenUse::default(),
        }
    }

    /// On a shared database: remembered tokens are used without asking
    /// the database while `heard` says every other node's change has been
    /// applied ([`Connections::changed`], [`Connections::forget_all`]).
    pub fn hearing(mut self, heard: Arc<Heard>) -> Self {
        self.heard = heard;
        self
    }

    /// Another node changed `connection` or one of its tokens: what this
    /// node remembers of it is forgotten.
    pub fn changed(&self, connection: &str) {
        self.cache.invalidate(connection);
    }

    /// This node may have missed another node's change: everything it
    /// remembers is forgotten.
    pub fn forget_all(&self) {
        self.cache.forget_all();
    }

    /// Lets connections use the platform certificate, whose key is `kind`.
    pub fn with_platform_certificate(mut self, kind: KeyKind) -> Self {
        self.platform = Some(kind);
        self
    }

    /// Checks URL config values with `client`, against the adapter's network
    /// policy, when a connection is made, so that a refused address is a
    /// clear config error (requests to it would be refused anyway).
    pub fn with_outbound(mut self, client: HttpClient) -> Self {
        self.outbound = Some(client);
        self
    }

    /// Every URL config value must point at an address `adapter`'s network
    /// policy allows.
    async fn check_addresses(
        &self,
        adapter: &Adapter,
        config: &BTreeMap<String, String>,
    ) -> Result<(), ConfigError> {
        let fields = &adapter.manifest().config;
        let Some(client) = &self.outbound else {
            return Ok(());
        };
        let mut errors = Vec::new();
        for field in fields.iter().filter(|f| f.kind == ConfigType::Url) {
            let Some(url) = config
                .get(&field.name)
                .and_then(|v| url::Url::parse(v).ok())
            else {
                continue;
            };
            let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
                continue;
            };
            if let Err(OutboundError::Refused(why)) =
                client.resolve(host, port, adapter.network()).await
            {
                errors.push(FieldError {
                    path: format!("/config/{}", field.name),
                    code: "address_refused".into(),
                    message: why,
                });
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(errors))
        }
    }

    /// Announces status changes to the connections' webhook subscribers.
    pub fn with_webhooks(mut self, webhooks: Arc<Webhooks>) -> Self {
        self.webhooks = Some(webhooks);
        self
    }

    /// The size of the credit pool.
    pub fn credits(&self) -> u32 {
        self.credits
    }

    /// How many credits active connections hold.
    ///
    /// # Errors
    ///
    /// The database failed.
    pub async fn credits_used(&self) -> Result<u32, StorageError> {
        self.storage.credits_used().await
    }

    /// The connection `id`, in whatever status, or `None`.
    ///
    /// # Errors
    ///
    /// The database failed.
    pub async fn get(&self, id: &str) -> Result<Option<Connection>, StorageError> {
        self.storage.connection(id).await
    }

    /// Every connection, in whatever status.
    ///
    /// # Errors
    ///
    /// The database failed.
    pub async fn list(&self) -> Result<Vec<Connection>, StorageError> {
        self.storage.connections().await
    }

    /// How many synced records `id` keeps, by entity.
    ///
    /// # Errors
    ///
    /// The database failed.
    pub async fn record_counts(&self, id: &str) -> Result<BTreeMap<String, u64>, StorageError> {
        self.storage.record_counts(id).await
    }

    /// Verifies the credentials with the adapter's `connect`, then stores the
    /// connection and takes a credit. Answers it with its API token, which is
    /// not stored and cannot be shown again.
    ///
    /// # Errors
    ///
    /// - [`ConnectError::UnknownAdapter`] when no adapter `request.adapter`
    ///   is loaded;
    /// - [`ConnectError::Config`] when the config or credentials do not fit
    ///   the adapter ([`split_config`]), a private key is the platform key
    ///   where `request.platform_key` does not allow it
    ///   (`platform_key_not_enrolled`), or a URL value points at an address
    ///   the adapter's network policy refuses (`address_refused`);
    /// - [`ConnectError::UnknownReplaced`] when the connection
    ///   `request.replaces` names does not exist;
    /// - [`ConnectError::NoCredits`] when every credit is held, and the
    ///   replaced connection, if any, holds none;
    /// - [`ConnectError::CredentialsRejected`] when the adapter's `connect`
    ///   answers that the system refused the credentials,
    ///   [`ConnectError::Call`] when it fails otherwise;
    /// - [`ConnectError::Storage`] when the database failed.
    pub async fn create(
        &self,
        request: NewConnection,
    ) -> Result<(Connection, String), ConnectError> {
        let adapter = self
            .registry
            .get(&request.adapter)
            .ok_or_else(|| ConnectError::UnknownAdapter(request.adapter.clone()))?;
        let (config, secrets) = split_config(
            &adapter.manifest().config,
            &request.config,
            &request.credentials,
            self.platform,
        )
        .map_err(ConnectError::Config)?;
        check_platform_key(&adapter, &request.platform_key, &config, &secrets)?;
        self.check_addresses(&adapter, &config)
            .await
            .map_err(ConnectError::Config)?;
        let replaced = match &request.replaces {
            Some(id) => Some(
                self.storage
                    .connection(id)
                    .await?
                    .ok_or_else(|| ConnectError::UnknownReplaced(id.clone()))?,
            ),
            None => None,
        };
        let frees_a_credit = replaced
            .as_ref()
            .is_some_and(|c| c.status != Status::Disconnected);
        if !frees_a_credit && self.storage.credits_used().await? >= self.credits {
            return Err(ConnectError::NoCredits {
                total: self.credits,
            });
        }

        let id = format!("conn_{}", uuid::Uuid::now_v7().simple());
        let ctx = CallContext {
            connection_id: id.clone(),
            config: config.clone(),
            secrets: Secrets::new(secrets.clone()),
        };
        let account = adapter.connect(ctx).await.map_err(|e| match e {
            CallError::Adapter(AdapterError::Unauthorized { message }) => {
                ConnectError::CredentialsRejected(message)
            }
            other => ConnectError::Call(other),
        })?;

        let now = SystemTime::now();
        let sealed = self
            .secret_box
            .seal(&serde_json::to_vec(&secrets).expect("maps serialize"), &id);
        let connection = Connection {
            id,
            adapter_id: adapter.id().to_string(),
            adapter_version: adapter.manifest().version.clone(),
            status: Status::Active,
            config,
            credentials: sealed,
            account_id: account.id,
            account_name: account.name,
            permissions: account.permissions,
            custom_fields: account.custom_fields,
            status_reason: None,
            status_changed_at: now,
            last_error: None,
            created_at: now,
            disconnected_at: None,
            audit_bodies: false,
            // A connection made again keeps the names its customer uses.
            field_mappings: replaced
                .as_ref()
                .map(|old| old.field_mappings.clone())
                .unwrap_or_default(),
        };
        let token = new_token();
        let first = StoredToken {
            id: super::tokens::new_token_id(),
            connection_id: connection.id.clone(),
            name: "default".into(),
            scopes: Scopes::full().written(),
            expires_at: None,
            created_at: now,
            last_used_at: None,
            revoked_at: None,
        };
        let _creating = self.creating.lock().await;
        // The replaced connection is disconnected in the insert's own
        // transaction: its credit cannot go to a create on another node in
        // between, leaving the customer with neither connection.
        let replaces = replaced.as_ref().map(|old| old.id.as_str());
        if !self
            .storage
            .create_connection(
                &connection,
                &first,
                &token_hash(&token),
                self.credits,
                replaces,
            )
            .await?
        {
            return Err(ConnectError::NoCredits {
                total: self.credits,
            });
        }
        // The new connection exists: a failure now must not hide its token.
        // (The kv purge deletes a disconnected connection's store anyway.)
        if let Some(old) = replaces
            && let Err(e) = self.disconnected(old).await
        {
            tracing::warn!(connection = %old, error = %e, "could not clear the replaced connection");
        }
        tracing::info!(connection = %connection.id, adapter = %connection.adapter_id, account = %connection.account_id, "connection created");
        Ok((connection, token))
    }

    /// Disconnects `id`: its token stops working at once, its credit
    /// returns to the pool, no sync run starts any more (a running one stops
    /// at its next page), its pending webhook deliveries are dropped and its
    /// kv store deleted; its stored records stay. Answers the connection as
    /// it is now, or `None` if there is no such connection.
    ///
    /// # Errors
    ///
    /// The database failed.
    pub async fn disconnect(&self, id: &str) -> Result<Option<Connection>, StorageError> {
        if self.storage.disconnect(id, SystemTime::now()).await? {
            tracing::info!(connection = %id, "connection disconnected");
        }
        self.disconnected(id).await?;
        self.storage.connection(id).await
    }

    /// Sets whether the audit trail keeps the (redacted) bodies of `id`'s
    /// upstream exchanges; the next call follows it (on every node: the
    /// change is announced like a status change). Answers the connection,
    /// or `None` when there is none.
    ///
    /// # Errors
    ///
    /// The database failed.
    pub async fn set_audit_bodies(
        &self,
        id: &str,
        on: bool,
    ) -> Result<Option<Connection>, StorageError> {
        if !self.storage.set_audit_bodies(id, on).await? {
            return Ok(None);
        }
        self.cache.invalidate(id);
        self.storage.connection(id).await
    }

    /// What follows a disconnect: the connection leaves the cache, and its
    /// pending deliveries and kv store go. (A call still running may write
    /// the store again; the kv purge deletes that.)
    async fn disconnected(&self, id: &str) -> Result<(), StorageError> {
        self.cache.invalidate(id);
        if let Some(webhooks) = &self.webhooks {
            webhooks.drop_pending(id).await?;
        }
        self.storage.kv_clear(id).await?;
        Ok(())
    }

    /// Deletes what the host keeps for `id`'s calls: its stored records and
    /// its kv store (cached access tokens are fetched again). Answers how
    /// many records.
    ///
    /// # Errors
    ///
    /// The database failed.
    pub async fn delete_data(&self, id: &str) -> Result<u64, StorageError> {
        let records = self.storage.delete_records(id).await?;
        let keys = self.storage.kv_clear(id).await?;
        tracing::info!(connection = %id, records, keys, "connection data deleted");
        Ok(records)
    }

    /// The token that hashes to `token_hash` and its connection, from
    /// memory when it was read before and has not changed since (revoked and
    /// expired tokens too: the caller refuses them). An active connection
    /// comes with its secrets opened, ready for calls.
    ///
    /// On a shared database, a remembered token is used without a statement
    /// while this node has heard the other nodes' changes recently enough
    /// ([`Connections::hearing`]), and checked against the database first
    /// otherwise.
    ///
    /// # Errors
    ///
    /// [`LookupError::Storage`] when the database failed;
    /// [`LookupError::Secrets`] when an active connection's credentials
    /// cannot be opened ([`Connections::open`]).
    pub async fn by_token(
        &self,
        token_hash: &[u8; 32],
    ) -> Result<Option<Authenticated>, LookupError> {
        if let Some(entry) = self.cache.get(token_hash) {
            if !self.storage.shared()
                || self.heard.current(tokio::time::Instant::now())
                || self.still_holds(token_hash, &entry).await?
            {
                return Ok(Some(entry));
            }
            self.cache.invalidate(&entry.owner.connection().id);
        }
        let generation = self.cache.generation();
        let Some((token, connection)) = self.storage.token_by_hash(token_hash).await? else {
            return Ok(None);
        };
        let owner = match connection.status {
            Status::Active => TokenOwner::Active(Arc::new(self.open(connection)?)),
            _ => TokenOwner::Inactive(Arc::new(connection)),
        };
        let entry = Authenticated {
            grant: Arc::new(Grant::of(&token)),
            owner,
        };
        self.cache.insert(generation, *token_hash, entry.clone());
        Ok(Some(entry))
    }

    /// Whether `entry`, remembered for `token_hash`, is still what the
    /// database holds: on a database other nodes share, any of them may
    /// have revoked the token or changed its connection's status since (one
    /// indexed read, where a miss costs a join, a decryption and a parse).
    async fn still_holds(
        &self,
        token_hash: &[u8; 32],
        entry: &Authenticated,
    ) -> Result<bool, StorageError> {
        let remembered = (entry.owner.connection().status, entry.grant.revoked);
        Ok(self.storage.token_state(token_hash).await? == Some(remembered))
    }

    /// The connection `id`, read from the database, with its secrets opened
    /// if it is active; `None` if it is not (anymore).
    ///
    /// # Errors
    ///
    /// As [`Connections::by_token`].
    pub async fn open_active(&self, id: &str) -> Result<Option<OpenConnection>, LookupError> {
        match self.storage.connection(id).await? {
            Some(connection) if connection.status == Status::Active => {
                Ok(Some(self.open(connection)?))
            }
            _ => Ok(None),
        }
    }

    /// `connection` with its secrets opened, ready for calls.
    ///
    /// # Errors
    ///
    /// [`SecretBoxError::Decrypt`] when its credentials do not open with
    /// this host's secret key, or do not hold a map of secrets.
    pub fn open(&self, connection: Connection) -> Result<OpenConnection, SecretBoxError> {
        let plain = self
            .secret_box
            .open(&connection.credentials, &connection.id)?;
        let secrets = serde_json::from_slice(&plain).map_err(|_| SecretBoxError::Decrypt)?;
        Ok(OpenConnection {
            ctx: CallContext {
                connection_id: connection.id.clone(),
                config: connection.config.clone(),
                secrets: Secrets::new(secrets),
            },
            connection,
        })
    }

    /// Records a failed request; when the system rejected the credentials,
    /// the connection now requires reauthorization.
    ///
    /// # Errors
    ///
    /// The database failed.
    pub async fn request_failed(
        &self,
        connection: &Connection,
        error: LastError,
        credentials_rejected: bool,
    ) -> Result<(), StorageError> {
        self.storage.record_error(&connection.id, &error).await?;
        if credentials_rejected && connection.status == Status::Active {
            tracing::warn!(connection = %connection.id, adapter = %connection.adapter_id, reason = %error.message, "connection requires reauthorization");
            let reason = format!("the system rejected the credentials: {}", error.message);
            self.storage
                .set_status(
                    &connection.id,
                    Status::RequiresReauthorization,
                    &reason,
                    error.at,
                )
                .await?;
            self.cache.invalidate(&connection.id);
            if let Some(webhooks) = &self.webhooks {
                let payload = serde_json::json!({
                    "status": "requires_reauthorization",
                    "previous_status": "active",
                    "reason": reason,
                });
                webhooks
                    .emit(&connection.id, "connection.status_changed", None, payload)
                    .await;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::runtime::{MemoryKv, Runtime, RuntimeConfig, Services};
    use crate::storage::postgres::PostgresStorage;

    /// A node's connections on the database at `url`, with no adapters.
    async fn node(url: &str, adapters: &std::path::Path) -> Connections {
        let outbound = HttpClient::new(1 << 20, None).unwrap();
        let services = Services::new(Arc::new(outbound), Arc::new(MemoryKv::default()));
        let runtime = Runtime::new(RuntimeConfig::default(), services, None).unwrap();
        let store = PostgresStorage::open(url).await.unwrap();
        let registry = Arc::new(Registry::new(runtime, adapters));
        Connections::new(Arc::new(store), registry, SecretBox::new([3; 32]), 10)
    }

    fn status(entry: Option<Authenticated>) -> (Status, bool) {
        let entry = entry.expect("the token is known");
        (entry.owner.connection().status, entry.grant.revoked)
    }

    /// What one node remembers about a token is checked against the
    /// database before each use when nodes share it: a disconnect (or a
    /// revocation) on another node refuses the token at once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_change_on_one_node_is_seen_by_the_next_request_on_another() {
        let admin = std::env::var("INTERLINK_TEST_POSTGRES_URL")
            .expect("this test needs a PostgreSQL server: run it with `cargo xtask test`");
        let url = PostgresStorage::new_database(&admin).await.unwrap();
        let adapters = tempfile::tempdir().unwrap();
        let (a, b) = (
            node(&url, adapters.path()).await,
            node(&url, adapters.path()).await,
        );

        let now = SystemTime::now();
        let connection = Connection {
            id: "conn_1".into(),
            adapter_id: "example".into(),
            adapter_version: "1.0.0".into(),
            status: Status::Active,
            config: BTreeMap::new(),
            credentials: a.secret_box.seal(b"{}", "conn_1"),
            account_id: "acct".into(),
            account_name: "Account".into(),
            permissions: vec![],
            custom_fields: vec![],
            status_reason: None,
            status_changed_at: now,
            last_error: None,
            created_at: now,
            disconnected_at: None,
            audit_bodies: false,
            field_mappings: vec![],
        };
        let token = StoredToken {
            id: "tok_1".into(),
            connection_id: "conn_1".into(),
            name: "default".into(),
            scopes: Scopes::full().written(),
            expires_at: None,
            created_at: now,
            last_used_at: None,
            revoked_at: None,
        };
        let (first, second) = ([1; 32], [2; 32]);
        assert!(
            a.storage
                .insert_connection(&connection, &token, &first, 10)
                .await
                .unwrap()
        );
        let other = StoredToken {
            id: "tok_2".into(),
            ..token
        };
        assert!(a.storage.insert_token(&other, &second, 50).await.unwrap());

        // Node B remembers both tokens.
        for hash in [&first, &second] {
            assert_eq!(
                status(b.by_token(hash).await.unwrap()),
                (Status::Active, false)
            );
            assert!(b.cache.get(hash).is_some());
        }
        a.revoke_token("conn_1", "tok_2").await.unwrap();
        assert_eq!(
            status(b.by_token(&second).await.unwrap()),
            (Status::Active, true)
        );
        a.disconnect("conn_1").await.unwrap();
        assert_eq!(
            status(b.by_token(&first).await.unwrap()),
            (Status::Disconnected, false)
        );
    }
}
