//! A host double for native unit tests of an adapter: off `wasm32`, the
//! SDK's host calls (`http`, `kv`, `clock`, `secrets`, `log`) are answered by
//! the [`TestHost`] installed on the calling thread instead of Interlink, so
//! an adapter's operations run as plain Rust in `cargo test`:
//!
//! ```ignore
//! let host = TestHost::install();
//! host.respond(Method::Get, "https://api.example.com/api/suppliers?offset=0&limit=2", 200,
//!     r#"{"items": [...], "hasMore": false}"#);
//! let page = MyAdapter::list(&Context::new("c1", &[("base_url", "https://api.example.com")]), request)?;
//! assert_eq!(host.sent()[0].secret_headers, [("Authorization".into(), "api_key".into())]);
//! ```
//!
//! A request with no canned answer panics, naming it. Secrets are never
//! known to an adapter, here as in the host: a secret header is recorded by
//! its name and the secret it names, and `sign_jwt` answers
//! `test-jwt:<key>:<claims>`.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::marker::PhantomData;

use crate::bindings::interlink::adapter::http as wit;
use crate::bindings::interlink::adapter::log::Level;
use wit::Method;

/// A request the adapter sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// `(header, secret)`: the header the host would fill with the
    /// connection's secret config value `secret`.
    pub secret_headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

struct Route {
    method: Method,
    url: String,
    /// Answered in order; the last one repeats.
    responses: VecDeque<wit::Response>,
}

#[derive(Default)]
struct State {
    routes: Vec<Route>,
    sent: Vec<Sent>,
    kv: BTreeMap<String, Vec<u8>>,
    now_ms: u64,
    logs: Vec<String>,
}

thread_local! {
    static HOST: RefCell<Option<State>> = const { RefCell::new(None) };
}

fn with<T>(f: impl FnOnce(&mut State) -> T) -> T {
    HOST.with(|host| {
        let mut host = host.borrow_mut();
        let state = host.as_mut().expect(
            "no TestHost on this thread: call interlink_sdk::testing::TestHost::install() first",
        );
        f(state)
    })
}

/// The host double of this thread, until it is dropped.
pub struct TestHost {
    /// Bound to its thread.
    _thread: PhantomData<*const ()>,
}

impl TestHost {
    /// Installs a host double on this thread, with an empty kv store and the
    /// clock at 2026-01-01T00:00:00Z.
    pub fn install() -> TestHost {
        HOST.with(|host| {
            let mut host = host.borrow_mut();
            assert!(
                host.is_none(),
                "a TestHost is already installed on this thread"
            );
            *host = Some(State {
                now_ms: 1_767_225_600_000,
                ..State::default()
            });
        });
        TestHost {
            _thread: PhantomData,
        }
    }

    /// Answers `method url` (the whole URL, query included) with `status`
    /// and `body`; several answers for one request are given in order, and
    /// the last one repeats.
    pub fn respond(
        &self,
        method: Method,
        url: &str,
        status: u16,
        body: impl Into<Vec<u8>>,
    ) -> &Self {
        self.respond_with(method, url, status, &[], body)
    }

    /// [`respond`](Self::respond) with response headers.
    pub fn respond_with(
        &self,
        method: Method,
        url: &str,
        status: u16,
        headers: &[(&str, &str)],
        body: impl Into<Vec<u8>>,
    ) -> &Self {
        let response = wit::Response {
            status,
            headers: headers
                .iter()
                .map(|(name, value)| wit::Header {
                    name: name.to_string(),
                    value: value.to_string(),
                })
                .collect(),
            body: body.into(),
        };
        with(|state| {
            match state
                .routes
                .iter_mut()
                .find(|r| r.method == method && r.url == url)
            {
                Some(route) => route.responses.push_back(response),
                None => state.routes.push(Route {
                    method,
                    url: url.to_string(),
                    responses: VecDeque::from([response]),
                }),
            }
        });
        self
    }

    /// Every request sent so far, in order.
    pub fn sent(&self) -> Vec<Sent> {
        with(|state| state.sent.clone())
    }

    /// Sets the clock.
    pub fn set_now_ms(&self, ms: u64) {
        with(|state| state.now_ms = ms);
    }

    /// The kv store's value under `key`.
    pub fn kv(&self, key: &str) -> Option<Vec<u8>> {
        with(|state| state.kv.get(key).cloned())
    }

    /// Every line logged so far, as `level: message`.
    pub fn logs(&self) -> Vec<String> {
        with(|state| state.logs.clone())
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        HOST.with(|host| host.borrow_mut().take());
    }
}

pub(crate) fn send(request: &wit::Request) -> Result<wit::Response, wit::Error> {
    with(|state| {
        state.sent.push(Sent {
            method: request.method,
            url: request.url.clone(),
            headers: request
                .headers
                .iter()
                .map(|h| (h.name.clone(), h.value.clone()))
                .collect(),
            secret_headers: request
                .secret_headers
                .iter()
                .map(|h| (h.name.clone(), h.secret.clone()))
                .collect(),
            body: request.body.clone(),
        });
        let route = state
            .routes
            .iter_mut()
            .find(|r| r.method == request.method && r.url == request.url)?;
        if route.responses.len() > 1 {
            route.responses.pop_front()
        } else {
            route.responses.front().cloned()
        }
    })
    .map(Ok)
    .unwrap_or_else(|| {
        panic!(
            "the TestHost has no answer for {} {}",
            request.method.name(),
            request.url
        )
    })
}

pub(crate) fn kv_get(key: &str) -> Option<Vec<u8>> {
    with(|state| state.kv.get(key).cloned())
}

pub(crate) fn kv_set(key: &str, value: &[u8]) {
    with(|state| state.kv.insert(key.to_string(), value.to_vec()));
}

pub(crate) fn kv_delete(key: &str) {
    with(|state| state.kv.remove(key));
}

pub(crate) fn now_ms() -> u64 {
    with(|state| state.now_ms)
}

pub(crate) fn log(level: Level, message: &str) {
    let level = match level {
        Level::Trace => "trace",
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
    };
    with(|state| state.logs.push(format!("{level}: {message}")));
}

pub(crate) fn sign_jwt(key: &str, claims: &str) -> String {
    format!("test-jwt:{key}:{claims}")
}
