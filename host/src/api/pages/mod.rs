//! The HTML pages: the operator's dashboard (`/dashboard`, signed in with
//! the admin key) and the customer's connect page (`/connect/{link}`).
//! Server-rendered (maud), no script, no build step; the same services as
//! the API underneath.

mod adapters;
mod audit;
mod brand;
pub use brand::{Brand, BrandError, MAX_LOGO_BYTES};
mod connect;
mod connection;
mod dashboard;
mod layout;
mod mappings;
mod requests;
mod session;
pub use session::DashboardSessions;
mod syncs;
mod tokens;
mod webhooks;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::routing::{get, post};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::api::AppState;

/// Every page, each answered with the same security headers: the policy
/// of [`layout::content_security_policy`] (on the customer's pages, their
/// stylesheets and the operator's logo allowed too), no MIME sniffing, no
/// referrer (a connect page's address is its secret), and no caching
/// (pages show new tokens and connect links once; the logo says otherwise).
pub fn router(state: AppState) -> Router {
    let styles = connect::styles(&state.brand);
    let styles: Vec<&str> = styles.iter().map(String::as_str).collect();
    let customers = layout::content_security_policy(&styles, state.brand.logo().is_some());
    let customer_pages = Router::new()
        .route(
            "/connect/{secret}",
            get(connect::form).post(connect::submit),
        )
        .route("/connect/{secret}/fields", post(connect::map_fields))
        .route(
            "/connect/{secret}/platform-certificate.pem",
            get(connect::platform_certificate),
        )
        .route(brand::LOGO_PATH, get(connect::logo))
        .layer(DefaultBodyLimit::max(connect::MAX_FORM_BYTES))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            customers,
        ));
    Router::new()
        .route(
            "/dashboard/sign-in",
            get(dashboard::sign_in_form).post(dashboard::sign_in),
        )
        .route("/dashboard/sign-out", post(dashboard::sign_out))
        .route("/dashboard", get(dashboard::connections))
        .route("/dashboard/connections/{id}", get(dashboard::connection))
        .route(
            "/dashboard/connections/{id}/disconnect",
            get(dashboard::disconnect_form).post(dashboard::disconnect),
        )
        .route(
            "/dashboard/connections/{id}/delete-data",
            get(dashboard::delete_data_form).post(dashboard::delete_data),
        )
        .route("/dashboard/connections/{id}/tokens", post(tokens::issue))
        .route("/dashboard/connections/{id}/mappings", post(mappings::add))
        .route(
            "/dashboard/connections/{id}/mappings/remove",
            post(mappings::remove),
        )
        .route(
            "/dashboard/connections/{id}/refresh",
            post(mappings::refresh),
        )
        .route(
            "/dashboard/connections/{id}/tokens/{token}/revoke",
            get(tokens::revoke_form).post(tokens::revoke),
        )
        .route(
            "/dashboard/connect-sessions",
            post(dashboard::create_connect_link),
        )
        .route("/dashboard/adapters", get(adapters::list))
        .route("/dashboard/adapters/{id}", get(adapters::detail))
        .route("/dashboard/syncs", get(syncs::list))
        .route("/dashboard/syncs/run", post(syncs::run_now))
        .route("/dashboard/webhooks", get(webhooks::list))
        .route("/dashboard/requests", get(requests::list))
        .route("/dashboard/audit", get(audit::list))
        .layer(DefaultBodyLimit::max(connect::MAX_FORM_BYTES))
        .merge(
            Router::new()
                .route("/dashboard/adapters", post(adapters::upload))
                .layer(DefaultBodyLimit::max(crate::api::MAX_UPLOAD_BYTES)),
        )
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            layout::content_security_policy(&[], false),
        ))
        .merge(customer_pages)
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .with_state(state)
}
