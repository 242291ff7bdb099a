//! SAP's OData V2 services: URLs, reads, writes with a CSRF token and an
//! ETag, and SAP's errors as typed adapter errors.
//!
//! Writes follow SAP Gateway's protocol:
//!
//! 1. A modifying request carries an `X-CSRF-Token`, fetched once per
//!    service with `X-CSRF-Token: Fetch` on a `GET` of the service root, and
//!    the session cookies that came with it. Both are kept in the
//!    connection's kv store and reused by later calls.
//! 2. When SAP answers 403 "CSRF token validation failed" (the token
//!    expired with its session), the token is fetched again, once, and the
//!    request sent again. A second refusal is an error, not a loop.
//! 3. An update or delete carries `If-Match` with the ETag SAP gave the
//!    record when it was read; SAP answers 412 when the record changed
//!    since, which is the typed `conflict` (HTTP 409 from the host).

use interlink_sdk::http::{Method, Request, Response, encode};
use interlink_sdk::{Context, Error, ListRequest, Result, Value, kv};

use crate::auth;
use crate::mapping::{Stamp, Table, stamp_literal};

/// The OData services the adapter uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    PurchaseOrders,
    BusinessPartners,
    Products,
}

impl Service {
    pub const ALL: [Service; 3] = [
        Service::PurchaseOrders,
        Service::BusinessPartners,
        Service::Products,
    ];

    /// The service's technical name: what an SAP administrator grants
    /// access to, and the permission the manifest names.
    pub fn name(self) -> &'static str {
        match self {
            Service::PurchaseOrders => "API_PURCHASEORDER_PROCESS_SRV",
            Service::BusinessPartners => "API_BUSINESS_PARTNER",
            Service::Products => "API_PRODUCT_SRV",
        }
    }

    /// The config value that moves the service to another path.
    pub fn path_config(self) -> &'static str {
        match self {
            Service::PurchaseOrders => "purchase_order_service",
            Service::BusinessPartners => "business_partner_service",
            Service::Products => "product_service",
        }
    }
}

/// The service's root URL: `base_url` and the service's path
/// (`/sap/opu/odata/sap/<name>` unless the config moves it).
///
/// # Errors
///
/// `invalid` on the config value of a path that is not one.
pub fn root(ctx: &Context, service: Service) -> Result<String> {
    let default = format!("/sap/opu/odata/sap/{}", service.name());
    let path = ctx.config_opt(service.path_config()).unwrap_or(&default);
    let clean = path.starts_with('/')
        && !path.contains("//")
        && !path.split('/').any(|s| s == "..")
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_-;=.".contains(c));
    if !clean {
        return Err(Error::invalid(
            format!("/config/{}", service.path_config()),
            "invalid_path",
            "a path under the base URL, such as /sap/opu/odata/sap/API_BUSINESS_PARTNER",
        ));
    }
    Ok(format!(
        "{}{}",
        ctx.config("base_url")?.trim_end_matches('/'),
        path.trim_end_matches('/')
    ))
}

/// A key predicate value: `'…'`, SAP's quotes doubled, percent-encoded.
/// A value longer than SAP's key (`max`) names no record, and is not sent.
///
/// # Errors
///
/// `not_found` for an empty or too long value.
pub fn key(value: &str, max: usize) -> Result<String> {
    if value.is_empty() || value.chars().count() > max {
        return Err(Error::not_found(format!("`{value}` names no record")));
    }
    Ok(format!("'{}'", encode(&value.replace('\'', "''"))))
}

/// `set`'s entity whose key is `id` (at most `max` characters):
/// `A_Product('TG11')`.
///
/// # Errors
///
/// `not_found` for an id SAP's key cannot hold.
pub fn resource(set: &str, id: &str, max: usize) -> Result<String> {
    Ok(format!("{set}({})", key(id, max)?))
}

/// The entity `resource` of `service` with its `expand`ed navigation, as
/// SAP answers it (its ETag in `__metadata`).
pub fn entity(ctx: &Context, service: Service, resource: &str, expand: &str) -> Result<Value> {
    read(ctx, &url(ctx, service, resource, &[("$expand", expand)])?)
}

/// A string literal for `$filter`.
pub fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// The URL of `resource` of `service` with `query` (values encoded here)
/// and the connection's `sap-client`.
pub fn url(
    ctx: &Context,
    service: Service,
    resource: &str,
    query: &[(&str, &str)],
) -> Result<String> {
    let client = ctx.config_opt("sap_client").map(|c| ("sap-client", c));
    let query: Vec<String> = client
        .iter()
        .chain(query)
        .map(|(name, value)| format!("{name}={}", encode(value)))
        .collect();
    let separator = if query.is_empty() { "" } else { "?" };
    Ok(format!(
        "{}/{resource}{separator}{}",
        root(ctx, service)?,
        query.join("&")
    ))
}

