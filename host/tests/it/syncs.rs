//! Scheduled syncs and webhooks through the real binary: against the
//! NetSuite simulator, and against the demo upstream for volume, a kill -9
//! in the middle of a run, a disconnect during a run, the schedule's routes
//! (a run beside a running one, a deleted schedule, `backfill_since`), and
//! signed, retried webhook deliveries. Each test but the kill -9 one (which
//! `postgres.rs` runs on PostgreSQL) runs on both backends: `NAME::sqlite`
//! and `NAME::postgres`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::common::sync_client::{Client, assert_resumed_where_it_stopped, demo, succeeded};
use crate::common::*;
use demo_upstream::DemoUpstream;
use netsuite_sim::{Simulator, full_role};
use reqwest::{Method as M, StatusCode};
use serde_json::{Value, json};

async fn a_schedule_syncs_netsuite_and_an_incremental_run_picks_up_only_the_changes(
    backend: Backend,
) {
    let sim = Simulator::start("1234567").await.unwrap();
    let vendors: Vec<u64> = (0..25)
        .map(|n| sim.insert("vendor", json!({"companyName": format!("Vendor {n}")})))
        .collect();
    // Saved a few seconds ago: the changes below fall in a later second
    // than the next run's starting point (NetSuite's dates have seconds).
    for id in &vendors {
        sim.backdate("vendor", *id, Duration::from_secs(5));
    }
    let server = backend.serve(&["netsuite"]).await;
    let client = Client::new(&server);
    let cert = client
        .admin(M::GET, "/v1/certificates/platform", None)
        .await;
    sim.register_certificate(
        "platform",
        "client",
        cert.body["certificate"].as_str().unwrap(),
        full_role(),
    )
    .unwrap();
    let body = json!({"adapter": "netsuite", "config": {"account_id": "1234567", "client_id": "client",
        "certificate_id": "platform", "base_url": sim.url()}, "credentials": {"private_key": "platform"}});
    let connected = client.admin(M::POST, "/v1/connections", Some(body)).await;
    let token = connected.body["token"].as_str().unwrap().to_string();
    let id = connected.body["connection"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let too_short = client
        .schedule(&token, "vendors", json!({"interval_seconds": 5}))
        .await;
    too_short.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_schedule");
    let schedule = client
        .schedule(
            &token,
            "vendors",
            json!({"interval_seconds": 60, "page_size": 10}),
        )
        .await;
    assert_eq!(schedule.status, StatusCode::OK, "{}", schedule.body);

    let first = client.wait_for_run(&id, 1, succeeded).await;
    assert_eq!(
        (first["trigger"].as_str(), first["kind"].as_str()),
        (Some("schedule"), Some("full"))
    );
    assert_eq!(
        (first["added"].as_u64(), first["pages"].as_u64()),
        (Some(25), Some(3)),
        "{first}"
    );
    assert_eq!(client.synced(&token, "vendors").await.len(), 25);

    // Changed in NetSuite: one vendor renamed, one added.
    sim.update(
        "vendor",
        vendors[3],
        json!({"companyName": "Vendor 3, renamed"}),
    );
    let added = sim.insert("vendor", json!({"companyName": "Vendor 25"}));
    let reads_before = sim.requests().len();
    let manual = client
        .call(&token, M::POST, "/v1/syncs/vendors/run", None)
        .await;
    assert_eq!(manual.status, StatusCode::ACCEPTED, "{}", manual.body);
    assert_eq!(manual.body["request_id"], manual.request_id.as_str());
    let second = client.wait_for_run(&id, 2, succeeded).await;
    assert_eq!(second["kind"], "incremental");
    assert_eq!(
        (
            second["added"].as_u64(),
            second["updated"].as_u64(),
            second["unchanged"].as_u64()
        ),
        (Some(1), Some(1), Some(0)),
        "{second}"
    );
    let requests = sim.requests()[reads_before..].to_vec();
    assert!(
        requests[0].contains("q=lastModifiedDate+AFTER"),
        "{requests:?}"
    );
    assert_eq!(
        requests.iter().filter(|r| r.contains("/vendor/")).count(),
        2,
        "only the changed records were read: {requests:?}"
    );

    let stored = client.synced(&token, "vendors").await;
    assert_eq!(stored.len(), 26);
    let renamed = stored
        .iter()
        .find(|r| r["id"] == json!(vendors[3].to_string()))
        .unwrap();
    assert_eq!(renamed["record"]["name"], "Vendor 3, renamed");
    assert_eq!(renamed["run_id"], second["id"]);
    assert!(stored.iter().any(|r| r["id"] == json!(added.to_string())));
    // Read after the first run finished: exactly what the second one changed.
    let since = first["finished_at"].as_str().unwrap();
    let recent = client
        .call(
            &token,
            M::GET,
            &format!("/v1/synced/vendors?modified_after={since}"),
            None,
        )
        .await;
    assert_eq!(recent.status, StatusCode::OK, "{}", recent.body);
    let mut ids: Vec<&str> = recent.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    ids.sort();
    let mut expected = [vendors[3].to_string(), added.to_string()];
    expected.sort();
    assert_eq!(ids, expected, "{}", recent.body);
}

/// Proven by what the upstream served: after the restart, the run asks
/// only for pages it had not committed, each page of 100 is read once (the
/// two in flight at the kill at most twice), and nothing is marked deleted.
/// Catches a resumed run that restarts from page 1 (which the run's counts
/// cannot show: they survive the restart, and re-read records count as
/// unchanged), one that skips a page, and one whose restart ends in a full
/// run's deletion sweep.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_killed_mid_sync_resumes_after_a_restart_without_losing_or_duplicating() {
    let up = demo(20_000).await;
    up.set_delay(15);
    let server = Server::start(&["example"]);
    let client = Client::new(&server);
    let (token, id) = client.connect_demo(&up).await;
    let before_sync = up.pages_served("suppliers").len();
    let schedule = client
        .schedule(&token, "vendors", json!({"page_size": 100}))
        .await;
    assert_eq!(schedule.status, StatusCode::OK, "{}", schedule.body);
    let partial = client
        .wait_for_run(&id, 1, |r| {
            r["status"] == "running" && r["added"].as_u64().unwrap() >= 3000
        })
        .await;
    assert!(partial["added"].as_u64().unwrap() < 20_000);

    // kill -9: no chance to finish the page or the run.
    let (data_dir, adapters_dir, _dirs) = server.stop();
    let before_kill = up.pages_served("suppliers").len();
    up.set_delay(0);
    let server = Server::start_with(ServerOptions {
        data_dir: Some(data_dir),
        adapters_dir: Some(adapters_dir),
        ..Default::default()
    });
    let client = Client::new(&server);
    let done = client.wait_for_run(&id, 1, succeeded).await;
    assert_eq!(done["id"], partial["id"], "the same run resumed");
    assert_eq!(
        (done["added"].as_u64(), done["deleted"].as_u64()),
        (Some(20_000), Some(0)),
        "{done}"
    );
    assert!(server.logs().contains("resuming a sync run"));

    let committed = partial["pages"].as_u64().unwrap() as usize;
    assert_resumed_where_it_stopped(&up, before_sync, before_kill, committed, 100, 20_000);

    let records = client.synced(&token, "vendors").await;
    assert_eq!(records.len(), 20_000);
    assert!(records.iter().all(|r| r["deleted_at"].is_null()));
    let connection = client
        .admin(M::GET, &format!("/v1/connections/{id}"), None)
        .await;
    assert_eq!(connection.body["stored_records"]["vendors"], 20_000);
}

