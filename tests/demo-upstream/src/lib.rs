//! A small procurement API for the example adapter: suppliers, products and
//! orders with lines, behind a bearer API key.
//!
//! Its shapes differ from Interlink's unified model on purpose (camelCase,
//! numeric ids, nested contacts), so the example adapter has real mapping to
//! do. Tests start it in-process with [`DemoUpstream::start`]; the quick start
//! runs it as the `demo-upstream` binary.
//!
//! | route | what |
//! |---|---|
//! | `GET /api/me` | the account and its permissions |
//! | `GET /api/{collection}?offset&limit&updated_since` | a page: `{items, total, offset, hasMore}` |
//! | `GET /api/{collection}/{id}` | one record |
//! | `POST /api/{collection}` | create; answers 201 with the record |
//! | `PATCH /api/{collection}/{id}` | merge the body's members into the record |
//! | `DELETE /api/{collection}/{id}` | delete; 204 |
//! | `GET /api/ping?delay_ms=N` | answers `{"ok":true}` after N ms (tests of in-flight calls) |
//! | `GET /api/echo` | answers the request's headers (a system that reflects them) |
//!
//! Collections: `suppliers`, `products`, `orders`.
//!
//! [`faults`] is a system that fails instead, in every way it can.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

pub mod faults;

const COLLECTIONS: [&str; 3] = ["suppliers", "products", "orders"];

/// How the upstream starts.
#[derive(Debug, Clone)]
pub struct Options {
    /// The bearer key clients must send.
    pub api_key: String,
    /// The permissions `GET /api/me` reports.
    pub permissions: Vec<String>,
    /// Fill the collections with a few records.
    pub seed: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            api_key: "demo-key".into(),
            permissions: [
                "suppliers:read",
                "suppliers:write",
                "products:read",
                "products:write",
                "orders:read",
                "orders:write",
            ]
            .map(String::from)
            .to_vec(),
            seed: true,
        }
    }
}

#[derive(Default)]
struct Collection {
    next_id: u64,
    records: BTreeMap<u64, Value>,
}

struct Shared {
    options: Options,
    /// The key clients must send; tests change it to revoke credentials.
    api_key: Mutex<String>,
    /// Added to every request's time.
    delay_ms: AtomicU64,
    /// While true, requests wait (after being counted in flight).
    paused: tokio::sync::watch::Sender<bool>,
    /// Requests being served now, and the most there ever were.
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    /// Requests still to answer 429 before serving again, and the
    /// `Retry-After` (seconds) they carry.
    throttled: AtomicU64,
    retry_after_secs: AtomicU64,
    /// The list pages served, with their collection, in order.
    pages: Mutex<Vec<(&'static str, PageServed)>>,
    /// Writes (POST, PATCH, PUT, DELETE) that reached the server.
    writes: AtomicU64,
    /// The bodies of creates and updates, as received.
    received: Mutex<Vec<Write>>,
    collections: Mutex<BTreeMap<&'static str, Collection>>,
    requests: AtomicU64,
    traceparents: Mutex<Vec<String>>,
    /// Every request answered, in order.
    log: Mutex<Vec<Received>>,
}

/// A request the upstream answered, as it arrived, and its answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub method: String,
    /// The path and query, as sent: `/api/suppliers?offset=0&limit=2`.
    pub path_and_query: String,
    pub body: Vec<u8>,
    pub status: u16,
    pub response_body: Vec<u8>,
}

/// A create or update the upstream received.
#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    pub method: String,
    /// The path, `/api/{collection}[/{id}]`.
    pub path: String,
    pub body: Value,
}

/// A list page the upstream served.
#[derive(Debug, Clone, PartialEq)]
pub struct PageServed {
    pub offset: usize,
    /// The request's query string: `offset=0&limit=10`.
    pub query: String,
}

