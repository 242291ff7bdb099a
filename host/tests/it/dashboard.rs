//! The dashboard and the customer's connect page, driven in a real headless
//! Chromium (Debian's `chromium` and `chromium-driver`, installed by
//! `cargo xtask test`) through the real binary. Screenshots of the pages go
//! to `target/screenshots/`; axe-core (also installed by `cargo xtask test`)
//! checks each page's accessibility ([`Browser::assert_accessible`]).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::*;
use demo_upstream::{DemoUpstream, Options};
use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::{Method as M, StatusCode};
use serde_json::json;

/// A headless Chromium under its own chromedriver; both end with it.
struct Browser {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Browser {
        use std::io::{BufRead, BufReader};
        assert!(
            std::path::Path::new("/usr/bin/chromedriver").exists(),
            "chromedriver is not installed: run `cargo xtask test`"
        );
        // Its stderr goes to a file (a pipe nobody reads could fill and
        // stop it), read when it ends before it says its port.
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut driver = Command::new("/usr/bin/chromedriver")
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(driver.stdout.take().unwrap()).lines();
        let mut said = Vec::new();
        let port = loop {
            let Some(line) = lines.next().transpose().unwrap() else {
                panic!(
                    "chromedriver ended ({:?}) before it said its port; its stdout: {said:?}; \
                     its stderr: {}",
                    driver.wait(),
                    std::fs::read_to_string(log.path()).unwrap_or_default()
                );
            };
            if let Some(rest) = line.split("started successfully on port ").nth(1) {
                break rest.trim_end_matches('.').to_string();
            }
            said.push(line);
        };
        let profile = tempfile::tempdir().unwrap();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("chromium starts under chromedriver");
        Browser {
            client,
            driver,
            _profile: profile,
        }
    }

    async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// The visible text of the page.
    async fn text(&self) -> String {
        self.client
            .find(Locator::Css("body"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    async fn fill(&self, css: &str, value: &str) {
        let field = self.client.find(Locator::Css(css)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    /// Clicks what `css` finds, and waits for the page it leads to.
    async fn click(&self, css: &str) {
        let before = self.client.find(Locator::Css("html")).await.unwrap();
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap();
        // The old document's elements go stale once the new one is loaded.
        eventually(Duration::from_secs(10), "the next page", || async {
            before.tag_name().await.is_err().then_some(())
        })
        .await;
        eventually(Duration::from_secs(10), "the page to load", || async {
            let state = self
                .client
                .execute("return document.readyState", vec![])
                .await
                .ok()?;
            (state == "complete").then_some(())
        })
        .await;
    }

    /// Ticks the checkbox `css` finds (the page stays).
    async fn tick(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap();
    }

    async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_string()
    }

    /// Saves a screenshot to `target/screenshots/{name}.png`.
    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir = target_dir().join("screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Signs in to the dashboard of `server` with its admin key.
    async fn sign_in(&self, server: &Server) {
        self.goto(&server.url("/dashboard")).await;
        assert_eq!(
            self.path().await,
            "/dashboard/sign-in",
            "the dashboard asks to sign in first"
        );
        self.fill("#admin_key", "not-the-key").await;
        self.click("button[type=submit]").await;
        assert!(
            self.text()
                .await
                .contains("That is not this host's admin key")
        );
        self.fill("#admin_key", &server.admin_key()).await;
        self.click("button[type=submit]").await;
        assert_eq!(self.path().await, "/dashboard");
        self.assert_styled().await;
    }

    /// Asserts that the page's stylesheet applies: allowed by the pages'
    /// `Content-Security-Policy`, which Chromium enforces.
    async fn assert_styled(&self) {
        let background = self
            .client
            .execute(
                "return getComputedStyle(document.body).backgroundColor",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(background, "rgb(246, 247, 249)", "the stylesheet applies");
    }

    /// Asserts that axe-core (installed by `cargo xtask test`) finds no
    /// accessibility violation of impact "serious" or "critical" on the
    /// page; a failure names `what` (the page) and, for each rule broken,
    /// its id, its help and the elements that break it. axe-core is injected
    /// through WebDriver, which the page's `Content-Security-Policy` does not
    /// restrict (the page itself may run no script).
    async fn assert_accessible(&self, what: &str) {
        let path = target_dir().join("axe-core/node_modules/axe-core/axe.min.js");
        let axe = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}: run `cargo xtask test`, which installs axe-core",
                path.display()
            )
        });
        self.client
            .execute(&axe, vec![])
            .await
            .unwrap_or_else(|e| panic!("{what}: injecting axe-core: {e}"));
        let run = self.client.execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, {resultTypes: ['violations']}).then(
                 (results) => done(results.violations
                     .filter((v) => v.impact === 'serious' || v.impact === 'critical')
                     .map((v) => ({id: v.id, impact: v.impact, help: v.help,
                         nodes: v.nodes.map((n) => ({target: n.target, html: n.html}))}))),
                 (error) => done({error: String(error)}));",
            vec![],
        );
        let found = tokio::time::timeout(Duration::from_secs(20), run)
            .await
            .unwrap_or_else(|_| panic!("{what}: axe-core did not finish within 20 s"))
            .unwrap_or_else(|e| panic!("{what}: running axe-core: {e}"));
        let violations = found
            .as_array()
            .unwrap_or_else(|| panic!("{what}: axe-core failed: {found}"));
        let text = |value: &serde_json::Value| match value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let report: Vec<String> = violations
            .iter()
            .map(|v| {
                let nodes: Vec<String> = v["nodes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|n| {
                        let target = n["target"].as_array().into_iter().flatten().map(text);
                        let target: Vec<String> = target.collect();
                        format!("    {}: {}", target.join(" "), text(&n["html"]))
                    })
                    .collect();
                format!(
                    "{} ({}): {}\n{}",
                    text(&v["id"]),
                    text(&v["impact"]),
                    text(&v["help"]),
                    nodes.join("\n")
                )
            })
            .collect();
        assert!(
            report.is_empty(),
            "{what}: {} serious or critical accessibility violations (axe-core):\n{}",
            report.len(),
            report.join("\n")
        );
    }

    async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

async fn setup() -> (DemoUpstream, Server, reqwest::Client) {
    let up = DemoUpstream::start("127.0.0.1:0".parse().unwrap(), Options::default())
        .await
        .unwrap();
    (up, Server::start(&["example"]), crate::common::http())
}

async fn connect(http: &reqwest::Client, server: &Server, up: &DemoUpstream) -> (String, String) {
    connect_example(http, server, &up.base_url()).await
}

/// A connect session made through the API: its link and its id.
async fn connect_link(
    http: &reqwest::Client,
    server: &Server,
    body: serde_json::Value,
) -> (String, String) {
    let created = call(
        http,
        M::POST,
        server.url("/v1/connect-sessions"),
        &server.admin_key(),
        Some(body),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    (
        created.body["url"].as_str().unwrap().to_string(),
        created.body["session"]["id"].as_str().unwrap().to_string(),
    )
}

/// Connect session `id` as the operator sees it through the API.
async fn session_view(http: &reqwest::Client, server: &Server, id: &str) -> Reply {
    let url = server.url(&format!("/v1/connect-sessions/{id}"));
    call(http, M::GET, url, &server.admin_key(), None).await
}

/// A page as the host answered it, over plain HTTP.
struct Page {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Page {
    async fn read(response: reqwest::Response) -> Page {
        Page {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }

    /// The value of the session cookie this answer sets, if it sets one.
    fn session_cookie(&self) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.strip_prefix("interlink_session="))
            .map(|v| v.split(';').next().unwrap().to_string())
            .filter(|v| !v.is_empty())
    }

    /// Each form's `action`, unescaped.
    fn form_actions(&self) -> Vec<String> {
        self.body
            .split("<form")
            .skip(1)
            .map(|form| {
                let tag = &form[..form.find('>').unwrap()];
                let action = tag
                    .split(" action=\"")
                    .nth(1)
                    .expect("a form with an action");
                action[..action.find('"').unwrap()]
                    .replace("&quot;", "\"")
                    .replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&amp;", "&")
            })
            .collect()
    }

    /// Asserts the headers every answer of the pages carries: a policy
    /// that allows a stylesheet by its hash and nothing else, no sniffing,
    /// no referrer, no caching. Answers the policy's `style-src`.
    fn assert_headers(&self, what: &str) -> String {
        let header = |name: &str| {
            self.headers
                .get(name)
                .unwrap_or_else(|| panic!("{what}: no {name}"))
                .to_str()
                .unwrap()
                .to_string()
        };
        let policy = header("content-security-policy");
        let directives: Vec<&str> = policy.split(';').map(str::trim).collect();
        for directive in [
            "default-src 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ] {
            assert!(
                directives.contains(&directive),
                "{what}: {directive} in {policy}"
            );
        }
        let style = directives
            .iter()
            .find(|d| d.starts_with("style-src "))
            .unwrap_or_else(|| panic!("{what}: no style-src in {policy}"));
        assert_eq!(
            directives.len(),
            5,
            "{what}: nothing else is allowed: {policy}"
        );
        assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
        assert_eq!(header("referrer-policy"), "no-referrer", "{what}");
        assert_eq!(header("cache-control"), "no-store", "{what}");
        style.to_string()
    }

    /// [`Self::assert_headers`] on an HTML page: its policy allows its own
    /// stylesheets by their hashes, and nothing else; and it has no
    /// `style=` attribute, which the policy would block.
    fn assert_guarded(&self, what: &str) {
        use base64::Engine;
        use sha2::Digest;
        let allowed = self.assert_headers(what);
        let allowed: Vec<&str> = allowed.split(' ').skip(1).collect();
        let styles: Vec<&str> = self
            .body
            .split("<style>")
            .skip(1)
            .filter_map(|rest| rest.split_once("</style>").map(|(style, _)| style))
            .collect();
        assert!(!styles.is_empty(), "{what}: no stylesheet");
        for style in styles {
            let hash =
                base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(style));
            let source = format!("'sha256-{hash}'");
            assert!(
                allowed.contains(&source.as_str()),
                "{what}: {source} in {allowed:?}"
            );
        }
        assert!(
            allowed.iter().all(|source| source.starts_with("'sha256-")),
            "{what}: styles by hash only: {allowed:?}"
        );
        assert!(!self.body.contains(" style="), "{what}: a style attribute");
    }
}

