//! Interlink's unified model, defined once: the records every adapter maps
//! its system onto, so that a customer's code works the same against
//! NetSuite, Tryton or the demo API.
//!
//! - The SDK serves these types to adapters (`interlink_sdk::Serves`): an
//!   adapter handles `Vendor`s, not JSON objects whose field names it spells.
//! - The host documents them in its OpenAPI document, and the JSON Schema in
//!   `docs/unified-model.schema.json` is generated from them (feature
//!   `openapi`).
//! - `docs/unified-model.md` explains them.
//!
//! Every field is optional: an adapter serves the fields its system has (its
//! manifest says which, and how each may be written), and an update carries
//! only the fields it changes. What a system has beyond the model goes into
//! `custom_fields`, by the system's own names.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A record of the unified model.
pub trait Record: Serialize + DeserializeOwned {
    /// The entity's name in the API and in manifests (`vendors`).
    const ENTITY: &'static str;
}

/// The system's custom fields, by their system names (`custbody_approver`).
pub type CustomFields = BTreeMap<String, Value>;

/// A decimal (money, quantities): a JSON number or a string of digits, kept
/// exactly as given (`12.5`, `"2.50"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Decimal {
    Number(serde_json::Number),
    Text(String),
}

impl Decimal {
    /// The value as a float, for arithmetic that tolerates rounding.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Decimal::Number(n) => n.as_f64(),
            Decimal::Text(t) => t.trim().parse().ok(),
        }
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Decimal {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(r"^-?[0-9]+(\.[0-9]+)?$")),
            )
            .description(Some("A decimal: a JSON number, or a string of digits"))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Decimal {}

/// Defines a record: every field optional (absent from JSON when `None`),
/// plus `custom_fields`; with `= "entity"`, a [`Record`] of that entity.
macro_rules! record {
    (
        $(#[$meta:meta])*
        $name:ident = $entity:literal { $($fields:tt)* }
    ) => {
        record! { $(#[$meta])* $name { $($fields)* } }

        impl Record for $name {
            const ENTITY: &'static str = $entity;
        }
    };
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$field_meta:meta])* $field:ident: $ty:ty, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub struct $name {
            $(
                $(#[$field_meta])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<$ty>,
            )*
            /// The system's custom fields, by their system names.
            #[serde(default, skip_serializing_if = "CustomFields::is_empty")]
            #[cfg_attr(feature = "openapi", schema(value_type = Object))]
            pub custom_fields: CustomFields,
        }
    };
}

/// Defines an enumeration of snake_case values.
macro_rules! values {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }
    };
}

values! {
    /// Whether a vendor or item is in use.
    ActiveStatus { Active, Inactive, }
}

values! {
    /// What kind of item it is.
    ItemType { Inventory, NonInventory, Service, }
}

values! {
    /// Where a purchase order is in its life. Adapters map their system's
    /// states onto these, and declare state locks in these terms.
    PurchaseOrderStatus {
        Draft,
        PendingApproval,
        Open,
        PartiallyReceived,
        Received,
        Billed,
        Closed,
        Cancelled,
    }
}

/// A postal address.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

record! {
    /// A company the customer buys from.
    Vendor = "vendors" {
        /// Read-only.
        id: String,
        /// Required on create.
        name: String,
        /// The system's vendor number, where it has one.
        code: String,
        email: String,
        phone: String,
        /// ISO 4217.
        currency: String,
        status: ActiveStatus,
        address: Address,
        /// Read-only; RFC 3339, UTC.
        #[cfg_attr(feature = "openapi", schema(format = DateTime))]
        created_at: String,
        /// Read-only; RFC 3339, UTC.
        #[cfg_attr(feature = "openapi", schema(format = DateTime))]
        updated_at: String,
    }
}

record! {
    /// Something the customer buys.
    Item = "items" {
        /// Read-only.
        id: String,
        /// The SKU.
        code: String,
        /// Required on create.
        name: String,
        description: String,
        /// The unit of measure (`ea`, `kg`).
        unit: String,
        /// In `currency`.
        unit_price: Decimal,
        /// ISO 4217.
        currency: String,
        #[serde(rename = "type")]
        kind: ItemType,
        status: ActiveStatus,
        /// Read-only; RFC 3339, UTC.
        #[cfg_attr(feature = "openapi", schema(format = DateTime))]
        created_at: String,
        /// Read-only; RFC 3339, UTC.
        #[cfg_attr(feature = "openapi", schema(format = DateTime))]
        updated_at: String,
    }
}

record! {
    /// An order to a vendor, with its lines.
    PurchaseOrder = "purchase-orders" {
        /// Read-only.
        id: String,
        /// Read-only: the system assigns it.
        number: String,
        /// Required; a `vendors` id.
        vendor_id: String,
        /// Read-only.
        status: PurchaseOrderStatus,
        /// Read-only: the system's own name for the status.
        remote_status: String,
        /// `YYYY-MM-DD`.
        #[cfg_attr(feature = "openapi", schema(format = Date))]
        order_date: String,
        /// `YYYY-MM-DD`.
        #[cfg_attr(feature = "openapi", schema(format = Date))]
        expected_date: String,
        /// ISO 4217.
        currency: String,
        /// Free text.
        memo: String,
        /// The customer's own reference.
        reference: String,
        /// Read-only.
        subtotal: Decimal,
        /// Read-only.
        tax: Decimal,
        /// Read-only.
        total: Decimal,
        /// Created with the order, in the same request.
        lines: Vec<PurchaseOrderLine>,
        /// Read-only; RFC 3339, UTC.
        #[cfg_attr(feature = "openapi", schema(format = DateTime))]
        created_at: String,
        /// Read-only; RFC 3339, UTC.
        #[cfg_attr(feature = "openapi", schema(format = DateTime))]
        updated_at: String,
    }
}

