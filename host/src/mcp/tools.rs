//! The tools of a connection, made from its adapter's manifest as loaded
//! now: for each entity, `<entity>_list`, `_get` (where declared), `_meta`,
//! `_create`, `_update`, `_delete` (where declared), and `sync_status`.
//!
//! Which of them a request sees ([`visible`]) depends on the token's scopes
//! and the door's read-only mode; a call is looked up the same way, so a
//! tool a token does not see cannot be called by name. Input schemas come
//! from the unified model (`interlink-model`, as the OpenAPI document's),
//! narrowed to the fields the adapter declares; descriptions come from the
//! manifest. Annotations are hints: reads are `readOnlyHint`, deletes
//! `destructiveHint`, creates (which take an idempotency key) `idempotentHint`.

use std::sync::{Arc, LazyLock};

use interlink_model::Record;
use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::{Map, Value, json};

use crate::api::token::ConnectionAuth;
use crate::connections::Connection;
use crate::connections::mappings::account_fields;
use crate::connections::tokens::Access;
use crate::manifest::{Entity, Field, FieldAccess, FieldType, Manifest, Operation};
use crate::rules::mapping;

/// The longest entity name that gets tools: with `_` and the longest verb,
/// a tool's name stays within the 64 characters clients accept.
pub const MAX_ENTITY_NAME: usize = 56;
/// The most of an adapter's description text one tool or field shows.
const MAX_DESCRIPTION: usize = 512;

/// What a tool does to an entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    List,
    Get,
    Meta,
    Create,
    Update,
    Delete,
}

impl Verb {
    const ALL: [Verb; 6] = [
        Verb::List,
        Verb::Get,
        Verb::Meta,
        Verb::Create,
        Verb::Update,
        Verb::Delete,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Verb::List => "list",
            Verb::Get => "get",
            Verb::Meta => "meta",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Delete => "delete",
        }
    }

    /// The adapter operation it needs declared, if any.
    fn operation(self) -> Option<Operation> {
        match self {
            Verb::List => Some(Operation::List),
            Verb::Get => Some(Operation::Get),
            Verb::Meta => None,
            Verb::Create => Some(Operation::Create),
            Verb::Update => Some(Operation::Update),
            Verb::Delete => Some(Operation::Delete),
        }
    }

    pub fn writes(self) -> bool {
        matches!(self, Verb::Create | Verb::Update | Verb::Delete)
    }
}

/// A tool, by what it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Entity(String, Verb),
    SyncStatus,
}

const SYNC_STATUS: &str = "sync_status";

impl Call {
    /// The call a tool name names, if it names one.
    pub fn parse(name: &str) -> Option<Call> {
        if name == SYNC_STATUS {
            return Some(Call::SyncStatus);
        }
        let (entity, verb) = name.rsplit_once('_')?;
        let verb = Verb::ALL.into_iter().find(|v| v.as_str() == verb)?;
        nameable(entity).then(|| Call::Entity(entity.to_string(), verb))
    }

    pub fn name(&self) -> String {
        match self {
            Call::Entity(entity, verb) => format!("{entity}_{}", verb.as_str()),
            Call::SyncStatus => SYNC_STATUS.to_string(),
        }
    }

    pub fn writes(&self) -> bool {
        matches!(self, Call::Entity(_, verb) if verb.writes())
    }
}

