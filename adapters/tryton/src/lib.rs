//! The Tryton adapter: unified vendors (parties), items (products) and
//! purchase orders with lines, over Tryton 8's REST API with a
//! user-application key (`Authorization: Bearer <key>`).
//!
//! Tryton's rules, declared so that the host enforces them before Tryton is
//! called: number, state and totals are always read-only; once a purchase
//! leaves draft its party, lines, currency, description and date are locked
//! and it cannot be deleted, while its reference and comment stay writable;
//! purchases need the user to be in the group "Purchase".

mod mapping;
mod tryton;

use interlink_sdk::manifest::*;
use interlink_sdk::model::{Item, PurchaseOrder, Vendor};
use interlink_sdk::{Context, Error, ListRequest, Patch, Records, Result, Serves, Value};
use mapping::{PARTY, PRODUCT, PURCHASE};

/// The Tryton adapter.
pub struct Tryton;

/// The group purchases need, in Tryton's own words.
pub const PURCHASE_GROUP: &str = "Purchase";

impl interlink_sdk::Adapter for Tryton {
    fn manifest() -> Manifest {
        Manifest::new("tryton", "Tryton", env!("CARGO_PKG_VERSION"))
            .description("Tryton ERP 8.x through its REST API.")
            .auth(AuthScheme::ApiKey)
            .setup_step("Activate the module `rest` (Tryton 8) on your database.")
            .setup_step("In Tryton, open User > Applications, add an application `rest`, and validate its key.")
            .config(ConfigField::url("base_url", "Where your Tryton server is served.").label("Server address").placeholder("https://erp.example.com"))
            .config(ConfigField::text("database", "The name of your Tryton database.").label("Database"))
            .config(ConfigField::text("api_key", "A validated user-application key for application `rest`.").label("Application key").group("Credentials").secret())
            .config(
                ConfigField::text("invoice_method", "How new purchases are invoiced: order, shipment or manual (Tryton's default when unset).")
                    .label("Invoice method")
                    .group("Advanced")
                    .optional(),
            )
            .outbound_host("{base_url}")
            .limits(4, Some(120))
            .entity(vendors())
            .entity(items())
            .entity(purchase_orders())
    }

    fn connect(ctx: &Context) -> Result<Account> {
        let me = tryton::whoami(ctx)?;
        Ok(Account::new(&me.user_id.to_string(), &me.login).permissions(me.groups))
    }

    // list, get, create, update and delete, routed to the `Serves` impls.
    interlink_sdk::entities!(Vendor, Item, PurchaseOrder);
}

/// A page of `model`'s records, each mapped by `to_unified`.
fn page<R>(
    ctx: &Context,
    model: &str,
    request: &ListRequest,
    to_unified: fn(&Value) -> R,
) -> Result<Records<R>> {
    let offset: u64 = request
        .cursor
        .as_deref()
        .unwrap_or("0")
        .parse()
        .map_err(|_| Error::invalid("/cursor", "invalid_cursor", "not a cursor of this adapter"))?;
    let domain = match &request.modified_after {
        Some(after) => mapping::modified_after(after)?,
        None => Value::Array(Vec::new()),
    };
    let (records, total) = tryton::search(ctx, model, &domain, offset, request.page_size)?;
    let next = offset + records.len() as u64;
    Ok(Records {
        records: records.iter().map(to_unified).collect(),
        next_cursor: (next < total && !records.is_empty()).then(|| next.to_string()),
    })
}

impl Serves<Vendor> for Tryton {
    fn list(ctx: &Context, request: &ListRequest) -> Result<Records<Vendor>> {
        page(ctx, PARTY, request, mapping::to_vendor)
    }

    fn get(ctx: &Context, id: &str) -> Result<Vendor> {
        Ok(mapping::to_vendor(&tryton::read(ctx, PARTY, id)?))
    }

    fn create(ctx: &Context, vendor: Vendor) -> Result<Vendor> {
        let created = tryton::create(ctx, PARTY, &mapping::vendor_to_tryton(&vendor))?;
        <Self as Serves<Vendor>>::get(ctx, &created.to_string())
    }
}

impl Serves<Item> for Tryton {
    fn list(ctx: &Context, request: &ListRequest) -> Result<Records<Item>> {
        page(ctx, PRODUCT, request, mapping::to_item)
    }

    fn get(ctx: &Context, id: &str) -> Result<Item> {
        Ok(mapping::to_item(&tryton::read(ctx, PRODUCT, id)?))
    }
}

impl Serves<PurchaseOrder> for Tryton {
    fn list(ctx: &Context, request: &ListRequest) -> Result<Records<PurchaseOrder>> {
        page(ctx, PURCHASE, request, mapping::to_purchase_order)
    }

