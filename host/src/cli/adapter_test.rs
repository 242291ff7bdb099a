//! `interlink adapter test FILE --cassette C [--record]`: an adapter run
//! against recorded upstream traffic. With `--record`, against the live
//! system (with `--config` and `--secret` values): every exchange at the
//! host boundary is kept in the cassette, secrets redacted, with what the
//! adapter answered. Without it, the cassette answers instead of a network,
//! on the clock of the recording, and the run fails on a request that was
//! not recorded (naming it) or on answers that differ from the recorded
//! ones.
//!
//! The run: `connect`; then for each entity that can be listed, its first
//! page (5 records) and `get` of the first record, when it has `get`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use interlink::manifest::Operation;
use interlink::outbound::cassette::{Exchange, Recorder, Replayer};
use interlink::outbound::{AdapterGrants, HttpClient, Outbound, network};
use interlink::runtime::{
    Adapter, CallContext, ListRequest, MemoryKv, Runtime, RuntimeConfig, Secrets, Services,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(clap::Args)]
pub struct TestArgs {
    /// The component (.wasm) to run.
    file: PathBuf,
    /// The cassette file: written with --record, read otherwise.
    #[arg(long)]
    cassette: PathBuf,
    /// Run against the live system and record.
    #[arg(long)]
    record: bool,
    /// A config value for recording, `name=value` (repeat).
    #[arg(long = "config", value_parser = pair)]
    config: Vec<(String, String)>,
    /// A secret config value for recording, `name=value` (repeat); never
    /// written to the cassette.
    #[arg(long = "secret", value_parser = pair)]
    secrets: Vec<(String, String)>,
    /// Networks the recording may reach although they are restricted
    /// (loopback, private), as for `interlink serve`.
    #[arg(long = "outbound-allow-network", value_delimiter = ',', value_parser = network::parse_network)]
    allow_networks: Vec<ipnet::IpNet>,
}

pub(super) fn pair(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("`{text}` is not name=value"))
}

/// What a cassette holds.
#[derive(Serialize, Deserialize)]
struct Cassette {
    adapter: String,
    version: String,
    /// The clock of the recording; replays run on it.
    recorded_at_ms: u64,
    config: BTreeMap<String, String>,
    /// The names of the secret config values used (never their values).
    secrets: Vec<String>,
    exchanges: Vec<Exchange>,
    /// What the adapter answered.
    results: Value,
}

/// Runs the adapter's calls; answers what it answered.
async fn exercise(adapter: &Adapter, ctx: &CallContext) -> anyhow::Result<Value> {
    let account = adapter
        .connect(ctx.clone())
        .await
        .context("connect failed")?;
    let mut entities = serde_json::Map::new();
    for entity in &adapter.manifest().entities {
        let can = |op| entity.operations.iter().any(|o| o.operation == op);
        if !can(Operation::List) {
            continue;
        }
        let request = ListRequest {
            entity: entity.name.clone(),
            cursor: None,
            page_size: 5,
            modified_after: None,
        };
        let page = adapter
            .list(ctx.clone(), &request)
            .await
            .with_context(|| format!("list {} failed", entity.name))?;
        let page = serde_json::to_value(&page)?;
        let first_id = page["records"][0]["id"].as_str().map(str::to_string);
        let mut results = json!({"list": page});
        if let (Some(id), true) = (first_id, can(Operation::Get)) {
            let record = adapter
                .get(ctx.clone(), &entity.name, &id)
                .await
                .with_context(|| format!("get {} {id} failed", entity.name))?;
            results["get"] = serde_json::from_str(record.get())?;
        }
        entities.insert(entity.name.clone(), results);
    }
    Ok(json!({"account": account, "entities": entities}))
}

fn runtime(
    outbound: Arc<dyn Outbound>,
    clock_ms: u64,
    grants: AdapterGrants,
) -> anyhow::Result<Runtime> {
    let services = Services::new(outbound, Arc::new(MemoryKv::default()))
        .with_fixed_clock(clock_ms)
        .with_adapter_grants(grants);
    Runtime::new(RuntimeConfig::default(), services, None)
}

