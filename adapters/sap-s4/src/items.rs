//! Unified items: SAP products (`A_Product` in `API_PRODUCT_SRV`), named by
//! their description in the connection's language.

use interlink_sdk::http::Method;
use interlink_sdk::{Context, ListRequest, Page, Result, Value};
use serde_json::Map;

use crate::mapping::{ITEM, ITEM_DESCRIPTION, Stamp};
use crate::odata::{self, Service};

const SET: &str = "A_Product";
const DESCRIPTIONS: &str = "to_Description";
/// SAP's product numbers are at most 40 characters.
const NUMBER_LENGTH: usize = 40;

/// A product as a unified item, named in `language` (else its first
/// description).
fn unified(product: &Value, language: &str) -> Value {
    let mut out = Map::new();
    ITEM.read(product, &mut out);
    let descriptions = product[DESCRIPTIONS]["results"].as_array();
    let description = descriptions.and_then(|all| {
        all.iter()
            .find(|d| d["Language"] == language)
            .or_else(|| all.first())
    });
    if let Some(description) = description {
        ITEM_DESCRIPTION.read(description, &mut out);
    }
    Value::Object(out)
}

fn language(ctx: &Context) -> &str {
    ctx.config_opt("language").unwrap_or("EN")
}

pub fn list(ctx: &Context, request: &ListRequest) -> Result<Page> {
    let page = odata::Page {
        service: Service::Products,
        set: SET,
        key: "Product",
        filter: None,
        expand: Some(DESCRIPTIONS),
        stamp: ("LastChangeDate", Stamp::DateTime),
    };
    let (products, next_cursor) = page.fetch(ctx, request)?;
    Ok(Page {
        records: products.iter().map(|p| unified(p, language(ctx))).collect(),
        next_cursor,
    })
}

fn resource(id: &str) -> Result<String> {
    odata::resource(SET, id, NUMBER_LENGTH)
}

/// The product as SAP answers it, with its ETag.
fn find(ctx: &Context, id: &str) -> Result<Value> {
    odata::entity(ctx, Service::Products, &resource(id)?, DESCRIPTIONS)
}

pub fn get(ctx: &Context, id: &str) -> Result<Value> {
    Ok(unified(&find(ctx, id)?, language(ctx)))
}

/// Changes the product, if it was not changed in SAP since it was read
/// here (`If-Match`).
pub fn update(ctx: &Context, id: &str, patch: &Value) -> Result<Value> {
    let current = find(ctx, id)?;
    let body = ITEM.write(patch, false, "")?;
    if !body.is_empty() {
        odata::write(
            ctx,
            Service::Products,
            Method::Patch,
            &resource(id)?,
            odata::etag(&current),
            Some(&Value::Object(body)),
            Some(&ITEM),
        )?;
    }
    get(ctx, id)
}
