//! The example adapter: Interlink's unified vendors, items and purchase orders
//! over the demo procurement API (`tests/demo-upstream`).
//!
//! It is the smallest complete adapter: a manifest that declares the rules,
//! an API key used through a secret header, table-driven mapping between
//! the system's records and the unified model, and a passthrough to the
//! demo API itself. `docs/adapter-guide.md` walks through it.

mod mapping;

use interlink_sdk::http::{Request, Response, encode, segment};
use interlink_sdk::manifest::*;
use interlink_sdk::{Context, Error, ListRequest, Page, PassthroughRequest, Result, Value};
use mapping::EntityMap;

pub use mapping::map_page;

/// The example adapter.
pub struct Example;

fn url(ctx: &Context, path: &str) -> Result<String> {
    Ok(format!(
        "{}/api/{path}",
        ctx.config("base_url")?.trim_end_matches('/')
    ))
}

fn authed(request: Request) -> Request {
    request.secret_header("Authorization", "api_key", "Bearer ")
}

fn entity(name: &str) -> Result<&'static EntityMap> {
    mapping::entity(name).ok_or_else(|| Error::not_found(format!("no entity {name}")))
}

impl interlink_sdk::Adapter for Example {
    fn manifest() -> Manifest {
        Manifest::new(
            "example",
            "Demo Procurement (example)",
            env!("CARGO_PKG_VERSION"),
        )
        .description("The demo procurement API that ships with Interlink's tests.")
        .auth(AuthScheme::ApiKey)
        .setup_step("Find your API's address and an API key in the demo's settings.")
        .config(
            ConfigField::url("base_url", "Where your demo procurement API is served.")
                .label("API address")
                .placeholder("http://127.0.0.1:8088"),
        )
        .config(
            ConfigField::text("api_key", "The API key, sent as a bearer token.")
                .label("API key")
                .group("Credentials")
                .secret(),
        )
        .outbound_host("{base_url}")
        .limits(4, Some(120))
        .passthrough()
        .entity(vendors())
        .entity(items())
        .entity(purchase_orders())
    }

    fn connect(ctx: &Context) -> Result<Account> {
        let me: Value = authed(Request::get(url(ctx, "me")?))
            .send()?
            .error_for_status()?
            .json()?;
        let permissions = me["permissions"]
            .as_array()
            .map(|p| {
                p.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Account::new(
            me["accountId"].as_str().unwrap_or_default(),
            me["company"].as_str().unwrap_or_default(),
        )
        .permissions(permissions))
    }

    fn list(ctx: &Context, request: ListRequest) -> Result<Page> {
        let map = entity(&request.entity)?;
        // The cursor is the next offset, as `map_page` made it.
        let offset: u64 = match request.cursor.as_deref() {
            None => 0,
            Some(cursor) => cursor.parse().map_err(|_| {
                Error::invalid("/cursor", "invalid_cursor", "not a cursor of this adapter")
            })?,
        };
        let size = if cfg!(feature = "changed-request") {
            "count"
        } else {
            "limit"
        };
        let mut path = format!(
            "{}?offset={offset}&{size}={}",
            map.collection, request.page_size
        );
        if let Some(since) = &request.modified_after {
            path.push_str("&updated_since=");
            path.push_str(&encode(since));
        }
        let response = authed(Request::get(url(ctx, &path)?))
            .send()?
            .error_for_status()?;
        let mut page = map_page(&request.entity, response.body())?;
        if cfg!(feature = "repeating-cursor") {
            // The bug the conformance suite must catch: the cursor of the
            // page it was asked for, not of the next.
            page.next_cursor = page.next_cursor.map(|_| offset.to_string());
        }
        Ok(page)
    }

    fn get(ctx: &Context, entity_name: &str, id: &str) -> Result<Value> {
        let map = entity(entity_name)?;
        let path = format!("{}/{}", map.collection, segment(id)?);
        let record: Value = authed(Request::get(url(ctx, &path)?))
            .send()?
            .error_for_status()?
            .json()?;
        Ok(map.to_unified(record))
    }

    fn create(ctx: &Context, entity_name: &str, record: Value) -> Result<Value> {
        let map = entity(entity_name)?;
        let body = map.to_upstream(&record)?;
        let request = authed(Request::post(url(ctx, map.collection)?)).json(&body);
        let created: Value = request.send()?.error_for_status()?.json()?;
        Ok(map.to_unified(created))
    }

    fn update(ctx: &Context, entity_name: &str, id: &str, patch: Value) -> Result<Value> {
        let map = entity(entity_name)?;
        let body = map.to_upstream(&patch)?;
        let path = format!("{}/{}", map.collection, segment(id)?);
        let request = authed(Request::patch(url(ctx, &path)?)).json(&body);
        let updated: Value = request.send()?.error_for_status()?.json()?;
        Ok(map.to_unified(updated))
    }

    fn delete(ctx: &Context, entity_name: &str, id: &str) -> Result<()> {
        let map = entity(entity_name)?;
        let path = format!("{}/{}", map.collection, segment(id)?);
        authed(Request::delete(url(ctx, &path)?))
            .send()?
            .error_for_status()?;
        Ok(())
    }

    /// The demo API as it is: the path after its base URL, with the
    /// connection's key, and its answer whatever the status.
    fn passthrough(ctx: &Context, request: PassthroughRequest) -> Result<Response> {
        authed(request.to(ctx.config("base_url")?)).send()
    }
}

fn timestamps(entity: Entity) -> Entity {
    entity
        .field(Field::date_time("created_at").read_only())
        .field(Field::date_time("updated_at").read_only())
}

fn vendors() -> Entity {
    timestamps(
        Entity::new("vendors", "Suppliers")
            .operation(Operation::List, &["suppliers:read"])
            .operation(Operation::Get, &["suppliers:read"])
            .operation(Operation::Create, &["suppliers:write"])
            .operation(Operation::Update, &["suppliers:write"])
            .operation(Operation::Delete, &["suppliers:write"])
            .field(Field::text("id").read_only())
            .field(Field::text("name").required())
            .field(Field::text("email"))
            .field(Field::text("phone"))
            .field(Field::text("currency").create_only())
            .field(Field::enumeration("status", &["active", "inactive"]))
            .field(Field::object("custom_fields"))
            .field(Field::text("custom_fields.region").custom())
            .field(Field::integer("custom_fields.rating").custom().read_only()),
    )
}

fn items() -> Entity {
    timestamps(
        Entity::new("items", "Products")
            .operation(Operation::List, &["products:read"])
            .operation(Operation::Get, &["products:read"])
            .operation(Operation::Create, &["products:write"])
            .operation(Operation::Update, &["products:write"])
            .field(Field::text("id").read_only())
            .field(Field::text("code").required().create_only())
            .field(Field::text("name").required())
            .field(Field::text("description"))
            .field(Field::text("unit"))
            .field(Field::decimal("unit_price"))
            .field(Field::enumeration(
                "type",
                &["inventory", "non_inventory", "service"],
            )),
    )
}

fn purchase_orders() -> Entity {
    timestamps(
        Entity::new("purchase-orders", "Orders to suppliers")
            .operation(Operation::List, &["orders:read"])
            .operation(Operation::Get, &["orders:read"])
            .operation(Operation::Create, &["orders:write"])
            .operation(Operation::Update, &["orders:write"])
            .operation(Operation::Delete, &["orders:write"])
            .field(Field::text("id").read_only())
            .field(Field::text("number").read_only())
            .field(
                Field::text("vendor_id")
                    .required()
                    .create_only()
                    .references("vendors"),
            )
            .field(Field::enumeration("status", &["draft", "open", "billed", "closed"]).read_only())
            .field(Field::text("currency").create_only())
            .field(Field::text("memo"))
            .field(Field::text("reference"))
            .child(
                ChildCollection::new("lines", "Ordered items")
                    .create_with_parent()
                    .min_count(1)
                    .field(Field::text("item_id").references("items"))
                    .field(Field::text("description"))
                    .field(Field::decimal("quantity").required())
                    .field(Field::decimal("unit_price")),
            )
            .state_lock(
                StateLock::when("status", &["billed", "closed"])
                    .lock_all_fields_except(&["memo"])
                    .lock_operations(&[Operation::Delete])
                    .reason("billed and closed orders are final"),
            ),
    )
}

#[cfg(all(target_arch = "wasm32", feature = "export"))]
interlink_sdk::export_adapter!(Example);

/// The operations run natively against the SDK's host double: what the
/// adapter sends, and what it makes of the answers.
#[cfg(test)]
mod tests {
    use interlink_sdk::Adapter;
    use interlink_sdk::http::Method;
    use interlink_sdk::testing::TestHost;