/// A running upstream. Dropping it stops the server.
pub struct DemoUpstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DemoUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DemoUpstream {
    /// Starts on `addr` (port 0 picks a free one) on the current tokio runtime.
    pub async fn start(addr: SocketAddr, options: Options) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let seed = options.seed;
        let shared = Arc::new(Shared {
            api_key: Mutex::new(options.api_key.clone()),
            delay_ms: AtomicU64::new(0),
            paused: tokio::sync::watch::Sender::new(false),
            in_flight: AtomicU64::new(0),
            max_in_flight: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            retry_after_secs: AtomicU64::new(0),
            pages: Mutex::default(),
            writes: AtomicU64::new(0),
            received: Mutex::default(),
            options,
            collections: Mutex::new(
                COLLECTIONS
                    .iter()
                    .map(|c| (*c, Collection::default()))
                    .collect(),
            ),
            requests: AtomicU64::new(0),
            traceparents: Mutex::default(),
            log: Mutex::default(),
        });
        if seed {
            seed_data(&shared);
        }
        let app = router(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(DemoUpstream { addr, shared, task })
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many requests reached the server.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Every request answered so far, in order (those still held by
    /// [`pause`](Self::pause) once answered).
    pub fn received(&self) -> Vec<Received> {
        self.shared.log.lock().unwrap().clone()
    }

    /// The `traceparent` header of each request that had one, in order.
    pub fn traceparents(&self) -> Vec<String> {
        self.shared.traceparents.lock().unwrap().clone()
    }

    /// Replaces the accepted API key: clients holding the old one are
    /// rejected from now on, as when a key is revoked.
    pub fn set_api_key(&self, key: &str) {
        *self.shared.api_key.lock().unwrap() = key.to_string();
    }

    /// Delays every request by `ms` from now on.
    pub fn set_delay(&self, ms: u64) {
        self.shared.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// Holds every request from now on until [`resume`](Self::resume):
    /// tests that need calls in flight at a given moment use it instead of
    /// a delay.
    pub fn pause(&self) {
        self.shared.paused.send_replace(true);
    }

    /// Lets held and later requests through.
    pub fn resume(&self) {
        self.shared.paused.send_replace(false);
    }

    /// Requests being served now (held ones included).
    pub fn in_flight(&self) -> u64 {
        self.shared.in_flight.load(Ordering::SeqCst)
    }

    /// The most requests that were ever in flight at once.
    pub fn max_in_flight(&self) -> u64 {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// Answers the next `n` requests with 429 and `Retry-After:
    /// <retry_after_secs>`.
    pub fn throttle_next(&self, n: u64, retry_after_secs: u64) {
        self.shared
            .retry_after_secs
            .store(retry_after_secs, Ordering::SeqCst);
        self.shared.throttled.store(n, Ordering::SeqCst);
    }

    /// The list pages of `collection` served so far, in the order they were
    /// asked for.
    pub fn pages_served(&self, collection: &str) -> Vec<PageServed> {
        self.shared
            .pages
            .lock()
            .unwrap()
            .iter()
            .filter(|(c, _)| *c == collection)
            .map(|(_, page)| page.clone())
            .collect()
    }

    /// How many writes (POST, PATCH, PUT, DELETE) reached the server.
    pub fn writes(&self) -> u64 {
        self.shared.writes.load(Ordering::SeqCst)
    }

    /// Every create and update received, in order, with its body.
    pub fn received_writes(&self) -> Vec<Write> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Inserts a record as the system would store it; returns its id.
    pub fn insert(&self, collection: &str, record: Value) -> u64 {
        insert(&self.shared, collection, record)
    }

    /// Changes a record as the system's own users would (not through an
    /// API client): merges `patch` into it and moves its `updatedAt`.
    pub fn modify(&self, collection: &str, id: u64, patch: Value) {
        let mut collections = self.shared.collections.lock().unwrap();
        let record = collections
            .get_mut(collection)
            .and_then(|c| c.records.get_mut(&id))
            .expect("an existing record");
        merge(record, patch.as_object().expect("a JSON object"));
    }

    /// Deletes a record as the system's own users would.
    pub fn remove(&self, collection: &str, id: u64) {
        let mut collections = self.shared.collections.lock().unwrap();
        collections
            .get_mut(collection)
            .and_then(|c| c.records.remove(&id))
            .expect("an existing record");
    }
}

/// Merges `patch`'s members into `record` (but its id and creation time)
/// and moves its `updatedAt`.
fn merge(record: &mut Value, patch: &serde_json::Map<String, Value>) {
    for (k, v) in patch {
        if k != "id" && k != "createdAt" {
            record[k] = v.clone();
        }
    }
    record["updatedAt"] = json!(now());
}

fn now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

fn insert(shared: &Shared, collection: &str, mut record: Value) -> u64 {
    let mut collections = shared.collections.lock().unwrap();
    let c = collections.get_mut(collection).expect("known collection");
    c.next_id += 1;
    let id = c.next_id;
    let stamp = now();
    record["id"] = json!(id);
    record["createdAt"] = json!(stamp);
    record["updatedAt"] = json!(stamp);
    if collection == "orders" {
        // The system numbers orders and starts them in draft, as ERPs do.
        record["orderNumber"] = json!(format!("PO{id:05}"));
        if record.get("state").is_none() {
            record["state"] = json!("draft");
        }
    }
    c.records.insert(id, record);
    id
}

fn seed_data(shared: &Shared) {
    for (name, email, currency) in [
        ("Acme Industrial Supply", "orders@acme.example", "USD"),
        (
            "Nordic Fasteners AB",
            "sales@nordicfasteners.example",
            "SEK",
        ),
        ("Bolt & Nut GmbH", "vertrieb@boltnut.example", "EUR"),
    ] {
        insert(
            shared,
            "suppliers",
            json!({
                "displayName": name,
                "contact": {"email": email, "phone": "+1 555 0100"},
                "currencyCode": currency,
                "isActive": true,
            }),
        );
    }
    for (sku, title, price) in [
        ("BLT-M8", "Hex bolt M8x40", "0.42"),
        ("NUT-M8", "Hex nut M8", "0.08"),
    ] {
        insert(
            shared,
            "products",
            json!({"sku": sku, "title": title, "uom": "ea", "price": price, "kind": "inventory"}),
        );
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/ping", get(ping))
        .route("/api/echo", get(echo))
        .route("/api/me", get(me))
        .route("/api/{collection}", get(list).post(create))
        .route(
            "/api/{collection}/{id}",
            get(read).patch(update).delete(remove),
        )
        .layer(middleware::from_fn_with_state(shared.clone(), authenticate))
        .with_state(shared)
}

/// An error answer: `{"error": message}`.
struct Failure(StatusCode, String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error": self.1}))).into_response()
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    Failure(status, message.into()).into_response()
}

/// Checks the API key, and the permission the request needs:
/// `<collection>:read` to read, `<collection>:write` to write.
async fn authenticate(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    if let Some(traceparent) = headers.get("traceparent").and_then(|v| v.to_str().ok()) {
        shared
            .traceparents
            .lock()
            .unwrap()
            .push(traceparent.to_string());
    }
    if request.method() != axum::http::Method::GET {
        shared.writes.fetch_add(1, Ordering::SeqCst);
    }
    let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let mut received = Received {
        method: parts.method.to_string(),
        path_and_query: parts
            .uri
            .path_and_query()
            .map(ToString::to_string)
            .unwrap_or_default(),
        body: body.to_vec(),
        status: 0,
        response_body: Vec::new(),
    };
    let request = Request::from_parts(parts, axum::body::Body::from(body));
    let response = serve(&shared, headers, request, next).await;
    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    received.status = parts.status.as_u16();
    received.response_body = body.to_vec();
    shared.log.lock().unwrap().push(received);
    Response::from_parts(parts, axum::body::Body::from(body))
}

async fn serve(shared: &Shared, headers: HeaderMap, request: Request, next: Next) -> Response {
    let _ = shared.paused.subscribe().wait_for(|paused| !paused).await;
    let delay = shared.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let throttled = shared
        .throttled
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    if throttled.is_ok() {
        let mut response = error(StatusCode::TOO_MANY_REQUESTS, "slow down");
        let seconds = shared.retry_after_secs.load(Ordering::SeqCst);
        response.headers_mut().insert("retry-after", seconds.into());
        return response;
    }
    let expected = format!("Bearer {}", shared.api_key.lock().unwrap());
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return error(StatusCode::UNAUTHORIZED, "invalid or missing API key");
    }
    let path = request.uri().path().trim_start_matches("/api/");
    let collection = path.split('/').next().unwrap_or_default();
    if COLLECTIONS.contains(&collection) {
        let access = if request.method() == axum::http::Method::GET {
            "read"
        } else {
            "write"
        };
        let needed = format!("{collection}:{access}");
        if !shared.options.permissions.contains(&needed) {
            return error(
                StatusCode::FORBIDDEN,
                format!("the key lacks the permission {needed}"),
            );
        }
    }
    next.run(request).await
}

#[derive(Deserialize)]
struct PingQuery {
    delay_ms: Option<u64>,
}

async fn ping(Query(q): Query<PingQuery>) -> Json<Value> {
    if let Some(ms) = q.delay_ms {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    Json(json!({"ok": true}))
}

/// The request's headers, as a JSON object.
async fn echo(headers: HeaderMap) -> Json<Value> {
    let headers: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or_default())))
        .collect();
    Json(json!({"headers": headers}))
}

async fn me(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(
        json!({"accountId": "demo-1", "company": "Demo Procurement Co.", "permissions": shared.options.permissions}),
    )
}

/// A record id: a number (anything else names no record).
fn record_id(id: &str) -> Option<u64> {
    id.parse().ok()
}

fn not_found(collection: &str, id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("{collection} {id} not found"),
    )
}

fn collection_name(name: &str) -> Result<&'static str, Failure> {
    COLLECTIONS
        .iter()
        .find(|c| **c == name)
        .copied()
        .ok_or_else(|| Failure(StatusCode::NOT_FOUND, format!("no collection {name}")))
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    offset: usize,
    limit: Option<usize>,
    updated_since: Option<String>,
}

