//! What the host tells operators, through the real binary: OpenTelemetry
//! traces sent to a collector stand-in (OTLP over HTTP, decoded with the
//! project's own protobuf types), with the `traceparent` the upstream saw;
//! and Prometheus metrics, scraped and parsed by an OpenMetrics text parser.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{Span, span::SpanKind};
use prost::Message;
use reqwest::{Method as M, StatusCode};
use serde_json::json;

/// An OTLP/HTTP collector on loopback, keeping every span it receives.
struct Collector {
    endpoint: String,
    spans: Arc<Mutex<Vec<Span>>>,
    _task: AbortOnDrop,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn receive(State(spans): State<Arc<Mutex<Vec<Span>>>>, body: Bytes) -> Vec<u8> {
    let request = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
    let mut kept = spans.lock().unwrap();
    for resource in request.resource_spans {
        for scope in resource.scope_spans {
            kept.extend(scope.spans);
        }
    }
    Vec::new() // an empty ExportTraceServiceResponse
}

impl Collector {
    async fn start() -> Collector {
        let spans = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new()
            .route("/v1/traces", post(receive))
            .with_state(spans.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Collector {
            endpoint,
            spans,
            _task: AbortOnDrop(task),
        }
    }

    /// The spans of `trace` received so far.
    fn trace(&self, trace: &[u8]) -> Vec<Span> {
        let spans = self.spans.lock().unwrap();
        spans
            .iter()
            .filter(|s| s.trace_id == trace)
            .cloned()
            .collect()
    }
}

/// The one span named `name` of `spans`.
fn named<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    let found: Vec<_> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "one `{name}` span in {:#?}", names(spans));
    found[0]
}

/// The one server span of `spans`: the request's, named by its method and
/// route template.
fn server(spans: &[Span]) -> &Span {
    let found: Vec<_> = spans
        .iter()
        .filter(|s| s.kind == SpanKind::Server as i32)
        .collect();
    assert_eq!(found.len(), 1, "one server span in {:#?}", names(spans));
    found[0]
}

fn names(spans: &[Span]) -> Vec<(&str, String, String)> {
    spans
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                hex::encode(&s.span_id),
                hex::encode(&s.parent_span_id),
            )
        })
        .collect()
}

fn attribute(span: &Span, key: &str) -> String {
    let value = span
        .attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.as_ref())
        .and_then(|v| v.value.as_ref())
        .unwrap_or_else(|| panic!("`{}` has no `{key}`", span.name));
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    match value {
        Value::StringValue(s) => s.clone(),
        Value::IntValue(i) => i.to_string(),
        other => format!("{other:?}"),
    }
}

/// The complete trace of a call: once its request span and `upstream`
/// upstream requests have arrived (polled with a deadline).
async fn complete_trace(collector: &Collector, trace: &[u8], upstream: usize) -> Vec<Span> {
    eventually(Duration::from_secs(20), "the call's spans", || async {
        let spans = collector.trace(trace);
        let requests = spans
            .iter()
            .filter(|s| s.kind == SpanKind::Server as i32)
            .count();
        let upstreams = spans
            .iter()
            .filter(|s| s.name == "upstream request")
            .count();
        (requests == 1 && upstreams >= upstream).then_some(spans)
    })
    .await
}

/// The parent/child shape of a data-plane call: the request span, its
/// instantiate and guest call, and each upstream request under the guest
/// call, as a client span whose id the upstream received in `traceparent`.
fn assert_call_shape(spans: &[Span], traceparents: &[String]) -> Vec<String> {
    let request = server(spans);
    let instantiate = named(spans, "instantiate");
    let guest = named(spans, "guest call");
    assert_eq!(instantiate.parent_span_id, request.span_id);
    assert_eq!(guest.parent_span_id, request.span_id);
    assert_eq!(attribute(guest, "adapter"), "example");
    let upstream: Vec<&Span> = spans
        .iter()
        .filter(|s| s.name == "upstream request")
        .collect();
    assert!(!upstream.is_empty(), "{:#?}", names(spans));
    let trace = hex::encode(&request.trace_id);
    let mut seen = Vec::new();
    for span in upstream {
        assert_eq!(span.parent_span_id, guest.span_id, "{:#?}", names(spans));
        assert_eq!(span.kind, SpanKind::Client as i32);
        let status = attribute(span, "http.response.status_code");
        assert!(status.starts_with('2'), "{status}");
        let header = format!("00-{trace}-{}-01", hex::encode(&span.span_id));
        assert!(
            traceparents.contains(&header),
            "the upstream saw {header}: {traceparents:?}"
        );
        seen.push(header);
    }
    seen
}