/// A disconnect in the middle of a run: the run asks for at most the pages
/// already in flight, and the scheduler, which certainly looked again (it
/// started another connection's run, due at the same time), starts no run
/// of the disconnected connection although its schedule is due. Catches a
/// run that reads on to the end after a disconnect, and a scheduler or a
/// run start that does not check the connection's status.
async fn a_disconnect_stops_a_running_sync_and_no_later_run_starts_but_the_data_stays(
    backend: Backend,
) {
    let up = demo(3_000).await;
    up.set_delay(40);
    let server = backend.serve(&["example"]).await;
    let client = Client::new(&server);
    let (token, id) = client.connect_demo(&up).await;
    let scheduled = client
        .schedule(&token, "vendors", json!({"page_size": 50}))
        .await;
    assert_eq!(scheduled.status, StatusCode::OK, "{}", scheduled.body);
    client
        .wait_for_run(&id, 1, |r| {
            r["status"] == "running" && r["added"].as_u64().unwrap() >= 200
        })
        .await;
    // Due again at once: only the running run holds the next one back.
    let due = client
        .schedule(&token, "vendors", json!({"page_size": 50}))
        .await;
    assert_eq!(due.status, StatusCode::OK, "{}", due.body);
    let next_run_at = humantime::parse_rfc3339(due.body["next_run_at"].as_str().unwrap()).unwrap();
    assert!(next_run_at <= SystemTime::now(), "{}", due.body);

    let disconnected = client
        .admin(M::POST, &format!("/v1/connections/{id}/disconnect"), None)
        .await;
    assert_eq!(disconnected.status, StatusCode::OK, "{}", disconnected.body);
    let asked_before = up.pages_served("suppliers").len();
    let stopped = client
        .wait_for_run(&id, 1, |r| r["status"] == "cancelled")
        .await;
    let asked_after = up.pages_served("suppliers").len();
    // The page in flight, and the next one, fetched while that one is
    // committed.
    assert!(
        asked_after <= asked_before + 2,
        "pages asked for after the disconnect: {}",
        asked_after - asked_before
    );
    let kept = stopped["added"].as_u64().unwrap();
    assert_eq!(kept, stopped["pages"].as_u64().unwrap() * 50, "{stopped}");
    assert!((200..3_000).contains(&kept), "{stopped}");

    // Another connection's schedule, due now: once its run has started, the
    // scheduler has looked at due schedules since the disconnect.
    let other = demo(1).await;
    let (other_token, other_id) = client.connect_demo(&other).await;
    client.schedule(&other_token, "vendors", json!({})).await;
    client.wait_for_run(&other_id, 1, succeeded).await;
    assert_eq!(
        client.runs(&id).await.len(),
        1,
        "no run started after the disconnect"
    );
    let connection = client
        .admin(M::GET, &format!("/v1/connections/{id}"), None)
        .await;
    assert_eq!(
        connection.body["stored_records"]["vendors"].as_u64(),
        Some(kept)
    );

    let deleted = client
        .admin(M::DELETE, &format!("/v1/connections/{id}/data"), None)
        .await;
    assert_eq!(deleted.body["deleted_records"].as_u64(), Some(kept));
    let connection = client
        .admin(M::GET, &format!("/v1/connections/{id}"), None)
        .await;
    assert_eq!(connection.body["stored_records"], json!({}));
}

