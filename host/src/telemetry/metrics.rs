//! The host's Prometheus metrics, in the text format `/metrics` answers
//! (OpenMetrics, which Prometheus reads).
//!
//! | metric | labels | what |
//! | --- | --- | --- |
//! | `interlink_http_requests_total` | `method`, `route`, `code` | API requests answered |
//! | `interlink_http_request_duration_seconds` | `method`, `route` | their latency, to the response's head |
//! | `interlink_upstream_requests_total` | `adapter`, `status` | adapters' requests to their systems |
//! | `interlink_upstream_request_duration_seconds` | `adapter` | their latency, to the whole response |
//! | `interlink_instances_in_use`, `interlink_instances_max` | | the instance pool |
//! | `interlink_calls_admitted`, `interlink_calls_upstream` | | calls holding their connection's share; of them, holding an upstream slot |
//! | `interlink_sync_runs_running` | | sync runs this node drives |
//! | `interlink_webhook_deliveries_pending` | | deliveries waiting in the database |
//!
//! Labels are bounded: `route` is the route's template (`/v1/{entity}/{id}`,
//! never a request's path, so no id or record ever becomes a label;
//! `unmatched` for paths no route serves), `method` one of the methods the
//! API serves (`other` for the rest), `status` an HTTP status or the kind of
//! failure (`timeout`, `transport`, `refused`, `too_large`, `invalid`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::MatchedPath;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The metrics of one host. Cheap to update from any task; [`Metrics::encode`]
/// answers them all.
pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Family<RouteLabels, Histogram, fn() -> Histogram>,
    upstream: Family<UpstreamLabels, Counter>,
    upstream_seconds: Family<AdapterLabels, Histogram, fn() -> Histogram>,
    pending_deliveries: Gauge,
    /// Gauges read from what the host counts, when scraped.
    sampled: Mutex<Vec<Sampled>>,
}

struct Sampled {
    gauge: Gauge,
    read: Box<dyn Fn() -> i64 + Send + Sync>,
}

/// Latency buckets: 1 ms to about 33 s, doubling.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Every family registered, all empty.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("interlink");
        let requests = Family::default();
        registry.register(
            "http_requests",
            "API requests answered, by method, route template and status code",
            requests.clone(),
        );
        let request_seconds = Family::new_with_constructor(latency as fn() -> Histogram);
        registry.register(
            "http_request_duration_seconds",
            "API request latency to the response's head, by method and route template",
            request_seconds.clone(),
        );
        let upstream = Family::default();
        registry.register(
            "upstream_requests",
            "Adapters' requests to their systems, by adapter and status (or failure)",
            upstream.clone(),
        );
        let upstream_seconds = Family::new_with_constructor(latency as fn() -> Histogram);
        registry.register(
            "upstream_request_duration_seconds",
            "Adapters' request latency to the whole response, by adapter",
            upstream_seconds.clone(),
        );
        let pending_deliveries = Gauge::default();
        registry.register(
            "webhook_deliveries_pending",
            "Webhook deliveries waiting in the database, of every node",
            pending_deliveries.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            pending_deliveries,
            requests,
            request_seconds,
            upstream,
            upstream_seconds,
            sampled: Mutex::default(),
        }
    }

    /// Registers the gauge `name`, whose value `read` answers when the
    /// metrics are encoded.
    pub fn sample(
        &self,
        name: &str,
        help: &str,
        read: impl Fn() -> i64 + Send + Sync + 'static,
    ) -> &Self {
        let gauge = Gauge::default();
        self.registry
            .lock()
            .expect("not poisoned")
            .register(name, help, gauge.clone());
        self.sampled.lock().expect("not poisoned").push(Sampled {
            gauge,
            read: Box::new(read),
        });
        self
    }

    /// Sets the webhook deliveries pending (a count the database knows,
    /// which the scrape asks for).
    pub fn set_pending_deliveries(&self, pending: u64) {
        self.pending_deliveries
            .set(i64::try_from(pending).unwrap_or(i64::MAX));
    }

    /// Counts an API request: `route` is the matched route's template, if
    /// a route served it.
    pub fn request(
        &self,
        method: &http::Method,
        route: Option<MatchedPath>,
        status: u16,
        took: Duration,
    ) {
        let route = RouteLabels {
            method: MethodLabel::of(method),
            route: Route(route),
        };
        self.request_seconds
            .get_or_create(&route)
            .observe(took.as_secs_f64());
        self.requests
            .get_or_create(&RequestLabels {
                method: route.method,
                route: route.route,
                code: status,
            })
            .inc();
    }

    /// Counts an adapter's request to its system.
    pub fn upstream(&self, adapter: &Arc<str>, outcome: Upstream, took: Duration) {
        let adapter = AdapterLabels {
            adapter: adapter.clone(),
        };
        self.upstream_seconds
            .get_or_create(&adapter)
            .observe(took.as_secs_f64());
        self.upstream
            .get_or_create(&UpstreamLabels {
                adapter: adapter.adapter,
                status: outcome,
            })
            .inc();
    }

    /// Every metric, in the OpenMetrics text format, the sampled gauges
    /// read now.
    pub fn encode(&self) -> String {
        for sampled in self.sampled.lock().expect("not poisoned").iter() {
            sampled.gauge.set((sampled.read)());
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(
            &mut text,
            &self.registry.lock().expect("not poisoned"),
        )
        .expect("writing to a String does not fail");
        text
    }
}

