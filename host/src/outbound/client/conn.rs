//! One connection of the client, driven by the task that uses it: the
//! TCP or TLS stream, hyper's HTTP/1.1 connection over it, and the
//! [`Relay`] waker that lets one task poll both the connection and the
//! exchange waiting on it without waking itself.

use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use bytes::Bytes;
use futures::task::AtomicWaker;
use http_body_util::Full;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// A TCP or TLS stream.
pub(super) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

pub(super) type Connection = http1::Connection<TokioIo<Stream>, Full<Bytes>>;

/// A connection and its request handle, driven by whoever uses it.
pub(super) struct Conn {
    /// The address it is connected to, checked again for each request
    /// that would reuse it.
    pub(super) peer: IpAddr,
    pub(super) sender: http1::SendRequest<Full<Bytes>>,
    pub(super) driver: Connection,
    /// The driver finished: the connection is closed.
    pub(super) closed: bool,
    /// The waker the driver and what waits on it are polled with. One per
    /// connection: the driver keeps the waker it was last polled with.
    pub(super) relay: Arc<Relay>,
}

impl Conn {
    /// Runs `fut` while driving the connection; answers `None` when the
    /// connection closed before `fut` finished.
    ///
    /// The driver and `fut` wake each other as they work (the connection
    /// delivers the response to `fut`; reading the body tells the connection
    /// to read on). Both are polled here, by this task, so such a wake would
    /// reach the very task that is running. tokio takes that for a yield: it
    /// requeues the task and wakes another worker to steal it, a thread
    /// hand-over on every request. So both are polled with a [`Relay`]: a
    /// wake that arrives while they are being polled only has them polled
    /// again, here; one that arrives later (the socket is ready) wakes the
    /// task.
    pub(super) async fn drive<F: Future>(&mut self, fut: F) -> Option<F::Output> {
        let mut fut = std::pin::pin!(fut);
        let relay = self.relay.clone();
        let waker = Waker::from(relay.clone());
        std::future::poll_fn(|cx| {
            relay.task.register(cx.waker());
            let mut cx = Context::from_waker(&waker);
            for _ in 0..Relay::MAX_ROUNDS {
                relay.state.store(Relay::POLLING, Ordering::Release);
                if !self.closed
                    && let Poll::Ready(result) = Pin::new(&mut self.driver).poll(&mut cx)
                {
                    self.closed = true;
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "outbound connection failed");
                    }
                }
                // Also once closed: what the connection delivered before.
                let polled = fut.as_mut().poll(&mut cx);
                let woken = relay.end_round();
                if let Poll::Ready(out) = polled {
                    return Poll::Ready(Some(out));
                }
                if self.closed {
                    return Poll::Ready(None);
                }
                if !woken {
                    return Poll::Pending;
                }
            }
            // Still being woken after many rounds: yield to other tasks.
            relay.task.wake();
            Poll::Pending
        })
        .await
    }

    /// Whether the connection can take another request: open, idle, and not
    /// closed by the server meanwhile (found by polling it once).
    pub(super) fn reusable(&mut self) -> bool {
        if self.closed || self.sender.is_closed() {
            return false;
        }
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        if Pin::new(&mut self.driver).poll(&mut cx).is_ready() {
            self.closed = true;
            return false;
        }
        self.sender.is_ready()
    }
}

/// The waker [`Conn::drive`] polls with: a wake that arrives while `drive`
/// polls is only noted, for `drive` to poll again; any other wakes the
/// task.
#[derive(Default)]
pub(super) struct Relay {
    task: AtomicWaker,
    /// [`Relay::IDLE`], [`Relay::POLLING`] or [`Relay::WOKEN`].
    state: AtomicU8,
}

impl Relay {
    const IDLE: u8 = 0;
    const POLLING: u8 = 1;
    /// Woken while polling.
    const WOKEN: u8 = 2;
    /// Rounds of polling one `drive` poll may take before it yields.
    const MAX_ROUNDS: usize = 16;

    /// Ends a round of polling: whether a wake came during it.
    pub(super) fn end_round(&self) -> bool {
        self.state.swap(Self::IDLE, Ordering::AcqRel) == Self::WOKEN
    }
}

impl Wake for Relay {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Noted if `drive` is polling (it sees it when the round ends);
        // otherwise the task is woken.
        if self
            .state
            .compare_exchange(
                Self::POLLING,
                Self::WOKEN,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
            && self.state.load(Ordering::Acquire) != Self::WOKEN
        {
            self.task.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// A task's waker that counts its wakes.
    struct Wakes(AtomicUsize);

    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_wake_while_polling_is_noted_and_any_other_wakes_the_task() {
        let wakes = Arc::new(Wakes(AtomicUsize::new(0)));
        let relay = Arc::new(Relay::default());
        relay.task.register(&Waker::from(wakes.clone()));
        let waker = Waker::from(relay.clone());

        relay.state.store(Relay::POLLING, Ordering::Release);
        waker.wake_by_ref();
        waker.wake_by_ref();
        assert_eq!(
            wakes.0.load(Ordering::SeqCst),
            0,
            "the running task is not woken"
        );
        assert!(relay.end_round(), "the round saw the wake");

        relay.state.store(Relay::POLLING, Ordering::Release);
        assert!(!relay.end_round(), "a round without a wake");

        waker.wake_by_ref();
        assert_eq!(
            wakes.0.load(Ordering::SeqCst),
            1,
            "between rounds, the task is woken"
        );
    }
}