/// SAP's error envelope: `{"error": {"code", "message": {"value"},
/// "innererror": {"errordetails": [{"target"}]}}}`.
struct SapError {
    code: String,
    message: String,
    target: String,
}

fn sap_error(status: u16, body: &[u8]) -> SapError {
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let error = &json["error"];
    let message = error["message"]["value"]
        .as_str()
        .or(error["message"].as_str())
        .map(String::from)
        .unwrap_or_else(|| {
            let text: String = String::from_utf8_lossy(body).chars().take(300).collect();
            format!("SAP answered {status}: {text}")
        });
    let detail = &error["innererror"]["errordetails"][0];
    SapError {
        code: error["code"].as_str().unwrap_or_default().to_string(),
        message,
        target: detail["target"]
            .as_str()
            .or(detail["propertyref"].as_str())
            .unwrap_or_default()
            .to_string(),
    }
}

/// SAP's failure `status` with `body` as a typed error; `table` maps a
/// property SAP names to the unified field.
pub fn failure(
    status: u16,
    retry_after: Option<&str>,
    body: &[u8],
    table: Option<&Table>,
) -> Error {
    let e = sap_error(status, body);
    let retry = retry_after
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(|s| s * 1000);
    match status {
        401 => Error::unauthorized(format!("SAP rejected the credentials: {}", e.message)),
        403 => Error::forbidden(e.message, Vec::new()),
        404 => Error::not_found(e.message),
        412 => Error::conflict(
            format!(
                "the record changed in SAP after it was read (its ETag no longer matches): read it again and repeat the change. SAP: {}",
                e.message
            ),
            None,
        ),
        409 | 423 => Error::conflict(e.message, None),
        429 => Error::rate_limited(e.message, retry),
        503 if retry.is_some() => Error::rate_limited(e.message, retry),
        400 => {
            let path = table.and_then(|t| t.path_of(&e.target)).unwrap_or_default();
            let code = if e.code.is_empty() {
                "sap_error".to_string()
            } else {
                e.code
            };
            Error::invalid(path, code, e.message)
        }
        _ => Error::upstream(status, e.message),
    }
}

/// `response` when it succeeded; SAP's failure as a typed error otherwise.
pub fn check(response: Response, table: Option<&Table>) -> Result<Response> {
    if response.status() < 400 {
        return Ok(response);
    }
    Err(failure(
        response.status(),
        response.header("retry-after"),
        response.body(),
        table,
    ))
}

/// `GET` of `url` with the connection's credentials, as JSON: SAP's `d`.
pub fn read(ctx: &Context, url: &str) -> Result<Value> {
    let response = auth::send(ctx, || {
        Ok(Request::get(url).header("Accept", "application/json"))
    })?;
    let mut body: Value = check(response, None)?.json()?;
    Ok(body["d"].take())
}

/// One page: `$top` one more than asked (to know whether more follow),
/// `$skip` from the cursor, ordered by the key so that pages do not
/// overlap; with `modified_after`, only records whose `stamp` is later.
pub struct Page<'a> {
    pub service: Service,
    pub set: &'a str,
    pub key: &'a str,
    pub filter: Option<&'a str>,
    pub expand: Option<&'a str>,
    pub stamp: (&'a str, Stamp),
}

impl Page<'_> {
    /// The page's SAP entities, and the cursor of the next page.
    ///
    /// # Errors
    ///
    /// `invalid` on `/cursor` for a cursor this adapter did not make, and
    /// SAP's failures.
    pub fn fetch(
        &self,
        ctx: &Context,
        request: &ListRequest,
    ) -> Result<(Vec<Value>, Option<String>)> {
        let skip: u64 = request
            .cursor
            .as_deref()
            .unwrap_or("0")
            .parse()
            .map_err(|_| {
                Error::invalid("/cursor", "invalid_cursor", "not a cursor of this adapter")
            })?;
        let mut filters: Vec<String> = self.filter.iter().map(|f| f.to_string()).collect();
        if let Some(after) = &request.modified_after {
            let (property, kind) = self.stamp;
            filters.push(format!("{property} gt {}", stamp_literal(after, kind)?));
        }
        let filter = filters.join(" and ");
        let (top, skip_text) = ((request.page_size + 1).to_string(), skip.to_string());
        let mut query = vec![
            ("$top", top.as_str()),
            ("$skip", skip_text.as_str()),
            ("$orderby", self.key),
        ];
        if !filter.is_empty() {
            query.push(("$filter", &filter));
        }
        if let Some(expand) = self.expand {
            query.push(("$expand", expand));
        }
        let page = read(ctx, &url(ctx, self.service, self.set, &query)?)?;
        let mut records = page["results"].as_array().cloned().unwrap_or_default();
        let more = records.len() > request.page_size as usize;
        records.truncate(request.page_size as usize);
        let next = skip + records.len() as u64;
        Ok((records, more.then(|| next.to_string())))
    }
}

