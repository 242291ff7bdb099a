//! The REST record API (`/services/rest/record/v1`) and the one SuiteQL
//! query the adapter needs, with NetSuite's error bodies.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::{Level, Mapping, Shared};

/// Read-only fields, refused in creates and updates.
const READ_ONLY: [&str; 9] = [
    "id",
    "tranId",
    "status",
    "orderStatus",
    "total",
    "subtotal",
    "taxTotal",
    "dateCreated",
    "lastModifiedDate",
];

/// The record types served, and the permission each needs.
pub fn kind(record_type: &str) -> Option<&'static str> {
    ["vendor", "inventoryItem", "purchaseOrder"]
        .into_iter()
        .find(|k| *k == record_type)
}

/// The custom fields a new account has: body fields of purchase orders.
pub fn default_custom_fields() -> Vec<(&'static str, String, Value)> {
    [
        ("custbody_approver", "Approver"),
        ("custbody_cc", "Cost Center"),
        ("custbody_internal", "Internal note"),
    ]
    .into_iter()
    .map(|(name, title)| {
        let schema = json!({"title": title, "type": "string", "nullable": true,
            "x-ns-custom-field": true});
        ("purchaseOrder", name.to_string(), schema)
    })
    .collect()
}

fn is_custom_field(shared: &Shared, kind: &str, name: &str) -> bool {
    shared
        .0
        .custom_fields
        .lock()
        .unwrap()
        .iter()
        .any(|(k, n, _)| *k == kind && n == name)
}

/// `GET /services/rest/record/v1/metadata-catalog/{record_type}` with
/// `Accept: application/schema+json`: the record type's fields as JSON
/// Schema, custom fields marked `x-ns-custom-field` (record types are
/// matched without regard to case, as NetSuite does).
pub async fn metadata(
    State(shared): State<Shared>,
    Path(record_type): Path<String>,
    request: Parts,
) -> Result<Response, Failure> {
    let session = Session::begin(&shared, &request).await?;
    let kind = ["vendor", "inventoryItem", "purchaseOrder"]
        .into_iter()
        .find(|k| k.eq_ignore_ascii_case(&record_type))
        .ok_or_else(|| known(&record_type).unwrap_err())?;
    session.require(permission(kind), Level::View)?;
    let mut properties: Map<String, Value> = writable(kind)
        .iter()
        .chain(&READ_ONLY)
        .map(|name| (name.to_string(), json!({"title": name, "type": "string"})))
        .collect();
    for (k, name, schema) in shared.0.custom_fields.lock().unwrap().iter() {
        if *k == kind {
            properties.insert(name.clone(), schema.clone());
        }
    }
    let schema = json!({"type": "object", "properties": properties,
        "$schema": "https://json-schema.org/draft-06/hyper-schema#"});
    Ok((
        [(header::CONTENT_TYPE, "application/schema+json")],
        schema.to_string(),
    )
        .into_response())
}

fn permission(kind: &str) -> &'static str {
    match kind {
        "vendor" => "Vendors",
        "inventoryItem" => "Items",
        _ => "Purchase Order",
    }
}

/// The body fields a create or update may carry, besides custom fields.
fn writable(kind: &str) -> &'static [&'static str] {
    match kind {
        "vendor" => &[
            "companyName",
            "entityId",
            "email",
            "phone",
            "isInactive",
            "currency",
        ],
        "inventoryItem" => &[
            "itemId",
            "displayName",
            "purchaseDescription",
            "cost",
            "isInactive",
        ],
        _ => &[
            "entity",
            "memo",
            "otherRefNum",
            "tranDate",
            "dueDate",
            "currency",
            "item",
        ],
    }
}

fn custom_prefix(kind: &str) -> &'static str {
    match kind {
        "purchaseOrder" => "custbody",
        "inventoryItem" => "custitem",
        _ => "custentity",
    }
}

/// NetSuite's status letters for purchase orders.
fn status_name(letter: &str) -> &'static str {
    match letter {
        "A" => "Pending Supervisor Approval",
        "B" => "Pending Receipt",
        "C" => "Rejected by Supervisor",
        "D" => "Partially Received",
        "E" => "Pending Billing/Partially Received",
        "F" => "Pending Bill",
        "G" => "Fully Billed",
        _ => "Closed",
    }
}

/// A refusal, answered in NetSuite's error shape.
#[derive(Debug)]
pub struct Failure {
    status: StatusCode,
    code: &'static str,
    detail: String,
    path: Option<String>,
    /// A `WWW-Authenticate` challenge, for 401s.
    challenge: Option<String>,
}

