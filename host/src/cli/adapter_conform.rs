//! `interlink adapter conform FILE --config NAME=VALUE --secret NAME=VALUE
//! [--wrong NAME=VALUE]`: the conformance suite (`interlink::conformance`)
//! run against the live system the config and secrets connect to. Writes
//! are dry runs: nothing in the system changes. Exits non-zero when a rule
//! fails, or is skipped without `--allow-skip`.

use std::sync::Arc;

use anyhow::{Context, bail};
use interlink::conformance;
use interlink::connections::{ConfigError, split_config};
use interlink::manifest::{ConfigField, ConfigType, Manifest};
use interlink::outbound::{AdapterGrants, HttpClient, network};
use interlink::runtime::{CallContext, MemoryKv, Runtime, RuntimeConfig, Secrets, Services};
use serde_json::{Map, Value, json};

#[derive(clap::Args)]
pub struct ConformArgs {
    /// The component (.wasm) to check.
    file: std::path::PathBuf,
    /// A config value of the connection, `name=value` (repeat;
    /// `name=@path` reads the value from a file).
    #[arg(long = "config", value_parser = super::adapter_test::pair)]
    config: Vec<(String, String)>,
    /// A secret config value of the connection, `name=value` (repeat;
    /// `name=@path` reads it from a file, e.g. a PEM private key).
    #[arg(long = "secret", value_parser = super::adapter_test::pair)]
    secrets: Vec<(String, String)>,
    /// A value (config or secret) that makes the system reject the
    /// connection, `name=value` (repeat), for the `unauthorized` rule.
    /// Without it, every text secret is replaced by a wrong one; an adapter
    /// without one skips the rule.
    #[arg(long = "wrong", value_parser = super::adapter_test::pair)]
    wrong: Vec<(String, String)>,
    /// Networks the adapter may reach although they are restricted
    /// (loopback, private), as for `interlink serve`.
    #[arg(long = "outbound-allow-network", value_delimiter = ',', value_parser = network::parse_network)]
    allow_networks: Vec<ipnet::IpNet>,
    /// A rule that may be skipped: `RULE` on any subject, or `RULE:ENTITY`
    /// (repeat). Every other skip fails the run, as a failed rule does.
    #[arg(long = "allow-skip")]
    allow_skips: Vec<String>,
}

/// `interlink adapter conform`.
///
/// # Errors
///
/// The component cannot be read or does not load; a value's file cannot be
/// read, or the values (or the `--wrong` ones) are refused by the adapter's
/// config; a rule failed, or was skipped without `--allow-skip`.
pub async fn conform(args: ConformArgs) -> anyhow::Result<()> {
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let client = HttpClient::new(32 << 20, None)?;
    let services = Services::new(Arc::new(client), Arc::new(MemoryKv::default()))
        .with_adapter_grants(AdapterGrants::every_adapter(args.allow_networks));
    let runtime = Runtime::new(RuntimeConfig::default(), services, None)?;
    let adapter = runtime
        .load(bytes)
        .await
        .with_context(|| format!("{} does not load", args.file.display()))?;
    let manifest = adapter.manifest();
    let config = values(args.config)?;
    let credentials = values(args.secrets)?;
    let ctx = context(manifest, "conformance", &config, &credentials)?;
    let wrong = wrong_values(manifest, config, credentials, values(args.wrong)?);
    let wrong = match wrong {
        Some((config, credentials)) => Some(
            // Another connection: it shares no cached access token.
            context(manifest, "conformance-wrong", &config, &credentials)
                .context("the --wrong values")?,
        ),
        None => None,
    };
    println!(
        "{} {} (contract {}): the conformance suite",
        manifest.id, manifest.version, manifest.contract_version
    );
    let report = conformance::run(&adapter, &ctx, wrong.as_ref()).await;
    println!("{report}");
    let failed = report.failures().count();
    let skipped: Vec<String> = report
        .unexpected_skips(&args.allow_skips)
        .map(|c| match c.entity.as_str() {
            "" => c.rule.to_string(),
            entity => format!("{}:{entity}", c.rule),
        })
        .collect();
    match (failed, skipped.is_empty()) {
        (0, true) => Ok(()),
        (0, false) => bail!(
            "{} was not checked in full: {} skipped (run against a system with the records \
             these rules need, or allow them with --allow-skip)",
            manifest.id,
            skipped.join(", ")
        ),
        _ => bail!("{} does not conform: {failed} rule(s) failed", manifest.id),
    }
}

/// `name=value` pairs as a JSON object; `name=@path` reads the value from
/// a file (a PEM private key).
fn values(pairs: Vec<(String, String)>) -> anyhow::Result<Map<String, Value>> {
    pairs
        .into_iter()
        .map(|(name, value)| {
            let value = match value.strip_prefix('@') {
                Some(path) => std::fs::read_to_string(path)
                    .with_context(|| format!("reading {path} for `{name}`"))?,
                None => value,
            };
            Ok((name, Value::String(value)))
        })
        .collect()
}

/// The call context of a connection with `config` and `credentials`,
/// checked and prepared as connecting does (a private key's algorithm).
fn context(
    manifest: &Manifest,
    connection_id: &str,
    config: &Map<String, Value>,
    credentials: &Map<String, Value>,
) -> anyhow::Result<CallContext> {
    let (public, secrets) = split_config(&manifest.config, config, credentials, None).map_err(
        |ConfigError(errors)| {
            let list: Vec<String> = errors
                .iter()
                .map(|e| format!("  - {}: {}", e.path, e.message))
                .collect();
            anyhow::anyhow!("the connection's values are refused:\n{}", list.join("\n"))
        },
    )?;
    Ok(CallContext {
        connection_id: connection_id.into(),
        config: public,
        secrets: Secrets::new(secrets),
    })
}

/// The values of a connection the system must reject: `wrong` over the
/// given ones, or, without any, every text secret changed; `None` when
/// there is nothing to change.
fn wrong_values(
    manifest: &Manifest,
    mut config: Map<String, Value>,
    mut credentials: Map<String, Value>,
    wrong: Map<String, Value>,
) -> Option<(Map<String, Value>, Map<String, Value>)> {
    if wrong.is_empty() {
        let text_secrets: Vec<&ConfigField> = manifest
            .config
            .iter()
            .filter(|f| f.secret && f.kind == ConfigType::Text)
            .collect();
        if text_secrets.is_empty() {
            return None;
        }
        for field in text_secrets {
            credentials.insert(field.name.clone(), json!("interlink-conformance-wrong"));
        }
    }
    for (name, value) in wrong {
        let secret = manifest.config.iter().any(|f| f.name == name && f.secret);
        if secret {
            credentials.insert(name, value);
        } else {
            config.insert(name, value);
        }
    }
    Some((config, credentials))
}
