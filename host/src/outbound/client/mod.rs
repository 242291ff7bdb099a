//! The one HTTP client of the host: adapters' requests and webhook
//! deliveries both go out through [`HttpClient`], each under the
//! [`NetworkPolicy`] of its purpose, which the request carries.
//!
//! - **Addresses are checked where they are used**: a host name is resolved
//!   here, every address it resolves to is checked against the request's
//!   policy, and the connection goes to a checked address, so a DNS answer
//!   cannot move a request to a refused one after the check (no rebinding
//!   window). A pooled connection is reused only for a request whose policy
//!   allows the address it is connected to.
//! - **HTTP/1.1 on hyper's connection API**, driven by the task that sent
//!   the request: no background task per connection, so an exchange wakes
//!   no other thread. Idle connections are pooled per origin and checked
//!   for a close before they are reused; a request the server never received
//!   is retried once on a new connection.
//! - **No redirects** (each hop would need its own checks), a deadline for
//!   the whole exchange, and a cap on response size.
//! - **TLS** with rustls and the Mozilla roots, plus the operator's own CA
//!   (`--outbound-ca-file`) for systems behind an internal CA.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use url::Url;

use super::network::NetworkPolicy;
use super::{Outbound, OutboundError, OutboundRequest, OutboundResponse};

mod conn;

use conn::{Conn, Stream};

/// Idle connections kept per origin.
const MAX_IDLE_PER_ORIGIN: usize = 32;
/// How long an idle connection is kept.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Where a connection goes: scheme, host and port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Origin {
    tls: bool,
    host: String,
    port: u16,
}

struct Idle {
    conn: Conn,
    since: Instant,
}

/// The host's HTTP client. Cheap to clone.
#[derive(Clone)]
pub struct HttpClient {
    inner: Arc<Inner>,
}

struct Inner {
    tls: TlsConnector,
    idle: Mutex<HashMap<Origin, Vec<Idle>>>,
    max_response_bytes: u64,
}

/// Why the client could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the CA file has no certificate that rustls accepts: {0}")]
    CaFile(String),
    #[error(transparent)]
    Tls(#[from] rustls::Error),
}

impl HttpClient {
    /// A client that refuses responses over `max_response_bytes`, trusting
    /// the Mozilla roots and the PEM certificates of `extra_roots`.
    ///
    /// # Errors
    ///
    /// [`ClientError`] when `extra_roots` holds no certificate rustls
    /// accepts, or TLS cannot be set up.
    pub fn new(max_response_bytes: u64, extra_roots: Option<&[u8]>) -> Result<Self, ClientError> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(pem) = extra_roots {
            let mut added = 0;
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| ClientError::CaFile(e.to_string()))?;
                roots
                    .add(cert)
                    .map_err(|e| ClientError::CaFile(e.to_string()))?;
                added += 1;
            }
            if added == 0 {
                return Err(ClientError::CaFile("no PEM certificate found".into()));
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(HttpClient {
            inner: Arc::new(Inner {
                tls: TlsConnector::from(Arc::new(config)),
                idle: Mutex::default(),
                max_response_bytes,
            }),
        })
    }

    /// A client with the same TLS trust that refuses responses over
    /// `max_response_bytes` (its own pool of connections).
    pub fn with_max_response(&self, max_response_bytes: u64) -> HttpClient {
        HttpClient {
            inner: Arc::new(Inner {
                tls: self.inner.tls.clone(),
                idle: Mutex::default(),
                max_response_bytes,
            }),
        }
    }

    /// Resolves `host` and answers the addresses `policy` allows.
    ///
    /// # Errors
    ///
    /// [`OutboundError::Refused`] when it resolves only to addresses the
    /// policy refuses (the message names the host, the log the address),
    /// [`OutboundError::Transport`] when it does not resolve.
    pub async fn resolve(
        &self,
        host: &str,
        port: u16,
        policy: &NetworkPolicy,
    ) -> Result<Vec<SocketAddr>, OutboundError> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let candidates: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((host, port))
                .await
                .map_err(|e| OutboundError::Transport(format!("cannot resolve {host}: {e}")))?
                .collect(),
        };
        let mut refusal = None;
        let allowed: Vec<SocketAddr> = candidates
            .into_iter()
            .filter(|a| match policy.check(host, a.ip()) {
                Ok(()) => true,
                Err(refused) => {
                    refusal.get_or_insert(refused);
                    false
                }
            })
            .collect();
        match (allowed.is_empty(), refusal) {
            (false, _) => Ok(allowed),
            (true, Some(refused)) => {
                tracing::warn!(host, ip = %refused.ip, restricted = refused.restricted.describe(), "outbound address refused");
                Err(OutboundError::Refused(refused.to_string()))
            }
            (true, None) => Err(OutboundError::Transport(format!(
                "{host} resolves to no address"
            ))),
        }
    }

    async fn connect(
        &self,
        origin: &Origin,
        policy: &NetworkPolicy,
    ) -> Result<Conn, OutboundError> {
        let addrs = self.resolve(&origin.host, origin.port, policy).await?;
        let mut last = None;
        let mut tcp = None;
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(stream) => {
                    tcp = Some((stream, addr.ip()));
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let (tcp, peer) = tcp.ok_or_else(|| {
            OutboundError::Transport(format!(
                "cannot connect to {}:{}: {}",
                origin.host,
                origin.port,
                last.map_or_else(|| "no address".into(), |e| e.to_string())
            ))
        })?;
        let _ = tcp.set_nodelay(true);
        let stream = if origin.tls {
            let name = ServerName::try_from(
                origin
                    .host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string(),
            )
            .map_err(|e| OutboundError::InvalidRequest(e.to_string()))?;
            let tls =
                self.inner.tls.connect(name, tcp).await.map_err(|e| {
                    OutboundError::Transport(format!("TLS with {}: {e}", origin.host))
                })?;
            Stream::Tls(Box::new(tls))
        } else {
            Stream::Plain(tcp)
        };
        let (sender, driver) = http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| OutboundError::Transport(e.to_string()))?;
        Ok(Conn {
            peer,
            sender,
            driver,
            closed: false,
            relay: Arc::default(),
        })
    }

    /// An idle connection to `origin` that can take a request under
    /// `policy`: one opened for a request of another purpose may be
    /// connected to an address this one may not reach.
    fn checkout(&self, origin: &Origin, policy: &NetworkPolicy) -> Option<Conn> {
        let mut idle = self.inner.idle.lock().unwrap();
        let list = idle.get_mut(origin)?;
        while let Some(at) = list
            .iter()
            .rposition(|i| policy.check(&origin.host, i.conn.peer).is_ok())
        {
            let mut candidate = list.remove(at);
            if candidate.since.elapsed() < IDLE_TIMEOUT && candidate.conn.reusable() {
                return Some(candidate.conn);
            }
        }
        None
    }

    fn checkin(&self, origin: Origin, conn: Conn) {
        if conn.closed || !conn.sender.is_ready() {
            return;
        }
        let mut idle = self.inner.idle.lock().unwrap();
        let list = idle.entry(origin).or_default();
        list.retain(|i| i.since.elapsed() < IDLE_TIMEOUT);
        if list.len() < MAX_IDLE_PER_ORIGIN {
            list.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
    }

    async fn exchange(&self, request: OutboundRequest) -> Result<OutboundResponse, OutboundError> {
        let origin = origin_of(&request.url)?;
        let policy = request.network.clone();
        let mut message = Some(build(request, &origin)?);
        // A reused connection may have been closed by the server just now: a
        // request it never took is sent again on a new connection, once.
        for retry in [true, false] {
            let (mut conn, reused) = match self.checkout(&origin, &policy) {
                Some(conn) => (conn, retry),
                None => (self.connect(&origin, &policy).await?, false),
            };
            let sending = conn
                .sender
                .try_send_request(message.take().expect("a message"));
            let sent = conn.drive(sending).await;
            let response = match sent {
                Some(Ok(response)) => response,
                Some(Err(mut e)) => match e.take_message() {
                    Some(unsent) if reused => {
                        message = Some(unsent);
                        continue;
                    }
                    _ => return Err(OutboundError::Transport(e.into_error().to_string())),
                },
                None => {
                    return Err(OutboundError::Transport(
                        "the connection closed before the response".into(),
                    ));
                }
            };
            let max = self.inner.max_response_bytes;
            let declared = response
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
            if declared.is_some_and(|n| n > max) {
                return Err(OutboundError::TooLarge(max));
            }
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_string())))
                .collect();
            let body = Limited::new(response.into_body(), max as usize);
            let body = match conn.drive(body.collect()).await {
                Some(Ok(collected)) => collected.to_bytes().to_vec(),
                Some(Err(e))
                    if e.downcast_ref::<http_body_util::LengthLimitError>()
                        .is_some() =>
                {
                    return Err(OutboundError::TooLarge(max));
                }
                Some(Err(e)) => return Err(OutboundError::Transport(e.to_string())),
                None => {
                    return Err(OutboundError::Transport(
                        "the connection closed in the middle of the response".into(),
                    ));
                }
            };
            self.checkin(origin, conn);
            return Ok(OutboundResponse {
                status,
                headers,
                body,
            });
        }
        unreachable!("the second try returns")
    }
}

