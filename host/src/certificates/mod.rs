//! Key pairs and certificates for systems that authenticate connections with
//! a JWT the host signs (NetSuite's OAuth 2.0 M2M flow).
//!
//! Two ways to get one, both ending with a certificate uploaded to the
//! system and the private key kept by the host, never by an adapter:
//! - the host's own **platform certificate** ([`platform`]), made on first
//!   start; a connection opts in with the private-key value `"platform"`;
//! - the customer's own key pair, made with OpenSSL or `interlink cert
//!   generate` ([`generate`]) and checked on connect ([`key`]).

pub mod generate;
pub mod key;
pub mod platform;

pub use generate::{Algorithm, KeyPair};
pub use key::{KeyError, PrivateKey};
pub use platform::PlatformCertificate;

use std::time::Duration;

/// The longest validity NetSuite accepts for a certificate: two years.
pub const MAX_VALIDITY: Duration = Duration::from_secs(730 * 24 * 3600);
