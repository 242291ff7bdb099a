//! Between Tryton's records and the unified model.

use interlink_sdk::model::{
    Decimal, Item, PurchaseOrder, PurchaseOrderLine, PurchaseOrderStatus, Vendor,
};
use interlink_sdk::{Error, Result, Value, json};
use serde_json::Map;

/// The Tryton models of the unified entities.
pub const PARTY: &str = "party.party";
pub const PRODUCT: &str = "product.product";
pub const PURCHASE: &str = "purchase.purchase";

/// The fields read of each model.
pub fn fields(model: &str) -> &'static [&'static str] {
    match model {
        PARTY => &["name", "code", "create_date", "write_date"],
        PRODUCT => &["code", "rec_name", "create_date", "write_date"],
        _ => &[
            "number",
            "state",
            "party",
            "currency.code",
            "purchase_date",
            "description",
            "reference",
            "comment",
            "untaxed_amount",
            "tax_amount",
            "total_amount",
            "create_date",
            "write_date",
            "lines.product",
            "lines.description",
            "lines.quantity",
            "lines.unit_price",
            "lines.amount",
        ],
    }
}

/// Tryton's encoded values (`Decimal`, `date`, `datetime`) as JSON scalars.
fn plain(value: &Value) -> Value {
    let part = |key: &str| value[key].as_u64().unwrap_or(0);
    match value["__class__"].as_str() {
        Some("Decimal") => value["decimal"].clone(),
        Some("date") => json!(format!(
            "{:04}-{:02}-{:02}",
            part("year"),
            part("month"),
            part("day")
        )),
        Some("datetime") => json!(format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            part("year"),
            part("month"),
            part("day"),
            part("hour"),
            part("minute"),
            part("second")
        )),
        _ => value.clone(),
    }
}

/// A Tryton id (a number) as a unified id.
fn id(value: &Value) -> Option<String> {
    value.as_u64().map(|n| n.to_string())
}

fn text(value: &Value) -> Option<String> {
    value.as_str().map(String::from)
}

/// A Tryton number or `Decimal` as a unified decimal, kept as Tryton wrote it.
fn decimal(value: &Value) -> Option<Decimal> {
    match plain(value) {
        Value::Number(n) => Some(Decimal::Number(n)),
        Value::String(s) => Some(Decimal::Text(s)),
        _ => None,
    }
}

/// Tryton's states on the unified scale; Tryton's own stays in `remote_status`.
fn status(state: &str) -> PurchaseOrderStatus {
    match state {
        "draft" => PurchaseOrderStatus::Draft,
        "quotation" => PurchaseOrderStatus::PendingApproval,
        "confirmed" | "processing" => PurchaseOrderStatus::Open,
        "done" => PurchaseOrderStatus::Closed,
        _ => PurchaseOrderStatus::Cancelled,
    }
}

/// `created_at` and `updated_at` (the creation time until the first write).
fn timestamps(record: &Value) -> (Option<String>, Option<String>) {
    let updated = if record["write_date"].is_null() {
        &record["create_date"]
    } else {
        &record["write_date"]
    };
    (text(&plain(&record["create_date"])), text(&plain(updated)))
}

/// A Tryton party as a unified vendor.
pub fn to_vendor(record: &Value) -> Vendor {
    let (created_at, updated_at) = timestamps(record);
    Vendor {
        id: id(&record["id"]),
        name: text(&record["name"]),
        code: text(&record["code"]),
        created_at,
        updated_at,
        ..Vendor::default()
    }
}

/// A Tryton product variant as a unified item.
pub fn to_item(record: &Value) -> Item {
    let (created_at, updated_at) = timestamps(record);
    Item {
        id: id(&record["id"]),
        code: text(&record["code"]),
        name: text(&record["rec_name"]),
        created_at,
        updated_at,
        ..Item::default()
    }
}

