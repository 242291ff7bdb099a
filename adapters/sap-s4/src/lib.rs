//! The SAP S/4HANA adapter: unified purchase orders with lines, vendors
//! (suppliers) and items (products) over SAP's OData V2 A2X APIs,
//! `API_PURCHASEORDER_PROCESS_SRV`, `API_BUSINESS_PARTNER` and
//! `API_PRODUCT_SRV`, with basic authentication or OAuth 2.0 client
//! credentials.
//!
//! SAP's rules, declared so that the host enforces them before SAP is
//! called (real A2X APIs may ignore a write to a read-only field without a
//! word):
//!
//! - each field's access agrees with `sap:creatable`/`sap:updatable` in the
//!   services' `$metadata` (its description names its property; the
//!   tables of [`mapping`] are the one place both come from);
//! - a released order (processing status 05), and a closed or deleted one,
//!   keeps its supplier, currency, prices and quantities;
//! - a deleted item (deletion indicator `L`) cannot be changed;
//! - items are created with their order, at least one.

mod auth;
mod batch;
mod items;
pub mod mapping;
mod odata;
mod orders;
mod vendors;

use interlink_sdk::manifest::*;
use interlink_sdk::{Context, Error, ListRequest, Page, Result, Value};

use odata::Service;

/// The SAP S/4HANA adapter.
pub struct SapS4;

/// The fields a released, closed or deleted order keeps.
const PRICED: &[&str] = &[
    "vendor_id",
    "currency",
    "lines.unit_price",
    "lines.quantity",
    "lines.custom_fields.NetPriceQuantity",
];

/// An optional value of the form's "Advanced" group.
fn optional(name: &str, label: &str, description: &str) -> ConfigField {
    ConfigField::text(name, description)
        .label(label)
        .group("Advanced")
        .optional()
}

fn unknown(entity: &str) -> Error {
    Error::not_found(format!("no entity {entity}"))
}

impl interlink_sdk::Adapter for SapS4 {
    fn manifest() -> Manifest {
        let mut manifest = Manifest::new("sap-s4", "SAP S/4HANA", env!("CARGO_PKG_VERSION"))
            .description("SAP S/4HANA (Cloud or on-premise) through its OData V2 A2X APIs: purchase orders (API_PURCHASEORDER_PROCESS_SRV), suppliers (API_BUSINESS_PARTNER) and products (API_PRODUCT_SRV).")
            .auth(AuthScheme::Basic)
            .setup_step("Create a communication user, and a communication arrangement for the scenarios of purchase orders (SAP_COM_0053), business partners (SAP_COM_0008) and products (SAP_COM_0009).")
            .setup_step("Note the API host of your system (my000000-api.s4hana.cloud.sap).")
            .config(ConfigField::url("base_url", "Your system's API host.").label("API host").placeholder("https://my000000-api.s4hana.cloud.sap"))
            .config(
                ConfigField::text("credentials", "USER:PASSWORD of the communication user (basic authentication), or CLIENT_ID:CLIENT_SECRET of an OAuth 2.0 client when a token URL is set, in base64: printf %s 'USER:PASSWORD' | base64")
                    .label("Credentials (base64)")
                    .group("Credentials")
                    .secret(),
            )
            .config(ConfigField::url("token_url", "The OAuth 2.0 token endpoint (client credentials); without it, basic authentication.").label("Token URL").group("Credentials").placeholder("https://my000000-api.s4hana.cloud.sap/sap/bc/sec/oauth2/token").optional())
            .config(optional("sap_client", "SAP client", "The SAP client (sap-client), when not the system's default."))
            .config(optional("company_code", "Company code", "Of new purchase orders that name none."))
            .config(optional("purchasing_organization", "Purchasing organization", "Of new purchase orders that name none."))
            .config(optional("purchasing_group", "Purchasing group", "Of new purchase orders that name none."))
            .config(optional("plant", "Plant", "Of new purchase order items that name none."))
            .config(optional("language", "Language", "Of product descriptions (item names); EN when unset."));
        for service in Service::ALL {
            manifest = manifest.config(optional(
                service.path_config(),
                &format!("Path of {}", service.name()),
                &format!(
                    "Where {} is served, when not at /sap/opu/odata/sap/{}",
                    service.name(),
                    service.name()
                ),
            ));
        }
        manifest
            .outbound_host("{base_url}")
            .outbound_host("{token_url}")
            .limits(4, Some(120))
            .entity(vendors())
            .entity(items())
            .entity(purchase_orders())
    }

