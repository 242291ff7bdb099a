//! The MCP door: `/mcp`, where AI agents read and write a connection's
//! system through the Model Context Protocol (Streamable HTTP, served by
//! `rmcp`), under the same token, scopes, rules and limits as the HTTP API,
//! whose own pieces it uses.
//!
//! A request, in order:
//!
//! 1. the connection token (`Authorization: Bearer`) is checked as the HTTP
//!    API checks it ([`ConnectionAuth`]: the same 401s, the same rate
//!    limit), on every request; a session (protocol versions before
//!    2026-07-28) stays bound to the API token that opened it;
//! 2. `tools/list` answers the tools of the connection's adapter as loaded
//!    now ([`tools`]): for each entity, `list`, `get`, `meta`, `create`,
//!    `update` and `delete` as the manifest declares them, and
//!    `sync_status`; only those the token's scopes allow, and only reads
//!    with `--mcp-read-only`;
//! 3. `tools/call` looks the name up the same way, so a tool the token does
//!    not see cannot be called by name. A read calls the data plane as the
//!    HTTP API's reads do; its answer is bounded in size and paged with
//!    cursors ([`page`]);
//! 4. a write ([`calls`]) first runs through the data plane as a dry run
//!    (every rule and the adapter run; nothing is sent) and answers the
//!    plan with a confirm token ([`confirm`]); only a second call with that
//!    token and the same arguments sends it, through the data plane again.
//!    A client that can ask its user (elicitation) is asked instead, and
//!    the user's yes sends it;
//! 5. when the registry swaps or unloads an adapter ([`notify`]), the open
//!    sessions and subscriptions of its connections get
//!    `notifications/tools/list_changed`.
//!
//! A tool that fails answers a tool result (`isError`) carrying the HTTP
//! API's error body, `{"error": {"code", "message", "request_id",
//! "details"}}`: a write refused by the rules says what `POST /v1/{entity}`
//! would have said. Tool annotations are hints for clients; the host
//! enforces.

mod calls;
pub mod confirm;
mod notify;
pub mod page;
pub mod tools;

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use rmcp::ServerHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ErrorData as McpError, Extensions, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, SubscriptionFilter,
};
use rmcp::service::{NotificationContext, RequestContext, RoleServer, SubscriptionContext};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::api::token::ConnectionAuth;
use crate::api::{AppState, MAX_JSON_BYTES, request_id};

/// How the door serves.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Only read tools are listed and callable (`--mcp-read-only`).
    pub read_only: bool,
}

/// `/mcp`, for every protocol version `rmcp` speaks: sessions for the
/// versions before 2026-07-28, stateless requests from it on.
pub fn router(state: AppState, options: Options) -> Router {
    let config = StreamableHttpServerConfig::default()
        // Every request carries a bearer token, which a page that rebinds
        // a name to this host does not have: the host is served under any
        // name its operator gives it.
        .disable_allowed_hosts()
        // A stateless call that sends nothing before its result answers
        // plain JSON, not an event stream of one event.
        .with_json_response(true)
        .with_max_request_body_bytes(MAX_JSON_BYTES);
    let door = Arc::new(Shared {
        state: state.clone(),
        options,
    });
    let service = StreamableHttpService::new(
        move || Ok(Door::new(door.clone())),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    Router::new()
        .route_service("/mcp", service)
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(middleware::from_fn_with_state(
            state,
            request_id::middleware,
        ))
}

/// Checks the connection token of every request, as the HTTP API does, and
/// hands it on to the handler (inside the request's parts).
async fn authenticate(auth: ConnectionAuth, mut request: Request, next: Next) -> Response {
    request.extensions_mut().insert(auth);
    next.run(request).await
}

/// What every door shares.
struct Shared {
    state: AppState,
    options: Options,
}

/// The handler of one session (protocol versions before 2026-07-28) or of
/// one request (from 2026-07-28 on).
#[derive(Clone)]
pub struct Door {
    shared: Arc<Shared>,
    /// The API token of the session's first request.
    owner: Arc<OnceLock<String>>,
    /// Cancelled when the session ends (its last handle is dropped): its
    /// watcher of adapter changes stops.
    _ended: Arc<DropGuard>,
    ended: CancellationToken,
}

impl Door {
    fn new(shared: Arc<Shared>) -> Door {
        let ended = CancellationToken::new();
        Door {
            shared,
            owner: Arc::default(),
            _ended: Arc::new(ended.clone().drop_guard()),
            ended,
        }
    }

    /// The token a request carried, checked by [`authenticate`]; a session
    /// answers only the token that opened it.
    fn auth(&self, extensions: &Extensions) -> Result<ConnectionAuth, McpError> {
        let auth = extensions
            .get::<axum::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<ConnectionAuth>())
            .cloned()
            .ok_or_else(|| McpError::internal_error("the request was not authenticated", None))?;
        let owner = self.owner.get_or_init(|| auth.token_id().to_string());
        if owner != auth.token_id() {
            return Err(McpError::invalid_request(
                "this MCP session was opened with another token; open a session of your own",
                None,
            ));
        }
        Ok(auth)
    }
}

impl ServerHandler for Door {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
        .with_server_info(Implementation::new("interlink", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "Tools read and write the business system of the connection whose token you hold, \
             under the rules its adapter declares. Read `<entity>_meta` before writing. A write \
             first answers its plan (the requests it would send) and a confirm_token; call the \
             same tool again with the same arguments and the confirm_token to send it.",
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let auth = self.auth(&context.extensions)?;
        let connection = auth.connection();
        let Some(adapter) = self.shared.state.registry.get(&connection.adapter_id) else {
            return Ok(ListToolsResult::default());
        };
        let read_only = self.shared.options.read_only;
        Ok(ListToolsResult::with_all_items(tools::list(
            adapter.manifest(),
            connection,
            &auth,
            read_only,
        )))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let auth = self.auth(&context.extensions)?;
        calls::call(
            &self.shared.state,
            self.shared.options,
            auth,
            request,
            &context,
        )
        .await
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(requested.supported_by(&self.get_info().capabilities))
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), McpError> {
        let auth = self.auth(&context.request_context().extensions)?;
        let adapter = auth.connection().adapter_id.clone();
        notify::listen(&self.shared.state.registry, &adapter, context).await
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let Ok(auth) = self.auth(&context.extensions) else {
            return;
        };
        notify::watch_session(
            &self.shared.state.registry,
            auth.connection().adapter_id.clone(),
            context.peer,
            self.ended.clone(),
        );
    }
}