#[tokio::test]
async fn a_read_and_a_write_are_traced_to_the_upstream_through_the_callers_traceparent() {
    let collector = Collector::start().await;
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "50"),
        ("OTEL_SERVICE_NAME", "interlink-under-test"),
    ];
    let demo = Demo::start(
        demo_upstream::Options::default(),
        ServerOptions {
            adapters: &["example"],
            env: &env,
            ..Default::default()
        },
    )
    .await;

    // A read whose client is traced: its request span is a child of the
    // client's span, in the client's trace.
    let before = demo.up.traceparents().len();
    let client_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let client_span = "00f067aa0ba902b7";
    let read = call_with(
        &demo.http,
        M::GET,
        demo.server.url("/v1/vendors"),
        &demo.token,
        None,
        &[(
            "traceparent",
            &format!("00-{client_trace}-{client_span}-01"),
        )],
    )
    .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    let spans = complete_trace(&collector, &hex::decode(client_trace).unwrap(), 1).await;
    let request = server(&spans);
    assert_eq!(request.name, "GET /v1/{entity}");
    assert_eq!(hex::encode(&request.parent_span_id), client_span);
    assert_eq!(attribute(request, "http.route"), "/v1/{entity}");
    assert_eq!(attribute(request, "http.response.status_code"), "200");
    let read_headers = assert_call_shape(&spans, &demo.up.traceparents()[before..]);

    // A write without a caller's trace: a trace of its own, with the
    // field-rule check under the request.
    let after_read = demo.up.traceparents().len();
    let created = demo
        .call(M::POST, "/v1/vendors", Some(json!({"name": "Traced"})))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let traceparents = demo.up.traceparents();
    let write_trace = traceparents[after_read]
        .split('-')
        .nth(1)
        .expect("a traceparent")
        .to_string();
    assert_ne!(write_trace, client_trace);
    let spans = complete_trace(&collector, &hex::decode(&write_trace).unwrap(), 1).await;
    let request = server(&spans);
    assert_eq!(request.name, "POST /v1/{entity}");
    assert!(request.parent_span_id.is_empty(), "a root span");
    assert_eq!(
        named(&spans, "rule check").parent_span_id,
        request.span_id,
        "{:#?}",
        names(&spans)
    );
    let write_headers = assert_call_shape(&spans, &traceparents[after_read..]);
    assert_eq!(
        read_headers.len() + write_headers.len(),
        traceparents.len() - before,
        "every upstream request carried its span's traceparent: {traceparents:?}"
    );
}

/// A scrape, parsed by an independent OpenMetrics parser: the Prometheus
/// project's Python client (`tests/prometheus/parse.py`, installed by the
/// tools stage).
struct Scrape(Vec<Family>);

#[derive(serde::Deserialize)]
struct Family {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    samples: Vec<Sample>,
}

#[derive(serde::Deserialize)]
struct Sample {
    name: String,
    labels: std::collections::BTreeMap<String, String>,
    value: f64,
}

impl Scrape {
    fn parse(text: &str) -> Scrape {
        use std::io::Write;
        let python = crate::common::target_dir().join("prometheus-client/bin/python");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/prometheus/parse.py");
        let mut child = std::process::Command::new(&python)
            .arg(script)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e} (cargo xtask test installs it)", python.display()));
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "not OpenMetrics: {}\nin\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );
        Scrape(serde_json::from_slice(&out.stdout).unwrap())
    }

    fn family(&self, name: &str) -> Option<&Family> {
        self.0.iter().find(|f| f.name == name)
    }

    /// The samples named `sample` of the family `name` whose labels include
    /// `labels`, each with how many labels it has besides `le`.
    fn samples<'a>(
        &'a self,
        name: &str,
        sample: &'a str,
        labels: &'a [(&str, &str)],
    ) -> impl Iterator<Item = (usize, &'a Sample)> + 'a {
        self.family(name)
            .into_iter()
            .flat_map(|family| &family.samples)
            .filter(move |s| s.name == sample)
            .filter(move |s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| (s.labels.keys().filter(|k| *k != "le").count(), s))
    }

    /// The value of the counter or gauge `name` with exactly `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let sample = match self.family(name)?.kind.as_str() {
            "counter" => format!("{name}_total"),
            "gauge" => name.to_string(),
            other => panic!("{name} is a {other}"),
        };
        self.samples(name, &sample, labels)
            .find(|(count, _)| *count == labels.len())
            .map(|(_, s)| s.value)
    }

    /// The observations of the histogram `name` with exactly `labels`.
    fn observations(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let family = self.family(name)?;
        assert_eq!(family.kind, "histogram", "{name}");
        let buckets = self
            .samples(name, &format!("{name}_bucket"), labels)
            .filter(|(count, _)| *count == labels.len())
            .count();
        assert!(buckets > 10, "{name} has its buckets");
        self.samples(name, &format!("{name}_count"), labels)
            .find(|(count, _)| *count == labels.len())
            .map(|(_, s)| s.value)
    }

    /// The sum of the counter `name` over every sample whose labels
    /// include `labels`.
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        assert_eq!(self.family(name).map(|f| f.kind.as_str()), Some("counter"));
        self.samples(name, &format!("{name}_total"), labels)
            .map(|(_, s)| s.value)
            .sum()
    }
}