    /// Checks the credentials, and which of the three services the account
    /// may use: those are its permissions.
    fn connect(ctx: &Context) -> Result<Account> {
        let mut permissions = Vec::new();
        for service in Service::ALL {
            let url = odata::url(ctx, service, "", &[])?;
            let response = auth::send(ctx, || {
                Ok(interlink_sdk::http::Request::get(&url).header("Accept", "application/json"))
            })?;
            match response.status() {
                200..=299 => permissions.push(service.name().to_string()),
                // Not granted, or not published on this system.
                403 | 404 => {}
                _ => {
                    odata::check(response, None)?;
                }
            }
        }
        let host = ctx.config("base_url")?;
        let host = host
            .split("://")
            .nth(1)
            .unwrap_or(host)
            .trim_end_matches('/');
        let client = ctx.config_opt("sap_client").unwrap_or("default");
        Ok(
            Account::new(&format!("{host} client {client}"), "SAP S/4HANA")
                .permissions(permissions),
        )
    }

    fn list(ctx: &Context, request: ListRequest) -> Result<Page> {
        match request.entity.as_str() {
            "vendors" => vendors::list(ctx, &request),
            "items" => items::list(ctx, &request),
            "purchase-orders" => orders::list(ctx, &request),
            other => Err(unknown(other)),
        }
    }

    fn get(ctx: &Context, entity: &str, id: &str) -> Result<Value> {
        match entity {
            "vendors" => vendors::get(ctx, id),
            "items" => items::get(ctx, id),
            "purchase-orders" => orders::get(ctx, id),
            other => Err(unknown(other)),
        }
    }

    fn create(ctx: &Context, entity: &str, record: Value) -> Result<Value> {
        match entity {
            "purchase-orders" => orders::create(ctx, &record),
            other => Err(Error::unsupported(format!(
                "create is not supported on {other}"
            ))),
        }
    }

    fn update(ctx: &Context, entity: &str, id: &str, patch: Value) -> Result<Value> {
        match entity {
            "vendors" => vendors::update(ctx, id, &patch),
            "items" => items::update(ctx, id, &patch),
            "purchase-orders" => orders::update(ctx, id, &patch),
            other => Err(unknown(other)),
        }
    }

    fn delete(ctx: &Context, entity: &str, id: &str) -> Result<()> {
        match entity {
            "purchase-orders" => orders::delete(ctx, id),
            other => Err(Error::unsupported(format!(
                "delete is not supported on {other}"
            ))),
        }
    }
}

/// The operations of an entity, each needing access to `service`.
fn operations(entity: Entity, service: Service, operations: &[Operation]) -> Entity {
    operations
        .iter()
        .fold(entity, |e, op| e.operation(*op, &[service.name()]))
}

fn vendors() -> Entity {
    let entity = Entity::new(
        "vendors",
        "Suppliers: business partners with a supplier number, by that number",
    );
    let mut entity = operations(
        entity,
        Service::BusinessPartners,
        &[Operation::List, Operation::Get, Operation::Update],
    )
    .field(Field::object("address"))
    .field(Field::object("custom_fields"));
    for field in mapping::VENDOR
        .fields(|f| f)
        .into_iter()
        .chain(mapping::VENDOR_ADDRESS.fields(|f| f))
    {
        entity = entity.field(field);
    }
    entity
}

fn items() -> Entity {
    let entity = Entity::new(
        "items",
        "Products, named by their description in the connection's language",
    );
    let mut entity = operations(
        entity,
        Service::Products,
        &[Operation::List, Operation::Get, Operation::Update],
    )
    .field(Field::object("custom_fields"));
    for field in mapping::ITEM
        .fields(|f| f)
        .into_iter()
        .chain(mapping::ITEM_DESCRIPTION.fields(|f| f))
    {
        entity = entity.field(field);
    }
    entity
}