fn context(config: BTreeMap<String, String>, secrets: BTreeMap<String, String>) -> CallContext {
    CallContext {
        connection_id: "cassette".into(),
        config,
        secrets: Secrets::new(secrets),
    }
}

/// `interlink adapter test`.
///
/// # Errors
///
/// The component or the cassette cannot be read, or the component does not
/// load; a call fails; recording: the cassette cannot be written;
/// replaying: the adapter sends a request the cassette did not record, or
/// answers differently from the recording.
pub async fn test(args: TestArgs) -> anyhow::Result<()> {
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    if args.record {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis() as u64;
        let secrets: BTreeMap<String, String> = args.secrets.into_iter().collect();
        let client = HttpClient::new(32 << 20, None)?;
        let recorder = Arc::new(Recorder::new(
            Arc::new(client),
            secrets.values().cloned().collect(),
        ));
        let grants = AdapterGrants::every_adapter(args.allow_networks);
        let adapter = runtime(recorder.clone(), now_ms, grants)?
            .load(bytes)
            .await?;
        let config: BTreeMap<String, String> = args.config.into_iter().collect();
        let results = exercise(&adapter, &context(config.clone(), secrets.clone())).await?;
        let cassette = Cassette {
            adapter: adapter.manifest().id.clone(),
            version: adapter.manifest().version.clone(),
            recorded_at_ms: now_ms,
            config,
            secrets: secrets.keys().cloned().collect(),
            exchanges: recorder.exchanges(),
            results,
        };
        let text = serde_json::to_string_pretty(&cassette)?;
        interlink_adapter_build::write_atomically(&args.cassette, text.as_bytes())?;
        println!(
            "recorded {} exchanges into {}",
            cassette.exchanges.len(),
            args.cassette.display()
        );
        return Ok(());
    }
    let text = std::fs::read_to_string(&args.cassette)
        .with_context(|| format!("reading {}", args.cassette.display()))?;
    let cassette: Cassette = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a cassette", args.cassette.display()))?;
    // Stand-ins: the host fills secret headers with them, and the cassette
    // matches requests by method, URL and body, never by secret.
    let secrets: BTreeMap<String, String> = cassette
        .secrets
        .iter()
        .map(|name| (name.clone(), format!("replay-{name}")))
        .collect();
    let replayer = Arc::new(Replayer::new(
        cassette.exchanges.clone(),
        secrets.values().cloned().collect(),
    ));
    let adapter = runtime(
        replayer.clone(),
        cassette.recorded_at_ms,
        AdapterGrants::default(),
    )?
    .load(bytes)
    .await?;
    let outcome = exercise(&adapter, &context(cassette.config.clone(), secrets)).await;
    let misses = replayer.misses();
    if !misses.is_empty() {
        bail!(
            "the adapter sent requests the cassette did not record:\n  {}",
            misses.join("\n  ")
        );
    }
    let results = outcome?;
    if results != cassette.results {
        bail!(
            "the adapter answered differently from the recording: {}",
            first_difference(&cassette.results, &results, String::new())
        );
    }
    println!(
        "replayed {} exchanges of {}: the answers match",
        cassette.exchanges.len(),
        args.cassette.display()
    );
    Ok(())
}

/// Where `got` first differs from `want`, as a JSON pointer and both values.
fn first_difference(want: &Value, got: &Value, at: String) -> String {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for key in w.keys().chain(g.keys()) {
                let (a, b) = (
                    w.get(key).unwrap_or(&Value::Null),
                    g.get(key).unwrap_or(&Value::Null),
                );
                if a != b {
                    return first_difference(a, b, format!("{at}/{key}"));
                }
            }
        }
        (Value::Array(w), Value::Array(g)) if w.len() == g.len() => {
            for (i, (a, b)) in w.iter().zip(g).enumerate() {
                if a != b {
                    return first_difference(a, b, format!("{at}/{i}"));
                }
            }
        }
        _ => {}
    }
    format!("at `{at}`: recorded {want}, now {got}")
}