/// Whether an entity's name can be part of a tool's name: lowercase
/// letters, digits, `-` and `_`, at most [`MAX_ENTITY_NAME`]. An adapter may
/// name its entities otherwise (the HTTP API serves them); they get no tools.
fn nameable(entity: &str) -> bool {
    (1..=MAX_ENTITY_NAME).contains(&entity.len())
        && entity.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && entity
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Why a request does not see a tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hidden {
    /// The adapter does not serve it (no such entity, or the operation is
    /// not declared).
    NotServed,
    /// The token lacks the scope for it.
    Scope(Access, Option<String>),
    /// The door serves only reads (`--mcp-read-only`).
    ReadOnly,
}

/// Whether the request `auth` makes sees `call` on `manifest`.
///
/// # Errors
///
/// Why not: [`Hidden::NotServed`] when `manifest` does not declare the
/// entity or the operation; [`Hidden::ReadOnly`] for a write when
/// `read_only`; [`Hidden::Scope`] with the scope the token lacks (`syncs`
/// for the sync status, else the entity's `read` or `write`).
pub fn visible(
    call: &Call,
    manifest: &Manifest,
    auth: &ConnectionAuth,
    read_only: bool,
) -> Result<(), Hidden> {
    let Call::Entity(entity, verb) = call else {
        return if auth.allows(Access::Syncs, None) {
            Ok(())
        } else {
            Err(Hidden::Scope(Access::Syncs, None))
        };
    };
    let declared = manifest.entity(entity).ok_or(Hidden::NotServed)?;
    if let Some(operation) = verb.operation()
        && !declared.operations.iter().any(|o| o.operation == operation)
    {
        return Err(Hidden::NotServed);
    }
    if verb.writes() && read_only {
        return Err(Hidden::ReadOnly);
    }
    let access = if verb.writes() {
        Access::Write
    } else {
        Access::Read
    };
    if !auth.allows(access, Some(entity)) {
        return Err(Hidden::Scope(access, Some(entity.clone())));
    }
    Ok(())
}

/// The tools the request `auth` makes sees, for `connection` served by
/// `manifest`.
pub fn list(
    manifest: &Manifest,
    connection: &Connection,
    auth: &ConnectionAuth,
    read_only: bool,
) -> Vec<Tool> {
    let mut tools = Vec::new();
    for entity in manifest.entities.iter().filter(|e| nameable(&e.name)) {
        for verb in Verb::ALL {
            let call = Call::Entity(entity.name.clone(), verb);
            if visible(&call, manifest, auth, read_only).is_ok() {
                tools.push(entity_tool(manifest, entity, connection, verb));
            }
        }
    }
    if visible(&Call::SyncStatus, manifest, auth, read_only).is_ok() {
        tools.push(
            Tool::new(
                SYNC_STATUS,
                "The connection's sync schedules and its latest 50 sync runs (what \
                 GET /v1/sync-status answers).",
                object(json!({}), &[]),
            )
            .with_annotations(read_hints()),
        );
    }
    tools
}

fn read_hints() -> ToolAnnotations {
    ToolAnnotations::new().read_only(true).open_world(true)
}

/// At most [`MAX_DESCRIPTION`] bytes of an adapter's text.
fn bounded(text: &str) -> &str {
    let mut end = text.len().min(MAX_DESCRIPTION);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// An input schema: an object of `properties`, `required` ones, and no
/// others.
fn object(properties: Value, required: &[&str]) -> Arc<JsonObject> {
    let schema = json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    });
    match schema {
        Value::Object(map) => Arc::new(map),
        _ => unreachable!("an object"),
    }
}

fn id_schema() -> Value {
    json!({
        "type": "string", "minLength": 1, "maxLength": 256,
        "description": "The record's id: no `/`, `\\` or control characters, not `.` or `..`.",
    })
}

fn confirm_schema() -> Value {
    json!({
        "type": "string", "maxLength": 256,
        "description": "The confirm_token a first call of this tool answered with its plan. \
            Without it the write only runs as a dry run. It works once, within 5 minutes, \
            with exactly the same arguments.",
    })
}

