//! A client of the sync and webhook API, for the tests of syncs (on SQLite
//! and on PostgreSQL).

use std::time::{Duration, Instant};

use demo_upstream::{DemoUpstream, Options};
use reqwest::{Method as M, StatusCode};
use serde_json::{Value, json};

use super::{Reply, Server, call};

/// The API as an operator and a customer's application use it.
pub struct Client {
    pub base: String,
    pub admin_key: String,
    pub http: reqwest::Client,
}

impl Client {
    pub fn new(server: &Server) -> Client {
        Client {
            base: server.base.clone(),
            admin_key: server.admin_key(),
            http: super::http(),
        }
    }

    pub async fn admin(&self, method: M, path: &str, body: Option<Value>) -> Reply {
        let url = format!("{}{path}", self.base);
        call(&self.http, method, url, &self.admin_key, body).await
    }

    pub async fn call(&self, token: &str, method: M, path: &str, body: Option<Value>) -> Reply {
        call(
            &self.http,
            method,
            format!("{}{path}", self.base),
            token,
            body,
        )
        .await
    }

    /// Subscribes the connection to `events` at `url`.
    pub async fn subscribe(&self, token: &str, url: &str, events: &[&str]) -> Reply {
        let body = json!({"url": url, "events": events});
        self.call(token, M::POST, "/v1/webhooks", Some(body)).await
    }

    /// The subscription's deliveries, newest first, with their attempts.
    pub async fn deliveries(&self, token: &str, subscription: &str) -> Vec<Value> {
        let path = format!("/v1/webhooks/{subscription}/deliveries");
        let reply = self.call(token, M::GET, &path, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.body["deliveries"].as_array().unwrap().clone()
    }

    /// Creates or replaces the sync schedule of `entity`.
    pub async fn schedule(&self, token: &str, entity: &str, body: Value) -> Reply {
        self.call(token, M::PUT, &format!("/v1/syncs/{entity}"), Some(body))
            .await
    }

    /// Connects the example adapter to the demo upstream.
    pub async fn connect_demo(&self, up: &DemoUpstream) -> (String, String) {
        let body = json!({"adapter": "example", "config": {"base_url": up.base_url()}, "credentials": {"api_key": "demo-key"}});
        let reply = self.admin(M::POST, "/v1/connections", Some(body)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        (
            reply.body["token"].as_str().unwrap().to_string(),
            reply.body["connection"]["id"].as_str().unwrap().to_string(),
        )
    }

    /// The connection's runs, newest first (through the admin plane, which
    /// also answers for disconnected connections).
    pub async fn runs(&self, connection: &str) -> Vec<Value> {
        let reply = self
            .admin(
                M::GET,
                &format!("/v1/connections/{connection}/sync-status"),
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.body["runs"].as_array().unwrap().clone()
    }

    /// Waits until the newest of `count` runs satisfies `done`.
    pub async fn wait_for_run(
        &self,
        connection: &str,
        count: usize,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let runs = self.runs(connection).await;
            if runs.len() >= count && done(&runs[0]) {
                return runs[0].clone();
            }
            assert!(Instant::now() < deadline, "no run as expected: {runs:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every stored record of `entity`, through the synced pages.
    pub async fn synced(&self, token: &str, entity: &str) -> Vec<Value> {
        let mut records = Vec::new();
        let mut cursor = String::new();
        loop {
            let page = self
                .call(
                    token,
                    M::GET,
                    &format!("/v1/synced/{entity}?page_size=1000{cursor}"),
                    None,
                )
                .await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.body);
            records.extend(page.body["data"].as_array().unwrap().iter().cloned());
            match page.body["next_cursor"].as_str() {
                Some(c) => cursor = format!("&cursor={c}"),
                None => return records,
            }
        }
    }
}

/// Whether a run (as `sync-status` lists it) succeeded.
pub fn succeeded(run: &Value) -> bool {
    run["status"] == "succeeded"
}

/// A demo upstream with `records` suppliers and nothing else.
pub async fn demo(records: usize) -> DemoUpstream {
    let up = DemoUpstream::start(
        "127.0.0.1:0".parse().unwrap(),
        Options {
            seed: false,
            ..Options::default()
        },
    )
    .await
    .unwrap();
    for n in 0..records {
        up.insert("suppliers", json!({"name": format!("Supplier {n:05}"), "contact": {"email": format!("s{n}@example.com")}}));
    }
    up
}

/// Asserts, from the pages `up` served after the first `before_sync` (the
/// live reads before the sync began), that a sync of `total` vendors in
/// pages of `page_size`, stopped after `before_kill` pages were asked for
/// with `committed` pages committed, resumed where it stopped: the first
/// page asked for after the stop is past the committed ones, every page was
/// read, and at most two (the one being committed at the kill, and the
/// next one, fetched beside it) twice. Catches a resumed run that restarts from page 1, which the run's
/// counts and the stored ids cannot show (both survive a restart from page
/// 1: re-read records count as unchanged), and one that skips a page.
pub fn assert_resumed_where_it_stopped(
    up: &DemoUpstream,
    before_sync: usize,
    before_kill: usize,
    committed: usize,
    page_size: usize,
    total: usize,
) {
    let pages: Vec<usize> = up
        .pages_served("suppliers")
        .iter()
        .skip(before_sync)
        .map(|p| p.offset)
        .collect();
    let resumed_at = pages[before_kill - before_sync];
    assert!(
        resumed_at >= committed * page_size,
        "resumed at offset {resumed_at}, though {committed} pages were committed before the kill"
    );
    let mut offsets = pages.clone();
    offsets.sort();
    let reread = offsets.len() - {
        offsets.dedup();
        offsets.len()
    };
    assert_eq!(
        offsets,
        (0..total.div_ceil(page_size))
            .map(|p| p * page_size)
            .collect::<Vec<_>>(),
        "every page read"
    );
    // The sync fetches the next page while it commits one: at the kill, at
    // most those two were read and not committed.
    assert!(reread <= 2, "{reread} pages read twice: {pages:?}");
}
