//! `$batch` (OData V2, `multipart/mixed`): several writes in one changeset,
//! which SAP applies as a whole or not at all. A changeset that fails
//! answers only the failing request's error, and nothing of it is written.

use interlink_sdk::http::{Method, Request, method_name};
use interlink_sdk::{Context, Error, Result, Value};

use crate::mapping::Table;
use crate::odata::{self, Service};

/// One write of a changeset.
#[derive(Debug)]
pub struct Change {
    pub method: Method,
    /// Relative to the service root (`A_PurchaseOrder('4500000001')`).
    pub resource: String,
    pub etag: Option<String>,
    pub body: Value,
}

/// The request body of one changeset of `changes`, and its batch boundary.
/// The boundaries are chosen so that no body contains them.
fn render(changes: &[Change]) -> (String, String) {
    let bodies: Vec<String> = changes.iter().map(|c| c.body.to_string()).collect();
    let unused = |b: &str| !bodies.iter().any(|body| body.contains(b));
    let n = (0..)
        .find(|n| unused(&format!("_interlink_{n}")))
        .unwrap_or(0);
    let (batch, changeset) = (
        format!("batch_interlink_{n}"),
        format!("changeset_interlink_{n}"),
    );
    let mut out =
        format!("--{batch}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n");
    for (change, body) in changes.iter().zip(&bodies) {
        out.push_str(&format!(
            "--{changeset}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n{} {} HTTP/1.1\r\nContent-Type: application/json\r\nAccept: application/json\r\n",
            method_name(change.method),
            change.resource
        ));
        if let Some(etag) = &change.etag {
            out.push_str(&format!("If-Match: {etag}\r\n"));
        }
        out.push_str(&format!("Content-Length: {}\r\n\r\n{body}\r\n", body.len()));
    }
    out.push_str(&format!("--{changeset}--\r\n\r\n--{batch}--\r\n"));
    (batch, out)
}

/// One response inside a batch response.
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: String,
}

/// Headers and body of a MIME part or an HTTP message.
fn split_head(text: &str) -> (&str, &str) {
    text.split_once("\r\n\r\n")
        .or_else(|| text.split_once("\n\n"))
        .unwrap_or((text, ""))
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn boundary(content_type: &str) -> Option<&str> {
    content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"'))
}

/// Every HTTP response in a `multipart/mixed` body, changesets included.
fn answers(content_type: &str, body: &str, out: &mut Vec<Answer>) -> Result<()> {
    let malformed = || {
        Error::upstream(
            202,
            "SAP answered the $batch with a body that is not multipart/mixed",
        )
    };
    let delimiter = format!("--{}", boundary(content_type).ok_or_else(malformed)?);
    let parts = body.split(delimiter.as_str()).skip(1);
    for part in parts.take_while(|p| !p.starts_with("--")) {
        let (head, rest) = split_head(part.trim_start_matches(['\r', '\n']));
        let kind = header(head, "content-type").unwrap_or_default();
        if kind.to_ascii_lowercase().starts_with("multipart/") {
            answers(kind, rest, out)?;
            continue;
        }
        let (response_head, response_body) = split_head(rest);
        let status = response_head
            .lines()
            .next()
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or_else(malformed)?;
        out.push(Answer {
            status,
            retry_after: header(response_head, "retry-after").map(String::from),
            body: response_body.trim_end().to_string(),
        });
    }
    Ok(())
}

/// Sends `changes` to `service` as one changeset: all of them are
/// written, or (when SAP refuses one) none.
///
/// # Errors
///
/// The refused change's error, typed as SAP's answers are (`table` maps a
/// property SAP names to the unified field).
pub fn send(
    ctx: &Context,
    service: Service,
    changes: &[Change],
    table: Option<&Table>,
) -> Result<()> {
    let (batch, body) = render(changes);
    let url = odata::url(ctx, service, "$batch", &[])?;
    let response = odata::modify(ctx, service, || {
        Ok(Request::post(&url)
            .header("Content-Type", format!("multipart/mixed; boundary={batch}"))
            .header("Accept", "multipart/mixed")
            .body(body.clone().into_bytes()))
    })?;
    let response = odata::check(response, table)?;
    let mut found = Vec::new();
    answers(
        response.header("content-type").unwrap_or_default(),
        &String::from_utf8_lossy(response.body()),
        &mut found,
    )?;
    if found.is_empty() {
        return Err(Error::upstream(
            202,
            "SAP answered the $batch without a response",
        ));
    }
    match found.iter().find(|a| a.status >= 400) {
        Some(failed) => Err(odata::failure(
            failed.status,
            failed.retry_after.as_deref(),
            failed.body.as_bytes(),
            table,
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use interlink_sdk::json;

    #[test]
    fn a_changeset_carries_each_write_with_its_etag() {
        let changes = [
            Change {
                method: Method::Patch,
                resource: "A_PurchaseOrder('1')".into(),
                etag: Some("W/\"datetime'x'\"".into()),
                body: json!({"Supplier": "17"}),
            },
            Change {
                method: Method::Patch,
                resource: "A_PurchaseOrderItem(PurchaseOrder='1',PurchaseOrderItem='00010')".into(),
                etag: None,
                body: json!({"OrderQuantity": "5"}),
            },
        ];
        let (batch, body) = render(&changes);
        assert_eq!(batch, "batch_interlink_0");
        assert!(body.starts_with("--batch_interlink_0\r\nContent-Type: multipart/mixed; boundary=changeset_interlink_0\r\n\r\n"));
        assert!(body.contains("PATCH A_PurchaseOrder('1') HTTP/1.1\r\nContent-Type: application/json\r\nAccept: application/json\r\nIf-Match: W/\"datetime'x'\"\r\nContent-Length: 17\r\n\r\n{\"Supplier\":\"17\"}\r\n"));
        assert_eq!(body.matches("--changeset_interlink_0\r\n").count(), 2);
        assert!(body.ends_with("--changeset_interlink_0--\r\n\r\n--batch_interlink_0--\r\n"));

        let sneaky = [Change {
            body: json!({"PurchaseOrderItemText": "_interlink_0"}),
            ..changes.into_iter().next().unwrap()
        }];
        assert_eq!(
            render(&sneaky).0,
            "batch_interlink_1",
            "a boundary no body holds"
        );
    }

    #[test]
    fn responses_are_read_from_changesets_and_failures() {
        let ok = "--b1\r\nContent-Type: multipart/mixed; boundary=c1\r\n\r\n--c1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nHTTP/1.1 204 No Content\r\nETag: x\r\n\r\n\r\n--c1\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n\r\n--c1--\r\n--b1--\r\n";
        let mut found = Vec::new();
        answers("multipart/mixed; boundary=b1", ok, &mut found).unwrap();
        assert_eq!(
            found.iter().map(|a| a.status).collect::<Vec<_>>(),
            [204, 204]
        );

        let failed = "--b2\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n\r\n{\"error\": {\"message\": {\"value\": \"no item\"}}}\r\n--b2--\r\n";
        let mut found = Vec::new();
        answers("multipart/mixed; boundary=\"b2\"", failed, &mut found).unwrap();
        assert_eq!(
            found,
            [Answer {
                status: 404,
                retry_after: None,
                body: "{\"error\": {\"message\": {\"value\": \"no item\"}}}".into()
            }]
        );
        assert!(answers("application/json", "{}", &mut Vec::new()).is_err());
    }
}