impl Failure {
    pub fn with_challenge(mut self, challenge: String) -> Self {
        self.challenge = Some(challenge);
        self
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let mut item = json!({"detail": self.detail, "o:errorCode": self.code});
        if let Some(path) = self.path {
            item["o:errorPath"] = json!(path);
        }
        let status = self.status.as_u16();
        let body = json!({
            "type": format!("https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.{}.{}", status / 100, status % 100 + 1),
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": status,
            "o:errorDetails": [item],
        });
        let mut response = (
            self.status,
            [(
                header::CONTENT_TYPE,
                "application/vnd.oracle.resource+json; type=error",
            )],
            body.to_string(),
        )
            .into_response();
        if let Some(challenge) = self.challenge.and_then(|c| c.parse().ok()) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// An error in NetSuite's shape.
pub fn error(status: StatusCode, code: &'static str, detail: &str, path: Option<&str>) -> Failure {
    Failure {
        status,
        code,
        detail: detail.to_string(),
        path: path.map(String::from),
        challenge: None,
    }
}

fn user_error(detail: impl AsRef<str>, path: &str) -> Failure {
    error(
        StatusCode::BAD_REQUEST,
        "USER_ERROR",
        detail.as_ref(),
        Some(path),
    )
}

fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// A request admitted to the REST API: its role, and its place among the
/// account's concurrent requests.
struct Session {
    shared: Shared,
    mapping: Mapping,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.shared.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Session {
    /// Logs the request, checks the bearer token and the REST permissions,
    /// and takes a concurrency slot (or answers 429).
    async fn begin(shared: &Shared, request: &Parts) -> Result<Session, Failure> {
        let (headers, method, uri) = (&request.headers, &request.method, &request.uri);
        shared
            .0
            .requests
            .lock()
            .unwrap()
            .push(format!("{method} {uri}"));
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let Some(mapping) = token.and_then(|t| shared.bearer(t)) else {
            return Err(crate::auth::invalid_token(shared));
        };
        let limit = shared.0.concurrency_limit.load(Ordering::SeqCst);
        let admitted = shared
            .0
            .in_flight
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < limit).then_some(n + 1)
            });
        let Ok(before) = admitted else {
            shared
                .0
                .refused_for_concurrency
                .fetch_add(1, Ordering::SeqCst);
            return Err(error(
                StatusCode::TOO_MANY_REQUESTS,
                "CONCURRENCY_LIMIT_EXCEEDED",
                "Concurrent request limit exceeded. Request blocked.",
                None,
            ));
        };
        shared
            .0
            .max_in_flight
            .fetch_max(before + 1, Ordering::SeqCst);
        let session = Session {
            shared: shared.clone(),
            mapping,
        };
        session.require("REST Web Services", Level::Full)?;
        session.require("Log in using OAuth 2.0 Access Tokens", Level::Full)?;
        let delay = *shared.0.delay.lock().unwrap();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        Ok(session)
    }

    fn require(&self, name: &str, level: Level) -> Result<(), Failure> {
        let held = self
            .mapping
            .permissions
            .iter()
            .any(|(n, l)| n == name && *l >= level);
        if held {
            return Ok(());
        }
        Err(error(
            StatusCode::FORBIDDEN,
            "INSUFFICIENT_PERMISSION",
            &format!(
                "Permission Violation: You need the '{name}' permission with level '{}' to access this page. Please contact your account administrator.",
                level.name()
            ),
            None,
        ))
    }

    /// Lists and queries need SuiteAnalytics Workbook.
    fn require_analytics(&self) -> Result<(), Failure> {
        self.require("SuiteAnalytics Workbook", Level::View).map_err(|_| {
            user_error(
                "You need the 'SuiteAnalytics Workbook' permission to list records or run queries.",
                "",
            )
        })
    }
}

fn base(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    format!("http://{host}/services/rest/record/v1")
}

fn known(record_type: &str) -> Result<&'static str, Failure> {
    kind(record_type).ok_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            "INVALID_RCRD_TYPE",
            &format!("Record type '{record_type}' does not exist."),
            None,
        )
    })
}

