//! NetSuite's REST record API: authenticated requests, paging, and
//! NetSuite's errors (`o:errorDetails`) as typed adapter errors.

use interlink_sdk::http::{Method, Request, Response};
use interlink_sdk::{Context, Error, Result, Value};

use crate::{auth, mapping};

fn records(ctx: &Context) -> Result<String> {
    Ok(format!("{}/services/rest/record/v1", auth::base(ctx)?))
}

/// Sends a request with an access token; on a 401, renews the token once
/// and retries. A second 401 means the credentials themselves are refused.
fn send(ctx: &Context, build: impl Fn() -> Result<Request>) -> Result<Response> {
    let token = auth::access_token(ctx, None)?;
    let response = build()?
        .header("Authorization", format!("Bearer {token}"))
        .send()?;
    if response.status() != 401 {
        return check(response);
    }
    let token = auth::access_token(ctx, Some(&token))?;
    check(
        build()?
            .header("Authorization", format!("Bearer {token}"))
            .send()?,
    )
}

/// Maps NetSuite's failures: 401 -> unauthorized (the connection then
/// requires reauthorization); INSUFFICIENT_PERMISSION -> forbidden naming
/// the permission; USER_ERROR and INVALID_CONTENT -> invalid, with the path
/// in unified terms; edits refused by status -> conflict; 429 -> rate limited.
fn check(response: Response) -> Result<Response> {
    let status = response.status();
    if status < 400 {
        return Ok(response);
    }
    let body: Value = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
    let detail = &body["o:errorDetails"][0];
    let code = detail["o:errorCode"].as_str().unwrap_or_default();
    let message = detail["detail"]
        .as_str()
        .map(String::from)
        .unwrap_or_else(|| {
            String::from_utf8_lossy(response.body())
                .chars()
                .take(500)
                .collect()
        });
    let path = detail["o:errorPath"].as_str().unwrap_or_default();
    Err(match (status, code) {
        (401, _) => Error::unauthorized(format!("NetSuite rejected the access token: {message}")),
        (403, _) => Error::forbidden(message.clone(), missing_permission(&message)),
        (404, _) => Error::not_found(message),
        (429, _) => Error::rate_limited(message, None),
        (400, "USER_ERROR") if path == "orderStatus" => Error::conflict(message, None),
        (400, "USER_ERROR" | "INVALID_CONTENT") => {
            Error::invalid(mapping::unified_path(path), code.to_lowercase(), message)
        }
        _ => Error::upstream(status, message),
    })
}

/// `You need the 'Purchase Order' permission with level 'Create'` ->
/// `Purchase Order: Create`, as the manifest names permissions.
fn missing_permission(message: &str) -> Vec<String> {
    let quoted: Vec<&str> = message.split('\'').skip(1).step_by(2).collect();
    match quoted[..] {
        [name, level, ..] => vec![format!("{name}: {level}")],
        _ => Vec::new(),
    }
}

/// The custom fields of `record_type` in the account's metadata catalog
/// (`GET .../metadata-catalog/{record_type}`, JSON Schema): each name with
/// its schema (`type`, `format`, `title`).
pub fn custom_fields(ctx: &Context, record_type: &str) -> Result<Vec<(String, Value)>> {
    let url = format!("{}/metadata-catalog/{record_type}", records(ctx)?);
    let schema: Value = send(ctx, || {
        Ok(Request::get(&url).header("Accept", "application/schema+json"))
    })?
    .json()?;
    Ok(schema["properties"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, field)| field["x-ns-custom-field"] == Value::Bool(true))
        .map(|(name, field)| (name.clone(), field.clone()))
        .collect())
}

/// One page of record ids, and whether more follow.
pub fn list_ids(
    ctx: &Context,
    record_type: &str,
    limit: u32,
    offset: u64,
    query: Option<&str>,
) -> Result<(Vec<String>, bool)> {
    let mut url = format!(
        "{}/{record_type}?limit={limit}&offset={offset}",
        records(ctx)?
    );
    if let Some(q) = query {
        url.push_str("&q=");
        url.extend(form_urlencoded::byte_serialize(q.as_bytes()));
    }
    let page: Value = send(ctx, || Ok(Request::get(&url)))?.json()?;
    let ids = page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["id"].as_str().map(String::from))
        .collect();
    Ok((ids, page["hasMore"].as_bool().unwrap_or(false)))
}

/// `id` if it is a NetSuite internal id (digits); checked before any request
/// is built from it.
fn internal_id<'a>(record_type: &str, id: &'a str) -> Result<&'a str> {
    if id.is_empty() || id.len() > 20 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::not_found(format!("no {record_type} `{id}`")));
    }
    Ok(id)
}

/// One record, with its sublists.
pub fn read(ctx: &Context, record_type: &str, id: &str) -> Result<Value> {
    let id = internal_id(record_type, id)?;
    let url = format!(
        "{}/{record_type}/{id}?expandSubResources=true",
        records(ctx)?
    );
    send(ctx, || Ok(Request::get(&url)))?.json()
}

/// Creates a record; answers its id, from the `Location` of NetSuite's 204.
pub fn create(ctx: &Context, record_type: &str, body: &Value) -> Result<String> {
    let url = format!("{}/{record_type}", records(ctx)?);
    let response = send(ctx, || Ok(Request::post(&url).json(body)))?;
    response
        .header("location")
        .and_then(|l| l.rsplit('/').next())
        .map(String::from)
        .ok_or_else(|| {
            Error::upstream(
                response.status(),
                "NetSuite answered a create without a Location",
            )
        })
}

/// Updates a record; a body with lines replaces them all.
pub fn update(ctx: &Context, record_type: &str, id: &str, body: &Value) -> Result<()> {
    let id = internal_id(record_type, id)?;
    let mut url = format!("{}/{record_type}/{id}", records(ctx)?);
    if body.get("item").is_some() {
        url.push_str("?replace=item");
    }
    send(ctx, || Ok(Request::new(Method::Patch, &url).json(body)))?;
    Ok(())
}

/// The permissions of the token's role, as `Name: Level` for every level it
/// implies (`Full` implies `Edit`, `Create` and `View`).
pub fn permissions(ctx: &Context) -> Result<Vec<String>> {
    let token = auth::access_token(ctx, None)?;
    let Some(role) = auth::role(&token) else {
        return Ok(Vec::new());
    };
    let url = format!("{}/services/rest/query/v1/suiteql", auth::base(ctx)?);
    let query = interlink_sdk::json!({
        "q": "SELECT name, permlevel FROM rolepermissions WHERE role = ?",
        "params": [role],
    });
    let rows: Value = send(ctx, || {
        // A SuiteQL query is sent as POST but only reads.
        Ok(Request::post(&url)
            .header("Prefer", "transient")
            .json(&query)
            .read_only())
    })?
    .json()?;
    const LEVELS: [&str; 4] = ["View", "Create", "Edit", "Full"];
    let mut out = Vec::new();
    for row in rows["items"].as_array().into_iter().flatten() {
        let (Some(name), Some(level)) = (
            row["name"].as_str(),
            row["permlevel"]
                .as_str()
                .and_then(|l| l.parse::<usize>().ok()),
        ) else {
            continue;
        };
        for held in LEVELS.iter().take(level.min(LEVELS.len())) {
            out.push(format!("{name}: {held}"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_missing_permission_is_named_as_the_manifest_names_it() {
        let message = "Permission Violation: You need the 'Purchase Order' permission with level 'Create' to access this page.";
        assert_eq!(missing_permission(message), ["Purchase Order: Create"]);
        assert!(missing_permission("no quotes").is_empty());
    }
}
