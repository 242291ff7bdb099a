//! The PostgreSQL server the tests run against: Debian's `postgresql`,
//! installed when missing, with a new cluster in `target/postgres` for each
//! test run, on a free loopback port, stopped when the run ends.
//!
//! The server takes TCP connections over TLS only, with a certificate for
//! `localhost` and `127.0.0.1` signed by a CA made for the run (by the
//! `openssl` command), whose certificate the tests find in
//! `INTERLINK_TEST_POSTGRES_CA`: every PostgreSQL test goes over TLS, and the
//! TLS test verifies the server with it.
//!
//! The server refuses to run as root; as root (CI, containers) the cluster
//! is made and run by the `postgres` user the package creates.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The environment variable that hands the tests the server's admin URL;
/// each test makes a database of its own there.
pub const URL_VARIABLE: &str = "INTERLINK_TEST_POSTGRES_URL";

/// The environment variable that names the file of the CA certificate the
/// server's certificate is signed with.
pub const CA_VARIABLE: &str = "INTERLINK_TEST_POSTGRES_CA";

/// A running test server; stopped on drop.
pub struct Server {
    bin: PathBuf,
    data: PathBuf,
    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub url: String,
    /// The CA certificate (PEM) that signed the server's.
    pub ca: PathBuf,
}

/// The folder of `initdb` and `pg_ctl` (not on PATH in Debian's packages),
/// installing the package when there is none.
fn bin_dir() -> Result<PathBuf> {
    let find = || -> Option<PathBuf> {
        let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| Some(e.ok()?.path().join("bin")))
            .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
            .collect();
        found.sort();
        found.pop()
    };
    if let Some(bin) = find() {
        return Ok(bin);
    }
    eprintln!("installing Debian's postgresql");
    crate::apt_install(
        &["postgresql"],
        "the PostgreSQL tests need Debian's postgresql",
    )?;
    find().context("postgresql is installed but no /usr/lib/postgresql/*/bin/initdb was found")
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `program` with `args`, as the `postgres` user when this runs as root.
fn as_server_user(program: &Path, args: &[&str]) -> Command {
    if running_as_root() {
        let mut command = Command::new("runuser");
        command
            .args(["-u", "postgres", "--"])
            .arg(program)
            .args(args);
        command
    } else {
        let mut command = Command::new(program);
        command.args(args);
        command
    }
}

/// A new, empty `dir/data` owned by the server's user, after stopping the
/// server of an earlier run that was killed.
fn prepare(bin: &Path, dir: &Path) -> Result<PathBuf> {
    let data = dir.join("data");
    if data.join("postmaster.pid").exists() {
        let _ = as_server_user(
            &bin.join("pg_ctl"),
            &["stop", "-D", &data.to_string_lossy(), "-m", "immediate"],
        )
        .output();
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    std::fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;
    if running_as_root() {
        let mut chown = Command::new("chown");
        chown.args(["-R", "postgres:postgres"]).arg(dir);
        run(chown, "chown (the server runs as the postgres user)")?;
    }
    Ok(data)
}

/// Whether the server's user can write to `data` (and reach it).
fn reachable(data: &Path) -> bool {
    as_server_user(Path::new("test"), &["-w", &data.to_string_lossy()])
        .status()
        .is_ok_and(|status| status.success())
}

fn run(mut command: Command, what: &str) -> Result<()> {
    let out = command
        .output()
        .with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

impl Server {
    /// Makes a new cluster in `dir` (removing an old one, stopping its server
    /// if a killed run left it running) and starts it. When the `postgres`
    /// user cannot reach `dir` (a checkout in root's home), the cluster goes
    /// to the temporary folder instead.
    pub fn start(dir: &Path) -> Result<Server> {
        let bin = bin_dir()?;
        let fallback = std::env::temp_dir().join("interlink-test-postgres");
        let mut data = prepare(&bin, dir)?;
        if !reachable(&data) {
            eprintln!(
                "the postgres user cannot reach {}; the test cluster goes to {}",
                dir.display(),
                fallback.display()
            );
            std::fs::remove_dir_all(dir).ok();
            data = prepare(&bin, &fallback)?;
        }
        let data_text = data.to_string_lossy().into_owned();
        run(
            as_server_user(
                &bin.join("initdb"),
                &[
                    "-D",
                    &data_text,
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--no-sync",
                ],
            ),
            "initdb",
        )?;
        let tls = data.parent().context("the cluster's folder")?.join("tls");
        let ca = certificates(&tls)?;
        // Over TCP, TLS or nothing; the Unix socket stays open to pg_ctl.
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\n\
             hostssl all all ::1/128 trust\n",
        )
        .context("writing pg_hba.conf")?;
        if running_as_root() {
            let mut chown = Command::new("chown");
            chown.args(["-R", "postgres:postgres"]).arg(&tls).arg(&data);
            run(
                chown,
                "chown (the server reads its key as the postgres user)",
            )?;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        // A test server: durability is traded for speed.
        let options = format!(
            "-p {port} -k {data_text} -c listen_addresses=127.0.0.1 -c max_connections=400 \
             -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c ssl=on \
             -c ssl_cert_file={tls}/server.crt -c ssl_key_file={tls}/server.key",
            tls = tls.display()
        );
        let log = data.join("server.log");
        run(
            as_server_user(
                &bin.join("pg_ctl"),
                &[
                    "start",
                    "-w",
                    "-D",
                    &data_text,
                    "-o",
                    &options,
                    "-l",
                    &log.to_string_lossy(),
                ],
            ),
            "pg_ctl start",
        )
        .with_context(|| format!("the server's log is {}", log.display()))?;
        Ok(Server {
            bin,
            data,
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            ca,
        })
    }
}

/// A CA and a server certificate for `localhost` and `127.0.0.1` signed by
/// it, in `dir` (`ca.pem`, `server.crt`, `server.key`); answers the CA's
/// file.
fn certificates(dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )?;
    let key = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    for (what, args) in [
        (
            "openssl (the test CA)",
            [
                &[
                    "req",
                    "-x509",
                    "-days",
                    "7",
                    "-subj",
                    "/CN=Interlink test CA",
                ][..],
                &key,
                &["-keyout", "ca.key", "-out", "ca.pem"],
            ]
            .concat(),
        ),
        (
            "openssl (the server's key)",
            [
                &["req", "-subj", "/CN=localhost"][..],
                &key,
                &["-keyout", "server.key", "-out", "server.csr"],
            ]
            .concat(),
        ),
        (
            "openssl (the server's certificate)",
            vec![
                "x509",
                "-req",
                "-days",
                "7",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-extfile",
                "server.ext",
                "-out",
                "server.crt",
            ],
        ),
    ] {
        let mut openssl = Command::new("openssl");
        openssl.current_dir(dir).args(args);
        run(openssl, what)?;
    }
    // PostgreSQL refuses a key others can read.
    std::fs::set_permissions(
        dir.join("server.key"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )?;
    Ok(dir.join("ca.pem"))
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = as_server_user(
            &self.bin.join("pg_ctl"),
            &["stop", "-D", &self.data.to_string_lossy(), "-m", "fast"],
        )
        .output();
    }
}
