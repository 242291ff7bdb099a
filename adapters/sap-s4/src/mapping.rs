//! Between SAP's OData V2 entities and the unified model.
//!
//! One [`Table`] per SAP entity type names the property behind each unified
//! field, its type on the wire and how the adapter may write it. The
//! manifest's fields are made from the same tables ([`Table::fields`]), each
//! with a description naming its property (`SAP `A_PurchaseOrderType/Supplier``),
//! which `host/tests/it/sap.rs` compares with SAP's `$metadata`: where SAP says
//! `sap:creatable="false"` or `sap:updatable="false"`, the field's access
//! must say so too. Reading and writing go through the tables as well, so
//! the mapping, the declaration and the check cannot drift apart.

use interlink_sdk::manifest::{Field, FieldAccess};
use interlink_sdk::{Error, Result, Value};
use serde_json::Map;
use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime, UtcOffset};

/// How a unified value is carried in SAP's OData V2 JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    /// `Edm.DateTime` holding a day: `YYYY-MM-DD` unified.
    Date,
    /// `Edm.DateTime` or `Edm.DateTimeOffset`: RFC 3339 UTC unified.
    Timestamp,
    /// `Edm.Decimal`: a string of digits on both sides.
    Decimal,
    Boolean,
    Integer,
    /// A blocked or deletion flag: `true` is unified `inactive`.
    Inactive,
    /// `ProductType`: unified `inventory`, `non_inventory` or `service`.
    ItemType,
}

/// How the adapter writes a field (the host refuses the rest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadOnly,
    CreateOnly,
    Updatable,
}

/// A unified field served from one SAP property.
#[derive(Debug)]
pub struct Column {
    /// The unified name, dotted for members (`address.city`,
    /// `custom_fields.PaymentTerms`).
    pub field: &'static str,
    pub property: &'static str,
    pub kind: Kind,
    pub access: Access,
}

const fn column(field: &'static str, property: &'static str, kind: Kind, access: Access) -> Column {
    Column {
        field,
        property,
        kind,
        access,
    }
}

use Access::{CreateOnly, ReadOnly, Updatable};
use Kind::{Boolean, Decimal, Inactive, ItemType, Text, Timestamp};

/// The columns of one SAP entity type.
#[derive(Debug)]
pub struct Table {
    /// The entity type, as `$metadata` names it (`A_PurchaseOrderType`).
    pub entity_type: &'static str,
    pub columns: &'static [Column],
}

/// Suppliers: business partners with a supplier number.
pub const VENDOR: Table = Table {
    entity_type: "A_BusinessPartnerType",
    columns: &[
        column("id", "Supplier", Text, ReadOnly),
        column("code", "Supplier", Text, ReadOnly),
        column("name", "OrganizationBPName1", Text, Updatable),
        column("status", "BusinessPartnerIsBlocked", Inactive, Updatable),
        column("created_at", "CreationDate", Timestamp, ReadOnly),
        column("updated_at", "LastChangeDate", Timestamp, ReadOnly),
        column(
            "custom_fields.BusinessPartner",
            "BusinessPartner",
            Text,
            ReadOnly,
        ),
        column(
            "custom_fields.BusinessPartnerCategory",
            "BusinessPartnerCategory",
            Text,
            ReadOnly,
        ),
        column("custom_fields.SearchTerm1", "SearchTerm1", Text, Updatable),
        column("custom_fields.Industry", "Industry", Text, Updatable),
    ],
};

/// A supplier's first address (read only: addresses are entities of their own).
pub const VENDOR_ADDRESS: Table = Table {
    entity_type: "A_BusinessPartnerAddressType",
    columns: &[
        column("address.street", "StreetName", Text, ReadOnly),
        column("address.city", "CityName", Text, ReadOnly),
        column("address.postal_code", "PostalCode", Text, ReadOnly),
        column("address.country", "Country", Text, ReadOnly),
        column("email", "EmailAddress", Text, ReadOnly),
        column("phone", "PhoneNumber", Text, ReadOnly),
    ],
};

