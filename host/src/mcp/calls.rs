//! A tool call: looked up among the tools the request sees, its arguments
//! checked, then a read, or a write in two steps (plan, then send), each
//! through the data plane exactly as the HTTP API's handlers call it.
//!
//! A write without `confirm_token` is a dry run ([`Mode::DryRun`]): every
//! rule and the adapter run, and the requests that would change the system
//! are held. Its answer is the plan (those requests, redacted as the HTTP
//! dry run shows them) and a confirm token ([`confirm`]). To a client that
//! can ask its user (form elicitation), the plan is asked about instead:
//! on protocol 2026-07-28 as an input request whose request state is a
//! confirm token only the user's answer redeems; before it, within the
//! call. The write is sent ([`Mode::Send`]) only with a valid token, or on
//! the user's yes.

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ElicitRequest,
    ElicitRequestParams, ElicitResult, ElicitationAction, ElicitationSchema, ErrorData as McpError,
    InputRequest, InputRequests, InputRequiredResult, ProtocolVersion,
};
use rmcp::service::{RequestContext, RoleServer};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::Options;
use super::confirm::{self, Channel};
use super::page::{self, Cursor, MAX_RESULT_BYTES};
use super::tools::{self, Call, Hidden, Verb};
use crate::api::AppState;
use crate::api::data::{ListQuery, list_request};
use crate::api::error::ApiError;
use crate::api::token::ConnectionAuth;
use crate::api::writes::DryRunRequest;
use crate::audit::{AuditKind, AuditOutcome};
use crate::code::Code;
use crate::dataplane::{Mode, Written};

/// The key of the confirmation among an elicitation's input requests.
const CONFIRM: &str = "confirm";

/// Runs the tool `request` names for `auth`.
///
/// # Errors
///
/// A JSON-RPC error only for a tool that does not exist for this request;
/// everything else is a tool result.
pub async fn call(
    state: &AppState,
    options: Options,
    auth: ConnectionAuth,
    request: CallToolRequestParams,
    context: &RequestContext<RoleServer>,
) -> Result<CallToolResponse, McpError> {
    let unknown = || McpError::invalid_params(format!("no tool `{}`", request.name), None);
    let call = Call::parse(&request.name).ok_or_else(unknown)?;
    let answer = run(state, options, &auth, &call, &request, context).await;
    let answer = match answer {
        Err(Outcome::Unknown) => return Err(unknown()),
        Err(Outcome::Failed(error)) => Err(error),
        Ok(answer) => Ok(answer),
    };
    if state.audit.on() {
        let (outcome, detail) = match &answer {
            Ok(_) => (AuditOutcome::Ok, json!({})),
            Err(error) if error.code.status().is_server_error() => {
                (AuditOutcome::Error, json!({"code": error.code}))
            }
            Err(error) => (AuditOutcome::Refused, json!({"code": error.code})),
        };
        let action = format!("tool {}", request.name);
        let entry = auth
            .caller
            .trail
            .entry(AuditKind::Mcp, outcome, action, detail);
        state.audit.record(entry);
    }
    let request_id = auth.caller.request_id();
    Ok(answer.unwrap_or_else(|error| failed(error, request_id).into()))
}

/// Why a tool call has no answer: the tool does not exist for this request,
/// or it failed as the HTTP API would.
enum Outcome {
    Unknown,
    Failed(ApiError),
}

impl From<ApiError> for Outcome {
    fn from(error: ApiError) -> Self {
        Outcome::Failed(error)
    }
}

