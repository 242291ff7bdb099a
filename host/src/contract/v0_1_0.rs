//! Contract 0.1.0 (`wit/since_v0.1.0`): its bindings, and its types
//! converted to and from the host's model. Its imports are adapted to the
//! newest version's in `crate::runtime::imports::v0_1_0`.

wasmtime::component::bindgen!({
    path: "../wit/since_v0.1.0",
    world: "adapter-world",
    // `send` may stop the call: a dry run ends at the first request it holds.
    imports: {
        "interlink:adapter/http.send": async | trappable,
        default: async,
    },
    exports: { default: async },
});

pub use self::interlink::adapter::types;

super::convert::type_conversions!();

/// Passthrough came with 0.3.0.
fn declares_passthrough(_: &types::Manifest) -> bool {
    false
}

/// Setup steps came with 0.4.0.
fn setup_steps(_: &types::Manifest) -> Vec<String> {
    Vec::new()
}

/// Config fields' labels, groups and setters came with 0.4.0.
fn presentation(w: &types::ConfigField) -> super::convert::Presentation {
    super::convert::Presentation::of_name(&w.name)
}
