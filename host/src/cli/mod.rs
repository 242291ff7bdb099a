//! The binary's commands besides `serve`.

pub mod adapter;
mod adapter_conform;
mod adapter_test;
pub mod db;
pub mod reference;
mod template;
