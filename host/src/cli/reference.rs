//! `interlink config-reference`: the configuration reference
//! (`docs/configuration.md`), made from the flags' own definitions so that
//! it cannot drift from them. `cargo xtask config-reference` writes it; the
//! `config` test fails when the file differs from what the binary prints.

use std::fmt::Write;

use clap::{Arg, ArgAction, Command};

/// The reference of `root`'s global flags and of its `serve` command, as
/// Markdown.
pub fn markdown(root: &Command) -> String {
    let mut root = root.clone();
    root.build();
    let mut out = String::from(HEADER);
    let globals: Vec<&Arg> = root.get_arguments().filter(|a| shown(a)).collect();
    out.push_str("\n## Every command\n");
    for arg in globals {
        section(&mut out, arg);
    }
    let serve = root
        .find_subcommand("serve")
        .expect("interlink has a serve command");
    out.push_str("\n## `interlink serve`\n\n");
    if let Some(about) = serve.get_about() {
        let _ = writeln!(out, "{}", sentence(&about.to_string()));
    }
    let (deprecated, current): (Vec<&Arg>, Vec<&Arg>) = serve
        .get_arguments()
        .filter(|a| !a.is_global_set() && a.get_id() != "help")
        .partition(|a| a.is_hide_set());
    for arg in current {
        section(&mut out, arg);
    }
    if !deprecated.is_empty() {
        out.push_str(
            "\n### Deprecated\n\nStill read, with a warning in the log; each names its successor.\n\n\
             | flag | environment variable | |\n|---|---|---|\n",
        );
        for arg in deprecated {
            let _ = writeln!(
                out,
                "| `--{}` | `{}` | {} |",
                arg.get_long().unwrap_or_default(),
                env(arg).unwrap_or_default(),
                one_line(&help(arg))
            );
        }
    }
    page_sizes(&mut out);
    out.push_str(FOOTER);
    out
}

/// The page sizes clients may ask for: limits of the API, not settings.
fn page_sizes(out: &mut String) {
    use interlink::api::{data, syncs};
    let _ = write!(
        out,
        "\n## Page sizes\n\nLimits of the API rather than settings: a page size out of them \
         is refused with 400 `invalid_query` (422 `invalid_schedule` for a sync schedule).\n\n\
         | pages of | default | at most |\n|---|---:|---:|\n\
         | live reads, `GET /v1/{{entity}}` (and the MCP door's list tools) | {} | {} |\n\
         | a sync's requests to its system, `PUT /v1/syncs/{{entity}}` `page_size` | {} | {} |\n\
         | stored records, `GET /v1/synced/{{entity}}` | {} | {} |\n",
        data::DEFAULT_PAGE_SIZE,
        data::MAX_PAGE_SIZE,
        interlink::sync::DEFAULT_PAGE_SIZE,
        interlink::sync::MAX_PAGE_SIZE,
        syncs::SYNCED_DEFAULT_PAGE_SIZE,
        syncs::SYNCED_MAX_PAGE_SIZE,
    );
}

const HEADER: &str = "# Configuration reference

<!-- Made from the flags' definitions by `cargo xtask config-reference`;
     the `config` test fails when this file is not what the binary prints. -->

Every setting is a flag and an environment variable: the flag wins when
both are given. Durations are written as `30s`, `500ms`, `2m` or `1h 30m`;
a bare number is seconds. Sizes are in the unit the flag's name says
(`--memory-limit-mib 64`). `interlink serve --help` prints the same.
";

const FOOTER: &str = "
## Other commands

`interlink cert generate` (key pairs and certificates for NetSuite),
`interlink adapter ...` (for adapter authors: `new`, `build`, `check`,
`test`, `conform`) and `interlink db copy` (SQLite into PostgreSQL) take
their arguments on the command line only: `interlink help COMMAND`.
";

fn shown(arg: &Arg) -> bool {
    !arg.is_hide_set() && !matches!(arg.get_id().as_str(), "help" | "version")
}

fn env(arg: &Arg) -> Option<String> {
    arg.get_env().map(|e| e.to_string_lossy().into_owned())
}

/// An argument's help as a sentence: clap drops the period that ends a
/// one-paragraph doc comment.
fn help(arg: &Arg) -> String {
    let text = arg
        .get_long_help()
        .or(arg.get_help())
        .map(ToString::to_string)
        .unwrap_or_default();
    sentence(text.trim_end())
}

fn sentence(text: &str) -> String {
    match text.chars().last() {
        Some('.' | ':' | '!' | '?') | None => text.to_string(),
        Some(_) => format!("{text}."),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One flag: its name and value, its variable and default, its help.
fn section(out: &mut String, arg: &Arg) {
    let long = arg.get_long().unwrap_or_default();
    let value = match arg.get_value_names().and_then(|names| names.first()) {
        Some(name) if arg.get_action().takes_values() => format!(" <{name}>"),
        _ => String::new(),
    };
    let _ = write!(out, "\n### `--{long}{value}`\n\n");
    let mut facts = Vec::new();
    if let Some(env) = env(arg) {
        facts.push(format!("`{env}`"));
    }
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|d| d.to_string_lossy().into_owned())
        .collect();
    if !defaults.is_empty() && arg.get_action().takes_values() {
        facts.push(format!("default `{}`", defaults.join(",")));
    }
    let possible: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| format!("`{}`", v.get_name()))
        .collect();
    if !possible.is_empty() && arg.get_action().takes_values() {
        facts.push(format!("one of {}", possible.join(", ")));
    }
    if matches!(arg.get_action(), ArgAction::Append) || arg.get_value_delimiter().is_some() {
        facts.push("repeatable, or comma-separated".to_string());
    }
    if !facts.is_empty() {
        let _ = writeln!(out, "{}\n", facts.join(" · "));
    }
    let _ = writeln!(out, "{}", help(arg));
}