/// The origin of an http(s) URL.
fn origin_of(url: &Url) -> Result<Origin, OutboundError> {
    let tls = match url.scheme() {
        "http" => false,
        "https" => true,
        other => {
            return Err(OutboundError::InvalidRequest(format!(
                "`{other}` is not http or https"
            )));
        }
    };
    let host = url
        .host_str()
        .ok_or_else(|| OutboundError::InvalidRequest(format!("`{url}` has no host")))?;
    Ok(Origin {
        tls,
        host: host.to_string(),
        port: url
            .port_or_known_default()
            .unwrap_or(if tls { 443 } else { 80 }),
    })
}

/// The HTTP/1.1 message of `request`: its path and query, `Host`, the
/// request's headers, the body.
fn build(
    request: OutboundRequest,
    origin: &Origin,
) -> Result<http::Request<Full<Bytes>>, OutboundError> {
    let mut target = request.url.path().to_string();
    if let Some(query) = request.url.query() {
        target.push('?');
        target.push_str(query);
    }
    let default_port = if origin.tls { 443 } else { 80 };
    let host = if origin.port == default_port {
        origin.host.clone()
    } else {
        format!("{}:{}", origin.host, origin.port)
    };
    let mut builder = http::Request::builder()
        .method(request.method)
        .uri(target)
        .header(http::header::HOST, host);
    let has_agent = request
        .headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("user-agent"));
    if !has_agent {
        builder = builder.header(
            http::header::USER_AGENT,
            concat!("interlink/", env!("CARGO_PKG_VERSION")),
        );
    }
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let body = Full::new(Bytes::from(request.body.unwrap_or_default()));
    builder
        .body(body)
        .map_err(|e| OutboundError::InvalidRequest(e.to_string()))
}

impl Outbound for HttpClient {
    fn send(
        &self,
        request: OutboundRequest,
    ) -> BoxFuture<'static, Result<OutboundResponse, OutboundError>> {
        let client = self.clone();
        Box::pin(async move {
            let timeout = request.timeout;
            tokio::time::timeout(timeout, client.exchange(request))
                .await
                .unwrap_or(Err(OutboundError::Timeout))
        })
    }
}
