//! Signing in and out, and adding users. Failed logins are counted in the store per user at an
//! address and per address, so the limit holds across every function instance.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::PrivateCookieJar;
use chrono::{DateTime, Utc};
use genrelay_core::ports::{BackOfficeUser, Role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::BackOfficeState;
use crate::error::{BackOfficeError, Failure, JsonBody, Success};
use crate::pages::LoginPage;
use crate::passwords::{self, FirstAdmin, PasswordError};
use crate::session::AdminOnly;

/// Failed logins of one user at one address within `WINDOW` before more are refused.
const USER_LIMIT: u32 = 5;
/// Failed logins from one address (any user) within `WINDOW` before more are refused.
const ADDRESS_LIMIT: u32 = 20;
const WINDOW_MINUTES: i64 = 15;

pub fn routes() -> OpenApiRouter<BackOfficeState> {
    OpenApiRouter::new().routes(routes!(login)).routes(routes!(logout)).routes(routes!(add_user))
}

/// A login, as a form (`username`, `password`, optional `next`) or as JSON.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Credentials {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    /// Form logins only: the back-office page to go to after.
    #[serde(default)]
    pub next: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SignedInUser {
    pub username: String,
    #[schema(value_type = String, example = "admin")]
    pub role: Role,
}

/// The address a request came from: API Gateway's source IP on Lambda, the peer in the dev
/// server.
pub struct ClientAddress(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        use lambda_http::request::RequestContext;
        let from_gateway = match parts.extensions.get::<RequestContext>() {
            Some(RequestContext::ApiGatewayV2(context)) => context.http.source_ip.clone(),
            _ => None,
        };
        let from_peer = || parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|peer| peer.0.ip().to_string());
        Ok(Self(from_gateway.or_else(from_peer).unwrap_or_else(|| "unknown".to_owned())))
    }
}

/// Whether the login came as a form (a browser) or as JSON (a script).
enum Via {
    Form,
    Json,
}

/// Sign in. A form login answers a redirect to the console (or its `next` page) with the
/// session cookie, a JSON login the user and the cookie.
#[utoipa::path(
    post, path = "/admin/login", tag = "管理后台",
    request_body(content(
        (Credentials = "application/x-www-form-urlencoded"),
        (Credentials = "application/json", example = json!({"username": "admin", "password": "your password"})),
    )),
    responses(
        (status = 200, description = "Signed in (JSON); the session cookie is set", body = Success<SignedInUser>),
        (status = 303, description = "Signed in (form): to the console, with the session cookie"),
        (status = 401, description = "用户名或密码错误", body = BackOfficeError),
        (status = 429, description = "Too many failed logins; try again later", body = BackOfficeError),
    )
)]
async fn login(
    State(state): State<BackOfficeState>,
    ClientAddress(address): ClientAddress,
    jar: PrivateCookieJar,
    request: Request,
) -> Result<Response, Response> {
    let (via, credentials) = read_credentials(request).await.map_err(IntoResponse::into_response)?;
    let refuse = |status: StatusCode, message: String| match via {
        Via::Json => Failure::new(status, message).into_response(),
        Via::Form => (status, LoginPage::with_error(&message, credentials.next.as_deref())).into_response(),
    };
    let now = Utc::now();
    let throttle = Throttle::new(&credentials.username, &address, now);
    if let Some(minutes) = throttle.blocked(&state).await.map_err(|e| Failure::from(e).into_response())? {
        tracing::warn!(user = %credentials.username, address, "login refused: too many failures");
        let mut refused = refuse(StatusCode::TOO_MANY_REQUESTS, format!("登录失败次数过多，请 {minutes} 分钟后再试"));
        refused.headers_mut().insert(axum::http::header::RETRY_AFTER, (minutes.max(1) * 60).into());
        return Err(refused);
    }
    let signing_in = FirstAdmin::user_signing_in(state.first_admin.as_ref(), &credentials.username, &*state.users, now);
    let user = signing_in.await.map_err(|e| Failure::from(e).into_response())?;
    let verified = match &user {
        Some(user) => passwords::verify(&credentials.password, &user.password_hash),
        None => {
            passwords::verify_nothing(&credentials.password);
            false
        }
    };
    let Some(user) = user.filter(|_| verified) else {
        throttle.count_failure(&state).await.map_err(|e| Failure::from(e).into_response())?;
        tracing::info!(user = %credentials.username, address, "login failed");
        return Err(refuse(StatusCode::UNAUTHORIZED, "用户名或密码错误".to_owned()));
    };
    throttle.clear(&state).await.map_err(|e| Failure::from(e).into_response())?;
    tracing::info!(user = %user.name, address, "signed in");
    let jar = jar.add(state.sessions.open(&user, now));
    Ok(match via {
        Via::Json => (jar, Success::of(SignedInUser { username: user.name, role: user.role })).into_response(),
        Via::Form => (jar, Redirect::to(&crate::pages::after_login(credentials.next.as_deref()))).into_response(),
    })
}

