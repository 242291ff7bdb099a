//! The frame every page shares: a readable, accessible layout with a small
//! stylesheet inline (no build step, no script).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use axum::http::HeaderValue;
use base64::Engine;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::Digest;

use super::brand::{Brand, LOGO_PATH};
use crate::connections::{Connection, Status};

const STYLE: &str = r#"
:root { color-scheme: light; --fg: #1d2430; --muted: #5b6472; --line: #d9dee5; --bg: #f6f7f9;
  --ok: #17603a; --ok-bg: #e3f4ea; --warn: #7a4b00; --warn-bg: #fdf0d5; --off: #5b6472; --off-bg: #eceef2;
  --bad: #9b1c1c; --bad-bg: #fde8e8; --accent: #1f4fd1; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header { background: #fff; border-bottom: 1px solid var(--line); padding: .6rem 1.5rem; display: flex; gap: 1.5rem; align-items: center; }
header .brand { font-weight: 700; font-size: 1.05rem; color: var(--fg); text-decoration: none; }
header nav { display: flex; gap: 1rem; flex: 1; }
header nav a { color: var(--muted); text-decoration: none; padding: .2rem 0; }
header nav a[aria-current=page] { color: var(--fg); border-bottom: 2px solid var(--accent); }
main { max-width: 1100px; margin: 1.5rem auto; padding: 0 1.5rem; }
h1 { font-size: 1.5rem; margin: 0 0 1rem; } h2 { font-size: 1.15rem; margin: 1.5rem 0 .5rem; }
a { color: var(--accent); }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 1rem 1.25rem; margin-bottom: 1rem; }
.narrow { max-width: 32rem; } .medium { max-width: 40rem; } .wide { max-width: 44rem; }
table { width: 100%; border-collapse: collapse; background: #fff; border: 1px solid var(--line); border-radius: 8px; overflow: hidden; }
th, td { text-align: left; padding: .55rem .75rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: .8rem; text-transform: uppercase; letter-spacing: .03em; color: var(--muted); background: #fafbfc; }
tr:last-child td { border-bottom: 0; }
.status { display: inline-block; padding: .05rem .55rem; border-radius: 999px; font-size: .85rem; font-weight: 600; white-space: nowrap; }
.status.active { color: var(--ok); background: var(--ok-bg); }
.status.requires_reauthorization { color: var(--warn); background: var(--warn-bg); }
.status.disconnected { color: var(--off); background: var(--off-bg); }
.status.ok { color: var(--ok); background: var(--ok-bg); } .status.warn { color: var(--warn); background: var(--warn-bg); }
.status.bad { color: var(--bad); background: var(--bad-bg); } .status.off { color: var(--off); background: var(--off-bg); }
.chart rect.ok { fill: #2f9e5e; } .chart rect.bad { fill: #c53030; } .chart rect.off { fill: #a0a8b4; }
details summary { cursor: pointer; } ol.attempts { margin: .25rem 0 0; padding-left: 1.25rem; }
form.search { display: flex; gap: .75rem; align-items: end; } form.search label { margin-top: 0; } form.search button { margin-top: 0; } form.search div { flex: 1; max-width: 34rem; }
.muted { color: var(--muted); } .small { font-size: .85rem; } code { font-size: .9em; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .35rem 1.25rem; margin: 0; }
dt { color: var(--muted); } dd { margin: 0; }
form.inline { display: inline; }
.flush { margin-top: 0; } p.flush { margin: 0; }
label { display: block; font-weight: 600; margin: .9rem 0 .25rem; }
.hint { font-weight: 400; color: var(--muted); font-size: .85rem; display: block; }
input[type=text], input[type=url], input[type=number], input[type=password], select, textarea {
  display: block; width: 100%; max-width: 34rem; padding: .5rem .6rem; font: inherit; border: 1px solid #b8c0cc; border-radius: 6px; background: #fff; }
input:focus, select:focus, button:focus, a:focus { outline: 3px solid #9db7ff; outline-offset: 1px; }
fieldset { border: 1px solid var(--line); border-radius: 6px; max-width: 34rem; margin: .9rem 0; }
fieldset label { font-weight: 400; display: inline; margin: 0 1rem 0 .25rem; }
button { font: inherit; font-weight: 600; padding: .5rem 1rem; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; margin-top: 1rem; }
button.secondary { background: #fff; color: var(--accent); }
button.danger { background: var(--bad); border-color: var(--bad); }
.notice { padding: .75rem 1rem; border-radius: 6px; margin: 0 0 1rem; }
.notice.error { background: var(--bad-bg); color: var(--bad); }
.notice.ok { background: var(--ok-bg); color: var(--ok); }
.notice.warn { background: var(--warn-bg); color: var(--warn); }
.filters a { margin-right: .75rem; }
.link { word-break: break-all; font-family: ui-monospace, monospace; background: #fff; border: 1px dashed var(--line); padding: .5rem; border-radius: 6px; }
"#;

/// Every page's `Content-Security-Policy`: nothing loads but the stylesheet
/// above and `styles`, allowed by their hashes (no script, no style
/// attribute, no font, no connection), and images from this host when
/// `images` (the operator's logo; none otherwise); forms post to this host
/// only; no page may be framed (clickjacking) nor change its base URL.
pub fn content_security_policy(styles: &[&str], images: bool) -> HeaderValue {
    let hashes: String = std::iter::once(STYLE)
        .chain(styles.iter().copied())
        .map(|style| {
            let hash = sha2::Sha256::digest(style);
            format!(
                " 'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(hash)
            )
        })
        .collect();
    let images = if images { " img-src 'self';" } else { "" };
    let policy = format!(
        "default-src 'none'; style-src{hashes};{images} form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    HeaderValue::try_from(policy).expect("the policy is ASCII")
}

/// The dashboard's sections, for the navigation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Connections,
    Adapters,
    Syncs,
    Webhooks,
    Requests,
    Audit,
    /// A page outside the dashboard (signing in, the customer's page).
    None,
}

/// The navigation: each section's page.
const NAVIGATION: [(Section, &str, &str); 6] = [
    (Section::Connections, "/dashboard", "Connections"),
    (Section::Adapters, "/dashboard/adapters", "Adapters"),
    (Section::Syncs, "/dashboard/syncs", "Syncs"),
    (Section::Webhooks, "/dashboard/webhooks", "Webhooks"),
    (Section::Requests, "/dashboard/requests", "Failed requests"),
    (Section::Audit, "/dashboard/audit", "Audit trail"),
];

/// What a path segment keeps as it is: the URL standard's unreserved
/// characters. Everything else, `/`, `?`, `#` and `%` included, is encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A path of `segments`, each percent-encoded: `["dashboard", "connections",
/// id]` is `/dashboard/connections/{id}`. Links and form actions are built
/// with it from the ids of stored objects (which are never `.` or `..`), so a
/// segment names one object and cannot walk to another route.
pub fn path(segments: &[&str]) -> String {
    segments
        .iter()
        .map(|s| format!("/{}", utf8_percent_encode(s, SEGMENT)))
        .collect()
}

/// Connection `c`'s page, or with `rest` one of its actions:
/// `/dashboard/connections/{id}/{rest...}`.
pub fn connection_path(c: &Connection, rest: &[&str]) -> String {
    let mut segments = vec!["dashboard", "connections", c.id.as_str()];
    segments.extend_from_slice(rest);
    path(&segments)
}

/// `path` with a query of `pairs`, form-encoded: `/dashboard/syncs?connection={id}`.
pub fn with_query(path: &str, pairs: &[(&str, &str)]) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("{path}?{query}")
}

/// A point in time as pages show it (UTC, to the second).
pub fn when(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// A duration as pages show it: `1h 30m`, `250ms`, `<1ms`.
pub fn took(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        return "<1ms".into();
    }
    let d = if d >= Duration::from_secs(1) {
        Duration::from_secs(d.as_secs())
    } else {
        Duration::from_millis(d.as_millis() as u64)
    };
    humantime::format_duration(d).to_string()
}

/// A count with thousands separated: `10,000`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Connections by id, for pages that name a connection by its account.
pub struct Connections<'a>(HashMap<&'a str, &'a Connection>);

impl<'a> Connections<'a> {
    pub fn new(all: &'a [Connection]) -> Self {
        Connections(all.iter().map(|c| (c.id.as_str(), c)).collect())
    }

    pub fn get(&self, id: &str) -> Option<&'a Connection> {
        self.0.get(id).copied()
    }

    /// The account name of connection `id`; the id itself when unknown.
    pub fn name<'b>(&self, id: &'b str) -> &'b str
    where
        'a: 'b,
    {
        self.get(id).map_or(id, |c| c.account_name.as_str())
    }
}

/// A connection's status, as a badge.
pub fn status_badge(status: Status) -> Markup {
    let text = match status {
        Status::Active => "Active",
        Status::RequiresReauthorization => "Requires reauthorization",
        Status::Disconnected => "Disconnected",
    };
    html! { span class=(format!("status {}", status.as_str())) { (text) } }
}

/// A badge in one of the tones `ok`, `warn`, `bad`, `off`.
pub fn badge(tone: &str, text: &str) -> Markup {
    html! { span class=(format!("status {tone}")) { (text) } }
}

/// A page of `title` (`site` after it in the browser's title), the shared
/// stylesheet and `styles`, `header` and `body`.
fn frame(title: &str, site: &str, styles: &[&str], header: Markup, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (site) }
                style { (PreEscaped(STYLE)) }
                @for style in styles { style { (PreEscaped(style)) } }
            }
            body {
                @if !header.0.is_empty() { header { (header) } }
                main { (body) }
            }
        }
    }
}

