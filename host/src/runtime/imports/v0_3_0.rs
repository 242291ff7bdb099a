//! The imports of contract 0.3.0, adapted to the newest version's: the same
//! shapes, converted one to one.

use crate::contract::v0_3_0::interlink::adapter::{clock, http, kv, log, secrets, types};

super::adapt::adapt_imports!(read_only: |r: &http::Request| r.read_only);
