//! Every error code a client can see, with the HTTP status it answers with:
//! the one vocabulary of `error.code` in the API's error body, of MCP tool
//! errors and of a connection's last error. Domain errors name their
//! [`Code`]; the HTTP API takes the status from it; the OpenAPI document
//! lists [`Code::ALL`]. Codes are stable: a new one may be added, none is
//! renamed or removed (see `CHANGELOG.md`'s version policy).
//!
//! Codes of a field inside `details.errors` (an adapter's own validation
//! codes, a connection config's `invalid_value`) are the erring part's, not
//! listed here; the write rules' are, since a refused write answers with
//! its first violation's code.

use http::StatusCode;

macro_rules! codes {
    ($($(#[doc = $doc:literal])+ $variant:ident = $text:literal => $status:ident,)+) => {
        /// A client-visible error code; see the module documentation.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $($(#[doc = $doc])+ $variant,)+
        }

        impl Code {
            /// Every code, in the order of this file.
            pub const ALL: &[Code] = &[$(Code::$variant,)+];

            /// The code as clients read it: `snake_case`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $text,)+
                }
            }

            /// The HTTP status an answer with this code has.
            pub const fn status(self) -> StatusCode {
                match self {
                    $(Code::$variant => StatusCode::$status,)+
                }
            }
        }
    };
}

