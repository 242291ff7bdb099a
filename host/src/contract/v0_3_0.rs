//! Contract 0.3.0 (`wit/since_v0.3.0`): its bindings, and its types
//! converted to and from the host's model. Its imports are adapted to the
//! newest version's in `crate::runtime::imports::v0_3_0`.
//!
//! New in 0.3.0: `passthrough`, which forwards a client's request to the
//! system's own API, and the manifest's `passthrough`, which declares it.

wasmtime::component::bindgen!({
    path: "../wit/since_v0.3.0",
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

fn declares_passthrough(w: &types::Manifest) -> bool {
    w.passthrough
}

/// Setup steps came with 0.4.0.
fn setup_steps(_: &types::Manifest) -> Vec<String> {
    Vec::new()
}

/// Config fields' labels, groups and setters came with 0.4.0.
fn presentation(w: &types::ConfigField) -> super::convert::Presentation {
    super::convert::Presentation::of_name(&w.name)
}