/// The ETag SAP gave `entity` (`__metadata.etag`), if its type has one.
pub fn etag(entity: &Value) -> Option<&str> {
    entity["__metadata"]["etag"].as_str()
}

/// A CSRF token and the session cookies it is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Csrf {
    pub token: String,
    pub cookies: String,
}

impl Csrf {
    fn key(service: Service) -> String {
        format!("csrf:{}", service.name())
    }

    fn cached(service: Service) -> Option<Csrf> {
        let text = String::from_utf8(kv::get(&Csrf::key(service))?).ok()?;
        let (token, cookies) = text.split_once('\n')?;
        Some(Csrf {
            token: token.to_string(),
            cookies: cookies.to_string(),
        })
    }

    /// The token of `service`: the cached one unless it is the one SAP
    /// just `rejected`, else a new one (the connection's other calls wait
    /// for the one call that fetches it).
    fn get(ctx: &Context, service: Service, rejected: Option<&Csrf>) -> Result<Csrf> {
        let mut csrf = Csrf::cached(service);
        if csrf.is_some() && csrf.as_ref() == rejected {
            kv::delete(&Csrf::key(service));
            csrf = Csrf::cached(service);
        }
        if let Some(csrf) = csrf {
            return Ok(csrf);
        }
        // The service root (`…/API_PRODUCT_SRV/`): the service document.
        let url = url(ctx, service, "", &[])?;
        let response = auth::send(ctx, || {
            Ok(Request::get(&url)
                .header("X-CSRF-Token", "Fetch")
                .header("Accept", "application/json"))
        })?;
        let response = check(response, None)?;
        let token = response
            .header("x-csrf-token")
            .filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case("required"))
            .ok_or_else(|| {
                Error::upstream(
                    response.status(),
                    "SAP answered a CSRF token fetch without a token",
                )
            })?
            .to_string();
        let cookies = response
            .header_values("set-cookie")
            .filter_map(|c| c.split(';').next())
            .collect::<Vec<_>>()
            .join("; ");
        // SAP ends idle sessions after about half an hour, and their tokens
        // with them; a token kept longer would only be refused once.
        let text = format!("{token}\n{cookies}");
        kv::set(&Csrf::key(service), text.as_bytes(), Some(1800)).map_err(Error::unsupported)?;
        Ok(Csrf { token, cookies })
    }

    fn on(&self, request: Request) -> Request {
        let request = request.header("X-CSRF-Token", self.token.clone());
        if self.cookies.is_empty() {
            request
        } else {
            request.header("Cookie", self.cookies.clone())
        }
    }
}

/// Whether SAP refused the request's CSRF token.
fn csrf_refused(response: &Response) -> bool {
    response.status() == 403
        && (response
            .header("x-csrf-token")
            .is_some_and(|t| t.eq_ignore_ascii_case("required"))
            || String::from_utf8_lossy(response.body()).contains("CSRF token validation failed"))
}

/// A modifying request to `service`, built by `build` (which gets the
/// full URL of a resource), with a CSRF token: fetched when there is none,
/// fetched again once when SAP refuses it. Answers SAP's response as it
/// came (the caller checks it).
pub fn modify(
    ctx: &Context,
    service: Service,
    build: impl Fn() -> Result<Request>,
) -> Result<Response> {
    let csrf = Csrf::get(ctx, service, None)?;
    let response = auth::send(ctx, || Ok(csrf.on(build()?)))?;
    if !csrf_refused(&response) {
        return Ok(response);
    }
    let csrf = Csrf::get(ctx, service, Some(&csrf))?;
    let response = auth::send(ctx, || Ok(csrf.on(build()?)))?;
    if csrf_refused(&response) {
        return Err(Error::upstream(
            403,
            format!(
                "SAP refused a CSRF token fetched just before: {}",
                sap_error(403, response.body()).message
            ),
        ));
    }
    Ok(response)
}

