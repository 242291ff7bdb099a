//! The delivery loop: claims due deliveries, sends each in a task of its
//! own, records every attempt, and schedules retries with exponential
//! backoff.
//!
//! Fairness: at most [`IN_FLIGHT`] attempts run at once, at most
//! [`PER_CONNECTION`] of them for one connection, and the loop never waits
//! for an attempt to finish before claiming the next due deliveries. A
//! receiver that answers slowly holds its own connection's deliveries (each
//! attempt for at most the attempt timeout), never another connection's.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{RETRY_FOR, Webhooks, signature};
use crate::outbound::{Outbound, OutboundRequest};
use crate::storage::webhooks::{Attempt, Delivery, Outcome, Subscription};

/// How often the loop looks for due deliveries when nothing wakes it.
const POLL: Duration = Duration::from_millis(250);
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// Attempts running at once, over all connections.
pub const IN_FLIGHT: usize = 64;
/// Attempts running at once for one connection.
pub const PER_CONNECTION: u32 = 4;
/// A claim outlives its attempt's timeout by this much; a claim that lapses
/// (the host died mid-attempt) lets another dispatcher try again.
const CLAIM_MARGIN: Duration = Duration::from_secs(30);

/// The wait after failed attempt number `attempt` (1-based).
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
        .min(MAX_BACKOFF)
}

/// What attempt number `attempt` (1-based) of a delivery queued at
/// `created_at` leaves it as, when it ended at `now` with `status` (none when
/// no answer came): delivered on a 2xx, failed for good once the delivery
/// is [`RETRY_FOR`] old, else retried after its [`backoff`].
fn outcome(
    status: Option<u16>,
    created_at: SystemTime,
    now: SystemTime,
    retry_base: Duration,
    attempt: u32,
) -> Outcome {
    match status {
        Some(200..300) => Outcome::Delivered,
        _ if now >= created_at + RETRY_FOR => Outcome::Failed,
        _ => Outcome::RetryAt(now + backoff(retry_base, attempt)),
    }
}