/// A whole page: `title`, the navigation when `csrf` is given (an operator
/// is signed in), and `body`.
pub fn page(title: &str, section: Section, csrf: Option<&str>, body: Markup) -> Markup {
    let header = html! {
        a.brand href=(if csrf.is_some() { "/dashboard" } else { "#" }) { "Interlink" }
        @if let Some(csrf) = csrf {
            nav aria-label="Dashboard" {
                @for (target, link, name) in NAVIGATION {
                    a href=(link) aria-current=[(section == target).then_some("page")] { (name) }
                }
            }
            form.inline method="post" action="/dashboard/sign-out" {
                input type="hidden" name="csrf" value=(csrf);
                button.secondary.flush type="submit" { "Sign out" }
            }
        }
    };
    frame(title, "Interlink", &[], header, body)
}

/// A page of the operator's customer: the operator's brand (or none) in
/// the header instead of the dashboard's, and `styles` after the shared
/// stylesheet (each must be in the page policy,
/// [`content_security_policy`]).
pub fn customer_page(brand: &Brand, title: &str, styles: &[&str], body: Markup) -> Markup {
    let site = brand.name.as_deref().unwrap_or("Connect an account");
    // The logo's text is the name beside it: said once.
    let header = html! {
        @if brand.logo().is_some() { img.logo src=(LOGO_PATH) alt=""; }
        @if let Some(name) = &brand.name { span.brand { (name) } }
    };
    frame(title, site, styles, header, body)
}

