//! Calls of any route of any surface, as a client (an API key) or an operator (a session
//! cookie) makes them, and what each surface's error answers look like: for the tests that go
//! through every route (outages, isolation).

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use genrelay_http::inference::InferencePresets;
use serde_json::Value;
use tower::ServiceExt;

use genrelay_tests::app::{TestApp, json_of, multipart_request, tiny_png};

use crate::surfaces::state;

/// The surface a route belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    OpenApi,
    PsTasks,
    Jimeng,
    Inference,
    BackOffice,
}

impl Surface {
    /// The surface of a path, as the functions route them.
    pub fn of(path: &str) -> Self {
        match path {
            p if p.starts_with("/api/v1/") => Self::OpenApi,
            p if p.starts_with("/ps_tasks/") => Self::PsTasks,
            p if p.starts_with("/v1/async/") => Self::Jimeng,
            p if p.starts_with("/admin") => Self::BackOffice,
            _ => Self::Inference,
        }
    }

    fn router(self, app: &TestApp) -> axum::Router {
        match self {
            Self::OpenApi | Self::BackOffice => app.router.clone(),
            Self::PsTasks => genrelay_http::ps_tasks_router(state(app)),
            Self::Jimeng => genrelay_http::jimeng_async_router(state(app)),
            Self::Inference => genrelay_http::inference_router(state(app), InferencePresets::defaults()),
        }
    }

    /// Sends `request` to this surface of `app`: the answer's status, headers and JSON body.
    pub async fn send(self, app: &TestApp, request: Request<Body>) -> (StatusCode, HeaderMap, Value) {
        let response = self.router(app).oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        (parts.status, parts.headers, json_of(&bytes))
    }

    /// Whether `body` is this surface's error answer with `status`.
    pub fn is_error_answer(self, status: StatusCode, body: &Value) -> bool {
        match self {
            Self::OpenApi => body["error"].is_string(),
            Self::PsTasks => body["code"] == status.as_u16() && body["msg"].is_string(),
            Self::Jimeng => {
                let code = match status {
                    StatusCode::UNAUTHORIZED => "UNAUTHORIZED",
                    StatusCode::NOT_FOUND => "TASK_NOT_FOUND",
                    StatusCode::SERVICE_UNAVAILABLE => "SERVICE_UNAVAILABLE",
                    StatusCode::TOO_MANY_REQUESTS => "TOO_MANY_TASKS",
                    _ => return body["error"]["message"].is_string(),
                };
                body["error"]["message"].is_string() && body["error"]["code"] == code
            }
            Self::Inference => body["detail"].is_string(),
            Self::BackOffice => body["status"] == "error" && body["message"].is_string(),
        }
    }
}

/// Who makes a call: an API key, a session cookie, both or neither.
#[derive(Clone, Copy, Default)]
pub struct Caller<'a> {
    pub key: Option<&'a str>,
    pub cookie: Option<&'a str>,
}

impl<'a> Caller<'a> {
    pub fn client(key: &'a str) -> Self {
        Self { key: Some(key), cookie: None }
    }

    pub fn operator(cookie: &'a str) -> Self {
        Self { key: None, cookie: Some(cookie) }
    }
}

/// One call of a route: its surface, method, path and JSON body (or a multipart upload).
pub struct Call {
    pub surface: Surface,
    pub method: String,
    pub path: String,
    pub body: Option<Value>,
    pub upload: bool,
}

pub fn call(method: &str, path: impl Into<String>, body: Option<Value>) -> Call {
    let path = path.into();
    Call { surface: Surface::of(&path), method: method.to_owned(), path, body, upload: false }
}

/// `POST /api/v1/assets` with one small PNG.
pub fn upload() -> Call {
    Call { upload: true, ..call("POST", "/api/v1/assets", None) }
}

impl Call {
    pub async fn send(&self, app: &TestApp, caller: Caller<'_>) -> (StatusCode, HeaderMap, Value) {
        let mut request = if self.upload {
            multipart_request(caller.key.unwrap_or_default(), &[("files", "in.png", "image/png", &tiny_png())])
        } else {
            let builder = Request::builder().method(self.method.as_str()).uri(&self.path);
            match &self.body {
                Some(body) => {
                    builder.header(header::CONTENT_TYPE, "application/json").body(Body::from(body.to_string())).unwrap()
                }
                None => builder.body(Body::empty()).unwrap(),
            }
        };
        let headers = request.headers_mut();
        headers.remove(header::AUTHORIZATION);
        if let Some(key) = caller.key {
            headers.insert(header::AUTHORIZATION, format!("Bearer {key}").parse().unwrap());
        }
        if let Some(cookie) = caller.cookie {
            headers.insert(header::COOKIE, cookie.parse().unwrap());
        }
        self.surface.send(app, request).await
    }

    /// `METHOD path` and its surface, for assertion messages.
    pub fn route(&self) -> String {
        format!("{:?} {} {}", self.surface, self.method, self.path)
    }
}

/// Every operation the committed OpenAPI documents describe (the API's and the back
/// office's): method, path template, and the statuses it documents.
pub fn documented_operations() -> Vec<(String, String, Vec<String>)> {
    let mut operations = Vec::new();
    for document in [genrelay_http::OPENAPI_DOCUMENT, genrelay_back_office::OPENAPI_DOCUMENT] {
        let document: Value = serde_json::from_str(document).unwrap();
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let statuses = operation["responses"].as_object().map(|r| r.keys().cloned().collect());
                operations.push((method.to_uppercase(), path.clone(), statuses.unwrap_or_default()));
            }
        }
    }
    operations
}

/// A path template with each `{parameter}` replaced by `value`.
pub fn filled(template: &str, value: &str) -> String {
    let mut path = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').map_or(rest.len(), |end| start + end + 1);
        path.push_str(&rest[..start]);
        path.push_str(value);
        rest = &rest[end..];
    }
    path + rest
}
