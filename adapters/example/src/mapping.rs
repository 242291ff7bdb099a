//! Mapping between the demo API's records and the unified model, one table
//! per entity. The pure functions here are also what the host's benchmark
//! runs natively, as the floor for the per-call cost.

use interlink_sdk::{Error, Page, Result, Value};
use serde_json::{Map, json};

/// How one value converts.
#[derive(Clone, Copy)]
enum Conv {
    /// The same JSON value.
    Plain,
    /// A numeric id upstream, a string id in the unified model.
    Id,
    /// `isActive: bool` upstream, `status: "active" | "inactive"` unified.
    Active,
}

/// One field: unified name, upstream path (dotted for nested objects).
struct FieldMap(&'static str, &'static str, Conv);

/// How one unified entity maps onto one upstream collection.
pub struct EntityMap {
    pub collection: &'static str,
    fields: &'static [FieldMap],
    /// The fields the manifest declares read-only (custom ones as
    /// `custom_fields.<name>`): never sent to the system.
    read_only: &'static [&'static str],
    /// Child collections: unified field, upstream field, their field maps.
    children: &'static [(&'static str, &'static str, &'static [FieldMap])],
}

use Conv::*;

const VENDORS: EntityMap = EntityMap {
    collection: "suppliers",
    fields: &[
        FieldMap("id", "id", Id),
        FieldMap("name", "displayName", Plain),
        FieldMap("email", "contact.email", Plain),
        FieldMap("phone", "contact.phone", Plain),
        FieldMap("currency", "currencyCode", Plain),
        FieldMap("status", "isActive", Active),
        FieldMap("custom_fields", "customFields", Plain),
        FieldMap("created_at", "createdAt", Plain),
        FieldMap("updated_at", "updatedAt", Plain),
    ],
    read_only: &["id", "created_at", "updated_at", "custom_fields.rating"],
    children: &[],
};

const ITEMS: EntityMap = EntityMap {
    collection: "products",
    fields: &[
        FieldMap("id", "id", Id),
        FieldMap("code", "sku", Plain),
        FieldMap("name", "title", Plain),
        FieldMap("description", "description", Plain),
        FieldMap("unit", "uom", Plain),
        FieldMap("unit_price", "price", Plain),
        FieldMap("type", "kind", Plain),
        FieldMap("created_at", "createdAt", Plain),
        FieldMap("updated_at", "updatedAt", Plain),
    ],
    read_only: &["id", "created_at", "updated_at"],
    children: &[],
};

const PURCHASE_ORDERS: EntityMap = EntityMap {
    collection: "orders",
    fields: &[
        FieldMap("id", "id", Id),
        FieldMap("number", "orderNumber", Plain),
        FieldMap("vendor_id", "supplierId", Id),
        FieldMap("status", "state", Plain),
        FieldMap("currency", "currencyCode", Plain),
        FieldMap("memo", "notes", Plain),
        FieldMap("reference", "externalRef", Plain),
        FieldMap("created_at", "createdAt", Plain),
        FieldMap("updated_at", "updatedAt", Plain),
    ],
    read_only: &["id", "number", "status", "created_at", "updated_at"],
    children: &[(
        "lines",
        "lines",
        &[
            FieldMap("item_id", "productId", Id),
            FieldMap("description", "text", Plain),
            FieldMap("quantity", "qty", Plain),
            FieldMap("unit_price", "price", Plain),
        ],
    )],
};

/// The map of a unified entity.
pub fn entity(name: &str) -> Option<&'static EntityMap> {
    match name {
        "vendors" => Some(&VENDORS),
        "items" => Some(&ITEMS),
        "purchase-orders" => Some(&PURCHASE_ORDERS),
        _ => None,
    }
}

/// Takes the value at `path` (dotted for nested objects) out of `record`:
/// the record is the system's answer, owned, so its values move into the
/// unified record instead of being copied.
fn take(record: &mut Value, path: &str) -> Option<Value> {
    path.split('.')
        .try_fold(record, |v, key| v.get_mut(key))
        .map(Value::take)
        .filter(|v| !v.is_null())
}

fn insert(record: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            record.insert(path.to_string(), value);
        }
        Some((head, rest)) => {
            let child = record.entry(head).or_insert_with(|| json!({}));
            if let Value::Object(child) = child {
                insert(child, rest, value);
            }
        }
    }
}

fn to_unified_fields(fields: &[FieldMap], mut record: Value) -> Map<String, Value> {
    let mut out = Map::new();
    for FieldMap(unified, upstream, conv) in fields {
        let Some(value) = take(&mut record, upstream) else {
            continue;
        };
        let value = match conv {
            Plain => value,
            Id => match value {
                Value::Number(n) => Value::String(n.to_string()),
                other => other,
            },
            Active => json!(if value.as_bool() == Some(false) {
                "inactive"
            } else {
                "active"
            }),
        };
        out.insert(unified.to_string(), value);
    }
    out
}

