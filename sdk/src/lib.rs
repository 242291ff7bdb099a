//! Write [Interlink] adapters in plain Rust.
//!
//! An adapter maps one business system (NetSuite, Tryton, ...) onto Interlink's
//! unified model. It is compiled to a WebAssembly component that the Interlink
//! host loads, sandboxes and calls. This crate hides the component plumbing:
//!
//! - [`Adapter`] is the trait you implement: a [`Manifest`] that declares what
//!   the system allows, and the operations (`connect`, `list`, `get`, `create`,
//!   `update`, `delete`).
//! - [`Serves`] is the typed way to write those operations: one impl per
//!   record type of the unified model ([`model`]: `Vendor`, `Item`,
//!   `PurchaseOrder`), routed by [`entities!`].
//! - [`manifest`] has builders for the manifest, its entities, fields and rules.
//! - [`http`] sends requests through the host (which enforces the adapter's
//!   outbound allow-list) and decodes JSON.
//! - [`Error`] carries the typed failures the host turns into precise API errors.
//! - [`kv`], [`log`], [`clock`] and [`secrets`] wrap the other host imports.
//! - [`export_adapter!`] exports your type as the component's implementation.
//! - `testing::TestHost` (off wasm32) answers those host calls in native unit
//!   tests: canned HTTP answers, kv, a clock.
//! - On wasm32, the crate sets the global allocator (its default `heap`
//!   feature): the first MiB of heap comes from the module's initial memory,
//!   so a small call never grows memory (`heap.rs` says why that matters).
//!
//! ```ignore
//! struct Demo;
//!
//! impl interlink_sdk::Adapter for Demo {
//!     fn manifest() -> interlink_sdk::Manifest { /* ... */ }
//!     fn connect(ctx: &interlink_sdk::Context) -> interlink_sdk::Result<interlink_sdk::Account> { /* ... */ }
//!     fn list(ctx: &interlink_sdk::Context, request: interlink_sdk::ListRequest) -> interlink_sdk::Result<interlink_sdk::Page> { /* ... */ }
//! }
//!
//! interlink_sdk::export_adapter!(Demo);
//! ```
//!
//! Build with `cargo xtask build-adapters`, which compiles for
//! `wasm32-unknown-unknown` and wraps the module into a component. The guide is
//! `docs/adapter-guide.md`.
//!
//! [Interlink]: https://github.com/interlink/interlink

extern crate self as interlink_sdk;

mod adapter;
pub mod clock;
mod context;
mod error;
#[cfg(all(target_arch = "wasm32", feature = "heap"))]
mod heap;
pub mod http;
pub mod kv;
pub mod log;
pub mod manifest;
pub mod secrets;
pub mod serves;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

pub use adapter::{Adapter, Page};
pub use context::Context;
pub use error::{Error, Result};
pub use http::PassthroughRequest;
pub use interlink_model as model;
pub use manifest::{Account, Manifest};
pub use serde_json::{Value, json};
pub use serves::{Patch, Records, Serves};

/// The version of the adapter contract (`wit/`) this SDK builds against:
/// the newest, or 0.1.0 with the `contract-0-1-0` feature (for hosts that
/// serve no newer one; requests cannot be marked read-only there, there is
/// no passthrough, and config fields have no labels, groups or setters).
#[cfg(not(feature = "contract-0-1-0"))]
pub const CONTRACT_VERSION: &str = "0.4.0";
#[cfg(feature = "contract-0-1-0")]
pub const CONTRACT_VERSION: &str = "0.1.0";

/// Bindings generated from the contract. Adapter code rarely needs them: the
/// SDK re-exports what it uses under friendlier names.
#[doc(hidden)]
pub mod bindings {
    #[cfg(not(feature = "contract-0-1-0"))]
    wit_bindgen::generate!({
        path: "../wit/since_v0.4.0",
        world: "adapter-world",
        pub_export_macro: true,
        export_macro_name: "__export_adapter_world",
        default_bindings_module: "interlink_sdk::bindings",
        runtime_path: "interlink_sdk::__private::rt",
    });
    #[cfg(feature = "contract-0-1-0")]
    wit_bindgen::generate!({
        path: "../wit/since_v0.1.0",
        world: "adapter-world",
        pub_export_macro: true,
        export_macro_name: "__export_adapter_world",
        default_bindings_module: "interlink_sdk::bindings",
        runtime_path: "interlink_sdk::__private::rt",
    });

    impl interlink::adapter::http::Method {
        /// The method as HTTP spells it (`PATCH`).
        pub const fn name(self) -> &'static str {
            match self {
                Self::Get => "GET",
                Self::Head => "HEAD",
                Self::Post => "POST",
                Self::Put => "PUT",
                Self::Patch => "PATCH",
                Self::Delete => "DELETE",
            }
        }
    }
}

/// The request for one page of records: entity, cursor, page size and
/// modified-after filter.
pub use bindings::interlink::adapter::types::ListRequest;

#[doc(hidden)]
pub mod __private {
    pub use crate::adapter::Exports;
    pub use wit_bindgen::rt;
}

/// Exports a type implementing [`Adapter`] as this component's adapter.
///
/// Use it once, at the crate root of a `cdylib` built for
/// `wasm32-unknown-unknown`.
#[macro_export]
macro_rules! export_adapter {
    ($adapter:ty) => {
        #[doc(hidden)]
        struct __InterlinkExports;

        impl $crate::__private::Exports for __InterlinkExports {
            type Adapter = $adapter;
        }

        $crate::bindings::__export_adapter_world!(__InterlinkExports with_types_in $crate::bindings);
    };
}
