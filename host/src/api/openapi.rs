//! The OpenAPI 3 document, served at `/openapi.json`.

use serde::Serialize;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// Every error the API answers.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable: `token_invalid`, `invalid_config`, ...
    pub code: String,
    /// For people.
    pub message: String,
    /// Also in the `x-request-id` header and in the logs.
    pub request_id: String,
    /// Case-specific: field errors, missing permissions, ...
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = || SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer));
        components.add_security_scheme("admin_key", bearer());
        components.add_security_scheme("connection_token", bearer());
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Interlink", description = "A self-hosted unified API for business systems."),
    paths(
        super::healthz,
        super::adapters::list,
        super::adapters::get,
        super::adapters::upload,
        super::connections::create,
        super::connections::list,
        super::connections::get,
        super::connections::disconnect,
        super::connections::delete_data,
        super::connections::credits,
        super::certificates::platform,
        super::data::list,
        super::data::get,
        super::writes::create,
        super::writes::update,
        super::writes::delete,
        super::meta::get,
        super::syncs::put,
        super::syncs::delete,
        super::syncs::run,
        super::syncs::status,
        super::syncs::admin_status,
        super::syncs::synced,
        super::webhooks::create,
        super::webhooks::list,
        super::webhooks::delete,
        super::webhooks::deliveries,
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&Security),
)]
pub struct ApiDoc;
