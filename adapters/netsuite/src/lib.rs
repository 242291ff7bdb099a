//! The NetSuite adapter: unified vendors, items and purchase orders with
//! lines, over NetSuite's REST record API, signed in with OAuth 2.0 client
//! credentials (M2M) and a certificate whose private key the host keeps.
//!
//! NetSuite's rules, declared so that the host enforces them before NetSuite
//! is called: ids, document numbers, statuses and totals are read-only;
//! lines are created with their order; orders that are Fully Billed, Closed
//! or Rejected cannot be edited; each operation needs its role permission;
//! the account takes at most 5 requests at once. The account's `custbody_*`
//! fields come from its metadata catalog; which are writable is the
//! connection's choice (`writable_custom_fields`).

mod auth;
mod mapping;
mod netsuite;

use interlink_sdk::manifest::*;
use interlink_sdk::{Context, Error, ListRequest, Page, Result, Value};

/// The NetSuite adapter.
pub struct NetSuite;

/// Every request needs these.
const LOGIN: [&str; 2] = [
    "REST Web Services: Full",
    "Log in using OAuth 2.0 Access Tokens: Full",
];
/// Lists run as queries, which need SuiteAnalytics.
const ANALYTICS: &str = "SuiteAnalytics Workbook: View";

fn needs(extra: &[&'static str]) -> Vec<&'static str> {
    LOGIN.iter().copied().chain(extra.iter().copied()).collect()
}

impl interlink_sdk::Adapter for NetSuite {
    fn manifest() -> Manifest {
        Manifest::new("netsuite", "Oracle NetSuite", env!("CARGO_PKG_VERSION"))
            .description("NetSuite through its REST record API, with OAuth 2.0 client credentials (M2M) and a certificate.")
            .auth(AuthScheme::Oauth2ClientCredentialsJwt)
            .setup_step("Enable OAuth 2.0 and REST web services: Setup > Company > Enable Features > SuiteCloud.")
            .setup_step("Create an integration record with Client Credentials (Machine to Machine) Grant checked: Setup > Integration > Manage Integrations > New. Keep its client id.")
            .setup_step("Give a role the permissions of the records to connect, and assign it to the integration's user.")
            .setup_step("Map a certificate to the integration, the role and the user: Setup > Integration > OAuth 2.0 Client Credentials (M2M) Setup. Keep its certificate id.")
            .config(ConfigField::text("account_id", "As in your NetSuite addresses: 1234567, or 1234567-sb1 for a sandbox.").label("Account ID").placeholder("1234567"))
            .config(ConfigField::text("client_id", "Of the integration record (Setup > Integration > Manage Integrations).").label("Client ID").group("Credentials"))
            .config(ConfigField::text("certificate_id", "From Setup > Integration > OAuth 2.0 Client Credentials (M2M) Setup.").label("Certificate ID").group("Credentials"))
            .config(ConfigField::private_key("private_key", "The private key (PEM) of the certificate you mapped in NetSuite.").label("Private key").group("Credentials"))
            .config(ConfigField::url("base_url", "Instead of https://<account_id>.suitetalk.api.netsuite.com: a proxy, or a test system.").label("API address").group("Advanced").optional().operator_only())
            .config(
                ConfigField::text("writable_custom_fields", "Comma-separated custom body fields of purchase orders that may be written, e.g. custbody_approver.")
                    .label("Writable custom fields")
                    .group("Advanced")
                    .optional()
                    .operator_only(),
            )
            .outbound_host("https://{account_id}.suitetalk.api.netsuite.com")
            .outbound_host("{base_url}")
            .limits(5, Some(60))
            .entity(vendors())
            .entity(items())
            .entity(purchase_orders())
    }

    fn connect(ctx: &Context) -> Result<Account> {
        let account = ctx.config("account_id")?;
        let permissions = match netsuite::permissions(ctx) {
            Ok(permissions) => permissions,
            // Without SuiteAnalytics the role's permissions cannot be read;
            // the host then reports every permission as missing.
            Err(Error::Invalid(_)) => Vec::new(),
            Err(e) => return Err(e),
        };
        let mut account = Account::new(account, account).permissions(permissions);
        let writable: Vec<&str> = ctx
            .config_opt("writable_custom_fields")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .collect();
        if let Some(name) = writable.iter().find(|n| !n.starts_with("custbody_")) {
            return Err(Error::invalid(
                "/config/writable_custom_fields",
                "invalid_value",
                format!("`{name}` is not a custom body field (custbody_...)"),
            ));
        }
        // The account's own custom body fields, from its metadata catalog:
        // readable all, writable those the connection names. A role that
        // may not read the catalog gets the named ones, as text.
        let fields = match netsuite::custom_fields(ctx, "purchaseorder") {
            Ok(fields) => fields
                .into_iter()
                .filter(|(name, _)| name.starts_with("custbody_"))
                .map(|(name, schema)| {
                    let writable = writable.contains(&name.as_str());
                    (custom_field(&name, &schema), writable)
                })
                .collect(),
            Err(Error::Forbidden(_) | Error::NotFound(_)) => writable
                .iter()
                .map(|name| (Field::text(&format!("custom_fields.{name}")), true))
                .collect::<Vec<_>>(),
            Err(e) => return Err(e),
        };
        for (field, writable) in fields {
            let field = field.custom();
            account = account.custom_field(
                "purchase-orders",
                if writable { field } else { field.read_only() },
            );
        }
        Ok(account)
    }

    fn list(ctx: &Context, request: ListRequest) -> Result<Page> {
        let record_type = mapping::record_type(&request.entity)?;
        // The cursor keeps the page size: NetSuite wants offsets that are
        // multiples of the limit.
        let (offset, limit) = match request.cursor.as_deref() {
            None => (0, request.page_size.clamp(1, 1000)),
            Some(cursor) => cursor
                .split_once(':')
                .and_then(|(o, l)| Some((o.parse().ok()?, l.parse().ok()?)))
                .ok_or_else(|| {
                    Error::invalid("/cursor", "invalid_cursor", "not a cursor of this adapter")
                })?,
        };
        let query = request
            .modified_after
            .as_ref()
            .map(|after| format!("lastModifiedDate AFTER \"{after}\""));
        let (ids, has_more) =
            netsuite::list_ids(ctx, record_type, limit, offset, query.as_deref())?;
        let records = ids
            .iter()
            .map(|id| {
                Ok(mapping::to_unified(
                    &request.entity,
                    &netsuite::read(ctx, record_type, id)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Page {
            records,
            next_cursor: has_more.then(|| format!("{}:{limit}", offset + u64::from(limit))),
        })
    }

    fn get(ctx: &Context, entity: &str, id: &str) -> Result<Value> {
        let record_type = mapping::record_type(entity)?;
        Ok(mapping::to_unified(
            entity,
            &netsuite::read(ctx, record_type, id)?,
        ))
    }

    fn create(ctx: &Context, entity: &str, record: Value) -> Result<Value> {
        let record_type = mapping::record_type(entity)?;
        let body = mapping::to_netsuite(entity, &writable(entity, record))?;
        let id = netsuite::create(ctx, record_type, &body)?;
        Self::get(ctx, entity, &id)
    }

    fn update(ctx: &Context, entity: &str, id: &str, patch: Value) -> Result<Value> {
        let record_type = mapping::record_type(entity)?;
        let body = mapping::to_netsuite(entity, &writable(entity, patch))?;
        netsuite::update(ctx, record_type, id, &body)?;
        Self::get(ctx, entity, id)
    }

    fn delete(_ctx: &Context, entity: &str, _id: &str) -> Result<()> {
        Err(Error::unsupported(format!(
            "the NetSuite adapter does not delete {entity}"
        )))
    }
}

/// A custom body field as the metadata catalog describes it (JSON Schema:
/// `type`, `format`, `title`), declared as `custom_fields.<name>`.
fn custom_field(name: &str, schema: &Value) -> Field {
    let name = format!("custom_fields.{name}");
    let field = match (schema["type"].as_str(), schema["format"].as_str()) {
        (Some("integer"), _) => Field::integer(&name),
        (Some("number"), _) => Field::decimal(&name),
        (Some("boolean"), _) => Field::boolean(&name),
        (Some("string"), Some("date")) => Field::date(&name),
        (Some("string"), Some("date-time")) => Field::date_time(&name),
        _ => Field::text(&name),
    };
    match schema["title"].as_str() {
        Some(title) => field.description(title),
        None => field,
    }
}

/// `record` without the fields `entity` declares read-only. The host
/// refuses them before a write reaches the adapter; the adapter keeps its
/// own word too, so that no path sends NetSuite a total or a status (the
/// conformance suite's `read-only-fields` rule checks it).
fn writable(entity: &str, mut record: Value) -> Value {
    let declared = match entity {
        "vendors" => vendors(),
        "items" => items(),
        _ => purchase_orders(),
    };
    if let Some(record) = record.as_object_mut() {
        for field in declared.fields {
            if matches!(field.access, FieldAccess::ReadOnly) {
                record.remove(&field.name);
            }
        }
    }
    record
}

fn vendors() -> Entity {
    Entity::new("vendors", "Vendors (Lists > Relationships > Vendors)")
        .operation(Operation::List, &needs(&["Vendors: View", ANALYTICS]))
        .operation(Operation::Get, &needs(&["Vendors: View"]))
        .operation(Operation::Create, &needs(&["Vendors: Create"]))
        .operation(Operation::Update, &needs(&["Vendors: Edit"]))
        .field(Field::text("id").read_only())
        .field(Field::text("name").required().description("companyName"))
        .field(Field::text("code").description("entityId, the vendor number"))
        .field(Field::text("email"))
        .field(Field::text("phone"))
        .field(Field::text("currency").read_only())
        .field(Field::enumeration("status", &["active", "inactive"]).description("isInactive"))
        .field(Field::object("custom_fields"))
        .field(Field::date_time("created_at").read_only())
        .field(Field::date_time("updated_at").read_only())
}

fn items() -> Entity {
    Entity::new("items", "Inventory items")
        .operation(Operation::List, &needs(&["Items: View", ANALYTICS]))
        .operation(Operation::Get, &needs(&["Items: View"]))
        .field(Field::text("id").read_only())
        .field(Field::text("code").read_only().description("itemId"))
        .field(Field::text("name").read_only().description("displayName"))
        .field(
            Field::text("description")
                .read_only()
                .description("purchaseDescription"),
        )
        .field(
            Field::decimal("unit_price")
                .read_only()
                .description("cost, the purchase price"),
        )
        .field(Field::enumeration("type", &["inventory"]).read_only())
        .field(Field::enumeration("status", &["active", "inactive"]).read_only())
        .field(Field::object("custom_fields").read_only())
        .field(Field::date_time("created_at").read_only())
        .field(Field::date_time("updated_at").read_only())
}

fn purchase_orders() -> Entity {
    Entity::new("purchase-orders", "Purchase orders with their item lines")
        .operation(Operation::List, &needs(&["Purchase Order: View", ANALYTICS]))
        .operation(Operation::Get, &needs(&["Purchase Order: View"]))
        .operation(Operation::Create, &needs(&["Purchase Order: Create"]))
        .operation(Operation::Update, &needs(&["Purchase Order: Edit"]))
        .field(Field::text("id").read_only())
        .field(Field::text("number").read_only().description("tranId, assigned by NetSuite"))
        .field(
            Field::enumeration(
                "status",
                &["pending_approval", "open", "partially_received", "received", "billed", "closed", "cancelled"],
            )
            .read_only()
            .description("orderStatus A-H on the unified scale; C (Rejected) is cancelled"),
        )
        .field(Field::text("remote_status").read_only().description("NetSuite's own status name"))
        .field(Field::text("vendor_id").required().create_only().references("vendors").description("entity"))
        .field(Field::text("currency").read_only())
        .field(Field::date("order_date").description("tranDate"))
        .field(Field::date("expected_date").description("dueDate"))
        .field(Field::text("memo"))
        .field(Field::text("reference").description("otherRefNum, the vendor's or customer's reference"))
        .field(Field::decimal("subtotal").read_only())
        .field(Field::decimal("tax").read_only())
        .field(Field::decimal("total").read_only())
        .field(Field::object("custom_fields"))
        .field(Field::date_time("created_at").read_only())
        .field(Field::date_time("updated_at").read_only())
        .child(
            ChildCollection::new("lines", "The item sublist: created with the order; an update with lines replaces them all")
                .create_with_parent()
                .min_count(1)
                .field(Field::text("id").read_only().description("the line number"))
                .field(Field::text("item_id").required().references("items"))
                .field(Field::text("description"))
                .field(Field::decimal("quantity").required())
                .field(Field::decimal("unit_price").description("rate; the item's cost when absent"))
                .field(Field::decimal("amount").read_only()),
        )
        .state_lock(
            StateLock::when("status", &["billed", "closed", "cancelled"])
                .lock_all_fields()
                .reason("NetSuite refuses edits of purchase orders that are Fully Billed, Closed or Rejected"),
        )
}

#[cfg(target_arch = "wasm32")]
interlink_sdk::export_adapter!(NetSuite);
