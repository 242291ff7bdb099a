//! Per-connection field mappings: a field of the system, shown and written
//! under the name the connection's customer uses, under the system's rules.
//!
//! A [`FieldMapping`] names a *source* (a field the adapter declares for the
//! entity, or a custom field the account adds: `custom_fields.custbody_cc`)
//! and a *target*: `custom.<name>`, a member of the record's `custom`
//! object, or a field of the unified model (`reference`).
//!
//! - Reads ([`read`]): each target takes its source's value (the source
//!   stays where it is). A mapping whose source has drifted ([`Drift`]: the
//!   system no longer declares it, or declares another type) gives its
//!   target `null` and says why in the record's `mapping_errors`; the rest
//!   of the record is served.
//! - Writes ([`Writes::translate`]): each target's value moves to its source
//!   before the field rules and the state locks run, so a mapped field is
//!   exactly as writable, required, typed and locked as its source; the
//!   violations found are then reported at the target's path
//!   ([`Writes::rename`]). A target mapped read-only, a drifted one, an
//!   unmapped `custom` member, or a source written under both names is
//!   refused here.
//! - Setting mappings ([`check`]): the source must exist and not be an
//!   object, a writable mapping needs a writable source (a mapping never
//!   makes a read-only field writable), a unified target must be a field of
//!   the entity of the same type, and no source or target is mapped twice.

use serde::Serialize;
use serde_json::{Map, Value};

use super::Violation;
use crate::code::Code;
use crate::manifest::{Entity, Field, FieldAccess, FieldType};
use crate::storage::FieldMapping;

/// The object of a record that holds its `custom.<name>` targets.
pub const CUSTOM: &str = "custom";
/// The member of a read record that lists its drifted mappings.
pub const MAPPING_ERRORS: &str = "mapping_errors";

/// How a mapping's source no longer matches the system's declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// The system no longer declares the source field.
    Missing,
    /// The source field has another type than when it was mapped.
    TypeChanged { now: FieldType },
}

impl Drift {
    /// What went wrong with `mapping`, for a person.
    pub fn message(&self, mapping: &FieldMapping) -> String {
        match self {
            Drift::Missing => format!(
                "`{}` is mapped from `{}`, which the system no longer has: map it again",
                mapping.target, mapping.source
            ),
            Drift::TypeChanged { now } => format!(
                "`{}` is mapped from `{}`, whose type changed from {} to {}: map it again",
                mapping.target,
                mapping.source,
                type_name(&mapping.kind),
                type_name(now)
            ),
        }
    }
}

/// One mapping, as the entity's declaration stands now.
#[derive(Debug, Clone)]
pub struct Resolved<'a> {
    pub mapping: &'a FieldMapping,
    /// The source as declared now; `None` when it has drifted.
    pub source: Option<&'a Field>,
    pub drift: Option<Drift>,
}

/// A mapping's problem: its target, and why its source is not usable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct MappingIssue {
    pub entity: String,
    pub target: String,
    pub source: String,
    /// `mapping_drift`.
    #[schema(value_type = String)]
    pub code: Code,
    pub message: String,
}

/// The field `name` of `entity` or of the account's `extra` fields.
fn declared<'a>(entity: &'a Entity, extra: &'a [Field], name: &str) -> Option<&'a Field> {
    entity.fields.iter().chain(extra).find(|f| f.name == name)
}

/// The mappings of `entity` among `mappings`, each with its source as
/// declared now.
pub fn resolve<'a>(
    mappings: &'a [FieldMapping],
    entity: &'a Entity,
    extra: &'a [Field],
) -> Vec<Resolved<'a>> {
    mappings
        .iter()
        .filter(|m| m.entity == entity.name)
        .map(|mapping| {
            let source = declared(entity, extra, &mapping.source);
            let drift = match source {
                None => Some(Drift::Missing),
                // A list whose options changed is still a list.
                Some(field)
                    if std::mem::discriminant(&field.kind)
                        != std::mem::discriminant(&mapping.kind) =>
                {
                    Some(Drift::TypeChanged {
                        now: field.kind.clone(),
                    })
                }
                Some(_) => None,
            };
            Resolved {
                mapping,
                source: source.filter(|_| drift.is_none()),
                drift,
            }
        })
        .collect()
}