/// A client that does not follow redirects, from `local` (a loopback
/// address) when given, each request bounded.
fn page_client(local: Option<&str>) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .local_address(local.map(|a| a.parse().unwrap()))
        .build()
        .unwrap()
}

/// `POST /dashboard/sign-in` with `key`.
async fn sign_in_with(http: &reqwest::Client, server: &Server, key: &str) -> Page {
    let response = http
        .post(server.url("/dashboard/sign-in"))
        .form(&[("admin_key", key)])
        .send()
        .await
        .unwrap();
    Page::read(response).await
}

/// An operator signed in over plain HTTP: the session's cookie and CSRF
/// token.
struct Operator {
    http: reqwest::Client,
    base: String,
    cookie: String,
    csrf: String,
}

impl Operator {
    async fn sign_in(server: &Server) -> Operator {
        let http = page_client(None);
        let signed_in = sign_in_with(&http, server, &server.admin_key()).await;
        assert_eq!(
            signed_in.status,
            StatusCode::SEE_OTHER,
            "{}",
            signed_in.body
        );
        let mut operator = Operator {
            http,
            base: server.base.clone(),
            cookie: signed_in.session_cookie().expect("a session cookie"),
            csrf: String::new(),
        };
        let dashboard = operator.get("/dashboard").await;
        assert_eq!(dashboard.status, StatusCode::OK);
        let (_, rest) = dashboard
            .body
            .split_once(r#"name="csrf" value=""#)
            .expect("a form with the CSRF token");
        operator.csrf = rest[..rest.find('"').unwrap()].to_string();
        operator
    }

    async fn get(&self, path: &str) -> Page {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", format!("interlink_session={}", self.cookie))
            .send()
            .await
            .unwrap();
        Page::read(response).await
    }

    /// Posts a form with `fields` and the session's CSRF token.
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut form = vec![("csrf", self.csrf.as_str())];
        form.extend_from_slice(fields);
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", format!("interlink_session={}", self.cookie))
            .form(&form)
            .send()
            .await
            .unwrap();
        Page::read(response).await
    }
}

/// How many records of `entity` the host keeps for the token's connection.
async fn stored(http: &reqwest::Client, server: &Server, token: &str, entity: &str) -> usize {
    let url = server.url(&format!("/v1/synced/{entity}?page_size=1000"));
    let synced = call(http, M::GET, url, token, None).await;
    assert_eq!(synced.status, StatusCode::OK, "{}", synced.body);
    synced.body["data"].as_array().unwrap().len()
}

/// The revocation form of a token named by a crafted path (`..%2F` and an
/// encoded `?`) once posted, with the session's CSRF token, to
/// `delete-data`. A confirmation is only for stored objects: that path is a
/// 404 with no form, and so is another connection's token; and every form
/// of every page, resolved as a browser resolves it, posts to its own route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_forms_post_only_to_the_routes_of_stored_objects() {
    let (up, server, http) = setup().await;
    let (c, token) = connect(&http, &server, &up).await;
    let (other, _) = connect(&http, &server, &up).await;
    let run = sync_once(&http, &server.base, &token, "vendors").await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let records = stored(&http, &server, &token, "vendors").await;
    assert!(records > 0);
    let (t, others) = (
        first_token(&http, &server, &c).await,
        first_token(&http, &server, &other).await,
    );
    let operator = Operator::sign_in(&server).await;

    let crafted =
        format!("/dashboard/connections/{c}/tokens/..%2F..%2F{c}%2Fdelete-data%3F/revoke");
    for (path, what) in [
        (crafted.as_str(), "a token id that walks to delete-data"),
        (
            &format!("/dashboard/connections/{c}/tokens/{others}/revoke"),
            "another connection's token",
        ),
        (
            &format!("/dashboard/connections/{c}/tokens/tok_none/revoke"),
            "no such token",
        ),
        (
            "/dashboard/connections/conn_none/disconnect",
            "no such connection",
        ),
        (
            "/dashboard/connections/conn_none/delete-data",
            "no such connection",
        ),
        (
            "/dashboard/connections/conn_none/tokens/tok_none/revoke",
            "no such connection",
        ),
    ] {
        let page = operator.get(path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{what}: {}", page.body);
        assert_eq!(page.form_actions(), Vec::<String>::new(), "{what}");
    }

    let revoke = format!("/dashboard/connections/{c}/tokens/{t}/revoke");
    let routes = [
        "/dashboard/sign-out".to_string(),
        "/dashboard/connect-sessions".to_string(),
        "/dashboard/adapters".to_string(),
        "/dashboard/requests".to_string(),
        "/dashboard/syncs/run".to_string(),
        format!("/dashboard/connections/{c}/tokens"),
        format!("/dashboard/connections/{other}/tokens"),
        format!("/dashboard/connections/{c}/mappings"),
        format!("/dashboard/connections/{other}/mappings"),
        format!("/dashboard/connections/{c}/refresh"),
        format!("/dashboard/connections/{other}/refresh"),
        format!("/dashboard/connections/{c}/disconnect"),
        format!("/dashboard/connections/{c}/delete-data"),
        revoke.clone(),
    ];
    let confirmations = [
        (revoke.clone(), revoke.clone()),
        (
            format!("/dashboard/connections/{c}/disconnect"),
            format!("/dashboard/connections/{c}/disconnect"),
        ),
        (
            format!("/dashboard/connections/{c}/delete-data"),
            format!("/dashboard/connections/{c}/delete-data"),
        ),
    ];
    let pages = [
        "/dashboard".to_string(),
        "/dashboard?status=active".to_string(),
        format!("/dashboard/connections/{c}"),
        format!("/dashboard/connections/{other}"),
        "/dashboard/adapters".to_string(),
        "/dashboard/adapters/example".to_string(),
        "/dashboard/syncs".to_string(),
        format!("/dashboard/syncs?connection={c}"),
        "/dashboard/webhooks".to_string(),
        "/dashboard/requests".to_string(),
    ];
    let resolved = |page: &str, action: &str| {
        let url = url::Url::parse(&server.url(page))
            .unwrap()
            .join(action)
            .unwrap();
        url.path().to_string() + &url.query().map(|q| format!("?{q}")).unwrap_or_default()
    };
    for page in pages
        .iter()
        .chain(confirmations.iter().map(|(page, _)| page))
    {
        let shown = operator.get(page).await;
        assert_eq!(shown.status, StatusCode::OK, "{page}: {}", shown.body);
        for action in shown.form_actions() {
            let to = resolved(page, &action);
            assert!(routes.contains(&to), "{page}: a form posts to {to}");
        }
    }
    for (page, action) in &confirmations {
        let shown = operator.get(page).await;
        let actions: Vec<String> = shown
            .form_actions()
            .iter()
            .map(|a| resolved(page, a))
            .collect();
        assert_eq!(actions, ["/dashboard/sign-out", action.as_str()], "{page}");
    }

    assert_eq!(
        stored(&http, &server, &token, "vendors").await,
        records,
        "the records stay"
    );
    let vendors = call(&http, M::GET, server.url("/v1/vendors"), &token, None).await;
    assert_eq!(vendors.status, StatusCode::OK, "the token was not revoked");
}

