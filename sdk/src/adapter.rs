//! The [`Adapter`] trait and its glue to the component's exports.

use crate::bindings::exports::interlink::adapter::adapter as exports;
use crate::bindings::interlink::adapter::types as wit;
use crate::http::{PassthroughRequest, Response};
use crate::{Account, Context, Error, ListRequest, Manifest, Result, Value};

/// One page of unified records.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    /// The records, as unified JSON objects.
    pub records: Vec<Value>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// A business system, seen through Interlink's unified model.
///
/// Only [`manifest`](Adapter::manifest), [`connect`](Adapter::connect) and
/// [`list`](Adapter::list) are required; the other operations answer
/// `unsupported` unless implemented. Every operation receives the connection's
/// [`Context`]; records are JSON objects of the unified model.
pub trait Adapter {
    /// Declares the adapter. Called once per load; must not call the host.
    fn manifest() -> Manifest;

    /// Verifies the connection's credentials; reports the account and the
    /// permissions it holds.
    fn connect(ctx: &Context) -> Result<Account>;

    /// Reads one page of `request.entity`.
    fn list(ctx: &Context, request: ListRequest) -> Result<Page>;

    /// Reads one record.
    fn get(ctx: &Context, entity: &str, id: &str) -> Result<Value> {
        let _ = (ctx, id);
        Err(Error::unsupported(format!(
            "get is not supported on {entity}"
        )))
    }

    /// Creates a record with its children, returning it as stored.
    fn create(ctx: &Context, entity: &str, record: Value) -> Result<Value> {
        let _ = (ctx, record);
        Err(Error::unsupported(format!(
            "create is not supported on {entity}"
        )))
    }

    /// Applies `patch` (the fields to change), returning the record as stored.
    fn update(ctx: &Context, entity: &str, id: &str, patch: Value) -> Result<Value> {
        let _ = (ctx, id, patch);
        Err(Error::unsupported(format!(
            "update is not supported on {entity}"
        )))
    }

    /// Deletes a record.
    fn delete(ctx: &Context, entity: &str, id: &str) -> Result<()> {
        let _ = (ctx, id);
        Err(Error::unsupported(format!(
            "delete is not supported on {entity}"
        )))
    }

    /// Sends a client's request to the system's own API, with the
    /// connection's credentials, and answers the system's response as it
    /// came (do not turn its statuses into errors). Called only when the
    /// manifest declares [`Manifest::passthrough`]; typically
    /// `request.to(base).secret_header(...).send()`.
    fn passthrough(ctx: &Context, request: PassthroughRequest) -> Result<Response> {
        let _ = (ctx, request);
        Err(Error::unsupported("this adapter has no passthrough"))
    }
}

/// Names the [`Adapter`] that [`export_adapter!`](crate::export_adapter) exports.
#[doc(hidden)]
pub trait Exports {
    type Adapter: Adapter;
}

fn parse_record(json: &str) -> Result<Value> {
    serde_json::from_str(json).map_err(|e| Error::invalid("", "invalid_json", e.to_string()))
}

/// `value` as JSON text. Not `value.to_string()`: `Display` writes through
/// `fmt::Formatter` piece by piece, about three times slower (the
/// end-to-end benchmark's profile, docs/benchmarks.md).
fn to_json(value: &Value) -> String {
    serde_json::to_string(value).expect("a JSON value always serializes")
}

impl<T: Exports> exports::Guest for T {
    fn describe() -> wit::Manifest {
        T::Adapter::manifest()
    }

    fn connect(ctx: wit::CallContext) -> Result<wit::Account, wit::AdapterError> {
        T::Adapter::connect(&Context::from(ctx))
    }

    fn list(ctx: wit::CallContext, request: ListRequest) -> Result<wit::Page, wit::AdapterError> {
        let page = T::Adapter::list(&Context::from(ctx), request)?;
        Ok(wit::Page {
            records: page.records.iter().map(to_json).collect(),
            next_cursor: page.next_cursor,
        })
    }

    fn get(ctx: wit::CallContext, entity: String, id: String) -> Result<String, wit::AdapterError> {
        Ok(to_json(&T::Adapter::get(
            &Context::from(ctx),
            &entity,
            &id,
        )?))
    }

    fn create(
        ctx: wit::CallContext,
        entity: String,
        record: String,
    ) -> Result<String, wit::AdapterError> {
        let record = parse_record(&record)?;
        Ok(to_json(&T::Adapter::create(
            &Context::from(ctx),
            &entity,
            record,
        )?))
    }

    fn update(
        ctx: wit::CallContext,
        entity: String,
        id: String,
        patch: String,
    ) -> Result<String, wit::AdapterError> {
        let patch = parse_record(&patch)?;
        Ok(to_json(&T::Adapter::update(
            &Context::from(ctx),
            &entity,
            &id,
            patch,
        )?))
    }

    fn delete(ctx: wit::CallContext, entity: String, id: String) -> Result<(), wit::AdapterError> {
        T::Adapter::delete(&Context::from(ctx), &entity, &id)
    }

    #[cfg(not(feature = "contract-0-1-0"))]
    fn passthrough(
        ctx: wit::CallContext,
        request: exports::PassthroughRequest,
    ) -> Result<crate::bindings::interlink::adapter::http::Response, wit::AdapterError> {
        let request = PassthroughRequest {
            method: request.method,
            path: request.path,
            headers: request
                .headers
                .into_iter()
                .map(|h| (h.name, h.value))
                .collect(),
            body: request.body,
        };
        Ok(T::Adapter::passthrough(&Context::from(ctx), request)?.into_wit())
    }
}
