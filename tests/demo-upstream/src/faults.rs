//! A system that fails: every way an upstream can misbehave on the wire,
//! chosen per request by the path, for the host's fault soak
//! (`host/tests/it/soak.rs`).
//!
//! A connection's base URL selects its fault: `http://ADDR/fault/<name>`
//! (see [`FaultUpstream::base_url`]). The example adapter builds its URLs
//! from the base URL (`{base_url}/api/suppliers?...`), so every request of
//! that connection carries the fault in its path, and nothing the adapter
//! does can choose another. `GET .../api/me` answers as the demo API does,
//! so that the connection can be made; every other request is counted
//! ([`FaultUpstream::requests`]) and meets its fault. Every response closes
//! its connection, so each request is one exchange on one connection.
//!
//! A raw TCP server rather than the demo API's axum one: a fault is bytes
//! on the wire (a reset, a lying `Content-Length`, a head that drips), which
//! an HTTP server library exists to prevent.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A way to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// Reads the request and never answers.
    HangBeforeHeaders,
    /// Sends the head and part of the body, then nothing.
    HangMidBody,
    /// Sends the head, then resets the connection.
    ResetAfterHeaders,
    /// Sends a valid answer one byte every [`DRIP_EVERY`].
    Drip,
    /// Announces and sends 64 MiB (past any response cap).
    Oversized,
    /// Answers 200 with JSON cut short.
    InvalidJson,
    /// Answers 200 with JSON whose string holds bytes that are not UTF-8.
    InvalidUtf8,
    /// Announces 500 bytes, sends 12 and closes.
    WrongLength,
    /// Answers 500.
    Storm500,
    /// Answers 503 with `Retry-After: 1`.
    Storm503RetryAfter,
}

/// The pause between two bytes of [`Fault::Drip`].
pub const DRIP_EVERY: Duration = Duration::from_millis(100);

/// How long a hanging answer holds its connection at most, if the client
/// never closes it.
const MAX_HOLD: Duration = Duration::from_secs(300);

/// The largest request head read.
const MAX_HEAD: usize = 64 << 10;

impl Fault {
    pub const ALL: [Fault; 10] = [
        Fault::HangBeforeHeaders,
        Fault::HangMidBody,
        Fault::ResetAfterHeaders,
        Fault::Drip,
        Fault::Oversized,
        Fault::InvalidJson,
        Fault::InvalidUtf8,
        Fault::WrongLength,
        Fault::Storm500,
        Fault::Storm503RetryAfter,
    ];

    /// The fault's name in paths and reports.
    pub fn name(self) -> &'static str {
        match self {
            Fault::HangBeforeHeaders => "hang-before-headers",
            Fault::HangMidBody => "hang-mid-body",
            Fault::ResetAfterHeaders => "reset-after-headers",
            Fault::Drip => "drip",
            Fault::Oversized => "oversized",
            Fault::InvalidJson => "invalid-json",
            Fault::InvalidUtf8 => "invalid-utf8",
            Fault::WrongLength => "wrong-length",
            Fault::Storm500 => "storm-500",
            Fault::Storm503RetryAfter => "storm-503-retry-after",
        }
    }

    fn named(name: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.name() == name)
    }
}

#[derive(Default)]
struct Shared {
    /// Requests that met each fault.
    requests: Mutex<BTreeMap<Fault, u64>>,
    /// Connections open now.
    open: AtomicU64,
}

/// A running fault upstream. Dropping it stops accepting connections.
pub struct FaultUpstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultUpstream {
    /// Starts on `addr` (port 0 picks a free one) on the current tokio runtime.
    pub async fn start(addr: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let task = tokio::spawn({
            let shared = shared.clone();
            async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        shared.open.fetch_add(1, Ordering::SeqCst);
                        let _ = serve(stream, &shared).await;
                        shared.open.fetch_sub(1, Ordering::SeqCst);
                    });
                }
            }
        });
        Ok(FaultUpstream { addr, shared, task })
    }

    /// The base URL of a connection whose every request meets `fault`.
    pub fn base_url(&self, fault: Fault) -> String {
        format!("http://{}/fault/{}", self.addr, fault.name())
    }

    /// Requests that met `fault` so far (`GET .../api/me` is not one).
    pub fn requests(&self, fault: Fault) -> u64 {
        self.shared
            .requests
            .lock()
            .unwrap()
            .get(&fault)
            .copied()
            .unwrap_or(0)
    }

    /// Connections open now: a client that gave up on a hanging answer
    /// closes its connection, and this count falls.
    pub fn open_connections(&self) -> u64 {
        self.shared.open.load(Ordering::SeqCst)
    }
}