    use super::*;

    fn ctx() -> Context {
        Context::new("c1", &[("base_url", "https://demo.example/")])
    }

    #[test]
    fn a_page_is_read_with_the_connections_key_and_mapped() {
        let host = TestHost::install();
        host.respond(
            Method::Get,
            "https://demo.example/api/suppliers?offset=0&limit=2",
            200,
            r#"{"items": [{"id": 1, "displayName": "Acme", "isActive": true},
                          {"id": 2, "displayName": "Globex", "isActive": false}],
                "offset": 0, "hasMore": true}"#,
        );
        let request = ListRequest {
            entity: "vendors".into(),
            cursor: None,
            page_size: 2,
            modified_after: None,
        };
        let page = Example::list(&ctx(), request).unwrap();
        assert_eq!(page.records[0]["name"], "Acme");
        assert_eq!(page.records[1]["status"], "inactive");
        assert_eq!(page.next_cursor.as_deref(), Some("2"));
        let sent = host.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(
            sent[0].secret_headers,
            [("Authorization".to_string(), "api_key".to_string())],
            "the key goes by name; the adapter never holds it"
        );
    }

    #[test]
    fn the_systems_429_is_rate_limited_with_its_retry_after() {
        let host = TestHost::install();
        host.respond_with(
            Method::Get,
            "https://demo.example/api/suppliers/7",
            429,
            &[("Retry-After", "3")],
            "slow down",
        );
        let error = Example::get(&ctx(), "vendors", "7").unwrap_err();
        let Error::RateLimited(limited) = error else {
            panic!("{error:?}")
        };
        assert_eq!(limited.retry_after_ms, Some(3000));
    }

    #[test]
    fn a_create_sends_the_systems_shape() {
        let host = TestHost::install();
        host.respond(
            Method::Post,
            "https://demo.example/api/suppliers",
            201,
            r#"{"id": 9, "displayName": "Initech", "contact": {"email": "a@initech.example"}}"#,
        );
        let vendor = serde_json::json!({"name": "Initech", "email": "a@initech.example"});
        let created = Example::create(&ctx(), "vendors", vendor).unwrap();
        assert_eq!(created["id"], "9");
        let body: Value = serde_json::from_slice(host.sent()[0].body.as_ref().unwrap()).unwrap();
        assert_eq!(body["displayName"], "Initech");
        assert_eq!(body["contact"]["email"], "a@initech.example");
    }
}
