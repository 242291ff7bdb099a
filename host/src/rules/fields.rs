//! Field rules on creates and updates.

use serde_json::{Map, Value};

use super::Violation;
use crate::code::Code;
use crate::manifest::{ChildCollection, Entity, Field, FieldAccess, FieldType};

/// Whether a body creates a record or changes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    Create,
    Update,
}

/// An entity's declared fields, with the custom fields the connected account
/// adds, looked up by name.
pub struct Schema<'a> {
    entity: &'a Entity,
    extra: &'a [Field],
}

impl<'a> Schema<'a> {
    pub fn new(entity: &'a Entity, account_fields: &'a [Field]) -> Self {
        Schema {
            entity,
            extra: account_fields,
        }
    }

    fn fields(&self) -> impl Iterator<Item = &'a Field> {
        self.entity.fields.iter().chain(self.extra)
    }

    fn child(&self, name: &str) -> Option<&'a ChildCollection> {
        self.entity.children.iter().find(|c| c.name == name)
    }

    /// Whether members of object field `name` are declared one by one.
    fn has_members(fields: &[&Field], name: &str) -> bool {
        let prefix = format!("{name}.");
        fields.iter().any(|f| f.name.starts_with(&prefix))
    }
}

fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// A JSON pointer, built only when a violation needs it: checking a valid
/// body allocates no paths.
#[derive(Clone, Copy)]
enum Pointer<'a> {
    Root,
    Key(&'a Pointer<'a>, &'a str),
    Index(&'a Pointer<'a>, usize),
}

impl Pointer<'_> {
    fn render(&self) -> String {
        match self {
            Pointer::Root => String::new(),
            Pointer::Key(parent, key) => format!("{}/{}", parent.render(), escape(key)),
            Pointer::Index(parent, i) => format!("{}/{i}", parent.render()),
        }
    }
}

fn violation(path: String, code: Code, message: String) -> Violation {
    Violation {
        path,
        code,
        message,
    }
}

/// The access check of one declared field.
fn access(field: &Field, write: Write, path: &Pointer, out: &mut Vec<Violation>) {
    let refused = match (field.access, write) {
        (FieldAccess::ReadOnly, _) => Some(if field.custom {
            (
                Code::CustomFieldNotWritable,
                format!(
                    "custom field `{}` cannot be written through the API",
                    field.name
                ),
            )
        } else {
            (
                Code::FieldReadOnly,
                format!(
                    "`{}` is set by the system and cannot be written",
                    field.name
                ),
            )
        }),
        (FieldAccess::CreateOnly, Write::Update) => Some(if field.custom {
            (
                Code::CustomFieldNotWritable,
                format!(
                    "custom field `{}` can only be set when the record is created",
                    field.name
                ),
            )
        } else {
            (
                Code::FieldCreateOnly,
                format!(
                    "`{}` can only be set when the record is created",
                    field.name
                ),
            )
        }),
        _ => None,
    };
    if let Some((code, message)) = refused {
        out.push(violation(path.render(), code, message));
    }
}

fn type_ok(kind: &FieldType, value: &Value) -> bool {
    match (kind, value) {
        (_, Value::Null) => true,
        (FieldType::Text | FieldType::Date | FieldType::DateTime, Value::String(_)) => true,
        (FieldType::Integer, Value::Number(n)) => n.is_i64() || n.is_u64(),
        (FieldType::Decimal, Value::Number(_)) => true,
        (FieldType::Decimal, Value::String(s)) => s.parse::<f64>().is_ok(),
        (FieldType::Boolean, Value::Bool(_)) => true,
        (FieldType::Enumeration(values), Value::String(s)) => values.contains(s),
        (FieldType::Object, Value::Object(_)) => true,
        _ => false,
    }
}

