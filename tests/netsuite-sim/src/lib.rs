//! A NetSuite simulator, for testing the NetSuite adapter where the real
//! NetSuite cannot be reached. It follows Oracle's documentation as gathered
//! in `shared/specs/netsuite.md`; where Oracle is silent, the choices are
//! listed there and below.
//!
//! | route | what |
//! |---|---|
//! | `POST /services/rest/auth/oauth2/v1/token` | M2M client credentials: a JWT client assertion (PS256/384/512, ES256/384/512; never RS256) checked against the uploaded certificates |
//! | `GET /services/rest/record/v1/{type}?limit&offset&q` | a page of ids: `{links, items, count, offset, hasMore, totalResults}` |
//! | `GET /services/rest/record/v1/{type}/{id}?expandSubResources` | one record |
//! | `POST /services/rest/record/v1/{type}` | create; 204 with `Location` |
//! | `PATCH /services/rest/record/v1/{type}/{id}?replace=item` | update; 204 with `Location` |
//! | `POST /services/rest/query/v1/suiteql` | only `SELECT name, permlevel FROM rolepermissions WHERE role = ?` |
//!
//! Record types: `vendor`, `inventoryItem`, `purchaseOrder` (with its `item`
//! sublist). Errors carry `o:errorDetails`. Each certificate maps to a role
//! whose permissions every request is checked against; requests beyond the
//! account's concurrency limit (5) answer 429; access tokens expire after an
//! hour; purchase orders that are Rejected (C), Fully Billed (G) or Closed
//! (H) refuse edits.

mod auth;
mod certificate;
mod records;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::{get, post};
use serde_json::Value;

pub use certificate::{MAX_VALIDITY, PublicKey};

/// The token endpoint's path.
pub const TOKEN_PATH: &str = "/services/rest/auth/oauth2/v1/token";

/// A permission level of a NetSuite role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    View = 1,
    Create = 2,
    Edit = 3,
    Full = 4,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::View => "View",
            Level::Create => "Create",
            Level::Edit => "Edit",
            Level::Full => "Full",
        }
    }
}

/// The permissions of a role: `("Purchase Order", Level::Create)`.
pub type Permissions = Vec<(String, Level)>;

/// A role that can do everything the adapter does.
pub fn full_role() -> Permissions {
    [
        ("REST Web Services", Level::Full),
        ("Log in using OAuth 2.0 Access Tokens", Level::Full),
        ("SuiteAnalytics Workbook", Level::Edit),
        ("Vendors", Level::Full),
        ("Items", Level::Full),
        ("Purchase Order", Level::Full),
    ]
    .into_iter()
    .map(|(name, level)| (name.to_string(), level))
    .collect()
}

/// An uploaded certificate, mapped to an integration (client id) and a role.
#[derive(Clone)]
pub struct Mapping {
    pub client_id: String,
    pub key: PublicKey,
    pub role_id: u32,
    pub permissions: Permissions,
    pub revoked: bool,
}

struct Token {
    certificate_id: String,
    expires: Instant,
}

struct Inner {
    account: String,
    mappings: Mutex<HashMap<String, Mapping>>,
    tokens: Mutex<HashMap<String, Token>>,
    token_lifetime: Mutex<Duration>,
    records: Mutex<BTreeMap<&'static str, BTreeMap<u64, Value>>>,
    next_id: AtomicU64,
    next_role: AtomicU64,
    concurrency_limit: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    refused_for_concurrency: AtomicUsize,
    token_requests: AtomicUsize,
    delay: Mutex<Duration>,
    requests: Mutex<Vec<String>>,
    writes: Mutex<Vec<Write>>,
    /// The account's custom fields: record type, field id, JSON Schema.
    custom_fields: Mutex<Vec<(&'static str, String, Value)>>,
}

/// A record write the simulator received (a create or an update), as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    pub method: String,
    /// The path and query.
    pub path: String,
    /// The body, as JSON (`null` when it is not JSON).
    pub body: Value,
}

/// The simulator's state, shared by its handlers and its [`Simulator`] handle.
#[derive(Clone)]
pub struct Shared(Arc<Inner>);

impl Shared {
    fn account(&self) -> &str {
        &self.0.account
    }

