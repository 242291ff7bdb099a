//! `cargo xtask serve`: the host with the bundled adapters and, beside it,
//! the demo procurement API; on a new data folder, one demo connection to
//! it with an hourly sync of its vendors; then the dashboard's address and
//! the admin key.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{target_dir, workspace_root};

/// Where the demo API listens (its own default).
const DEMO_API: &str = "127.0.0.1:8088";

/// The value of `flag` in `args` (`--flag value` or `--flag=value`).
fn flag<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.iter().enumerate().find_map(|(i, a)| {
        a.strip_prefix(flag)
            .and_then(|rest| rest.strip_prefix('='))
            .or_else(|| {
                (a == flag)
                    .then(|| args.get(i + 1).map(String::as_str))
                    .flatten()
            })
    })
}

/// One HTTP/1.1 request to `addr`; answers the status and the body.
fn request(addr: &str, head: &str, body: &str) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    write!(
        stream,
        "{head}\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply)?;
    let status = reply
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = reply
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// Waits until the host answers `/healthz` with 200 (its adapters loaded).
fn wait_ready(addr: &str, host: &mut Child) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(300);
    while Instant::now() < deadline {
        if let Some(status) = host.try_wait()? {
            bail!("interlink exited ({status})");
        }
        if let Ok((200, _)) = request(addr, "GET /healthz HTTP/1.1", "") {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!("interlink did not become ready within 5 minutes")
}

/// Connects the example adapter to the demo API; answers the connection.
fn demo_connection(addr: &str, admin_key: &str) -> Result<serde_json::Value> {
    let body = serde_json::json!({
        "adapter": "example",
        "config": {"base_url": format!("http://{DEMO_API}")},
        "credentials": {"api_key": "demo-key"},
    })
    .to_string();
    let head = format!(
        "POST /v1/connections HTTP/1.1\r\nAuthorization: Bearer {admin_key}\r\nContent-Type: application/json"
    );
    let (status, reply) = request(addr, &head, &body)?;
    if status != 201 {
        bail!("creating the demo connection failed ({status}): {reply}");
    }
    Ok(serde_json::from_str(&reply)?)
}

/// Schedules an hourly sync of the demo connection's vendors (its first run
/// starts at once), so that the dashboard's syncs page has something to show.
fn demo_sync(addr: &str, token: &str) -> Result<()> {
    let head = format!(
        "PUT /v1/syncs/vendors HTTP/1.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json"
    );
    let (status, reply) = request(addr, &head, r#"{"interval_seconds":3600}"#)?;
    if status != 200 {
        bail!("scheduling the demo sync failed ({status}): {reply}");
    }
    Ok(())
}

pub fn serve(args: &[String]) -> Result<()> {
    crate::adapters::build_all()?;
    // Optimized, as a host is run (the tests build the dev profile).
    crate::cargo(
        &[
            "build",
            "--release",
            "--package",
            "interlink",
            "--package",
            "demo-upstream",
            "--bins",
        ],
        &[],
    )?;
    let root = workspace_root();
    let bin = target_dir().join("release");
    let data_dir = root.join(flag(args, "--data-dir").unwrap_or("data"));
    let fresh = !data_dir.join("interlink.db").exists();
    let listen = flag(args, "--listen").unwrap_or("127.0.0.1:8080");
    let addr = listen.replace("0.0.0.0", "127.0.0.1");

    let mut demo = if TcpStream::connect(DEMO_API).is_ok() {
        eprintln!("the demo API already runs on {DEMO_API}");
        None
    } else {
        Some(
            Command::new(bin.join("demo-upstream"))
                .current_dir(&root)
                .stdout(Stdio::null())
                .spawn()
                .context("starting the demo API")?,
        )
    };
    // The demo API runs on loopback, which outbound requests may not reach
    // unless allowed.
    let mut host = Command::new(bin.join("interlink"));
    host.current_dir(&root)
        .args(["serve", "--adapter-allow-network", "*=127.0.0.0/8"]);
    if flag(args, "--adapters-dir").is_none() {
        host.args(["--adapters-dir", "target/adapters"]);
    }
    let mut host = host.args(args).spawn().context("starting interlink")?;
    let ready = wait_ready(&addr, &mut host).and_then(|()| {
        let admin_key = std::fs::read_to_string(data_dir.join("admin.key"))?;
        let admin_key = admin_key.trim();
        let mut banner = format!(
            "\nInterlink is ready.\n  Dashboard: http://{addr}/dashboard (sign in with the admin key {admin_key})\n  \
             API:       http://{addr}/v1/...  (see the README's API tour)\n  \
             Demo API:  http://{DEMO_API} (API key demo-key)\n"
        );
        if fresh && demo.is_some() {
            let created = demo_connection(&addr, admin_key)?;
            let token = created["token"].as_str().unwrap_or_default();
            demo_sync(&addr, token)?;
            banner += &format!(
                "  A demo connection `{}` reads the demo API and syncs its vendors hourly; its token: {token}\n",
                created["connection"]["id"].as_str().unwrap_or_default(),
            );
        }
        eprintln!("{banner}");
        Ok(())
    });
    if let Err(e) = ready {
        eprintln!("warning: {e:#}");
    }
    let status = host.wait()?;
    if let Some(demo) = demo.as_mut() {
        let _ = demo.kill();
        let _ = demo.wait();
    }
    if !status.success() {
        bail!("interlink exited ({status})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::flag;

    #[test]
    fn flags_are_read_in_both_forms() {
        let args: Vec<String> = ["--listen", "0.0.0.0:9000", "--data-dir=/tmp/d", "--credits"]
            .map(String::from)
            .into();
        assert_eq!(flag(&args, "--listen"), Some("0.0.0.0:9000"));
        assert_eq!(flag(&args, "--data-dir"), Some("/tmp/d"));
        assert_eq!(flag(&args, "--credits"), None);
        assert_eq!(flag(&args, "--public-url"), None);
    }
}