/// Checks the members of `body` against `fields` (one level of an entity or
/// of a child), recursing into declared objects.
fn check_members(
    fields: &[&Field],
    body: &Map<String, Value>,
    skip: &dyn Fn(&str) -> bool,
    prefix: &str,
    pointer: &Pointer,
    write: Write,
    out: &mut Vec<Violation>,
) {
    for (key, value) in body.iter().filter(|(k, _)| !skip(k)) {
        let name: std::borrow::Cow<str> = if prefix.is_empty() {
            key.into()
        } else {
            format!("{prefix}.{key}").into()
        };
        let path = Pointer::Key(pointer, key);
        let Some(field) = fields.iter().find(|f| f.name == name) else {
            let code = if name.starts_with("custom_fields.") {
                Code::CustomFieldNotWritable
            } else {
                Code::UnknownField
            };
            let message = if code == Code::UnknownField {
                format!("`{name}` is not a field of this entity")
            } else {
                format!("custom field `{key}` is not writable through the API for this connection")
            };
            out.push(violation(path.render(), code, message));
            continue;
        };
        let before = out.len();
        access(field, write, &path, out);
        if out.len() > before {
            continue;
        }
        if !type_ok(&field.kind, value) {
            out.push(violation(
                path.render(),
                Code::InvalidType,
                format!("`{name}` must be {}", describe(&field.kind)),
            ));
            continue;
        }
        if let (FieldType::Object, Value::Object(members)) = (&field.kind, value)
            && (name == "custom_fields" || Schema::has_members(fields, &name))
        {
            check_members(fields, members, &|_| false, &name, &path, write, out);
        }
    }
}

fn describe(kind: &FieldType) -> String {
    match kind {
        FieldType::Text => "text".into(),
        FieldType::Integer => "a whole number".into(),
        FieldType::Decimal => "a number".into(),
        FieldType::Boolean => "true or false".into(),
        FieldType::Date => "a date (YYYY-MM-DD)".into(),
        FieldType::DateTime => "an RFC 3339 timestamp".into(),
        FieldType::Enumeration(values) => format!("one of {}", values.join(", ")),
        FieldType::Object => "an object".into(),
    }
}

/// Required fields missing from `body` (create only).
fn check_required(
    fields: &[&Field],
    body: &Map<String, Value>,
    pointer: &Pointer,
    out: &mut Vec<Violation>,
) {
    for field in fields.iter().filter(|f| f.required) {
        let mut segments = field.name.split('.');
        let first = segments.next().unwrap_or_default();
        let mut value = body.get(first);
        for segment in segments {
            value = value.and_then(|v| v.get(segment));
        }
        if value.is_none_or(Value::is_null) {
            let path = format!(
                "{}/{}",
                pointer.render(),
                field
                    .name
                    .split('.')
                    .map(escape)
                    .collect::<Vec<_>>()
                    .join("/")
            );
            out.push(violation(
                path,
                Code::FieldRequired,
                format!("`{}` is required", field.name),
            ));
        }
    }
}

fn check_children(child: &ChildCollection, value: &Value, write: Write, out: &mut Vec<Violation>) {
    let path = Pointer::Key(&Pointer::Root, &child.name);
    let Value::Array(items) = value else {
        out.push(violation(
            path.render(),
            Code::InvalidType,
            format!("`{}` must be a list", child.name),
        ));
        return;
    };
    if write == Write::Create && (items.len() as u64) < u64::from(child.min_count) {
        out.push(violation(
            path.render(),
            Code::TooFewChildren,
            format!(
                "a create needs at least {} `{}`, got {}",
                child.min_count,
                child.name,
                items.len()
            ),
        ));
    }
    let fields: Vec<&Field> = child.fields.iter().collect();
    for (i, item) in items.iter().enumerate() {
        let item_path = Pointer::Index(&path, i);
        let Value::Object(members) = item else {
            out.push(violation(
                item_path.render(),
                Code::InvalidType,
                format!("each of `{}` must be an object", child.name),
            ));
            continue;
        };
        // A child with an id exists; one without is created by this write.
        let is_new = !members.contains_key("id");
        if write == Write::Update && is_new && child.create_with_parent {
            out.push(violation(
                item_path.render(),
                Code::MustCreateWithParent,
                format!(
                    "`{}` can only be created together with their parent",
                    child.name
                ),
            ));
            continue;
        }
        let child_write = if is_new { Write::Create } else { Write::Update };
        check_members(
            &fields,
            members,
            &|k| k == "id",
            "",
            &item_path,
            child_write,
            out,
        );
        if is_new {
            check_required(&fields, members, &item_path, out);
        }
    }
}