pub async fn list(
    State(shared): State<Shared>,
    Path(record_type): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    request: Parts,
) -> Result<Response, Failure> {
    let session = Session::begin(&shared, &request).await?;
    let kind = known(&record_type)?;
    session.require(permission(kind), Level::View)?;
    session.require_analytics()?;
    let number = |name: &str, default: u64| -> Result<u64, Failure> {
        query.get(name).map_or(Ok(default), |v| {
            v.parse().map_err(|_| {
                error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_PARAMETER",
                    &format!("Invalid value for parameter {name}."),
                    None,
                )
            })
        })
    };
    let limit = number("limit", 1000)?;
    let offset = number("offset", 0)?;
    if !(1..=1000).contains(&limit) || offset % limit != 0 {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER",
            "The limit must be between 1 and 1000, and the offset a multiple of the limit.",
            None,
        ));
    }
    let filters = match query.get("q") {
        Some(q) => parse_q(q)?,
        None => Vec::new(),
    };
    let ids: Vec<u64> = {
        let records = shared.0.records.lock().unwrap();
        records
            .get(kind)
            .into_iter()
            .flatten()
            .filter(|(_, r)| filters.iter().all(|f| f.matches(r)))
            .map(|(id, _)| *id)
            .collect()
    };
    let total = ids.len() as u64;
    let page: Vec<u64> = ids
        .into_iter()
        .skip(offset as usize)
        .take(limit as usize)
        .collect();
    let has_more = offset + (page.len() as u64) < total;
    let base = base(&request.headers);
    let mut links = vec![
        json!({"rel": "self", "href": format!("{base}/{kind}?limit={limit}&offset={offset}")}),
    ];
    if has_more {
        links.push(json!({"rel": "next", "href": format!("{base}/{kind}?limit={limit}&offset={}", offset + limit)}));
    }
    Ok(axum::Json(json!({
        "links": links,
        "count": page.len(),
        "hasMore": has_more,
        "items": page.iter().map(|id| json!({
            "links": [{"rel": "self", "href": format!("{base}/{kind}/{id}")}],
            "id": id.to_string(),
        })).collect::<Vec<_>>(),
        "offset": offset,
        "totalResults": total,
    }))
    .into_response())
}

/// One condition of a `q` parameter: `lastModifiedDate AFTER "2026-01-01T00:00:00Z"`.
struct Filter {
    field: String,
    operator: String,
    value: String,
}

impl Filter {
    fn matches(&self, record: &Value) -> bool {
        let field = &record[&self.field];
        let actual = match field {
            Value::String(s) => s.clone(),
            Value::Object(o) => o
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            Value::Null => return false,
            other => other.to_string(),
        };
        let time = |s: &str| humantime::parse_rfc3339_weak(s.trim_end_matches('Z')).ok();
        match self.operator.as_str() {
            "IS" | "EQUAL" => actual == self.value,
            "IS_NOT" => actual != self.value,
            "START_WITH" => actual.starts_with(&self.value),
            "CONTAIN" => actual.contains(&self.value),
            "AFTER" | "BEFORE" | "ON_OR_AFTER" | "ON_OR_BEFORE" => {
                let (Some(a), Some(b)) = (time(&actual), time(&self.value)) else {
                    return false;
                };
                match self.operator.as_str() {
                    "AFTER" => a > b,
                    "BEFORE" => a < b,
                    "ON_OR_AFTER" => a >= b,
                    _ => a <= b,
                }
            }
            _ => false,
        }
    }
}

const OPERATORS: [&str; 9] = [
    "IS",
    "IS_NOT",
    "EQUAL",
    "START_WITH",
    "CONTAIN",
    "AFTER",
    "BEFORE",
    "ON_OR_AFTER",
    "ON_OR_BEFORE",
];

fn parse_q(q: &str) -> Result<Vec<Filter>, Failure> {
    let invalid = || {
        error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER",
            &format!("Invalid query: {q}. Use <field> <OPERATOR> <value>, joined by AND."),
            None,
        )
    };
    q.split(" AND ")
        .map(|part| {
            let mut words = part.trim().splitn(3, ' ');
            let (Some(field), Some(operator), Some(value)) =
                (words.next(), words.next(), words.next())
            else {
                return Err(invalid());
            };
            if !OPERATORS.contains(&operator) {
                return Err(invalid());
            }
            Ok(Filter {
                field: field.to_string(),
                operator: operator.to_string(),
                value: value.trim().trim_matches('"').to_string(),
            })
        })
        .collect()
}

/// NetSuite's refusal of a create without a mandatory body field.
fn required(record: &Map<String, Value>, field: &str, label: &str) -> Result<(), Failure> {
    match record.get(field).and_then(Value::as_str) {
        Some(value) if !value.is_empty() => Ok(()),
        _ => Err(user_error(
            format!("Please enter value(s) for: {label}"),
            field,
        )),
    }
}

