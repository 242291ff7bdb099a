//! Confirm tokens: a write tool's first call is a dry run, which answers
//! its plan and a confirm token; the write is sent only by a call that
//! brings the token back, with the same API token, the same tool and the
//! same arguments, within [`TTL`], once.
//!
//! A token is bound to the SHA-256 of all of that (the arguments in a
//! canonical form, without the token) and to how the confirmation was
//! asked for: a token answered to the agent, or the request state of an
//! elicitation, which only the user's answer redeems. The data plane keeps
//! it ([`DataPlane::issue_confirmation`]) and takes it out at the first
//! attempt to use it: a replay finds nothing, and a call with other
//! arguments is refused and spends it.

use std::time::Duration;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::api::error::ApiError;
use crate::api::token::ConnectionAuth;
use crate::code::Code;
use crate::dataplane::DataPlane;

/// How long a confirm token works.
pub const TTL: Duration = Duration::from_secs(5 * 60);

/// How a write's confirmation is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// The token is answered to the agent, which passes it back.
    Token,
    /// The token is an elicitation's request state, redeemed with the
    /// user's answer (protocol 2026-07-28).
    Elicitation,
}

/// What a confirm token is bound to: the API token, the tool, its
/// arguments (but `confirm_token`) and the channel.
pub fn binding(
    auth: &ConnectionAuth,
    tool: &str,
    arguments: &Map<String, Value>,
    channel: Channel,
) -> String {
    let mut text = String::new();
    canonical(&Value::Object(arguments.clone()), &mut text);
    let mut hash = Sha256::new();
    for part in [
        auth.token_id(),
        tool,
        &text,
        match channel {
            Channel::Token => "token",
            Channel::Elicitation => "elicitation",
        },
    ] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hex::encode(hash.finalize())
}

/// `value` as JSON with every object's keys sorted: two arguments that are
/// the same JSON are the same text, in whatever order they were written.
fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Issues a confirm token bound to `binding`, for the connection of `auth`.
///
/// # Errors
///
/// The database failed.
pub async fn issue(
    dataplane: &DataPlane,
    auth: &ConnectionAuth,
    binding: String,
) -> Result<String, ApiError> {
    Ok(dataplane
        .issue_confirmation(&auth.caller, binding, TTL)
        .await?)
}

/// Spends `token`, which must be bound to `binding`.
///
/// # Errors
///
/// `confirm_token_invalid`: unknown, used, expired or another connection's;
/// `confirm_token_mismatch`: issued for other arguments, another tool or
/// another API token (and now spent).
pub async fn redeem(
    dataplane: &DataPlane,
    auth: &ConnectionAuth,
    token: &str,
    binding: &str,
) -> Result<(), ApiError> {
    let taken = dataplane.take_confirmation(&auth.caller, token).await?;
    match taken {
        Some(bound) if bound == binding => Ok(()),
        Some(_) => Err(ApiError::new(
            Code::ConfirmTokenMismatch,
            "this confirm token was given for other arguments (or another tool or API token), \
             and is now spent: call the tool without confirm_token for a new plan",
        )),
        None => Err(ApiError::new(
            Code::ConfirmTokenInvalid,
            "this confirm token is unknown, used or expired (they work once, for 5 minutes): \
             call the tool without confirm_token for a new plan",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_json_is_the_same_text_in_any_key_order() {
        let a: Value = serde_json::from_str(r#"{"b":[1,{"y":2,"x":"é"}],"a":null}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":null,"b":[1,{"x":"é","y":2}]}"#).unwrap();
        let (mut x, mut y) = (String::new(), String::new());
        canonical(&a, &mut x);
        canonical(&b, &mut y);
        assert_eq!(x, y);
        assert_eq!(x, r#"{"a":null,"b":[1,{"x":"é","y":2}]}"#);
    }
}