    fn record_write(&self, request: &axum::http::request::Parts, body: &[u8]) {
        self.0.writes.lock().unwrap().push(Write {
            method: request.method.to_string(),
            path: request.uri.to_string(),
            body: serde_json::from_slice(body).unwrap_or(Value::Null),
        });
    }

    fn count_token_request(&self) {
        self.0.token_requests.fetch_add(1, Ordering::SeqCst);
    }

    fn mapping(&self, certificate_id: &str) -> Option<Mapping> {
        let mappings = self.0.mappings.lock().unwrap();
        mappings.get(certificate_id).filter(|m| !m.revoked).cloned()
    }

    fn issue_token(&self, certificate_id: &str, role_id: u32) -> (String, Duration) {
        let lifetime = *self.0.token_lifetime.lock().unwrap();
        let token = auth::access_token(role_id, lifetime.as_secs());
        self.0.tokens.lock().unwrap().insert(
            token.clone(),
            Token {
                certificate_id: certificate_id.to_string(),
                expires: Instant::now() + lifetime,
            },
        );
        (token, lifetime)
    }

    /// The mapping behind a live access token.
    fn bearer(&self, token: &str) -> Option<Mapping> {
        let certificate_id = {
            let tokens = self.0.tokens.lock().unwrap();
            let token = tokens.get(token)?;
            (token.expires > Instant::now()).then(|| token.certificate_id.clone())?
        };
        self.mapping(&certificate_id)
    }
}

/// A running simulator of one NetSuite account.
pub struct Simulator {
    addr: SocketAddr,
    shared: Shared,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Simulator {
    /// Starts the simulator of account `account` on a free local port.
    pub async fn start(account: &str) -> anyhow::Result<Self> {
        Self::serve(account, "127.0.0.1:0".parse()?).await
    }

    /// Starts the simulator on `addr`.
    pub async fn serve(account: &str, addr: SocketAddr) -> anyhow::Result<Self> {
        let shared = Shared(Arc::new(Inner {
            account: account.to_string(),
            mappings: Default::default(),
            tokens: Default::default(),
            token_lifetime: Mutex::new(auth::TOKEN_LIFETIME),
            records: Default::default(),
            next_id: AtomicU64::new(101),
            next_role: AtomicU64::new(1001),
            concurrency_limit: AtomicUsize::new(5),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            refused_for_concurrency: AtomicUsize::new(0),
            token_requests: AtomicUsize::new(0),
            delay: Mutex::new(Duration::ZERO),
            requests: Default::default(),
            writes: Default::default(),
            custom_fields: Mutex::new(records::default_custom_fields()),
        }));
        let records = "/services/rest/record/v1/{record_type}";
        let app = Router::new()
            .route(TOKEN_PATH, post(auth::token))
            .route(records, get(records::list).post(records::create))
            .route(
                &format!("{records}/{{id}}"),
                get(records::read).patch(records::update),
            )
            .route("/services/rest/query/v1/suiteql", post(records::suiteql))
            .route(
                "/services/rest/record/v1/metadata-catalog/{record_type}",
                get(records::metadata),
            )
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(Simulator {
            addr,
            shared,
            shutdown: Some(tx),
        })
    }

    /// The base URL, which stands for `https://<account>.suitetalk.api.netsuite.com`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Uploads a certificate (X.509, PEM) for integration `client_id` and a
    /// role with `permissions`, as an administrator does on the M2M setup
    /// page. Refuses what NetSuite refuses (RSA under 3072 bits, a validity
    /// over two years).
    pub fn register_certificate(
        &self,
        certificate_id: &str,
        client_id: &str,
        certificate_pem: &str,
        permissions: Permissions,
    ) -> Result<(), String> {
        let key = PublicKey::from_certificate_pem(certificate_pem)?;
        let role_id = self.shared.0.next_role.fetch_add(1, Ordering::SeqCst) as u32;
        self.shared.0.mappings.lock().unwrap().insert(
            certificate_id.to_string(),
            Mapping {
                client_id: client_id.to_string(),
                key,
                role_id,
                permissions,
                revoked: false,
            },
        );
        Ok(())
    }

    /// Revokes a certificate: its assertions and access tokens stop working.
    pub fn revoke_certificate(&self, certificate_id: &str) {
        if let Some(m) = self
            .shared
            .0
            .mappings
            .lock()
            .unwrap()
            .get_mut(certificate_id)
        {
            m.revoked = true;
        }
    }

    /// Changes the permissions of the role mapped to `certificate_id`.
    pub fn set_permissions(&self, certificate_id: &str, permissions: Permissions) {
        if let Some(m) = self
            .shared
            .0
            .mappings
            .lock()
            .unwrap()
            .get_mut(certificate_id)
        {
            m.permissions = permissions;
        }
    }

    /// How long new access tokens live (an hour by default).
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        *self.shared.0.token_lifetime.lock().unwrap() = lifetime;
    }

