//! The edge: accepting TCP connections and reading HTTP/1 requests off
//! them, bounded so that no client can hold the host from the others.
//!
//! `axum::serve` runs hyper without a timer, so nothing limits how long a
//! request's head may take, how long a connection may sit idle, or how many
//! connections there are: a few hundred clients that trickle a header line
//! every few seconds each hold a file descriptor for as long as they like
//! (slowloris), and at the process's limit no one is served. [`serve`]
//! instead:
//!
//! 1. accepts a connection only with one of [`EdgeLimits::max_connections`]
//!    slots free (a semaphore). At the cap the listener is not polled: new
//!    connections wait in the kernel's backlog until a slot frees, and the
//!    connections being served lose nothing to an accept loop;
//! 2. serves each connection with hyper's HTTP/1 and tokio's timer:
//!    - a request's head must arrive whole within
//!      [`EdgeLimits::header_read_timeout`] of when the server starts waiting
//!      for it, on a new connection and after each answer on a kept-alive
//!      one (hyper's timer; it closes the connection);
//!    - a connection that handles no request, and on which no byte moves
//!      either way for [`EdgeLimits::keep_alive_timeout`], is closed: one
//!      waiting for its next request, or whose client stopped reading its
//!      answer;
//!    - a request's body must arrive whole within
//!      [`EdgeLimits::body_read_timeout`] of its head ([`BodyDeadline`]):
//!      past it reading fails, the client gets 408 `request_timeout`, and
//!      the connection closes;
//! 3. hands each request to the router with the client's address as
//!    axum's `ConnectInfo<SocketAddr>`, as `into_make_service_with_connect_info`
//!    would;
//! 4. on shutdown, stops accepting, lets each connection finish the request
//!    it serves, and returns once every connection is closed.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

use crate::duration;

/// The most connections the default cap allows, whatever the open-file
/// limit: each costs memory (hyper's buffers, a task) as well as a file.
pub const MAX_DEFAULT_CONNECTIONS: u64 = 16_384;

/// How long the accept loop waits after an error other than a client's
/// (out of files): the host gets a chance to close some.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// How often, at most, the server logs that it is at its cap.
const AT_CAP_LOG_EVERY: Duration = Duration::from_secs(60);

/// The edge's limits; see the module's documentation for what each does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeLimits {
    pub max_connections: u32,
    pub header_read_timeout: Duration,
    pub keep_alive_timeout: Duration,
    pub body_read_timeout: Duration,
}

/// The edge's flags of `interlink serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct EdgeArgs {
    /// Connections the server holds at once; past it, new ones wait in the
    /// listen backlog until one closes. Default: half the open-file limit
    /// (the server raises its soft limit to the hard one), at most 16,384.
    #[arg(
        long,
        env = "INTERLINK_MAX_CONNECTIONS",
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub max_connections: Option<u32>,
    /// The time a client has to send a request's head (request line and
    /// headers), from when the server waits for it: on a new connection,
    /// and after each answer on a kept-alive one.
    #[arg(long, env = "INTERLINK_HEADER_READ_TIMEOUT", default_value = "30s", value_parser = duration::seconds)]
    pub header_read_timeout: Duration,
    /// How long a connection stays open while it handles no request and no
    /// byte moves: waiting for its next request, or for a client that
    /// stopped reading its answer. Behind a proxy that keeps idle
    /// connections longer, raise it (and --header-read-timeout) above the
    /// proxy's idle timeout.
    #[arg(long, env = "INTERLINK_KEEP_ALIVE_TIMEOUT", default_value = "20s", value_parser = duration::seconds)]
    pub keep_alive_timeout: Duration,
    /// The time a request's body has to arrive whole, from its head; past
    /// it the request fails with 408 `request_timeout`.
    #[arg(long, env = "INTERLINK_BODY_READ_TIMEOUT", default_value = "60s", value_parser = duration::seconds)]
    pub body_read_timeout: Duration,
}

impl EdgeArgs {
    /// The limits these flags set. Without `--max-connections`, raises the
    /// process's soft limit on open files to its hard limit, and takes half
    /// of it, at most [`MAX_DEFAULT_CONNECTIONS`].
    pub fn limits(&self) -> EdgeLimits {
        let max_connections = self.max_connections.unwrap_or_else(|| {
            let half = raise_open_files_limit() / 2;
            half.clamp(1, MAX_DEFAULT_CONNECTIONS) as u32
        });
        EdgeLimits {
            max_connections,
            header_read_timeout: self.header_read_timeout,
            keep_alive_timeout: self.keep_alive_timeout,
            body_read_timeout: self.body_read_timeout,
        }
    }
}

/// Raises the process's soft limit on open files to its hard limit;
/// answers the limit in force (unlimited as `u64::MAX`).
pub fn raise_open_files_limit() -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return limit.maximum.unwrap_or(u64::MAX);
        }
    }
    limit.current.unwrap_or(u64::MAX)
}

/// Serves `app` on `listener` within `limits` until `shutdown` completes,
/// then until every connection has finished the request it was serving.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: EdgeLimits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections as usize));
    let (closing, closing_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut at_cap_logged: Option<Instant> = None;
    loop {
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if at_cap_logged.is_none_or(|at| at.elapsed() >= AT_CAP_LOG_EVERY) {
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        "at the cap of open connections: new ones wait until one closes"
                    );
                    at_cap_logged = Some(Instant::now());
                }
                tokio::select! {
                    slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
                    () = &mut shutdown => break,
                }
            }
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    if !is_clients_error(&e) {
                        tracing::error!(error = %e, "could not accept a connection");
                        tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    }
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        tokio::spawn(serve_connection(
            stream,
            peer,
            app.clone(),
            limits,
            closing_rx.clone(),
            slot,
        ));
    }
    drop(listener);
    closing.send_replace(true);
    // Every connection holds a slot until it closes.
    let _all = slots.acquire_many(limits.max_connections).await;
}

