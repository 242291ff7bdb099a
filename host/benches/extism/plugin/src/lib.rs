//! The example adapter's `list` of vendors as an Extism plug-in: ask the
//! host for the upstream page through a host function, map it with the
//! example adapter's own code, answer the records.

use extism_pdk::*;

#[host_fn]
extern "ExtismHost" {
    /// The body of a GET of `url`.
    fn http_get(url: String) -> Vec<u8>;
}

/// `entity` in, a JSON array of unified records out.
#[plugin_fn]
pub fn list(entity: String) -> FnResult<String> {
    let body = unsafe { http_get("http://127.0.0.1:9/api/suppliers?offset=0&limit=50".into())? };
    let page = interlink_adapter_example::map_page(&entity, &body)
        .map_err(|e| Error::msg(format!("{e:?}")))?;
    let records: Vec<String> = page.records.iter().map(|r| r.to_string()).collect();
    Ok(format!("[{}]", records.join(",")))
}
