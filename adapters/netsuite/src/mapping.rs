//! Between NetSuite's records and the unified model.

use interlink_sdk::{Error, Result, Value, json};
use serde_json::Map;

/// The NetSuite record type of a unified entity.
pub fn record_type(entity: &str) -> Result<&'static str> {
    match entity {
        "vendors" => Ok("vendor"),
        "items" => Ok("inventoryItem"),
        "purchase-orders" => Ok("purchaseOrder"),
        other => Err(Error::not_found(format!("no entity {other}"))),
    }
}

/// The prefix of the record type's custom fields.
fn custom_prefix(entity: &str) -> &'static str {
    match entity {
        "purchase-orders" => "custbody_",
        "items" => "custitem_",
        _ => "custentity_",
    }
}

/// Unified field <-> NetSuite field, per entity (scalars only).
fn fields(entity: &str) -> &'static [(&'static str, &'static str)] {
    match entity {
        "vendors" => &[
            ("name", "companyName"),
            ("code", "entityId"),
            ("email", "email"),
            ("phone", "phone"),
        ],
        "items" => &[("code", "itemId"), ("description", "purchaseDescription")],
        _ => &[
            ("number", "tranId"),
            ("order_date", "tranDate"),
            ("expected_date", "dueDate"),
            ("memo", "memo"),
            ("reference", "otherRefNum"),
            ("subtotal", "subtotal"),
            ("tax", "taxTotal"),
            ("total", "total"),
        ],
    }
}

/// NetSuite's purchase-order status letters on the unified scale.
pub fn status(letter: &str) -> &'static str {
    match letter {
        "A" => "pending_approval",
        "B" => "open",
        "C" => "cancelled",
        "D" | "E" => "partially_received",
        "F" => "received",
        "G" => "billed",
        _ => "closed",
    }
}

fn reference_id(value: &Value) -> Value {
    value["id"].as_str().map_or(Value::Null, |id| json!(id))
}

/// A NetSuite record in the unified model.
pub fn to_unified(entity: &str, record: &Value) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), record["id"].clone());
    for (unified, netsuite) in fields(entity) {
        if let Some(value) = record.get(*netsuite).filter(|v| !v.is_null()) {
            out.insert((*unified).into(), value.clone());
        }
    }
    let active = if record["isInactive"].as_bool() == Some(true) {
        "inactive"
    } else {
        "active"
    };
    match entity {
        "vendors" => {
            out.insert("status".into(), json!(active));
            out.insert("currency".into(), record["currency"]["refName"].clone());
        }
        "items" => {
            let name = record
                .get("displayName")
                .filter(|v| !v.is_null())
                .unwrap_or(&record["itemId"]);
            out.insert("name".into(), name.clone());
            out.insert("unit_price".into(), record["cost"].clone());
            out.insert("type".into(), json!("inventory"));
            out.insert("status".into(), json!(active));
        }
        _ => {
            let letter = record["orderStatus"]["id"].as_str().unwrap_or("B");
            out.insert("status".into(), json!(status(letter)));
            out.insert(
                "remote_status".into(),
                record["orderStatus"]["refName"].clone(),
            );
            out.insert("vendor_id".into(), reference_id(&record["entity"]));
            out.insert("currency".into(), record["currency"]["refName"].clone());
            let lines: Vec<Value> = record["item"]["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|line| {
                    json!({
                        "id": line["line"].as_u64().map(|n| n.to_string()),
                        "item_id": reference_id(&line["item"]),
                        "description": line["description"],
                        "quantity": line["quantity"],
                        "unit_price": line["rate"],
                        "amount": line["amount"],
                    })
                })
                .collect();
            out.insert("lines".into(), json!(lines));
        }
    }
    let custom: Map<String, Value> = record
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.starts_with(custom_prefix(entity)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    out.insert("custom_fields".into(), Value::Object(custom));
    out.insert("created_at".into(), record["dateCreated"].clone());
    out.insert("updated_at".into(), record["lastModifiedDate"].clone());
    Value::Object(out)
}

/// A decimal as NetSuite wants it: a JSON number.
fn number(value: &Value, path: &str) -> Result<Value> {
    match value {
        Value::Number(_) | Value::Null => Ok(value.clone()),
        Value::String(s) => s.parse::<f64>().map(|n| json!(n)).map_err(|_| {
            Error::invalid(path, "invalid_decimal", format!("`{s}` is not a decimal"))
        }),
        _ => Err(Error::invalid(
            path,
            "invalid_decimal",
            "expected a decimal",
        )),
    }
}

fn reference(value: &Value) -> Value {
    match value {
        Value::Null => Value::Null,
        Value::String(id) => json!({"id": id}),
        other => json!({"id": other.to_string()}),
    }
}