/// The drifted mappings among `resolved`.
pub fn issues(resolved: &[Resolved]) -> Vec<MappingIssue> {
    resolved
        .iter()
        .filter_map(|r| {
            let drift = r.drift.as_ref()?;
            Some(MappingIssue {
                entity: r.mapping.entity.clone(),
                target: r.mapping.target.clone(),
                source: r.mapping.source.clone(),
                code: Code::MappingDrift,
                message: drift.message(r.mapping),
            })
        })
        .collect()
}

/// The segments of a dotted field name, or of a `custom.<name>` target.
fn segments(name: &str) -> impl Iterator<Item = &str> {
    name.split('.')
}

fn get<'v>(record: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    let mut parts = segments(name);
    let mut value = record.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

fn take(record: &mut Map<String, Value>, name: &str) -> Option<Value> {
    match name.rsplit_once('.') {
        None => record.remove(name),
        Some((parent, last)) => {
            let mut parts = segments(parent);
            let mut object = record.get_mut(parts.next()?)?.as_object_mut()?;
            for part in parts {
                object = object.get_mut(part)?.as_object_mut()?;
            }
            object.remove(last)
        }
    }
}

/// Sets `name` in `record`, making the objects on the way (a member that is
/// not an object is replaced).
fn put(record: &mut Map<String, Value>, name: &str, value: Value) {
    let (parents, last) = match name.rsplit_once('.') {
        Some((parents, last)) => (Some(parents), last),
        None => (None, name),
    };
    let mut object = record;
    for part in parents.into_iter().flat_map(segments) {
        let slot = object
            .entry(part.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        object = slot.as_object_mut().expect("made an object");
    }
    object.insert(last.to_string(), value);
}

/// A JSON pointer to a dotted field name.
fn pointer(name: &str) -> String {
    segments(name)
        .map(|s| format!("/{}", s.replace('~', "~0").replace('/', "~1")))
        .collect()
}

/// Applies `resolved` to a record the system answered: each target takes
/// its source's value (`null` when the record lacks it); a drifted
/// mapping's target is `null` and its reason is in `mapping_errors`.
pub fn read(record: &mut Map<String, Value>, resolved: &[Resolved]) {
    if resolved.is_empty() {
        return;
    }
    // Every source is read before any target is set: a target may be
    // another mapping's source.
    let values: Vec<Value> = resolved
        .iter()
        .map(|r| match r.drift {
            None => get(record, &r.mapping.source)
                .cloned()
                .unwrap_or(Value::Null),
            Some(_) => Value::Null,
        })
        .collect();
    let mut errors = Vec::new();
    for (r, value) in resolved.iter().zip(values) {
        put(record, &r.mapping.target, value);
        if let Some(drift) = &r.drift {
            errors.push(serde_json::json!({
                "field": r.mapping.target,
                "code": Code::MappingDrift,
                "message": drift.message(r.mapping),
            }));
        }
    }
    if !errors.is_empty() {
        record.insert(MAPPING_ERRORS.into(), Value::Array(errors));
    }
}

/// A write body's mapped fields, moved to their sources.
pub struct Writes<'a> {
    resolved: &'a [Resolved<'a>],
}

