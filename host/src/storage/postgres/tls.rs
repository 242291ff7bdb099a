//! TLS to PostgreSQL: the `sslmode` a node connects with.
//!
//! The database URL names it as libpq does
//! (`?sslmode=verify-full&sslrootcert=/etc/interlink/db-ca.pem`), and
//! `PGSSLMODE` and `PGSSLROOTCERT` are read as libpq reads them. Without a
//! mode, a server on this machine (a loopback address, `localhost` or a Unix
//! socket) is reached with `prefer`; any other with `verify-full` when a CA
//! file is named, `require` otherwise. The database password and the sealed
//! records then cross a network in the clear only when the operator says so,
//! and the node says it when it starts.

use std::net::IpAddr;

use sqlx::postgres::{PgConnectOptions, PgSslMode};

/// The options to reach the database at `url`: its own, with the default
/// mode above; and a warning to log when the mode lets a connection to
/// another machine go unencrypted.
///
/// # Errors
///
/// When `url` is not a PostgreSQL URL sqlx can read.
pub fn connect_options(url: &str) -> Result<(PgConnectOptions, Option<String>), sqlx::Error> {
    let options: PgConnectOptions = url.parse()?;
    let named = |keys: [&str; 2], env: &str| {
        url::Url::parse(url)
            .ok()
            .is_some_and(|u| u.query_pairs().any(|(k, _)| keys.contains(&&*k)))
            || std::env::var_os(env).is_some()
    };
    let local = is_local(&options);
    let options = if named(["sslmode", "ssl-mode"], "PGSSLMODE") || local {
        options
    } else if named(["sslrootcert", "ssl-root-cert"], "PGSSLROOTCERT") {
        options.ssl_mode(PgSslMode::VerifyFull)
    } else {
        options.ssl_mode(PgSslMode::Require)
    };
    let mode = options.get_ssl_mode();
    let warning = (!local
        && matches!(
            mode,
            PgSslMode::Disable | PgSslMode::Allow | PgSslMode::Prefer
        ))
    .then(|| {
        format!(
            "PostgreSQL at {} is reached with sslmode={}: the connection may be \
                 unencrypted, and the database password and sealed records would cross the \
                 network in the clear. Add `sslmode=verify-full&sslrootcert=<the server's CA \
                 file>` (or at least `sslmode=require`) to the database URL",
            options.get_host(),
            name(mode)
        )
    });
    Ok((options, warning))
}

/// Whether the server is on this machine: a Unix socket, `localhost` or a
/// loopback address.
fn is_local(options: &PgConnectOptions) -> bool {
    let host = options.get_host();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    options.get_socket().is_some()
        || host.starts_with('/')
        || host == "localhost"
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `mode` as libpq names it.
pub fn name(mode: PgSslMode) -> &'static str {
    match mode {
        PgSslMode::Disable => "disable",
        PgSslMode::Allow => "allow",
        PgSslMode::Prefer => "prefer",
        PgSslMode::Require => "require",
        PgSslMode::VerifyCa => "verify-ca",
        PgSslMode::VerifyFull => "verify-full",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(url: &str) -> (&'static str, bool) {
        let (options, warning) = connect_options(url).unwrap();
        (name(options.get_ssl_mode()), warning.is_some())
    }

    #[test]
    fn another_machine_is_reached_over_tls_unless_the_url_says_otherwise() {
        assert_eq!(mode("postgres://u@db.internal/x"), ("require", false));
        assert_eq!(
            mode("postgres://u@10.0.0.5:5432/x?sslrootcert=/etc/ca.pem"),
            ("verify-full", false)
        );
        assert_eq!(
            mode("postgres://u@db.internal/x?sslmode=verify-ca&sslrootcert=/ca.pem"),
            ("verify-ca", false)
        );
        // Said, and warned about.
        assert_eq!(
            mode("postgres://u@db.internal/x?sslmode=disable"),
            ("disable", true)
        );
        assert_eq!(
            mode("postgres://u@db.internal/x?sslmode=prefer"),
            ("prefer", true)
        );
    }

    #[test]
    fn this_machine_keeps_libpqs_default() {
        assert_eq!(mode("postgres://u@127.0.0.1:5432/x"), ("prefer", false));
        assert_eq!(mode("postgres://u@localhost/x"), ("prefer", false));
        assert_eq!(mode("postgres://u@[::1]/x"), ("prefer", false));
        assert_eq!(
            mode("postgres://u@localhost/x?sslmode=disable"),
            ("disable", false)
        );
        assert_eq!(
            mode("postgres://u@localhost/x?sslmode=verify-full&sslrootcert=/ca.pem"),
            ("verify-full", false)
        );
    }
}