/// A page that says why something cannot be done, and what to do.
pub fn message(title: &str, text: &str) -> Markup {
    page(
        title,
        Section::None,
        None,
        html! {
            div.card role="alert" {
                h1 { (title) }
                p { (text) }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_segment_of_a_path_is_encoded() {
        assert_eq!(
            path(&["dashboard", "adapters", "acme-1"]),
            "/dashboard/adapters/acme-1"
        );
        assert_eq!(
            path(&[
                "dashboard",
                "connections",
                "../c/delete-data?#x%2F",
                "revoke"
            ]),
            "/dashboard/connections/..%2Fc%2Fdelete-data%3F%23x%252F/revoke"
        );
        assert_eq!(
            with_query(
                "/dashboard/syncs",
                &[("connection", "a&b=c"), ("started", "r 1")]
            ),
            "/dashboard/syncs?connection=a%26b%3Dc&started=r+1"
        );
    }

    #[test]
    fn durations_and_counts_read_well() {
        assert_eq!(took(Duration::from_micros(300)), "<1ms");
        assert_eq!(took(Duration::from_micros(250_400)), "250ms");
        assert_eq!(took(Duration::from_millis(5_250)), "5s");
        assert_eq!(took(Duration::from_secs(5400)), "1h 30m");
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(10_000), "10,000");
        assert_eq!(count(1_234_567), "1,234,567");
    }
}