impl<'a> Writes<'a> {
    pub fn new(resolved: &'a [Resolved<'a>]) -> Self {
        Writes { resolved }
    }

    /// Moves each mapped target of `body` to its source.
    ///
    /// # Errors
    ///
    /// Every refusal, at the target's path: a member of `custom` that no
    /// mapping names (`unknown_field`), a target mapped read-only
    /// (`field_read_only`), a drifted one (`mapping_drift`), a source also
    /// written under its own name (`mapping_conflict`).
    pub fn translate(&self, body: &mut Map<String, Value>) -> Result<Renames<'a>, Vec<Violation>> {
        let mut refused = Vec::new();
        let custom = match body.remove(CUSTOM) {
            None => Map::new(),
            Some(Value::Object(custom)) => custom,
            Some(_) => {
                refused.push(Violation {
                    path: format!("/{CUSTOM}"),
                    code: Code::InvalidType,
                    message: format!("`{CUSTOM}` must be an object of mapped fields"),
                });
                Map::new()
            }
        };
        for name in custom.keys() {
            let target = format!("{CUSTOM}.{name}");
            if !self.resolved.iter().any(|r| r.mapping.target == target) {
                refused.push(Violation {
                    path: pointer(&target),
                    code: Code::UnknownField,
                    message: format!("`{target}` is not mapped for this connection"),
                });
            }
        }
        let mut custom = custom;
        let mut moves = Vec::new();
        let mut renamed = Vec::new();
        for r in self.resolved {
            let target = &r.mapping.target;
            let value = match target.strip_prefix("custom.") {
                Some(name) => custom.remove(name),
                None => take(body, target),
            };
            let Some(value) = value else { continue };
            let path = pointer(target);
            if let Some(drift) = &r.drift {
                refused.push(Violation {
                    path,
                    code: Code::MappingDrift,
                    message: drift.message(r.mapping),
                });
            } else if !r.mapping.writable {
                refused.push(Violation {
                    path,
                    code: Code::FieldReadOnly,
                    message: format!("`{target}` is mapped read-only from `{}`", r.mapping.source),
                });
            } else {
                moves.push((r.mapping, value));
            }
        }
        for (mapping, value) in moves {
            if get(body, &mapping.source).is_some() {
                refused.push(Violation {
                    path: pointer(&mapping.target),
                    code: Code::MappingConflict,
                    message: format!(
                        "`{}` is written both as itself and as `{}`, which is mapped from it",
                        mapping.source, mapping.target
                    ),
                });
                continue;
            }
            put(body, &mapping.source, value);
            renamed.push(mapping);
        }
        if !refused.is_empty() {
            return Err(refused);
        }
        // A writable mapping whose source the body leaves out: what the
        // rules say of it (`field_required`) is said of the target, which
        // the client sends.
        for r in self.resolved {
            if r.drift.is_none()
                && r.mapping.writable
                && get(body, &r.mapping.source).is_none()
                && !renamed.iter().any(|m| std::ptr::eq(*m, r.mapping))
            {
                renamed.push(r.mapping);
            }
        }
        Ok(Renames(renamed))
    }
}

/// The mappings whose sources a translated body's violations are reported
/// under their targets: those moved, and the writable ones the body left
/// out (a source the client wrote under its own name keeps its name).
#[derive(Debug, Default)]
pub struct Renames<'a>(Vec<&'a FieldMapping>);

impl Renames<'_> {
    /// Reports `violations` of the translated body at the targets' paths.
    pub fn apply(&self, violations: &mut [Violation]) {
        for violation in violations {
            for mapping in &self.0 {
                let source = pointer(&mapping.source);
                let Some(rest) = violation.path.strip_prefix(&source) else {
                    continue;
                };
                if rest.is_empty() || rest.starts_with('/') {
                    violation.path = format!("{}{rest}", pointer(&mapping.target));
                    violation.message = format!(
                        "{} (`{}` is mapped from `{}`)",
                        violation.message, mapping.target, mapping.source
                    );
                    break;
                }
            }
        }
    }
}

/// The name `connection`'s customer writes the field `source` of `entity`
/// under: the target of its writable mapping, or `source` itself.
pub fn shown_as<'a>(mappings: &'a [FieldMapping], entity: &str, source: &'a str) -> &'a str {
    mappings
        .iter()
        .find(|m| m.entity == entity && m.source == source && m.writable)
        .map_or(source, |m| m.target.as_str())
}

