//! Bounded answers: a tool answers at most [`MAX_RESULT_BYTES`] of JSON. A
//! page of records that is larger is cut where it would pass the bound, and
//! its cursor goes on from the cut: the door's cursor is the adapter's
//! cursor of the page, the page size, and how many of the page's records
//! were already answered. Going on re-reads that page and skips them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::api::error::ApiError;
use crate::code::Code;
use crate::dataplane::Page;

/// The largest answer of one tool call, in bytes of JSON.
pub const MAX_RESULT_BYTES: usize = 64 << 10;
/// Room kept for what a page answers besides its records (the cursor).
const ENVELOPE: usize = 8 << 10;
/// The longest cursor the door takes.
pub const MAX_CURSOR: usize = 4096;

/// Where a page of the door starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The adapter's cursor of the page (none: the first page).
    #[serde(rename = "c")]
    pub at: Option<String>,
    /// Records per page asked of the adapter.
    #[serde(rename = "n")]
    pub page_size: u32,
    /// Records of the page already answered.
    #[serde(rename = "s")]
    pub skip: usize,
}

fn invalid_cursor() -> ApiError {
    ApiError::new(
        Code::InvalidCursor,
        "the cursor is not one this tool answered: pass `next_cursor` as it was given, \
         or no cursor for the first page",
    )
}

impl Cursor {
    /// The cursor a tool answered as `next_cursor`.
    ///
    /// # Errors
    ///
    /// `invalid_cursor`: too long, or not one the door made. What it
    /// carries of the adapter's cursor is checked by the data plane as any
    /// cursor is.
    pub fn decode(text: &str) -> Result<Cursor, ApiError> {
        if text.len() > MAX_CURSOR {
            return Err(invalid_cursor());
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid_cursor())?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| invalid_cursor())?;
        if cursor.skip > cursor.page_size as usize {
            return Err(invalid_cursor());
        }
        Ok(cursor)
    }

    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("a cursor serializes"))
    }
}

/// A page as the door answers it.
#[derive(Debug, Serialize)]
pub struct Cut {
    pub data: Vec<Box<RawValue>>,
    /// Pass as `cursor` for what follows; absent after the last record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The records of `page` (read at `from`) from `from.skip` on that fit the
/// bound, and where the next answer starts.
///
/// # Errors
///
/// `result_too_large`: the first record to answer alone passes the bound.
pub fn cut(page: Page, from: &Cursor) -> Result<Cut, ApiError> {
    let total = page.records.len();
    let mut left = MAX_RESULT_BYTES - ENVELOPE;
    let mut data = Vec::new();
    for record in page.records.into_iter().skip(from.skip) {
        let size = record.get().len() + 1;
        if size > left {
            break;
        }
        left -= size;
        data.push(record);
    }
    let answered = from.skip + data.len();
    if answered < total && data.is_empty() {
        return Err(too_large(
            "a record of this page is larger than an MCP answer may be (64 KiB of JSON); \
             read it over the HTTP API",
        ));
    }
    let next = if answered < total {
        Some(Cursor {
            skip: answered,
            ..from.clone()
        })
    } else {
        page.next_cursor.map(|at| Cursor {
            at: Some(at),
            page_size: from.page_size,
            skip: 0,
        })
    };
    Ok(Cut {
        data,
        next_cursor: next.map(|c| c.encode()),
    })
}

/// `result_too_large`, saying what to do instead.
pub fn too_large(message: &str) -> ApiError {
    ApiError::new(Code::ResultTooLarge, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(sizes: &[usize], next: Option<&str>) -> Page {
        Page {
            records: sizes
                .iter()
                .map(|n| RawValue::from_string(format!("\"{}\"", "x".repeat(*n))).unwrap())
                .collect(),
            next_cursor: next.map(String::from),
        }
    }

    fn first(page_size: u32) -> Cursor {
        Cursor {
            at: None,
            page_size,
            skip: 0,
        }
    }

    #[test]
    fn a_small_page_is_answered_whole_with_the_adapters_next_page() {
        let cut = cut(page(&[10, 10], Some("p2")), &first(2)).unwrap();
        assert_eq!(cut.data.len(), 2);
        let next = Cursor::decode(&cut.next_cursor.unwrap()).unwrap();
        assert_eq!(
            next,
            Cursor {
                at: Some("p2".into()),
                page_size: 2,
                skip: 0
            }
        );
        let last = super::cut(page(&[10], None), &first(2)).unwrap();
        assert_eq!(last.next_cursor, None);
    }

    #[test]
    fn a_large_page_is_cut_and_goes_on_where_it_was_cut() {
        let big = 20 << 10;
        let at = Cursor {
            at: Some("p1".into()),
            page_size: 5,
            skip: 0,
        };
        let cut = cut(page(&[big; 5], Some("p2")), &at).unwrap();
        assert_eq!(
            cut.data.len(),
            2,
            "two of 20 KiB fit in 64 KiB with the envelope"
        );
        let next = Cursor::decode(cut.next_cursor.as_deref().unwrap()).unwrap();
        assert_eq!(
            next,
            Cursor {
                skip: 2,
                ..at.clone()
            }
        );
        let rest = super::cut(page(&[big; 5], Some("p2")), &Cursor { skip: 4, ..at }).unwrap();
        assert_eq!(rest.data.len(), 1);
        assert_eq!(
            Cursor::decode(&rest.next_cursor.unwrap())
                .unwrap()
                .at
                .as_deref(),
            Some("p2")
        );
    }

    #[test]
    fn a_record_past_the_bound_is_refused_and_foreign_cursors_too() {
        let error = cut(page(&[MAX_RESULT_BYTES], None), &first(1)).unwrap_err();
        assert_eq!(error.code, Code::ResultTooLarge);
        for bad in [
            "",
            "not base64!",
            &URL_SAFE_NO_PAD.encode(b"{\"c\":null}"),
            &"A".repeat(5000),
        ] {
            assert_eq!(
                Cursor::decode(bad).unwrap_err().code,
                Code::InvalidCursor,
                "{bad}"
            );
        }
        let skipping_past = Cursor {
            at: None,
            page_size: 2,
            skip: 3,
        }
        .encode();
        assert!(Cursor::decode(&skipping_past).is_err());
    }
}
