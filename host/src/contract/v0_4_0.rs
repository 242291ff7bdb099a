//! Contract 0.4.0 (`wit/since_v0.4.0`), the newest: its bindings, and its
//! types converted to and from the host's model. The host's imports
//! (`crate::runtime::imports`) implement this version; older versions adapt
//! to it.
//!
//! New in 0.4.0: how the connect page shows a config field (its `label`,
//! `placeholder`, `group`, and whether the customer or only the operator
//! sets it), and the manifest's `setup-steps`, what a customer prepares in
//! the system before connecting.

wasmtime::component::bindgen!({
    path: "../wit/since_v0.4.0",
    world: "adapter-world",
    // `send` may stop the call: a dry run ends at the first request it holds.
    imports: {
        "interlink:adapter/http.send": async | trappable,
        default: async,
    },
    exports: { default: async },
});

use self::exports::interlink::adapter::adapter as exported;
use self::interlink::adapter::http;
pub use self::interlink::adapter::types;

super::convert::type_conversions!();
super::convert::passthrough_conversions!();

/// Whether the adapter declares passthrough (since 0.3.0).
fn declares_passthrough(w: &types::Manifest) -> bool {
    w.passthrough
}

/// The connect page's "Before you start" steps (since 0.4.0).
fn setup_steps(w: &types::Manifest) -> Vec<String> {
    w.setup_steps.clone()
}

/// How the connect page shows the field (since 0.4.0); an empty label is
/// made from the name.
fn presentation(w: &types::ConfigField) -> super::convert::Presentation {
    let label = if w.label.is_empty() {
        crate::manifest::label_of(&w.name)
    } else {
        w.label.clone()
    };
    super::convert::Presentation {
        label,
        placeholder: w.placeholder.clone(),
        group: w.group.clone(),
        set_by: match w.set_by {
            types::ConfigSetter::Customer => m::ConfigSetter::Customer,
            types::ConfigSetter::Operator => m::ConfigSetter::Operator,
        },
    }
}