fn parse_id(id: &str) -> Result<u64, Failure> {
    id.parse().map_err(|_| not_found())
}

fn not_found() -> Failure {
    error(
        StatusCode::NOT_FOUND,
        "NONEXISTENT_ID",
        "The record instance does not exist. Provide a valid record instance ID.",
        None,
    )
}

pub async fn read(
    State(shared): State<Shared>,
    Path((record_type, id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    request: Parts,
) -> Result<Response, Failure> {
    let session = Session::begin(&shared, &request).await?;
    let kind = known(&record_type)?;
    session.require(permission(kind), Level::View)?;
    let id = parse_id(&id)?;
    let mut record = {
        let records = shared.0.records.lock().unwrap();
        records
            .get(kind)
            .and_then(|r| r.get(&id))
            .cloned()
            .ok_or_else(not_found)?
    };
    // A custom field deleted from the account is gone from its records.
    if let Some(fields) = record.as_object_mut() {
        fields.retain(|name, _| {
            !name.starts_with(custom_prefix(kind)) || is_custom_field(&shared, kind, name)
        });
    }
    let href = format!("{}/{kind}/{id}", base(&request.headers));
    record["links"] = json!([{"rel": "self", "href": href}]);
    if kind == "purchaseOrder"
        && query.get("expandSubResources").map(String::as_str) != Some("true")
    {
        record["item"] = json!({"links": [{"rel": "self", "href": format!("{href}/item")}]});
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/vnd.oracle.resource+json; type=singular",
        )],
        record.to_string(),
    )
        .into_response())
}

fn body_object(body: &Bytes) -> Result<Map<String, Value>, Failure> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(error(
            StatusCode::BAD_REQUEST,
            "INVALID_CONTENT",
            "Error while accessing a resource. The specified JSON content is invalid.",
            None,
        )),
    }
}

/// Refuses read-only and unknown fields, and bad references.
fn check_fields(shared: &Shared, kind: &str, body: &Map<String, Value>) -> Result<(), Failure> {
    for (name, value) in body {
        if READ_ONLY.contains(&name.as_str()) {
            return Err(user_error(
                format!(
                    "You do not have permissions to set a value for element {name} due to one of the following reasons: 1) The field is read-only; 2) An associated feature is disabled; 3) The field is available either when a record is created or updated, but not in both cases."
                ),
                name,
            ));
        }
        let custom = name.starts_with(custom_prefix(kind)) && is_custom_field(shared, kind, name);
        if !writable(kind).contains(&name.as_str()) && !custom {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "INVALID_CONTENT",
                &format!("Invalid field name: {name}."),
                Some(name),
            ));
        }
        if name == "entity" && !exists(shared, "vendor", value) {
            return Err(user_error(
                format!(
                    "Invalid Field Value {} for the following field: entity",
                    value["id"]
                ),
                "entity",
            ));
        }
    }
    Ok(())
}

fn exists(shared: &Shared, kind: &str, reference: &Value) -> bool {
    let id = reference["id"]
        .as_str()
        .and_then(|id| id.parse::<u64>().ok());
    id.is_some_and(|id| {
        shared
            .0
            .records
            .lock()
            .unwrap()
            .get(kind)
            .is_some_and(|r| r.contains_key(&id))
    })
}

fn ref_name(shared: &Shared, kind: &str, id: &str, field: &str) -> Value {
    let records = shared.0.records.lock().unwrap();
    let name = id
        .parse::<u64>()
        .ok()
        .and_then(|id| records.get(kind)?.get(&id)?.get(field).cloned())
        .unwrap_or(Value::Null);
    json!({"id": id, "refName": name})
}

