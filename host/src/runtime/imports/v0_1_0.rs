//! The imports of contract 0.1.0, adapted to the newest version's.
//!
//! A 0.1.0 request cannot say that it only reads, so a dry-run write holds
//! every request of a 0.1.0 adapter that is not a `GET` or `HEAD`.

use crate::contract::v0_1_0::interlink::adapter::{clock, http, kv, log, secrets, types};

super::adapt::adapt_imports!(read_only: |_: &http::Request| false);
