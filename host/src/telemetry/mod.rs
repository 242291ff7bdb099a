//! What the host tells operators about its work, besides its log: metrics
//! ([`metrics`]) and traces ([`trace`]). Both are kept here, below every
//! layer that reports to them, so the HTTP API, the data plane and the
//! runtime report without importing each other.
//!
//! - **Metrics** are Prometheus families, registered once when the host is
//!   built ([`Metrics::new`]) and updated in place: a request finds its
//!   route's counter and histogram under a read lock, with no label string
//!   made (route templates and adapter ids are shared, never copied). Gauges
//!   of what the host already counts (instance pool, admitted calls, sync
//!   runs) are read when `/metrics` is scraped, not kept up to date on
//!   every call.
//! - **Traces** are `tracing` spans of the target [`trace::SPANS`], which
//!   the log never shows; with OpenTelemetry configured
//!   (`OTEL_EXPORTER_OTLP_ENDPOINT`, ...), `tracing-opentelemetry` exports
//!   them over OTLP/HTTP. Without it nothing listens to them, so each span
//!   costs one check of its callsite, and no `traceparent` is read or sent.

pub mod metrics;
pub mod trace;

pub use metrics::Metrics;