fn entity_tool(manifest: &Manifest, entity: &Entity, connection: &Connection, verb: Verb) -> Tool {
    let name = Call::Entity(entity.name.clone(), verb).name();
    let what = format!(
        "`{}` of {} ({})",
        entity.name,
        bounded(&manifest.name),
        bounded(&entity.description)
    );
    let plan = "It first runs as a dry run, checked by every rule, and answers the requests it \
        would send with a confirm_token (or asks the user, where the client can); call it again \
        with the same arguments and the confirm_token to send it.";
    let (description, schema, hints) = match verb {
        Verb::List => (
            format!(
                "List records of {what}, a page at a time (at most 64 KiB of JSON; pass the \
                 answer's `next_cursor` as `cursor` for the next page)."
            ),
            object(
                json!({
                    "cursor": {"type": "string", "maxLength": 4096,
                        "description": "`next_cursor` of the previous page; none for the first."},
                    "page_size": {"type": "integer", "minimum": 1,
                        "maximum": crate::api::data::MAX_PAGE_SIZE,
                        "description": "Records per page (default 50)."},
                    "modified_after": {"type": "string", "format": "date-time",
                        "description": "Only records modified after this RFC 3339 timestamp."},
                }),
                &[],
            ),
            read_hints(),
        ),
        Verb::Get => (
            format!("Read one record of {what} by its id."),
            object(json!({"id": id_schema()}), &["id"]),
            read_hints(),
        ),
        Verb::Meta => (
            format!(
                "The rules of writing {what} for this connection: each field's access \
                 (read_only, create_only, updatable), required fields, child collections, \
                 state locks, and which operations the account may use. Read it before a write."
            ),
            object(json!({}), &[]),
            read_hints(),
        ),
        Verb::Create => (
            format!(
                "Create a record of {what}. {plan} A create with an idempotency_key already \
                 used with the same record answers the first result instead of creating again."
            ),
            with_defs(object(
                json!({
                    "record": record_schema(entity, connection, Write::Create),
                    "idempotency_key": {"type": "string", "minLength": 1, "maxLength": 255,
                        "pattern": "^[!-~]+$",
                        "description": "Any unique string (a UUID): one record per key."},
                    "confirm_token": confirm_schema(),
                }),
                &["record", "idempotency_key"],
            )),
            ToolAnnotations::new()
                .read_only(false)
                .destructive(false)
                .idempotent(true)
                .open_world(true),
        ),
        Verb::Update => (
            format!("Change the fields given of a record of {what}. {plan}"),
            with_defs(object(
                json!({
                    "id": id_schema(),
                    "fields": record_schema(entity, connection, Write::Update),
                    "confirm_token": confirm_schema(),
                }),
                &["id", "fields"],
            )),
            ToolAnnotations::new()
                .read_only(false)
                .destructive(true)
                .idempotent(false)
                .open_world(true),
        ),
        Verb::Delete => (
            format!("Delete a record of {what}. {plan}"),
            object(
                json!({"id": id_schema(), "confirm_token": confirm_schema()}),
                &["id"],
            ),
            ToolAnnotations::new()
                .read_only(false)
                .destructive(true)
                .idempotent(false)
                .open_world(true),
        ),
    };
    Tool::new(name, description, schema).with_annotations(hints)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Write {
    Create,
    Update,
}

/// The unified model's JSON Schema (`docs/unified-model.schema.json`).
static MODEL: LazyLock<Value> = LazyLock::new(interlink_model::json_schema);

/// The model's definition of `entity`'s records, if the model has them.
fn model_of(entity: &str) -> Option<&'static Map<String, Value>> {
    use interlink_model::{Item, PurchaseOrder, Vendor};
    let name = [
        (Vendor::ENTITY, "Vendor"),
        (Item::ENTITY, "Item"),
        (PurchaseOrder::ENTITY, "PurchaseOrder"),
    ]
    .into_iter()
    .find(|(e, _)| *e == entity)?
    .1;
    MODEL["$defs"][name]["properties"].as_object()
}

/// A field's schema by its declared type, for fields the model lacks.
fn by_type(kind: &FieldType) -> Value {
    match kind {
        FieldType::Text => json!({"type": "string"}),
        FieldType::Integer => json!({"type": "integer"}),
        FieldType::Decimal => json!({"$ref": "#/$defs/Decimal"}),
        FieldType::Boolean => json!({"type": "boolean"}),
        FieldType::Date => json!({"type": "string", "format": "date"}),
        FieldType::DateTime => json!({"type": "string", "format": "date-time"}),
        FieldType::Enumeration(values) => json!({"type": "string", "enum": values}),
        FieldType::Object => json!({"type": "object"}),
    }
}

