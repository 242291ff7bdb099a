//! A misbehaving adapter for the runtime's guard tests, and a manifest that
//! uses every kind of declaration the contract has.
//!
//! `list` behaves by entity:
//! - `echo`: one record `{"version": ...}`, no I/O;
//! - `slow`: asks the upstream's `/api/ping?delay_ms=400` first (in-flight tests);
//! - `spin`: loops forever (the deadline must stop it);
//! - `hog`: allocates without bound (the memory limit must stop it);
//! - `crash`: panics, which traps (adapters are built with `panic = "abort"`);
//! - `escape`: calls the `other_url` config value, which is not an allowed host;
//! - `imports`: uses the key-value store (and counts its connection's
//!   calls in it), the clock, the log and `sign-jwt`;
//! - `memory`: counts its calls in the instance's own memory (1 on a fresh
//!   instance; more only on one the host kept warm);
//! - `added`: only in the next version, the one record `{"added": ...}`
//!   (what a hot swap that adds an entity serves).
//!
//! It exists only as WebAssembly: natively the crate is empty.

#![cfg(target_arch = "wasm32")]

use std::sync::atomic::{AtomicU32, Ordering};

use interlink_sdk::http::Request;
use interlink_sdk::manifest::*;
use interlink_sdk::secrets::JwtAlgorithm;
use interlink_sdk::{Context, Error, ListRequest, Page, Result, json};

const VERSION: &str = if cfg!(feature = "next-version") {
    "2.0.0"
} else {
    "1.0.0"
};

struct Chaos;

fn one(record: interlink_sdk::Value) -> Result<Page> {
    Ok(Page {
        records: vec![record],
        next_cursor: None,
    })
}

impl interlink_sdk::Adapter for Chaos {
    fn manifest() -> Manifest {
        let mut manifest = Manifest::new("chaos", "Chaos (test adapter)", VERSION)
            .description("Misbehaves on purpose")
            .auth(AuthScheme::Oauth2ClientCredentialsJwt)
            .config(ConfigField::url("base_url", "Upstream"))
            .config(ConfigField::url("other_url", "Not allowed").optional())
            .config(ConfigField::text("account_id", "Account"))
            .config(ConfigField::integer("page_size", "Page size").optional())
            .config(ConfigField::boolean("sandbox", "Sandbox account").optional())
            .config(ConfigField::private_key("signing_key", "PEM private key").optional())
            .outbound_host("{base_url}")
            .outbound_host("https://{account_id}.api.example.com")
            .limits(5, Some(30));
        // The next version reaches one more host, lets `vendor_id` change
        // after creation, needs one more permission to update and serves
        // one more entity: what `interlink adapter check --against` must
        // name.
        let next = cfg!(feature = "next-version");
        if next {
            manifest = manifest.outbound_host("https://{account_id}.files.example.com");
        }
        let vendor_id = Field::text("vendor_id").required().references("vendors");
        let vendor_id = if next {
            vendor_id
        } else {
            vendor_id.create_only()
        };
        let edit: &[&str] = if next {
            &[
                "Transactions: Purchase Order (Edit)",
                "Transactions: Approve Purchase Orders",
            ]
        } else {
            &["Transactions: Purchase Order (Edit)"]
        };
        for name in [
            "echo", "slow", "spin", "hog", "crash", "escape", "imports", "memory",
        ] {
            manifest = manifest
                .entity(Entity::new(name, "test behaviour").operation(Operation::List, &[]));
        }
        if next {
            manifest = manifest.entity(
                Entity::new("added", "served from version 2.0.0 on")
                    .operation(Operation::List, &[]),
            );
        }
        manifest.entity(
            Entity::new("purchase-orders", "Every kind of declaration")
                .operation(Operation::List, &["Transactions: Purchase Order (View)"])
                .operation(
                    Operation::Create,
                    &["Transactions: Purchase Order (Create)", "REST Web Services"],
                )
                .operation(Operation::Update, edit)
                .operation(Operation::Delete, &["Transactions: Purchase Order (Full)"])
                .field(Field::text("id").read_only().description("Internal id"))
                .field(Field::integer("revision").read_only())
                .field(Field::decimal("total").read_only())
                .field(Field::boolean("approved"))
                .field(Field::date("order_date"))
                .field(Field::date_time("updated_at").read_only())
                .field(Field::enumeration("status", &["open", "billed", "closed"]).read_only())
                .field(Field::object("address"))
                .field(Field::text("address.city"))
                .field(vendor_id)
                .field(Field::text("memo"))
                .field(Field::text("custom_fields.custbody_approver").custom())
                .child(
                    ChildCollection::new("lines", "Lines")
                        .create_with_parent()
                        .min_count(1)
                        .field(Field::decimal("quantity").required()),
                )
                .state_lock(
                    StateLock::when("status", &["billed"])
                        .lock_all_fields_except(&["memo"])
                        .lock_operations(&[Operation::Delete])
                        .reason("Fully Billed"),
                )
                .state_lock(
                    StateLock::when("status", &["closed"])
                        .lock_all_fields()
                        .reason("Closed"),
                )
                .state_lock(StateLock::when("approved", &["true"]).lock_fields(&["vendor_id"])),
        )
    }

