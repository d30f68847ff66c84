//! Sessions: an encrypted and signed cookie (`session`) holding the user and when the session
//! ends. Any function instance that has the key reads it; nothing is kept on the server.
//! Every request reads the user again, so a removed user or a changed role takes effect at once.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::PrivateCookieJar;
use axum_extra::extract::cookie::{Cookie, Key, SameSite};
use chrono::{DateTime, Utc};
use genrelay_core::ports::{BackOfficeUser, Role};
use serde::{Deserialize, Serialize};

use crate::BackOfficeState;
use crate::error::{not_allowed, not_signed_in};

pub const COOKIE: &str = "session";
/// The fewest bytes of a session key.
pub const KEY_BYTES: usize = 64;

/// The key that encrypts and signs session cookies: the same on every instance.
#[derive(Clone)]
pub struct SessionKey(Arc<Key>);

impl SessionKey {
    /// From at least 64 bytes of secret (the first 64 are used).
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        (bytes.len() >= KEY_BYTES).then(|| Self(Arc::new(Key::from(&bytes[..KEY_BYTES]))))
    }

    /// A new random key (one the dev server keeps in its data folder).
    pub fn generate() -> Self {
        Self(Arc::new(Key::generate()))
    }

    /// The key's bytes, to keep.
    pub fn master(&self) -> &[u8] {
        self.0.master()
    }

    pub(crate) fn cookie_key(&self) -> &Key {
        &self.0
    }
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(..)")
    }
}

/// How sessions are made.
#[derive(Clone, Debug)]
pub struct SessionSettings {
    pub key: SessionKey,
    /// Whether the cookie is sent over https only: everywhere but `genrelay-dev` on http.
    pub secure: bool,
    pub lifetime: chrono::Duration,
}

impl SessionSettings {
    /// Eight-hour sessions, over https only.
    pub fn new(key: SessionKey) -> Self {
        Self { key, secure: true, lifetime: chrono::Duration::hours(8) }
    }

    pub fn over_http(mut self) -> Self {
        self.secure = false;
        self
    }

    /// The cookie that opens a session for `user` until `now + lifetime`.
    pub(crate) fn open(&self, user: &BackOfficeUser, now: DateTime<Utc>) -> Cookie<'static> {
        let claims = Claims { user: user.name.clone(), ends: (now + self.lifetime).timestamp() };
        let value = serde_json::to_string(&claims).expect("claims serialize");
        self.cookie(value, self.lifetime)
    }

    /// The cookie that ends a session.
    pub(crate) fn close(&self) -> Cookie<'static> {
        self.cookie(String::new(), chrono::Duration::zero())
    }

    fn cookie(&self, value: String, lifetime: chrono::Duration) -> Cookie<'static> {
        Cookie::build((COOKIE, value))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Strict)
            .secure(self.secure)
            .max_age(time::Duration::seconds(lifetime.num_seconds()))
            .build()
    }
}

/// What the cookie holds.
#[derive(Serialize, Deserialize)]
struct Claims {
    user: String,
    /// Unix seconds.
    ends: i64,
}

/// The signed-in user of a request. Without a session, the API answers 401 `未登录` and a page
/// sends the browser to the login page.
pub struct SignedIn(pub BackOfficeUser);

impl SignedIn {
    pub fn name(&self) -> &str {
        &self.0.name
    }

    pub fn is_admin(&self) -> bool {
        self.0.role == Role::Admin
    }
}

impl<S> FromRequestParts<S> for SignedIn
where
    S: Send + Sync,
    BackOfficeState: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = BackOfficeState::from_ref(state);
        let jar = PrivateCookieJar::from_headers(&parts.headers, state.sessions.key.cookie_key().clone());
        let claims = jar
            .get(COOKIE)
            .and_then(|cookie| serde_json::from_str::<Claims>(cookie.value()).ok())
            .filter(|claims| claims.ends > Utc::now().timestamp());
        let user = match claims {
            Some(claims) => {
                state.users.user(&claims.user).await.map_err(|e| crate::error::Failure::from(e).into_response())?
            }
            None => None,
        };
        match user {
            Some(user) => {
                tracing::Span::current().record("client_id", format!("back-office:{}", user.name));
                Ok(SignedIn(user))
            }
            None => Err(refuse(parts)),
        }
    }
}

/// An API call is answered 401; a page goes to the login page, which comes back after.
fn refuse(parts: &Parts) -> Response {
    if parts.uri.path().contains("/api/") {
        return not_signed_in().into_response();
    }
    let back = parts.uri.path_and_query().map_or("/admin/ai/tasks", |p| p.as_str());
    Redirect::to(&format!("/admin/login?next={}", crate::pages::url_encode(back))).into_response()
}

/// A signed-in admin; an operator gets 403 `权限不足`.
pub struct AdminOnly(pub SignedIn);

impl<S> FromRequestParts<S> for AdminOnly
where
    S: Send + Sync,
    BackOfficeState: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let signed_in = SignedIn::from_request_parts(parts, state).await?;
        if signed_in.is_admin() { Ok(AdminOnly(signed_in)) } else { Err(not_allowed().into_response()) }
    }
}