/// The first token of `connection`, as the admin API lists it.
async fn first_token(http: &reqwest::Client, server: &Server, connection: &str) -> String {
    let url = server.url(&format!("/v1/connections/{connection}/tokens"));
    let tokens = call(http, M::GET, url, &server.admin_key(), None).await;
    tokens.body["tokens"][0]["id"].as_str().unwrap().to_string()
}

/// Posts the connect form at `link` with `api_key`.
async fn submit_connect_form(link: &str, base_url: &str, api_key: &str) -> Page {
    let form = reqwest::multipart::Form::new()
        .text("base_url", base_url.to_string())
        .text("api_key", api_key.to_string());
    let response = page_client(None)
        .post(link)
        .multipart(form)
        .send()
        .await
        .unwrap();
    Page::read(response).await
}

/// Every page, the operator's and the customer's, in each of its states
/// (messages and refusals too), carries the same headers: a policy that
/// allows the inline stylesheet by its hash and nothing else, no framing,
/// forms to this host only; no sniffing, no referrer, no caching (a new
/// token's page, a connect link's page).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_carries_the_security_headers() {
    let (up, server, http) = setup().await;
    let (c, token) = connect(&http, &server, &up).await;
    sync_once(&http, &server.base, &token, "vendors").await;
    let t = first_token(&http, &server, &c).await;
    let anonymous = page_client(None);
    let get = |path: String| {
        let anonymous = anonymous.clone();
        async move { Page::read(anonymous.get(path).send().await.unwrap()).await }
    };

    let sign_in = get(server.url("/dashboard/sign-in")).await;
    assert_eq!(sign_in.status, StatusCode::OK);
    sign_in.assert_guarded("the sign-in page");
    let wrong = sign_in_with(&anonymous, &server, "not-the-admin-key").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    wrong.assert_guarded("a wrong admin key");
    // The audit trail is the operator's: without a session, the sign-in.
    let trail = get(server.url("/dashboard/audit")).await;
    assert_eq!(trail.status, StatusCode::SEE_OTHER, "{}", trail.body);
    assert_eq!(trail.headers["location"], "/dashboard/sign-in");

    let operator = Operator::sign_in(&server).await;
    for (path, status) in [
        ("/dashboard".to_string(), StatusCode::OK),
        (format!("/dashboard/connections/{c}"), StatusCode::OK),
        (
            format!("/dashboard/connections/{c}/disconnect"),
            StatusCode::OK,
        ),
        (
            format!("/dashboard/connections/{c}/delete-data"),
            StatusCode::OK,
        ),
        (
            format!("/dashboard/connections/{c}/tokens/{t}/revoke"),
            StatusCode::OK,
        ),
        ("/dashboard/adapters".to_string(), StatusCode::OK),
        ("/dashboard/adapters/example".to_string(), StatusCode::OK),
        ("/dashboard/syncs".to_string(), StatusCode::OK),
        ("/dashboard/webhooks".to_string(), StatusCode::OK),
        ("/dashboard/requests".to_string(), StatusCode::OK),
        ("/dashboard/audit".to_string(), StatusCode::OK),
        (
            "/dashboard/connections/conn_none".to_string(),
            StatusCode::NOT_FOUND,
        ),
        (
            "/dashboard/adapters/none".to_string(),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let page = operator.get(&path).await;
        assert_eq!(page.status, status, "{path}: {}", page.body);
        page.assert_guarded(&path);
    }
    let issued = operator
        .post(
            &format!("/dashboard/connections/{c}/tokens"),
            &[("name", "reporting")],
        )
        .await;
    assert_eq!(issued.status, StatusCode::OK, "{}", issued.body);
    assert!(issued.body.contains("ilk_conn_"), "the new token");
    issued.assert_guarded("a new token");
    let link = operator
        .post("/dashboard/connect-sessions", &[("adapter", "example")])
        .await;
    assert_eq!(link.status, StatusCode::OK, "{}", link.body);
    link.assert_guarded("a new connect link");
    let forged = Page::read(
        operator
            .http
            .post(server.url(&format!("/dashboard/connections/{c}/disconnect")))
            .header("cookie", format!("interlink_session={}", operator.cookie))
            .form(&[("csrf", "forged")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    forged.assert_guarded("a form without the CSRF token");
    let run = operator
        .post(
            "/dashboard/syncs/run",
            &[("connection", &c), ("entity", "vendors")],
        )
        .await;
    assert_eq!(run.status, StatusCode::SEE_OTHER, "{}", run.body);
    run.assert_headers("a redirect");

    // The customer's connect page: the form, refused credentials, connected,
    // the spent link, a forged one, an expired one, the certificate.
    let (link, _) = connect_link(&http, &server, json!({"adapter": "example"})).await;
    let form = get(link.clone()).await;
    assert_eq!(form.status, StatusCode::OK);
    form.assert_guarded("the connect form");
    // The example adapter takes no private key: its links offer no
    // platform certificate, and say so.
    let certificate = get(format!("{link}/platform-certificate.pem")).await;
    assert_eq!(certificate.status, StatusCode::NOT_FOUND);
    certificate.assert_guarded("no platform certificate");
    let refused = submit_connect_form(&link, &up.base_url(), "wrong-key").await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    refused.assert_guarded("refused credentials");
    let connected = submit_connect_form(&link, &up.base_url(), "demo-key").await;
    assert_eq!(connected.status, StatusCode::OK, "{}", connected.body);
    connected.assert_guarded("connected");
    let used = get(link.clone()).await;
    assert_eq!(used.status, StatusCode::GONE);
    used.assert_guarded("a used link");
    let forged = get(server.url("/connect/ilk_link_forged")).await;
    assert_eq!(forged.status, StatusCode::NOT_FOUND);
    forged.assert_guarded("a forged link");
    let (expiring, _) = connect_link(
        &http,
        &server,
        json!({"adapter": "example", "expires_in": 1}),
    )
    .await;
    let expired = eventually(Duration::from_secs(10), "the link to expire", || async {
        let page = get(expiring.clone()).await;
        (page.status == StatusCode::GONE).then_some(page)
    })
    .await;
    expired.assert_guarded("an expired link");
}

/// A session signed in under one admin key ends when the host restarts
/// with another (it survives a restart with the same one); the old key no
/// longer signs in, the new one does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ends_when_the_admin_key_changes() {
    let server = Server::start(&[]);
    let old_key = server.admin_key();
    let operator = Operator::sign_in(&server).await;
    let restart = |server: Server| {
        let (data_dir, adapters_dir, dirs) = server.stop();
        let server = Server::start_with(ServerOptions {
            data_dir: Some(data_dir),
            adapters_dir: Some(adapters_dir),
            ..Default::default()
        });
        (server, dirs)
    };
    let dashboard = |server: &Server| {
        let request = operator
            .http
            .get(server.url("/dashboard"))
            .header("cookie", format!("interlink_session={}", operator.cookie));
        async move { Page::read(request.send().await.unwrap()).await }
    };

    let (server, _dirs) = restart(server);
    assert_eq!(
        dashboard(&server).await.status,
        StatusCode::OK,
        "the same key: still signed in"
    );

    let new_key = format!("ilk_admin_{}", "7".repeat(64));
    std::fs::write(server.data_dir.join("admin.key"), format!("{new_key}\n")).unwrap();
    let (server, _more) = restart(server);
    assert_eq!(server.admin_key(), new_key);
    let after = dashboard(&server).await;
    assert_eq!(after.status, StatusCode::SEE_OTHER, "{}", after.body);
    assert_eq!(after.headers["location"], "/dashboard/sign-in");
    let http = page_client(None);
    let old = sign_in_with(&http, &server, &old_key).await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    assert_eq!(old.session_cookie(), None);
    let new = sign_in_with(&http, &server, &new_key).await;
    assert_eq!(new.status, StatusCode::SEE_OTHER);
    assert!(new.session_cookie().is_some());
}

/// An admin key of fewer than 32 characters stops the host at start, with
/// an error that names the file and says what to do; the file is left as
/// it was. 32 characters are enough.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_admin_key_stops_the_host_with_a_clear_error() {
    use std::process::{Command, Stdio};
    let data = tempfile::tempdir().unwrap();
    let adapters = tempfile::tempdir().unwrap();
    let key_file = data.path().join("admin.key");
    std::fs::write(&key_file, format!("{}\n", "k".repeat(31))).unwrap();
    /// The host's process, killed if the test ends before it exits.
    struct Host(std::process::Child);
    impl Drop for Host {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let host = std::cell::RefCell::new(Host(
        Command::new(env!("CARGO_BIN_EXE_interlink"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data.path())
            .arg("--adapters-dir")
            .arg(adapters.path())
            .env_remove("INTERLINK_SECRET_KEY")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    ));
    let status = eventually(Duration::from_secs(30), "the host to exit", || async {
        host.borrow_mut().0.try_wait().unwrap()
    })
    .await;
    let mut stderr = String::new();
    let pipe = host.borrow_mut().0.stderr.take().unwrap();
    std::io::Read::read_to_string(&mut { pipe }, &mut stderr).unwrap();
    assert!(!status.success(), "{stderr}");
    let expected = format!(
        "the admin key in {} has 31 characters, fewer than the 32 it needs",
        key_file.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&key_file).unwrap(),
        format!("{}\n", "k".repeat(31))
    );

    std::fs::write(&key_file, "k".repeat(32)).unwrap();
    let server = Server::start_with(ServerOptions {
        data_dir: Some(data.path().to_path_buf()),
        adapters_dir: Some(adapters.path().to_path_buf()),
        ..Default::default()
    });
    assert_eq!(server.admin_key(), "k".repeat(32));
}

/// Ten wrong admin keys a minute from one client address, then 429 with
/// `Retry-After`, as a page; a right key from that address is refused too
/// while it waits (so guessing gains nothing), another address signs in,
/// and the address signs in again once its wait is over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_is_throttled_per_client_address() {
    let server = Server::start(&[]);
    let key = server.admin_key();
    let first = page_client(Some("127.0.0.1"));
    for attempt in 1..=10 {
        let wrong = sign_in_with(&first, &server, &format!("wrong-{attempt}")).await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    let throttled = sign_in_with(&first, &server, "wrong-11").await;
    assert_eq!(
        throttled.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        throttled.body
    );
    assert!(
        throttled.body.contains("Too many sign-in attempts"),
        "{}",
        throttled.body
    );
    throttled.assert_guarded("a throttled sign-in");
    let wait: u64 = throttled.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=6).contains(&wait),
        "one attempt back every 6 s: {wait}"
    );

    let right = sign_in_with(&first, &server, &key).await;
    assert_eq!(
        right.status,
        StatusCode::TOO_MANY_REQUESTS,
        "a right key waits too"
    );
    assert_eq!(right.session_cookie(), None);

    let second = page_client(Some("127.0.0.2"));
    let other = sign_in_with(&second, &server, &key).await;
    assert_eq!(other.status, StatusCode::SEE_OTHER, "{}", other.body);
    assert!(other.session_cookie().is_some());

    let within = Duration::from_secs(wait + 5);
    eventually(within, "the first address to sign in again", || async {
        let page = sign_in_with(&first, &server, &key).await;
        (page.status == StatusCode::SEE_OTHER).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_sees_a_rejected_connection_and_disconnects_it() {
    let (up, server, http) = setup().await;
    let (id, token) = connect(&http, &server, &up).await;
    let (_healthy, _) = connect(&http, &server, &up).await;
    // The system starts rejecting the first connection's credentials.
    up.set_api_key("rotated-key");
    call(&http, M::GET, server.url("/v1/vendors"), &token, None)
        .await
        .assert_error(
            StatusCode::UNAUTHORIZED,
            "connection_requires_reauthorization",
        );
    up.set_api_key("demo-key");

    let browser = Browser::start().await;
    browser.sign_in(&server).await;
    let list = browser.text().await;
    assert!(list.contains("Requires reauthorization"), "{list}");
    assert!(
        list.contains("rejected the credentials"),
        "the reason: {list}"
    );
    assert!(list.contains("2 of 10 connection credits in use"), "{list}");
    browser.screenshot("dashboard-connections").await;
    browser.assert_accessible("the connections").await;

    browser
        .goto(&server.url("/dashboard?status=requires_reauthorization"))
        .await;
    let filtered = browser.text().await;
    assert_eq!(filtered.matches("conn_").count(), 1, "{filtered}");

    browser
        .click(&format!("a[href='/dashboard/connections/{id}']"))
        .await;
    let detail = browser.text().await;
    assert!(
        detail.contains("The customer needs to reconnect"),
        "{detail}"
    );
    assert!(
        detail.contains("connection_requires_reauthorization"),
        "the last error: {detail}"
    );
    browser.screenshot("dashboard-connection").await;
    browser.assert_accessible("a connection's page").await;

    browser
        .click(&format!("a[href='/dashboard/connections/{id}/disconnect']"))
        .await;
    let confirm = browser.text().await;
    for promise in [
        "its API token stops working",
        "its scheduled syncs and webhooks stop",
        "its connection credit returns to the pool",
        "stored data is kept",
    ] {
        assert!(confirm.contains(promise), "{promise}: {confirm}");
    }
    browser.screenshot("dashboard-disconnect").await;
    browser
        .assert_accessible("the disconnect confirmation")
        .await;
    browser.click("button.danger").await;
    assert_eq!(browser.path().await, format!("/dashboard/connections/{id}"));
    assert!(browser.text().await.contains("Disconnected"));

    call(&http, M::GET, server.url("/v1/vendors"), &token, None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "connection_disconnected");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_connects_through_a_link_and_the_operator_gets_the_token() {
    let (up, server, http) = setup().await;
    let admin = server.admin_key();
    let (link, session) = connect_link(&http, &server, json!({"adapter": "example"})).await;
    assert!(link.starts_with(&server.base), "{link}");

    let browser = Browser::start().await;
    browser.goto(&link).await;
    let form = browser.text().await;
    assert!(form.contains("Connect your"), "{form}");
    let secret_kind = browser
        .client
        .find(Locator::Css("#f-api_key"))
        .await
        .unwrap()
        .attr("type")
        .await
        .unwrap();
    assert_eq!(
        secret_kind.as_deref(),
        Some("password"),
        "secrets are password fields"
    );
    browser.screenshot("connect-page").await;

    // Wrong credentials: said in plain words, and the link still works.
    browser.fill("#f-base_url", &up.base_url()).await;
    browser.fill("#f-api_key", "wrong-key").await;
    browser.click("button[type=submit]").await;
    let refused = browser.text().await;
    assert!(
        refused.contains("did not accept these credentials"),
        "{refused}"
    );
    browser.screenshot("connect-page-refused").await;
    browser.fill("#f-api_key", "demo-key").await;
    browser.click("button[type=submit]").await;
    let done = browser.text().await;
    assert!(done.contains("is connected"), "{done}");
    assert!(
        !done.contains("ilk_conn_"),
        "the customer never sees the token"
    );

    // The operator: the connection through the API, its token once.
    let status = call(
        &http,
        M::GET,
        server.url(&format!("/v1/connect-sessions/{session}")),
        &admin,
        None,
    )
    .await;
    assert_eq!(status.body["status"], "connected", "{}", status.body);
    assert_eq!(status.body["connection"]["status"], "active");
    let claim = server.url(&format!("/v1/connect-sessions/{session}/token"));
    let claimed = call(&http, M::POST, claim.clone(), &admin, None).await;
    assert_eq!(claimed.status, StatusCode::OK, "{}", claimed.body);
    let token = claimed.body["token"].as_str().unwrap();
    let vendors = call(&http, M::GET, server.url("/v1/vendors"), token, None).await;
    assert_eq!(vendors.status, StatusCode::OK, "{}", vendors.body);
    call(&http, M::POST, claim, &admin, None)
        .await
        .assert_error(StatusCode::CONFLICT, "token_claimed");

    // The audit trail names who did what: the operator made the link, the
    // link's holder the connection.
    let url = server.url("/v1/audit?kind=admin");
    let trail = eventually(Duration::from_secs(10), "two admin entries", || {
        let (http, url, admin) = (&http, url.clone(), admin.clone());
        async move {
            let trail = call(http, M::GET, url, &admin, None).await;
            (trail.body["entries"].as_array().unwrap().len() == 2).then_some(trail)
        }
    })
    .await;
    let actions: Vec<(&str, &str)> = trail.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    let by_link = format!("connect-link:{session}");
    assert_eq!(
        actions,
        [
            ("connection.created", by_link.as_str()),
            ("connect_link.created", "admin")
        ],
        "{}",
        trail.body
    );

    // ... and in the dashboard.
    browser.sign_in(&server).await;
    let list = browser.text().await;
    assert!(
        list.contains("Demo Procurement Co.") && list.contains("Active"),
        "{list}"
    );

    // The link is spent.
    browser.goto(&link).await;
    assert!(browser.text().await.contains("This link was already used"));
    browser.assert_accessible("the connect page, used").await;
    browser.screenshot("connect-link-used").await;

    // Reconnect from the connection's page: a new link replacing it.
    let first = claimed.body["connection_id"].as_str().unwrap().to_string();
    browser
        .goto(&server.url(&format!("/dashboard/connections/{first}")))
        .await;
    browser.click("#reconnect button").await;
    let relink = browser
        .client
        .find(Locator::Css("#connect-link"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(relink.starts_with(&server.base), "{relink}");
    assert!(
        browser
            .text()
            .await
            .contains(&format!("connection {first} is disconnected"))
    );
    browser.assert_accessible("a new connect link").await;
    browser.goto(&relink).await;
    browser.fill("#f-base_url", &up.base_url()).await;
    browser.fill("#f-api_key", "demo-key").await;
    browser.click("button[type=submit]").await;
    assert!(browser.text().await.contains("is connected"));
    call(&http, M::GET, server.url("/v1/vendors"), token, None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "connection_disconnected");
    let credits = call(&http, M::GET, server.url("/v1/credits"), &admin, None).await;
    assert_eq!(
        credits.body["used"], 1,
        "the credit passed to the new connection"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_links_and_forms_without_the_csrf_token_are_refused() {
    let (up, server, http) = setup().await;
    let (link, _) = connect_link(
        &http,
        &server,
        json!({"adapter": "example", "expires_in": 1}),
    )
    .await;
    let browser = Browser::start().await;
    eventually(Duration::from_secs(10), "the link to expire", || async {
        browser.goto(&link).await;
        browser
            .text()
            .await
            .contains("This link has expired")
            .then_some(())
    })
    .await;
    browser.assert_accessible("the connect page, expired").await;
    let post = crate::common::http()
        .post(&link)
        .multipart(reqwest::multipart::Form::new().text("api_key", "demo-key"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        post.status(),
        StatusCode::GONE,
        "an expired link connects nothing"
    );
    browser.goto(&server.url("/connect/ilk_link_forged")).await;
    assert!(browser.text().await.contains("This link is not valid"));

    // A form post with the session cookie but without its CSRF token, as
    // another site would send it.
    let (id, token) = connect(&http, &server, &up).await;
    browser.sign_in(&server).await;
    let cookie = browser
        .client
        .get_named_cookie("interlink_session")
        .await
        .unwrap();
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(format!("{:?}", cookie.same_site()), "Some(Strict)");
    for form in [vec![], vec![("csrf", "forged")]] {
        let forged = crate::common::http()
            .post(server.url(&format!("/dashboard/connections/{id}/disconnect")))
            .header("cookie", format!("interlink_session={}", cookie.value()))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    }
    let vendors = call(&http, M::GET, server.url("/v1/vendors"), &token, None).await;
    assert_eq!(
        vendors.status,
        StatusCode::OK,
        "the connection is still active"
    );

    // Signing out ends the session.
    browser.click("header button").await;
    assert_eq!(browser.path().await, "/dashboard/sign-in");
    browser.assert_accessible("the sign-in page").await;
    let after = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(REQUEST_DEADLINE)
        .build()
        .unwrap()
        .get(server.url("/dashboard"))
        .header("cookie", format!("interlink_session={}", cookie.value()))
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_adapters_page_renders_manifests_and_takes_uploads() {
    let (_up, server, _http) = setup().await;
    let browser = Browser::start().await;
    browser.sign_in(&server).await;
    browser.click("a[href='/dashboard/adapters']").await;
    let list = browser.text().await;
    assert!(
        list.contains("example") && list.contains("example.wasm"),
        "{list}"
    );
    browser.assert_accessible("the adapters").await;

    browser.click("a[href='/dashboard/adapters/example']").await;
    let manifest = browser.text().await;
    for shown in [
        "purchase-orders",
        "purchase-orders → lines",
        "Created in the same request as the purchase-orders record",
        "read only",
        "create only",
        "orders:write",
        "When status is billed or closed: only memo can change; refused: delete",
        "one of draft, open, billed, closed",
    ] {
        assert!(manifest.contains(shown), "{shown}: {manifest}");
    }
    browser.screenshot("dashboard-adapter").await;
    browser.assert_accessible("an adapter's page").await;

    // An upload through the form: a new adapter, by the component's own id.
    browser.goto(&server.url("/dashboard/adapters")).await;
    let file = browser
        .client
        .find(Locator::Css("#component"))
        .await
        .unwrap();
    let chaos = std::fs::canonicalize(adapter_path("chaos")).unwrap();
    file.send_keys(chaos.to_str().unwrap()).await.unwrap();
    browser.click("form.card button[type=submit]").await;
    assert_eq!(browser.path().await, "/dashboard/adapters/chaos");

    // A file that is no component changes nothing.
    let junk = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(junk.path(), b"not wasm").unwrap();
    browser.goto(&server.url("/dashboard/adapters")).await;
    browser
        .client
        .find(Locator::Css("#component"))
        .await
        .unwrap()
        .send_keys(junk.path().to_str().unwrap())
        .await
        .unwrap();
    browser.click("form.card button[type=submit]").await;
    assert!(browser.text().await.contains("The adapter was not loaded"));
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_syncs_webhooks_and_requests_pages_show_what_happened() {
    let up = DemoUpstream::start("127.0.0.1:0".parse().unwrap(), Options::default())
        .await
        .unwrap();
    // The receiver refuses the first delivery; the host retries after 100 ms.
    let hook = receiver(1).await;
    let server = Server::start_with(ServerOptions {
        adapters: &["example"],
        webhook_retry_base_ms: Some(100),
        ..Default::default()
    });
    let http = crate::common::http();
    let (id, token) = connect(&http, &server, &up).await;
    let subscription =
        subscribe(&http, &server.base, &token, &hook.url, &["records.changed"]).await;
    let first = sync_once(&http, &server.base, &token, "vendors").await;
    assert_eq!(first["status"], "succeeded", "{first}");
    let deliveries = server.url(&format!("/v1/webhooks/{subscription}/deliveries"));
    eventually(Duration::from_secs(30), "a retried delivery", || async {
        let reply = call(&http, M::GET, deliveries.clone(), &token, None).await;
        (reply.body["deliveries"][0]["status"] == "delivered").then_some(())
    })
    .await;
    let missing = call(
        &http,
        M::GET,
        server.url("/v1/no-such-entity"),
        &token,
        None,
    )
    .await;
    missing.assert_error(StatusCode::NOT_FOUND, "unknown_entity");
    let log = server.url(&format!(
        "/v1/failed-requests?request_id={}",
        missing.request_id
    ));
    let logged = eventually(Duration::from_secs(10), "the failed request", || async {
        let reply = call(&http, M::GET, log.clone(), &server.admin_key(), None).await;
        reply.body["requests"]
            .as_array()
            .filter(|r| !r.is_empty())
            .cloned()
    })
    .await;
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0]["path"], "/v1/no-such-entity");
    assert_eq!(logged[0]["status"], 404);
    assert_eq!(logged[0]["code"], "unknown_entity");
    assert_eq!(logged[0]["connection_id"], id.as_str());

    let browser = Browser::start().await;
    browser.sign_in(&server).await;

    // Syncs: the schedule and its first run; Run now picks up a new supplier.
    browser.click("a[href='/dashboard/syncs']").await;
    let syncs = browser.text().await;
    for shown in [
        "Demo Procurement Co.",
        "vendors",
        "1h",
        "Succeeded",
        "full, scheduled",
    ] {
        assert!(syncs.contains(shown), "{shown}: {syncs}");
    }
    up.insert("suppliers", json!({"name": "Added Before Run Now"}));
    browser
        .click("button[aria-label^='Run now: vendors']")
        .await;
    assert_eq!(browser.path().await, "/dashboard/syncs");
    assert!(browser.text().await.contains("started"));
    eventually(Duration::from_secs(30), "the manual run to end", || async {
        browser
            .goto(&server.url(&format!("/dashboard/syncs?connection={id}")))
            .await;
        let rows = browser
            .client
            .find_all(Locator::Css("main table:last-of-type tbody tr"))
            .await
            .ok()?;
        let newest = rows.first()?.text().await.ok()?;
        (rows.len() == 2 && newest.contains("Succeeded")).then_some(newest)
    })
    .await;
    let runs = browser.text().await;
    assert!(runs.contains("incremental, manual"), "{runs}");
    let bars = browser
        .client
        .find_all(Locator::Css("svg.chart rect"))
        .await
        .unwrap();
    assert_eq!(bars.len(), 2, "a bar per run");
    let fill = browser
        .client
        .execute(
            "return getComputedStyle(document.querySelector('svg.chart rect.ok')).fill",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        fill, "rgb(47, 158, 94)",
        "the chart is drawn in its colours"
    );
    browser.screenshot("dashboard-syncs").await;
    browser.assert_accessible("the syncs").await;

    // Webhooks: the subscription, its delivery and both attempts.
    browser.click("a[href='/dashboard/webhooks']").await;
    let webhooks = browser.text().await;
    for shown in [
        hook.url.as_str(),
        "records.changed",
        "Delivered",
        "2 attempts",
    ] {
        assert!(webhooks.contains(shown), "{shown}: {webhooks}");
    }
    // The first delivery (the oldest, last) was refused once.
    let summaries = browser
        .client
        .find_all(Locator::Css("details summary"))
        .await
        .unwrap();
    assert_eq!(
        summaries.len(),
        2,
        "one delivery per run that changed records"
    );
    summaries.last().unwrap().click().await.unwrap();
    let attempts = browser.text().await;
    assert!(
        attempts.contains("answered 500") && attempts.contains("answered 204"),
        "{attempts}"
    );
    browser.screenshot("dashboard-webhooks").await;
    browser.assert_accessible("the webhooks").await;

    // Failed requests: found by the id the client got.
    browser.click("a[href='/dashboard/requests']").await;
    browser.fill("#request_id", &missing.request_id).await;
    browser.click("form.search button[type=submit]").await;
    let found = browser.text().await;
    for shown in [
        "GET /v1/no-such-entity",
        "404",
        "unknown_entity",
        missing.request_id.as_str(),
        "Demo Procurement Co.",
    ] {
        assert!(found.contains(shown), "{shown}: {found}");
    }
    let rows = browser
        .client
        .find_all(Locator::Css("main table tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "only that request");
    browser.screenshot("dashboard-requests").await;
    browser.assert_accessible("the failed requests").await;
    browser.fill("#request_id", "no-such-request").await;
    browser.click("form.search button[type=submit]").await;
    assert!(
        browser
            .text()
            .await
            .contains("No failed request with id no-such-request")
    );
    browser.close().await;
}

/// Tokens on a connection's page: one issued with scopes (shown once, and
/// it works as scoped), a scope the adapter does not know refused in words,
/// the list, and a revocation after a confirmation (refused at once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_issues_a_scoped_token_and_revokes_it() {
    let (up, server, http) = setup().await;
    let (id, _) = connect(&http, &server, &up).await;
    let page = server.url(&format!("/dashboard/connections/{id}"));
    let browser = Browser::start().await;
    browser.sign_in(&server).await;
    browser.goto(&page).await;
    let before = browser.text().await;
    assert!(
        before.contains("default"),
        "the token made at connect: {before}"
    );

    browser.fill("#token-name", "reporting").await;
    browser.fill("#token-scopes", "read, webhooks").await;
    browser.click("#issue-token button").await;
    let token = browser
        .client
        .find(Locator::Css("#new-token"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(token.starts_with("ilk_conn_"), "{token}");
    browser.screenshot("dashboard-token-issued").await;
    browser.assert_accessible("the issued token").await;
    let read = call(&http, M::GET, server.url("/v1/vendors"), &token, None).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    let body = Some(json!({"name": "Not allowed"}));
    call(&http, M::POST, server.url("/v1/vendors"), &token, body)
        .await
        .assert_error(StatusCode::FORBIDDEN, "insufficient_scope");

    browser.goto(&page).await;
    browser.fill("#token-name", "wrong").await;
    browser.fill("#token-scopes", "invoices:read").await;
    browser.click("#issue-token button").await;
    let refused = browser.text().await;
    assert!(refused.contains("`invoices` is not an entity"), "{refused}");

    browser.goto(&page).await;
    let listed = browser.text().await;
    assert!(
        listed.contains("reporting") && listed.contains("webhooks"),
        "{listed}"
    );
    let url = server.url(&format!("/v1/connections/{id}/tokens"));
    let tokens = call(&http, M::GET, url, &server.admin_key(), None).await;
    let issued = tokens.body["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "reporting")
        .expect("the issued token is listed")["id"]
        .as_str()
        .unwrap()
        .to_string();
    browser
        .click(&format!("tr[data-token='{issued}'] a.revoke"))
        .await;
    let confirm = browser.text().await;
    assert!(
        confirm.contains("The very next request with it is refused"),
        "{confirm}"
    );
    browser.assert_accessible("the revoke confirmation").await;
    browser.click("button.danger").await;
    assert_eq!(browser.path().await, format!("/dashboard/connections/{id}"));
    let after = browser.text().await;
    assert!(after.contains("revoked"), "{after}");
    browser.screenshot("dashboard-tokens").await;
    call(&http, M::GET, server.url("/v1/vendors"), &token, None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "token_invalid");

    // The audit trail names the operator's actions at the dashboard, and
    // filters by kind.
    browser
        .goto(&server.url("/dashboard/audit?kind=admin"))
        .await;
    let trail = browser.text().await;
    for action in ["token.revoked", "token.issued", "connection.created"] {
        assert!(trail.contains(action), "{action}: {trail}");
    }
    assert!(trail.contains("dashboard"), "{trail}");
    assert!(
        !trail.contains("list vendors"),
        "only admin actions: {trail}"
    );
    browser.assert_accessible("the audit trail").await;
    browser.close().await;
}

/// `--public-url` (README: "Links start with `--public-url`"), over plain
/// HTTP: behind a proxy at `https://interlink.example.com/`, the connect
/// link the API makes and the one the dashboard shows both start with it
/// (one slash before `connect`, whatever the flag ends with), their path is
/// the host's own connect page, and the dashboard's session cookie is
/// `Secure` (docs/security.md: "Secure when `--public-url` is https").
/// Catches links made from the listen address or the request's `Host`, a
/// doubled slash, and a cookie a browser would send over plain HTTP. Broken
/// once (the flag ignored: links made from the listen address): the test
/// failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_and_the_session_cookie_follow_the_public_url() {
    const PUBLIC: &str = "https://interlink.example.com";
    let server = Server::start_with(ServerOptions {
        adapters: &["example"],
        args: &["--public-url", "https://interlink.example.com/"],
        ..Default::default()
    });
    let http = crate::common::http();
    let (link, _) = connect_link(&http, &server, json!({"adapter": "example"})).await;
    let path = link
        .strip_prefix(PUBLIC)
        .unwrap_or_else(|| panic!("{link}"));
    assert!(path.starts_with("/connect/ilk_link_"), "{link}");
    // What the proxy forwards: the host serves the link's page.
    let page = Page::read(
        page_client(None)
            .get(server.url(path))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Connect your"), "{}", page.body);

    let signed_in = sign_in_with(&page_client(None), &server, &server.admin_key()).await;
    let cookie = signed_in
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("interlink_session="))
        .expect("a session cookie")
        .to_string();
    assert!(cookie.split(';').any(|a| a.trim() == "Secure"), "{cookie}");
    let operator = Operator::sign_in(&server).await;
    let shown = operator
        .post("/dashboard/connect-sessions", &[("adapter", "example")])
        .await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    assert!(
        shown
            .body
            .contains(&format!(r#"id="connect-link">{PUBLIC}/connect/ilk_link_"#)),
        "{}",
        shown.body
    );
}

/// An operator maps a field at the dashboard: the connection's records
/// show it under the new name at once, a writable mapping of a read-only
/// field is refused with the reason, and removing the mapping takes the
/// name away. Broken once (the dashboard's refusal page skipped: a refused
/// mapping redirected as if added), the test failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_maps_a_field_and_the_api_shows_it_under_that_name() {
    let (up, server, http) = setup().await;
    let (id, token) = connect(&http, &server, &up).await;
    let page = server.url(&format!("/dashboard/connections/{id}"));
    let browser = Browser::start().await;
    browser.sign_in(&server).await;
    browser.goto(&page).await;
    assert!(browser.text().await.contains("No mappings"));

    browser
        .fill("#mapping-source", "custom_fields.rating")
        .await;
    browser.fill("#mapping-target", "custom.score").await;
    browser.tick("#mapping-writable").await;
    browser.click("#add-mapping button").await;
    let refused = browser.text().await;
    assert!(
        refused.contains("`custom_fields.rating` is read-only in the system"),
        "{refused}"
    );

    browser.goto(&page).await;
    browser.fill("#mapping-source", "email").await;
    browser
        .fill("#mapping-target", "custom.contact_email")
        .await;
    browser.tick("#mapping-writable").await;
    browser.click("#add-mapping button").await;
    assert_eq!(browser.path().await, format!("/dashboard/connections/{id}"));
    let listed = browser.text().await;
    assert!(listed.contains("custom.contact_email"), "{listed}");
    browser
        .client
        .execute(
            "document.getElementById('mappings').scrollIntoView()",
            vec![],
        )
        .await
        .unwrap();
    browser.screenshot("dashboard-mappings").await;
    browser.assert_accessible("the mappings").await;

    let read = call(&http, M::GET, server.url("/v1/vendors"), &token, None).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    let vendor = &read.body["data"][0];
    assert_eq!(
        vendor["custom"]["contact_email"], vendor["email"],
        "{vendor}"
    );
    assert!(vendor["custom"]["contact_email"].is_string(), "{vendor}");
    let url = server.url(&format!("/v1/connections/{id}/mappings"));
    let mappings = call(&http, M::GET, url.clone(), &server.admin_key(), None).await;
    assert_eq!(
        mappings.body["mappings"][0]["writable"], true,
        "{}",
        mappings.body
    );

    browser
        .click("tr[data-target='custom.contact_email'] button")
        .await;
    assert_eq!(browser.path().await, format!("/dashboard/connections/{id}"));
    let mappings = call(&http, M::GET, url.clone(), &server.admin_key(), None).await;
    assert_eq!(mappings.body["mappings"], json!([]));
    let read = call(&http, M::GET, server.url("/v1/vendors"), &token, None).await;
    assert!(
        read.body["data"][0].get("custom").is_none(),
        "{}",
        read.body
    );

    // Each mapping form, posted with the operator's session but without its
    // CSRF token (as another site would), changes nothing.
    let cookie = browser
        .client
        .get_named_cookie("interlink_session")
        .await
        .unwrap();
    for action in ["mappings", "mappings/remove", "refresh"] {
        let forged = crate::common::http()
            .post(server.url(&format!("/dashboard/connections/{id}/{action}")))
            .header("cookie", format!("interlink_session={}", cookie.value()))
            .form(&[
                ("entity", "vendors"),
                ("source", "email"),
                ("target", "custom.x"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), StatusCode::FORBIDDEN, "{action}");
    }
    let mappings = call(&http, M::GET, url, &server.admin_key(), None).await;
    assert_eq!(mappings.body["mappings"], json!([]), "nothing was mapped");
    browser.close().await;
}

/// A connect link that asks for fields: once connected, the customer picks
/// which of their fields holds each, among those the system lets the API
/// write where the application writes; their picks become the
/// connection's mappings, under the system's rules (a read-only field for a
/// field the application writes is refused, and nothing is mapped).
/// Catches a page that offers read-only fields for writes, and picks that
/// bypass the mapping rules. Broken once (the page offering read-only
/// fields for the field the application writes), the test failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_maps_the_fields_a_link_asks_for() {
    let (up, server, http) = setup().await;
    let bad = call(
        &http,
        M::POST,
        server.url("/v1/connect-sessions"),
        &server.admin_key(),
        Some(json!({"adapter": "example", "fields": [
            {"entity": "vendors", "target": "custom.Bad", "label": "Bad"}]})),
    )
    .await;
    bad.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_mapping");
    let (link, session) = connect_link(
        &http,
        &server,
        json!({"adapter": "example", "fields": [
            {"entity": "vendors", "target": "custom.contact", "label": "Contact e-mail"},
            {"entity": "vendors", "target": "custom.region", "label": "Sales region",
             "writable": true},
            {"entity": "items", "target": "custom.contact", "label": "Product contact"}]}),
    )
    .await;

    let asked = submit_connect_form(&link, &up.base_url(), "demo-key").await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.body);
    assert!(asked.body.contains("Your fields") && asked.body.contains("Sales region"));
    let region = asked.body.split("id=\"field-1\"").nth(1).unwrap();
    let region = region.split("</select>").next().unwrap();
    assert!(region.contains("custom_fields.region"), "{region}");
    assert!(
        !region.contains("custom_fields.rating") && !region.contains("value=\"id\""),
        "read-only fields are not offered for a field the application writes: {region}"
    );

    let post = |fields: Vec<(&'static str, &'static str)>| {
        let url = format!("{link}/fields");
        async move {
            Page::read(
                page_client(None)
                    .post(url)
                    .form(&fields)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let refused = post(vec![
        ("field_0", "email"),
        ("field_1", "custom_fields.rating"),
    ])
    .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("read-only in the system"),
        "{}",
        refused.body
    );
    let view = session_view(&http, &server, &session).await;
    assert_eq!(
        view.body["connection"]["field_mappings"],
        json!([]),
        "nothing mapped"
    );

    let saved = post(vec![
        ("field_0", "email"),
        ("field_1", "custom_fields.region"),
        ("field_2", "name"),
    ])
    .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert!(saved.body.contains("is connected"), "{}", saved.body);
    let view = session_view(&http, &server, &session).await;
    let mappings = &view.body["connection"]["field_mappings"];
    assert_eq!(mappings[0]["target"], "custom.contact", "{mappings}");
    assert_eq!(mappings[0]["writable"], false);
    assert_eq!(mappings[1]["source"], "custom_fields.region");
    assert_eq!(mappings[1]["writable"], true);
    // The same name asked for two entities: each pick lands on its own.
    assert_eq!(mappings[2]["entity"], "items", "{mappings}");
    assert_eq!(mappings[2]["source"], "name");
    // Saved once: the link's fields are used up.
    let again = post(vec![("field_0", "phone")]).await;
    assert_eq!(again.status, StatusCode::GONE, "{}", again.body);

    let claimed = call(
        &http,
        M::POST,
        server.url(&format!("/v1/connect-sessions/{session}/token")),
        &server.admin_key(),
        None,
    )
    .await;
    let token = claimed.body["token"].as_str().unwrap();
    let read = call(&http, M::GET, server.url("/v1/vendors"), token, None).await;
    let vendor = &read.body["data"][0];
    assert_eq!(vendor["custom"]["contact"], vendor["email"], "{vendor}");

    let forged = Page::read(
        page_client(None)
            .post(server.url("/connect/ilk_link_forged/fields"))
            .form(&[("field_0", "email")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(forged.status, StatusCode::NOT_FOUND);
}

/// A 4×4 PNG in the brand's colour, as an operator's logo.
const LOGO_PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAQAAAAECAIAAAAmkwkpAAAAEElEQVR4nGPgjlkLRwzEcQC2oxFBYcGPIwAAAABJRU5ErkJggg==";

/// A host that connects the example adapter under the operator's brand.
async fn branded() -> (DemoUpstream, Server, reqwest::Client, tempfile::TempDir) {
    use base64::Engine;
    let up = DemoUpstream::start("127.0.0.1:0".parse().unwrap(), Options::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let logo = dir.path().join("logo.png");
    let png = base64::engine::general_purpose::STANDARD
        .decode(LOGO_PNG)
        .unwrap();
    std::fs::write(&logo, png).unwrap();
    let logo = logo.to_str().unwrap().to_string();
    let server = Server::start_with(ServerOptions {
        adapters: &["example", "netsuite"],
        args: &[
            "--brand-name",
            "Acme Procurement",
            "--brand-color",
            "#0b5cad",
            "--brand-logo",
            &logo,
        ],
        ..Default::default()
    });
    (up, server, crate::common::http(), dir)
}

/// The connect page as a customer meets it, in the operator's brand:
/// labels and the adapter's steps; a field the link presets is neither
/// shown nor taken; a refused credential is said next to its field; and
/// the page works with the keyboard alone, on a 360-pixel-wide screen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_connects_on_a_branded_page_with_labels_presets_and_inline_errors() {
    let (up, server, http, _logo) = branded().await;
    let preset = json!({"adapter": "example",
        "presets": {"base_url": {"value": up.base_url()}}});
    let (link, _) = connect_link(&http, &server, preset.clone()).await;

    let browser = Browser::start().await;
    browser.goto(&link).await;
    let form = browser.text().await;
    assert!(
        form.contains("Connect your Demo Procurement (example) account to Acme Procurement"),
        "{form}"
    );
    assert!(form.contains("Before you start"), "{form}");
    assert!(
        form.contains("Find your API's address and an API key"),
        "{form}"
    );
    let label = browser
        .client
        .find(Locator::Css("label[for=f-api_key]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(label, "API key", "the adapter's label, tied to its input");
    let legend = browser
        .client
        .find(Locator::Css("fieldset.group > legend"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(legend, "Credentials", "the field's group");
    assert!(
        browser
            .client
            .find(Locator::Css("#f-base_url"))
            .await
            .is_err(),
        "a preset is not an input"
    );
    assert!(
        !form.contains(&up.base_url()),
        "a hidden preset is not shown: {form}"
    );
    browser
        .assert_accessible("the connect page, its form")
        .await;
    // The brand: the logo loads and the colour applies, both allowed by the
    // page policy.
    let logo_width = browser
        .client
        .execute(
            "return document.querySelector('img.logo').naturalWidth",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(logo_width, 4, "the logo loads");
    let logo = http
        .get(server.url("/connect-assets/logo"))
        .send()
        .await
        .unwrap();
    assert_eq!(logo.headers()["content-type"], "image/png");
    assert_eq!(logo.headers()["cache-control"], "public, max-age=3600");
    assert_eq!(logo.headers()["x-content-type-options"], "nosniff");
    let button = browser
        .client
        .execute(
            "return getComputedStyle(document.querySelector('button')).backgroundColor",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(button, "rgb(11, 92, 173)", "the brand's colour applies");

    // A refused credential: said next to its field, which is marked.
    browser.fill("#f-api_key", "wrong-key").await;
    browser.click("button[type=submit]").await;
    let input = browser
        .client
        .find(Locator::Css("#f-api_key"))
        .await
        .unwrap();
    assert_eq!(
        input.attr("aria-invalid").await.unwrap().as_deref(),
        Some("true")
    );
    let described = input.attr("aria-describedby").await.unwrap().unwrap();
    assert!(described.contains("f-api_key-error"), "{described}");
    let inline = browser
        .client
        .find(Locator::Css("#f-api_key-error"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(inline.contains("Not accepted"), "{inline}");
    browser
        .assert_accessible("the connect page, a refused credential")
        .await;
    browser.screenshot("connect-page-inline-error").await;

    // A value for the preset, added to the form as a tampering customer
    // would: refused, next to nothing, and nothing tried.
    browser
        .client
        .execute(
            "const input = document.createElement('input'); input.name = 'base_url'; \
             input.value = 'http://127.0.0.1:9'; document.forms[0].appendChild(input);",
            vec![],
        )
        .await
        .unwrap();
    browser.fill("#f-api_key", "demo-key").await;
    browser.click("button[type=submit]").await;
    let tampered = browser.text().await;
    assert!(
        tampered.contains("set by whoever sent this link"),
        "{tampered}"
    );

    // Keyboard only: Tab to the key, type it, Enter.
    eventually(
        Duration::from_secs(10),
        "the key field focused by Tab",
        || async {
            let focused = browser.client.active_element().await.ok()?;
            if focused.attr("id").await.ok()?.as_deref() == Some("f-api_key") {
                return Some(());
            }
            focused
                .send_keys(&fantoccini::key::Key::Tab.to_string())
                .await
                .ok()?;
            None
        },
    )
    .await;
    let focused = browser.client.active_element().await.unwrap();
    focused
        .send_keys(&("demo-key".to_string() + &fantoccini::key::Key::Enter.to_string()))
        .await
        .unwrap();
    // The form's page goes stale as the next one loads: ask again then.
    eventually(Duration::from_secs(10), "the connected page", || async {
        let body = browser.client.find(Locator::Css("body")).await.ok()?;
        let text = body.text().await.ok()?;
        text.contains("What happens next").then_some(())
    })
    .await;
    let done = browser.text().await;
    assert!(done.contains("is connected"), "{done}");
    assert!(done.contains("Acme Procurement reads and writes"), "{done}");
    browser
        .assert_accessible("the connect page, connected")
        .await;
    browser.screenshot("connect-page-connected").await;

    // A phone's width: nothing wider than the screen.
    let (narrow, _) = connect_link(&http, &server, preset).await;
    browser.client.set_window_size(360, 800).await.unwrap();
    browser.goto(&narrow).await;
    let overflow = browser
        .client
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(overflow, 0, "no horizontal scrolling at 360 px");
    browser
        .assert_accessible("the connect page, 360 px wide")
        .await;
    // docs/screenshots/connect-page-360.png is this one.
    browser.screenshot("connect-page-360").await;

    // NetSuite's form: the bound account shown, not asked; the key's
    // choices; no input for the fields only the operator sets.
    let netsuite = json!({"adapter": "netsuite",
        "platform_key_for": {"account_id": "1234567"}});
    let (link, _) = connect_link(&http, &server, netsuite).await;
    browser.client.set_window_size(1280, 1700).await.unwrap();
    browser.goto(&link).await;
    let form = browser.text().await;
    for shown in [
        "Before you start",
        "Client ID",
        "Certificate ID",
        "Private key",
        "Use this service's certificate",
        "Set by Acme Procurement",
        "1234567",
    ] {
        assert!(form.contains(shown), "{shown}: {form}");
    }
    for operators in ["#f-base_url", "#f-writable_custom_fields", "#f-account_id"] {
        assert!(
            browser.client.find(Locator::Css(operators)).await.is_err(),
            "{operators} is the operator's"
        );
    }
    browser.screenshot("connect-page-netsuite").await;
    browser
        .assert_accessible("the connect page, NetSuite's form")
        .await;
    browser.close().await;
}

/// A value posted for a field the operator sets (declared operator-only,
/// or preset by the link) is refused before anything is tried, and said
/// next to no input: the customer cannot redirect the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_posted_value_for_a_preset_field_is_refused() {
    let (up, server, http) = setup().await;
    let (link, session) = connect_link(
        &http,
        &server,
        json!({"adapter": "example", "presets": {"base_url": {"value": up.base_url(), "visible": true}}}),
    )
    .await;
    let form = Page::read(http.get(&link).send().await.unwrap()).await;
    assert!(
        form.body.contains(&up.base_url()) && !form.body.contains("name=\"base_url\""),
        "a visible preset is shown, read-only: {}",
        form.body
    );
    let posted = reqwest::multipart::Form::new()
        .text("base_url", "http://127.0.0.1:9")
        .text("api_key", "demo-key");
    let refused = Page::read(http.post(&link).multipart(posted).send().await.unwrap()).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains("set by whoever sent this link"),
        "{}",
        refused.body
    );
    let status = session_view(&http, &server, &session).await;
    assert_eq!(status.body["status"], "open", "{}", status.body);
    assert_eq!(status.body["failed_attempts"], 0, "nothing was tried");

    // Without --brand-logo there is no logo to serve.
    let logo = http
        .get(server.url("/connect-assets/logo"))
        .send()
        .await
        .unwrap();
    assert_eq!(logo.status(), StatusCode::NOT_FOUND);

    // The operator's presets are checked when the link is made.
    for (presets, says) in [
        (json!({"nope": {"value": "x"}}), "has no config field"),
        (json!({"api_key": {"value": "k"}}), "never preset"),
        (
            json!({"base_url": {"value": "not a url"}}),
            "http or https URL",
        ),
        (json!({"base_url": {"value": "  "}}), "1 to 2048 characters"),
    ] {
        let made = call(
            &http,
            M::POST,
            server.url("/v1/connect-sessions"),
            &server.admin_key(),
            Some(json!({"adapter": "example", "presets": presets})),
        )
        .await;
        made.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_config");
        let message = made.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{message}");
    }

    // With the preset, the link connects the preset's system.
    let fine = reqwest::multipart::Form::new().text("api_key", "demo-key");
    let done = Page::read(http.post(&link).multipart(fine).send().await.unwrap()).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("is connected"), "{}", done.body);
}
