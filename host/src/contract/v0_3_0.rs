//! Contract 0.3.0 (`wit/since_v0.3.0`), the newest: its bindings, and its
//! types converted to and from the host's model. The host's imports
//! (`crate::runtime::imports`) implement this version; older versions adapt
//! to it.
//!
//! New in 0.3.0: `passthrough`, which forwards a client's request to the
//! system's own API, and the manifest's `passthrough`, which declares it.

wasmtime::component::bindgen!({
    path: "../wit/since_v0.3.0",
    world: "adapter-world",
    // `send` may stop the call: a dry run ends at the first request it holds.
    imports: {
        "interlink:adapter/http.send": async | trappable,
        default: async,
    },
    exports: { default: async },
});

use self::exports::interlink::adapter::adapter as exported;
use self::interlink::adapter::http;
pub use self::interlink::adapter::types;

super::convert::type_conversions!();

fn declares_passthrough(w: &types::Manifest) -> bool {
    w.passthrough
}

impl From<&host::PassthroughRequest> for exported::PassthroughRequest {
    fn from(r: &host::PassthroughRequest) -> Self {
        exported::PassthroughRequest {
            method: match r.method {
                host::PassthroughMethod::Get => http::Method::Get,
                host::PassthroughMethod::Head => http::Method::Head,
                host::PassthroughMethod::Post => http::Method::Post,
                host::PassthroughMethod::Put => http::Method::Put,
                host::PassthroughMethod::Patch => http::Method::Patch,
                host::PassthroughMethod::Delete => http::Method::Delete,
            },
            path: r.path.clone(),
            headers: r
                .headers
                .iter()
                .map(|(name, value)| http::Header {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
            body: r.body.clone(),
        }
    }
}

impl From<http::Response> for host::PassthroughResponse {
    fn from(w: http::Response) -> Self {
        host::PassthroughResponse {
            status: w.status,
            headers: w.headers.into_iter().map(|h| (h.name, h.value)).collect(),
            body: w.body,
        }
    }
}
