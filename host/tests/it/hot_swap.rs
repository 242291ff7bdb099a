//! Hot-loading from the adapters folder: a changed file is swapped in without
//! failing calls in flight, and a broken one changes nothing.

use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use demo_upstream::{DemoUpstream, Options};
use interlink::registry::{Registry, watch};
use interlink::runtime::{ListRequest, RuntimeConfig};
use serde_json::Value;

fn list(entity: &str) -> ListRequest {
    ListRequest {
        entity: entity.into(),
        page_size: 10,
        ..Default::default()
    }
}

/// Polls `check` until it holds, for up to 20 s.
async fn eventually(what: &str, check: impl Fn() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

/// A registry over `dir`, loaded and watched.
async fn watched(dir: &std::path::Path) -> (Arc<Registry>, watch::FolderWatch) {
    let registry = Arc::new(Registry::new(runtime(RuntimeConfig::default()), dir));
    registry.load_dir().await.unwrap();
    let watch = watch::start(registry.clone()).unwrap();
    (registry, watch)
}

fn version(registry: &Registry) -> String {
    registry
        .get("chaos")
        .map(|a| a.manifest().version.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replacing_a_file_swaps_the_adapter_without_failing_calls_in_flight() {
    let up = DemoUpstream::start("127.0.0.1:0".parse().unwrap(), Options::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("chaos.wasm");
    std::fs::write(&file, adapter_bytes("chaos")).unwrap();

    let (registry, _watch) = watched(dir.path()).await;
    assert_eq!(version(&registry), "1.0.0");

    let ctx = ctx(&[("base_url", &up.base_url())], &[("api_key", "demo-key")]);
    let in_flight: Vec<_> = (0..8)
        .map(|_| {
            let adapter = registry.get("chaos").unwrap();
            let ctx = ctx.clone();
            tokio::spawn(async move { adapter.list(ctx, &list("slow")).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // A plain overwrite, not an atomic rename: the watcher may see the file
    // half-written, which must not disturb anything.
    std::fs::write(&file, adapter_bytes("chaos-next")).unwrap();

    for call in in_flight {
        let page = call.await.unwrap().expect("no call in flight fails");
        let record: Value = serde_json::from_str(page.records[0].get()).unwrap();
        assert_eq!(
            record["version"], "1.0.0",
            "calls finish on the version they started with"
        );
    }
    eventually("version 2.0.0 to be swapped in", || {
        version(&registry) == "2.0.0"
    })
    .await;
    let page = registry
        .get("chaos")
        .unwrap()
        .list(ctx, &list("echo"))
        .await
        .unwrap();
    let record: Value = serde_json::from_str(page.records[0].get()).unwrap();
    assert_eq!(record["version"], "2.0.0", "new calls see the new version");
    assert!(
        registry.load_errors().is_empty(),
        "{:?}",
        registry.load_errors()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_file_is_rejected_and_the_old_version_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("chaos.wasm");
    std::fs::write(&file, adapter_bytes("chaos")).unwrap();
    let (registry, _watch) = watched(dir.path()).await;

    let mut corrupt = adapter_bytes("chaos-next");
    corrupt.truncate(corrupt.len() / 2);
    std::fs::write(&file, corrupt).unwrap();

    eventually("the load error to be reported", || {
        !registry.load_errors().is_empty()
    })
    .await;
    let errors = registry.load_errors();
    assert!(
        errors[0]
            .error
            .as_deref()
            .unwrap()
            .contains("not a valid WebAssembly component"),
        "{errors:?}"
    );
    assert_eq!(
        errors[0].adapter.as_deref(),
        Some("chaos"),
        "the error names the adapter still serving"
    );
    assert_eq!(version(&registry), "1.0.0");
    registry
        .get("chaos")
        .unwrap()
        .list(ctx(&[], &[]), &list("echo"))
        .await
        .unwrap();

    // Fixing the file heals it.
    std::fs::write(&file, adapter_bytes("chaos-next")).unwrap();
    eventually("the fixed file to load", || version(&registry) == "2.0.0").await;
    assert!(registry.load_errors().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_files_load_and_removed_files_unload() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, _watch) = watched(dir.path()).await;
    assert!(registry.get("example").is_none());

    std::fs::write(dir.path().join("example.wasm"), adapter_bytes("example")).unwrap();
    eventually("the new adapter to load", || {
        registry.get("example").is_some()
    })
    .await;

    std::fs::remove_file(dir.path().join("example.wasm")).unwrap();
    eventually("the adapter to unload", || {
        registry.get("example").is_none()
    })
    .await;
}

/// The registry's own read of a file is no change: once a file is loaded,
/// nothing opens it again until it changes. Files dropped after the spy
/// starts are the barrier: once the registry has loaded them, it has gone
/// through its events since, and would have read the first file again by
/// then if reading were a change (as it once was, five times a second).
/// Catches a watch that takes its own reads for changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loaded_file_is_not_read_again_until_it_changes() {
    use notify::Watcher;
    use notify::event::{AccessKind, EventKind};

    let dir = tempfile::tempdir().unwrap();
    let (registry, _watch) = watched(dir.path()).await;
    let loaded = dir.path().join("example.wasm");
    std::fs::write(&loaded, adapter_bytes("example")).unwrap();
    eventually("the new adapter to load", || {
        registry.get("example").is_some()
    })
    .await;

    let opens = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut spy = notify::recommended_watcher({
        let opens = opens.clone();
        let loaded = loaded.canonicalize().unwrap();
        move |event: notify::Result<notify::Event>| {
            if let Ok(event) = event
                && matches!(event.kind, EventKind::Access(AccessKind::Open(_)))
                && event
                    .paths
                    .iter()
                    .any(|p| p.canonicalize().is_ok_and(|p| p == loaded))
            {
                opens.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
    })
    .unwrap();
    spy.watch(dir.path(), notify::RecursiveMode::NonRecursive)
        .unwrap();
    std::fs::write(dir.path().join("chaos.wasm"), adapter_bytes("chaos")).unwrap();
    eventually("the barrier to load", || registry.get("chaos").is_some()).await;
    // A second barrier: a settling after the events the first one's load made.
    std::fs::write(dir.path().join("chaos.wasm"), adapter_bytes("chaos-next")).unwrap();
    eventually("the second barrier to load", || {
        version(&registry) == "2.0.0"
    })
    .await;
    assert_eq!(
        opens.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the registry read an unchanged file again"
    );
}

#[tokio::test]
async fn two_files_cannot_serve_the_same_adapter() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.wasm"), adapter_bytes("chaos")).unwrap();
    std::fs::write(dir.path().join("b.wasm"), adapter_bytes("chaos-next")).unwrap();
    let registry = Registry::new(runtime(RuntimeConfig::default()), dir.path());
    registry.load_dir().await.unwrap();
    assert_eq!(version(&registry), "1.0.0", "the first file keeps the id");
    let errors = registry.load_errors();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0]
            .error
            .as_deref()
            .unwrap()
            .contains("already served from"),
        "{errors:?}"
    );
}

/// The version of `chaos` the running server lists.
async fn served_version(server: &Server) -> Option<String> {
    let reply = call(
        &crate::common::http(),
        reqwest::Method::GET,
        server.url("/v1/adapters"),
        &server.admin_key(),
        None,
    )
    .await;
    reply.body["adapters"]
        .as_array()?
        .iter()
        .find(|a| a["id"] == "chaos")
        .map(|a| a["version"].as_str().unwrap_or_default().to_string())
}

/// As `cargo xtask serve` runs it: a relative `--adapters-dir`, here also a
/// symlink to the real folder; files dropped in by a copy over the old one
/// and by an editor's write-then-rename are both swapped in. (Before, with a
/// relative folder, a new version was refused as "already served".)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_file_into_a_relative_linked_folder_swaps_it_in() {
    let cwd = tempfile::tempdir().unwrap();
    std::fs::create_dir(cwd.path().join("real-adapters")).unwrap();
    std::os::unix::fs::symlink("real-adapters", cwd.path().join("adapters")).unwrap();
    let server = Server::start_with(ServerOptions {
        adapters: &["chaos"],
        adapters_dir: Some("adapters".into()),
        working_dir: Some(cwd.path().to_path_buf()),
        ..Default::default()
    });
    assert_eq!(served_version(&server).await.as_deref(), Some("1.0.0"));
    let file = cwd.path().join("adapters/chaos.wasm");

    // `cp chaos-next.wasm adapters/chaos.wasm`
    std::fs::write(&file, adapter_bytes("chaos-next")).unwrap();
    crate::common::eventually(Duration::from_secs(20), "the copied file", || async {
        (served_version(&server).await.as_deref() == Some("2.0.0")).then_some(())
    })
    .await;

    // An editor's save: a temporary file renamed over the old one.
    let temporary = cwd.path().join("adapters/.chaos.wasm.swp");
    std::fs::write(&temporary, adapter_bytes("chaos")).unwrap();
    std::fs::rename(&temporary, &file).unwrap();
    crate::common::eventually(Duration::from_secs(20), "the renamed file", || async {
        (served_version(&server).await.as_deref() == Some("1.0.0")).then_some(())
    })
    .await;

    assert!(
        !server.logs().contains("already served"),
        "one file, one adapter: {}",
        server.logs()
    );
}

/// Through the real binary over HTTP: four list calls are held in the
/// upstream when a new version is uploaded, so the swap lands while they are
/// in flight (the upload answers while the upstream still holds all four).
/// All four succeed on the version they started with, whose request says
/// `limit=3`; the next call runs the new one, whose request says `count=3`.
/// Catches an upload that waits for calls to drain, a swap that fails or
/// moves calls in flight, and one whose new version is not what serves next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_over_http_swaps_while_calls_are_in_flight() {
    let demo = Demo::start(
        Options::default(),
        ServerOptions {
            adapters: &["example"],
            ..Default::default()
        },
    )
    .await;
    swap_while_four_calls_are_held(&demo, "example", "example-changed").await;
}

/// Through the real binary over HTTP: four list calls are held in the
/// upstream when a new build is dropped into the adapters folder (a plain
/// copy over the old file, as `cp` writes it, which the watcher may see
/// half-written). The swap is awaited by polling `GET /v1/adapters/example`
/// until it serves the new file's SHA-256, with a deadline; the upstream
/// still holds the four then. All four succeed on the version they started
/// with (`limit=3`); the next call runs the new one (`count=3`); no load
/// error stays. Catches a watcher that misses a file written in place, a
/// swap that waits for calls to drain or fails them, and a half-written
/// file left as an error. Broken once (the watcher took only created and
/// removed files for changes, not a file written in place): the swap never
/// came, and the test failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_dropped_into_the_folder_swaps_while_calls_are_in_flight() {
    let demo = Demo::start(
        Options::default(),
        ServerOptions {
            adapters: &["example"],
            ..Default::default()
        },
    )
    .await;
    let next = adapter_bytes("example-changed");
    let sha256 = interlink::runtime::sha256_hex(&next);
    let served = || async {
        call(
            &demo.http,
            reqwest::Method::GET,
            demo.server.url("/v1/adapters/example"),
            &demo.server.admin_key(),
            None,
        )
        .await
        .body["sha256"]
            .as_str()
            .map(String::from)
    };
    assert_ne!(served().await.as_deref(), Some(sha256.as_str()));
    four_calls_held_across(&demo, async {
        std::fs::write(demo.server.adapters_dir.join("example.wasm"), &next).unwrap();
        // Within the upstream's hold: the host gives up on a request at 20 s.
        crate::common::eventually(Duration::from_secs(15), "the dropped file", || async {
            (served().await.as_deref() == Some(sha256.as_str())).then_some(())
        })
        .await;
    })
    .await;
    let list = call(
        &demo.http,
        reqwest::Method::GET,
        demo.server.url("/v1/adapters"),
        &demo.server.admin_key(),
        None,
    )
    .await;
    assert_eq!(list.body["load_errors"], serde_json::json!([]));
}