/// Checks and completes purchase-order lines: item references, quantities,
/// rates, amounts and line numbers.
fn lines(shared: &Shared, lines: &Value) -> Result<Vec<Value>, Failure> {
    let Some(lines) = lines["items"].as_array() else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "INVALID_CONTENT",
            "The item sublist must be {\"items\": [...]}.",
            Some("item"),
        ));
    };
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let path = |f: &str| format!("item.items[{i}].{f}");
        if !exists(shared, "inventoryItem", &line["item"]) {
            return Err(user_error(
                format!(
                    "Invalid Field Value {} for the following field: item",
                    line["item"]["id"]
                ),
                &path("item"),
            ));
        }
        let Some(quantity) = line["quantity"].as_f64().filter(|q| *q > 0.0) else {
            return Err(user_error(
                "Please enter value(s) for: Quantity",
                &path("quantity"),
            ));
        };
        let item_id = line["item"]["id"].as_str().unwrap_or_default();
        let item = ref_name(shared, "inventoryItem", item_id, "itemId");
        let rate = match line["rate"].as_f64() {
            Some(rate) => rate,
            None => {
                let records = shared.0.records.lock().unwrap();
                item_id
                    .parse::<u64>()
                    .ok()
                    .and_then(|id| records.get("inventoryItem")?.get(&id)?["cost"].as_f64())
                    .unwrap_or(0.0)
            }
        };
        let mut line = line.as_object().cloned().unwrap_or_default();
        line.insert("line".into(), json!(i + 1));
        line.insert("item".into(), item);
        line.insert("quantity".into(), json!(quantity));
        line.insert("rate".into(), json!(rate));
        line.insert(
            "amount".into(),
            json!((quantity * rate * 100.0).round() / 100.0),
        );
        out.push(Value::Object(line));
    }
    Ok(out)
}

