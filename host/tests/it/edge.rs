//! The edge's limits through the real binary, over loopback: slow clients
//! (slowloris) are closed within the header timeout while others are
//! served, the connection cap holds new connections until one closes, idle
//! connections close after the keep-alive timeout, a body that does not
//! arrive in time is answered 408, and SIGTERM lets the request in flight
//! finish (`host/src/api/edge.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::*;
use reqwest::{Method as M, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The address of a server's base URL.
fn addr(base: &str) -> String {
    base.trim_start_matches("http://").to_string()
}

/// Waits until the server closes `stream` (EOF or reset), reading and
/// dropping whatever it sends; answers when.
async fn closed(stream: &mut TcpStream) -> Instant {
    let mut sink = [0u8; 1024];
    while let Ok(n) = stream.read(&mut sink).await {
        if n == 0 {
            break;
        }
    }
    Instant::now()
}

/// A slowloris client: a request line and part of a header, then a byte
/// every 250 ms, until the server closes the connection; answers how long
/// the connection stayed open.
async fn slow_client(addr: String, opened: Arc<AtomicUsize>) -> Duration {
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let start = Instant::now();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    opened.fetch_add(1, Ordering::SeqCst);
    let (mut read, mut write) = stream.split();
    let trickle = async {
        let mut every = tokio::time::interval(Duration::from_millis(250));
        loop {
            every.tick().await;
            if write.write_all(b"a").await.is_err() {
                // The server closed: the read side will say so.
                std::future::pending::<()>().await;
            }
        }
    };
    let mut sink = [0u8; 1024];
    let eof = async {
        while let Ok(n) = read.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    };
    tokio::select! {
        () = eof => {}
        () = trickle => {}
    }
    start.elapsed()
}

/// Before: `axum::serve` ran hyper without a timer, so 300 connections that
/// sent a header line every 10 s all stayed open past 40 s, up to the fd
/// limit. Now 1,000 slow connections (a partial header, then a byte every
/// 250 ms) are each closed within the header timeout (2 s here, by flag;
/// the cap and the other limits at their defaults), while another client's
/// `GET /healthz` and data reads keep being answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_clients_are_closed_within_the_header_timeout_while_others_are_served() {
    // 1,000 sockets here and as many in the server, which inherits this
    // process's limit: raise it to the hard limit, and use fewer
    // connections if even that is too low.
    let limit = interlink::api::edge::raise_open_files_limit();
    let slow = 1_000.min(limit.saturating_sub(200) / 2) as usize;
    assert!(slow >= 100, "the open-file limit ({limit}) is too low");
    if slow < 1_000 {
        eprintln!("the open-file limit ({limit}) allows {slow} slow connections, not 1,000");
    }
    let header_timeout = Duration::from_secs(2);
    let demo = Demo::start(
        demo_upstream::Options::default(),
        ServerOptions {
            adapters: &["example"],
            args: &["--header-read-timeout", "2"],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(first_vendor_page(&demo).await, 3);
    let files = demo.server.open_files();

    let opened = Arc::new(AtomicUsize::new(0));
    let attack: Vec<_> = (0..slow)
        .map(|_| tokio::spawn(slow_client(addr(&demo.server.base), opened.clone())))
        .collect();
    eventually(
        Duration::from_secs(30),
        "every slow connection open",
        || async { (opened.load(Ordering::SeqCst) == slow).then_some(()) },
    )
    .await;
    // Each ends when the server closes it (a connection left in the
    // backlog would never see its end).
    let attack = tokio::spawn(futures::future::join_all(attack));

    // Another client, served all along.
    let healthy = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut served = 0;
    let deadline = Instant::now() + header_timeout + Duration::from_secs(10);
    while !attack.is_finished() && Instant::now() < deadline {
        let health = healthy.get(demo.server.url("/healthz")).send().await;
        assert_eq!(health.unwrap().status(), StatusCode::OK);
        let page = call(
            &healthy,
            M::GET,
            demo.server.url("/v1/vendors?page_size=3"),
            &demo.token,
            None,
        )
        .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        served += 1;
    }
    assert!(
        attack.is_finished(),
        "slow connections still open {:?} after the attack began",
        header_timeout + Duration::from_secs(10)
    );
    let open_for = attack.await.unwrap();
    let open_for: Vec<Duration> = open_for.into_iter().map(Result::unwrap).collect();
    let longest = open_for.iter().max().unwrap();
    assert!(
        *longest < header_timeout + Duration::from_millis(1500),
        "a slow connection stayed open {longest:?}"
    );
    assert!(
        served >= 3,
        "only {served} healthy rounds during the attack"
    );
    drop(healthy);
    eventually(
        Duration::from_secs(10),
        "the server's open files back to their level",
        || async {
            let server = &demo.server;
            (server.connections() == 0 && server.open_files() <= files + 1).then_some(())
        },
    )
    .await;
}

/// At the cap (16 here), new connections wait in the backlog, not held by
/// the server, until one closes; a connection that sends nothing
/// is closed after the keep-alive timeout (1 s here; the header timeout at
/// 30 s), which frees its slot for the one waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cap_holds_new_connections_until_one_closes_and_idle_ones_close() {
    let server = Server::start_with(ServerOptions {
        args: &[
            "--max-connections",
            "16",
            "--keep-alive-timeout",
            "1",
            "--header-read-timeout",
            "30",
        ],
        ..Default::default()
    });
    // No slot can free before the keep-alive timeout has run on the first
    // connection the server accepted, which is after this.
    let connecting = Instant::now();
    let mut silent = Vec::new();
    for _ in 0..24 {
        let mut stream = TcpStream::connect(addr(&server.base)).await.unwrap();
        silent.push(tokio::spawn(async move { closed(&mut stream).await }));
    }
    // A client that wants an answer, behind them in the backlog.
    let asked = tokio::spawn({
        let url = server.url("/healthz");
        async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap();
            let status = client.get(url).send().await.unwrap().status();
            (status, Instant::now())
        }
    });
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut most = 0;
    while !(asked.is_finished() && silent.iter().all(|s| s.is_finished())) {
        assert!(Instant::now() < deadline, "the cap never let them through");
        most = most.max(server.connections());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(most, 16, "connections held at the cap of 16");
    let (status, answered) = asked.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    // Measured from the server's side of the clock: when a silent client's
    // task saw its close depends on when the test's runtime polled it.
    assert!(
        answered >= connecting + Duration::from_secs(1),
        "the waiting client is served once a slot frees, not before: after {:?}",
        answered - connecting
    );
    for close in futures::future::join_all(silent).await {
        close.unwrap();
    }
    eventually(
        Duration::from_secs(10),
        "every connection closed",
        || async { (server.connections() == 0).then_some(()) },
    )
    .await;
}

/// A body that has not arrived whole within --body-read-timeout (1 s here)
/// is answered 408 `request_timeout` with the request id, and the
/// connection closes.
#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_answered_408() {
    let server = Server::start_with(ServerOptions {
        args: &["--body-read-timeout", "1"],
        ..Default::default()
    });
    let mut stream = TcpStream::connect(addr(&server.base)).await.unwrap();
    let head = format!(
        "POST /v1/connections HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"adapter\":",
        server.admin_key()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut reply))
        .await
        .expect("an answer, then the connection closed")
        .unwrap();
    let reply = String::from_utf8(reply).unwrap();
    let (head, body) = reply.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 408 "), "{reply}");
    let request_id = head
        .lines()
        .find_map(|l| l.strip_prefix("x-request-id: "))
        .expect("x-request-id");
    let body: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["error"]["code"], "request_timeout", "{body}");
    assert_eq!(body["error"]["request_id"], request_id, "{body}");
}

/// SIGTERM: the server stops accepting, the request in flight finishes and
/// is answered, then the process exits successfully.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_request_in_flight_finish() {
    let mut demo = Demo::example().await;
    demo.up.pause();
    let read = tokio::spawn({
        let (http, url, token) = (
            demo.http.clone(),
            demo.server.url("/v1/vendors?page_size=3"),
            demo.token.clone(),
        );
        async move { call(&http, M::GET, url, &token, None).await }
    });
    eventually(
        Duration::from_secs(10),
        "the read held upstream",
        || async { (demo.up.in_flight() == 1).then_some(()) },
    )
    .await;
    demo.server.terminate();
    let address = addr(&demo.server.base);
    eventually(Duration::from_secs(10), "the listener closed", || async {
        TcpStream::connect(&address).await.is_err().then_some(())
    })
    .await;
    assert!(demo.server.exited().is_none(), "it waits for the request");
    demo.up.resume();
    let page = tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let status = eventually(Duration::from_secs(10), "the server's exit", || {
        let status = demo.server.exited();
        async move { status }
    })
    .await;
    assert!(status.success(), "{status}");
}