/// Products.
pub const ITEM: Table = Table {
    entity_type: "A_ProductType",
    columns: &[
        column("id", "Product", Text, ReadOnly),
        column("code", "Product", Text, ReadOnly),
        column("type", "ProductType", ItemType, ReadOnly),
        column("unit", "BaseUnit", Text, Updatable),
        column("status", "IsMarkedForDeletion", Inactive, Updatable),
        column("created_at", "CreationDate", Timestamp, ReadOnly),
        column("updated_at", "LastChangeDate", Timestamp, ReadOnly),
        column("custom_fields.ProductType", "ProductType", Text, ReadOnly),
        column(
            "custom_fields.ProductGroup",
            "ProductGroup",
            Text,
            Updatable,
        ),
    ],
};

/// A product's description in the connection's language.
pub const ITEM_DESCRIPTION: Table = Table {
    entity_type: "A_ProductDescriptionType",
    columns: &[column("name", "ProductDescription", Text, ReadOnly)],
};

/// Purchase order headers.
pub const ORDER: Table = Table {
    entity_type: "A_PurchaseOrderType",
    columns: &[
        column("id", "PurchaseOrder", Text, ReadOnly),
        column("number", "PurchaseOrder", Text, ReadOnly),
        column("vendor_id", "Supplier", Text, Updatable),
        column(
            "remote_status",
            "PurchasingProcessingStatus",
            Text,
            ReadOnly,
        ),
        column("order_date", "PurchaseOrderDate", Kind::Date, Updatable),
        column("currency", "DocumentCurrency", Text, Updatable),
        column("created_at", "CreationDate", Timestamp, ReadOnly),
        column("updated_at", "LastChangeDateTime", Timestamp, ReadOnly),
        column("custom_fields.CompanyCode", "CompanyCode", Text, CreateOnly),
        column(
            "custom_fields.PurchasingOrganization",
            "PurchasingOrganization",
            Text,
            CreateOnly,
        ),
        column(
            "custom_fields.PurchasingGroup",
            "PurchasingGroup",
            Text,
            Updatable,
        ),
        column(
            "custom_fields.PurchaseOrderType",
            "PurchaseOrderType",
            Text,
            CreateOnly,
        ),
        column(
            "custom_fields.PaymentTerms",
            "PaymentTerms",
            Text,
            Updatable,
        ),
        column(
            "custom_fields.CreatedByUser",
            "CreatedByUser",
            Text,
            ReadOnly,
        ),
        column(
            "custom_fields.PurchasingDocumentDeletionCode",
            "PurchasingDocumentDeletionCode",
            Text,
            ReadOnly,
        ),
    ],
};

/// Purchase order items (unified `lines`).
pub const LINE: Table = Table {
    entity_type: "A_PurchaseOrderItemType",
    columns: &[
        column("id", "PurchaseOrderItem", Text, ReadOnly),
        column("item_id", "Material", Text, Updatable),
        column("description", "PurchaseOrderItemText", Text, Updatable),
        column("quantity", "OrderQuantity", Decimal, Updatable),
        column("unit_price", "NetPriceAmount", Decimal, Updatable),
        column("custom_fields.Plant", "Plant", Text, Updatable),
        column(
            "custom_fields.PurchaseOrderQuantityUnit",
            "PurchaseOrderQuantityUnit",
            Text,
            Updatable,
        ),
        column(
            "custom_fields.MaterialGroup",
            "MaterialGroup",
            Text,
            Updatable,
        ),
        column(
            "custom_fields.StorageLocation",
            "StorageLocation",
            Text,
            Updatable,
        ),
        column("custom_fields.TaxCode", "TaxCode", Text, Updatable),
        column(
            "custom_fields.NetPriceQuantity",
            "NetPriceQuantity",
            Decimal,
            Updatable,
        ),
        column(
            "custom_fields.IsCompletelyDelivered",
            "IsCompletelyDelivered",
            Boolean,
            Updatable,
        ),
        column(
            "custom_fields.PurchasingDocumentDeletionCode",
            "PurchasingDocumentDeletionCode",
            Text,
            ReadOnly,
        ),
    ],
};