    /// Expires every access token issued so far.
    pub fn expire_tokens(&self) {
        self.shared.0.tokens.lock().unwrap().clear();
    }

    /// Requests in flight at once beyond which REST answers 429 (5 by default).
    pub fn set_concurrency_limit(&self, limit: usize) {
        self.shared
            .0
            .concurrency_limit
            .store(limit, Ordering::SeqCst);
    }

    /// A pause in every REST request, so that requests overlap.
    pub fn set_delay(&self, delay: Duration) {
        *self.shared.0.delay.lock().unwrap() = delay;
    }

    /// Stores a record of `record_type` as given (NetSuite's shape, without
    /// `id`); answers its id.
    pub fn insert(&self, record_type: &str, record: Value) -> u64 {
        records::insert(
            &self.shared,
            records::kind(record_type).expect("a known record type"),
            record,
        )
    }

    /// Changes a stored record as a user in NetSuite would: merges `patch`
    /// and moves its `lastModifiedDate`.
    pub fn update(&self, record_type: &str, id: u64, patch: Value) {
        records::update_stored(
            &self.shared,
            records::kind(record_type).expect("a known record type"),
            id,
            patch,
        );
    }

    /// Moves a stored record's `lastModifiedDate` (and `dateCreated`) `by`
    /// into the past, as if it had been saved then: tests of incremental
    /// syncs use it instead of waiting for the clock's second to turn.
    pub fn backdate(&self, record_type: &str, id: u64, by: Duration) {
        records::backdate(
            &self.shared,
            records::kind(record_type).expect("a known record type"),
            id,
            by,
        );
    }

    /// A stored record.
    pub fn record(&self, record_type: &str, id: u64) -> Option<Value> {
        let kind = records::kind(record_type)?;
        self.shared
            .0
            .records
            .lock()
            .unwrap()
            .get(kind)?
            .get(&id)
            .cloned()
    }

    /// Sets a purchase order's status (`"G"`: Fully Billed), as billing in
    /// NetSuite would.
    pub fn set_purchase_order_status(&self, id: u64, letter: &str) {
        records::set_status(&self.shared, id, letter);
    }

    /// Every REST request so far, as `METHOD /path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.shared.0.requests.lock().unwrap().clone()
    }

    /// Adds a custom field to `record_type` (`purchaseOrder`), described
    /// by its JSON Schema (`{"type": "string", "title": "..."}`), as an
    /// administrator does under Customization > Lists, Records & Fields.
    pub fn add_custom_field(&self, record_type: &str, name: &str, schema: Value) {
        let kind = records::kind(record_type).expect("a record type the simulator serves");
        let mut fields = self.shared.0.custom_fields.lock().unwrap();
        fields.retain(|(k, n, _)| !(*k == kind && n == name));
        fields.push((kind, name.to_string(), schema));
    }

    /// Deletes the custom field `name` from every record type: the metadata
    /// catalog no longer lists it, reads no longer show it, writes refuse it.
    pub fn drop_custom_field(&self, name: &str) {
        self.shared
            .0
            .custom_fields
            .lock()
            .unwrap()
            .retain(|(_, n, _)| n != name);
    }

    /// Every record write received so far (whether it succeeded or not).
    pub fn writes(&self) -> Vec<Write> {
        self.shared.0.writes.lock().unwrap().clone()
    }

    /// The most REST requests that were ever in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.shared.0.max_in_flight.load(Ordering::SeqCst)
    }

    /// REST requests refused with 429 for exceeding the concurrency limit.
    pub fn refused_for_concurrency(&self) -> usize {
        self.shared.0.refused_for_concurrency.load(Ordering::SeqCst)
    }

    /// Requests to the token endpoint so far.
    pub fn token_requests(&self) -> usize {
        self.shared.0.token_requests.load(Ordering::SeqCst)
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
