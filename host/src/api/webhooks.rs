//! Webhook subscriptions of the calling connection: `/v1/webhooks`.

use std::time::{Duration, SystemTime};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

use super::AppState;
use super::error::ApiError;
use super::json::ApiJson;
use super::token::ConnectionAuth;
use crate::code::Code;
use crate::connections::tokens::Access;
use crate::storage::webhooks::{Attempt, DeliveryStatus, Subscription};
use crate::webhooks::{self, WebhookError};

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> Self {
        match e {
            WebhookError::Storage(e) => ApiError::internal(e),
            WebhookError::TooMany(_) => ApiError::new(Code::TooManySubscriptions, e.to_string()),
            WebhookError::UnknownSubscription(id) => no_subscription(&id),
            WebhookError::UnknownDelivery { .. } => {
                ApiError::new(Code::DeliveryNotFound, e.to_string())
            }
            other => ApiError::new(Code::InvalidSubscription, other.to_string()),
        }
    }
}

/// `POST /v1/webhooks`
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscribeBody {
    /// Where deliveries are POSTed: an http or https URL.
    #[schema(format = "uri")]
    pub url: String,
    /// `records.changed`, `connection.status_changed`.
    #[schema(min_items = 1, value_type = Vec<WebhookEvent>)]
    pub events: Vec<String>,
    /// The signing secret, `whsec_` and the base64 of 24 to 64 random bytes
    /// (Standard Webhooks); one is made when absent.
    #[schema(
        min_length = 38,
        max_length = 94,
        pattern = "^whsec_[A-Za-z0-9+/]+={0,2}$"
    )]
    pub secret: Option<String>,
}

/// The schema of an event name, one of [`webhooks::EVENTS`] (the service
/// refuses others with `invalid_subscription`).
pub struct WebhookEvent;

impl utoipa::PartialSchema for WebhookEvent {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(webhooks::EVENTS))
            .into()
    }
}

impl ToSchema for WebhookEvent {}

#[derive(Serialize, ToSchema)]
pub struct SubscriptionView {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    /// The entities whose `records.changed` events it receives: those the
    /// token that made it may read; absent when that is every entity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entities: Option<Vec<String>>,
    #[serde(with = "humantime_serde")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: SystemTime,
    /// After a rotation: until when deliveries are signed with the previous
    /// secret too.
    #[serde(with = "humantime_serde")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub previous_secret_expires_at: Option<SystemTime>,
}

impl From<Subscription> for SubscriptionView {
    fn from(s: Subscription) -> Self {
        SubscriptionView {
            id: s.id,
            url: s.url,
            events: s.events,
            entities: s.entities,
            created_at: s.created_at,
            previous_secret_expires_at: s
                .previous
                .map(|(_, until)| until)
                .filter(|until| *until > SystemTime::now()),
        }
    }
}

/// A new subscription and its signing secret, which is shown only here.
#[derive(Serialize, ToSchema)]
pub struct Subscribed {
    pub subscription: SubscriptionView,
    pub secret: String,
}

/// Subscribes the connection to events.
///
/// # Errors
///
/// - `insufficient_scope` when the token lacks `webhooks`;
/// - `invalid_subscription` when the URL is not an absolute http or https
///   URL, its host does not resolve or is an address receivers may not be
///   at, the events are none or unknown, or the secret is not `whsec_` and
///   the base64 of 24 to 64 bytes;
/// - `too_many_subscriptions` when the connection has as many as it may;
/// - `internal` when the database failed.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", security(("connection_token" = [])),
    request_body = SubscribeBody,
    responses((status = 201, body = Subscribed), (status = "4XX", body = super::error::ErrorBody)))]
pub async fn create(
    auth: ConnectionAuth,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<SubscribeBody>,
) -> Result<(StatusCode, Json<Subscribed>), ApiError> {
    auth.require(Access::Webhooks, None)?;
    let connection = auth.connection();
    let (subscription, secret) = state
        .webhooks
        .subscribe(
            &connection.id,
            &body.url,
            body.events,
            auth.readable_entities(),
            body.secret,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(Subscribed {
            subscription: subscription.into(),
            secret,
        }),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct SubscriptionList {
    pub subscriptions: Vec<SubscriptionView>,
}

/// The connection's subscriptions.
///
/// # Errors
///
/// `insufficient_scope` when the token lacks `webhooks`; `internal` when
/// the database failed.
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks", security(("connection_token" = [])),
    responses((status = 200, body = SubscriptionList), (status = "4XX", body = super::error::ErrorBody)))]
pub async fn list(
    auth: ConnectionAuth,
    State(state): State<AppState>,
) -> Result<Json<SubscriptionList>, ApiError> {
    auth.require(Access::Webhooks, None)?;
    let connection = auth.connection();
    let subscriptions = state
        .webhooks
        .subscriptions(&connection.id)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(SubscriptionList {
        subscriptions: subscriptions.into_iter().map(Into::into).collect(),
    }))
}

fn no_subscription(id: &str) -> ApiError {
    ApiError::new(
        Code::SubscriptionNotFound,
        format!("the connection has no webhook subscription `{id}`"),
    )
}

