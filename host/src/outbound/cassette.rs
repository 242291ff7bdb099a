//! Recorded upstream traffic, at the host boundary: a [`Recorder`] sends
//! through the real client and keeps every exchange with the connection's
//! secrets redacted; a [`Replayer`] answers from those exchanges without a
//! network, and refuses a request that was not recorded, naming it. Being
//! an [`Outbound`], this works for an adapter written in any language
//! (`interlink adapter test`).

use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::{Outbound, OutboundError, OutboundRequest, OutboundResponse};

/// What replaces a secret value in a cassette.
pub const REDACTED: &str = "[redacted]";

/// One request and its response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exchange {
    pub method: String,
    pub url: String,
    pub request_headers: Vec<(String, String)>,
    pub request_body: Option<String>,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// `text` with each of `secrets` replaced by [`REDACTED`].
fn redact(text: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .filter(|s| !s.is_empty())
        .fold(text.to_string(), |text, secret| {
            text.replace(secret.as_str(), REDACTED)
        })
}

fn body_text(body: &Option<Vec<u8>>, secrets: &[String]) -> Option<String> {
    body.as_ref()
        .map(|b| redact(&String::from_utf8_lossy(b), secrets))
}

/// Sends through `inner` and records each exchange.
pub struct Recorder {
    inner: Arc<dyn Outbound>,
    secrets: Vec<String>,
    exchanges: Arc<Mutex<Vec<Exchange>>>,
}

impl Recorder {
    /// Records what goes through `inner`, with `secrets` (the connection's
    /// secret values) redacted everywhere.
    pub fn new(inner: Arc<dyn Outbound>, secrets: Vec<String>) -> Self {
        Recorder {
            inner,
            secrets,
            exchanges: Arc::default(),
        }
    }

    /// Every exchange so far, in order.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.exchanges.lock().expect("not poisoned").clone()
    }
}

impl Outbound for Recorder {
    fn send(
        &self,
        request: OutboundRequest,
    ) -> BoxFuture<'static, Result<OutboundResponse, OutboundError>> {
        let secrets = self.secrets.clone();
        let exchanges = self.exchanges.clone();
        let method = request.method.to_string();
        let url = request.url.to_string();
        let request_headers = request
            .headers
            .iter()
            .map(|(n, v)| (n.clone(), redact(v, &secrets)))
            .collect();
        let request_body = body_text(&request.body, &secrets);
        let sent = self.inner.send(request);
        Box::pin(async move {
            let response = sent.await?;
            exchanges.lock().expect("not poisoned").push(Exchange {
                method,
                url,
                request_headers,
                request_body,
                status: response.status,
                headers: response
                    .headers
                    .iter()
                    .map(|(n, v)| (n.clone(), redact(v, &secrets)))
                    .collect(),
                body: redact(&String::from_utf8_lossy(&response.body), &secrets),
            });
            Ok(response)
        })
    }
}

/// Answers from recorded exchanges: each request gets the first unused
/// exchange with its method, URL and body.
pub struct Replayer {
    exchanges: Mutex<Vec<(Exchange, bool)>>,
    secrets: Vec<String>,
    misses: Mutex<Vec<String>>,
}

impl Replayer {
    /// Replays `exchanges`; request bodies are compared with `secrets`
    /// redacted, as they were recorded.
    pub fn new(exchanges: Vec<Exchange>, secrets: Vec<String>) -> Self {
        Replayer {
            exchanges: Mutex::new(exchanges.into_iter().map(|e| (e, false)).collect()),
            secrets,
            misses: Mutex::default(),
        }
    }

    /// The requests that had no recorded answer, as `METHOD url`.
    pub fn misses(&self) -> Vec<String> {
        self.misses.lock().expect("not poisoned").clone()
    }
}

impl Outbound for Replayer {
    fn send(
        &self,
        request: OutboundRequest,
    ) -> BoxFuture<'static, Result<OutboundResponse, OutboundError>> {
        let method = request.method.to_string();
        let url = request.url.to_string();
        let body = body_text(&request.body, &self.secrets);
        let mut exchanges = self.exchanges.lock().expect("not poisoned");
        let found = exchanges.iter_mut().find(|(e, used)| {
            !used && e.method == method && e.url == url && e.request_body == body
        });
        let answer = match found {
            Some((exchange, used)) => {
                *used = true;
                Ok(OutboundResponse {
                    status: exchange.status,
                    headers: exchange.headers.clone(),
                    body: exchange.body.clone().into_bytes(),
                })
            }
            None => {
                let miss = format!("{method} {url}");
                self.misses.lock().expect("not poisoned").push(miss.clone());
                Err(OutboundError::Transport(format!(
                    "the cassette has no recorded answer for {miss}"
                )))
            }
        };
        Box::pin(async move { answer })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    struct Canned;

    impl Outbound for Canned {
        fn send(
            &self,
            request: OutboundRequest,
        ) -> BoxFuture<'static, Result<OutboundResponse, OutboundError>> {
            let echo = format!("you sent {}", request.headers[0].1);
            Box::pin(async move {
                Ok(OutboundResponse {
                    status: 200,
                    headers: vec![],
                    body: echo.into_bytes(),
                })
            })
        }
    }

    fn get(url: &str) -> OutboundRequest {
        OutboundRequest {
            network: Default::default(),
            method: http::Method::GET,
            url: url.parse().unwrap(),
            headers: vec![("authorization".into(), "Bearer s3cret-key".into())],
            body: None,
            timeout: Duration::from_secs(1),
        }
    }

    #[tokio::test]
    async fn recorded_without_secrets_and_replayed_once_each() {
        let recorder = Recorder::new(Arc::new(Canned), vec!["s3cret-key".into()]);
        recorder.send(get("http://up.example/a")).await.unwrap();
        let exchanges = recorder.exchanges();
        let text = serde_json::to_string(&exchanges).unwrap();
        assert!(!text.contains("s3cret"), "{text}");
        assert_eq!(exchanges[0].body, "you sent Bearer [redacted]");

        let replayer = Replayer::new(exchanges, vec!["other-key".into()]);
        let answer = replayer.send(get("http://up.example/a")).await.unwrap();
        assert_eq!(answer.body, b"you sent Bearer [redacted]");
        let again = replayer.send(get("http://up.example/a")).await.unwrap_err();
        assert_eq!(
            again,
            OutboundError::Transport(
                "the cassette has no recorded answer for GET http://up.example/a".into()
            )
        );
        replayer.send(get("http://up.example/b")).await.unwrap_err();
        assert_eq!(
            replayer.misses(),
            ["GET http://up.example/a", "GET http://up.example/b"]
        );
    }
}
