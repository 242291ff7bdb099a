//! Workflow-state locks: what a record's current state forbids.
//!
//! A lock on a field of the record (`status`) applies to the record: its
//! locked fields are the record's (`memo`), or members of its children
//! (`lines.unit_price`, which an update changes when it sets that member of
//! any line). A lock on a field of a child collection
//! (`lines.custom_fields.deletion_code`) applies to each child an update
//! changes, by its `id`: its state is read from that child of the current
//! record, and its locked fields are the child's (`quantity`, or all).

use serde::Serialize;
use serde_json::{Map, Value};

use crate::manifest::{Entity, FieldSelection, Operation, StateLock};

/// An update or delete the record's state forbids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StateLocked {
    /// The field that holds the state (`status`).
    pub field: String,
    /// The record's state (`billed`).
    pub state: String,
    /// Why, in the system's words.
    pub reason: String,
    /// The operation refused, when the state forbids the operation itself.
    pub operation: Option<Operation>,
    /// The fields of the update the state locks.
    pub locked_fields: Vec<String>,
}

/// A field's value as a lock compares it: strings as they are, other
/// scalars in their JSON form (`true`, `3`).
fn state_of(record: &Value, field: &str) -> Option<String> {
    let mut value = Some(record);
    for segment in field.split('.') {
        value = value.and_then(|v| v.get(segment));
    }
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// The members `object` sets, with those of `custom_fields` as
/// `custom_fields.<name>`; not `id`, which names a record or a child.
fn members(object: &Map<String, Value>) -> Vec<String> {
    let mut names = Vec::new();
    for (key, value) in object {
        match (key.as_str(), value) {
            ("id", _) => {}
            ("custom_fields", Value::Object(custom)) => {
                names.extend(custom.keys().map(|m| format!("custom_fields.{m}")))
            }
            _ => names.push(key.clone()),
        }
    }
    names
}

/// The field names a patch changes: its members, and for a child
/// collection the members its children set, as `<child>.<member>`
/// (`lines.quantity`), or the collection itself when they set none
/// (`lines: []`).
fn changed_fields(entity: &Entity, patch: &Map<String, Value>) -> Vec<String> {
    let mut names = Vec::new();
    for name in members(patch) {
        let children = match patch.get(&name) {
            Some(Value::Array(children)) if entity.children.iter().any(|c| c.name == name) => {
                children
            }
            _ => {
                names.push(name);
                continue;
            }
        };
        let mut set: Vec<String> = children
            .iter()
            .filter_map(Value::as_object)
            .flat_map(members)
            .map(|m| format!("{name}.{m}"))
            .collect();
        set.sort();
        set.dedup();
        if set.is_empty() {
            set.push(name);
        }
        names.extend(set);
    }
    names
}

/// The child collection and the path within a child, when `field` is a
/// field of one of `entity`'s children (`lines.custom_fields.code`).
fn child_field<'a>(entity: &Entity, field: &'a str) -> Option<(&'a str, &'a str)> {
    let (child, path) = field.split_once('.')?;
    entity
        .children
        .iter()
        .any(|c| c.name == child)
        .then_some((child, path))
}

fn locked(selection: &FieldSelection, field: &str) -> bool {
    let top = field.split('.').next().unwrap_or(field);
    let listed = |names: &Vec<String>| names.iter().any(|n| n == field || n == top);
    match selection {
        FieldSelection::All => true,
        FieldSelection::AllExcept(names) => !listed(names),
        FieldSelection::Only(names) => listed(names),
    }
}

