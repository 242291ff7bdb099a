//! Records as the connection's customer names their fields: the system's
//! answer (or a sync's stored copy) through the connection's field
//! mappings ([`crate::rules::mapping`]). A connection without mappings of
//! the entity gets the records untouched, unparsed.

use serde_json::Value;
use serde_json::value::RawValue;

use super::{DataError, DataPlane, declared};
use crate::connections::Connection;
use crate::connections::mappings::account_fields;
use crate::rules::mapping;

impl DataPlane {
    /// `record` of `entity` as `connection`'s mappings show it.
    ///
    /// # Errors
    ///
    /// As [`DataPlane::mapped_records`].
    pub(super) fn mapped(
        &self,
        connection: &Connection,
        entity: &str,
        record: Box<RawValue>,
    ) -> Result<Box<RawValue>, DataError> {
        let mut records = self.mapped_records(connection, entity, vec![record])?;
        Ok(records.pop().expect("one record in, one out"))
    }

    /// `records` of `entity`, the system's or stored by a sync, as
    /// `connection`'s mappings show them: each mapped target with its
    /// source's value, a drifted one `null` with the reason in
    /// `mapping_errors`.
    ///
    /// # Errors
    ///
    /// When the connection maps fields of `entity`:
    /// [`DataError::AdapterUnavailable`] or [`DataError::UnknownEntity`]
    /// (the mappings need the entity's declaration), and
    /// [`DataError::Internal`] for a record that is not JSON.
    pub fn mapped_records(
        &self,
        connection: &Connection,
        entity: &str,
        records: Vec<Box<RawValue>>,
    ) -> Result<Vec<Box<RawValue>>, DataError> {
        if !connection.field_mappings.iter().any(|m| m.entity == entity) {
            return Ok(records);
        }
        let adapter = self.resolve(connection, entity)?;
        let extra = account_fields(connection, entity);
        let resolved = mapping::resolve(
            &connection.field_mappings,
            declared(&adapter, entity),
            &extra,
        );
        let internal = |e: serde_json::Error| DataError::Internal(e.to_string());
        records
            .into_iter()
            .map(|record| {
                let mut value: Value = serde_json::from_str(record.get()).map_err(internal)?;
                if let Some(fields) = value.as_object_mut() {
                    mapping::read(fields, &resolved);
                }
                serde_json::value::to_raw_value(&value).map_err(internal)
            })
            .collect()
    }
}
