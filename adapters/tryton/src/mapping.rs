//! Between Tryton's records and the unified model.

use interlink_sdk::{Error, Result, Value, json};
use serde_json::Map;

/// The Tryton model of a unified entity.
pub fn model(entity: &str) -> Result<&'static str> {
    match entity {
        "vendors" => Ok("party.party"),
        "items" => Ok("product.product"),
        "purchase-orders" => Ok("purchase.purchase"),
        other => Err(Error::not_found(format!("no entity {other}"))),
    }
}

/// The fields read of each model.
pub fn fields(model: &str) -> &'static [&'static str] {
    match model {
        "party.party" => &["name", "code", "create_date", "write_date"],
        "product.product" => &["code", "rec_name", "create_date", "write_date"],
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

fn id(value: &Value) -> Value {
    match value.as_u64() {
        Some(n) => json!(n.to_string()),
        None => Value::Null,
    }
}

/// Tryton's states on the unified scale; Tryton's own stays in `remote_status`.
fn status(state: &str) -> &'static str {
    match state {
        "draft" => "draft",
        "quotation" => "pending_approval",
        "confirmed" | "processing" => "open",
        "done" => "closed",
        _ => "cancelled",
    }
}

fn timestamps(record: &Value, out: &mut Map<String, Value>) {
    out.insert("created_at".into(), plain(&record["create_date"]));
    let updated = if record["write_date"].is_null() {
        &record["create_date"]
    } else {
        &record["write_date"]
    };
    out.insert("updated_at".into(), plain(updated));
}

/// A Tryton record of `entity` as a unified record.
pub fn to_unified(entity: &str, record: &Value) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), id(&record["id"]));
    match entity {
        "vendors" => {
            out.insert("name".into(), record["name"].clone());
            out.insert("code".into(), record["code"].clone());
        }
        "items" => {
            out.insert("code".into(), record["code"].clone());
            out.insert("name".into(), record["rec_name"].clone());
        }
        _ => {
            let state = record["state"].as_str().unwrap_or_default();
            out.insert("number".into(), record["number"].clone());
            out.insert("status".into(), json!(status(state)));
            out.insert("remote_status".into(), json!(state));
            out.insert("vendor_id".into(), id(&record["party"]));
            out.insert("currency".into(), record["currency"]["code"].clone());
            out.insert("order_date".into(), plain(&record["purchase_date"]));
            out.insert("memo".into(), record["description"].clone());
            out.insert("reference".into(), record["reference"].clone());
            out.insert("subtotal".into(), plain(&record["untaxed_amount"]));
            out.insert("tax".into(), plain(&record["tax_amount"]));
            out.insert("total".into(), plain(&record["total_amount"]));
            out.insert(
                "custom_fields".into(),
                json!({"comment": record["comment"]}),
            );
            let lines: Vec<Value> = record["lines"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|line| {
                    json!({
                        "id": id(&line["id"]),
                        "item_id": id(&line["product"]),
                        "description": line["description"],
                        "quantity": line["quantity"],
                        "unit_price": plain(&line["unit_price"]),
                        "amount": plain(&line["amount"]),
                    })
                })
                .collect();
            out.insert("lines".into(), Value::Array(lines));
        }
    }
    timestamps(record, &mut out);
    Value::Object(out)
}

fn reference(value: &Value, path: &str) -> Result<Value> {
    match value {
        Value::Null => Ok(Value::Null),
        Value::String(s) => s.parse::<u64>().map(|n| json!(n)).map_err(|_| {
            Error::invalid(
                path,
                "invalid_reference",
                format!("`{s}` is not a Tryton id"),
            )
        }),
        _ => Err(Error::invalid(
            path,
            "invalid_reference",
            "an id must be a string such as \"12\"",
        )),
    }
}

fn decimal(value: &Value) -> Value {
    match value {
        Value::Null => Value::Null,
        Value::String(s) => json!({"__class__": "Decimal", "decimal": s}),
        other => json!({"__class__": "Decimal", "decimal": other.to_string()}),
    }
}