/// Checks `operation` (with `patch` for updates) against the locks of
/// `entity`, given the record as it is now.
///
/// # Errors
///
/// A [`StateLocked`] for the first lock that applies: the record's state
/// locks `operation` itself (with `operation` set), or, for an update,
/// fields `patch` changes of the record or of a child in a locked state
/// (with `locked_fields`).
pub fn check(
    entity: &Entity,
    current: &Value,
    operation: Operation,
    patch: Option<&Map<String, Value>>,
) -> Result<(), StateLocked> {
    for lock in &entity.state_locks {
        if let Some((child, path)) = child_field(entity, &lock.field) {
            if let (Operation::Update, Some(patch)) = (operation, patch) {
                check_children(lock, (child, path), current, patch)?;
            }
            continue;
        }
        let Some(state) = state_of(current, &lock.field) else {
            continue;
        };
        if !lock.values.contains(&state) {
            continue;
        }
        let refusal = |operation, locked_fields| StateLocked {
            field: lock.field.clone(),
            state: state.clone(),
            reason: lock.reason.clone(),
            operation,
            locked_fields,
        };
        if lock.locked_operations.contains(&operation) {
            return Err(refusal(Some(operation), Vec::new()));
        }
        if let (Operation::Update, Some(patch)) = (operation, patch) {
            let fields: Vec<String> = changed_fields(entity, patch)
                .into_iter()
                .filter(|f| locked(&lock.locked_fields, f))
                .collect();
            if !fields.is_empty() {
                return Err(refusal(None, fields));
            }
        }
    }
    Ok(())
}

/// Checks a lock on a field of `child`'s children (at `path` within one):
/// each child the patch changes, by its `id`, in its current state.
fn check_children(
    lock: &StateLock,
    (child, path): (&str, &str),
    current: &Value,
    patch: &Map<String, Value>,
) -> Result<(), StateLocked> {
    let Some(Value::Array(changed)) = patch.get(child) else {
        return Ok(());
    };
    let existing = current.get(child).and_then(Value::as_array);
    for item in changed.iter().filter_map(Value::as_object) {
        let Some(id) = item.get("id") else {
            continue;
        };
        let now = existing
            .into_iter()
            .flatten()
            .find(|c| c.get("id") == Some(id));
        let Some(state) = now.and_then(|c| state_of(c, path)) else {
            continue;
        };
        if !lock.values.contains(&state) {
            continue;
        }
        let fields: Vec<String> = members(item)
            .into_iter()
            .filter(|f| locked(&lock.locked_fields, f))
            .map(|f| format!("{child}.{f}"))
            .collect();
        if !fields.is_empty() {
            return Err(StateLocked {
                field: lock.field.clone(),
                state,
                reason: lock.reason.clone(),
                operation: None,
                locked_fields: fields,
            });
        }
    }
    Ok(())
}