/// What the manifest says of a field, as a schema's description.
fn describe(field: &Field) -> String {
    let access = match field.access {
        FieldAccess::ReadOnly => "Read-only: refused in writes.",
        FieldAccess::CreateOnly => "Set on create only.",
        FieldAccess::Updatable => "",
    };
    let required = if field.required {
        "Required on create."
    } else {
        ""
    };
    [bounded(&field.description), access, required]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// One field's schema: the model's where it has the field, else by its
/// declared type (an object declared member by member gets its members),
/// described by the manifest.
fn field_schema(field: &Field, model: Option<&Map<String, Value>>, members: &[&Field]) -> Value {
    let mut schema = if !members.is_empty() {
        let properties: Map<String, Value> = members
            .iter()
            .map(|m| {
                let name = m.name.split_once('.').map_or("", |(_, n)| n);
                (name.to_string(), field_schema(m, None, &[]))
            })
            .collect();
        json!({"type": "object", "properties": properties})
    } else {
        model
            .and_then(|m| m.get(&field.name))
            .cloned()
            .unwrap_or_else(|| by_type(&field.kind))
    };
    let description = describe(field);
    if let Value::Object(map) = &mut schema {
        if !description.is_empty() {
            map.insert("description".into(), description.into());
        }
        if field.access == FieldAccess::ReadOnly {
            map.insert("readOnly".into(), true.into());
        }
    }
    schema
}

/// The record a write takes, for `entity` as the adapter declares it and
/// with the custom fields the connection's account adds. Read-only fields
/// stay in (marked `readOnly`): the rules refuse them, with the same error
/// as over HTTP, rather than a client's validator.
fn record_schema(entity: &Entity, connection: &Connection, write: Write) -> Value {
    let model = model_of(&entity.name);
    let account: Vec<&Field> = connection
        .custom_fields
        .iter()
        .filter(|c| c.entity == entity.name)
        .map(|c| &c.field)
        .collect();
    let fields: Vec<&Field> = entity.fields.iter().chain(account).collect();
    let mut properties = Map::new();
    let mut required = Vec::new();
    for field in fields.iter().filter(|f| !f.name.contains('.')) {
        let prefix = format!("{}.", field.name);
        let members: Vec<&Field> = fields
            .iter()
            .filter(|f| f.name.starts_with(&prefix))
            .copied()
            .collect();
        properties.insert(field.name.clone(), field_schema(field, model, &members));
        if write == Write::Create && field.required && field.access != FieldAccess::ReadOnly {
            required.push(field.name.clone());
        }
    }
    // Members of objects the manifest declares only by their members.
    for field in fields.iter().filter(|f| f.name.contains('.')) {
        let (parent, name) = field.name.split_once('.').expect("dotted");
        let parent = properties
            .entry(parent.to_string())
            .or_insert_with(|| json!({"type": "object", "properties": {}}));
        if let Some(members) = parent.get_mut("properties").and_then(Value::as_object_mut)
            && !members.contains_key(name)
        {
            members.insert(name.to_string(), field_schema(field, None, &[]));
        }
    }
    for child in &entity.children {
        let items = model
            .and_then(|m| m.get(&child.name))
            .cloned()
            .unwrap_or_else(|| {
                let properties: Map<String, Value> = child
                    .fields
                    .iter()
                    .map(|f| (f.name.clone(), field_schema(f, None, &[])))
                    .collect();
                json!({"type": "array", "items": {"type": "object", "properties": properties}})
            });
        properties.insert(child.name.clone(), items);
    }
    // The connection's mapped fields, under their mapped names, as their
    // sources are declared (a drifted one is left out: it refuses writes).
    let extra = account_fields(connection, &entity.name);
    for resolved in mapping::resolve(&connection.field_mappings, entity, &extra) {
        let Some(target) = mapping::target_field(&resolved) else {
            continue;
        };
        let schema = field_schema(&target, None, &[]);
        match target.name.strip_prefix("custom.") {
            Some(name) => {
                let custom = properties
                    .entry(mapping::CUSTOM)
                    .or_insert_with(|| json!({"type": "object", "properties": {}}));
                if let Some(members) = custom.get_mut("properties").and_then(Value::as_object_mut) {
                    members.insert(name.to_string(), schema);
                }
            }
            None => {
                properties.insert(target.name.clone(), schema);
            }
        }
    }
    json!({
        "type": "object",
        "description": bounded(&entity.description),
        "properties": properties,
        "required": required,
    })
}

/// `schema` with the model's definitions it refers to (`#/$defs/...`),
/// and those they refer to, under `$defs`.
fn with_defs(schema: Arc<JsonObject>) -> Arc<JsonObject> {
    fn refs(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref")
                    && let Some(name) = r.strip_prefix("#/$defs/")
                    && !found.iter().any(|f| f == name)
                {
                    found.push(name.to_string());
                }
                map.values().for_each(|v| refs(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
            _ => {}
        }
    }
    let mut names = Vec::new();
    refs(&Value::Object((*schema).clone()), &mut names);
    let mut defs = Map::new();
    let mut at = 0;
    while at < names.len() {
        if let Some(def) = MODEL["$defs"].get(&names[at]) {
            refs(def, &mut names);
            defs.insert(names[at].clone(), def.clone());
        }
        at += 1;
    }
    if defs.is_empty() {
        return schema;
    }
    let mut schema = (*schema).clone();
    schema.insert("$defs".into(), Value::Object(defs));
    Arc::new(schema)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_to_their_calls() {
        for call in [
            Call::Entity("purchase-orders".into(), Verb::Create),
            Call::Entity("line_items".into(), Verb::List),
            Call::Entity("vendors".into(), Verb::Meta),
            Call::SyncStatus,
        ] {
            assert_eq!(Call::parse(&call.name()), Some(call));
        }
        for name in [
            "vendors",
            "vendors_frobnicate",
            "_list",
            "Vendors_list",
            "a b_get",
        ] {
            assert_eq!(Call::parse(name), None, "{name}");
        }
        let long = format!("{}_list", "a".repeat(MAX_ENTITY_NAME + 1));
        assert_eq!(Call::parse(&long), None);
    }

    #[test]
    fn schemas_carry_the_model_definitions_they_use() {
        let schema = with_defs(object(
            json!({"record": {"$ref": "#/$defs/PurchaseOrder"}}),
            &[],
        ));
        let defs = schema["$defs"].as_object().unwrap();
        for name in ["PurchaseOrder", "PurchaseOrderLine", "Decimal"] {
            assert!(defs.contains_key(name), "{name}: {defs:?}");
        }
        assert!(!defs.contains_key("Vendor"));
    }
}
