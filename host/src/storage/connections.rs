//! A connection as stored: the storage layer's own type, which the
//! connection lifecycle (a layer above) works with.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::manifest::{CustomField, FieldType};

/// Where a connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    /// The system rejected the connection's credentials: connect again.
    RequiresReauthorization,
    /// Disconnected by the customer; final.
    Disconnected,
}

stored_as_text!(Status {
    Active = "active",
    RequiresReauthorization = "requires_reauthorization",
    Disconnected = "disconnected",
});

/// The last error a connection's requests met.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LastError {
    pub code: String,
    pub message: String,
    #[serde(with = "humantime_serde")]
    #[schema(value_type = String, format = DateTime)]
    pub at: SystemTime,
    pub request_id: String,
}

/// A connection as stored. `credentials` is sealed (see [`crate::secret_box`]).
#[derive(Debug, Clone)]
pub struct Connection {
    pub id: String,
    pub adapter_id: String,
    pub adapter_version: String,
    pub status: Status,
    pub config: BTreeMap<String, String>,
    pub credentials: Vec<u8>,
    pub account_id: String,
    pub account_name: String,
    pub permissions: Vec<String>,
    /// Custom fields the account adds to the adapter's entities.
    pub custom_fields: Vec<CustomField>,
    pub status_reason: Option<String>,
    pub status_changed_at: SystemTime,
    pub last_error: Option<LastError>,
    pub created_at: SystemTime,
    pub disconnected_at: Option<SystemTime>,
    /// The audit trail keeps the (redacted) bodies of this connection's
    /// upstream exchanges.
    pub audit_bodies: bool,
    /// Fields of the system shown under the names this connection's
    /// customer uses ([`crate::rules::mapping`]).
    pub field_mappings: Vec<FieldMapping>,
}

/// One field of the connection's system, shown (and written) under another
/// name: `custom_fields.custbody_cc` as `custom.cost_center`, say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldMapping {
    /// The entity (`purchase-orders`).
    pub entity: String,
    /// The system's field, as the adapter or the account declares it
    /// (`custom_fields.custbody_cc`, `memo`).
    pub source: String,
    /// Where the field appears in this connection's records:
    /// `custom.<name>` (in the record's `custom` object) or a field of the
    /// unified model (`reference`).
    pub target: String,
    /// Writes to `target` go to `source`, under `source`'s rules.
    pub writable: bool,
    /// The source's type when it was mapped: another type later is drift.
    #[serde(rename = "type")]
    pub kind: FieldType,
}

impl Connection {
    /// The permissions of `required` that the account did not hold when it
    /// connected.
    pub fn missing_permissions<'a>(&self, required: &'a [String]) -> Vec<&'a String> {
        required
            .iter()
            .filter(|p| !self.permissions.contains(p))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_names() {
        for s in [
            Status::Active,
            Status::RequiresReauthorization,
            Status::Disconnected,
        ] {
            assert_eq!(s.as_str().parse::<Status>().unwrap(), s);
        }
        let unknown = "paused".parse::<Status>().unwrap_err();
        assert_eq!(unknown.to_string(), "`paused` is no Status");
    }
}