/// Runs `call` for `auth`.
async fn run(
    state: &AppState,
    options: Options,
    auth: &ConnectionAuth,
    call: &Call,
    request: &CallToolRequestParams,
    context: &RequestContext<RoleServer>,
) -> Result<CallToolResponse, Outcome> {
    let connection = auth.connection();
    let Some(adapter) = state.registry.get(&connection.adapter_id) else {
        let missing =
            crate::dataplane::DataError::AdapterUnavailable(connection.adapter_id.clone());
        return Err(ApiError::from(missing).into());
    };
    match tools::visible(call, adapter.manifest(), auth, options.read_only) {
        Ok(()) => {}
        Err(Hidden::NotServed) => return Err(Outcome::Unknown),
        Err(Hidden::Scope(access, entity)) => {
            return Err(auth.require(access, entity.as_deref()).unwrap_err().into());
        }
        Err(Hidden::ReadOnly) => {
            return Err(ApiError::new(
                Code::McpReadOnly,
                "this host's MCP door serves only reads (--mcp-read-only); \
                 write over the HTTP API",
            )
            .into());
        }
    }
    let arguments = request.arguments.clone().unwrap_or_default();
    let answer = match call {
        Call::SyncStatus => match no_arguments(&arguments) {
            Ok(()) => crate::api::syncs::sync_status(state, &connection.id)
                .await
                .and_then(|status| answer(&status))
                .map(Into::into),
            Err(invalid) => Err(invalid),
        },
        Call::Entity(entity, verb) if verb.writes() => {
            write(state, auth, request, entity, *verb, arguments, context).await
        }
        Call::Entity(entity, verb) => read(state, auth, entity, *verb, arguments)
            .await
            .map(Into::into),
    };
    answer.map_err(Outcome::Failed)
}

/// The error body of the HTTP API, as a tool's failed result; with
/// `retry_after_seconds` where the HTTP API sends `Retry-After`.
fn failed(error: ApiError, request_id: &str) -> CallToolResult {
    let mut body = serde_json::to_value(&error).expect("an error serializes");
    body["request_id"] = request_id.into();
    if let Some(after) = error.retry_after {
        body["retry_after_seconds"] = after.as_secs_f64().ceil().max(1.0).into();
    }
    CallToolResult::structured_error(json!({ "error": body }))
}

/// `value` as a tool's result (structured, and as the text of the same
/// JSON), if it is within the bound. It is serialized once.
fn answer(value: &impl serde::Serialize) -> Result<CallToolResult, ApiError> {
    let text = serde_json::to_string(value).map_err(ApiError::internal)?;
    if text.len() > MAX_RESULT_BYTES {
        return Err(page::too_large(
            "the answer is larger than an MCP answer may be (64 KiB of JSON); \
             read it over the HTTP API",
        ));
    }
    let structured = serde_json::from_str(&text).map_err(ApiError::internal)?;
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    result.structured_content = Some(structured);
    Ok(result)
}

fn invalid_arguments(message: impl Into<String>) -> ApiError {
    ApiError::new(Code::InvalidArguments, message)
}

/// The arguments as `T` (whose fields say which are allowed).
fn arguments<T: DeserializeOwned>(arguments: Map<String, Value>) -> Result<T, ApiError> {
    serde_json::from_value(Value::Object(arguments)).map_err(|e| invalid_arguments(e.to_string()))
}