/// Whether `name` may follow `custom.`: 1-64 lowercase letters, digits or
/// `_`, starting with a letter.
fn is_custom_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The problems of `mappings` (all of a connection's, for the entities
/// `entity` finds), each at its path (`/mappings/0/source`).
pub fn check<'a>(
    mappings: &[FieldMapping],
    entity: impl Fn(&str) -> Option<(&'a Entity, Vec<Field>)>,
) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut refuse = |i: usize, member: &str, code: Code, message: String| {
        out.push(Violation {
            path: format!("/mappings/{i}/{member}"),
            code,
            message,
        });
    };
    for (i, m) in mappings.iter().enumerate() {
        let Some((declared_entity, extra)) = entity(&m.entity) else {
            refuse(
                i,
                "entity",
                Code::UnknownEntity,
                format!("the adapter serves no entity `{}`", m.entity),
            );
            continue;
        };
        let twice = |pick: fn(&FieldMapping) -> &str| {
            mappings[..i]
                .iter()
                .any(|o| o.entity == m.entity && pick(o) == pick(m))
        };
        if twice(|o| &o.source) {
            refuse(
                i,
                "source",
                Code::MappingConflict,
                format!("`{}` is mapped twice", m.source),
            );
        }
        if twice(|o| &o.target) {
            refuse(
                i,
                "target",
                Code::MappingConflict,
                format!("`{}` is the target of two mappings", m.target),
            );
        }
        let Some(source) = declared(declared_entity, &extra, &m.source) else {
            refuse(
                i,
                "source",
                Code::UnknownField,
                format!(
                    "`{}` is not a field of `{}` for this connection (GET /v1/{}/meta lists them)",
                    m.source, m.entity, m.entity
                ),
            );
            continue;
        };
        if source.kind == FieldType::Object {
            refuse(
                i,
                "source",
                Code::InvalidType,
                format!("`{}` is an object: map its members one by one", m.source),
            );
            continue;
        }
        if m.writable && source.access == FieldAccess::ReadOnly {
            refuse(
                i,
                "writable",
                Code::MappingSourceReadOnly,
                format!(
                    "`{}` is read-only in the system: map it with \"writable\": false",
                    m.source
                ),
            );
        }
        if let Some((code, message)) = target_problem(declared_entity, &m.target) {
            refuse(i, "target", code, message);
        } else if let Some(target) = declared_entity.fields.iter().find(|f| f.name == m.target)
            && !compatible(&source.kind, &target.kind)
        {
            refuse(
                i,
                "target",
                Code::InvalidType,
                format!(
                    "`{}` is {} and `{}` is {}",
                    m.source,
                    type_name(&source.kind),
                    m.target,
                    type_name(&target.kind)
                ),
            );
        }
    }
    out
}

/// Why `target` cannot be a mapping's target on `entity`, if it cannot:
/// it must be `custom.<name>` or a standard field of the entity that is not
/// an object, nor required, nor set only at creation.
pub fn target_problem(entity: &Entity, target: &str) -> Option<(Code, String)> {
    match target.strip_prefix("custom.") {
        Some(name) if !is_custom_name(name) => Some((
            Code::InvalidMapping,
            format!(
                "`{name}` is not a custom name: 1-64 lowercase letters, digits or `_`, starting with a letter"
            ),
        )),
        Some(_) => None,
        None => match entity.fields.iter().find(|f| f.name == target) {
            None => Some((
                Code::UnknownField,
                format!(
                    "`{target}` is neither `custom.<name>` nor a field of `{}`",
                    entity.name
                ),
            )),
            Some(field) if field.custom || field.kind == FieldType::Object => Some((
                Code::InvalidMapping,
                format!(
                    "`{target}` cannot be a target: name a field of the unified model or `custom.<name>`"
                ),
            )),
            // Its own rules would still be asked of the client, who can no
            // longer send it: a create could never pass.
            Some(field) if field.required || field.access == FieldAccess::CreateOnly => Some((
                Code::InvalidMapping,
                format!(
                    "`{target}` is required or set only at creation in the unified model: map to `custom.<name>` instead"
                ),
            )),
            Some(_) => None,
        },
    }
}

