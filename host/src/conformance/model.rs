//! `model`: the declared entities and their records against the unified model.

use super::*;

/// The unified model's members of `entity`, if it is one of its entities.
pub(super) fn model_members(entity: &str) -> Option<BTreeSet<String>> {
    let definition = match entity {
        "vendors" => "Vendor",
        "items" => "Item",
        "purchase-orders" => "PurchaseOrder",
        _ => return None,
    };
    let schema = interlink_model::json_schema();
    let properties = schema.pointer(&format!("/$defs/{definition}/properties"))?;
    Some(properties.as_object()?.keys().cloned().collect())
}

/// Whether `entity`'s standard fields are members of the unified model.
pub(super) fn model_fields(entity: &Entity) -> Outcome {
    let Some(members) = model_members(&entity.name) else {
        return Outcome::Failed(format!(
            "`{}` is not an entity of the unified model (vendors, items, purchase-orders)",
            entity.name
        ));
    };
    let unknown: Vec<&str> = entity
        .fields
        .iter()
        .filter(|f| !f.custom)
        .map(|f| f.name.split('.').next().unwrap_or(&f.name))
        .filter(|top| !members.contains(*top))
        .collect();
    if unknown.is_empty() {
        Outcome::Passed(format!("{} fields", entity.fields.len()))
    } else {
        Outcome::Failed(format!(
            "fields not in the unified model: {} (a system's own fields go under custom_fields)",
            unknown.join(", ")
        ))
    }
}

/// What is wrong with a record of `entity`, if anything: not an object,
/// no string id, members outside the model or of the wrong type.
pub fn record_problem(entity: &str, record: &Value) -> Option<String> {
    let Some(object) = record.as_object() else {
        return Some("not a JSON object".into());
    };
    if !object.get("id").is_some_and(Value::is_string) {
        return Some("no string `id`".into());
    }
    let typed = match entity {
        "vendors" => round_trip::<interlink_model::Vendor>(record),
        "items" => round_trip::<interlink_model::Item>(record),
        "purchase-orders" => round_trip::<interlink_model::PurchaseOrder>(record),
        _ => return None,
    };
    match typed {
        Err(e) => Some(format!("does not match the unified model: {e}")),
        Ok(back) => {
            let lost: Vec<String> = missing_members(record, &back, "");
            (!lost.is_empty())
                .then(|| format!("members outside the unified model: {}", lost.join(", ")))
        }
    }
}

fn round_trip<T: serde::Serialize + serde::de::DeserializeOwned>(
    record: &Value,
) -> Result<Value, serde_json::Error> {
    serde_json::to_value(serde_json::from_value::<T>(record.clone())?)
}

/// The members of `given` (nested objects and arrays of objects included)
/// that `kept` lost: those the typed model does not have.
fn missing_members(given: &Value, kept: &Value, path: &str) -> Vec<String> {
    let mut lost = Vec::new();
    match (given, kept) {
        (Value::Object(given), Value::Object(kept)) => {
            for (key, value) in given {
                if key == "custom_fields" || value.is_null() {
                    continue;
                }
                let at = format!("{path}/{key}");
                match kept.get(key) {
                    None => lost.push(at),
                    Some(kept) => lost.extend(missing_members(value, kept, &at)),
                }
            }
        }
        (Value::Array(given), Value::Array(kept)) => {
            for (i, (g, k)) in given.iter().zip(kept).enumerate() {
                lost.extend(missing_members(g, k, &format!("{path}/{i}")));
            }
        }
        _ => {}
    }
    lost
}