/// Every violation of `body` (a create's record or an update's patch), in
/// the body's order, required fields last.
pub fn check(schema: &Schema, body: &Map<String, Value>, write: Write) -> Vec<Violation> {
    let mut out = Vec::new();
    let fields: Vec<&Field> = schema.fields().collect();
    check_members(
        &fields,
        body,
        &|k| schema.child(k).is_some(),
        "",
        &Pointer::Root,
        write,
        &mut out,
    );
    for child in &schema.entity.children {
        match body.get(&child.name) {
            Some(value) => check_children(child, value, write, &mut out),
            None if write == Write::Create && child.min_count > 0 => out.push(violation(
                format!("/{}", escape(&child.name)),
                Code::TooFewChildren,
                format!(
                    "a create needs at least {} `{}`, created with it",
                    child.min_count, child.name
                ),
            )),
            None => {}
        }
    }
    if write == Write::Create {
        check_required(&fields, body, &Pointer::Root, &mut out);
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::manifest::{Entity, FieldSelection, OperationPermissions, StateLock};
    use serde_json::json;

    fn field(name: &str, kind: FieldType, access: FieldAccess) -> Field {
        Field {
            name: name.into(),
            description: String::new(),
            kind,
            access,
            required: false,
            custom: false,
            references: None,
        }
    }

    /// A purchase order with every kind of declaration.
    pub(crate) fn purchase_orders() -> Entity {
        let required = |mut f: Field| {
            f.required = true;
            f
        };
        let custom = |mut f: Field| {
            f.custom = true;
            f
        };
        Entity {
            name: "purchase-orders".into(),
            description: String::new(),
            operations: vec![OperationPermissions {
                operation: crate::manifest::Operation::Create,
                permissions: vec![],
            }],
            fields: vec![
                field("id", FieldType::Text, FieldAccess::ReadOnly),
                field("number", FieldType::Text, FieldAccess::ReadOnly),
                field(
                    "status",
                    FieldType::Enumeration(vec!["open".into(), "billed".into()]),
                    FieldAccess::ReadOnly,
                ),
                required(field("vendor_id", FieldType::Text, FieldAccess::CreateOnly)),
                field("memo", FieldType::Text, FieldAccess::Updatable),
                field("total", FieldType::Decimal, FieldAccess::ReadOnly),
                field("address", FieldType::Object, FieldAccess::Updatable),
                required(field(
                    "address.city",
                    FieldType::Text,
                    FieldAccess::Updatable,
                )),
                field("custom_fields", FieldType::Object, FieldAccess::Updatable),
                custom(field(
                    "custom_fields.custbody_approver",
                    FieldType::Text,
                    FieldAccess::Updatable,
                )),
                custom(field(
                    "custom_fields.custbody_score",
                    FieldType::Integer,
                    FieldAccess::ReadOnly,
                )),
            ],
            children: vec![ChildCollection {
                name: "lines".into(),
                description: String::new(),
                fields: vec![
                    required(field(
                        "quantity",
                        FieldType::Decimal,
                        FieldAccess::Updatable,
                    )),
                    field("item_id", FieldType::Text, FieldAccess::CreateOnly),
                    field("amount", FieldType::Decimal, FieldAccess::ReadOnly),
                ],
                create_with_parent: true,
                min_count: 1,
            }],
            state_locks: vec![StateLock {
                field: "status".into(),
                values: vec!["billed".into()],
                locked_fields: FieldSelection::AllExcept(vec!["memo".into()]),
                locked_operations: vec![crate::manifest::Operation::Delete],
                reason: "Fully Billed".into(),
            }],
        }
    }

    fn run(body: Value, write: Write) -> Vec<(String, Code)> {
        let entity = purchase_orders();
        let schema = Schema::new(&entity, &[]);
        check(&schema, body.as_object().unwrap(), write)
            .into_iter()
            .map(|v| (v.path, v.code))
            .collect()
    }

    fn paths(list: &[(&str, Code)]) -> Vec<(String, Code)> {
        list.iter().map(|(p, c)| (p.to_string(), *c)).collect()
    }

    #[test]
    fn a_valid_create_passes() {
        let body = json!({"vendor_id": "7", "memo": "m", "address": {"city": "Oslo"}, "lines": [{"quantity": 2, "item_id": "3"}],
            "custom_fields": {"custbody_approver": "ann"}});
        assert_eq!(run(body, Write::Create), vec![]);
    }

    #[test]
    fn read_only_unknown_and_custom_fields_are_refused_together() {
        let body = json!({"vendor_id": "7", "address": {"city": "Oslo"}, "lines": [{"quantity": 1}],
            "number": "PO1", "colour": "red", "custom_fields": {"custbody_score": 3, "custbody_other": 1}});
        assert_eq!(
            run(body, Write::Create),
            paths(&[
                ("/colour", Code::UnknownField),
                (
                    "/custom_fields/custbody_other",
                    Code::CustomFieldNotWritable
                ),
                (
                    "/custom_fields/custbody_score",
                    Code::CustomFieldNotWritable
                ),
                ("/number", Code::FieldReadOnly),
            ])
        );
    }

    #[test]
    fn create_only_fields_are_refused_on_update() {
        assert_eq!(
            run(json!({"vendor_id": "8", "memo": "ok"}), Write::Update),
            paths(&[("/vendor_id", Code::FieldCreateOnly)])
        );
    }

    #[test]
    fn every_missing_required_field_is_named() {
        let body = json!({"address": {}, "lines": [{"item_id": "1"}]});
        assert_eq!(
            run(body, Write::Create),
            paths(&[
                ("/lines/0/quantity", Code::FieldRequired),
                ("/vendor_id", Code::FieldRequired),
                ("/address/city", Code::FieldRequired)
            ])
        );
    }

    #[test]
    fn children_come_with_their_parent_and_in_number() {
        let none = json!({"vendor_id": "7", "address": {"city": "Oslo"}});
        assert_eq!(
            run(none, Write::Create),
            paths(&[("/lines", Code::TooFewChildren)])
        );
        let empty = json!({"vendor_id": "7", "address": {"city": "Oslo"}, "lines": []});
        assert_eq!(
            run(empty, Write::Create),
            paths(&[("/lines", Code::TooFewChildren)])
        );
        let added_later = json!({"lines": [{"id": "1", "quantity": 3}, {"quantity": 1}]});
        assert_eq!(
            run(added_later, Write::Update),
            paths(&[("/lines/1", Code::MustCreateWithParent)])
        );
        let changed = json!({"lines": [{"id": "1", "item_id": "9", "amount": 1}]});
        assert_eq!(
            run(changed, Write::Update),
            paths(&[
                ("/lines/0/amount", Code::FieldReadOnly),
                ("/lines/0/item_id", Code::FieldCreateOnly)
            ])
        );
    }

    #[test]
    fn values_of_the_wrong_type_are_named() {
        let body = json!({"memo": 5, "lines": "many"});
        assert_eq!(
            run(body, Write::Update),
            paths(&[("/memo", Code::InvalidType), ("/lines", Code::InvalidType)])
        );
    }

    #[test]
    fn the_account_may_add_writable_custom_fields() {
        let entity = purchase_orders();
        let extra = [Field {
            custom: true,
            ..field(
                "custom_fields.custbody_extra",
                FieldType::Text,
                FieldAccess::Updatable,
            )
        }];
        let schema = Schema::new(&entity, &extra);
        let body = json!({"custom_fields": {"custbody_extra": "x"}});
        assert_eq!(
            check(&schema, body.as_object().unwrap(), Write::Update),
            vec![]
        );
    }
}
