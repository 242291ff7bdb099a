//! The OpenAPI 3 document, served at `/openapi.json`.

use interlink_model::{
    ActiveStatus, Address, Decimal, Item, ItemType, PurchaseOrder, PurchaseOrderLine,
    PurchaseOrderStatus, Vendor,
};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::error::{ErrorBody, ErrorDetail};

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = || SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer));
        components.add_security_scheme("admin_key", bearer());
        components.add_security_scheme("connection_token", bearer());
        // Every route that needs a key or a token answers 401 without one.
        let unauthorized = utoipa::openapi::ResponseBuilder::new()
            .description("No, or no working, admin key or connection token; the code says which")
            .content(
                "application/json",
                utoipa::openapi::ContentBuilder::new()
                    .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build();
        let failed = |what: &str| {
            utoipa::openapi::ResponseBuilder::new()
                .description(what)
                .content(
                    "application/json",
                    utoipa::openapi::ContentBuilder::new()
                        .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        // Routes that call an adapter answer for the adapter and its system.
        let calls_adapter = |path: &str, method: &str| {
            matches!(path, "/v1/{entity}" | "/v1/{entity}/{id}")
                || (path == "/v1/connections" && method == "post")
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            for (method, operation) in [
                ("get", &mut item.get),
                ("put", &mut item.put),
                ("post", &mut item.post),
                ("patch", &mut item.patch),
                ("delete", &mut item.delete),
            ] {
                let Some(operation) = operation else { continue };
                if calls_adapter(path, method) {
                    for (status, what) in [
                        (
                            "502",
                            "The system or the adapter failed: `upstream_error`, `adapter_crashed`, `adapter_invalid_output`, `adapter_memory_limit`",
                        ),
                        (
                            "503",
                            "The adapter is not loaded (`adapter_unavailable`) or every sandbox is in use (`busy`)",
                        ),
                        ("504", "The call ran past its deadline (`adapter_timeout`)"),
                    ] {
                        operation
                            .responses
                            .responses
                            .entry(status.into())
                            .or_insert_with(|| failed(what).into());
                    }
                }
            }
        }
        // Every route of a connection token checks its scope and its rate
        // limit, and announces the limit on every answer.
        let text = || {
            utoipa::openapi::ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::String)
                .build()
        };
        let header = |description: &str| {
            utoipa::openapi::HeaderBuilder::new()
                .schema(text())
                .description(Some(description))
                .build()
        };
        let mut rate_limited = failed(
            "The token made more requests than its rate limit allows (`token_rate_limited`); \
             retry after `Retry-After` seconds",
        );
        for (name, what) in [
            (
                "RateLimit-Policy",
                "The token's quota: `\"token\";q=<requests>;w=60` (draft-ietf-httpapi-ratelimit-headers)",
            ),
            (
                "RateLimit",
                "What is left: `\"token\";r=<requests left>;t=<seconds until full again>`",
            ),
            ("Retry-After", "Seconds until a request is allowed"),
        ] {
            rate_limited.headers.insert(name.into(), header(what));
        }
        let out_of_scope = failed(
            "The token does not hold the scope this route needs (`insufficient_scope`; `details.required_scope` names it)",
        );
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                let by_token = operation.security.as_ref().is_some_and(|s| {
                    serde_json::to_string(s).is_ok_and(|s| s.contains("connection_token"))
                });
                if by_token {
                    let responses = &mut operation.responses.responses;
                    responses
                        .entry("403".into())
                        .or_insert_with(|| out_of_scope.clone().into());
                    responses
                        .entry("429".into())
                        .or_insert_with(|| rate_limited.clone().into());
                }
            }
        }
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                if operation.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    operation
                        .responses
                        .responses
                        .entry("401".into())
                        .or_insert_with(|| unauthorized.clone().into());
                }
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Interlink",
        description = "A self-hosted unified API for business systems. AI agents reach the \
            same data as MCP tools at `/mcp` (Streamable HTTP), with the same connection \
            tokens, scopes and write rules; a write there is planned first and sent only with \
            its confirm token (see the README's section on MCP)."
    ),
    paths(
        super::healthz,
        super::metrics::scrape,
        super::adapters::list,
        super::adapters::get,
        super::adapters::upload,
        super::connections::create,
        super::connections::list,
        super::connections::get,
        super::connections::disconnect,
        super::connections::delete_data,
        super::tokens::create,
        super::tokens::list,
        super::tokens::revoke,
        super::connections::credits,
        super::failed_requests::list,
        super::audit::list,
        super::audit::export,
        super::audit::settings,
        super::mappings::get,
        super::mappings::set,
        super::mappings::refresh,
        super::connect_sessions::create,
        super::connect_sessions::get,
        super::connect_sessions::claim_token,
        super::certificates::platform,
        super::data::list,
        super::data::get,
        super::writes::create,
        super::writes::update,
        super::writes::delete,
        super::meta::get,
        super::passthrough::forward,
        super::syncs::put,
        super::syncs::delete,
        super::syncs::run,
        super::syncs::status,
        super::syncs::admin_status,
        super::syncs::synced,
        super::webhooks::create,
        super::webhooks::list,
        super::webhooks::delete,
        super::webhooks::deliveries,
        super::webhooks::rotate_secret,
        super::webhooks::replay,
    ),
    components(schemas(
        ErrorBody,
        ErrorDetail,
        Vendor,
        Item,
        PurchaseOrder,
        PurchaseOrderLine,
        Address,
        Decimal,
        ActiveStatus,
        ItemType,
        PurchaseOrderStatus,
        super::writes::DryRun,
        super::writes::Deleted,
    )),
    modifiers(&Security),
)]
pub struct ApiDoc;
