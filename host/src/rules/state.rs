//! Workflow-state locks: what a record's current state forbids.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::manifest::{Entity, FieldSelection, Operation};

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

/// The field names a patch changes: its top-level members, and the members
/// of `custom_fields` as `custom_fields.<name>`.
fn changed_fields(patch: &Map<String, Value>) -> Vec<String> {
    let mut names = Vec::new();
    for (key, value) in patch {
        match (key.as_str(), value) {
            ("custom_fields", Value::Object(members)) => {
                names.extend(members.keys().map(|m| format!("custom_fields.{m}")))
            }
            _ => names.push(key.clone()),
        }
    }
    names
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
pub fn check(
    entity: &Entity,
    current: &Value,
    operation: Operation,
    patch: Option<&Map<String, Value>>,
) -> Result<(), StateLocked> {
    for lock in &entity.state_locks {
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
            let fields: Vec<String> = changed_fields(patch)
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