/// A unified record (or patch) as a NetSuite body. The host has already
/// refused read-only, unknown and non-writable custom fields.
pub fn to_netsuite(entity: &str, record: &Value) -> Result<Value> {
    let mut out = Map::new();
    let Some(record) = record.as_object() else {
        return Err(Error::invalid(
            "",
            "invalid_type",
            "a record is a JSON object",
        ));
    };
    for (unified, netsuite) in fields(entity) {
        if let Some(value) = record.get(*unified) {
            out.insert((*netsuite).into(), value.clone());
        }
    }
    if let Some(status) = record.get("status") {
        out.insert("isInactive".into(), json!(status == "inactive"));
    }
    if let Some(vendor) = record.get("vendor_id") {
        out.insert("entity".into(), reference(vendor));
    }
    if let Some(lines) = record.get("lines").and_then(Value::as_array) {
        let items = lines
            .iter()
            .enumerate()
            .map(|(i, line)| {
                let mut item = Map::new();
                item.insert("item".into(), reference(&line["item_id"]));
                item.insert(
                    "quantity".into(),
                    number(&line["quantity"], &format!("/lines/{i}/quantity"))?,
                );
                if line.get("unit_price").is_some() {
                    item.insert(
                        "rate".into(),
                        number(&line["unit_price"], &format!("/lines/{i}/unit_price"))?,
                    );
                }
                if let Some(description) = line.get("description") {
                    item.insert("description".into(), description.clone());
                }
                Ok(Value::Object(item))
            })
            .collect::<Result<Vec<_>>>()?;
        out.insert("item".into(), json!({"items": items}));
    }
    if let Some(custom) = record.get("custom_fields").and_then(Value::as_object) {
        for (name, value) in custom {
            out.insert(name.clone(), value.clone());
        }
    }
    Ok(Value::Object(out))
}

/// NetSuite's `o:errorPath` (`item.items[0].item`) as a JSON pointer into
/// the unified record (`/lines/0/item_id`).
pub fn unified_path(path: &str) -> String {
    if path.is_empty() {
        return String::new();
    }
    if let Some(rest) = path.strip_prefix("item.items[") {
        let (index, field) = rest
            .split_once("].")
            .unwrap_or((rest.trim_end_matches(']'), ""));
        let field = match field {
            "item" => "item_id",
            "rate" => "unit_price",
            other => other,
        };
        return format!("/lines/{index}/{field}");
    }
    let field = match path {
        "entity" => "vendor_id",
        "item" => "lines",
        "orderStatus" => "status",
        "isInactive" => "status",
        other => fields("purchase-orders")
            .iter()
            .chain(fields("vendors"))
            .chain(fields("items"))
            .find(|(_, n)| *n == other)
            .map(|(u, _)| *u)
            .unwrap_or(other),
    };
    if field.starts_with("cust") {
        format!("/custom_fields/{field}")
    } else {
        format!("/{field}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purchase_orders_round_trip_through_netsuite_shapes() {
        let unified = json!({
            "vendor_id": "101", "memo": "m", "reference": "R-1",
            "lines": [{"item_id": "7", "quantity": "2", "unit_price": 1.5}],
            "custom_fields": {"custbody_approver": "ann"}
        });
        let body = to_netsuite("purchase-orders", &unified).unwrap();
        assert_eq!(body["entity"], json!({"id": "101"}));
        assert_eq!(body["otherRefNum"], "R-1");
        assert_eq!(
            body["item"]["items"][0],
            json!({"item": {"id": "7"}, "quantity": 2.0, "rate": 1.5})
        );
        assert_eq!(body["custbody_approver"], "ann");

        let record = json!({
            "id": "5", "tranId": "PO5", "orderStatus": {"id": "G", "refName": "Fully Billed"},
            "entity": {"id": "101", "refName": "Acme"}, "total": 3.0, "custbody_approver": "ann",
            "item": {"items": [{"line": 1, "item": {"id": "7"}, "quantity": 2.0, "rate": 1.5, "amount": 3.0}]}
        });
        let back = to_unified("purchase-orders", &record);
        assert_eq!(back["status"], "billed");
        assert_eq!(back["remote_status"], "Fully Billed");
        assert_eq!(back["number"], "PO5");
        assert_eq!(back["lines"][0]["item_id"], "7");
        assert_eq!(back["custom_fields"]["custbody_approver"], "ann");
    }

    #[test]
    fn error_paths_become_unified_pointers() {
        assert_eq!(unified_path("item.items[2].item"), "/lines/2/item_id");
        assert_eq!(unified_path("item.items[0].quantity"), "/lines/0/quantity");
        assert_eq!(unified_path("entity"), "/vendor_id");
        assert_eq!(unified_path("companyName"), "/name");
        assert_eq!(
            unified_path("custbody_score"),
            "/custom_fields/custbody_score"
        );
        assert_eq!(unified_path(""), "");
    }
}