/// Removes a subscription and its deliveries.
///
/// # Errors
///
/// `insufficient_scope` when the token lacks `webhooks`;
/// `subscription_not_found` when the connection has no subscription `id`;
/// `internal` when the database failed.
#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks", security(("connection_token" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = "4XX", body = super::error::ErrorBody)))]
pub async fn delete(
    auth: ConnectionAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    auth.require(Access::Webhooks, None)?;
    let connection = auth.connection();
    let deleted = state
        .webhooks
        .delete_subscription(&connection.id, &id)
        .await
        .map_err(ApiError::internal)?;
    if deleted {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(no_subscription(&id))
    }
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: String,
    pub event: String,
    pub status: DeliveryStatus,
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    #[serde(with = "humantime_serde")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: SystemTime,
    /// When the next attempt is due, while pending.
    #[serde(with = "humantime_serde")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<SystemTime>,
    pub attempts: Vec<Attempt>,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryList {
    pub deliveries: Vec<DeliveryView>,
}

/// A subscription's latest 100 deliveries, newest first, with every
/// attempt; those about entities the token may not read are left out.
///
/// # Errors
///
/// `insufficient_scope` when the token lacks `webhooks`;
/// `subscription_not_found` when the connection has no subscription `id`;
/// `internal` when the database failed.
#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks", security(("connection_token" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = DeliveryList), (status = "4XX", body = super::error::ErrorBody)))]
pub async fn deliveries(
    auth: ConnectionAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<DeliveryList>, ApiError> {
    auth.require(Access::Webhooks, None)?;
    let connection = auth.connection();
    let owned = state
        .webhooks
        .subscriptions(&connection.id)
        .await
        .map_err(ApiError::internal)?
        .iter()
        .any(|s| s.id == id);
    if !owned {
        return Err(no_subscription(&id));
    }
    let deliveries = state
        .webhooks
        .deliveries(&id, 100)
        .await
        .map_err(ApiError::internal)?;
    // A subscription made by a token that reads more than this one: its
    // deliveries about entities this token may not read are not its to see.
    let readable = |payload: &serde_json::Value| {
        payload["entity"]
            .as_str()
            .is_none_or(|entity| auth.reads(entity))
    };
    Ok(Json(DeliveryList {
        deliveries: deliveries
            .into_iter()
            .filter(|(d, _)| {
                serde_json::from_str(&d.payload)
                    .as_ref()
                    .is_ok_and(readable)
            })
            .map(|(d, attempts)| DeliveryView {
                payload: serde_json::from_str(&d.payload).unwrap_or_default(),
                next_attempt_at: (d.status == DeliveryStatus::Pending).then_some(d.next_attempt_at),
                id: d.id,
                event: d.event,
                status: d.status,
                created_at: d.created_at,
                attempts,
            })
            .collect(),
    }))
}

/// `POST /v1/webhooks/{id}/rotate-secret`
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecretBody {
    /// The new secret, in the same form as at subscribe; one is made when
    /// absent.
    #[schema(
        min_length = 38,
        max_length = 94,
        pattern = "^whsec_[A-Za-z0-9+/]+={0,2}$"
    )]
    pub secret: Option<String>,
    /// How long the old secret signs deliveries too (each delivery then
    /// carries two signatures); 24 hours when absent, 0 to stop at once,
    /// at most 7 days.
    #[schema(maximum = 604800)]
    #[serde(default, deserialize_with = "super::json::whole_number")]
    pub grace_period_seconds: Option<u64>,
}

/// Gives a subscription a new signing secret, shown only in this answer.
/// The old one signs deliveries too until `previous_secret_expires_at`.
///
/// # Errors
///
/// `insufficient_scope` when the token lacks `webhooks`;
/// `subscription_not_found` when the connection has no subscription `id`;
/// `invalid_subscription` when the grace period is over 7 days or the
/// secret is not `whsec_` and the base64 of 24 to 64 bytes; `internal` when
/// the database failed.
#[utoipa::path(post, path = "/v1/webhooks/{id}/rotate-secret", tag = "webhooks", security(("connection_token" = [])),
    params(("id" = String, Path)), request_body = RotateSecretBody,
    responses((status = 200, body = Subscribed), (status = "4XX", body = super::error::ErrorBody)))]
pub async fn rotate_secret(
    auth: ConnectionAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RotateSecretBody>,
) -> Result<Json<Subscribed>, ApiError> {
    auth.require(Access::Webhooks, None)?;
    let grace = body
        .grace_period_seconds
        .map_or(webhooks::DEFAULT_GRACE, Duration::from_secs);
    let (subscription, secret) = state
        .webhooks
        .rotate_secret(&auth.connection().id, &id, body.secret, grace)
        .await?;
    Ok(Json(Subscribed {
        subscription: subscription.into(),
        secret,
    }))
}

/// A delivery queued to be sent again.
#[derive(Serialize, ToSchema)]
pub struct Replayed {
    pub delivery_id: String,
    /// `pending`: it goes out at once, with its `webhook-id`.
    pub status: DeliveryStatus,
}

/// Sends a delivery again (delivered, failed or pending): the same
/// `webhook-id` and event, signed afresh, retried like a new one.
///
/// # Errors
///
/// `insufficient_scope` when the token lacks `webhooks`;
/// `subscription_not_found` when the connection has no subscription `id`;
/// `delivery_not_found` when it has no delivery `delivery_id`, or that
/// delivery was dropped; `internal` when the database failed.
#[utoipa::path(post, path = "/v1/webhooks/{id}/deliveries/{delivery_id}/replay", tag = "webhooks",
    security(("connection_token" = [])),
    params(("id" = String, Path), ("delivery_id" = String, Path)),
    responses((status = 202, body = Replayed), (status = "4XX", body = super::error::ErrorBody)))]
pub async fn replay(
    auth: ConnectionAuth,
    State(state): State<AppState>,
    Path((id, delivery_id)): Path<(String, String)>,
) -> Result<(StatusCode, Json<Replayed>), ApiError> {
    auth.require(Access::Webhooks, None)?;
    state
        .webhooks
        .replay(&auth.connection().id, &id, &delivery_id)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Replayed {
            delivery_id,
            status: DeliveryStatus::Pending,
        }),
    ))
}
