//! Tryton's REST API: requests, and Tryton's errors as typed adapter errors.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use interlink_sdk::http::{Method, Request, Response};
use interlink_sdk::{Context, Error, Result, Value, json, kv};

use crate::mapping;

fn base(ctx: &Context) -> Result<String> {
    Ok(format!(
        "{}/{}/rest",
        ctx.config("base_url")?.trim_end_matches('/'),
        ctx.config("database")?
    ))
}

/// A request with the key, and the company context when known.
fn request(ctx: &Context, method: Method, path: &str, company: Option<u64>) -> Result<Request> {
    let mut request = Request::new(method, format!("{}/{path}", base(ctx)?)).secret_header(
        "Authorization",
        "api_key",
        "Bearer ",
    );
    if let Some(company) = company {
        let context = STANDARD.encode(json!({"company": company}).to_string());
        request = request.header("X-Tryton-Context", context);
    }
    Ok(request)
}

/// Maps Tryton's failures. Its messages are kept: they name the rule.
fn check(response: Response) -> Result<Response> {
    let status = response.status();
    if status < 400 {
        return Ok(response);
    }
    let body: Value = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
    let message = match (body["message"].as_str(), body["description"].as_str()) {
        (Some(m), Some(d)) if !d.is_empty() => format!("{m} {d}"),
        (Some(m), _) => m.to_string(),
        _ => String::from_utf8_lossy(response.body())
            .chars()
            .take(500)
            .collect(),
    };
    Err(match status {
        401 => Error::unauthorized(format!("Tryton rejected the key: {message}")),
        403 => Error::forbidden(message, Vec::new()),
        404 => Error::not_found(message),
        429 => Error::rate_limited(message, None),
        400 if message.contains("not allowed to access") => {
            Error::forbidden(message, vec![crate::PURCHASE_GROUP.to_string()])
        }
        400 => Error::invalid("", "tryton_user_error", message),
        _ => Error::upstream(status, message),
    })
}

fn send(request: Request) -> Result<Response> {
    check(request.send()?)
}

/// The user behind the key.
pub struct Me {
    pub user_id: u64,
    pub login: String,
    /// The names of the user's groups: Tryton's permissions.
    pub groups: Vec<String>,
}

fn domain(domain: &Value) -> String {
    URL_SAFE.encode(domain.to_string())
}

/// Finds the key's user through its own user application (a user sees only
/// their own), then the user's groups and company. Caches the company.
pub fn whoami(ctx: &Context) -> Result<Me> {
    let apps: Value = send(request(
        ctx,
        Method::Get,
        "model/res.user.application?f=user",
        None,
    )?)?
    .json()?;
    let user_id = apps[0]["user"]
        .as_u64()
        .ok_or_else(|| Error::unauthorized("the key belongs to no user"))?;
    let user: Value = send(request(
        ctx,
        Method::Get,
        &format!("model/res.user/{user_id}?f=login&f=groups&f=company"),
        None,
    )?)?
    .json()?;
    let ids = user["groups"].clone();
    let path = format!(
        "model/res.group?f=name&d={}",
        domain(&json!([["id", "in", ids]]))
    );
    let groups: Value = send(request(ctx, Method::Get, &path, None)?)?.json()?;
    if let Some(company) = user["company"].as_u64() {
        kv::set("company", company.to_string().as_bytes(), None).map_err(Error::unsupported)?;
    }
    Ok(Me {
        user_id,
        login: user["login"].as_str().unwrap_or_default().to_string(),
        groups: groups
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|g| g["name"].as_str().map(String::from))
            .collect(),
    })
}

fn cached(key: &str) -> Option<u64> {
    kv::get(key)
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|v| v.parse().ok())
}

/// The user's company, which Tryton needs in the context of writes.
fn company(ctx: &Context) -> Result<u64> {
    match cached("company") {
        Some(company) => Ok(company),
        None => {
            whoami(ctx)?;
            cached("company").ok_or_else(|| Error::unsupported("the Tryton user has no company"))
        }
    }
}