/// Reads a request head and its body (ignored); answers its path, or
/// `None` if the client closed or sent something else.
async fn read_request(stream: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut buf = Vec::new();
    let end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if buf.len() > MAX_HEAD {
            return Ok(None);
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let Some(path) = head.split(' ').nth(1).map(String::from) else {
        return Ok(None);
    };
    let content_length = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = buf.len() - end;
    while body < content_length {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        body += n;
    }
    Ok(Some(path))
}

/// A whole answer with `status` and a JSON `body`, closing the connection.
fn answer(status: &str, extra_headers: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{extra_headers}\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// A head that announces `length` bytes of JSON.
fn head(length: usize) -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {length}\r\nconnection: close\r\n\r\n"
    )
}

/// Waits until the client closes the connection (or [`MAX_HOLD`]).
async fn hold(stream: &mut TcpStream) {
    let mut sink = [0u8; 1024];
    let _ = tokio::time::timeout(MAX_HOLD, async {
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

const PAGE: &[u8] =
    br#"{"items":[{"id":1,"displayName":"Acme"}],"total":1,"offset":0,"hasMore":false}"#;

async fn serve(mut stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let Some(path) = read_request(&mut stream).await? else {
        return Ok(());
    };
    // `/fault/<name>/<rest>`
    let mut segments = path.trim_start_matches('/').splitn(3, '/');
    let fault = match (segments.next(), segments.next()) {
        (Some("fault"), Some(name)) => Fault::named(name),
        _ => None,
    };
    let Some(fault) = fault else {
        let body = br#"{"error":"no such fault"}"#;
        return stream.write_all(&answer("404 Not Found", "", body)).await;
    };
    if segments.next().is_some_and(|r| r.starts_with("api/me")) {
        let me = br#"{"accountId":"faulty-1","company":"Faulty Systems","permissions":["suppliers:read","suppliers:write","products:read","products:write","orders:read","orders:write"]}"#;
        return stream.write_all(&answer("200 OK", "", me)).await;
    }
    *shared.requests.lock().unwrap().entry(fault).or_default() += 1;
    match fault {
        Fault::HangBeforeHeaders => hold(&mut stream).await,
        Fault::HangMidBody => {
            stream.write_all(head(1000).as_bytes()).await?;
            stream.write_all(br#"{"items":[{"id":1,"#).await?;
            hold(&mut stream).await;
        }
        Fault::ResetAfterHeaders => {
            stream.write_all(head(1000).as_bytes()).await?;
            stream.flush().await?;
            // Closing with a zero linger sends RST, not FIN.
            stream.set_zero_linger()?;
        }
        Fault::Drip => {
            for byte in answer("200 OK", "", PAGE) {
                stream.write_all(&[byte]).await?;
                tokio::time::sleep(DRIP_EVERY).await;
            }
        }
        Fault::Oversized => {
            let total = 64usize << 20;
            stream.write_all(head(total).as_bytes()).await?;
            let chunk = vec![b' '; 64 << 10];
            for _ in 0..total / chunk.len() {
                stream.write_all(&chunk).await?;
            }
        }
        Fault::InvalidJson => {
            stream
                .write_all(&answer(
                    "200 OK",
                    "",
                    br#"{"items":[{"id":1,"displayName":"#,
                ))
                .await?;
        }
        Fault::InvalidUtf8 => {
            let body = b"{\"items\":[{\"id\":1,\"displayName\":\"\xff\xfe\"}],\"total\":1,\"offset\":0,\"hasMore\":false}";
            stream.write_all(&answer("200 OK", "", body)).await?;
        }
        Fault::WrongLength => {
            stream.write_all(head(500).as_bytes()).await?;
            stream.write_all(br#"{"items":[]}"#).await?;
        }
        Fault::Storm500 => {
            let body = br#"{"error":"internal error"}"#;
            stream
                .write_all(&answer("500 Internal Server Error", "", body))
                .await?;
        }
        Fault::Storm503RetryAfter => {
            let body = br#"{"error":"overloaded"}"#;
            stream
                .write_all(&answer(
                    "503 Service Unavailable",
                    "retry-after: 1\r\n",
                    body,
                ))
                .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_has_a_name_of_its_own() {
        for fault in Fault::ALL {
            assert_eq!(Fault::named(fault.name()), Some(fault));
        }
    }
}
