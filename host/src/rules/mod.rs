//! The write-rule engine: what an adapter declares its system allows, checked
//! before the system is called.
//!
//! - [`fields`]: field access (read-only, create-only, custom fields that are
//!   not writable, unknown fields), required fields, child collections that
//!   must be created with their parent and their minimum counts;
//! - [`state`]: workflow-state locks on updates and deletes;
//! - [`mapping`]: a connection's field mappings, which show a field of the
//!   system under the customer's name and keep its rules.
//!
//! The per-connection write budget is a token bucket of
//! [`crate::rate_limit`], kept in the database
//! and taken by the data plane.
//!
//! Everything here is plain functions over the manifest and JSON, unit
//! tested here and benchmarked in `benches/write_rules.rs`.

pub mod fields;
pub mod mapping;
pub mod state;

use serde::Serialize;

use crate::code::Code;

/// One rule one field breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Violation {
    /// A JSON pointer into the body (`/lines/3/amount`).
    pub path: String,
    /// `field_read_only`, `field_create_only`, `custom_field_not_writable`,
    /// `unknown_field`, `field_required`, `must_create_with_parent`,
    /// `too_few_children`, `invalid_type`.
    #[schema(value_type = String)]
    pub code: Code,
    pub message: String,
}