/// How an upstream request ended: the system's status, or why there was
/// none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Upstream {
    Status(u16),
    Timeout,
    Transport,
    Refused,
    TooLarge,
    Invalid,
}

impl EncodeLabelValue for Upstream {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        let text = match self {
            Upstream::Status(status) => return EncodeLabelValue::encode(status, encoder),
            Upstream::Timeout => "timeout",
            Upstream::Transport => "transport",
            Upstream::Refused => "refused",
            Upstream::TooLarge => "too_large",
            Upstream::Invalid => "invalid",
        };
        EncodeLabelValue::encode(&text, encoder)
    }
}

/// A request method, as a label: the API's methods, or `other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct MethodLabel(&'static str);

impl MethodLabel {
    fn of(method: &http::Method) -> Self {
        const KNOWN: &[http::Method] = &[
            http::Method::GET,
            http::Method::POST,
            http::Method::PUT,
            http::Method::PATCH,
            http::Method::DELETE,
            http::Method::HEAD,
            http::Method::OPTIONS,
        ];
        const NAMES: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
        let at = KNOWN.iter().position(|m| m == method);
        MethodLabel(at.map_or("other", |at| NAMES[at]))
    }
}

impl EncodeLabelValue for MethodLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.0, encoder)
    }
}

/// A route's template as a label (shared with the router, not copied), or
/// `unmatched`.
#[derive(Debug, Clone)]
struct Route(Option<MatchedPath>);

impl Route {
    fn as_str(&self) -> &str {
        self.0.as_ref().map_or("unmatched", MatchedPath::as_str)
    }
}

impl PartialEq for Route {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Route {}

impl std::hash::Hash for Route {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl EncodeLabelValue for Route {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteLabels {
    method: MethodLabel,
    route: Route,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    method: MethodLabel,
    route: Route,
    code: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct AdapterLabels {
    adapter: Arc<str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct UpstreamLabels {
    adapter: Arc<str>,
    status: Upstream,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_method_route_and_code_and_gauges_sampled() {
        let metrics = Metrics::new();
        metrics.sample("instances_in_use", "instances", || 3);
        metrics.request(&http::Method::GET, None, 404, Duration::from_millis(2));
        metrics.request(
            &http::Method::from_bytes(b"BREW").unwrap(),
            None,
            404,
            Duration::ZERO,
        );
        let adapter: Arc<str> = "example".into();
        metrics.upstream(&adapter, Upstream::Status(200), Duration::from_millis(5));
        metrics.upstream(&adapter, Upstream::Timeout, Duration::from_millis(5));
        let text = metrics.encode();
        for line in [
            r#"interlink_http_requests_total{method="GET",route="unmatched",code="404"} 1"#,
            r#"interlink_http_requests_total{method="other",route="unmatched",code="404"} 1"#,
            r#"interlink_upstream_requests_total{adapter="example",status="200"} 1"#,
            r#"interlink_upstream_requests_total{adapter="example",status="timeout"} 1"#,
            r#"interlink_upstream_request_duration_seconds_count{adapter="example"} 2"#,
            "interlink_instances_in_use 3",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }
}