#[tokio::test]
async fn metrics_count_routes_codes_and_upstream_requests_for_the_admin_and_the_private_listener() {
    let demo = Demo::start(
        demo_upstream::Options::default(),
        ServerOptions {
            adapters: &["example"],
            args: &["--metrics-listen", "127.0.0.1:0"],
            ..Default::default()
        },
    )
    .await;
    let ok = demo.call(M::GET, "/v1/vendors", None).await;
    assert_eq!(ok.status, StatusCode::OK);
    let refused = demo
        .call(M::POST, "/v1/vendors", Some(json!({"colour": "red"})))
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let missing = demo.call(M::GET, "/v2/nothing/7", None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    let url = demo.server.url("/metrics");
    let anonymous = demo.http.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let scraped = demo
        .http
        .get(&url)
        .bearer_auth(demo.server.admin_key())
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), StatusCode::OK);
    let text = scraped.text().await.unwrap();
    let scrape = Scrape::parse(&text);
    let requests = "interlink_http_requests";
    for (method, route, code) in [
        ("GET", "/v1/{entity}", "200"),
        ("POST", "/v1/{entity}", "422"),
        ("GET", "unmatched", "404"),
        ("GET", "/metrics", "401"),
    ] {
        let labels = [("method", method), ("route", route), ("code", code)];
        assert_eq!(
            scrape.value(requests, &labels),
            Some(1.0),
            "{labels:?} in\n{text}"
        );
    }
    assert!(
        !text.contains("/v2/nothing") && !text.contains(&demo.token),
        "no path or token is a label:\n{text}"
    );
    let read = [("method", "GET"), ("route", "/v1/{entity}")];
    assert_eq!(
        scrape.observations("interlink_http_request_duration_seconds", &read),
        Some(1.0),
        "{text}"
    );
    // Every request the upstream received (the connection's check and the
    // read; the refused write sent none) was counted, by adapter and status.
    let upstream = demo.up.requests() as f64;
    assert!(upstream >= 1.0);
    let example = [("adapter", "example")];
    assert_eq!(
        scrape.sum("interlink_upstream_requests", &example),
        upstream,
        "{text}"
    );
    assert_eq!(
        scrape.value(
            "interlink_upstream_requests",
            &[("adapter", "example"), ("status", "200")]
        ),
        Some(upstream),
        "{text}"
    );
    assert_eq!(
        scrape.observations("interlink_upstream_request_duration_seconds", &example),
        Some(upstream),
        "{text}"
    );
    assert!(scrape.value("interlink_instances_max", &[]).unwrap() >= 256.0);
    assert_eq!(scrape.value("interlink_sync_runs_running", &[]), Some(0.0));
    assert_eq!(
        scrape.value("interlink_webhook_deliveries_pending", &[]),
        Some(0.0)
    );
    assert_eq!(scrape.value("interlink_calls_admitted", &[]), Some(0.0));

    // The private listener serves the same metrics without a key.
    let logs = eventually(Duration::from_secs(10), "the metrics listener", || async {
        let logs = demo.server.logs();
        logs.contains("metrics listening").then_some(logs)
    })
    .await;
    let addr = logs
        .lines()
        .find(|l| l.contains("metrics listening"))
        .and_then(|l| l.split("addr=").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the metrics listener's address")
        .to_string();
    let private = demo
        .http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(private.status(), StatusCode::OK);
    let scrape = Scrape::parse(&private.text().await.unwrap());
    assert_eq!(
        scrape.value(
            requests,
            &[
                ("method", "GET"),
                ("route", "/v1/{entity}"),
                ("code", "200")
            ]
        ),
        Some(1.0)
    );
}