    fn get(ctx: &Context, id: &str) -> Result<PurchaseOrder> {
        Ok(mapping::to_purchase_order(&tryton::read(
            ctx, PURCHASE, id,
        )?))
    }

    fn create(ctx: &Context, order: PurchaseOrder) -> Result<PurchaseOrder> {
        let unit = tryton::unit(ctx)?;
        let mut body = mapping::order_to_tryton(&order, &[], Some(unit))?;
        // Tryton's client fills these from the party; its REST API does not.
        if let Some(party) = body["party"].as_u64() {
            body["invoice_address"] = tryton::invoice_address(ctx, party)?;
        }
        if let Some(method) = ctx.config_opt("invoice_method") {
            body["invoice_method"] = Value::String(method.to_string());
        }
        let created = tryton::create(ctx, PURCHASE, &body)?;
        <Self as Serves<PurchaseOrder>>::get(ctx, &created.to_string())
    }

    fn update(ctx: &Context, id: &str, patch: Patch<PurchaseOrder>) -> Result<PurchaseOrder> {
        let body = mapping::order_to_tryton(&patch.set, &patch.cleared, None)?;
        tryton::write(ctx, PURCHASE, id, &body)?;
        <Self as Serves<PurchaseOrder>>::get(ctx, id)
    }

    fn delete(ctx: &Context, id: &str) -> Result<()> {
        tryton::delete(ctx, PURCHASE, id)
    }
}

fn vendors() -> Entity {
    Entity::new("vendors", "Parties")
        .operation(Operation::List, &[])
        .operation(Operation::Get, &[])
        .operation(Operation::Create, &["Party Administration"])
        .field(Field::text("id").read_only())
        .field(Field::text("name").required())
        .field(
            Field::text("code")
                .read_only()
                .description("Tryton's party code"),
        )
        .field(Field::date_time("created_at").read_only())
        .field(Field::date_time("updated_at").read_only())
}

fn items() -> Entity {
    Entity::new("items", "Product variants")
        .operation(Operation::List, &[])
        .operation(Operation::Get, &[])
        .field(Field::text("id").read_only())
        .field(Field::text("code").read_only())
        .field(Field::text("name").read_only())
        .field(Field::date_time("created_at").read_only())
        .field(Field::date_time("updated_at").read_only())
}

/// Fields locked once a purchase leaves draft.
const LOCKED_PAST_DRAFT: &[&str] = &["vendor_id", "lines", "memo", "order_date"];

fn purchase_orders() -> Entity {
    let purchase = &[PURCHASE_GROUP];
    Entity::new("purchase-orders", "Purchases")
        .operation(Operation::List, purchase)
        .operation(Operation::Get, purchase)
        .operation(Operation::Create, purchase)
        .operation(Operation::Update, purchase)
        .operation(Operation::Delete, purchase)
        .field(Field::text("id").read_only())
        .field(Field::text("number").read_only())
        .field(
            Field::enumeration("status", &["draft", "pending_approval", "open", "closed", "cancelled"])
                .read_only()
                .description("draft, quotation (pending_approval), confirmed and processing (open), done (closed), cancelled"),
        )
        .field(Field::text("remote_status").read_only().description("Tryton's own state"))
        .field(Field::text("vendor_id").required().references("vendors"))
        .field(Field::text("currency").read_only())
        .field(Field::date("order_date"))
        .field(Field::text("memo").description("Tryton's description"))
        .field(Field::text("reference"))
        .field(Field::decimal("subtotal").read_only())
        .field(Field::decimal("tax").read_only())
        .field(Field::decimal("total").read_only())
        .field(Field::object("custom_fields"))
        .field(Field::text("custom_fields.comment").custom().description("Tryton's comment; stays writable"))
        .field(Field::date_time("created_at").read_only())
        .field(Field::date_time("updated_at").read_only())
        .child(
            ChildCollection::new("lines", "Purchase lines, created with the purchase")
                .create_with_parent()
                .min_count(1)
                .field(Field::text("id").read_only())
                .field(Field::text("item_id").references("items"))
                .field(Field::text("description"))
                .field(Field::decimal("quantity").required())
                .field(Field::decimal("unit_price"))
                .field(Field::decimal("amount").read_only()),
        )
        .state_lock(
            StateLock::when("status", &["pending_approval", "open", "closed", "cancelled"])
                .lock_fields(LOCKED_PAST_DRAFT)
                .lock_operations(&[Operation::Delete])
                .reason("Tryton locks a purchase once it leaves draft; cancel it to delete it"),
        )
}

#[cfg(target_arch = "wasm32")]
interlink_sdk::export_adapter!(Tryton);
