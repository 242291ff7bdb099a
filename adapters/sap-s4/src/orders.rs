//! Unified purchase orders: `A_PurchaseOrder` with its items
//! (`to_PurchaseOrderItem`) in `API_PURCHASEORDER_PROCESS_SRV`.
//!
//! - A create is one deep insert: the header with its items, which SAP
//!   writes together or not at all.
//! - An update changes the header and existing items; when that takes more
//!   than one write, they go as one `$batch` changeset, so that SAP applies
//!   all of them or none.
//! - Updates and deletes carry `If-Match` with the ETag SAP gave the order
//!   (S/4HANA's is its `LastChangeDateTime`).

use interlink_sdk::http::Method;
use interlink_sdk::{Context, Error, ListRequest, Page, Result, Value};
use serde_json::Map;

use crate::batch::{self, Change};
use crate::mapping::{self, DELETED, LINE, ORDER, Stamp};
use crate::odata::{self, Service};

const SET: &str = "A_PurchaseOrder";
const ITEM_SET: &str = "A_PurchaseOrderItem";
const ITEMS: &str = "to_PurchaseOrderItem";
/// SAP's purchase order numbers are 10 characters, item numbers 5.
const NUMBER_LENGTH: usize = 10;
const ITEM_LENGTH: usize = 5;

/// Config values that fill SAP fields a new order needs, when the record
/// does not set them: (config, SAP property of the header or an item).
const HEADER_DEFAULTS: &[(&str, &str)] = &[
    ("company_code", "CompanyCode"),
    ("purchasing_organization", "PurchasingOrganization"),
    ("purchasing_group", "PurchasingGroup"),
];
const ITEM_DEFAULTS: &[(&str, &str)] = &[("plant", "Plant")];

fn deleted(sap: &Value) -> bool {
    sap["PurchasingDocumentDeletionCode"] == DELETED
}

/// The unified status: a deleted order is cancelled, a blocked one (`S`) or
/// one whose every item is marked delivery completed is closed; else SAP's
/// processing status says: 01 (version in process) and 08 (rejected, back
/// with the buyer) are drafts, 03 and 04 (in release) pending approval, 02
/// (active) and 05 (release completed) open.
pub fn status(order: &Value, items: &[Value]) -> &'static str {
    match order["PurchasingDocumentDeletionCode"].as_str() {
        Some(DELETED) => return "cancelled",
        Some("S") => return "closed",
        _ => {}
    }
    let live: Vec<&Value> = items.iter().filter(|i| !deleted(i)).collect();
    if !live.is_empty() && live.iter().all(|i| i["IsCompletelyDelivered"] == true) {
        return "closed";
    }
    match order["PurchasingProcessingStatus"]
        .as_str()
        .unwrap_or_default()
    {
        "01" | "08" => "draft",
        "03" | "04" => "pending_approval",
        _ => "open",
    }
}

