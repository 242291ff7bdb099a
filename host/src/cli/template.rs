//! `interlink adapter new`: a new adapter project outside this repository,
//! from the files in `template/`: a crate that builds into a working
//! adapter (a manifest, vendors with list, get and create, a native test)
//! and a README that says how to build, check, test and load it.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use interlink::manifest::is_valid_id;

const CARGO_TOML: &str = include_str!("template/Cargo.toml.tmpl");
const LIB_RS: &str = include_str!("template/lib.rs.tmpl");
const README: &str = include_str!("template/README.md.tmpl");

#[derive(clap::Args)]
pub struct NewArgs {
    /// The adapter's id: lowercase letters, digits and `-`, starting with a
    /// letter (`acme-erp`).
    id: String,
    /// The project's folder (default: `./<id>`); it must not exist or be
    /// empty.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The `interlink-sdk` crate's folder. Default: the `sdk/` of the
    /// Interlink checkout this binary was built in.
    #[arg(long, env = "INTERLINK_SDK")]
    sdk: Option<PathBuf>,
}

/// The SDK of the checkout this binary was built in
/// (`<checkout>/target/<profile>/interlink`).
fn find_sdk() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating this binary")?;
    exe.ancestors()
        .map(|dir| dir.join("sdk"))
        .find(|sdk| is_sdk(sdk))
        .context("no interlink-sdk found beside this binary: pass --sdk <folder of interlink-sdk>")
}

fn is_sdk(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("Cargo.toml"))
        .is_ok_and(|toml| toml.contains("name = \"interlink-sdk\""))
}

/// `text` with each `{{name}}` replaced.
fn fill(text: &str, id: &str, sdk: &str) -> String {
    text.replace("{{id}}", id).replace("{{sdk}}", sdk)
}

/// `interlink adapter new ID [--dir D] [--sdk S]`.
pub fn new(args: NewArgs) -> anyhow::Result<()> {
    if !is_valid_id(&args.id) {
        bail!(
            "`{}` is not an adapter id: 1-64 lowercase letters, digits or `-`, starting with a letter",
            args.id
        );
    }
    let dir = args.dir.unwrap_or_else(|| PathBuf::from(&args.id));
    if dir.exists() && std::fs::read_dir(&dir)?.next().is_some() {
        bail!("{} exists and is not empty", dir.display());
    }
    let sdk = match args.sdk {
        Some(sdk) if is_sdk(&sdk) => sdk,
        Some(sdk) => bail!("{} is not the interlink-sdk crate's folder", sdk.display()),
        None => find_sdk()?,
    };
    let sdk = sdk.canonicalize()?;
    // The checkout's lock file pins the project's dependencies to the
    // versions Interlink is built and tested with (cargo drops the rest).
    let lock = sdk.parent().map(|checkout| checkout.join("Cargo.lock"));
    // A TOML basic string: forward slashes need no escaping anywhere.
    let sdk = sdk
        .to_string_lossy()
        .replace('\\', "/")
        .replace('"', "\\\"");
    std::fs::create_dir_all(dir.join("src"))
        .with_context(|| format!("creating {}", dir.display()))?;
    for (path, text) in [
        ("Cargo.toml", CARGO_TOML),
        ("src/lib.rs", LIB_RS),
        ("README.md", README),
        (".gitignore", "/target\n"),
    ] {
        std::fs::write(dir.join(path), fill(text, &args.id, &sdk))
            .with_context(|| format!("writing {path}"))?;
    }
    if let Some(lock) = lock.filter(|l| l.exists()) {
        std::fs::copy(&lock, dir.join("Cargo.lock")).context("copying Cargo.lock")?;
    }
    println!(
        "Made the adapter `{id}` in {dir}. Next:\n  \
         cd {dir} && cargo test\n  \
         interlink adapter build {dir}\n\
         then load target/adapters/{id}.wasm into a host (its README says how).",
        id = args.id,
        dir = dir.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_placeholders() {
        assert!(is_valid_id("acme-erp2"));
        assert!(
            !is_valid_id("Acme")
                && !is_valid_id("2acme")
                && !is_valid_id("")
                && !is_valid_id("a_b")
        );
        assert_eq!(fill("x-{{id}} at {{sdk}}", "acme", "/s"), "x-acme at /s");
        for template in [CARGO_TOML, LIB_RS, README] {
            let filled = fill(template, "acme", "/s");
            assert!(!filled.contains("{{"), "{filled}");
        }
    }
}