/// A Tryton purchase, with its lines, as a unified purchase order.
pub fn to_purchase_order(record: &Value) -> PurchaseOrder {
    let (created_at, updated_at) = timestamps(record);
    let state = record["state"].as_str().unwrap_or_default();
    let lines = record["lines"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|line| PurchaseOrderLine {
            id: id(&line["id"]),
            item_id: id(&line["product"]),
            description: text(&line["description"]),
            quantity: decimal(&line["quantity"]),
            unit_price: decimal(&line["unit_price"]),
            amount: decimal(&line["amount"]),
            ..PurchaseOrderLine::default()
        })
        .collect();
    PurchaseOrder {
        id: id(&record["id"]),
        number: text(&record["number"]),
        status: Some(status(state)),
        remote_status: Some(state.to_string()),
        vendor_id: id(&record["party"]),
        currency: text(&record["currency"]["code"]),
        order_date: text(&plain(&record["purchase_date"])),
        memo: text(&record["description"]),
        reference: text(&record["reference"]),
        subtotal: decimal(&record["untaxed_amount"]),
        tax: decimal(&record["tax_amount"]),
        total: decimal(&record["total_amount"]),
        lines: Some(lines),
        custom_fields: [("comment".to_string(), record["comment"].clone())].into(),
        created_at,
        updated_at,
        ..PurchaseOrder::default()
    }
}

fn reference(value: &str, path: &str) -> Result<Value> {
    value.parse::<u64>().map(|n| json!(n)).map_err(|_| {
        Error::invalid(
            path,
            "invalid_reference",
            format!("`{value}` is not a Tryton id"),
        )
    })
}

/// A unified decimal as Tryton's `Decimal`.
fn tryton_decimal(value: &Decimal) -> Value {
    let text = match value {
        Decimal::Number(n) => n.to_string(),
        Decimal::Text(t) => t.clone(),
    };
    json!({"__class__": "Decimal", "decimal": text})
}

/// A unified decimal as the JSON number Tryton takes for a quantity.
fn number(value: &Decimal, path: &str) -> Result<Value> {
    value
        .as_f64()
        .map(|n| json!(n))
        .ok_or_else(|| Error::invalid(path, "invalid_value", "a quantity is a number"))
}

fn date(text: &str, path: &str) -> Result<Value> {
    let parts: Vec<u32> = text.split('-').filter_map(|p| p.parse().ok()).collect();
    match parts.as_slice() {
        [year, month, day] => {
            Ok(json!({"__class__": "date", "year": year, "month": month, "day": day}))
        }
        _ => Err(Error::invalid(path, "invalid_date", "dates are YYYY-MM-DD")),
    }
}

/// A new unified vendor as a Tryton party.
pub fn vendor_to_tryton(vendor: &Vendor) -> Value {
    match &vendor.name {
        Some(name) => json!({"name": name}),
        None => json!({}),
    }
}

/// A unified order (a new one, or what a patch sets, with the fields it
/// clears) as Tryton's values; `unit` is the unit of measure of new
/// purchase lines.
pub fn order_to_tryton(
    order: &PurchaseOrder,
    cleared: &[String],
    unit: Option<u64>,
) -> Result<Value> {
    let mut out = Map::new();
    let is_cleared = |name: &str| cleared.iter().any(|c| c == name);
    if let Some(vendor) = &order.vendor_id {
        out.insert("party".into(), reference(vendor, "/vendor_id")?);
    }
    match &order.order_date {
        Some(day) => {
            out.insert("purchase_date".into(), date(day, "/order_date")?);
        }
        None if is_cleared("order_date") => {
            out.insert("purchase_date".into(), Value::Null);
        }
        None => {}
    }
    for (unified, tryton, value) in [
        ("memo", "description", &order.memo),
        ("reference", "reference", &order.reference),
    ] {
        match value {
            Some(value) => {
                out.insert(tryton.into(), json!(value));
            }
            None if is_cleared(unified) => {
                out.insert(tryton.into(), Value::Null);
            }
            None => {}
        }
    }
    if let Some(comment) = order.custom_fields.get("comment") {
        out.insert("comment".into(), comment.clone());
    }
    if let Some(lines) = &order.lines {
        let zero = Decimal::Text("0".into());
        let mut created = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            let quantity = match &line.quantity {
                Some(q) => number(q, &format!("/lines/{i}/quantity"))?,
                None => Value::Null,
            };
            let mut l = json!({
                "type": "line",
                "description": line.description.as_deref().unwrap_or_default(),
                "quantity": quantity,
                "unit": unit,
                "unit_price": tryton_decimal(line.unit_price.as_ref().unwrap_or(&zero)),
            });
            if let Some(item) = &line.item_id {
                l["product"] = reference(item, &format!("/lines/{i}/item_id"))?;
            }
            created.push(l);
        }
        out.insert("lines".into(), json!([["create", created]]));
    }
    Ok(Value::Object(out))
}