/// A JSON write: `method` on `resource`, with `If-Match` when SAP gave the
/// record an `etag`.
pub fn write(
    ctx: &Context,
    service: Service,
    method: Method,
    resource: &str,
    etag: Option<&str>,
    body: Option<&Value>,
    table: Option<&Table>,
) -> Result<Response> {
    let url = url(ctx, service, resource, &[])?;
    let response = modify(ctx, service, || {
        let mut request = Request::new(method, &url).header("Accept", "application/json");
        if let Some(etag) = etag {
            request = request.header("If-Match", etag);
        }
        Ok(match body {
            Some(body) => request.json(body),
            None => request,
        })
    })?;
    check(response, table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use interlink_sdk::testing::TestHost;

    const ROOT: &str = "https://s4.example/sap/opu/odata/sap/API_PURCHASEORDER_PROCESS_SRV";

    fn ctx() -> Context {
        Context::new(
            "c1",
            &[("base_url", "https://s4.example"), ("sap_client", "100")],
        )
    }

    fn fetch(host: &TestHost, token: &str) {
        host.respond_with(
            Method::Get,
            &format!("{ROOT}/?sap-client=100"),
            200,
            &[
                ("x-csrf-token", token),
                ("set-cookie", "sap-usercontext=sap-client=100; path=/"),
                ("set-cookie", "SAP_SESSIONID_MCK_100=abc; path=/"),
            ],
            "{}",
        );
    }

    #[test]
    fn a_token_is_fetched_once_and_fetched_again_once_when_refused() {
        let host = TestHost::install();
        fetch(&host, "t1");
        fetch(&host, "t2");
        let target = format!("{ROOT}/A_PurchaseOrder('1')?sap-client=100");
        host.respond(Method::Patch, &target, 204, "")
            .respond_with(
                Method::Patch,
                &target,
                403,
                &[("x-csrf-token", "Required")],
                "CSRF token validation failed",
            )
            .respond(Method::Patch, &target, 204, "");
        let patch = || {
            write(
                &ctx(),
                Service::PurchaseOrders,
                Method::Patch,
                "A_PurchaseOrder('1')",
                Some("W/\"x\""),
                Some(&interlink_sdk::json!({})),
                None,
            )
        };
        patch().unwrap();
        patch().unwrap();
        let sent = host.sent();
        let methods: Vec<_> = sent.iter().map(|r| r.method).collect();
        assert_eq!(
            methods,
            [
                Method::Get,
                Method::Patch,
                Method::Patch,
                Method::Get,
                Method::Patch
            ]
        );
        let header = |i: usize, name: &str| {
            sent[i]
                .headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(header(1, "X-CSRF-Token").as_deref(), Some("t1"));
        assert_eq!(header(2, "X-CSRF-Token").as_deref(), Some("t1"), "reused");
        assert_eq!(header(4, "X-CSRF-Token").as_deref(), Some("t2"));
        assert_eq!(
            header(1, "Cookie").as_deref(),
            Some("sap-usercontext=sap-client=100; SAP_SESSIONID_MCK_100=abc")
        );
        assert_eq!(header(1, "If-Match").as_deref(), Some("W/\"x\""));
    }

    #[test]
    fn a_second_refusal_is_an_error_not_a_loop() {
        let host = TestHost::install();
        fetch(&host, "t1");
        let target = format!("{ROOT}/A_PurchaseOrder?sap-client=100");
        host.respond_with(
            Method::Post,
            &target,
            403,
            &[("x-csrf-token", "Required")],
            "",
        );
        let created = write(
            &ctx(),
            Service::PurchaseOrders,
            Method::Post,
            "A_PurchaseOrder",
            None,
            Some(&interlink_sdk::json!({})),
            None,
        );
        assert!(
            matches!(created, Err(Error::Upstream(ref u)) if u.status == 403),
            "{created:?}"
        );
        assert_eq!(host.sent().len(), 4, "fetch, post, fetch, post");
    }

    #[test]
    fn sap_errors_are_typed() {
        let body = br#"{"error": {"code": "/IWBEP/CX_MGW_BUSI_EXCEPTION", "message": {"lang": "en", "value": "changed"}, "innererror": {"errordetails": [{"target": "Supplier"}]}}}"#;
        assert!(matches!(failure(412, None, body, None), Error::Conflict(_)));
        let Error::Invalid(errors) = failure(400, None, body, Some(&crate::mapping::ORDER)) else {
            panic!()
        };
        assert_eq!(
            (errors[0].path.as_str(), errors[0].message.as_str()),
            ("/vendor_id", "changed")
        );
        assert!(
            matches!(failure(503, Some("30"), b"", None), Error::RateLimited(ref r) if r.retry_after_ms == Some(30_000))
        );
        assert!(matches!(
            failure(401, None, b"", None),
            Error::Unauthorized(_)
        ));
    }

    #[test]
    fn keys_and_paths_cannot_leave_their_resource() {
        assert_eq!(key("TG'11/../x", 40).unwrap(), "'TG%27%2711%2F..%2Fx'");
        assert!(key("", 10).is_err());
        assert!(key("12345678901", 10).is_err());
        let moved = Context::new(
            "c1",
            &[
                ("base_url", "https://s4.example"),
                ("product_service", "/sap/../admin"),
            ],
        );
        assert!(root(&moved, Service::Products).is_err());
    }
}
