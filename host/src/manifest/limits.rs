//! How big a manifest may be. A manifest is read from the adapter, which
//! may be third-party code, and served, validated and consulted on every
//! call: its size is bounded, and checked in one pass before anything else.

use super::{Entity, Field, FieldType, Manifest, ManifestError};

/// Entities one adapter may declare.
pub const MAX_ENTITIES: usize = 100;
/// Fields of one entity, its child collections' fields included.
pub const MAX_FIELDS: usize = 500;
/// Child collections, state locks, config fields, outbound hosts, and the
/// permissions of one operation, each.
pub const MAX_LIST: usize = 50;
/// Steps of the manifest's "before you start" list.
pub const MAX_SETUP_STEPS: usize = 10;
/// Values of one enumeration.
pub const MAX_VALUES: usize = 1000;
/// All the manifest's text together (names, descriptions, values), in bytes.
pub const MAX_TEXT_BYTES: usize = 1 << 20;

fn too_many(what: &'static str, limit: usize) -> ManifestError {
    ManifestError::TooLarge { what, limit }
}

/// Counts as it walks, failing at the first bound passed.
struct Walk {
    text: usize,
}

impl Walk {
    fn text(&mut self, text: &str) -> Result<(), ManifestError> {
        self.text += text.len();
        if self.text > MAX_TEXT_BYTES {
            return Err(too_many("bytes of text", MAX_TEXT_BYTES));
        }
        Ok(())
    }

    fn list<T>(&self, items: &[T], what: &'static str, limit: usize) -> Result<(), ManifestError> {
        if items.len() > limit {
            return Err(too_many(what, limit));
        }
        Ok(())
    }

    fn field(&mut self, field: &Field) -> Result<(), ManifestError> {
        self.text(&field.name)?;
        self.text(&field.description)?;
        if let Some(r) = &field.references {
            self.text(r)?;
        }
        if let FieldType::Enumeration(values) = &field.kind {
            self.list(values, "values of an enumeration", MAX_VALUES)?;
            for v in values {
                self.text(v)?;
            }
        }
        Ok(())
    }

    fn entity(&mut self, entity: &Entity) -> Result<(), ManifestError> {
        self.text(&entity.name)?;
        self.text(&entity.description)?;
        self.list(&entity.children, "child collections of an entity", MAX_LIST)?;
        self.list(&entity.state_locks, "state locks of an entity", MAX_LIST)?;
        let fields = entity.fields.len()
            + entity
                .children
                .iter()
                .map(|c| c.fields.len())
                .sum::<usize>();
        if fields > MAX_FIELDS {
            return Err(too_many("fields of an entity", MAX_FIELDS));
        }
        for operation in &entity.operations {
            self.list(
                &operation.permissions,
                "permissions of an operation",
                MAX_LIST,
            )?;
            for p in &operation.permissions {
                self.text(p)?;
            }
        }
        for field in &entity.fields {
            self.field(field)?;
        }
        for child in &entity.children {
            self.text(&child.name)?;
            self.text(&child.description)?;
            for field in &child.fields {
                self.field(field)?;
            }
        }
        for lock in &entity.state_locks {
            self.text(&lock.field)?;
            self.text(&lock.reason)?;
            self.list(&lock.values, "values of a state lock", MAX_VALUES)?;
            for v in &lock.values {
                self.text(v)?;
            }
        }
        Ok(())
    }
}

/// Checks every bound, in one pass over the manifest.
///
/// # Errors
///
/// [`ManifestError::TooLarge`] for the first bound the manifest passes:
/// more entities, config fields, setup steps, outbound hosts, child collections, state
/// locks, fields, permissions or enumeration values than allowed, or more
/// than [`MAX_TEXT_BYTES`] of text.
pub fn check(manifest: &Manifest) -> Result<(), ManifestError> {
    let mut walk = Walk { text: 0 };
    walk.list(&manifest.entities, "entities", MAX_ENTITIES)?;
    walk.list(&manifest.config, "config fields", MAX_LIST)?;
    walk.list(&manifest.outbound_hosts, "outbound hosts", MAX_LIST)?;
    for text in [
        &manifest.id,
        &manifest.name,
        &manifest.version,
        &manifest.contract_version,
        &manifest.description,
    ] {
        walk.text(text)?;
    }
    walk.list(&manifest.setup_steps, "setup steps", MAX_SETUP_STEPS)?;
    for step in &manifest.setup_steps {
        walk.text(step)?;
    }
    for c in &manifest.config {
        walk.text(&c.name)?;
        walk.text(&c.description)?;
        walk.text(&c.label)?;
        walk.text(&c.group)?;
        if let Some(placeholder) = &c.placeholder {
            walk.text(placeholder)?;
        }
    }
    for h in &manifest.outbound_hosts {
        walk.text(h)?;
    }
    for entity in &manifest.entities {
        walk.entity(entity)?;
    }
    Ok(())
}
