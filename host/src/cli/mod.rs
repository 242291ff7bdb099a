//! The binary's commands besides `serve`.

pub mod adapter;
mod template;