/// SAP's deletion indicator for a deleted document or item.
pub const DELETED: &str = "L";

impl Table {
    /// The manifest's fields for these columns, each described by its SAP
    /// property; `adjust` adds what the table does not say (required,
    /// references, a note).
    pub fn fields(&self, adjust: impl Fn(Field) -> Field) -> Vec<Field> {
        self.columns
            .iter()
            .map(|c| {
                let field = match c.kind {
                    Text => Field::text(c.field),
                    Kind::Date => Field::date(c.field),
                    Timestamp => Field::date_time(c.field),
                    Decimal => Field::decimal(c.field),
                    Boolean => Field::boolean(c.field),
                    Kind::Integer => Field::integer(c.field),
                    Inactive => Field::enumeration(c.field, &["active", "inactive"]),
                    ItemType => {
                        Field::enumeration(c.field, &["inventory", "non_inventory", "service"])
                    }
                }
                .description(&format!("SAP `{}/{}`", self.entity_type, c.property));
                let field = match c.access {
                    ReadOnly => field.read_only(),
                    CreateOnly => field.create_only(),
                    Updatable => field,
                };
                let field = if c.field.starts_with("custom_fields.") {
                    field.custom()
                } else {
                    field
                };
                adjust(field)
            })
            .collect()
    }

    /// The SAP entity `sap` as unified members of `out`.
    pub fn read(&self, sap: &Value, out: &mut Map<String, Value>) {
        for c in self.columns {
            if let Some(value) = unified(c.kind, &sap[c.property]) {
                set_path(out, c.field, value);
            }
        }
    }

    /// The SAP properties `record` writes, for a create (`creating`) or an
    /// update: the columns the adapter may write that the record carries.
    /// A `null` clears a property. Other fields are left out: the host
    /// refuses them before the adapter is called.
    ///
    /// # Errors
    ///
    /// `invalid` naming the field (under `at`, the record's JSON pointer),
    /// for a value SAP could not take.
    pub fn write(&self, record: &Value, creating: bool, at: &str) -> Result<Map<String, Value>> {
        let mut out = Map::new();
        for c in self.columns {
            let writable = match c.access {
                ReadOnly => false,
                CreateOnly => creating,
                Updatable => true,
            };
            let value = c.field.split('.').try_fold(record, |v, key| v.get(key));
            if let (true, Some(value)) = (writable, value) {
                let path = format!("{at}/{}", c.field.replace('.', "/"));
                out.insert(c.property.into(), sap_value(c.kind, value, &path)?);
            }
        }
        Ok(out)
    }

    /// The unified path of SAP `property`, for an error SAP reports on it.
    pub fn path_of(&self, property: &str) -> Option<String> {
        self.columns
            .iter()
            .find(|c| c.property == property)
            .map(|c| format!("/{}", c.field.replace('.', "/")))
    }
}

/// Access as the manifest writes it.
pub fn access(field: &Field) -> Access {
    match field.access {
        FieldAccess::ReadOnly => ReadOnly,
        FieldAccess::CreateOnly => CreateOnly,
        FieldAccess::Updatable => Updatable,
    }
}

/// Sets the dotted `path` of `out` to `value`, making the objects on the way.
pub fn set_path(out: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            out.insert(path.into(), value);
        }
        Some((head, rest)) => {
            let member = out.entry(head).or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(member) = member {
                set_path(member, rest, value);
            }
        }
    }
}