/// The id of the unit of measure "u" (units), for purchase lines.
pub fn unit(ctx: &Context) -> Result<u64> {
    if let Some(unit) = cached("unit") {
        return Ok(unit);
    }
    let path = format!(
        "model/product.uom?f=id&d={}",
        domain(&json!([["symbol", "=", "u"]]))
    );
    let units: Value = send(request(ctx, Method::Get, &path, None)?)?.json()?;
    let unit = units[0]["id"]
        .as_u64()
        .ok_or_else(|| Error::unsupported("Tryton has no unit of measure `u`"))?;
    kv::set("unit", unit.to_string().as_bytes(), None).map_err(Error::unsupported)?;
    Ok(unit)
}

/// The address a purchase from `party` is invoiced at: its invoice address,
/// else its first one (none when it has no address).
pub fn invoice_address(ctx: &Context, party: u64) -> Result<Value> {
    let filter = json!([["party", "=", party]]);
    let path = format!("model/party.address?f=id&f=invoice&d={}", domain(&filter));
    let addresses: Value = send(request(ctx, Method::Get, &path, None)?)?.json()?;
    let addresses = addresses.as_array().cloned().unwrap_or_default();
    let chosen = addresses
        .iter()
        .find(|a| a["invoice"].as_bool() == Some(true))
        .or(addresses.first());
    Ok(chosen.map(|a| a["id"].clone()).unwrap_or(Value::Null))
}

fn fields(model: &str) -> String {
    mapping::fields(model)
        .iter()
        .map(|f| format!("f={f}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// One page of `model` matching `filter`, and how many there are in all
/// (`u64::MAX` when Tryton does not count that far).
pub fn search(
    ctx: &Context,
    model: &str,
    filter: &Value,
    offset: u64,
    limit: u32,
) -> Result<(Vec<Value>, u64)> {
    let path = format!("model/{model}?{}&d={}", fields(model), domain(filter));
    let range = format!("records={offset}-{}", offset + u64::from(limit));
    let response = request(ctx, Method::Get, &path, None)?
        .header("Range", range)
        .send()?;
    if response.status() == 416 {
        return Ok((Vec::new(), offset));
    }
    let response = check(response)?;
    let total = response
        .header("content-range")
        .and_then(|r| r.rsplit('/').next())
        .map(|t| t.parse().unwrap_or(u64::MAX))
        .unwrap_or(0);
    let records: Value = response.json()?;
    Ok((records.as_array().cloned().unwrap_or_default(), total))
}

/// `id` as a Tryton record id (a number); checked before any request is
/// built from it.
fn record_id(model: &str, id: &str) -> Result<u64> {
    id.parse()
        .map_err(|_| Error::not_found(format!("no {model} `{id}`")))
}

pub fn read(ctx: &Context, model: &str, id: &str) -> Result<Value> {
    let id = record_id(model, id)?;
    send(request(
        ctx,
        Method::Get,
        &format!("model/{model}/{id}?{}", fields(model)),
        None,
    )?)?
    .json()
}

/// Creates a record; answers its id.
pub fn create(ctx: &Context, model: &str, body: &Value) -> Result<u64> {
    let created: Value = send(
        request(
            ctx,
            Method::Post,
            &format!("model/{model}"),
            Some(company(ctx)?),
        )?
        .json(body),
    )?
    .json()?;
    created["id"]
        .as_u64()
        .ok_or_else(|| Error::upstream(200, "Tryton answered a create without an id"))
}

pub fn write(ctx: &Context, model: &str, id: &str, body: &Value) -> Result<()> {
    let id = record_id(model, id)?;
    send(
        request(
            ctx,
            Method::Put,
            &format!("model/{model}/{id}"),
            Some(company(ctx)?),
        )?
        .json(body),
    )?;
    Ok(())
}

pub fn delete(ctx: &Context, model: &str, id: &str) -> Result<()> {
    let id = record_id(model, id)?;
    send(request(
        ctx,
        Method::Delete,
        &format!("model/{model}/{id}"),
        Some(company(ctx)?),
    )?)?;
    Ok(())
}