fn no_arguments(arguments: &Map<String, Value>) -> Result<(), ApiError> {
    match arguments.keys().next() {
        None => Ok(()),
        Some(name) => Err(invalid_arguments(format!(
            "this tool takes no arguments (got `{name}`)"
        ))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListArguments {
    cursor: Option<String>,
    page_size: Option<u32>,
    modified_after: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ById {
    id: String,
}

async fn read(
    state: &AppState,
    auth: &ConnectionAuth,
    entity: &str,
    verb: Verb,
    given: Map<String, Value>,
) -> Result<CallToolResult, ApiError> {
    let connection = auth.connection();
    match verb {
        Verb::List => {
            let given: ListArguments = arguments(given)?;
            let from = match &given.cursor {
                Some(cursor) => Cursor::decode(cursor)?,
                None => Cursor {
                    at: None,
                    page_size: given
                        .page_size
                        .unwrap_or(crate::api::data::DEFAULT_PAGE_SIZE),
                    skip: 0,
                },
            };
            let query = ListQuery {
                cursor: from.at.clone(),
                page_size: Some(from.page_size),
                modified_after: given.modified_after,
            };
            let request = list_request(entity.to_string(), query)?;
            let page = state.dataplane.list(&auth.caller, &request).await?;
            answer(&page::cut(page, &from)?)
        }
        Verb::Get => {
            let ById { id } = arguments(given)?;
            let record = state.dataplane.get(&auth.caller, entity, &id).await?;
            answer(&record)
        }
        Verb::Meta => {
            no_arguments(&given)?;
            answer(&crate::api::meta::entity_meta(state, connection, entity)?)
        }
        Verb::Create | Verb::Update | Verb::Delete => unreachable!("reads only"),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateArguments {
    record: Value,
    idempotency_key: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateArguments {
    id: String,
    fields: Value,
}

/// A write's arguments, checked.
enum Write {
    Create(CreateArguments),
    Update(UpdateArguments),
    Delete(ById),
}

impl Write {
    fn parse(verb: Verb, given: Map<String, Value>) -> Result<Write, ApiError> {
        Ok(match verb {
            Verb::Create => {
                let create: CreateArguments = arguments(given)?;
                let key = &create.idempotency_key;
                if !(1..=255).contains(&key.len()) || !key.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(invalid_arguments(
                        "idempotency_key must be 1 to 255 visible ASCII characters",
                    ));
                }
                Write::Create(create)
            }
            Verb::Update => Write::Update(arguments(given)?),
            Verb::Delete => Write::Delete(arguments(given)?),
            Verb::List | Verb::Get | Verb::Meta => unreachable!("writes only"),
        })
    }

    /// Runs the write through the data plane in `mode`: its result, or in
    /// a dry run the plan.
    async fn run(
        &self,
        state: &AppState,
        auth: &ConnectionAuth,
        entity: &str,
        mode: Mode,
    ) -> Result<Value, ApiError> {
        let dataplane = &state.dataplane;
        let caller = &auth.caller;
        let written = match self {
            Write::Create(c) => {
                let key = Some(c.idempotency_key.as_str());
                match dataplane
                    .create(caller, entity, c.record.clone(), key, mode)
                    .await?
                {
                    Written::Done(created) => Written::Done(json!({
                        "written": true,
                        "record": created.record,
                        "replayed": created.replayed,
                    })),
                    Written::DryRun(held) => Written::DryRun(held),
                }
            }
            Write::Update(u) => match dataplane
                .update(caller, entity, &u.id, u.fields.clone(), mode)
                .await?
            {
                Written::Done(record) => Written::Done(json!({"written": true, "record": record})),
                Written::DryRun(held) => Written::DryRun(held),
            },
            Write::Delete(d) => match dataplane.delete(caller, entity, &d.id, mode).await? {
                Written::Done(()) => Written::Done(json!({"written": true, "deleted": d.id})),
                Written::DryRun(held) => Written::DryRun(held),
            },
        };
        Ok(match written {
            Written::Done(done) => done,
            Written::DryRun(held) => {
                let requests: Vec<DryRunRequest> = held.into_iter().map(Into::into).collect();
                json!({"dry_run": true, "requests": requests})
            }
        })
    }
}

/// The answer of a write that was sent: its result, or, if that passes the
/// bound, that it was written.
fn sent(done: Value, entity: &str) -> CallToolResult {
    answer(&done).unwrap_or_else(|_| {
        CallToolResult::structured(json!({
            "written": true,
            "record_omitted": format!(
                "the stored record is larger than an MCP answer may be (64 KiB of JSON); \
                 read it with `{entity}_get` or over the HTTP API"
            ),
        }))
    })
}

/// The user's answer to the confirmation, from an elicitation's result.
fn confirmed(result: Option<&Value>) -> bool {
    result
        .and_then(|r| serde_json::from_value::<ElicitResult>(r.clone()).ok())
        .is_some_and(|r| {
            r.action == ElicitationAction::Accept
                && r.content.as_ref().and_then(|c| c.get(CONFIRM)) == Some(&Value::Bool(true))
        })
}

fn not_written(reason: &str) -> CallToolResult {
    CallToolResult::structured(json!({"written": false, "reason": reason}))
}

/// What the user is asked: the plan, as the requests it would send.
fn question(tool: &str, plan: &Value) -> ElicitRequestParams {
    let mut requests = serde_json::to_string_pretty(&plan["requests"]).unwrap_or_default();
    if requests.len() > 4096 {
        let mut end = 4096;
        while !requests.is_char_boundary(end) {
            end -= 1;
        }
        requests.truncate(end);
        requests.push_str("\n[...]");
    }
    let schema = ElicitationSchema::builder()
        .required_bool_property(CONFIRM, |b| b.description("Send this write"))
        .build()
        .expect("a valid schema");
    ElicitRequestParams::FormElicitationParams {
        meta: None,
        message: format!(
            "An agent asks to run `{tool}`. Every rule passed; Interlink would send:\n{requests}"
        ),
        requested_schema: schema,
    }
}

async fn write(
    state: &AppState,
    auth: &ConnectionAuth,
    request: &CallToolRequestParams,
    entity: &str,
    verb: Verb,
    mut given: Map<String, Value>,
    context: &RequestContext<RoleServer>,
) -> Result<CallToolResponse, ApiError> {
    let dataplane = &state.dataplane;
    let tool = request.name.as_ref();
    let token = match given.remove("confirm_token") {
        None => None,
        Some(Value::String(token)) => Some(token),
        Some(_) => return Err(invalid_arguments("confirm_token must be a string")),
    };
    let write = Write::parse(verb, given.clone())?;
    if let Some(token) = token {
        let bound = confirm::binding(auth, tool, &given, Channel::Token);
        confirm::redeem(dataplane, auth, &token, &bound).await?;
        let done = write.run(state, auth, entity, Mode::Send).await?;
        return Ok(sent(done, entity).into());
    }
    if let Some(token) = &request.request_state {
        // The retry of an elicitation (2026-07-28): the user's answer.
        let bound = confirm::binding(auth, tool, &given, Channel::Elicitation);
        confirm::redeem(dataplane, auth, token, &bound).await?;
        let answer = request
            .input_responses
            .as_ref()
            .and_then(|r| r.get(CONFIRM));
        if !confirmed(answer) {
            return Ok(not_written("the user did not confirm the write").into());
        }
        let done = write.run(state, auth, entity, Mode::Send).await?;
        return Ok(sent(done, entity).into());
    }
    let plan = write.run(state, auth, entity, Mode::DryRun).await?;
    if !can_ask(context) {
        let bound = confirm::binding(auth, tool, &given, Channel::Token);
        let token = confirm::issue(dataplane, auth, bound).await?;
        let mut plan = plan;
        plan["confirm_token"] = token.into();
        plan["expires_in_seconds"] = confirm::TTL.as_secs().into();
        plan["next"] = format!(
            "nothing was sent; to send it, call `{tool}` again with the same arguments and \
             this confirm_token"
        )
        .into();
        return answer(&plan).map(Into::into);
    }
    let question = question(tool, &plan);
    if modern(context) {
        let bound = confirm::binding(auth, tool, &given, Channel::Elicitation);
        let token = confirm::issue(dataplane, auth, bound).await?;
        let requests = InputRequests::from([(
            CONFIRM.to_string(),
            InputRequest::Elicitation(ElicitRequest::new(question)),
        )]);
        return Ok(InputRequiredResult::new(Some(requests), Some(token)).into());
    }
    let asked = context
        .peer
        .create_elicitation_with_timeout(question, Some(confirm::TTL))
        .await;
    match asked {
        Ok(result) if confirmed(Some(&serde_json::to_value(&result).unwrap_or_default())) => {
            let done = write.run(state, auth, entity, Mode::Send).await?;
            Ok(sent(done, entity).into())
        }
        Ok(_) => Ok(not_written("the user did not confirm the write").into()),
        Err(e) => Ok(not_written(&format!("the user could not be asked: {e}")).into()),
    }
}

/// Whether the client can ask its user (form elicitation).
fn can_ask(context: &RequestContext<RoleServer>) -> bool {
    context
        .client_capabilities()
        .and_then(|c| c.elicitation)
        .is_some_and(|e| e.form.is_some() || e.url.is_none())
}

/// Whether the request speaks 2026-07-28 or later, where a server asks
/// through input requests rather than within the call.
fn modern(context: &RequestContext<RoleServer>) -> bool {
    context
        .protocol_version()
        .is_some_and(|v| v.as_str() >= ProtocolVersion::V_2026_07_28.as_str())
}