codes! {
    // 400: the request itself is malformed.
    /// The request is malformed (a status a layer answered without a body).
    BadRequest = "bad_request" => BAD_REQUEST,
    /// The body is not JSON.
    InvalidJson = "invalid_json" => BAD_REQUEST,
    /// A query parameter is out of its range or malformed.
    InvalidQuery = "invalid_query" => BAD_REQUEST,
    /// A record id is empty, too long or holds control characters.
    InvalidRecordId = "invalid_record_id" => BAD_REQUEST,
    /// A passthrough path leaves the system's API or is malformed.
    InvalidPassthroughPath = "invalid_passthrough_path" => BAD_REQUEST,
    /// A passthrough request cannot be dry-run.
    DryRunUnsupported = "dry_run_unsupported" => BAD_REQUEST,
    /// An upload has no body.
    EmptyBody = "empty_body" => BAD_REQUEST,
    /// An `Idempotency-Key` header is empty, too long or not text.
    InvalidIdempotencyKey = "invalid_idempotency_key" => BAD_REQUEST,
    /// An MCP tool's arguments do not match its schema.
    InvalidArguments = "invalid_arguments" => BAD_REQUEST,
    /// An MCP cursor is not one this host gave.
    InvalidCursor = "invalid_cursor" => BAD_REQUEST,
    /// An MCP tool's answer would exceed the size an agent can take.
    ResultTooLarge = "result_too_large" => BAD_REQUEST,

    // 401: who is asking is not known, or may no longer ask.
    /// No connection token was sent.
    TokenMissing = "token_missing" => UNAUTHORIZED,
    /// The token belongs to no connection, or was revoked.
    TokenInvalid = "token_invalid" => UNAUTHORIZED,
    /// The token has expired.
    TokenExpired = "token_expired" => UNAUTHORIZED,
    /// The connection was disconnected (409 where an operator acts on it).
    ConnectionDisconnected = "connection_disconnected" => UNAUTHORIZED,
    /// The system rejected the connection's credentials: reconnect.
    ConnectionRequiresReauthorization = "connection_requires_reauthorization" => UNAUTHORIZED,
    /// No admin key was sent.
    AdminKeyMissing = "admin_key_missing" => UNAUTHORIZED,
    /// The admin key is wrong.
    AdminKeyInvalid = "admin_key_invalid" => UNAUTHORIZED,

    // 402
    /// Every credit is held by an active connection.
    NoCredits = "no_credits" => PAYMENT_REQUIRED,

    // 403: known, but not allowed.
    /// The token's scopes do not cover the request.
    InsufficientScope = "insufficient_scope" => FORBIDDEN,
    /// The connection's account lacks a permission the operation needs.
    InsufficientPermissions = "insufficient_permissions" => FORBIDDEN,
    /// The MCP endpoint serves reads only (`--mcp-read-only`).
    McpReadOnly = "mcp_read_only" => FORBIDDEN,

    // 404
    /// No such route.
    NotFound = "not_found" => NOT_FOUND,
    /// The adapter declares no such entity.
    UnknownEntity = "unknown_entity" => NOT_FOUND,
    /// The system has no such record.
    RecordNotFound = "record_not_found" => NOT_FOUND,
    /// No adapter has this id.
    AdapterNotFound = "adapter_not_found" => NOT_FOUND,
    /// No connection has this id.
    ConnectionNotFound = "connection_not_found" => NOT_FOUND,
    /// No connect session has this id.
    ConnectSessionNotFound = "connect_session_not_found" => NOT_FOUND,
    /// The connect link is not one this host made.
    ConnectLinkUnknown = "connect_link_unknown" => NOT_FOUND,
    /// The connection has no webhook subscription with this id.
    SubscriptionNotFound = "subscription_not_found" => NOT_FOUND,
    /// The subscription has no delivery with this id.
    DeliveryNotFound = "delivery_not_found" => NOT_FOUND,
    /// The connection has no token with this id.
    TokenNotFound = "token_not_found" => NOT_FOUND,
    /// The host has no platform certificate.
    NoPlatformCertificate = "no_platform_certificate" => NOT_FOUND,
    /// The entity has no sync schedule.
    NoSyncSchedule = "no_sync_schedule" => NOT_FOUND,

    // 405
    /// No such method on this route.
    MethodNotAllowed = "method_not_allowed" => METHOD_NOT_ALLOWED,
    /// The adapter does not offer this operation on the entity.
    OperationNotSupported = "operation_not_supported" => METHOD_NOT_ALLOWED,

    // 409: the state of things does not allow it now.
    /// The record's workflow state locks it (billed, closed, released).
    StateLocked = "state_locked" => CONFLICT,
    /// The system refused the write as conflicting with its state.
    Conflict = "conflict" => CONFLICT,
    /// A request with this idempotency key is still running.
    IdempotencyKeyInFlight = "idempotency_key_in_flight" => CONFLICT,
    /// The connection is disconnected: what was asked needs a live one.
    ConnectionNotActive = "connection_not_active" => CONFLICT,
    /// The connect session has no connection yet.
    NotConnected = "not_connected" => CONFLICT,
    /// The connect session's token was already claimed.
    TokenClaimed = "token_claimed" => CONFLICT,
    /// The connection holds as many tokens as it may.
    TooManyTokens = "too_many_tokens" => CONFLICT,
    /// An MCP confirmation token is unknown, used or expired.
    ConfirmTokenInvalid = "confirm_token_invalid" => CONFLICT,
    /// An MCP confirmation token was given for another change.
    ConfirmTokenMismatch = "confirm_token_mismatch" => CONFLICT,
    /// A sync of the entity is running.
    SyncRunning = "sync_running" => CONFLICT,

    // 408
    /// The request's body did not arrive by its deadline.
    RequestTimeout = "request_timeout" => REQUEST_TIMEOUT,

    // 410
    /// The connect link has expired.
    ConnectLinkExpired = "connect_link_expired" => GONE,
    /// The connect link was used.
    ConnectLinkUsed = "connect_link_used" => GONE,
    /// The connect link was locked after too many failed attempts.
    ConnectLinkLocked = "connect_link_locked" => GONE,

    // 413, 415
    /// The request body is too large.
    PayloadTooLarge = "payload_too_large" => PAYLOAD_TOO_LARGE,
    /// The request body has the wrong content type.
    UnsupportedMediaType = "unsupported_media_type" => UNSUPPORTED_MEDIA_TYPE,

    // 422: well-formed, but refused by a rule.
    /// The body is not what the route takes.
    InvalidBody = "invalid_body" => UNPROCESSABLE_ENTITY,
    /// A connection's config or credentials are invalid (`details.errors`).
    InvalidConfig = "invalid_config" => UNPROCESSABLE_ENTITY,
    /// The system rejected the credentials given to connect.
    CredentialsRejected = "credentials_rejected" => UNPROCESSABLE_ENTITY,
    /// Connecting through a connect link failed (the page says why).
    ConnectFailed = "connect_failed" => UNPROCESSABLE_ENTITY,
    /// An upload is not a valid adapter.
    InvalidAdapter = "invalid_adapter" => UNPROCESSABLE_ENTITY,
    /// An upload's manifest names another adapter than its URL.
    AdapterIdMismatch = "adapter_id_mismatch" => UNPROCESSABLE_ENTITY,
    /// A webhook subscription is invalid (URL, events, receiver address).
    InvalidSubscription = "invalid_subscription" => UNPROCESSABLE_ENTITY,
    /// The connection holds as many subscriptions as it may.
    TooManySubscriptions = "too_many_subscriptions" => UNPROCESSABLE_ENTITY,
    /// A token request is invalid (scopes, expiry).
    InvalidToken = "invalid_token" => UNPROCESSABLE_ENTITY,
    /// A sync schedule is invalid (interval, page size, backfill time).
    InvalidSchedule = "invalid_schedule" => UNPROCESSABLE_ENTITY,
    /// The system refused the record (`details.errors`).
    ValidationFailed = "validation_failed" => UNPROCESSABLE_ENTITY,
    /// The idempotency key was used with another request.
    IdempotencyKeyReused = "idempotency_key_reused" => UNPROCESSABLE_ENTITY,
    /// A write sets a read-only field.
    FieldReadOnly = "field_read_only" => UNPROCESSABLE_ENTITY,
    /// An update sets a field that only a create may set.
    FieldCreateOnly = "field_create_only" => UNPROCESSABLE_ENTITY,
    /// A write sets a custom field the system's API cannot write.
    CustomFieldNotWritable = "custom_field_not_writable" => UNPROCESSABLE_ENTITY,
    /// A write sets a field the entity does not have.
    UnknownField = "unknown_field" => UNPROCESSABLE_ENTITY,
    /// A value has the wrong type.
    InvalidType = "invalid_type" => UNPROCESSABLE_ENTITY,
    /// A create lacks a required field.
    FieldRequired = "field_required" => UNPROCESSABLE_ENTITY,
    /// A field mapping is invalid (`details.violations`), or a target
    /// cannot be one.
    InvalidMapping = "invalid_mapping" => UNPROCESSABLE_ENTITY,
    /// A writable mapping of a field the system does not let anyone write.
    MappingSourceReadOnly = "mapping_source_read_only" => UNPROCESSABLE_ENTITY,
    /// A mapped field the system no longer has, or has with another type.
    MappingDrift = "mapping_drift" => UNPROCESSABLE_ENTITY,
    /// A field mapped twice, or written both under its own name and its
    /// mapped one.
    MappingConflict = "mapping_conflict" => UNPROCESSABLE_ENTITY,
    /// A record has fewer lines than it must.
    TooFewChildren = "too_few_children" => UNPROCESSABLE_ENTITY,
    /// Lines are created only with their header.
    MustCreateWithParent = "must_create_with_parent" => UNPROCESSABLE_ENTITY,

    // 429
    /// The connection's write budget is spent (the adapter's or the
    /// operator's), or the system asked to slow down.
    RateLimited = "rate_limited" => TOO_MANY_REQUESTS,
    /// The connection has as many calls running as it may.
    TooManyRequests = "too_many_requests" => TOO_MANY_REQUESTS,
    /// The token's requests a minute are spent.
    TokenRateLimited = "token_rate_limited" => TOO_MANY_REQUESTS,

    // 500
    /// A failure of ours; the logs have it under the request id.
    Internal = "internal" => INTERNAL_SERVER_ERROR,

    // 501
    /// The system does not support the operation.
    Unsupported = "unsupported" => NOT_IMPLEMENTED,
    /// The adapter declares no passthrough.
    PassthroughNotSupported = "passthrough_not_supported" => NOT_IMPLEMENTED,

    // 502: the system or the adapter failed.
    /// The system answered with an error.
    UpstreamError = "upstream_error" => BAD_GATEWAY,
    /// The adapter exceeded its memory limit.
    AdapterMemoryLimit = "adapter_memory_limit" => BAD_GATEWAY,
    /// The adapter trapped.
    AdapterCrashed = "adapter_crashed" => BAD_GATEWAY,
    /// The adapter answered something the contract does not allow.
    AdapterInvalidOutput = "adapter_invalid_output" => BAD_GATEWAY,
    /// The adapter asked for an address its network policy refuses.
    OutboundDenied = "outbound_denied" => BAD_GATEWAY,

    // 503
    /// Every instance of the runtime is busy.
    Busy = "busy" => SERVICE_UNAVAILABLE,
    /// The connection's adapter is not loaded.
    AdapterUnavailable = "adapter_unavailable" => SERVICE_UNAVAILABLE,
    /// The host is still loading its adapters.
    Starting = "starting" => SERVICE_UNAVAILABLE,

    // 504
    /// The adapter's call ran out of time.
    AdapterTimeout = "adapter_timeout" => GATEWAY_TIMEOUT,
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_errors() {
        let mut seen = std::collections::BTreeSet::new();
        for code in Code::ALL {
            let text = code.as_str();
            assert!(seen.insert(text), "{text} twice");
            assert!(
                text.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{text}"
            );
            assert!(
                code.status().is_client_error() || code.status().is_server_error(),
                "{text}"
            );
        }
    }
}
