//! What the benchmarks share: the per-call workload of `call_overhead` and
//! the Extism comparison (`benches/extism/`), the upstream page of 10
//! suppliers and an outbound client that answers it from memory; and the
//! host's real client, allowed to reach the loopback upstreams.
#![allow(dead_code)] // each benchmark uses its own part

use std::sync::Arc;

use futures::future::BoxFuture;
use interlink::outbound::{
    AdapterGrants, HttpClient, Outbound, OutboundError, OutboundRequest, OutboundResponse, network,
};
use interlink::runtime::{MemoryKv, Services};
use serde_json::json;

/// The host's HTTP client.
pub fn loopback_client(max_response_bytes: u64) -> HttpClient {
    HttpClient::new(max_response_bytes, None).unwrap()
}

/// A runtime's services: the host's client, and every adapter allowed to
/// reach loopback (where the benchmarks' upstreams run).
pub fn loopback_services(max_response_bytes: u64) -> Services {
    let loopback = network::parse_network("127.0.0.0/8").unwrap();
    Services::new(
        Arc::new(loopback_client(max_response_bytes)),
        Arc::new(MemoryKv::default()),
    )
    .with_adapter_grants(AdapterGrants::every_adapter(vec![loopback]))
}

/// Answers every request with the same page.
pub struct Canned(pub Arc<Vec<u8>>);

impl Outbound for Canned {
    fn send(
        &self,
        _: OutboundRequest,
    ) -> BoxFuture<'static, Result<OutboundResponse, OutboundError>> {
        let body = self.0.clone();
        Box::pin(async move {
            Ok(OutboundResponse {
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body: body.to_vec(),
            })
        })
    }
}

/// The demo upstream's page of 10 suppliers (about 3 KB).
pub fn page_body() -> Vec<u8> {
    let items: Vec<_> = (1..=10)
        .map(|i| {
            json!({
                "id": i,
                "displayName": format!("Supplier number {i} Industrial Components Ltd."),
                "contact": {"email": format!("orders{i}@supplier{i}.example"), "phone": "+1 555 0100"},
                "currencyCode": "USD",
                "isActive": i % 3 != 0,
                "customFields": {"custentity_region": "EMEA"},
                "createdAt": "2026-01-02T03:04:05.678Z",
                "updatedAt": "2026-11-20T10:11:12.131Z",
            })
        })
        .collect();
    serde_json::to_vec(&json!({"items": items, "total": 10, "offset": 0, "hasMore": false}))
        .unwrap()
}