fn date(value: &Value, path: &str) -> Result<Value> {
    let Some(text) = value.as_str() else {
        return Ok(Value::Null);
    };
    let parts: Vec<u32> = text.split('-').filter_map(|p| p.parse().ok()).collect();
    match parts.as_slice() {
        [year, month, day] => {
            Ok(json!({"__class__": "date", "year": year, "month": month, "day": day}))
        }
        _ => Err(Error::invalid(path, "invalid_date", "dates are YYYY-MM-DD")),
    }
}

/// The members of a unified record (or patch) as Tryton's values; `unit` is
/// the unit of measure of new purchase lines.
pub fn to_tryton(entity: &str, record: &Value, unit: Option<u64>) -> Result<Value> {
    let mut out = Map::new();
    let present = |key: &str| record.get(key).is_some();
    match entity {
        "vendors" => {
            if present("name") {
                out.insert("name".into(), record["name"].clone());
            }
        }
        "purchase-orders" => {
            if present("vendor_id") {
                out.insert(
                    "party".into(),
                    reference(&record["vendor_id"], "/vendor_id")?,
                );
            }
            if present("memo") {
                out.insert("description".into(), record["memo"].clone());
            }
            if present("reference") {
                out.insert("reference".into(), record["reference"].clone());
            }
            if present("order_date") {
                out.insert(
                    "purchase_date".into(),
                    date(&record["order_date"], "/order_date")?,
                );
            }
            if let Some(comment) = record.get("custom_fields").and_then(|c| c.get("comment")) {
                out.insert("comment".into(), comment.clone());
            }
            if let Some(Value::Array(lines)) = record.get("lines") {
                let mut created = Vec::new();
                for (i, line) in lines.iter().enumerate() {
                    let mut l = json!({
                        "type": "line",
                        "description": line.get("description").cloned().unwrap_or(json!("")),
                        "quantity": line["quantity"],
                        "unit": unit,
                        "unit_price": decimal(line.get("unit_price").unwrap_or(&json!("0"))),
                    });
                    if let Some(item) = line.get("item_id") {
                        l["product"] = reference(item, &format!("/lines/{i}/item_id"))?;
                    }
                    created.push(l);
                }
                out.insert("lines".into(), json!([["create", created]]));
            }
        }
        other => {
            return Err(Error::unsupported(format!(
                "{other} cannot be written through this adapter"
            )));
        }
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
        let unified = to_unified("purchase-orders", &tryton);
        assert_eq!(unified["status"], "open");
        assert_eq!(unified["remote_status"], "confirmed");
        assert_eq!(unified["vendor_id"], "2");
        assert_eq!(unified["order_date"], "2026-03-09");
        assert_eq!(unified["total"], "37.50");
        assert_eq!(unified["updated_at"], "2026-03-09T08:05:01Z");
        assert_eq!(unified["lines"][0]["unit_price"], "7.50");
        assert_eq!(unified["lines"][0]["item_id"], Value::Null);
    }

    #[test]
    fn lines_are_created_with_the_purchase() {
        let order = json!({"vendor_id": "2", "memo": "m", "lines": [{"description": "bolts", "quantity": 5, "unit_price": "7.50"}]});
        let body = to_tryton("purchase-orders", &order, Some(1)).unwrap();
        assert_eq!(body["party"], 2);
        assert_eq!(body["description"], "m");
        assert_eq!(body["lines"][0][0], "create");
        assert_eq!(body["lines"][0][1][0]["unit_price"]["decimal"], "7.50");
        assert_eq!(body["lines"][0][1][0]["unit"], 1);
    }

    #[test]
    fn bad_references_name_their_path() {
        let order = json!({"vendor_id": "2", "lines": [{"quantity": 1, "item_id": "bolt"}]});
        let Err(Error::Invalid(errors)) = to_tryton("purchase-orders", &order, Some(1)) else {
            panic!()
        };
        assert_eq!(errors[0].path, "/lines/0/item_id");
    }

    #[test]
    fn modified_after_becomes_a_domain() {
        let domain = modified_after("2026-01-31T12:30:00Z").unwrap();
        assert_eq!(domain[1][0][2]["hour"], 12);
        assert!(modified_after("yesterday").is_err());
    }
}