/// An SAP value as the unified one; `None` for SAP's initial values (empty
/// text, no date), which mean "not set".
fn unified(kind: Kind, value: &Value) -> Option<Value> {
    match kind {
        Text => value.as_str().filter(|s| !s.is_empty()).map(Value::from),
        Kind::Date => millis(value).map(|ms| Value::from(date_text(ms))),
        Timestamp => millis(value).map(|ms| Value::from(timestamp_text(ms))),
        Decimal => match value {
            Value::String(s) if !s.is_empty() => Some(value.clone()),
            Value::Number(_) => Some(value.clone()),
            _ => None,
        },
        Boolean | Kind::Integer => (value.is_boolean() || value.is_number()).then(|| value.clone()),
        Inactive => value
            .as_bool()
            .map(|flag| Value::from(if flag { "inactive" } else { "active" })),
        ItemType => value.as_str().map(|t| Value::from(item_type(t))),
    }
}

/// SAP's product types on the unified scale: services (`DIEN`, `SERV`),
/// non-stock material (`NLAG`), and stocked material for the rest.
fn item_type(product_type: &str) -> &'static str {
    match product_type {
        "DIEN" | "SERV" => "service",
        "NLAG" => "non_inventory",
        _ => "inventory",
    }
}

fn invalid(path: &str, code: &str, message: &str) -> Error {
    Error::invalid(path, code, message)
}

/// A unified value as SAP's.
fn sap_value(kind: Kind, value: &Value, path: &str) -> Result<Value> {
    if value.is_null() {
        return Ok(match kind {
            Text => Value::from(""),
            Boolean | Inactive => Value::from(false),
            _ => Value::Null,
        });
    }
    let wrong = |what: &str| invalid(path, "invalid_value", &format!("must be {what}"));
    match kind {
        Text => value.as_str().map(Value::from).ok_or_else(|| wrong("text")),
        Kind::Date => {
            let day = value.as_str().ok_or_else(|| wrong("a date"))?;
            let ms = date_millis(day)
                .ok_or_else(|| invalid(path, "invalid_date", "dates are YYYY-MM-DD"))?;
            Ok(Value::from(format!("/Date({ms})/")))
        }
        Decimal => decimal_text(value)
            .map(Value::from)
            .ok_or_else(|| wrong("a decimal such as 12.50 (no exponent)")),
        Boolean => value
            .as_bool()
            .map(Value::from)
            .ok_or_else(|| wrong("true or false")),
        Kind::Integer => value
            .as_i64()
            .map(Value::from)
            .ok_or_else(|| wrong("a whole number")),
        Inactive => match value.as_str() {
            Some("inactive") => Ok(Value::from(true)),
            Some("active") => Ok(Value::from(false)),
            _ => Err(wrong("active or inactive")),
        },
        Timestamp | ItemType => Err(invalid(path, "field_read_only", "set by SAP")),
    }
}

/// A unified decimal (number or text) as SAP's `Edm.Decimal` text.
fn decimal_text(value: &Value) -> Option<String> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_string(),
        _ => return None,
    };
    Fixed::parse(&text).map(|_| text)
}

/// The milliseconds of SAP's `/Date(1700000000000)/` or
/// `/Date(1700000000000+0000)/` (the offset is informational: the
/// milliseconds are UTC).
pub fn millis(value: &Value) -> Option<i64> {
    let inner = value.as_str()?.strip_prefix("/Date(")?.strip_suffix(")/")?;
    let digits = inner
        .char_indices()
        .skip(1)
        .find(|(_, c)| *c == '+' || *c == '-')
        .map_or(inner, |(at, _)| &inner[..at]);
    digits.parse().ok()
}