/// The domain of records created or written after an RFC 3339 UTC time.
pub fn modified_after(after: &str) -> Result<Value> {
    let invalid = || {
        Error::invalid(
            "/modified_after",
            "invalid_timestamp",
            "use an RFC 3339 UTC time, such as 2026-01-31T00:00:00Z",
        )
    };
    let text = after
        .strip_suffix('Z')
        .or_else(|| after.strip_suffix("+00:00"))
        .ok_or_else(invalid)?;
    let (date, time) = text.split_once('T').ok_or_else(invalid)?;
    let d: Vec<u32> = date
        .split('-')
        .map(|p| p.parse().map_err(|_| invalid()))
        .collect::<Result<_>>()?;
    let t: Vec<u32> = time
        .split('.')
        .next()
        .unwrap_or_default()
        .split(':')
        .map(|p| p.parse().map_err(|_| invalid()))
        .collect::<Result<_>>()?;
    let ([year, month, day], [hour, minute, second]) = (d.as_slice(), t.as_slice()) else {
        return Err(invalid());
    };
    let at = json!({"__class__": "datetime", "year": year, "month": month, "day": day, "hour": hour, "minute": minute, "second": second, "microsecond": 0});
    Ok(json!([
        "OR",
        [["write_date", ">", at]],
        [["create_date", ">", at]]
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_purchase_reads_as_a_unified_order() {
        let tryton = json!({"id": 4, "number": "P1", "state": "confirmed", "party": 2, "currency": {"code": "USD", "id": 1},
            "description": "d", "reference": "R", "comment": null, "purchase_date": {"__class__": "date", "year": 2026, "month": 3, "day": 9},
            "total_amount": {"__class__": "Decimal", "decimal": "37.50"},
            "create_date": {"__class__": "datetime", "year": 2026, "month": 3, "day": 9, "hour": 8, "minute": 5, "second": 1, "microsecond": 7},
            "write_date": null, "lines": [{"id": 1, "product": null, "description": "bolts", "quantity": 5.0,
            "unit_price": {"__class__": "Decimal", "decimal": "7.50"}}]});
        let order = to_purchase_order(&tryton);
        assert_eq!(order.status, Some(PurchaseOrderStatus::Open));
        assert_eq!(order.remote_status.as_deref(), Some("confirmed"));
        assert_eq!(order.vendor_id.as_deref(), Some("2"));
        assert_eq!(order.order_date.as_deref(), Some("2026-03-09"));
        assert_eq!(order.total, Some(Decimal::Text("37.50".into())));
        assert_eq!(order.updated_at.as_deref(), Some("2026-03-09T08:05:01Z"));
        let line = &order.lines.unwrap()[0];
        assert_eq!(line.unit_price, Some(Decimal::Text("7.50".into())));
        assert_eq!(line.item_id, None);
    }

    #[test]
    fn lines_are_created_with_the_purchase() {
        let order = json!({"vendor_id": "2", "memo": "m", "lines": [{"description": "bolts", "quantity": 5, "unit_price": "7.50"}]});
        let order: PurchaseOrder = serde_json::from_value(order).unwrap();
        let body = order_to_tryton(&order, &[], Some(1)).unwrap();
        assert_eq!(body["party"], 2);
        assert_eq!(body["description"], "m");
        assert_eq!(body["lines"][0][0], "create");
        assert_eq!(body["lines"][0][1][0]["unit_price"]["decimal"], "7.50");
        assert_eq!(body["lines"][0][1][0]["unit"], 1);
    }

    #[test]
    fn bad_references_name_their_path() {
        let order = json!({"vendor_id": "2", "lines": [{"quantity": 1, "item_id": "bolt"}]});
        let order: PurchaseOrder = serde_json::from_value(order).unwrap();
        let Err(Error::Invalid(errors)) = order_to_tryton(&order, &[], Some(1)) else {
            panic!()
        };
        assert_eq!(errors[0].path, "/lines/0/item_id");
    }

    #[test]
    fn a_patch_sets_what_it_has_and_clears_what_it_nulls() {
        let set = PurchaseOrder {
            reference: Some("R2".into()),
            ..PurchaseOrder::default()
        };
        let body = order_to_tryton(&set, &["memo".into()], None).unwrap();
        assert_eq!(body, json!({"reference": "R2", "description": null}));
    }

    #[test]
    fn modified_after_becomes_a_domain() {
        let domain = modified_after("2026-01-31T12:30:00Z").unwrap();
        assert_eq!(domain[1][0][2]["hour"], 12);
        assert!(modified_after("yesterday").is_err());
    }
}