/// Five suppliers upstream, a receiver that fails `failures` times, and a
/// host on `backend` that retries after 100 ms.
async fn webhook_setup(backend: Backend, failures: usize) -> (DemoUpstream, Receiver, Server) {
    let up = demo(5).await;
    let hook = receiver(failures).await;
    let server = backend
        .start(ServerOptions {
            adapters: &["example"],
            webhook_retry_base_ms: Some(100),
            ..Default::default()
        })
        .await;
    (up, hook, server)
}

async fn a_signed_webhook_reaches_its_receiver_after_two_failures(backend: Backend) {
    let (up, hook, server) = webhook_setup(backend, 2).await;
    let client = Client::new(&server);
    let (token, id) = client.connect_demo(&up).await;
    let bad = client
        .subscribe(&token, &hook.url, &["records.deleted"])
        .await;
    bad.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_subscription");
    let subscribed = client
        .subscribe(
            &token,
            &hook.url,
            &["records.changed", "connection.status_changed"],
        )
        .await;
    assert_eq!(
        subscribed.status,
        StatusCode::CREATED,
        "{}",
        subscribed.body
    );
    let secret = subscribed.body["secret"].as_str().unwrap().to_string();
    let subscription = subscribed.body["subscription"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    client.schedule(&token, "vendors", json!({})).await;
    client.wait_for_run(&id, 1, succeeded).await;

    let deadline = Instant::now() + Duration::from_secs(30);
    while hook.received.lock().unwrap().len() < 3 {
        assert!(Instant::now() < deadline, "three attempts expected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let received = hook.received.lock().unwrap().clone();
    let (headers, body) = &received[2];
    // Verified by the Standard Webhooks reference library, as receivers
    // do; a changed body or another secret is refused by it. Catches
    // signing anything but `<id>.<timestamp>.<body>` under the key the
    // `whsec_` secret encodes.
    assert!(secret.starts_with("whsec_"), "{secret}");
    standard_webhooks_verify(&secret, headers, body).expect("the delivery verifies");
    let tampered = body.replace("vendors", "items");
    assert!(standard_webhooks_verify(&secret, headers, &tampered).is_err());
    let other = "whsec_YSB3ZWJob29rIHNlY3JldCBvZiAzMiBieXRlcyEhISE=";
    assert!(standard_webhooks_verify(other, headers, body).is_err());
    let ids: Vec<&str> = received
        .iter()
        .map(|(h, _)| h["webhook-id"].to_str().unwrap())
        .collect();
    assert!(ids[0].starts_with("dlv_"), "{ids:?}");
    assert_eq!(ids, [ids[0]; 3], "one id on every retry of the delivery");

    // The deprecated header, still sent for one release.
    // Checked as a receiver would, from the documented scheme, by OpenSSL
    // rather than by the host's own code. Catches a host that signs
    // anything but `<t>.<body>` (shown once with `<t>:<body>`).
    let signature = headers["interlink-signature"].to_str().unwrap();
    let (t, v1) = signature
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
        .expect("t=<seconds>,v1=<hex>");
    let signed = format!("{t}.{body}");
    assert_eq!(v1, openssl_hmac_sha256(&secret, &signed));
    assert_ne!(v1, openssl_hmac_sha256("another secret", &signed));
    let age = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .abs_diff(t.parse().unwrap());
    assert!(age < 60, "a fresh timestamp: {age} s");
    assert_eq!(headers["interlink-attempt"], "3");
    let event: Value = serde_json::from_str(body).unwrap();
    assert_eq!(event["event"], "records.changed");
    assert_eq!(event["entity"], "vendors");
    assert_eq!(event["added"].as_array().unwrap().len(), 5);
    assert_eq!(
        received[0].1, received[2].1,
        "every attempt sends the same event"
    );

    // The receiver has the third attempt before the host records it.
    let delivery = eventually(Duration::from_secs(10), "the delivery recorded", || async {
        let delivery = client.deliveries(&token, &subscription).await[0].clone();
        (delivery["status"] == "delivered").then_some(delivery)
    })
    .await;
    let statuses: Vec<u64> = delivery["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [500, 500, 204]);

    // The system starts refusing the key: the connection's new status is announced.
    up.set_api_key("rotated");
    let refused = client.call(&token, M::GET, "/v1/vendors", None).await;
    refused.assert_error(
        StatusCode::UNAUTHORIZED,
        "connection_requires_reauthorization",
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while hook.received.lock().unwrap().len() < 4 {
        assert!(Instant::now() < deadline, "a status event expected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (headers, body) = hook.received.lock().unwrap()[3].clone();
    assert_eq!(headers["interlink-event"], "connection.status_changed");
    let event: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(event["status"], "requires_reauthorization");
    assert_eq!(event["connection_id"], id.as_str());
}

/// A disconnect drops the connection's pending deliveries. Proven without
/// waiting a fixed time: another connection's delivery, failing on the same
/// backoff and started after the disconnect, reaches its fifth attempt
/// (1.5 s of retries), by which time the dropped delivery would have been
/// tried at least twice more. Catches a disconnect that leaves deliveries
/// pending, and a dispatcher that sends them anyway.
async fn a_disconnect_drops_pending_webhook_deliveries(backend: Backend) {
    let (up, hook, server) = webhook_setup(backend, usize::MAX).await;
    let client = Client::new(&server);
    let (token, id) = client.connect_demo(&up).await;
    subscribe(
        &client.http,
        &client.base,
        &token,
        &hook.url,
        &["records.changed"],
    )
    .await;
    client.schedule(&token, "vendors", json!({})).await;
    let attempts = |hook: &Receiver| hook.received.lock().unwrap().len();
    eventually(Duration::from_secs(30), "two failed attempts", || async {
        (attempts(&hook) >= 2).then_some(())
    })
    .await;
    let disconnected = client
        .admin(M::POST, &format!("/v1/connections/{id}/disconnect"), None)
        .await;
    assert_eq!(disconnected.status, StatusCode::OK, "{}", disconnected.body);
    let at_disconnect = attempts(&hook);
    let witness = receiver(usize::MAX).await;
    let other = demo(1).await;
    let (other_token, other_id) = client.connect_demo(&other).await;
    subscribe(
        &client.http,
        &client.base,
        &other_token,
        &witness.url,
        &["records.changed"],
    )
    .await;
    client.schedule(&other_token, "vendors", json!({})).await;
    client.wait_for_run(&other_id, 1, succeeded).await;
    eventually(
        Duration::from_secs(30),
        "the witness's fifth attempt",
        || async { (attempts(&witness) >= 5).then_some(()) },
    )
    .await;
    assert!(
        attempts(&hook) <= at_disconnect + 1,
        "attempts after the disconnect: {} (one may have been on the wire)",
        attempts(&hook) - at_disconnect
    );
}

/// Rotation and replay, verified by the Standard Webhooks reference
/// library: after a rotation with a grace period a delivery carries a
/// signature under each secret (either verifies it); after one without, only
/// the new secret does. A replay sends the delivery again with its
/// `webhook-id` and event, signed afresh. Catches signing with the new
/// secret only during the grace period, keeping the old one after a rotation
/// without grace, and a replay that makes a new delivery id.
async fn a_rotated_secret_signs_beside_the_old_one_for_its_grace_and_a_replay_resends_the_delivery(
    backend: Backend,
) {
    let (up, hook, server) = webhook_setup(backend, 0).await;
    let client = Client::new(&server);
    let (token, id) = client.connect_demo(&up).await;
    let subscribed = client
        .subscribe(&token, &hook.url, &["records.changed"])
        .await;
    let first_secret = subscribed.body["secret"].as_str().unwrap().to_string();
    let subscription = subscribed.body["subscription"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let rotate = |body: Value| {
        let (client, token, subscription) = (&client, &token, &subscription);
        async move {
            client
                .call(
                    token,
                    M::POST,
                    &format!("/v1/webhooks/{subscription}/rotate-secret"),
                    Some(body),
                )
                .await
        }
    };

    let rotated = rotate(json!({})).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let second_secret = rotated.body["secret"].as_str().unwrap().to_string();
    assert!(second_secret.starts_with("whsec_") && second_secret != first_secret);
    let grace_ends = humantime::parse_rfc3339(
        rotated.body["subscription"]["previous_secret_expires_at"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let grace = grace_ends.duration_since(SystemTime::now()).unwrap();
    assert!(
        grace > Duration::from_secs(23 * 3600),
        "24 h by default: {grace:?}"
    );

    client.schedule(&token, "vendors", json!({})).await;
    client.wait_for_run(&id, 1, succeeded).await;
    let first = eventually(Duration::from_secs(30), "the first delivery", || async {
        hook.received.lock().unwrap().first().cloned()
    })
    .await;
    let (headers, body) = &first;
    let signatures = headers["webhook-signature"].to_str().unwrap();
    assert_eq!(signatures.split(' ').count(), 2, "{signatures}");
    standard_webhooks_verify(&second_secret, headers, body).expect("the new secret verifies");
    standard_webhooks_verify(&first_secret, headers, body)
        .expect("the old secret verifies during its grace period");

    // A rotation without grace: only the newest secret signs from now on.
    let rotated = rotate(json!({"grace_period_seconds": 0})).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    assert!(rotated.body["subscription"]["previous_secret_expires_at"].is_null());
    let third_secret = rotated.body["secret"].as_str().unwrap().to_string();

    // Send the first delivery again.
    let delivery = headers["webhook-id"].to_str().unwrap().to_string();
    let replayed = client
        .call(
            &token,
            M::POST,
            &format!("/v1/webhooks/{subscription}/deliveries/{delivery}/replay"),
            None,
        )
        .await;
    assert_eq!(replayed.status, StatusCode::ACCEPTED, "{}", replayed.body);
    let again = eventually(Duration::from_secs(30), "the replayed delivery", || async {
        hook.received.lock().unwrap().get(1).cloned()
    })
    .await;
    let (headers, replayed_body) = &again;
    assert_eq!(headers["webhook-id"], delivery.as_str(), "the same id");
    assert_eq!(replayed_body, body, "the same event");
    assert_eq!(
        headers["webhook-signature"]
            .to_str()
            .unwrap()
            .split(' ')
            .count(),
        1
    );
    standard_webhooks_verify(&third_secret, headers, replayed_body)
        .expect("the newest secret verifies");
    assert!(standard_webhooks_verify(&second_secret, headers, replayed_body).is_err());
    assert!(standard_webhooks_verify(&first_secret, headers, replayed_body).is_err());

    // The replay is recorded as the delivery's second attempt.
    let attempts = eventually(Duration::from_secs(10), "the replay recorded", || async {
        let found = client
            .deliveries(&token, &subscription)
            .await
            .into_iter()
            .find(|d| d["id"] == delivery.as_str())
            .unwrap();
        let attempts = found["attempts"].as_array().unwrap().len();
        (found["status"] == "delivered" && attempts == 2).then_some(attempts)
    })
    .await;
    assert_eq!(attempts, 2);

    // What is not there is named.
    client
        .call(
            &token,
            M::POST,
            &format!("/v1/webhooks/{subscription}/deliveries/dlv_nope/replay"),
            None,
        )
        .await
        .assert_error(StatusCode::NOT_FOUND, "delivery_not_found");
    client
        .call(
            &token,
            M::POST,
            "/v1/webhooks/wh_nope/rotate-secret",
            Some(json!({})),
        )
        .await
        .assert_error(StatusCode::NOT_FOUND, "subscription_not_found");
    rotate(json!({"grace_period_seconds": 864_000}))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_subscription");
}

/// Runs the Standard Webhooks reference library (`tests/standardwebhooks`)
/// over a delivery; answers why it refused one.
fn standard_webhooks_verify(
    secret: &str,
    headers: &axum::http::HeaderMap,
    body: &str,
) -> Result<(), String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let python = target_dir().join("standardwebhooks/bin/python");
    assert!(
        python.exists(),
        "{} is not installed: run `cargo xtask test`",
        python.display()
    );
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/standardwebhooks/verify.py");
    let headers: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap())))
        .collect();
    let given = json!({"secret": secret, "headers": headers, "body": body});
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(given.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// HMAC-SHA256 of `text` under `key`, in hex, by the `openssl` command line.
fn openssl_hmac_sha256(key: &str, text: &str) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", key, "-r"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the openssl command line");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// A record deleted upstream, end to end: a full run marks it deleted and
/// counts it, `/v1/synced` lists it as deleted (and keeps the others as they
/// were), and the run's `records.changed` event names it under `deleted`.
/// Catches a full run that skips `mark_unseen_deleted`, or an event that
/// leaves deletions out.
async fn a_record_deleted_upstream_is_marked_counted_listed_and_announced(backend: Backend) {
    let (up, hook, server) = webhook_setup(backend, 0).await;
    let client = Client::new(&server);
    let (token, id) = client.connect_demo(&up).await;
    subscribe(
        &client.http,
        &client.base,
        &token,
        &hook.url,
        &["records.changed"],
    )
    .await;
    client.schedule(&token, "vendors", json!({})).await;
    let first = client.wait_for_run(&id, 1, succeeded).await;
    assert_eq!(first["added"], 5, "{first}");

    let gone = 3;
    up.remove("suppliers", gone);
    let started = client
        .call(&token, M::POST, "/v1/syncs/vendors/run?full=true", None)
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    let second = client.wait_for_run(&id, 2, succeeded).await;
    assert_eq!(second["kind"], "full");
    assert_eq!(
        (&second["deleted"], &second["unchanged"], &second["added"]),
        (&json!(1), &json!(4), &json!(0)),
        "{second}"
    );

    let stored = client.synced(&token, "vendors").await;
    assert_eq!(stored.len(), 5, "a deleted record stays, marked");
    let deleted: Vec<&Value> = stored
        .iter()
        .filter(|r| !r["deleted_at"].is_null())
        .collect();
    assert_eq!(deleted.len(), 1, "{stored:?}");
    assert_eq!(deleted[0]["id"], gone.to_string());
    assert_eq!(deleted[0]["run_id"], second["id"]);

    let run_id = second["id"].as_str().unwrap().to_string();
    let event = eventually(Duration::from_secs(30), "the run's event", || async {
        hook.received
            .lock()
            .unwrap()
            .iter()
            .map(|(_, body)| serde_json::from_str::<Value>(body).unwrap())
            .find(|e| e["run_id"] == run_id.as_str())
    })
    .await;
    assert_eq!(event["deleted"], json!([gone.to_string()]), "{event}");
    assert_eq!(event["added"], json!([]), "{event}");
}

/// Starts a host on `backend` serving the example adapter, connected to an
/// upstream of `records` suppliers; answers the upstream, the host, a
/// client, the connection's token and id.
async fn sync_setup(
    backend: Backend,
    records: usize,
) -> (DemoUpstream, Server, Client, String, String) {
    let up = demo(records).await;
    let server = backend.serve(&["example"]).await;
    let client = Client::new(&server);
    let (token, id) = client.connect_demo(&up).await;
    (up, server, client, token, id)
}

/// Waits until the upstream holds a request (it is paused).
async fn held(up: &DemoUpstream) {
    eventually(Duration::from_secs(30), "a page held upstream", || async {
        (up.in_flight() >= 1).then_some(())
    })
    .await
}

/// A manual run while a run of the entity is running is refused with 409
/// `sync_running` and starts nothing, and of six asked for at once while
/// none runs, one starts. Catches a manual run started beside a running
/// one, also by requests racing each other.
async fn a_run_beside_a_running_one_is_refused_with_sync_running(backend: Backend) {
    let (up, _server, client, token, id) = sync_setup(backend, 5).await;
    let run_now = |full: bool| {
        let path = if full {
            "/v1/syncs/vendors/run?full=true"
        } else {
            "/v1/syncs/vendors/run"
        };
        client.call(&token, M::POST, path, None)
    };

    // The first run's first page is held in the upstream.
    up.pause();
    let scheduled = client
        .schedule(&token, "vendors", json!({"page_size": 2}))
        .await;
    assert_eq!(scheduled.status, StatusCode::OK, "{}", scheduled.body);
    held(&up).await;
    for reply in futures::future::join_all([run_now(false), run_now(true), run_now(false)]).await {
        reply.assert_error(StatusCode::CONFLICT, "sync_running");
    }
    assert_eq!(client.runs(&id).await.len(), 1, "nothing started beside it");
    up.resume();
    client.wait_for_run(&id, 1, succeeded).await;

    // Six at once: one starts.
    up.pause();
    let replies = futures::future::join_all((0..6).map(|_| run_now(false))).await;
    let started: Vec<&Reply> = replies
        .iter()
        .filter(|r| r.status == StatusCode::ACCEPTED)
        .collect();
    assert_eq!(started.len(), 1, "{replies:?}");
    for reply in replies.iter().filter(|r| r.status != StatusCode::ACCEPTED) {
        reply.assert_error(StatusCode::CONFLICT, "sync_running");
    }
    up.resume();
    let second = client.wait_for_run(&id, 2, succeeded).await;
    assert_eq!(second["id"], started[0].body["id"], "{second}");
    assert_eq!(client.runs(&id).await.len(), 2);
}

/// `DELETE /v1/syncs/{entity}` removes the schedule (204), though it was
/// due, and keeps the stored records: no run of it starts again, although
/// the scheduler certainly looked (it started another connection's run,
/// due later); a run or a second delete then is 404 `no_sync_schedule`.
/// Catches a delete that leaves the schedule due or only hides it from the
/// status, and one that drops the stored records.
async fn a_deleted_schedule_runs_no_more_and_its_records_stay(backend: Backend) {
    let (up, _server, client, token, id) = sync_setup(backend, 5).await;
    up.pause();
    let scheduled = client
        .schedule(&token, "vendors", json!({"page_size": 2}))
        .await;
    assert_eq!(scheduled.status, StatusCode::OK, "{}", scheduled.body);
    held(&up).await;
    // Due again at once, then deleted while its run still runs.
    let due = client
        .schedule(&token, "vendors", json!({"page_size": 2}))
        .await;
    assert_eq!(due.status, StatusCode::OK, "{}", due.body);
    let deleted = client
        .call(&token, M::DELETE, "/v1/syncs/vendors", None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    up.resume();
    let run = client.wait_for_run(&id, 1, succeeded).await;
    assert_eq!(run["added"], 5, "{run}");

    // Another connection's schedule, due now: once its run has started, the
    // scheduler has looked at due schedules since the delete.
    let other = demo(1).await;
    let (other_token, other_id) = client.connect_demo(&other).await;
    client.schedule(&other_token, "vendors", json!({})).await;
    client.wait_for_run(&other_id, 1, succeeded).await;
    assert_eq!(client.runs(&id).await.len(), 1, "no run after the delete");

    client
        .call(&token, M::POST, "/v1/syncs/vendors/run", None)
        .await
        .assert_error(StatusCode::NOT_FOUND, "no_sync_schedule");
    client
        .call(&token, M::DELETE, "/v1/syncs/vendors", None)
        .await
        .assert_error(StatusCode::NOT_FOUND, "no_sync_schedule");
    let status = client.call(&token, M::GET, "/v1/sync-status", None).await;
    assert_eq!(status.body["schedules"], json!([]), "{}", status.body);
    assert_eq!(
        client.synced(&token, "vendors").await.len(),
        5,
        "the stored records stay"
    );
}

/// `backfill_since` is where the first run starts: the upstream is asked
/// for the records updated since it (as the host normalizes it: UTC, to the
/// second), the run is incremental from it, and a schedule given a new
/// backfill point starts over from that one. Catches a first run that
/// ignores `backfill_since` (it reads everything: three records, no
/// `updated_since`), and a new backfill point that keeps the old position.
async fn backfill_since_is_where_the_first_run_starts(backend: Backend) {
    let (up, _server, client, token, id) = sync_setup(backend, 3).await;
    // Tomorrow, a date: nothing upstream was updated since.
    let tomorrow =
        humantime::format_rfc3339_seconds(SystemTime::now() + Duration::from_secs(86_400))
            .to_string()[..10]
            .to_string();
    let points = [
        (tomorrow.clone(), format!("{tomorrow}T00:00:00Z"), 0),
        (
            "2000-01-01T01:02:03.456+01:00".to_string(),
            "2000-01-01T00:02:03Z".to_string(),
            3,
        ),
    ];
    for (run, (since, normalized, added)) in points.into_iter().enumerate() {
        let before = up.pages_served("suppliers").len();
        let scheduled = client
            .schedule(&token, "vendors", json!({"backfill_since": since}))
            .await;
        assert_eq!(scheduled.status, StatusCode::OK, "{}", scheduled.body);
        assert_eq!(scheduled.body["backfill_since"], normalized.as_str());
        let done = client.wait_for_run(&id, run + 1, succeeded).await;
        assert_eq!(
            (&done["kind"], &done["modified_after"], &done["added"]),
            (&json!("incremental"), &json!(normalized), &json!(added)),
            "{done}"
        );
        let asked: Vec<Option<String>> = up.pages_served("suppliers")[before..]
            .iter()
            .map(|page| {
                reqwest::Url::parse(&format!("http://upstream/?{}", page.query))
                    .unwrap()
                    .query_pairs()
                    .find(|(name, _)| name == "updated_since")
                    .map(|(_, value)| value.into_owned())
            })
            .collect();
        assert_eq!(asked, [Some(normalized)], "what the run asked for");
    }
    assert_eq!(client.synced(&token, "vendors").await.len(), 3);
}

/// Stored records are mapped when they are read: a mapping set after a run
/// shows in the stored copy at once, with no new run (the stored data is
/// the system's, so a mapping can change any time). Catches a sync that
/// stores mapped records (the stored copy would keep the old names) and a
/// stored read that skips the mappings.
async fn a_new_mapping_shows_in_stored_records_without_a_new_run(backend: Backend) {
    let (_up, _server, client, token, id) = sync_setup(backend, 3).await;
    client.schedule(&token, "vendors", json!({})).await;
    client.wait_for_run(&id, 1, succeeded).await;
    let stored = client.synced(&token, "vendors").await;
    assert!(stored[0]["record"].get("custom").is_none(), "{stored:?}");

    let set = client
        .admin(
            M::PUT,
            &format!("/v1/connections/{id}/mappings"),
            Some(json!({"mappings": [{"entity": "vendors", "source": "email",
                "target": "custom.contact"}]})),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    let stored = client.synced(&token, "vendors").await;
    assert_eq!(stored.len(), 3);
    for r in &stored {
        let record = &r["record"];
        assert_eq!(record["custom"]["contact"], record["email"], "{record}");
        assert!(record["custom"]["contact"].is_string(), "{record}");
    }
    assert_eq!(client.runs(&id).await.len(), 1, "no new run");
}

on_both_backends!(
    a_schedule_syncs_netsuite_and_an_incremental_run_picks_up_only_the_changes,
    a_disconnect_stops_a_running_sync_and_no_later_run_starts_but_the_data_stays,
    a_signed_webhook_reaches_its_receiver_after_two_failures,
    a_disconnect_drops_pending_webhook_deliveries,
    a_rotated_secret_signs_beside_the_old_one_for_its_grace_and_a_replay_resends_the_delivery,
    a_record_deleted_upstream_is_marked_counted_listed_and_announced,
    a_run_beside_a_running_one_is_refused_with_sync_running,
    a_deleted_schedule_runs_no_more_and_its_records_stay,
    backfill_since_is_where_the_first_run_starts,
    a_new_mapping_shows_in_stored_records_without_a_new_run,
);