impl Webhooks {
    /// Runs the delivery loop until the process ends.
    pub fn start(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let webhooks = self.clone();
        let slots = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
        tokio::spawn(async move {
            loop {
                let free = slots.available_permits();
                if free > 0 {
                    let now = SystemTime::now();
                    let until = now + webhooks.limits.attempt_timeout + CLAIM_MARGIN;
                    match webhooks
                        .store
                        .claim_deliveries(now, until, free as u32, PER_CONNECTION)
                        .await
                    {
                        Ok(claimed) => {
                            let more = claimed.len() == free;
                            for (delivery, subscription) in claimed {
                                let slot =
                                    slots.clone().acquire_owned().await.expect("never closed");
                                let webhooks = webhooks.clone();
                                tokio::spawn(async move {
                                    webhooks.deliver(&delivery, &subscription).await;
                                    drop(slot);
                                    // Its connection may have more waiting.
                                    webhooks.wake.notify_one();
                                });
                            }
                            if more {
                                continue;
                            }
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "could not claim due webhook deliveries")
                        }
                    }
                }
                tokio::select! {
                    _ = webhooks.wake.notified() => {}
                    _ = tokio::time::sleep(POLL) => {}
                }
            }
        })
    }

    /// Attempt number `attempt` of `delivery`, signed now.
    fn request(
        &self,
        delivery: &Delivery,
        subscription: &Subscription,
        attempt: u32,
    ) -> Result<OutboundRequest, String> {
        let open = |sealed: &[u8]| {
            let secret = self
                .secret_box
                .open(sealed, &subscription.id)
                .map_err(|e| e.to_string())?;
            String::from_utf8(secret).map_err(|e| e.to_string())
        };
        let secret = open(&subscription.sealed_secret)?;
        let url = url::Url::parse(&subscription.url).map_err(|e| e.to_string())?;
        let now = SystemTime::now();
        let timestamp = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let body = delivery.payload.as_bytes();
        // One signature per secret in use, space-separated.
        let mut signatures = signature::standard(&secret, &delivery.id, timestamp, body);
        if let Some((sealed, until)) = &subscription.previous
            && now < *until
        {
            let previous = open(sealed)?;
            signatures.push(' ');
            signatures.push_str(&signature::standard(
                &previous,
                &delivery.id,
                timestamp,
                body,
            ));
        }
        Ok(OutboundRequest {
            network: self.limits.network.clone(),
            method: http::Method::POST,
            url,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("user-agent".into(), "Interlink-Webhooks/1".into()),
                ("webhook-id".into(), delivery.id.clone()),
                ("webhook-timestamp".into(), timestamp.to_string()),
                ("webhook-signature".into(), signatures),
                ("interlink-event".into(), delivery.event.clone()),
                ("interlink-delivery".into(), delivery.id.clone()),
                ("interlink-attempt".into(), attempt.to_string()),
                (
                    "interlink-signature".into(),
                    signature::legacy(&secret, timestamp, body),
                ),
            ],
            body: Some(body.to_vec()),
            timeout: self.limits.attempt_timeout,
        })
    }

    async fn deliver(&self, delivery: &Delivery, subscription: &Subscription) {
        let attempt = delivery.attempts + 1;
        let started = Instant::now();
        let result = match self.request(delivery, subscription, attempt) {
            Ok(request) => self
                .http
                .send(request)
                .await
                .map(|r| r.status)
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        let now = SystemTime::now();
        let (status_code, error) = match result {
            Ok(status) => (Some(status), None),
            Err(e) => (None, Some(e)),
        };
        let outcome = outcome(
            status_code,
            delivery.created_at,
            now,
            self.limits.retry_base,
            attempt,
        );
        tracing::info!(
            delivery = %delivery.id, connection = %delivery.connection_id, event = %delivery.event,
            attempt, status = ?status_code, error = ?error, outcome = ?outcome, "webhook attempt"
        );
        let record = Attempt {
            attempt,
            at: now,
            status_code,
            error,
            duration_ms: started.elapsed().as_millis() as u64,
        };
        if let Err(e) = self
            .store
            .record_attempt(&delivery.id, &record, outcome)
            .await
        {
            tracing::error!(delivery = %delivery.id, error = %e, "could not record a webhook attempt");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let base = Duration::from_secs(10);
        assert_eq!(backoff(base, 1), Duration::from_secs(10));
        assert_eq!(backoff(base, 2), Duration::from_secs(20));
        assert_eq!(backoff(base, 5), Duration::from_secs(160));
        assert_eq!(backoff(base, 30), MAX_BACKOFF);
    }

    /// The give-up after 24 hours, on injected time. Catches a dispatcher
    /// that retries forever, one that gives up early, and one that counts
    /// the 24 hours from the last attempt instead of the event.
    #[test]
    fn a_delivery_is_retried_for_24_hours_from_its_event_then_failed() {
        let created = UNIX_EPOCH + Duration::from_secs(1_767_225_600);
        let base = Duration::from_secs(10);
        let at = |after: Duration| created + after;
        let almost = RETRY_FOR - Duration::from_secs(1);

        assert_eq!(
            outcome(Some(204), created, at(almost), base, 40),
            Outcome::Delivered
        );
        assert_eq!(
            outcome(Some(500), created, at(Duration::from_secs(30)), base, 2),
            Outcome::RetryAt(at(Duration::from_secs(50)))
        );
        assert_eq!(
            outcome(None, created, at(almost), base, 30),
            Outcome::RetryAt(at(almost) + MAX_BACKOFF),
            "a failed connection is retried too, until the 24 hours are up"
        );
        assert_eq!(
            outcome(Some(500), created, at(RETRY_FOR), base, 31),
            Outcome::Failed
        );
        assert_eq!(
            outcome(Some(302), created, at(RETRY_FOR * 2), base, 50),
            Outcome::Failed,
            "a redirect is not a delivery"
        );
    }
}