fn purchase_orders() -> Entity {
    let entity = Entity::new("purchase-orders", "Purchase orders with their items");
    let mut entity = operations(
        entity,
        Service::PurchaseOrders,
        &[
            Operation::List,
            Operation::Get,
            Operation::Create,
            Operation::Update,
            Operation::Delete,
        ],
    )
    .field(
        Field::enumeration("status", &["draft", "pending_approval", "open", "closed", "cancelled"])
            .read_only()
            .description("From SAP's processing status (remote_status), deletion indicator and items' delivery completed flags"),
    )
    .field(Field::decimal("subtotal").read_only().description("The sum of the items' amounts, deleted items left out"))
    .field(Field::object("custom_fields"));
    for field in mapping::ORDER.fields(|f| match f.name.as_str() {
        "vendor_id" => f.required().references("vendors"),
        _ => f,
    }) {
        entity = entity.field(field);
    }
    let mut lines = ChildCollection::new("lines", "Items, created with their order")
        .create_with_parent()
        .min_count(1)
        .field(
            Field::decimal("amount")
                .read_only()
                .description("quantity × unit_price / NetPriceQuantity, to two places"),
        )
        .field(Field::object("custom_fields"));
    for field in mapping::LINE.fields(|f| match f.name.as_str() {
        "quantity" => f.required(),
        "item_id" => f.references("items"),
        _ => f,
    }) {
        lines = lines.field(field);
    }
    entity
        .child(lines)
        .state_lock(
            StateLock::when("remote_status", &["05"])
                .lock_fields(PRICED)
                .reason("SAP: a released purchase order (processing status 05, Release Completed) keeps its supplier, currency, prices and quantities"),
        )
        .state_lock(
            StateLock::when("status", &["closed", "cancelled"])
                .lock_fields(PRICED)
                .reason("SAP: a closed or deleted purchase order keeps its supplier, currency, prices and quantities"),
        )
        .state_lock(
            StateLock::when("lines.custom_fields.PurchasingDocumentDeletionCode", &[mapping::DELETED])
                .lock_all_fields()
                .reason("SAP: a deleted item (deletion indicator L) cannot be changed"),
        )
}

#[cfg(target_arch = "wasm32")]
interlink_sdk::export_adapter!(SapS4);

#[cfg(test)]
mod tests {
    use super::*;
    use interlink_sdk::Adapter;
    use interlink_sdk::http::Method;
    use interlink_sdk::json;
    use interlink_sdk::testing::TestHost;

    const PO: &str = "https://s4.example/sap/opu/odata/sap/API_PURCHASEORDER_PROCESS_SRV";

    fn ctx() -> Context {
        Context::new(
            "c1",
            &[
                ("base_url", "https://s4.example"),
                ("company_code", "1710"),
                ("plant", "1710"),
            ],
        )
    }

    fn order() -> Value {
        json!({"PurchaseOrder": "4500000101", "Supplier": "1000015", "DocumentCurrency": "EUR",
            "PurchasingProcessingStatus": "05", "PurchaseOrderDate": "/Date(1753142400000)/",
            "CreationDate": "/Date(1753142400000)/", "LastChangeDateTime": "/Date(1753142400123+0000)/",
            "CompanyCode": "1710", "PurchasingDocumentDeletionCode": "",
            "__metadata": {"etag": "W/\"datetimeoffset'2025-07-22T00%3A00%3A00.1230000Z'\""},
            "to_PurchaseOrderItem": {"results": [
                {"PurchaseOrderItem": "00010", "Material": "TG14", "PurchaseOrderItemText": "Keyboard",
                 "OrderQuantity": "213.000", "NetPriceAmount": "301.14", "NetPriceQuantity": "1.000",
                 "Plant": "1710", "IsCompletelyDelivered": false, "PurchasingDocumentDeletionCode": ""},
                {"PurchaseOrderItem": "00020", "OrderQuantity": "1.000", "NetPriceAmount": "10.00",
                 "NetPriceQuantity": "1.000", "IsCompletelyDelivered": true, "PurchasingDocumentDeletionCode": "L"}]}})
    }

    #[test]
    fn an_order_reads_as_a_unified_purchase_order() {
        let host = TestHost::install();
        host.respond(
            Method::Get,
            &format!("{PO}/A_PurchaseOrder?$top=3&$skip=0&$orderby=PurchaseOrder&$expand=to_PurchaseOrderItem"),
            200,
            json!({"d": {"results": [order(), order(), order()]}}).to_string(),
        );
        let request = ListRequest {
            entity: "purchase-orders".into(),
            cursor: None,
            page_size: 2,
            modified_after: None,
        };
        let page = SapS4::list(&ctx(), request).unwrap();
        assert_eq!(page.next_cursor.as_deref(), Some("2"));
        let record = &page.records[0];
        let typed: interlink_sdk::model::PurchaseOrder =
            serde_json::from_value(record.clone()).unwrap();
        assert_eq!(
            &serde_json::to_value(&typed).unwrap(),
            record,
            "only the model's members"
        );
        assert_eq!(
            record["status"], "open",
            "released; the live item is not delivered"
        );
        assert_eq!(record["remote_status"], "05");
        assert_eq!(record["order_date"], "2025-07-22");
        assert_eq!(record["updated_at"], "2025-07-22T00:00:00.123Z");
        assert_eq!(
            record["subtotal"], "64142.82",
            "the deleted item is left out"
        );
        assert_eq!(record["lines"][1]["amount"], "10.00");
        assert_eq!(
            record["lines"][1]["custom_fields"]["PurchasingDocumentDeletionCode"],
            "L"
        );
        assert_eq!(record["lines"][0]["custom_fields"]["Plant"], "1710");
        assert!(
            record
                .get("custom_fields")
                .and_then(|c| c.get("PurchasingDocumentDeletionCode"))
                .is_none()
        );
    }