/// Whether values of `source` fit a unified field of type `target`.
fn compatible(source: &FieldType, target: &FieldType) -> bool {
    match (source, target) {
        (FieldType::Enumeration(_), FieldType::Text) => true,
        (FieldType::Enumeration(from), FieldType::Enumeration(to)) => {
            from.iter().all(|v| to.contains(v))
        }
        (a, b) => a == b,
    }
}

fn type_name(kind: &FieldType) -> &'static str {
    match kind {
        FieldType::Text => "text",
        FieldType::Integer => "integer",
        FieldType::Decimal => "decimal",
        FieldType::Boolean => "boolean",
        FieldType::Date => "date",
        FieldType::DateTime => "date-time",
        FieldType::Enumeration(_) => "enumeration",
        FieldType::Object => "object",
    }
}

/// The declaration a mapped target inherits from its source: the source's
/// type, access (read-only unless the mapping is writable), required flag
/// and description, under the target's name.
pub fn target_field(r: &Resolved) -> Option<Field> {
    let source = r.source?;
    let mut field = source.clone();
    field.name = r.mapping.target.clone();
    field.custom = r.mapping.target.starts_with("custom.");
    if !r.mapping.writable {
        field.access = FieldAccess::ReadOnly;
    }
    Some(field)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn field(name: &str, kind: FieldType, access: FieldAccess) -> Field {
        Field {
            name: name.into(),
            description: String::new(),
            kind,
            access,
            required: false,
            custom: name.starts_with("custom_fields."),
            references: None,
        }
    }

    fn entity() -> Entity {
        Entity {
            name: "purchase-orders".into(),
            description: String::new(),
            fields: vec![
                field("reference", FieldType::Text, FieldAccess::Updatable),
                field("memo", FieldType::Text, FieldAccess::Updatable),
                field("total", FieldType::Decimal, FieldAccess::ReadOnly),
                Field {
                    required: true,
                    ..field("vendor_id", FieldType::Text, FieldAccess::CreateOnly)
                },
                field("custom_fields", FieldType::Object, FieldAccess::Updatable),
            ],
            children: vec![],
            state_locks: vec![],
            operations: vec![],
        }
    }

    fn mapping(source: &str, target: &str, writable: bool, kind: FieldType) -> FieldMapping {
        FieldMapping {
            entity: "purchase-orders".into(),
            source: source.into(),
            target: target.into(),
            writable,
            kind,
        }
    }

    fn extra() -> Vec<Field> {
        vec![field(
            "custom_fields.custbody_cc",
            FieldType::Text,
            FieldAccess::Updatable,
        )]
    }

    #[test]
    fn reads_show_targets_and_drift_only_where_it_is() {
        let (entity, extra) = (entity(), extra());
        let mappings = vec![
            mapping(
                "custom_fields.custbody_cc",
                "custom.cost_center",
                true,
                FieldType::Text,
            ),
            mapping("memo", "reference", true, FieldType::Text),
            mapping(
                "custom_fields.custbody_gone",
                "custom.gone",
                false,
                FieldType::Text,
            ),
        ];
        let resolved = resolve(&mappings, &entity, &extra);
        let mut record = json!({"memo": "m", "reference": "r",
            "custom_fields": {"custbody_cc": "CC-7"}})
        .as_object()
        .cloned()
        .unwrap();
        read(&mut record, &resolved);
        assert_eq!(record["custom"]["cost_center"], "CC-7");
        assert_eq!(record["reference"], "m");
        assert_eq!(record["custom"]["gone"], Value::Null);
        assert_eq!(record["mapping_errors"][0]["field"], "custom.gone");
        assert_eq!(record["mapping_errors"][0]["code"], "mapping_drift");
        assert_eq!(issues(&resolved).len(), 1);
    }

    #[test]
    fn writes_move_to_sources_and_violations_come_back_at_targets() {
        let (entity, extra) = (entity(), extra());
        let mappings = vec![
            mapping(
                "custom_fields.custbody_cc",
                "custom.cost_center",
                true,
                FieldType::Text,
            ),
            mapping("total", "custom.total", false, FieldType::Decimal),
        ];
        let resolved = resolve(&mappings, &entity, &extra);
        let writes = Writes::new(&resolved);
        let mut body = json!({"memo": "x", "custom": {"cost_center": "CC-9"}})
            .as_object()
            .cloned()
            .unwrap();
        let renames = writes.translate(&mut body).unwrap();
        assert_eq!(
            body,
            *json!({"memo": "x", "custom_fields": {"custbody_cc": "CC-9"}})
                .as_object()
                .unwrap()
        );

        let mut refused = json!({"custom": {"total": 1, "nope": 2}})
            .as_object()
            .cloned()
            .unwrap();
        let violations = writes.translate(&mut refused).unwrap_err();
        let codes: Vec<_> = violations
            .iter()
            .map(|v| (v.path.as_str(), v.code))
            .collect();
        assert!(
            codes.contains(&("/custom/nope", Code::UnknownField)),
            "{codes:?}"
        );
        assert!(
            codes.contains(&("/custom/total", Code::FieldReadOnly)),
            "{codes:?}"
        );

        let mut both =
            json!({"custom": {"cost_center": "a"}, "custom_fields": {"custbody_cc": "b"}})
                .as_object()
                .cloned()
                .unwrap();
        let violations = writes.translate(&mut both).unwrap_err();
        assert_eq!(violations[0].code, Code::MappingConflict);

        let mut found = vec![Violation {
            path: "/custom_fields/custbody_cc".into(),
            code: Code::InvalidType,
            message: "must be text".into(),
        }];
        renames.apply(&mut found);
        assert_eq!(found[0].path, "/custom/cost_center");
        assert!(found[0].message.contains("mapped from"));
    }

    #[test]
    fn a_mapping_never_makes_a_read_only_field_writable() {
        let (entity, extra) = (entity(), extra());
        let lookup = |name: &str| (name == "purchase-orders").then(|| (&entity, extra.clone()));
        let ok = vec![
            mapping(
                "custom_fields.custbody_cc",
                "custom.cost_center",
                true,
                FieldType::Text,
            ),
            mapping("total", "custom.order_total", false, FieldType::Decimal),
            mapping("memo", "reference", true, FieldType::Text),
        ];
        assert_eq!(check(&ok, lookup), vec![]);
        let bad = vec![
            mapping("total", "custom.total", true, FieldType::Decimal),
            mapping("nope", "custom.x", false, FieldType::Text),
            mapping("memo", "total", false, FieldType::Text),
            mapping("custom_fields", "custom.all", false, FieldType::Object),
            mapping("reference", "custom.Bad", false, FieldType::Text),
            mapping(
                "custom_fields.custbody_cc",
                "vendor_id",
                true,
                FieldType::Text,
            ),
            FieldMapping {
                entity: "ghosts".into(),
                ..mapping("memo", "custom.m", false, FieldType::Text)
            },
        ];
        let found: Vec<_> = check(&bad, lookup)
            .into_iter()
            .map(|v| (v.path, v.code))
            .collect();
        assert_eq!(
            found,
            vec![
                ("/mappings/0/writable".into(), Code::MappingSourceReadOnly),
                ("/mappings/1/source".into(), Code::UnknownField),
                ("/mappings/2/target".into(), Code::InvalidType),
                ("/mappings/3/source".into(), Code::InvalidType),
                ("/mappings/4/target".into(), Code::InvalidMapping),
                ("/mappings/5/target".into(), Code::InvalidMapping),
                ("/mappings/6/entity".into(), Code::UnknownEntity),
            ]
        );
    }
}
