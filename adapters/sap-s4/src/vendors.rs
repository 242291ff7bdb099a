//! Unified vendors: SAP business partners that have a supplier number
//! (`A_BusinessPartner` in `API_BUSINESS_PARTNER`), by that number.

use interlink_sdk::http::Method;
use interlink_sdk::{Context, Error, ListRequest, Page, Result, Value};
use serde_json::Map;

use crate::mapping::{Stamp, VENDOR, VENDOR_ADDRESS};
use crate::odata::{self, Service};

const SET: &str = "A_BusinessPartner";
const ADDRESSES: &str = "to_BusinessPartnerAddress";
/// SAP's supplier and business partner numbers are 10 characters.
const NUMBER_LENGTH: usize = 10;

/// A business partner as a unified vendor: its organization name (or full
/// name), and its first address.
fn unified(partner: &Value) -> Value {
    let mut out = Map::new();
    VENDOR.read(partner, &mut out);
    if let (false, Some(full)) = (
        out.contains_key("name"),
        partner["BusinessPartnerFullName"]
            .as_str()
            .filter(|n| !n.is_empty()),
    ) {
        out.insert("name".into(), Value::from(full));
    }
    if let Some(address) = partner[ADDRESSES]["results"].get(0) {
        VENDOR_ADDRESS.read(address, &mut out);
    }
    Value::Object(out)
}

pub fn list(ctx: &Context, request: &ListRequest) -> Result<Page> {
    let page = odata::Page {
        service: Service::BusinessPartners,
        set: SET,
        key: "BusinessPartner",
        filter: Some("Supplier ne ''"),
        expand: Some(ADDRESSES),
        stamp: ("LastChangeDate", Stamp::DateTime),
    };
    let (partners, next_cursor) = page.fetch(ctx, request)?;
    Ok(Page {
        records: partners.iter().map(unified).collect(),
        next_cursor,
    })
}

/// The business partner of supplier `id`, as SAP answers it (with its
/// ETag).
fn find(ctx: &Context, id: &str) -> Result<Value> {
    if id.is_empty() || id.chars().count() > NUMBER_LENGTH {
        return Err(Error::not_found(format!("no supplier `{id}`")));
    }
    let filter = format!("Supplier eq {}", odata::literal(id));
    let query = [
        ("$filter", filter.as_str()),
        ("$expand", ADDRESSES),
        ("$top", "1"),
    ];
    let mut found = odata::read(
        ctx,
        &odata::url(ctx, Service::BusinessPartners, SET, &query)?,
    )?;
    match found["results"].get_mut(0) {
        Some(partner) => Ok(partner.take()),
        None => Err(Error::not_found(format!("SAP has no supplier `{id}`"))),
    }
}

pub fn get(ctx: &Context, id: &str) -> Result<Value> {
    Ok(unified(&find(ctx, id)?))
}

/// Changes the business partner, if the record was not changed in SAP
/// since it was read here (`If-Match`).
pub fn update(ctx: &Context, id: &str, patch: &Value) -> Result<Value> {
    let current = find(ctx, id)?;
    let body = VENDOR.write(patch, false, "")?;
    if body.contains_key("OrganizationBPName1") && current["BusinessPartnerCategory"] != "2" {
        return Err(Error::invalid(
            "/name",
            "not_an_organization",
            "SAP keeps a person's name in FirstName and LastName, which this adapter does not write",
        ));
    }
    if !body.is_empty() {
        let partner = current["BusinessPartner"].as_str().unwrap_or_default();
        odata::write(
            ctx,
            Service::BusinessPartners,
            Method::Patch,
            &odata::resource(SET, partner, NUMBER_LENGTH)?,
            odata::etag(&current),
            Some(&Value::Object(body)),
            Some(&VENDOR),
        )?;
    }
    get(ctx, id)
}