/// An accept error that is about one client, not the server.
fn is_clients_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Serves one connection until it closes, holding `_slot` meanwhile. Each
/// request carries the client's address as axum's [`ConnectInfo`] (the
/// pages throttle sign-ins by it).
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: EdgeLimits,
    mut closing: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        stream,
        activity: activity.clone(),
    });
    let service = hyper::service::service_fn({
        let activity = activity.clone();
        move |request: http::Request<Incoming>| {
            let handling = Handling::start(&activity);
            let (mut parts, body) = request.into_parts();
            let deadline = BodyDeadline::new(limits.body_read_timeout);
            parts.extensions.insert(deadline.clone());
            parts.extensions.insert(ConnectInfo(peer));
            let request = http::Request::from_parts(parts, DeadlineBody::new(body, deadline));
            let app = app.clone();
            async move {
                let response = app.oneshot(request).await;
                drop(handling);
                response
            }
        }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let mut connection = std::pin::pin!(builder.serve_connection(io, service));
    let mut shutting_down = false;
    loop {
        let idle_at = activity.idle_at(limits.keep_alive_timeout);
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(e) = served {
                    // A client that timed out or went away: not the host's
                    // trouble, and a flood of them must not flood the log.
                    tracing::debug!(error = %e, "connection closed with an error");
                }
                return;
            }
            _ = closing.wait_for(|closing| *closing), if !shutting_down => {
                shutting_down = true;
                connection.as_mut().graceful_shutdown();
            }
            () = tokio::time::sleep_until(idle_at) => {
                if activity.idle_at(limits.keep_alive_timeout) <= Instant::now() {
                    tracing::debug!("closing an idle connection");
                    return;
                }
            }
        }
    }
}

/// What a connection is doing: requests being handled, and when a byte
/// last moved.
struct Activity {
    since: Instant,
    /// Milliseconds from `since` to when a byte last moved (or a request
    /// ended).
    last_ms: AtomicU64,
    handling: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Activity {
            since: Instant::now(),
            last_ms: AtomicU64::new(0),
            handling: AtomicUsize::new(0),
        }
    }

    fn touch(&self) {
        let ms = self.since.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// When the connection will have been idle for `timeout`: `timeout`
    /// from now while it handles a request.
    fn idle_at(&self, timeout: Duration) -> Instant {
        if self.handling.load(Ordering::Relaxed) > 0 {
            return Instant::now() + timeout;
        }
        self.since + Duration::from_millis(self.last_ms.load(Ordering::Relaxed)) + timeout
    }
}

/// A request being handled, until it is dropped (its answer is ready, or
/// the handling was cancelled).
struct Handling(Arc<Activity>);

impl Handling {
    fn start(activity: &Arc<Activity>) -> Self {
        activity.handling.fetch_add(1, Ordering::Relaxed);
        Handling(activity.clone())
    }
}

impl Drop for Handling {
    fn drop(&mut self) {
        self.0.touch();
        self.0.handling.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A connection's socket, noting when bytes move.
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = Pin::new(&mut this.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.touch();
        }
        read
    }
}

impl Watched {
    fn wrote(&self, written: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        written
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.wrote(written)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.wrote(written)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// A request's deadline for its body, in its extensions: whether it passed
/// (the API answers 408 `request_timeout` then).
#[derive(Debug, Clone)]
pub struct BodyDeadline {
    pub timeout: Duration,
    at: Instant,
    passed: Arc<AtomicBool>,
}

impl BodyDeadline {
    fn new(timeout: Duration) -> Self {
        BodyDeadline {
            timeout,
            at: Instant::now() + timeout,
            passed: Arc::default(),
        }
    }

    /// Whether reading the body failed because the deadline passed.
    pub fn passed(&self) -> bool {
        self.passed.load(Ordering::Relaxed)
    }
}

/// Reading a body stopped at its deadline.
#[derive(Debug, thiserror::Error)]
#[error("the request's body did not arrive within {0:?}")]
pub struct BodyTimedOut(Duration);

/// A request body that must arrive whole by its [`BodyDeadline`].
struct DeadlineBody {
    inner: Incoming,
    deadline: BodyDeadline,
    /// Made at the first read that has to wait.
    sleep: Option<Pin<Box<Sleep>>>,
}

impl DeadlineBody {
    fn new(inner: Incoming, deadline: BodyDeadline) -> Self {
        DeadlineBody {
            inner,
            deadline,
            sleep: None,
        }
    }
}

impl Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let at = this.deadline.at;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
        if sleep.as_mut().poll(cx).is_ready() {
            this.deadline.passed.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(BodyTimedOut(this.deadline.timeout).into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_connection_is_idle_once_nothing_moved_for_the_timeout_and_no_request_runs() {
        let timeout = Duration::from_secs(5);
        let activity = Arc::new(Activity::new());
        assert_eq!(activity.idle_at(timeout), activity.since + timeout);
        tokio::time::advance(Duration::from_secs(3)).await;
        let handling = Handling::start(&activity);
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(
            activity.idle_at(timeout),
            Instant::now() + timeout,
            "never idle while it handles a request"
        );
        drop(handling);
        assert_eq!(activity.idle_at(timeout), Instant::now() + timeout);
    }
}
