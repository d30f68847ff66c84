//! The console's pages, rendered on the server (askama templates in `templates/`), with one
//! stylesheet and one script served from the binary: nothing comes from a CDN.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use chrono::{Duration, Utc};

use crate::BackOfficeState;
use crate::session::SignedIn;
use crate::tasks::{AiTaskList, TaskFilters, task_list};
use crate::views::AiTaskStatus;

const STYLESHEET: &str = include_str!("../assets/console.css");
const SCRIPT: &str = include_str!("../assets/console.js");
/// Pages load only what genrelay serves.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; img-src 'self' https: http: data:; media-src 'self' https: http:; frame-ancestors 'none'";

pub fn routes() -> Router<BackOfficeState> {
    Router::new()
        .route("/admin", get(|| async { Redirect::to("/admin/ai/tasks") }))
        .route("/admin/login", get(login_page))
        .route("/admin/ai/tasks", get(tasks_page))
        .route("/admin/playground", get(playground_page))
        .route("/admin/static/console.css", get(|| async { static_file("text/css; charset=utf-8", STYLESHEET) }))
        .route("/admin/static/console.js", get(|| async { static_file("text/javascript; charset=utf-8", SCRIPT) }))
        .layer(axum::middleware::map_response(|mut response: Response| async move {
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_SECURITY_POLICY, header::HeaderValue::from_static(CONTENT_SECURITY_POLICY));
            headers.insert(header::X_CONTENT_TYPE_OPTIONS, header::HeaderValue::from_static("nosniff"));
            response
        }))
}

fn static_file(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=300")], body).into_response()
}

/// Percent-encodes a query value.
pub fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Where a login goes: its `next` page if that is a back-office page, else the console.
pub fn after_login(next: Option<&str>) -> String {
    match next {
        Some(next) if next.starts_with("/admin/") && !next.starts_with("//") && !next.contains("://") => {
            next.to_owned()
        }
        _ => "/admin/ai/tasks".to_owned(),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
pub struct LoginPage {
    error: Option<String>,
    next: String,
}

impl LoginPage {
    pub fn with_error(error: &str, next: Option<&str>) -> Self {
        Self { error: Some(error.to_owned()), next: after_login(next) }
    }
}

#[derive(serde::Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

async fn login_page(Query(query): Query<LoginQuery>) -> LoginPage {
    LoginPage { error: None, next: after_login(query.next.as_deref()) }
}

/// A link of the filter bar or the pager: the current filters with some changed.
struct Link {
    label: String,
    href: String,
    current: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "tasks.html")]
struct TasksPage {
    user: String,
    is_admin: bool,
    filters: TaskFilters,
    list: Option<AiTaskList>,
    error: Option<String>,
    statuses: Vec<Link>,
    date_presets: Vec<Link>,
    pages: Vec<Link>,
    more: Option<String>,
}

impl TasksPage {
    fn filter(value: &Option<String>) -> &str {
        value.as_deref().unwrap_or("")
    }
}

/// The filters as a query string, with `changes` applied (an empty value drops the filter).
fn href(filters: &TaskFilters, changes: &[(&str, &str)]) -> String {
    let current = [
        ("status", &filters.status),
        ("order_number", &filters.order_number),
        ("image_type", &filters.image_type),
        ("start_date", &filters.start_date),
        ("end_date", &filters.end_date),
        ("playground_only", &filters.playground_only),
        ("per_page", &filters.per_page),
        ("page", &filters.page),
    ];
    let mut pairs: Vec<String> = Vec::new();
    for (name, value) in current {
        let value = changes.iter().find(|(changed, _)| *changed == name).map(|(_, v)| *v).or(value.as_deref());
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            pairs.push(format!("{name}={}", url_encode(value)));
        }
    }
    format!("/admin/ai/tasks?{}", pairs.join("&"))
}

async fn tasks_page(
    State(state): State<BackOfficeState>,
    signed_in: SignedIn,
    Query(filters): Query<TaskFilters>,
) -> impl IntoResponse {
    let (list, error) = match task_list(&state, &signed_in, &filters).await {
        Ok(list) => (Some(list), None),
        Err(failure) => (None, Some(failure.message().to_owned())),
    };
    let status = filters.status.as_deref().unwrap_or("");
    let mut statuses = vec![Link {
        label: "全部".into(),
        href: href(&filters, &[("status", ""), ("page", "")]),
        current: status.is_empty(),
    }];
    statuses.extend(AiTaskStatus::NAMES.iter().filter_map(|name| AiTaskStatus::parse(name)).map(|s| Link {
        label: s.text().into(),
        href: href(&filters, &[("status", s.as_str()), ("page", "")]),
        current: status == s.as_str(),
    }));
    let today = Utc::now().date_naive();
    let date_presets = [("今天", 0), ("7天", 6), ("30天", 29)]
        .into_iter()
        .map(|(label, days)| {
            let from = (today - Duration::days(days)).to_string();
            Link {
                label: label.into(),
                current: filters.start_date.as_deref() == Some(from.as_str()) && filters.end_date.is_none(),
                href: href(&filters, &[("start_date", &from), ("end_date", ""), ("page", "")]),
            }
        })
        .collect();
    let pages = list.as_ref().map(|list| pager(&filters, list)).unwrap_or_default();
    let more = list
        .as_ref()
        .and_then(|list| list.next_cursor.clone())
        .map(|cursor| format!("{}&cursor={}", href(&filters, &[("page", "")]), url_encode(&cursor)));
    let page = TasksPage {
        user: signed_in.0.name.clone(),
        is_admin: signed_in.is_admin(),
        filters,
        list,
        error,
        statuses,
        date_presets,
        pages,
        more,
    };
    ([(header::CACHE_CONTROL, "no-store")], page)
}

#[derive(Template, WebTemplate)]
#[template(path = "playground.html")]
struct PlaygroundPage {
    user: String,
    is_admin: bool,
    capabilities: Vec<&'static str>,
}

async fn playground_page(State(state): State<BackOfficeState>, signed_in: SignedIn) -> impl IntoResponse {
    let capabilities = state.engine.served_capabilities().into_iter().map(|c| c.as_str()).collect();
    let page = PlaygroundPage { user: signed_in.0.name.clone(), is_admin: signed_in.is_admin(), capabilities };
    ([(header::CACHE_CONTROL, "no-store")], page)
}

/// Numbered page links: the first, the last, and two either side of the current one.
fn pager(filters: &TaskFilters, list: &AiTaskList) -> Vec<Link> {
    let last = list.pages.max(1);
    let shown: Vec<usize> = (1..=last).filter(|n| *n == 1 || *n == last || n.abs_diff(list.page) <= 2).collect();
    let mut links = Vec::new();
    let mut previous = 0;
    for n in shown {
        if n > previous + 1 {
            links.push(Link { label: "…".into(), href: String::new(), current: false });
        }
        let number = n.to_string();
        links.push(Link { label: number.clone(), href: href(filters, &[("page", &number)]), current: n == list.page });
        previous = n;
    }
    links
}