async fn list(
    State(shared): State<Arc<Shared>>,
    Path(collection): Path<String>,
    Query(q): Query<ListQuery>,
    uri: axum::http::Uri,
) -> Response {
    let name = match collection_name(&collection) {
        Ok(n) => n,
        Err(e) => return e.into_response(),
    };
    let limit = q.limit.unwrap_or(50).clamp(1, 1000);
    let collections = shared.collections.lock().unwrap();
    let matching: Vec<&Value> = collections[name]
        .records
        .values()
        .filter(|r| match &q.updated_since {
            Some(since) => r["updatedAt"].as_str().is_some_and(|u| u > since.as_str()),
            None => true,
        })
        .collect();
    let total = matching.len();
    let items: Vec<&Value> = matching.into_iter().skip(q.offset).take(limit).collect();
    let query = uri.query().unwrap_or_default().to_string();
    let page = PageServed {
        offset: q.offset,
        query,
    };
    shared.pages.lock().unwrap().push((name, page));
    let has_more = q.offset + items.len() < total;
    Json(json!({"items": items, "total": total, "offset": q.offset, "hasMore": has_more}))
        .into_response()
}

async fn read(
    State(shared): State<Arc<Shared>>,
    Path((collection, id)): Path<(String, String)>,
) -> Response {
    let name = match collection_name(&collection) {
        Ok(n) => n,
        Err(e) => return e.into_response(),
    };
    let Some(id) = record_id(&id) else {
        return not_found(&collection, &id);
    };
    match shared.collections.lock().unwrap()[name].records.get(&id) {
        Some(r) => Json(r.clone()).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            format!("{collection} {id} not found"),
        ),
    }
}

