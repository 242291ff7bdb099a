//! What the webhook dispatcher keeps: subscriptions, deliveries and every
//! attempt.

use std::time::SystemTime;

use async_trait::async_trait;
use serde::Serialize;
use utoipa::ToSchema;

use super::Result;

/// A subscription of a connection to events.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub id: String,
    pub connection_id: String,
    pub url: String,
    pub events: Vec<String>,
    /// The entities whose events it is told of (the token that made it may
    /// read them); `None`: every entity.
    pub entities: Option<Vec<String>>,
    /// The signing secret, sealed with the host's key.
    pub sealed_secret: Vec<u8>,
    /// The secret before the last rotation, sealed, and until when
    /// deliveries are signed with it too.
    pub previous: Option<(Vec<u8>, SystemTime)>,
    pub created_at: SystemTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    /// Still failing after 24 hours.
    Failed,
    /// The connection was disconnected first.
    Dropped,
}

stored_as_text!(DeliveryStatus {
    Pending = "pending",
    Delivered = "delivered",
    Failed = "failed",
    Dropped = "dropped",
});

/// Whether a subscription told of `entities` (its stored JSON list; `None`
/// for every entity) is told of an event about `entity` (`None`: an event
/// about no entity, which every subscription is told of).
pub(crate) fn told_of(entities: Option<&str>, entity: Option<&str>) -> bool {
    match (entities, entity) {
        (None, _) | (_, None) => true,
        (Some(list), Some(entity)) => serde_json::from_str::<Vec<String>>(list)
            .is_ok_and(|list| list.iter().any(|e| e == entity)),
    }
}

/// One event for one subscription.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: String,
    pub subscription_id: String,
    pub connection_id: String,
    pub event: String,
    pub payload: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub next_attempt_at: SystemTime,
    pub created_at: SystemTime,
}

/// One try at delivering.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Attempt {
    pub attempt: u32,
    #[serde(with = "humantime_serde")]
    #[schema(value_type = String, format = DateTime)]
    pub at: SystemTime,
    /// The receiver's status, when it answered.
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// What an attempt leaves the delivery as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    RetryAt(SystemTime),
    Failed,
}

impl Outcome {
    /// The delivery's status after an attempt at `at`, and when it is next
    /// due.
    pub fn status_and_next(self, at: SystemTime) -> (DeliveryStatus, SystemTime) {
        match self {
            Outcome::Delivered => (DeliveryStatus::Delivered, at),
            Outcome::Failed => (DeliveryStatus::Failed, at),
            Outcome::RetryAt(next) => (DeliveryStatus::Pending, next),
        }
    }
}

#[async_trait]
pub trait WebhookStorage: Send + Sync + 'static {
    /// Stores `subscription` unless its connection has `max` subscriptions
    /// already; answers whether it did. Subscribes on every node sharing
    /// the database are counted in turn, so the cap holds however many
    /// race.
    async fn insert_subscription(&self, subscription: &Subscription, max: u32) -> Result<bool>;
    async fn subscriptions(&self, connection: &str) -> Result<Vec<Subscription>>;
    /// Every connection's subscriptions, oldest first.
    async fn all_subscriptions(&self) -> Result<Vec<Subscription>>;
    /// Answers whether there was one.
    async fn delete_subscription(&self, connection: &str, id: &str) -> Result<bool>;
    /// Replaces a subscription's secret with `sealed`; the current one
    /// becomes the previous secret until `previous_until` (dropped at
    /// once without it). Answers whether there was such a subscription.
    async fn rotate_secret(
        &self,
        connection: &str,
        id: &str,
        sealed: &[u8],
        previous_until: Option<SystemTime>,
    ) -> Result<bool>;
    /// Makes a delivery of the subscription pending again, due at `now`,
    /// with the same id and payload (its attempts are kept and counted on).
    /// Answers whether there was such a delivery (a dropped one is not
    /// replayed).
    async fn replay_delivery(
        &self,
        subscription: &str,
        delivery: &str,
        now: SystemTime,
    ) -> Result<bool>;
    /// Queues `event` (about `entity`, if it is about one) for every
    /// subscription of the connection that wants it and is told of the
    /// entity, unless the connection is disconnected; answers how many.
    async fn enqueue(
        &self,
        connection: &str,
        event: &str,
        entity: Option<&str>,
        payload: &str,
        at: SystemTime,
    ) -> Result<u64>;
    /// Claims up to `limit` pending deliveries due at `now` (and not
    /// claimed by an attempt still running) until `until`, with their
    /// subscriptions: oldest first, but no more than `per_connection` of one
    /// connection's deliveries claimed at once, so that one connection's
    /// slow receivers cannot hold up another's. One transaction: two
    /// dispatchers never claim the same delivery.
    async fn claim_deliveries(
        &self,
        now: SystemTime,
        until: SystemTime,
        limit: u32,
        per_connection: u32,
    ) -> Result<Vec<(Delivery, Subscription)>>;
    /// Records an attempt and its outcome, and ends the delivery's claim.
    async fn record_attempt(
        &self,
        delivery: &str,
        attempt: &Attempt,
        outcome: Outcome,
    ) -> Result<()>;
    /// A subscription's deliveries, newest first, with their attempts.
    async fn deliveries(
        &self,
        subscription: &str,
        limit: u32,
    ) -> Result<Vec<(Delivery, Vec<Attempt>)>>;
    /// Drops the connection's pending deliveries; answers how many.
    async fn drop_deliveries(&self, connection: &str) -> Result<u64>;
    /// How many deliveries are pending, of every connection (on the index
    /// of pending deliveries: `/metrics` asks at each scrape).
    async fn pending_deliveries(&self) -> Result<u64>;
}
