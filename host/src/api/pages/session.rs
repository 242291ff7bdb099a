//! Operators' sign-in to the dashboard: the admin key, exchanged for a
//! session cookie (HttpOnly, SameSite=Strict, scoped to `/dashboard`), and a
//! CSRF token that every form of the session carries.
//!
//! A session is stored under an HMAC of its cookie keyed with the admin
//! key's hash ([`session_hash`]): a host started with another admin key
//! (a rotation) finds none of the sessions signed in with the old one.

use crate::api::request_id::RequestId;
use crate::audit::Actor;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use serde::Deserialize;

use super::layout;
use crate::api::AppState;
use crate::connections::new_secret;
use crate::storage::sessions::DashboardSession;
use crate::storage::{StorageError, Store};

/// Signed-in dashboard sessions, kept in the database, where every node
/// finds them.
pub struct DashboardSessions {
    store: Arc<dyn Store>,
}

impl DashboardSessions {
    /// The sessions kept in `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        DashboardSessions { store }
    }

    /// The session stored under `id_hash`, unless it expired by `now`.
    ///
    /// # Errors
    ///
    /// The database failed.
    async fn find(
        &self,
        id_hash: &[u8; 32],
        now: SystemTime,
    ) -> Result<Option<DashboardSession>, StorageError> {
        self.store.dashboard_session(id_hash, now).await
    }

    /// Stores `session` under `id_hash`.
    ///
    /// # Errors
    ///
    /// The database failed.
    async fn insert(
        &self,
        id_hash: &[u8; 32],
        session: &DashboardSession,
        now: SystemTime,
    ) -> Result<(), StorageError> {
        self.store
            .insert_dashboard_session(id_hash, session, now)
            .await
    }

    /// Ends the session stored under `id_hash`.
    ///
    /// # Errors
    ///
    /// The database failed.
    async fn delete(&self, id_hash: &[u8; 32], now: SystemTime) -> Result<(), StorageError> {
        self.store.delete_dashboard_session(id_hash, now).await
    }
}

/// A form that carries nothing but the session's CSRF token.
#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// The session cookie's name.
pub const COOKIE: &str = "interlink_session";
/// How long a sign-in lasts.
pub const LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// What a session is stored under: the HMAC-SHA256 of its cookie `id`,
/// keyed with the hash of the admin key the host runs with. It binds the
/// session to that key: once the key changes, no cookie finds its session.
fn session_hash(state: &AppState, id: &str) -> [u8; 32] {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(&state.admin_key_hash).expect("HMAC takes any key");
    mac.update(id.as_bytes());
    mac.finalize().into_bytes().into()
}

/// A signed-in operator: handlers that take it are reachable with a valid
/// session cookie only; others are sent to the sign-in page.
pub struct Operator {
    pub csrf: String,
    id_hash: [u8; 32],
    /// The request's id, for the audit trail's entries of the operator's
    /// actions.
    request_id: String,
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let jar = CookieJar::from_headers(&parts.headers);
        let sign_in = || Redirect::to("/dashboard/sign-in").into_response();
        let Some(cookie) = jar.get(COOKIE) else {
            return Err(sign_in());
        };
        let id_hash = session_hash(state, cookie.value());
        let session = state
            .dashboard_sessions
            .find(&id_hash, SystemTime::now())
            .await
            .map_err(|e| internal(&e))?;
        match session {
            Some(session) => Ok(Operator {
                csrf: session.csrf_token,
                id_hash,
                request_id: parts
                    .extensions
                    .get::<RequestId>()
                    .map_or_else(|| uuid::Uuid::now_v7().to_string(), |r| r.0.clone()),
            }),
            None => Err(sign_in()),
        }
    }
}

impl Operator {
    /// The operator at the dashboard, as the audit trail names them.
    pub fn actor(&self) -> Actor<'_> {
        Actor {
            name: "dashboard",
            request_id: &self.request_id,
        }
    }

    /// Refuses a form whose CSRF token is not this session's.
    ///
    /// # Errors
    ///
    /// [`CsrfRefused`] (a 403 page) when `csrf` is not this session's
    /// token.
    pub fn check(&self, csrf: &str) -> Result<(), CsrfRefused> {
        // Compared by hash, so the comparison takes the same time whatever
        // the bytes.
        if Sha256::digest(csrf.as_bytes()) == Sha256::digest(self.csrf.as_bytes()) {
            Ok(())
        } else {
            Err(CsrfRefused)
        }
    }

    /// Ends this session.
    pub async fn sign_out(self, state: &AppState) -> Response {
        if let Err(e) = state
            .dashboard_sessions
            .delete(&self.id_hash, SystemTime::now())
            .await
        {
            return internal(&e);
        }
        let jar = CookieJar::new().remove(Cookie::build(COOKIE).path("/dashboard"));
        (jar, Redirect::to("/dashboard/sign-in")).into_response()
    }
}

/// A form without this session's CSRF token: 403, as a page.
pub struct CsrfRefused;

impl IntoResponse for CsrfRefused {
    fn into_response(self) -> Response {
        (
            StatusCode::FORBIDDEN,
            layout::message(
                "This form has expired",
                "The form did not carry this session's security token (it is out of date, or \
                 it was sent from another site). Go back, reload the page and try again.",
            ),
        )
            .into_response()
    }
}

/// Starts a session for an operator who gave the admin key; answers the
/// cookie to set.
///
/// # Errors
///
/// A 500 page ([`internal`]) when the database failed.
pub async fn sign_in(state: &AppState) -> Result<CookieJar, Response> {
    let id = new_secret("ilk_sess_");
    let now = SystemTime::now();
    let session = DashboardSession {
        csrf_token: new_secret(""),
        expires_at: now + LIFETIME,
    };
    state
        .dashboard_sessions
        .insert(&session_hash(state, &id), &session, now)
        .await
        .map_err(|e| internal(&e))?;
    let cookie = Cookie::build((COOKIE, id))
        .path("/dashboard")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.public_url.starts_with("https:"))
        .max_age(time::Duration::seconds(LIFETIME.as_secs() as i64));
    Ok(CookieJar::new().add(cookie))
}

/// A failure of ours, as a page; the log has the details.
pub fn internal(error: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %error, "a page failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        layout::message(
            "Something went wrong",
            "Interlink could not complete this page. The host's log says why.",
        ),
    )
        .into_response()
}
