//! Passthrough: a client's request for the system's own API, for what the
//! unified model does not cover, sent by the connection's adapter with the
//! connection's credentials.
//!
//! It takes the same path as every other call (the connection's share and
//! upstream gate, a fresh instance, the outbound policy on every request
//! the adapter sends, secrets masked out of what comes back), and a request
//! that may change the system is taken from the connection's write budget.
//! It bypasses the write rules: the host cannot know what a request to the
//! system's own API writes. Only adapters that declare passthrough are
//! asked. A request that may write leaves its decision in the audit trail
//! (accepted, or refused by the budget), as every write does; the trail
//! keeps its path, never its query.

use percent_encoding::percent_decode_str;

use super::writes::Decision;
use super::{Answer, Caller, DataError, DataPlane, Mode, Op};
use crate::runtime::{Adapter, PassthroughRequest, PassthroughResponse};

/// The longest passthrough path, query included.
pub const MAX_PATH_CHARS: usize = 2048;

/// A passthrough path: from `/`, at most [`MAX_PATH_CHARS`], no `\\`, `#`
/// or control characters, and not `//` (which an adapter joining it to its
/// base URL could read as another host). Before the query, no segment is
/// made only of dots in any encoding (`..`, `.%2e`, `%2E.`: the URL
/// standard resolves each to a step up, out of the base URL), and none
/// carries an encoded `/`, `\\` or `;` (which a system or a proxy in front of
/// it may decode into a separator after this check).
///
/// # Errors
///
/// [`DataError::InvalidPassthroughPath`], saying which rule the path breaks.
pub fn check_path(path: &str) -> Result<(), DataError> {
    let refuse = |why: &str| Err(DataError::InvalidPassthroughPath(why.to_string()));
    if !path.starts_with('/') || path.starts_with("//") {
        return refuse("the path starts with one `/`");
    }
    if path.chars().count() > MAX_PATH_CHARS {
        return refuse("the path has at most 2048 characters");
    }
    if path
        .chars()
        .any(|c| c.is_control() || c == '\\' || c == '#')
    {
        return refuse("the path has no `\\`, `#` or control characters");
    }
    let before_query = path.split('?').next().unwrap_or_default();
    for segment in before_query.split('/') {
        let decoded: Vec<u8> = percent_decode_str(segment).collect();
        if !decoded.is_empty() && decoded.iter().all(|&b| b == b'.') {
            return refuse("the path has no `.` or `..` segment, in any encoding");
        }
        let encodes = |e: &[u8]| {
            segment
                .as_bytes()
                .windows(3)
                .any(|w| w.eq_ignore_ascii_case(e))
        };
        if encodes(b"%2f") || encodes(b"%5c") || encodes(b"%3b") {
            return refuse("the path has no encoded `/`, `\\` or `;`");
        }
    }
    Ok(())
}

impl DataPlane {
    /// Sends `request` to the system through the connection's adapter and
    /// answers the system's response as the adapter relays it.
    ///
    /// # Errors
    ///
    /// [`DataError::PassthroughDryRun`] for a dry run of a request that may
    /// change the system, [`DataError::InvalidPassthroughPath`], and every
    /// error of a call.
    pub async fn passthrough(
        &self,
        caller: &Caller,
        request: &PassthroughRequest,
        mode: Mode,
    ) -> Result<PassthroughResponse, DataError> {
        let adapter = self.adapter_of(caller.connection())?;
        if !adapter.manifest().passthrough {
            return Err(DataError::PassthroughNotDeclared(adapter.id().to_string()));
        }
        if mode == Mode::DryRun && !request.method.reads() {
            return Err(DataError::PassthroughDryRun);
        }
        check_path(&request.path)?;
        if request.method.reads() {
            return self.relay(caller, &adapter, request).await;
        }
        let answer = match self.take_write(&adapter, caller, Mode::Send).await {
            Ok(()) => self.relay(caller, &adapter, request).await,
            Err(refused) => Err(refused),
        };
        let method = format!("{:?}", request.method).to_uppercase();
        let target = format!("{method} {}", without_query(&request.path));
        let decision = Decision::new("passthrough", &target, None, mode);
        self.decided(caller, decision, answer.as_ref().map(|_| None));
        answer
    }

    /// Sends `request` through the connection's adapter.
    async fn relay(
        &self,
        caller: &Caller,
        adapter: &Adapter,
        request: &PassthroughRequest,
    ) -> Result<PassthroughResponse, DataError> {
        match self
            .call(caller, adapter, Op::Passthrough(request), Mode::Send)
            .await?
        {
            Answer::Passthrough(response) => Ok(response),
            _ => unreachable!("passthrough answers a response"),
        }
    }
}

/// `path` without its query, which the audit trail does not keep (a client
/// may carry values there that are not the trail's to keep).
pub(super) fn without_query(path: &str) -> &str {
    path.split_once('?').map_or(path, |(path, _)| path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::Code;

    #[test]
    fn paths_that_could_leave_the_system_or_its_base_are_refused() {
        for bad in [
            "",
            "api/suppliers",
            "//evil.example/x",
            "/api/../admin",
            "/api/%2E%2E/admin",
            "/api/.%2e/admin",
            "/api/%2e./admin",
            "/api/%2E/admin",
            "/api/./admin",
            "/.%2e",
            "/..",
            "/api/...",
            "/api/a%2fb",
            "/api/a%2Fb",
            "/api/a%5cb",
            "/api/a%3bjsessionid=x",
            "/api\\x",
            "/api#frag",
            "/api\r\nHost: evil",
            &format!("/{}", "x".repeat(MAX_PATH_CHARS)),
        ] {
            let refused = check_path(bad).unwrap_err();
            assert_eq!(refused.code(), Code::InvalidPassthroughPath, "{bad:?}");
        }
        for good in [
            "/",
            "/api/suppliers?limit=2",
            "/api/suppliers/7?x=../y",
            "/api/suppliers/7?path=a%2Fb",
            "/api/a..b",
            "/api/.well-known/x",
            "/api/a%20b",
            "/api/a;v=1",
            "/http://127.0.0.1:9/x",
        ] {
            assert!(check_path(good).is_ok(), "{good:?}");
        }
    }
}
