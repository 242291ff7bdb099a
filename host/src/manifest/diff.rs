//! What a new version of an adapter may do that the old one could not, and
//! what it no longer does: the capability diff an operator reads before
//! upgrading (`interlink adapter check NEW --against OLD`).

use std::collections::BTreeSet;
use std::fmt;

use super::{ChildCollection, Entity, Field, FieldAccess, Manifest, StateLock};

/// One difference between two manifests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Something the new version declares that the old did not.
    Added(String),
    /// Something the old version declared that the new does not.
    Removed(String),
    /// Something both declare, differently.
    Changed(String),
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Added(what) => write!(f, "+ {what}"),
            Change::Removed(what) => write!(f, "- {what}"),
            Change::Changed(what) => write!(f, "~ {what}"),
        }
    }
}

/// Every capability `new` has that `old` lacks, and the other way round,
/// in the order: auth, config, outbound hosts, limits, passthrough, then
/// each entity.
pub fn capabilities(old: &Manifest, new: &Manifest) -> Vec<Change> {
    let mut changes = Vec::new();
    if old.auth != new.auth {
        changes.push(Change::Changed(format!(
            "auth: {} → {}",
            spelled(&old.auth),
            spelled(&new.auth)
        )));
    }
    sets(
        &mut changes,
        "config field",
        old.config.iter().map(|c| c.name.as_str()),
        new.config.iter().map(|c| c.name.as_str()),
    );
    for field in &new.config {
        if let Some(before) = old.config.iter().find(|c| c.name == field.name)
            && before.set_by != field.set_by
        {
            changes.push(Change::Changed(format!(
                "config field {}: set by {} → {}",
                field.name,
                spelled(&before.set_by),
                spelled(&field.set_by)
            )));
        }
    }
    sets(
        &mut changes,
        "outbound host",
        old.outbound_hosts.iter().map(String::as_str),
        new.outbound_hosts.iter().map(String::as_str),
    );
    let (o, n) = (old.limits, new.limits);
    if o.max_concurrent_requests != n.max_concurrent_requests {
        changes.push(Change::Changed(format!(
            "limit max_concurrent_requests: {} → {}",
            o.max_concurrent_requests, n.max_concurrent_requests
        )));
    }
    if o.writes_per_minute != n.writes_per_minute {
        let per_minute = |w: Option<u32>| w.map_or("none".to_string(), |w| w.to_string());
        changes.push(Change::Changed(format!(
            "limit writes_per_minute: {} → {}",
            per_minute(o.writes_per_minute),
            per_minute(n.writes_per_minute)
        )));
    }
    match (old.passthrough, new.passthrough) {
        (false, true) => changes.push(Change::Added("passthrough to the system's own API".into())),
        (true, false) => changes.push(Change::Removed(
            "passthrough to the system's own API".into(),
        )),
        _ => {}
    }
    for entity in &new.entities {
        match old.entity(&entity.name) {
            Some(before) => self::entity(&mut changes, before, entity),
            None => changes.push(Change::Added(format!("entity {}", entity.name))),
        }
    }
    for entity in old
        .entities
        .iter()
        .filter(|e| new.entity(&e.name).is_none())
    {
        changes.push(Change::Removed(format!("entity {}", entity.name)));
    }
    changes
}

/// A manifest value as the API spells it (`read_only`).
fn spelled<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Names added to and removed from a set, as `what name`.
fn sets<'a>(
    changes: &mut Vec<Change>,
    what: &str,
    old: impl Iterator<Item = &'a str>,
    new: impl Iterator<Item = &'a str>,
) {
    let (old, new): (BTreeSet<&str>, BTreeSet<&str>) = (old.collect(), new.collect());
    for name in new.difference(&old) {
        changes.push(Change::Added(format!("{what} {name}")));
    }
    for name in old.difference(&new) {
        changes.push(Change::Removed(format!("{what} {name}")));
    }
}

fn entity(changes: &mut Vec<Change>, old: &Entity, new: &Entity) {
    let name = &new.name;
    for op in &new.operations {
        let before = old.operations.iter().find(|o| o.operation == op.operation);
        let Some(before) = before else {
            changes.push(Change::Added(format!(
                "operation {name} {} (permissions: {})",
                op.operation.as_str(),
                op.permissions.join(", ")
            )));
            continue;
        };
        sets(
            changes,
            &format!("permission for {name} {}:", op.operation.as_str()),
            before.permissions.iter().map(String::as_str),
            op.permissions.iter().map(String::as_str),
        );
    }
    for op in &old.operations {
        if !new.operations.iter().any(|o| o.operation == op.operation) {
            changes.push(Change::Removed(format!(
                "operation {name} {}",
                op.operation.as_str()
            )));
        }
    }
    fields(changes, name, &old.fields, &new.fields);
    for child in &new.children {
        match old.children.iter().find(|c| c.name == child.name) {
            Some(before) => children(changes, name, before, child),
            None => changes.push(Change::Added(format!(
                "child collection {name}.{}",
                child.name
            ))),
        }
    }
    for child in &old.children {
        if !new.children.iter().any(|c| c.name == child.name) {
            changes.push(Change::Removed(format!(
                "child collection {name}.{}",
                child.name
            )));
        }
    }
    locks(changes, name, &old.state_locks, &new.state_locks);
}

