//! Retrying a call while the system answers 429.

use std::future::Future;
use std::time::Duration;

use super::DataError;
use crate::contract::AdapterError;
use crate::runtime::CallError;

/// Upstream 429s retried before the caller gets one.
const MAX_RETRIES: u32 = 3;
/// The longest wait between two tries, whatever the system asks.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(5);
/// The wait before the first retry when the system names none; each later
/// one doubles it.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// Runs `once`, and again while it fails because the system is
/// rate-limiting (`rate-limited`): after the system's `Retry-After` when it
/// gave one, else 250 ms doubling, never more than [`MAX_RETRY_WAIT`], at
/// most [`MAX_RETRIES`] times. Answers the last try's result.
///
/// # Errors
///
/// The last try's error: any error but the system's rate limit at once, or
/// [`DataError::Call`] with [`AdapterError::RateLimited`] when the retries
/// are spent.
pub async fn on_rate_limit<T, F, Fut>(mut once: F) -> Result<T, DataError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, DataError>>,
{
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 0;
    loop {
        match once().await {
            Err(DataError::Call(CallError::Adapter(AdapterError::RateLimited {
                retry_after_ms,
                message,
            }))) if attempt < MAX_RETRIES => {
                let wait = retry_after_ms
                    .map(Duration::from_millis)
                    .unwrap_or(backoff)
                    .min(MAX_RETRY_WAIT);
                tracing::info!(attempt, wait_ms = wait.as_millis() as u64, %message, "the system is rate-limiting; retrying");
                tokio::time::sleep(wait).await;
                backoff *= 2;
                attempt += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tokio::time::Instant;

    use super::*;

    fn limited(retry_after_ms: Option<u64>) -> DataError {
        DataError::Call(CallError::Adapter(AdapterError::RateLimited {
            retry_after_ms,
            message: "slow down".into(),
        }))
    }

    /// Runs [`on_rate_limit`] over `answers` (one per try, the last repeated)
    /// on paused time; answers the result, the tries and when each began.
    async fn run(answers: Vec<Option<u64>>) -> (Result<u32, DataError>, Vec<Duration>) {
        let start = Instant::now();
        let tries = Mutex::new(Vec::new());
        let result = on_rate_limit(|| {
            let mut tries = tries.lock().unwrap();
            tries.push(start.elapsed());
            let answer = answers
                .get(tries.len() - 1)
                .or(answers.last())
                .copied()
                .flatten();
            let n = tries.len() as u32;
            async move {
                match answer {
                    Some(ms) if ms == u64::MAX => Ok(n),
                    Some(ms) => Err(limited(Some(ms))),
                    None => Err(limited(None)),
                }
            }
        })
        .await;
        (result, tries.into_inner().unwrap())
    }

    const OK: Option<u64> = Some(u64::MAX);

    #[tokio::test(start_paused = true)]
    async fn waits_as_long_as_the_system_asks() {
        let (result, tries) = run(vec![Some(3_000), Some(1_500), OK]).await;
        assert_eq!(result.unwrap(), 3);
        assert_eq!(
            tries,
            [0, 3_000, 4_500].map(Duration::from_millis),
            "Retry-After honoured to the millisecond"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn without_retry_after_backs_off_from_250_ms_doubling() {
        let (result, tries) = run(vec![None]).await;
        assert!(matches!(
            result,
            Err(DataError::Call(CallError::Adapter(
                AdapterError::RateLimited { .. }
            )))
        ));
        assert_eq!(tries, [0, 250, 750, 1_750].map(Duration::from_millis));
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_retry_after_is_capped_at_five_seconds() {
        let (result, tries) = run(vec![Some(3_600_000), OK]).await;
        assert_eq!(result.unwrap(), 2);
        assert_eq!(tries, [Duration::ZERO, MAX_RETRY_WAIT]);
    }

    #[tokio::test(start_paused = true)]
    async fn other_errors_are_not_retried() {
        let tries = Mutex::new(0);
        let result: Result<(), _> = on_rate_limit(|| {
            *tries.lock().unwrap() += 1;
            async {
                Err(DataError::Call(CallError::Adapter(
                    AdapterError::Unauthorized {
                        message: "no".into(),
                    },
                )))
            }
        })
        .await;
        assert!(result.is_err());
        assert_eq!(*tries.lock().unwrap(), 1);
    }
}