async fn create(
    State(shared): State<Arc<Shared>>,
    Path(collection): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    shared.received.lock().unwrap().push(Write {
        method: "POST".into(),
        path: format!("/api/{collection}"),
        body: body.clone(),
    });
    let name = match collection_name(&collection) {
        Ok(n) => n,
        Err(e) => return e.into_response(),
    };
    if !body.is_object() {
        return error(StatusCode::BAD_REQUEST, "the body must be a JSON object");
    }
    let id = insert(&shared, name, body);
    let record = shared.collections.lock().unwrap()[name].records[&id].clone();
    (StatusCode::CREATED, Json(record)).into_response()
}

async fn update(
    State(shared): State<Arc<Shared>>,
    Path((collection, id)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Response {
    shared.received.lock().unwrap().push(Write {
        method: "PATCH".into(),
        path: format!("/api/{collection}/{id}"),
        body: body.clone(),
    });
    let name = match collection_name(&collection) {
        Ok(n) => n,
        Err(e) => return e.into_response(),
    };
    let Some(patch) = body.as_object() else {
        return error(StatusCode::BAD_REQUEST, "the body must be a JSON object");
    };
    let Some(id) = record_id(&id) else {
        return not_found(&collection, &id);
    };
    let mut collections = shared.collections.lock().unwrap();
    let Some(record) = collections
        .get_mut(name)
        .and_then(|c| c.records.get_mut(&id))
    else {
        return error(
            StatusCode::NOT_FOUND,
            format!("{collection} {id} not found"),
        );
    };
    merge(record, patch);
    Json(record.clone()).into_response()
}

async fn remove(
    State(shared): State<Arc<Shared>>,
    Path((collection, id)): Path<(String, String)>,
) -> Response {
    let name = match collection_name(&collection) {
        Ok(n) => n,
        Err(e) => return e.into_response(),
    };
    let Some(id) = record_id(&id) else {
        return not_found(&collection, &id);
    };
    let mut collections = shared.collections.lock().unwrap();
    match collections
        .get_mut(name)
        .and_then(|c| c.records.remove(&id))
    {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            format!("{collection} {id} not found"),
        ),
    }
}