fn utc(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn date_text(ms: i64) -> String {
    let date = utc(ms).date();
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// RFC 3339 in UTC, with milliseconds when there are any.
pub fn timestamp_text(ms: i64) -> String {
    utc(ms).format(&Rfc3339).unwrap_or_default()
}

/// Midnight UTC of `YYYY-MM-DD`, in milliseconds.
fn date_millis(day: &str) -> Option<i64> {
    let mut parts = day.splitn(3, '-');
    let year: i32 = parts.next()?.parse().ok()?;
    let month: u8 = parts.next()?.parse().ok()?;
    let date = Date::from_calendar_date(
        year,
        Month::try_from(month).ok()?,
        parts.next()?.parse().ok()?,
    )
    .ok()?;
    Some((date.midnight().assume_utc().unix_timestamp_nanos() / 1_000_000) as i64)
}

/// How SAP types a change stamp in `$filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    /// `Edm.DateTime`, kept to the millisecond.
    DateTime,
    /// `Edm.DateTimeOffset`, kept to the tenth of a microsecond.
    DateTimeOffset,
}

/// The `$filter` literal of the RFC 3339 time `after`. A `DateTime` keeps
/// milliseconds: for stamps kept to the millisecond, "later than `after`"
/// and "later than `after` cut to the millisecond" are the same records.
///
/// # Errors
///
/// `invalid` on `/modified_after` for anything but an RFC 3339 time.
pub fn stamp_literal(after: &str, stamp: Stamp) -> Result<String> {
    let at = OffsetDateTime::parse(after, &Rfc3339)
        .map_err(|_| {
            invalid(
                "/modified_after",
                "invalid_timestamp",
                "use an RFC 3339 time, such as 2026-01-31T00:00:00Z",
            )
        })?
        .to_offset(UtcOffset::UTC);
    let (date, clock) = (at.date(), at.time());
    let day = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        date.year(),
        u8::from(date.month()),
        date.day(),
        clock.hour(),
        clock.minute(),
        clock.second()
    );
    Ok(match stamp {
        Stamp::DateTime => format!("datetime'{day}.{:03}'", clock.millisecond()),
        Stamp::DateTimeOffset => format!("datetimeoffset'{day}.{:06}Z'", clock.microsecond()),
    })
}

/// An exact decimal: `units` × 10^-`scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fixed {
    units: i128,
    scale: u32,
}

impl Fixed {
    /// Plain decimal notation only (`-12.50`): SAP refuses exponents.
    fn parse(text: &str) -> Option<Fixed> {
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) || fraction.len() > 18 {
            return None;
        }
        let units: i128 = format!("{whole}{fraction}").parse().ok()?;
        Some(Fixed {
            units: if negative { -units } else { units },
            scale: fraction.len() as u32,
        })
    }
}

/// `numerator / denominator` to a whole number, rounding half away from
/// zero as SAP rounds money.
fn rounded(numerator: i128, denominator: i128) -> Option<i128> {
    if denominator == 0 {
        return None;
    }
    let (quotient, remainder) = (numerator / denominator, numerator % denominator);
    let away = if (numerator < 0) != (denominator < 0) {
        -1
    } else {
        1
    };
    let half_or_more = remainder.checked_mul(2)?.abs() >= denominator.abs();
    Some(quotient + if half_or_more { away } else { 0 })
}

fn money_text(cents: i128) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.abs();
    format!("{sign}{}.{:02}", cents / 100, cents % 100)
}

/// A line's amount, `quantity × price / price unit`, to two places; `None`
/// when a figure is missing or not a decimal.
pub fn line_amount(quantity: &Value, price: &Value, per: &Value) -> Option<String> {
    let fixed = |v: &Value| Fixed::parse(v.as_str()?);
    let (q, p) = (fixed(quantity)?, fixed(price)?);
    let per = fixed(per)
        .filter(|f| f.units != 0)
        .unwrap_or(Fixed { units: 1, scale: 0 });
    let ten = |n: u32| 10i128.checked_pow(n);
    let numerator = q
        .units
        .checked_mul(p.units)?
        .checked_mul(ten(per.scale)?)?
        .checked_mul(100)?;
    let denominator = per.units.checked_mul(ten(q.scale + p.scale)?)?;
    rounded(numerator, denominator).map(money_text)
}

