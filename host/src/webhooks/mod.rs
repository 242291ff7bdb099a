//! Workflows: a connection's subscriptions to events, and their signed,
//! retried deliveries.
//!
//! Events: `records.changed` (after a sync run that changed something: the
//! added, updated and deleted ids) and `connection.status_changed`. Each
//! delivery is a POST of the event's JSON, signed as Standard Webhooks say
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature`) under the
//! subscription's `whsec_` secret ([`signature`]). A delivery that does not
//! get a 2xx is retried with exponential backoff for up to 24 hours; every
//! attempt is kept, and a receiver may have any delivery sent again (the
//! same id and event). A disconnect drops the connection's pending
//! deliveries.
//!
//! Rotating a secret keeps the previous one for a grace period, during
//! which deliveries carry a signature under each, as Standard Webhooks
//! allow: a receiver verifying with either accepts them.

pub mod dispatch;
pub mod signature;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use serde_json::{Value, json};
use thiserror::Error;

use crate::outbound::{HttpClient, NetworkPolicy, OutboundError};
use crate::secret_box::SecretBox;
use crate::storage::webhooks::{Attempt, Delivery, Subscription};
use crate::storage::{StorageError, Store};

/// The events a subscription may ask for.
pub const EVENTS: [&str; 2] = ["records.changed", "connection.status_changed"];

/// How long a delivery is retried.
pub const RETRY_FOR: Duration = Duration::from_secs(24 * 3600);

/// How long a rotated-out secret signs deliveries too, unless told.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(24 * 3600);
/// The longest grace period.
pub const MAX_GRACE: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Debug, Error)]
pub enum WebhookError {
    #[error("`{0}` is not an absolute http or https URL")]
    InvalidUrl(String),
    /// The URL's host is, or resolves to, an address deliveries may not go to.
    #[error("{0}")]
    Refused(String),
    #[error("unknown event `{0}`; events are records.changed and connection.status_changed")]
    UnknownEvent(String),
    #[error("the host of the URL, `{0}`, does not resolve")]
    Unresolvable(String),
    #[error("a subscription needs at least one event")]
    NoEvents,
    #[error("a secret must be `whsec_` followed by the base64 of 24 to 64 random bytes")]
    InvalidSecret,
    #[error("the connection has its {0} webhook subscriptions already; delete one first")]
    TooMany(u32),
    #[error("the connection has no webhook subscription `{0}`")]
    UnknownSubscription(String),
    #[error("subscription `{subscription}` has no delivery `{delivery}` that can be sent again")]
    UnknownDelivery {
        subscription: String,
        delivery: String,
    },
    #[error("a grace period is at most 7 days (604800 seconds)")]
    GraceTooLong,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The operator's bounds on webhooks.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The wait before the first retry; each later one doubles it.
    pub retry_base: Duration,
    /// The longest one delivery attempt may take, answer included.
    pub attempt_timeout: Duration,
    /// Subscriptions one connection may have.
    pub max_subscriptions: u32,
    /// The restricted networks receivers may be in
    /// (`--webhook-allow-network`); none by default, whatever adapters may
    /// reach.
    pub network: NetworkPolicy,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            retry_base: Duration::from_secs(10),
            attempt_timeout: Duration::from_secs(10),
            max_subscriptions: 16,
            network: NetworkPolicy::default(),
        }
    }
}

/// `secret` if it is in the Standard Webhooks form (`whsec_<base64>`) with
/// a key of 24 to 64 bytes.
fn valid_secret(secret: String) -> Result<String, WebhookError> {
    let key = secret
        .strip_prefix(signature::PREFIX)
        .and_then(|b| STANDARD.decode(b).ok());
    match key {
        Some(key) if (24..=64).contains(&key.len()) => Ok(secret),
        _ => Err(WebhookError::InvalidSecret),
    }
}

/// `secret` checked, or a new one: `whsec_` and 24 random bytes.
fn secret_or_new(secret: Option<String>) -> Result<String, WebhookError> {
    match secret {
        Some(s) => valid_secret(s),
        None => {
            let mut bytes = [0u8; 24];
            rand::rng().fill_bytes(&mut bytes);
            Ok(format!("{}{}", signature::PREFIX, STANDARD.encode(bytes)))
        }
    }
}

/// Subscriptions and deliveries.
pub struct Webhooks {
    store: Arc<dyn Store>,
    secret_box: SecretBox,
    http: HttpClient,
    limits: Limits,
    wake: tokio::sync::Notify,
}

impl Webhooks {
    /// Deliveries go out through `http`, under `limits.network`.
    pub fn new(
        store: Arc<dyn Store>,
        secret_box: SecretBox,
        limits: Limits,
        http: HttpClient,
    ) -> Self {
        Webhooks {
            store,
            secret_box,
            http,
            limits,
            wake: tokio::sync::Notify::new(),
        }
    }

    /// Subscribes `connection` to `events` at `url`, told of the events
    /// about `entities` only (`None`: every entity; the entities the
    /// subscribing token may read). Without a `secret`, one is made; it is
    /// answered once and stored encrypted.
    ///
    /// # Errors
    ///
    /// - [`WebhookError::InvalidUrl`] when `url` is not an absolute http or
    ///   https URL with a host; [`WebhookError::Refused`] when its host is,
    ///   or resolves to, an address the receivers' network policy refuses;
    ///   [`WebhookError::Unresolvable`] when it does not resolve;
    /// - [`WebhookError::NoEvents`] when `events` is empty,
    ///   [`WebhookError::UnknownEvent`] when one is not in [`EVENTS`];
    /// - [`WebhookError::InvalidSecret`] when `secret` is not `whsec_` and
    ///   the base64 of 24 to 64 bytes;
    /// - [`WebhookError::TooMany`] when the connection has as many
    ///   subscriptions as [`Limits::max_subscriptions`] allows;
    /// - [`WebhookError::Storage`] when the database failed.
    pub async fn subscribe(
        &self,
        connection: &str,
        url: &str,
        events: Vec<String>,
        entities: Option<Vec<String>>,
        secret: Option<String>,
    ) -> Result<(Subscription, String), WebhookError> {
        let parsed = url::Url::parse(url).map_err(|_| WebhookError::InvalidUrl(url.into()))?;
        let (Some(host), Some(port), "http" | "https") = (
            parsed.host_str(),
            parsed.port_or_known_default(),
            parsed.scheme(),
        ) else {
            return Err(WebhookError::InvalidUrl(url.into()));
        };
        // Checked again at every delivery, on the addresses it connects to.
        match self.http.resolve(host, port, &self.limits.network).await {
            Ok(_) => {}
            Err(OutboundError::Refused(why)) => return Err(WebhookError::Refused(why)),
            Err(_) => return Err(WebhookError::Unresolvable(host.to_string())),
        }
        if events.is_empty() {
            return Err(WebhookError::NoEvents);
        }
        if let Some(unknown) = events.iter().find(|e| !EVENTS.contains(&e.as_str())) {
            return Err(WebhookError::UnknownEvent(unknown.clone()));
        }
        let secret = secret_or_new(secret)?;
        let id = format!("wh_{}", uuid::Uuid::now_v7().simple());
        let subscription = Subscription {
            sealed_secret: self.secret_box.seal(secret.as_bytes(), &id),
            previous: None,
            id,
            connection_id: connection.to_string(),
            url: url.to_string(),
            events,
            entities,
            created_at: SystemTime::now(),
        };
        // Counted and stored in one step of the database, which every node
        // takes in turn: the cap holds however many subscribes race.
        let max = self.limits.max_subscriptions;
        if !self.store.insert_subscription(&subscription, max).await? {
            return Err(WebhookError::TooMany(max));
        }
        Ok((subscription, secret))
    }

    /// Gives subscription `id` of `connection` a new secret (`secret`, or
    /// one made), answered once. The old secret signs deliveries too for
    /// `grace` (none when zero).
    ///
    /// # Errors
    ///
    /// [`WebhookError::UnknownSubscription`] when `connection` has no
    /// subscription `id`; [`WebhookError::GraceTooLong`] when `grace` is
    /// over [`MAX_GRACE`]; [`WebhookError::InvalidSecret`] when `secret` is
    /// not `whsec_` and the base64 of 24 to 64 bytes;
    /// [`WebhookError::Storage`] when the database failed.
    pub async fn rotate_secret(
        &self,
        connection: &str,
        id: &str,
        secret: Option<String>,
        grace: Duration,
    ) -> Result<(Subscription, String), WebhookError> {
        self.owned(connection, id).await?;
        if grace > MAX_GRACE {
            return Err(WebhookError::GraceTooLong);
        }
        let secret = secret_or_new(secret)?;
        let previous_until = (!grace.is_zero()).then(|| SystemTime::now() + grace);
        let sealed = self.secret_box.seal(secret.as_bytes(), id);
        if !self
            .store
            .rotate_secret(connection, id, &sealed, previous_until)
            .await?
        {
            return Err(WebhookError::UnknownSubscription(id.into()));
        }
        tracing::info!(
            connection,
            subscription = id,
            grace_s = grace.as_secs(),
            "webhook secret rotated"
        );
        Ok((self.owned(connection, id).await?, secret))
    }

    /// Subscription `id` of `connection`, or why not.
    async fn owned(&self, connection: &str, id: &str) -> Result<Subscription, WebhookError> {
        self.store
            .subscriptions(connection)
            .await?
            .into_iter()
            .find(|s| s.id == id)
            .ok_or_else(|| WebhookError::UnknownSubscription(id.into()))
    }

    /// Sends delivery `delivery` of subscription `id` again, now: the same
    /// `webhook-id` and event, signed afresh, retried as a new delivery is.
    ///
    /// # Errors
    ///
    /// [`WebhookError::UnknownSubscription`] when `connection` has no
    /// subscription `id`; [`WebhookError::UnknownDelivery`] when it has no
    /// delivery `delivery`, or that delivery was dropped;
    /// [`WebhookError::Storage`] when the database failed.
    pub async fn replay(
        &self,
        connection: &str,
        id: &str,
        delivery: &str,
    ) -> Result<(), WebhookError> {
        self.owned(connection, id).await?;
        if !self
            .store
            .replay_delivery(id, delivery, SystemTime::now())
            .await?
        {
            return Err(WebhookError::UnknownDelivery {
                subscription: id.into(),
                delivery: delivery.into(),
            });
        }
        tracing::info!(
            connection,
            subscription = id,
            delivery,
            "webhook delivery replayed"
        );
        self.wake.notify_one();
        Ok(())
    }

    /// Queues `event` for the connection's subscribers; an event about
    /// `entity` only for those told of it (the token that subscribed may
    /// read it). A failure to queue is logged: the change itself has
    /// happened.
    pub async fn emit(
        &self,
        connection: &str,
        event: &str,
        entity: Option<&str>,
        mut payload: Value,
    ) {
        payload["event"] = json!(event);
        payload["connection_id"] = json!(connection);
        payload["occurred_at"] =
            json!(humantime::format_rfc3339_millis(SystemTime::now()).to_string());
        match self
            .store
            .enqueue(
                connection,
                event,
                entity,
                &payload.to_string(),
                SystemTime::now(),
            )
            .await
        {
            Ok(0) => {}
            Ok(queued) => {
                tracing::info!(connection, event, queued, "webhook event queued");
                self.wake.notify_one();
            }
            Err(e) => {
                tracing::error!(connection, event, error = %e, "could not queue a webhook event")
            }
        }
    }

    /// Drops the connection's pending deliveries (it was disconnected).
    ///
    /// # Errors
    ///
    /// The database failed.
    pub async fn drop_pending(&self, connection: &str) -> Result<u64, StorageError> {
        let dropped = self.store.drop_deliveries(connection).await?;
        if dropped > 0 {
            tracing::info!(connection, dropped, "pending webhook deliveries dropped");
        }
        Ok(dropped)
    }

    /// How many deliveries are pending, of every connection.
    ///
    /// # Errors
    ///
    /// The database failed.
    pub async fn pending(&self) -> Result<u64, StorageError> {
        self.store.pending_deliveries().await
    }

    /// The subscriptions of `connection`.
    ///
    /// # Errors
    ///
    /// The database failed.
    pub async fn subscriptions(&self, connection: &str) -> Result<Vec<Subscription>, StorageError> {
        self.store.subscriptions(connection).await
    }

    /// Every connection's subscriptions.
    ///
    /// # Errors
    ///
    /// The database failed.
    pub async fn all_subscriptions(&self) -> Result<Vec<Subscription>, StorageError> {
        self.store.all_subscriptions().await
    }

    /// Deletes `connection`'s subscription `id`; answers whether there was
    /// one.
    ///
    /// # Errors
    ///
    /// The database failed.
    pub async fn delete_subscription(
        &self,
        connection: &str,
        id: &str,
    ) -> Result<bool, StorageError> {
        self.store.delete_subscription(connection, id).await
    }

    /// The latest `limit` deliveries of the subscription `id`, each with
    /// its attempts.
    ///
    /// # Errors
    ///
    /// The database failed.
    pub async fn deliveries(
        &self,
        id: &str,
        limit: u32,
    ) -> Result<Vec<(Delivery, Vec<Attempt>)>, StorageError> {
        self.store.deliveries(id, limit).await
    }
}