fn children(changes: &mut Vec<Change>, entity: &str, old: &ChildCollection, new: &ChildCollection) {
    let path = format!("{entity}.{}", new.name);
    if (old.create_with_parent, old.min_count) != (new.create_with_parent, new.min_count) {
        changes.push(Change::Changed(format!(
            "child collection {path}: created with the parent {} → {}, at least {} → {}",
            old.create_with_parent, new.create_with_parent, old.min_count, new.min_count
        )));
    }
    fields(changes, &path, &old.fields, &new.fields);
}

/// How much a client may write: read-only < create-only < updatable.
fn rank(access: FieldAccess) -> u8 {
    match access {
        FieldAccess::ReadOnly => 0,
        FieldAccess::CreateOnly => 1,
        FieldAccess::Updatable => 2,
    }
}

fn fields(changes: &mut Vec<Change>, owner: &str, old: &[Field], new: &[Field]) {
    for field in new {
        let Some(before) = old.iter().find(|f| f.name == field.name) else {
            changes.push(Change::Added(format!(
                "field {owner}.{} ({})",
                field.name,
                spelled(&field.access)
            )));
            continue;
        };
        if before.access != field.access {
            let how = if rank(field.access) > rank(before.access) {
                "widened"
            } else {
                "narrowed"
            };
            changes.push(Change::Changed(format!(
                "field {owner}.{}: {} → {} ({how})",
                field.name,
                spelled(&before.access),
                spelled(&field.access)
            )));
        }
        if before.required != field.required {
            changes.push(Change::Changed(format!(
                "field {owner}.{}: {}",
                field.name,
                if field.required {
                    "now required"
                } else {
                    "no longer required"
                }
            )));
        }
    }
    for field in old {
        if !new.iter().any(|f| f.name == field.name) {
            changes.push(Change::Removed(format!("field {owner}.{}", field.name)));
        }
    }
}

/// A lock in words: `when status is billed, closed`.
fn lock_key(lock: &StateLock) -> String {
    format!("when {} is {}", lock.field, lock.values.join(", "))
}

fn locks(changes: &mut Vec<Change>, entity: &str, old: &[StateLock], new: &[StateLock]) {
    for lock in new {
        let key = lock_key(lock);
        match old.iter().find(|l| lock_key(l) == key) {
            None => changes.push(Change::Added(format!("state lock on {entity} {key}"))),
            Some(before) if before != lock => {
                changes.push(Change::Changed(format!(
                    "state lock on {entity} {key}: locks {} and refuses [{}] → locks {} and refuses [{}]",
                    spelled_selection(before),
                    operations(before),
                    spelled_selection(lock),
                    operations(lock)
                )));
            }
            Some(_) => {}
        }
    }
    for lock in old {
        let key = lock_key(lock);
        if !new.iter().any(|l| lock_key(l) == key) {
            changes.push(Change::Removed(format!("state lock on {entity} {key}")));
        }
    }
}

fn spelled_selection(lock: &StateLock) -> String {
    use super::FieldSelection::*;
    match &lock.locked_fields {
        All => "every field".into(),
        AllExcept(except) => format!("every field but {}", except.join(", ")),
        Only(only) => only.join(", "),
    }
}

fn operations(lock: &StateLock) -> String {
    let ops: Vec<&str> = lock.locked_operations.iter().map(|o| o.as_str()).collect();
    ops.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::tests::sample;
    use crate::manifest::{FieldSelection, Operation};

    fn lines(old: &Manifest, new: &Manifest) -> Vec<String> {
        capabilities(old, new)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn the_same_manifest_has_no_changes() {
        assert!(capabilities(&sample(), &sample()).is_empty());
    }

    #[test]
    fn widened_access_new_hosts_permissions_and_locks_are_named() {
        let old = sample();
        let mut new = sample();
        new.outbound_hosts.push("https://files.example.com".into());
        new.limits.writes_per_minute = Some(60);
        new.passthrough = true;
        let vendors = &mut new.entities[0];
        vendors.fields[0].access = FieldAccess::Updatable;
        vendors.operations[0]
            .permissions
            .push("Lists: Vendors".into());
        vendors
            .operations
            .push(crate::manifest::OperationPermissions {
                operation: Operation::Delete,
                permissions: vec!["Lists: Vendors (Full)".into()],
            });
        vendors.state_locks.push(StateLock {
            field: "status".into(),
            values: vec!["closed".into()],
            locked_fields: FieldSelection::All,
            locked_operations: vec![Operation::Delete],
            reason: String::new(),
        });
        assert_eq!(
            lines(&old, &new),
            [
                "+ outbound host https://files.example.com",
                "~ limit writes_per_minute: none → 60",
                "+ passthrough to the system's own API",
                "+ permission for vendors list: Lists: Vendors",
                "+ operation vendors delete (permissions: Lists: Vendors (Full))",
                "~ field vendors.status: read_only → updatable (widened)",
                "+ state lock on vendors when status is closed",
            ]
        );
        assert_eq!(
            lines(&new, &old),
            [
                "- outbound host https://files.example.com",
                "~ limit writes_per_minute: 60 → none",
                "- passthrough to the system's own API",
                "- permission for vendors list: Lists: Vendors",
                "- operation vendors delete",
                "~ field vendors.status: updatable → read_only (narrowed)",
                "- state lock on vendors when status is closed",
            ]
        );
    }
}