/// Whether any lock could refuse `operation`: if none can, the host need not
/// read the record's state first.
pub fn may_lock(entity: &Entity, operation: Operation) -> bool {
    entity.state_locks.iter().any(|lock| match operation {
        Operation::Update => {
            lock.locked_operations.contains(&operation)
                || lock.locked_fields != FieldSelection::Only(Vec::new())
        }
        other => lock.locked_operations.contains(&other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::fields::tests::purchase_orders;
    use serde_json::json;

    fn patch(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_billed_order_keeps_only_its_memo_writable() {
        let po = purchase_orders();
        let billed = json!({"status": "billed"});
        assert_eq!(
            check(
                &po,
                &billed,
                Operation::Update,
                Some(&patch(json!({"memo": "x"})))
            ),
            Ok(())
        );
        let err = check(
            &po,
            &billed,
            Operation::Update,
            Some(&patch(
                json!({"memo": "x", "lines": [], "custom_fields": {"custbody_approver": "a"}}),
            )),
        )
        .unwrap_err();
        assert_eq!(err.state, "billed");
        assert_eq!(err.reason, "Fully Billed");
        assert_eq!(
            err.locked_fields,
            ["custom_fields.custbody_approver", "lines"]
        );
    }

    #[test]
    fn a_billed_order_cannot_be_deleted_an_open_one_can() {
        let po = purchase_orders();
        let err = check(&po, &json!({"status": "billed"}), Operation::Delete, None).unwrap_err();
        assert_eq!(err.operation, Some(Operation::Delete));
        assert_eq!(
            check(&po, &json!({"status": "open"}), Operation::Delete, None),
            Ok(())
        );
        assert_eq!(
            check(&po, &json!({}), Operation::Delete, None),
            Ok(()),
            "no state, no lock"
        );
    }

    #[test]
    fn non_text_states_compare_in_json_form() {
        let mut po = purchase_orders();
        po.state_locks[0].field = "approved".into();
        po.state_locks[0].values = vec!["true".into()];
        assert!(check(&po, &json!({"approved": true}), Operation::Delete, None).is_err());
        assert!(check(&po, &json!({"approved": false}), Operation::Delete, None).is_ok());
    }

    /// SAP's rules: a released order keeps its prices and quantities (a
    /// record lock on members of its lines), and a deleted line cannot be
    /// changed (a lock on each line, by its own state).
    fn sap_orders() -> Entity {
        let mut po = purchase_orders();
        po.state_locks = vec![
            StateLock {
                field: "status".into(),
                values: vec!["released".into()],
                locked_fields: FieldSelection::Only(vec![
                    "vendor_id".into(),
                    "lines.quantity".into(),
                ]),
                locked_operations: vec![],
                reason: "released".into(),
            },
            StateLock {
                field: "lines.custom_fields.deletion".into(),
                values: vec!["L".into()],
                locked_fields: FieldSelection::All,
                locked_operations: vec![],
                reason: "deleted".into(),
            },
        ];
        po
    }

    #[test]
    fn a_record_lock_locks_members_of_its_children() {
        let po = sap_orders();
        let released = json!({"status": "released", "lines": [{"id": "10"}]});
        let update = |p: Value| check(&po, &released, Operation::Update, Some(&patch(p)));
        let err =
            update(json!({"lines": [{"id": "10", "item_id": "x", "quantity": 2}]})).unwrap_err();
        assert_eq!(err.locked_fields, ["lines.quantity"]);
        assert_eq!(
            update(json!({"lines": [{"id": "10", "item_id": "x"}]})),
            Ok(())
        );
        assert_eq!(update(json!({"memo": "m"})), Ok(()));
        // A lock of the whole collection still locks any change to a line.
        let mut tryton = po.clone();
        tryton.state_locks[0].locked_fields = FieldSelection::Only(vec!["lines".into()]);
        let err = check(
            &tryton,
            &released,
            Operation::Update,
            Some(&patch(
                json!({"lines": [{"id": "10", "custom_fields": {"c": 1}}]}),
            )),
        )
        .unwrap_err();
        assert_eq!(err.locked_fields, ["lines.custom_fields.c"]);
    }

    #[test]
    fn a_lock_on_a_child_field_locks_that_child_only() {
        let po = sap_orders();
        let current = json!({"status": "open", "lines": [
            {"id": "10", "custom_fields": {"deletion": ""}},
            {"id": "20", "custom_fields": {"deletion": "L"}},
        ]});
        let update = |p: Value| check(&po, &current, Operation::Update, Some(&patch(p)));
        let err =
            update(json!({"lines": [{"id": "10", "quantity": 1}, {"id": "20", "item_id": "x"}]}))
                .unwrap_err();
        assert_eq!(
            (
                err.field.as_str(),
                err.state.as_str(),
                err.locked_fields.clone()
            ),
            (
                "lines.custom_fields.deletion",
                "L",
                vec!["lines.item_id".to_string()]
            )
        );
        assert_eq!(
            update(json!({"lines": [{"id": "10", "quantity": 1}]})),
            Ok(())
        );
        assert_eq!(
            update(json!({"lines": [{"id": "30", "quantity": 1}]})),
            Ok(()),
            "a line the record does not have is the system's to refuse"
        );
        assert_eq!(
            check(&po, &current, Operation::Delete, None),
            Ok(()),
            "a child's state locks no operation of the record"
        );
    }

    #[test]
    fn reads_are_needed_only_when_a_lock_can_apply() {
        let po = purchase_orders();
        assert!(may_lock(&po, Operation::Update));
        assert!(may_lock(&po, Operation::Delete));
        let mut open = po.clone();
        open.state_locks.clear();
        assert!(!may_lock(&open, Operation::Update));
    }
}