/// An order with its items as a unified purchase order.
fn unified(order: &Value) -> Value {
    let items = order[ITEMS]["results"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut out = Map::new();
    ORDER.read(order, &mut out);
    out.insert("status".into(), Value::from(status(order, &items)));
    let mut amounts = Vec::new();
    let lines: Vec<Value> = items
        .iter()
        .map(|item| {
            let mut line = Map::new();
            LINE.read(item, &mut line);
            let amount = mapping::line_amount(
                &item["OrderQuantity"],
                &item["NetPriceAmount"],
                &item["NetPriceQuantity"],
            );
            if let Some(amount) = amount {
                if !deleted(item) {
                    amounts.push(amount.clone());
                }
                line.insert("amount".into(), Value::from(amount));
            }
            Value::Object(line)
        })
        .collect();
    if let Some(subtotal) = mapping::sum(&amounts) {
        out.insert("subtotal".into(), Value::from(subtotal));
    }
    out.insert("lines".into(), Value::Array(lines));
    Value::Object(out)
}

pub fn list(ctx: &Context, request: &ListRequest) -> Result<Page> {
    let page = odata::Page {
        service: Service::PurchaseOrders,
        set: SET,
        key: "PurchaseOrder",
        filter: None,
        expand: Some(ITEMS),
        stamp: ("LastChangeDateTime", Stamp::DateTimeOffset),
    };
    let (orders, next_cursor) = page.fetch(ctx, request)?;
    Ok(Page {
        records: orders.iter().map(unified).collect(),
        next_cursor,
    })
}

fn resource(id: &str) -> Result<String> {
    odata::resource(SET, id, NUMBER_LENGTH)
}

/// The order with its items as SAP answers it, with its ETag.
fn find(ctx: &Context, id: &str) -> Result<Value> {
    odata::entity(ctx, Service::PurchaseOrders, &resource(id)?, ITEMS)
}

pub fn get(ctx: &Context, id: &str) -> Result<Value> {
    Ok(unified(&find(ctx, id)?))
}

fn with_defaults(
    ctx: &Context,
    mut sap: Map<String, Value>,
    defaults: &[(&str, &str)],
) -> Map<String, Value> {
    for (config, property) in defaults {
        if let (false, Some(value)) = (sap.contains_key(*property), ctx.config_opt(config)) {
            sap.insert((*property).into(), Value::from(value));
        }
    }
    sap
}

fn lines(record: &Value) -> impl Iterator<Item = (usize, &Value)> {
    record["lines"].as_array().into_iter().flatten().enumerate()
}

/// Creates the order and its items in one request (a deep insert).
pub fn create(ctx: &Context, record: &Value) -> Result<Value> {
    let mut header = with_defaults(ctx, ORDER.write(record, true, "")?, HEADER_DEFAULTS);
    let items = lines(record)
        .map(|(i, line)| {
            let item = LINE.write(line, true, &format!("/lines/{i}"))?;
            Ok(Value::Object(with_defaults(ctx, item, ITEM_DEFAULTS)))
        })
        .collect::<Result<Vec<_>>>()?;
    header.insert(ITEMS.into(), Value::Array(items));
    let created = odata::write(
        ctx,
        Service::PurchaseOrders,
        Method::Post,
        SET,
        None,
        Some(&Value::Object(header)),
        Some(&ORDER),
    )?;
    let created: Value = created.json()?;
    let id = created["d"]["PurchaseOrder"].as_str().ok_or_else(|| {
        Error::upstream(201, "SAP answered a create without a purchase order number")
    })?;
    get(ctx, id)
}

/// The writes of an update: the header's fields, then each line's (lines
/// are named by their `id`; new ones are only created with the order).
fn changes(id: &str, current: &Value, patch: &Value) -> Result<Vec<Change>> {
    let mut changes = Vec::new();
    let header = ORDER.write(patch, false, "")?;
    if !header.is_empty() {
        changes.push(Change {
            method: Method::Patch,
            resource: resource(id)?,
            etag: odata::etag(current).map(String::from),
            body: Value::Object(header),
        });
    }
    for (i, line) in lines(patch) {
        let Some(item) = line["id"].as_str() else {
            return Err(Error::invalid(
                format!("/lines/{i}"),
                "must_create_with_parent",
                "SAP items are created with their purchase order; name an existing line by its id",
            ));
        };
        let body = LINE.write(line, false, &format!("/lines/{i}"))?;
        if body.is_empty() {
            continue;
        }
        let existing = current[ITEMS]["results"]
            .as_array()
            .and_then(|all| all.iter().find(|it| it["PurchaseOrderItem"] == item));
        changes.push(Change {
            method: Method::Patch,
            resource: format!(
                "{ITEM_SET}(PurchaseOrder={},PurchaseOrderItem={})",
                odata::key(id, NUMBER_LENGTH)?,
                odata::key(item, ITEM_LENGTH).map_err(|_| {
                    Error::invalid(
                        format!("/lines/{i}/id"),
                        "not_found",
                        format!("no line `{item}`"),
                    )
                })?
            ),
            etag: existing.and_then(odata::etag).map(String::from),
            body: Value::Object(body),
        });
    }
    Ok(changes)
}

/// Changes the header and lines in one write, or in one changeset when
/// there are several.
pub fn update(ctx: &Context, id: &str, patch: &Value) -> Result<Value> {
    let current = find(ctx, id)?;
    let changes = changes(id, &current, patch)?;
    let written = match changes.as_slice() {
        [] => Ok(()),
        [one] => odata::write(
            ctx,
            Service::PurchaseOrders,
            one.method,
            &one.resource,
            one.etag.as_deref(),
            Some(&one.body),
            Some(&ORDER),
        )
        .map(drop),
        several => batch::send(ctx, Service::PurchaseOrders, several, Some(&ORDER)),
    };
    match written {
        // The order was there a moment ago: what SAP did not find is a line.
        Err(Error::NotFound(message)) if !patch["lines"].is_null() => {
            Err(Error::invalid("/lines", "not_found", message))
        }
        other => other,
    }?;
    get(ctx, id)
}

pub fn delete(ctx: &Context, id: &str) -> Result<()> {
    let current = find(ctx, id)?;
    odata::write(
        ctx,
        Service::PurchaseOrders,
        Method::Delete,
        &resource(id)?,
        odata::etag(&current),
        None,
        None,
    )
    .map(drop)
}