record! {
    /// One line of a purchase order (the `lines` child collection).
    PurchaseOrderLine {
        /// Read-only.
        id: String,
        /// An `items` id; absent for a description-only line.
        item_id: String,
        description: String,
        /// Required.
        quantity: Decimal,
        unit_price: Decimal,
        /// Read-only.
        amount: Decimal,
        /// `YYYY-MM-DD`.
        #[cfg_attr(feature = "openapi", schema(format = Date))]
        expected_date: String,
    }
}

/// The model as one JSON Schema (2020-12) document: each record under
/// `$defs`. `docs/unified-model.schema.json` is this, and a test keeps it so.
#[cfg(feature = "openapi")]
pub fn json_schema() -> Value {
    use utoipa::PartialSchema;
    let defs = [
        ("Vendor", Vendor::schema()),
        ("Item", Item::schema()),
        ("PurchaseOrder", PurchaseOrder::schema()),
        ("PurchaseOrderLine", PurchaseOrderLine::schema()),
        ("Address", Address::schema()),
        ("Decimal", Decimal::schema()),
        ("ActiveStatus", ActiveStatus::schema()),
        ("ItemType", ItemType::schema()),
        ("PurchaseOrderStatus", PurchaseOrderStatus::schema()),
    ];
    let defs: serde_json::Map<String, Value> = defs
        .into_iter()
        .map(|(name, schema)| {
            let schema = serde_json::to_value(schema).expect("schemas serialize");
            (name.to_string(), schema)
        })
        .collect();
    let document = serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Interlink's unified model",
        "description": "The records every adapter maps its system onto (docs/unified-model.md). Generated from the interlink-model crate.",
        "$defs": defs,
    });
    // OpenAPI's references point into its components; here they point here.
    let text = document
        .to_string()
        .replace("#/components/schemas/", "#/$defs/");
    serde_json::from_str(&text).expect("still JSON")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn records_round_trip_with_only_the_fields_they_have() {
        let json = json!({
            "vendor_id": "7",
            "status": "partially_received",
            "total": "12.50",
            "lines": [{"item_id": "3", "quantity": 4, "unit_price": "2.50"}],
            "custom_fields": {"custbody_approver": "ann"},
        });
        let order: PurchaseOrder = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(order.status, Some(PurchaseOrderStatus::PartiallyReceived));
        assert_eq!(order.total, Some(Decimal::Text("12.50".into())));
        assert_eq!(
            order.lines.as_ref().unwrap()[0]
                .quantity
                .as_ref()
                .unwrap()
                .as_f64(),
            Some(4.0)
        );
        assert_eq!(serde_json::to_value(&order).unwrap(), json, "kept exactly");
        assert_eq!(serde_json::to_value(Vendor::default()).unwrap(), json!({}));
    }

    #[test]
    fn an_item_s_kind_is_its_type() {
        let item: Item = serde_json::from_value(json!({"type": "non_inventory"})).unwrap();
        assert_eq!(item.kind, Some(ItemType::NonInventory));
        assert!(serde_json::from_value::<Item>(json!({"type": "gadget"})).is_err());
    }

    #[test]
    fn entity_names_are_the_api_s() {
        let names = [Vendor::ENTITY, Item::ENTITY, PurchaseOrder::ENTITY];
        assert_eq!(names, ["vendors", "items", "purchase-orders"]);
    }

    /// The schema in the docs is generated from these types; a change to
    /// them regenerates it with `INTERLINK_BLESS=1 cargo test -p
    /// interlink-model --features openapi`, which refuses to run where `CI`
    /// is set (`.ci/run` sets it).
    #[cfg(feature = "openapi")]
    #[test]
    fn the_json_schema_in_the_docs_is_the_models() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/unified-model.schema.json"
        );
        let generated = serde_json::to_string_pretty(&json_schema()).unwrap() + "\n";
        if std::env::var_os("INTERLINK_BLESS").is_some() {
            // CI checks the schema in the repository; a run that rewrote it
            // first would pass on any model change.
            assert!(
                std::env::var_os("CI").is_none(),
                "INTERLINK_BLESS rewrites docs/unified-model.schema.json and refuses to run \
                 in CI (CI is set): regenerate the schema locally and commit it"
            );
            std::fs::write(path, &generated).unwrap();
        }
        let written = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            written == generated,
            "docs/unified-model.schema.json is not the model's schema: regenerate it with \
             INTERLINK_BLESS=1 cargo test -p interlink-model --features openapi"
        );
        let vendor = json_schema()["$defs"]["Vendor"].to_string();
        assert!(vendor.contains(r##""$ref":"#/$defs/Address""##), "{vendor}");
        assert!(
            !generated.contains("#/components/"),
            "references resolve here"
        );
    }
}
