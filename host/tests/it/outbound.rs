//! The host's HTTP client against real servers on loopback: connection
//! reuse, a server closing an idle connection, size and time limits, the
//! network policy on resolved addresses, and TLS with the operator's CA.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use interlink::outbound::{
    HttpClient, NetworkPolicy, Outbound, OutboundError, OutboundRequest, network,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A GET of `url`, allowed to reach loopback, where these servers run.
fn get(url: &str) -> OutboundRequest {
    OutboundRequest {
        network: NetworkPolicy::allowing(vec![network::parse_network("127.0.0.0/8").unwrap()]),
        method: http::Method::GET,
        url: url.parse().unwrap(),
        headers: vec![],
        body: None,
        timeout: Duration::from_secs(5),
    }
}

fn loopback(max_response_bytes: u64) -> HttpClient {
    HttpClient::new(max_response_bytes, None).unwrap()
}

/// A GET of `url` under the default policy, which allows no restricted
/// network.
fn strict_get(url: &str) -> OutboundRequest {
    OutboundRequest {
        network: NetworkPolicy::default(),
        ..get(url)
    }
}

/// A raw HTTP/1.1 server answering every request with `body`; it counts the
/// connections it accepts, and closes each connection after one response
/// when `close_after_one` (without saying so, as a server restarting would).
async fn server(body: &'static [u8], close_after_one: bool) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                loop {
                    let mut read = 0;
                    while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf[read..]).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => read += n,
                        }
                    }
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n",
                        body.len()
                    );
                    if socket.write_all(head.as_bytes()).await.is_err()
                        || socket.write_all(body).await.is_err()
                        || close_after_one
                    {
                        return;
                    }
                }
            });
        }
    });
    (format!("http://{addr}"), accepted)
}

#[tokio::test]
async fn connections_are_reused_and_a_closed_one_is_replaced() {
    let client = loopback(1 << 20);
    let (base, accepted) = server(b"hello", false).await;
    for _ in 0..5 {
        let response = client.send(get(&format!("{base}/x"))).await.unwrap();
        assert_eq!(
            (response.status, response.body.as_slice()),
            (200, &b"hello"[..])
        );
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "one connection for all");

    let (base, accepted) = server(b"again", true).await;
    for _ in 0..3 {
        let response = client.send(get(&format!("{base}/x"))).await.unwrap();
        assert_eq!(response.body, b"again");
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        3,
        "a new connection each time"
    );
}

#[tokio::test]
async fn responses_over_the_cap_and_silent_servers_are_refused() {
    let client = loopback(1024);
    let (base, _) = server(&[b'x'; 4096], false).await;
    assert_eq!(
        client.send(get(&format!("{base}/big"))).await.unwrap_err(),
        OutboundError::TooLarge(1024)
    );

    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let _accepting = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let mut request = get(&format!("http://{addr}/"));
    request.timeout = Duration::from_millis(200);
    assert_eq!(
        client.send(request).await.unwrap_err(),
        OutboundError::Timeout
    );
}

#[tokio::test]
async fn restricted_addresses_are_refused_after_resolution() {
    let (base, accepted) = server(b"secret", false).await;
    let port = base.rsplit(':').next().unwrap().to_string();
    let client = loopback(1 << 20);
    for url in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://localhost:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://[64:ff9b::7f00:1]:{port}/"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
    ] {
        match client.send(strict_get(&url)).await {
            Err(OutboundError::Refused(why)) => {
                assert!(why.contains("not one Interlink may connect to"), "{why}");
                assert!(
                    !why.contains("127.0.0.1") || url.contains("127.0.0.1"),
                    "{why}"
                );
                assert!(!why.contains("169.254") || url.contains("169.254"), "{why}");
            }
            other => panic!("{url}: {other:?}"),
        }
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "nothing connected");
    let response = client
        .send(get(&format!("http://localhost:{port}/")))
        .await
        .unwrap();
    assert_eq!(response.body, b"secret");
}

/// One client carries requests of several purposes, each under its own
/// policy: a connection pooled for a request that may reach loopback is not
/// reused for one that may not. Catches a pool that checks the address only
/// when it connects.
#[tokio::test]
async fn a_pooled_connection_serves_only_requests_whose_policy_allows_its_address() {
    let (base, accepted) = server(b"internal", false).await;
    let client = loopback(1 << 20);
    let allowed = client.send(get(&format!("{base}/"))).await.unwrap();
    assert_eq!(allowed.body, b"internal");
    match client.send(strict_get(&format!("{base}/"))).await {
        Err(OutboundError::Refused(_)) => {}
        other => panic!("the pooled connection was reused: {other:?}"),
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    client.send(get(&format!("{base}/"))).await.unwrap();
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "still pooled for its own"
    );
}

#[tokio::test]
async fn tls_trusts_the_operators_ca_and_nothing_unknown() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert_pem = certified.cert.pem();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                let mut buf = [0u8; 4096];
                let _ = tls.read(&mut buf).await;
                let _ = tls
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    let url = format!("https://localhost:{port}/");
    let trusting = HttpClient::new(1 << 20, Some(cert_pem.as_bytes())).unwrap();
    let response = trusting.send(get(&url)).await.unwrap();
    assert_eq!(
        (response.status, response.body.as_slice()),
        (200, &b"ok"[..])
    );

    let public_roots_only = HttpClient::new(1 << 20, None).unwrap();
    match public_roots_only.send(get(&url)).await {
        Err(OutboundError::Transport(why)) => assert!(why.contains("TLS"), "{why}"),
        other => panic!("an unknown issuer was trusted: {other:?}"),
    }
    assert!(HttpClient::new(1 << 20, Some(b"not a certificate")).is_err());
}