/// Fills what NetSuite computes: numbers, names, totals, dates.
fn complete(shared: &Shared, kind: &str, id: u64, record: &mut Map<String, Value>) {
    record.insert("id".into(), json!(id.to_string()));
    record.insert("lastModifiedDate".into(), json!(now()));
    record.entry("dateCreated").or_insert_with(|| json!(now()));
    if kind != "purchaseOrder" {
        return;
    }
    record
        .entry("tranId")
        .or_insert_with(|| json!(format!("PO{id}")));
    if !record.contains_key("orderStatus") {
        record.insert(
            "orderStatus".into(),
            json!({"id": "B", "refName": status_name("B")}),
        );
        record.insert("status".into(), json!(status_name("B")));
    }
    record
        .entry("currency")
        .or_insert_with(|| json!({"id": "1", "refName": "USD"}));
    record
        .entry("tranDate")
        .or_insert_with(|| json!(now()[..10].to_string()));
    if let Some(vendor) = record
        .get("entity")
        .and_then(|e| e["id"].as_str())
        .map(str::to_string)
    {
        record.insert(
            "entity".into(),
            ref_name(shared, "vendor", &vendor, "companyName"),
        );
    }
    let subtotal: f64 = record
        .get("item")
        .and_then(|i| i["items"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|l| l["amount"].as_f64())
        .sum();
    record.insert("subtotal".into(), json!(subtotal));
    record.insert("taxTotal".into(), json!(0.0));
    record.insert("total".into(), json!(subtotal));
}

pub fn insert(shared: &Shared, kind: &'static str, record: Value) -> u64 {
    let id = shared.0.next_id.fetch_add(1, Ordering::SeqCst);
    let mut record = record.as_object().cloned().unwrap_or_default();
    complete(shared, kind, id, &mut record);
    shared
        .0
        .records
        .lock()
        .unwrap()
        .entry(kind)
        .or_default()
        .insert(id, Value::Object(record));
    id
}

pub fn update_stored(shared: &Shared, kind: &'static str, id: u64, patch: Value) {
    let mut records = shared.0.records.lock().unwrap();
    if let Some(record) = records.get_mut(kind).and_then(|r| r.get_mut(&id)) {
        for (name, value) in patch.as_object().into_iter().flatten() {
            record[name] = value.clone();
        }
        record["lastModifiedDate"] = json!(now());
    }
}

pub fn backdate(shared: &Shared, kind: &'static str, id: u64, by: std::time::Duration) {
    let at = humantime::format_rfc3339_seconds(SystemTime::now() - by).to_string();
    let mut records = shared.0.records.lock().unwrap();
    let record = records
        .get_mut(kind)
        .and_then(|r| r.get_mut(&id))
        .expect("an existing record");
    record["lastModifiedDate"] = json!(at);
    record["dateCreated"] = json!(at);
}

pub fn set_status(shared: &Shared, id: u64, letter: &str) {
    let mut records = shared.0.records.lock().unwrap();
    if let Some(po) = records
        .get_mut("purchaseOrder")
        .and_then(|r| r.get_mut(&id))
    {
        po["orderStatus"] = json!({"id": letter, "refName": status_name(letter)});
        po["status"] = json!(status_name(letter));
        po["lastModifiedDate"] = json!(now());
    }
}

fn location(headers: &HeaderMap, kind: &str, id: u64) -> Response {
    (
        StatusCode::NO_CONTENT,
        [(header::LOCATION, format!("{}/{kind}/{id}", base(headers)))],
    )
        .into_response()
}

pub async fn create(
    State(shared): State<Shared>,
    Path(record_type): Path<String>,
    request: Parts,
    body: Bytes,
) -> Result<Response, Failure> {
    shared.record_write(&request, &body);
    let session = Session::begin(&shared, &request).await?;
    let kind = known(&record_type)?;
    session.require(permission(kind), Level::Create)?;
    let mut record = body_object(&body)?;
    check_fields(&shared, kind, &record)?;
    match kind {
        "vendor" => required(&record, "companyName", "Company Name")?,
        "inventoryItem" => required(&record, "itemId", "Item Name/Number")?,
        "purchaseOrder" => {
            if !record.contains_key("entity") {
                return Err(user_error("Please enter value(s) for: Vendor", "entity"));
            }
            let items = lines(&shared, record.get("item").unwrap_or(&Value::Null))?;
            if items.is_empty() {
                return Err(user_error(
                    "You must enter at least one line item for this transaction.",
                    "item",
                ));
            }
            record.insert("item".into(), json!({"items": items}));
        }
        _ => {}
    }
    let id = insert(&shared, kind, Value::Object(record));
    Ok(location(&request.headers, kind, id))
}

pub async fn update(
    State(shared): State<Shared>,
    Path((record_type, id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    request: Parts,
    body: Bytes,
) -> Result<Response, Failure> {
    shared.record_write(&request, &body);
    let session = Session::begin(&shared, &request).await?;
    let kind = known(&record_type)?;
    session.require(permission(kind), Level::Edit)?;
    let id = parse_id(&id)?;
    let patch = body_object(&body)?;
    check_fields(&shared, kind, &patch)?;
    let mut record = {
        let records = shared.0.records.lock().unwrap();
        let record = records
            .get(kind)
            .and_then(|r| r.get(&id))
            .ok_or_else(not_found)?;
        record.as_object().cloned().unwrap_or_default()
    };
    if kind == "purchaseOrder" {
        let letter = record["orderStatus"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if ["C", "G", "H"].contains(&letter.as_str()) {
            return Err(user_error(
                format!(
                    "You cannot edit a purchase order that is {}.",
                    status_name(&letter)
                ),
                "orderStatus",
            ));
        }
    }
    for (name, value) in patch {
        match (name.as_str(), value) {
            ("item", value) => {
                let mut items = lines(&shared, &value)?;
                if query.get("replace").map(String::as_str) != Some("item") {
                    let mut kept: Vec<Value> = record["item"]["items"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    kept.append(&mut items);
                    items = kept;
                    for (i, line) in items.iter_mut().enumerate() {
                        line["line"] = json!(i + 1);
                    }
                }
                record.insert(name, json!({"items": items}));
            }
            (_, Value::Null) => {
                record.remove(&name);
            }
            (_, value) => {
                record.insert(name, value);
            }
        }
    }
    complete(&shared, kind, id, &mut record);
    shared
        .0
        .records
        .lock()
        .unwrap()
        .entry(kind)
        .or_default()
        .insert(id, Value::Object(record));
    Ok(location(&request.headers, kind, id))
}

/// `POST /services/rest/query/v1/suiteql`: only the query of a role's
/// permissions, `SELECT name, permlevel FROM rolepermissions WHERE role = ?`.
pub async fn suiteql(
    State(shared): State<Shared>,
    request: Parts,
    body: Bytes,
) -> Result<Response, Failure> {
    let session = Session::begin(&shared, &request).await?;
    session.require_analytics()?;
    let body = body_object(&body)?;
    let q = body.get("q").and_then(Value::as_str).unwrap_or_default();
    let q = q
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    if q != "select name, permlevel from rolepermissions where role = ?" {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER",
            "The simulator answers only: SELECT name, permlevel FROM rolepermissions WHERE role = ?",
            Some("q"),
        ));
    }
    let role = body.get("params").and_then(|p| {
        p[0].as_str()
            .map(str::to_string)
            .or_else(|| p[0].as_u64().map(|n| n.to_string()))
    });
    let rows: Vec<Value> = if role == Some(session.mapping.role_id.to_string()) {
        session
            .mapping
            .permissions
            .iter()
            .map(|(name, level)| json!({"links": [], "name": name, "permlevel": (*level as u8).to_string()}))
            .collect()
    } else {
        Vec::new()
    };
    Ok(axum::Json(json!({
        "links": [], "count": rows.len(), "hasMore": false, "items": rows, "offset": 0, "totalResults": rows.len(),
    }))
    .into_response())
}