async fn read_credentials(request: Request) -> Result<(Via, Credentials), Failure> {
    let json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|kind| kind.starts_with("application/json"));
    let invalid = |detail: String| Failure::new(StatusCode::BAD_REQUEST, format!("无效的登录请求: {detail}"));
    if json {
        let Json(credentials) =
            Json::<Credentials>::from_request(request, &()).await.map_err(|e| invalid(e.body_text()))?;
        Ok((Via::Json, credentials))
    } else {
        let axum::Form(credentials) =
            axum::Form::<Credentials>::from_request(request, &()).await.map_err(|e| invalid(e.body_text()))?;
        Ok((Via::Form, credentials))
    }
}

/// The failed-login counts a login attempt is held to.
struct Throttle {
    user_key: String,
    address_key: String,
    window_start: DateTime<Utc>,
    now: DateTime<Utc>,
}

impl Throttle {
    fn new(user: &str, address: &str, now: DateTime<Utc>) -> Self {
        Self {
            user_key: format!("{user}@{address}"),
            address_key: format!("@{address}"),
            window_start: now - chrono::Duration::minutes(WINDOW_MINUTES),
            now,
        }
    }

    /// The minutes left before another attempt is heard, if a limit is reached.
    async fn blocked(&self, state: &BackOfficeState) -> genrelay_core::Result<Option<i64>> {
        for (key, limit) in [(&self.user_key, USER_LIMIT), (&self.address_key, ADDRESS_LIMIT)] {
            if let Some(failed) = state.users.failed_logins(key).await?
                && failed.since > self.window_start
                && failed.count >= limit
            {
                let left = failed.since + chrono::Duration::minutes(WINDOW_MINUTES) - self.now;
                return Ok(Some(left.num_minutes().max(0) + 1));
            }
        }
        Ok(None)
    }

    async fn count_failure(&self, state: &BackOfficeState) -> genrelay_core::Result<()> {
        for key in [&self.user_key, &self.address_key] {
            state.users.count_failed_login(key, self.window_start, self.now).await?;
        }
        Ok(())
    }

    async fn clear(&self, state: &BackOfficeState) -> genrelay_core::Result<()> {
        state.users.clear_failed_logins(&self.user_key).await
    }
}

/// Sign out: the session cookie is removed. Forms are sent to the login page.
#[utoipa::path(
    post, path = "/admin/logout", tag = "管理后台",
    responses((status = 200, description = "Signed out; the cookie is removed", body = Success<Option<String>>)),
)]
async fn logout(
    State(state): State<BackOfficeState>,
    jar: PrivateCookieJar,
    headers: axum::http::HeaderMap,
) -> Response {
    let jar = jar.remove(state.sessions.close());
    let from_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|kind| kind.starts_with("application/x-www-form-urlencoded"));
    if from_form {
        (jar, Redirect::to("/admin/login")).into_response()
    } else {
        (jar, Success::<Option<String>>::saying("已退出登录", None)).into_response()
    }
}

/// A user to add.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewUser {
    pub username: String,
    /// At least 8 characters.
    pub password: String,
    #[schema(value_type = String, example = "operator")]
    pub role: Role,
}

/// Add a back-office user (admins only).
#[utoipa::path(
    post, path = "/admin/api/users", tag = "管理后台",
    request_body = NewUser,
    responses(
        (status = 201, description = "Added", body = Success<SignedInUser>),
        (status = 401, description = "未登录"),
        (status = 403, description = "权限不足"),
        (status = 409, description = "A user of that name exists"),
    ),
    security(("session" = []))
)]
async fn add_user(
    State(state): State<BackOfficeState>,
    AdminOnly(admin): AdminOnly,
    JsonBody(new): JsonBody<NewUser>,
) -> Result<Response, Failure> {
    let password_hash = passwords::hash(&new.password).map_err(|e| match e {
        PasswordError::Store(error) => Failure::from(error),
        other => Failure::new(StatusCode::BAD_REQUEST, format!("password: {other}")),
    })?;
    passwords::check_name(&new.username)
        .map_err(|e| Failure::new(StatusCode::BAD_REQUEST, format!("username: {e}")))?;
    let user = BackOfficeUser { name: new.username, role: new.role, password_hash, created_at: Utc::now() };
    if !state.users.add_user(&user).await? {
        return Err(Failure::new(StatusCode::CONFLICT, format!("用户 {} 已存在", user.name)));
    }
    tracing::info!(user = %user.name, role = %user.role, by = %admin.name(), "back-office user added");
    let added = Success::of(SignedInUser { username: user.name, role: user.role });
    Ok((StatusCode::CREATED, added).into_response())
}