/// The sum of amounts to two places (as [`line_amount`] writes them).
pub fn sum(amounts: &[String]) -> Option<String> {
    amounts
        .iter()
        .map(|a| Fixed::parse(a).filter(|f| f.scale == 2).map(|f| f.units))
        .sum::<Option<i128>>()
        .map(money_text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use interlink_sdk::json;

    #[test]
    fn sap_dates_and_stamps_read_as_unified_ones() {
        assert_eq!(
            millis(&json!("/Date(1753142400000)/")),
            Some(1_753_142_400_000)
        );
        assert_eq!(
            millis(&json!("/Date(1753142400123+0000)/")),
            Some(1_753_142_400_123)
        );
        assert_eq!(millis(&json!("/Date(-1000)/")), Some(-1000));
        assert_eq!(millis(&json!("2025-07-22")), None);
        assert_eq!(date_text(1_753_142_400_000), "2025-07-22");
        assert_eq!(timestamp_text(1_753_142_400_000), "2025-07-22T00:00:00Z");
        assert_eq!(
            timestamp_text(1_753_142_400_123),
            "2025-07-22T00:00:00.123Z"
        );
        assert_eq!(date_millis("2025-07-22"), Some(1_753_142_400_000));
        assert_eq!(date_millis("2025-13-01"), None);
    }

    #[test]
    fn modified_after_becomes_the_literal_of_the_stamps_type() {
        let at = "2026-01-15T10:00:00.123456Z";
        assert_eq!(
            stamp_literal(at, Stamp::DateTime).unwrap(),
            "datetime'2026-01-15T10:00:00.123'"
        );
        assert_eq!(
            stamp_literal("2026-01-15T11:00:00+01:00", Stamp::DateTimeOffset).unwrap(),
            "datetimeoffset'2026-01-15T10:00:00.000000Z'"
        );
        assert!(stamp_literal("yesterday", Stamp::DateTime).is_err());
    }

    #[test]
    fn amounts_are_exact_and_round_half_up() {
        let amount = |q, p, per| line_amount(&json!(q), &json!(p), &json!(per));
        assert_eq!(
            amount("213.000", "301.14", "1.000").as_deref(),
            Some("64142.82")
        );
        assert_eq!(amount("3", "0.125", "").as_deref(), Some("0.38"));
        assert_eq!(amount("1", "10.00", "3").as_deref(), Some("3.33"));
        assert_eq!(amount("-1", "0.005", "1").as_deref(), Some("-0.01"));
        assert_eq!(amount("1e3", "1", "1"), None);
        assert_eq!(
            sum(&["1.10".into(), "2.25".into()]).as_deref(),
            Some("3.35")
        );
    }

    #[test]
    fn a_table_writes_only_what_the_adapter_may_write() {
        let record = json!({"id": "4500000001", "vendor_id": "17", "order_date": "2026-02-01",
            "custom_fields": {"CompanyCode": "1710", "PaymentTerms": null}});
        let create = ORDER.write(&record, true, "").unwrap();
        assert_eq!(create["Supplier"], "17");
        assert_eq!(create["PurchaseOrderDate"], "/Date(1769904000000)/");
        assert_eq!(create["CompanyCode"], "1710");
        assert_eq!(create["PaymentTerms"], "", "null clears");
        assert!(!create.contains_key("PurchaseOrder"), "read only");
        let update = ORDER.write(&record, false, "").unwrap();
        assert!(!update.contains_key("CompanyCode"), "create only");
        let Err(Error::Invalid(errors)) = LINE.write(&json!({"quantity": "1e3"}), true, "/lines/2")
        else {
            panic!()
        };
        assert_eq!(errors[0].path, "/lines/2/quantity");
        assert_eq!(ORDER.path_of("Supplier").as_deref(), Some("/vendor_id"));
    }

    #[test]
    fn fields_name_their_sap_property() {
        let fields = LINE.fields(|f| f);
        let price = fields.iter().find(|f| f.name == "unit_price").unwrap();
        assert_eq!(
            price.description,
            "SAP `A_PurchaseOrderItemType/NetPriceAmount`"
        );
        let deleted = fields
            .iter()
            .find(|f| f.name == "custom_fields.PurchasingDocumentDeletionCode")
            .unwrap();
        assert!(deleted.custom);
        assert_eq!(access(deleted), ReadOnly);
    }
}
