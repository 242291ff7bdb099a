//! Shared by the host's integration tests: the built adapters, a runtime,
//! connection contexts.
#![allow(dead_code)] // each test binary uses its own part of this module

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use interlink::outbound::ReqwestOutbound;
use interlink::runtime::{
    Adapter, CallContext, MemoryKv, Runtime, RuntimeConfig, Secrets, Services,
};

/// The cargo target folder, where `cargo xtask build-adapters` puts components.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// The built component `name` (`example`, `chaos`, `chaos-next`).
pub fn adapter_path(name: &str) -> PathBuf {
    let file = format!("{name}.wasm");
    for dir in ["adapters", "test-adapters"] {
        let path = target_dir().join(dir).join(&file);
        if path.exists() {
            return path;
        }
    }
    panic!("{file} is not built: run `cargo xtask test` (or `cargo xtask build-adapters` first)")
}

pub fn adapter_bytes(name: &str) -> Vec<u8> {
    std::fs::read(adapter_path(name)).unwrap()
}

pub fn runtime(config: RuntimeConfig) -> Runtime {
    let services = Services {
        outbound: Arc::new(ReqwestOutbound::new(1 << 20).unwrap()),
        kv: Arc::new(MemoryKv::default()),
    };
    Runtime::new(config, services, None).unwrap()
}

pub async fn load(runtime: &Runtime, name: &str) -> Adapter {
    runtime.load(adapter_bytes(name)).await.unwrap()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A connection's context with `config` and `secrets`.
pub fn ctx(config: &[(&str, &str)], secrets: &[(&str, &str)]) -> CallContext {
    CallContext {
        connection_id: "conn-1".into(),
        config: map(config),
        secrets: Secrets::new(map(secrets)),
    }
}

/// A running `interlink serve`, killed on drop.
pub struct Server {
    child: std::process::Child,
    pub base: String,
    pub data_dir: tempfile::TempDir,
    pub adapters_dir: tempfile::TempDir,
}

impl Server {
    /// Starts the real binary with copies of the built `adapters`.
    pub fn start(adapters: &[&str]) -> Server {
        use std::io::{BufRead, BufReader};
        use std::process::{Command, Stdio};

        let data_dir = tempfile::tempdir().unwrap();
        let adapters_dir = tempfile::tempdir().unwrap();
        for name in adapters {
            std::fs::copy(
                adapter_path(name),
                adapters_dir.path().join(format!("{name}.wasm")),
            )
            .unwrap();
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_interlink"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data_dir.path())
            .arg("--adapters-dir")
            .arg(adapters_dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let base = line
            .trim()
            .strip_prefix("interlink listening on ")
            .expect("the listening line")
            .to_string();
        Server {
            child,
            base,
            data_dir,
            adapters_dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn admin_key(&self) -> String {
        std::fs::read_to_string(self.data_dir.path().join("admin.key"))
            .unwrap()
            .trim()
            .to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