    #[test]
    fn a_create_is_one_deep_insert_with_the_configured_defaults() {
        let host = TestHost::install();
        host.respond_with(
            Method::Get,
            &format!("{PO}/"),
            200,
            &[("x-csrf-token", "t")],
            "{}",
        )
        .respond(
            Method::Post,
            &format!("{PO}/A_PurchaseOrder"),
            201,
            json!({"d": {"PurchaseOrder": "4500000101"}}).to_string(),
        )
        .respond(
            Method::Get,
            &format!("{PO}/A_PurchaseOrder('4500000101')?$expand=to_PurchaseOrderItem"),
            200,
            json!({"d": order()}).to_string(),
        );
        let record = json!({"vendor_id": "1000015", "order_date": "2025-07-22",
            "lines": [{"item_id": "TG14", "quantity": 213, "unit_price": "301.14"}]});
        let created = SapS4::create(&ctx(), "purchase-orders", record).unwrap();
        assert_eq!(created["id"], "4500000101");
        let sent = host.sent();
        let body: Value = serde_json::from_slice(sent[1].body.as_ref().unwrap()).unwrap();
        assert_eq!(
            body,
            json!({"Supplier": "1000015", "PurchaseOrderDate": "/Date(1753142400000)/", "CompanyCode": "1710",
                "to_PurchaseOrderItem": [{"Material": "TG14", "OrderQuantity": "213", "NetPriceAmount": "301.14", "Plant": "1710"}]})
        );
    }

    #[test]
    fn an_update_of_header_and_lines_is_one_changeset() {
        let host = TestHost::install();
        let order_url = format!("{PO}/A_PurchaseOrder('4500000101')?$expand=to_PurchaseOrderItem");
        host.respond(Method::Get, &order_url, 200, json!({"d": order()}).to_string())
            .respond_with(Method::Get, &format!("{PO}/"), 200, &[("x-csrf-token", "t")], "{}")
            .respond_with(
                Method::Post,
                &format!("{PO}/$batch"),
                202,
                &[("content-type", "multipart/mixed; boundary=r")],
                "--r\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 404 Not Found\r\n\r\n{\"error\": {\"message\": {\"value\": \"no item 00090\"}}}\r\n--r--\r\n",
            );
        let patch = json!({"order_date": "2026-02-01", "lines": [{"id": "00010", "quantity": 7}, {"id": "00090", "quantity": 1}]});
        match SapS4::update(&ctx(), "purchase-orders", "4500000101", patch) {
            Err(Error::Invalid(errors)) => {
                assert_eq!(
                    (errors[0].path.as_str(), errors[0].message.as_str()),
                    ("/lines", "no item 00090")
                )
            }
            other => panic!("{other:?}"),
        }
        let batch = String::from_utf8(host.sent()[2].body.clone().unwrap()).unwrap();
        assert_eq!(batch.matches(" HTTP/1.1\r\n").count(), 3, "{batch}");
        assert!(
            batch.contains("If-Match: W/\"datetimeoffset'2025-07-22T00%3A00%3A00.1230000Z'\""),
            "{batch}"
        );
        assert!(batch.contains("PATCH A_PurchaseOrderItem(PurchaseOrder='4500000101',PurchaseOrderItem='00090') HTTP/1.1"), "{batch}");
    }

    #[test]
    fn the_manifest_declares_sap_s_rules() {
        let manifest = SapS4::manifest();
        let orders = manifest
            .entities
            .iter()
            .find(|e| e.name == "purchase-orders")
            .unwrap();
        let access = |name: &str| {
            orders
                .fields
                .iter()
                .find(|f| f.name == name)
                .map(mapping::access)
        };
        assert_eq!(access("remote_status"), Some(mapping::Access::ReadOnly));
        assert_eq!(
            access("custom_fields.CompanyCode"),
            Some(mapping::Access::CreateOnly)
        );
        assert_eq!(orders.state_locks.len(), 3);
        assert!(orders.children[0].create_with_parent);
        assert_eq!(manifest.outbound_hosts, ["{base_url}", "{token_url}"]);
    }
}