fn to_upstream_fields(
    fields: &[FieldMap],
    read_only: &[&str],
    record: &Value,
    prefix: &str,
) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    for FieldMap(unified, upstream, conv) in fields {
        let Some(value) = record.get(*unified) else {
            continue;
        };
        if read_only.contains(unified) {
            continue;
        }
        let mut value = value.clone();
        if let Value::Object(members) = &mut value {
            members.retain(|k, _| !read_only.contains(&format!("{unified}.{k}").as_str()));
        }
        let value = &value;
        let value = match conv {
            Plain => value.clone(),
            Id => match value.as_str().map(str::parse::<u64>) {
                Some(Ok(n)) => json!(n),
                _ if value.is_null() => Value::Null,
                _ => {
                    return Err(Error::invalid(
                        format!("{prefix}/{unified}"),
                        "invalid_reference",
                        format!("`{unified}` must be the id of an existing record, such as \"12\""),
                    ));
                }
            },
            Active => json!(value.as_str() != Some("inactive")),
        };
        insert(&mut out, upstream, value);
    }
    Ok(out)
}

impl EntityMap {
    /// A system record as a unified record.
    pub fn to_unified(&self, mut record: Value) -> Value {
        let children: Vec<_> = self
            .children
            .iter()
            .map(|(unified, upstream, fields)| (unified, take(&mut record, upstream), fields))
            .collect();
        let mut out = to_unified_fields(self.fields, record);
        for (unified, upstream, fields) in children {
            if let Some(Value::Array(children)) = upstream {
                let children = children
                    .into_iter()
                    .map(|c| Value::Object(to_unified_fields(fields, c)));
                out.insert(unified.to_string(), Value::Array(children.collect()));
            }
        }
        Value::Object(out)
    }

    /// The members of a unified record (or patch) as the system's fields.
    pub fn to_upstream(&self, record: &Value) -> Result<Value> {
        let mut out = to_upstream_fields(self.fields, self.read_only, record, "")?;
        for (unified, upstream, fields) in self.children {
            if let Some(Value::Array(children)) = record.get(*unified) {
                let children = children
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        to_upstream_fields(fields, &[], c, &format!("/{unified}/{i}"))
                            .map(Value::Object)
                    })
                    .collect::<Result<Vec<_>>>()?;
                out.insert(upstream.to_string(), Value::Array(children));
            }
        }
        Ok(Value::Object(out))
    }
}

/// Maps one page of the demo API (`{items, offset, hasMore}`) to unified
/// records of `entity`, with the cursor of the next page.
pub fn map_page(entity_name: &str, body: &[u8]) -> Result<Page> {
    let map =
        entity(entity_name).ok_or_else(|| Error::not_found(format!("no entity {entity_name}")))?;
    let mut page: Value = serde_json::from_slice(body)?;
    let items = match page.get_mut("items").map(Value::take) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    };
    let records: Vec<Value> = items.into_iter().map(|r| map.to_unified(r)).collect();
    let next_cursor = if page["hasMore"].as_bool() == Some(true) {
        let offset = page["offset"].as_u64().unwrap_or(0);
        Some((offset + records.len() as u64).to_string())
    } else {
        None
    };
    Ok(Page {
        records,
        next_cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_round_trip() {
        let upstream = json!({"id": 7, "displayName": "Acme", "contact": {"email": "a@acme.example"}, "isActive": false});
        let unified = VENDORS.to_unified(upstream);
        assert_eq!(
            unified,
            json!({"id": "7", "name": "Acme", "email": "a@acme.example", "status": "inactive"})
        );
        let back = VENDORS.to_upstream(&unified).unwrap();
        assert_eq!(
            back,
            json!({"displayName": "Acme", "contact": {"email": "a@acme.example"}, "isActive": false}),
            "the id is read-only: never sent"
        );
    }

    #[test]
    fn read_only_fields_are_never_sent() {
        let patch = json!({"name": "N", "updated_at": "2026-01-01T00:00:00Z",
            "custom_fields": {"region": "EMEA", "rating": 5}});
        assert_eq!(
            VENDORS.to_upstream(&patch).unwrap(),
            json!({"displayName": "N", "customFields": {"region": "EMEA"}})
        );
    }

    #[test]
    fn bad_line_reference_names_its_path() {
        let order = json!({"vendor_id": "1", "lines": [{"item_id": "x", "quantity": 1}]});
        let Err(Error::Invalid(errors)) = PURCHASE_ORDERS.to_upstream(&order) else {
            panic!()
        };
        assert_eq!(errors[0].path, "/lines/0/item_id");
    }

    #[test]
    fn page_cursor_advances() {
        let body = br#"{"items":[{"id":1},{"id":2}],"offset":4,"hasMore":true}"#;
        let page = map_page("vendors", body).unwrap();
        assert_eq!(page.records.len(), 2);
        assert_eq!(page.next_cursor.as_deref(), Some("6"));
    }
}
