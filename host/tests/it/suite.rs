//! The test suite's own rules, checked on its source: a test waits for
//! state, never for time. A fixed sleep longer than 100 ms is either
//! synchronization (which passes on a fast machine and fails on a slow one)
//! or an absence check (which proves nothing about what happens later);
//! both are replaced by polling the state with a deadline
//! (`common::eventually`) or by paused time (`start_paused = true`).

use std::path::Path;

/// The longest fixed sleep a test may take, outside paused time.
const MAX_SLEEP_MS: u64 = 100;

/// The text between the parentheses that open at `open`.
fn argument(text: &str, open: usize) -> &str {
    let mut depth = 0;
    for (i, c) in text[open..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &text[open + 1..open + i];
                }
            }
            _ => {}
        }
    }
    &text[open + 1..]
}

/// Whether a sleep for `argument` is allowed: a literal
/// `Duration::from_millis(N)` with N at most [`MAX_SLEEP_MS`].
fn short(argument: &str) -> bool {
    let argument: String = argument.split_whitespace().collect();
    let millis = argument
        .trim_start_matches("std::time::")
        .strip_prefix("Duration::from_millis(")
        .and_then(|rest| rest.strip_suffix(')'))
        .and_then(|n| n.replace('_', "").parse::<u64>().ok());
    millis.is_some_and(|ms| ms <= MAX_SLEEP_MS)
}

/// Whether the test around byte `at` runs in paused time.
fn paused(text: &str, at: usize) -> bool {
    text[..at].rfind("#[tokio::test").is_some_and(|test| {
        text[test..at]
            .lines()
            .next()
            .is_some_and(|attr| attr.contains("start_paused = true"))
    })
}

/// Every fixed sleep of `text` longer than allowed, as `file:line: call`.
fn long_sleeps(file: &str, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in text.match_indices("sleep(") {
        let line = text[..at].matches('\n').count() + 1;
        let source_line = text[..at].rsplit('\n').next().unwrap_or_default();
        if source_line.trim_start().starts_with("//") {
            continue;
        }
        let arg = argument(text, at + "sleep".len());
        if !short(arg) && !paused(text, at) {
            found.push(format!("{file}:{line}: sleep({arg})"));
        }
    }
    found
}

fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            out.push((path.display().to_string(), text));
        }
    }
}

/// No test of `host/tests` sleeps longer than 100 ms outside paused time.
#[test]
fn no_test_sleeps_for_longer_than_100_ms() {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests"),
        &mut files,
    );
    assert!(files.len() > 20, "the tests' sources were found");
    let long: Vec<String> = files
        .iter()
        .filter(|(file, _)| !file.ends_with("suite.rs"))
        .flat_map(|(file, text)| long_sleeps(file, text))
        .collect();
    assert!(
        long.is_empty(),
        "wait for state with a deadline (common::eventually), not for time:\n{}",
        long.join("\n")
    );
}

/// The rule itself: what it lets through and what it finds.
#[test]
fn the_sleep_rule_finds_long_and_computed_sleeps() {
    let text = "\
        tokio::time::sleep(Duration::from_millis(20)).await;\n\
        std::thread::sleep(std::time::Duration::from_millis(100));\n\
        tokio::time::sleep(Duration::from_millis(1_100)).await;\n\
        tokio::time::sleep(Duration::from_secs(3)).await;\n\
        tokio::time::sleep(watch::SETTLE * 3).await;\n\
        // tokio::time::sleep(Duration::from_secs(9)).await;\n\
        #[tokio::test(start_paused = true)]\n\
        async fn paused() { tokio::time::sleep(Duration::from_secs(60)).await; }\n";
    assert_eq!(
        long_sleeps("x.rs", text),
        [
            "x.rs:3: sleep(Duration::from_millis(1_100))",
            "x.rs:4: sleep(Duration::from_secs(3))",
            "x.rs:5: sleep(watch::SETTLE * 3)",
        ]
    );
}