    fn connect(_ctx: &Context) -> Result<Account> {
        Ok(Account::new("chaos-1", "Chaos Inc.")
            .permissions(vec!["REST Web Services".into()])
            .custom_field(
                "purchase-orders",
                Field::text("custom_fields.custbody_extra").custom(),
            ))
    }

    fn list(ctx: &Context, request: ListRequest) -> Result<Page> {
        match request.entity.as_str() {
            "echo" => one(json!({"version": VERSION})),
            "added" if cfg!(feature = "next-version") => one(json!({"added": VERSION})),
            "memory" => {
                // State in the instance's own memory: 1 on a fresh instance,
                // counting up only on one the host kept warm.
                static CALLS: AtomicU32 = AtomicU32::new(0);
                one(json!({"calls_on_this_instance": CALLS.fetch_add(1, Ordering::Relaxed) + 1}))
            }
            "slow" => {
                let url = format!("{}/api/ping?delay_ms=400", ctx.config("base_url")?);
                Request::get(url)
                    .secret_header("Authorization", "api_key", "Bearer ")
                    .send()?
                    .error_for_status()?;
                one(json!({"version": VERSION}))
            }
            "spin" => {
                // Says it started, where the test can see it: one request
                // to the upstream, if the connection has one.
                if let Ok(base) = ctx.config("base_url") {
                    let _ = Request::get(format!("{base}/api/ping")).send();
                }
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "hog" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "crash" => panic!("the chaos adapter crashes on purpose"),
            "escape" => {
                let response = Request::get(ctx.config("other_url")?).send()?;
                one(json!({"status": response.status()}))
            }
            "imports" => {
                interlink_sdk::kv::set("token", b"cached", Some(60)).map_err(Error::unsupported)?;
                let cached = interlink_sdk::kv::get("token")
                    .map(|v| String::from_utf8_lossy(&v).into_owned());
                // Counts this connection's calls: only a store that outlives
                // the instance counts past one.
                let calls = interlink_sdk::kv::get("calls")
                    .and_then(|v| String::from_utf8(v).ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
                    + 1;
                interlink_sdk::kv::set("calls", calls.to_string().as_bytes(), None)
                    .map_err(Error::unsupported)?;
                interlink_sdk::log::info("imports called", &[("entity", "imports")]);
                let now = interlink_sdk::clock::now_seconds();
                let jwt = interlink_sdk::secrets::sign_jwt(
                    "signing_key",
                    JwtAlgorithm::Es256,
                    Some("cert-1"),
                    &json!({
                        "iss": ctx.config("account_id")?,
                        "aud": format!("{}/token", ctx.config("base_url")?),
                        "iat": now,
                        "exp": now + 60,
                    }),
                )
                .ok();
                one(json!({"cached": cached, "calls": calls, "now": now, "jwt": jwt}))
            }
            other => Err(Error::not_found(format!("no entity {other}"))),
        }
    }
}

interlink_sdk::export_adapter!(Chaos);
