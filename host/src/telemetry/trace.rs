//! OpenTelemetry traces: the spans of the target [`SPANS`], exported over
//! OTLP/HTTP (protobuf) when the standard variables ask for it, and the W3C
//! `traceparent` read from API clients and sent to upstreams.
//!
//! A trace of one data-plane call:
//!
//! ```text
//! GET /v1/{entity} (server: route, status)     the HTTP API's middleware
//! ├── rule check                              a write's field rules
//! ├── idempotency claim / write budget        the database, for writes
//! ├── instantiate                             an instance for the call
//! └── guest call (adapter, operation)         the adapter runs
//!     └── upstream request (client)           each request to the system,
//!                                             carrying `traceparent`
//! ```
//!
//! Configuration ([`Tracing::from_env`]): export is on when
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT` is
//! set (or `OTEL_TRACES_EXPORTER=otlp`, to `http://localhost:4318`), and off
//! with `OTEL_TRACES_EXPORTER=none` or `OTEL_SDK_DISABLED=true`.
//! `OTEL_SERVICE_NAME` (`interlink` by default), `OTEL_RESOURCE_ATTRIBUTES`,
//! `OTEL_TRACES_SAMPLER`, `OTEL_BSP_*` and `OTEL_EXPORTER_OTLP_HEADERS` are
//! the SDK's. The collector is reached over plain HTTP (a local agent or
//! sidecar): an `https` endpoint or another protocol is refused at start.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{HttpClient, HttpError, hyper::HyperClient};
use opentelemetry_otlp::{SpanExporter, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracerProvider, Tracer};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The target of the host's trace spans. The log leaves it out unless its
/// filter names it.
pub const SPANS: &str = "interlink::spans";

/// Whether spans are exported: only then are `traceparent` headers read
/// and sent.
static ON: AtomicBool = AtomicBool::new(false);

/// Whether traces are exported.
pub fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Why traces cannot be exported as configured.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error(
        "OTEL_TRACES_EXPORTER={0}: this host exports traces over OTLP only (`otlp`, or `none`)"
    )]
    NotOtlp(String),
    #[error(
        "{var}={value}: this host sends traces as OTLP over HTTP with protobuf \
         (`http/protobuf`); point it at a collector's OTLP/HTTP port (4318)"
    )]
    Protocol { var: &'static str, value: String },
    #[error(
        "{var}={value}: this host sends traces over plain HTTP; run an OpenTelemetry \
         collector or agent beside it (http://localhost:4318) and let it forward over TLS"
    )]
    Tls { var: &'static str, value: String },
    #[error("setting up the OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
}

/// The trace exporter, while it runs.
pub struct Tracing {
    provider: SdkTracerProvider,
}

impl Tracing {
    /// The exporter the `OTEL_*` variables configure (see the module), or
    /// `None` when they configure none. Its requests run on `runtime`.
    ///
    /// # Errors
    ///
    /// The variables ask for an exporter other than OTLP, another protocol
    /// than HTTP with protobuf, or an `https` endpoint.
    pub fn from_env(runtime: tokio::runtime::Handle) -> Result<Option<Tracing>, TraceError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        if var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        let endpoint = [
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ]
        .into_iter()
        .find_map(|name| var(name).map(|value| (name, value)));
        match var("OTEL_TRACES_EXPORTER").as_deref() {
            Some("none") => return Ok(None),
            Some("otlp") => {}
            Some(other) => return Err(TraceError::NotOtlp(other.to_string())),
            None if endpoint.is_none() => return Ok(None),
            None => {}
        }
        for name in [
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ] {
            if let Some(value) = var(name).filter(|v| v != "http/protobuf") {
                return Err(TraceError::Protocol { var: name, value });
            }
        }
        if let Some((name, value)) = endpoint.filter(|(_, v)| !v.starts_with("http://")) {
            return Err(TraceError::Tls { var: name, value });
        }
        let client = OnRuntime {
            client: HyperClient::with_default_connector(Duration::from_secs(10), None),
            runtime,
        };
        let exporter = SpanExporter::builder()
            .with_http()
            .with_http_client(client)
            .build()?;
        let mut resource = Resource::builder();
        if var("OTEL_SERVICE_NAME").is_none() {
            resource = resource.with_service_name("interlink");
        }
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource.build())
            .build();
        ON.store(true, Ordering::Relaxed);
        Ok(Some(Tracing { provider }))
    }

    /// The tracer `tracing-opentelemetry` exports the spans with.
    pub fn tracer(&self) -> Tracer {
        self.provider.tracer("interlink")
    }

    /// Exports the spans still buffered and stops the exporter (a graceful
    /// stop). Failures are logged.
    pub async fn shutdown(self) {
        ON.store(false, Ordering::Relaxed);
        let provider = self.provider;
        let stopped = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        match stopped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "could not flush the trace exporter"),
            Err(e) => tracing::warn!(error = %e, "could not flush the trace exporter"),
        }
    }
}

/// The exporter's HTTP client, run on the host's Tokio runtime: the SDK
/// exports from a thread of its own, where hyper has no runtime.
#[derive(Debug)]
struct OnRuntime {
    client: HyperClient,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for OnRuntime {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, HttpError> {
        let client = self.client.clone();
        self.runtime
            .spawn(async move { client.send_bytes(request).await })
            .await?
    }
}

/// Makes the W3C `traceparent` of an API client's request, if it has a valid
/// one and traces are exported, the parent of `span`.
pub fn adopt_parent(span: &tracing::Span, headers: &http::HeaderMap) {
    if !on() || !headers.contains_key("traceparent") {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&TraceparentOnly(headers));
    // Fails only for a span no layer records.
    let _ = span.set_parent(parent);
}

/// A request's `traceparent` alone: a client's `tracestate` is not adopted,
/// so it does not travel on to the upstream.
struct TraceparentOnly<'a>(&'a http::HeaderMap);

impl Extractor for TraceparentOnly<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        if key != "traceparent" {
            return None;
        }
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent"]
    }
}

/// Puts `span`'s `traceparent` (and `tracestate`) into `headers`, replacing
/// any of that name, when traces are exported.
pub fn inject(span: &tracing::Span, headers: &mut Vec<(String, String)>) {
    if !on() {
        return;
    }
    TraceContextPropagator::new().inject_context(&span.context(), &mut Headers(headers));
}

struct Headers<'a>(&'a mut Vec<(String, String)>);

impl Injector for Headers<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.retain(|(name, _)| !name.eq_ignore_ascii_case(key));
        self.0.push((key.to_string(), value));
    }
}
