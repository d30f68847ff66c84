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
use crate::error::Failure;
use crate::session::{AdminOnly, SignedIn};
use crate::tasks::{AiTaskList, TaskFilters, task_id, task_list};
use crate::views::{AiTaskDetail, AiTaskStatus};

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
        .route("/admin/ai/tasks/{task_id}", get(task_page))
        .route("/admin/ai/config", get(config_page))
        .route("/admin/ai-provider/config", get(providers_page))
        .route("/admin/meitu/config", get(meitu_config_page))
        .route("/admin/meitu/presets", get(meitu_presets_page))
        .route("/admin/meitu/tasks", get(meitu_tasks_page))
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

/// One moment in a task's life, for the detail page's timeline.
struct Moment {
    at: chrono::DateTime<Utc>,
    what: String,
    detail: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "task.html")]
struct TaskPage {
    user: String,
    is_admin: bool,
    task: AiTaskDetail,
    request_params: String,
    timeline: Vec<Moment>,
}

/// Everything that happened to the task, oldest first.
fn timeline(task: &AiTaskDetail) -> Vec<Moment> {
    let mut moments =
        vec![Moment { at: task.task.created_at, what: "创建 created".into(), detail: task.task.surface.into() }];
    if let Some(at) = task.task.started_at {
        moments.push(Moment { at, what: "开始 started".into(), detail: String::new() });
    }
    for attempt in &task.attempts {
        let outcome: String = attempt.outcome.clone().into();
        moments.push(Moment { at: attempt.at, what: format!("交给 handed to {}", attempt.channel), detail: outcome });
    }
    for action in &task.operator_actions {
        let what = format!("{} · {}", action.action, action.by);
        moments.push(Moment { at: action.at, what, detail: action.outcome.clone() });
    }
    if let Some(at) = task.task.completed_at {
        let detail = task.task.error_message.clone().unwrap_or_default();
        moments.push(Moment { at, what: format!("结束 ended: {}", task.task.status_text), detail });
    }
    moments.sort_by_key(|moment| moment.at);
    moments
}

async fn task_page(
    State(state): State<BackOfficeState>,
    signed_in: SignedIn,
    axum::extract::Path(raw): axum::extract::Path<String>,
) -> Result<Response, Response> {
    let record = match task_id(&raw) {
        Ok(id) => state.engine.admin_job_record(&id).await.map_err(crate::error::Failure::from),
        Err(failure) => Err(failure),
    }
    .map_err(IntoResponse::into_response)?;
    let task = AiTaskDetail::of(&record.job, record.deliveries);
    let request_params = serde_json::to_string_pretty(&task.task.request_params).unwrap_or_default();
    let page = TaskPage {
        user: signed_in.0.name.clone(),
        is_admin: signed_in.is_admin(),
        timeline: timeline(&task),
        request_params,
        task,
    };
    Ok(([(header::CACHE_CONTROL, "no-store")], page).into_response())
}

/// One field of the AI config form.
struct ConfigField {
    name: &'static str,
    label: &'static str,
    value: String,
    effective: String,
    min: u32,
    max: u32,
}

#[derive(Template, WebTemplate)]
#[template(path = "config.html")]
struct ConfigPage {
    user: String,
    is_admin: bool,
    fields: Vec<ConfigField>,
}

async fn config_page(State(state): State<BackOfficeState>, signed_in: SignedIn) -> Result<Response, Response> {
    let current = crate::ai_config::config_state(&state).await.map_err(IntoResponse::into_response)?;
    let (set, effective) = (&current.config, &current.effective);
    let text = |value: Option<u32>| value.map(|v| v.to_string()).unwrap_or_default();
    let field = |name, label, set: Option<u32>, effective: Option<u32>, min, max| ConfigField {
        name,
        label,
        value: text(set),
        effective: text(effective),
        min,
        max,
    };
    let fields = vec![
        field(
            "pollRetrySeconds",
            "失败后重新查询间隔（秒） Poll retry (s)",
            set.poll_retry_seconds,
            effective.poll_retry_seconds,
            1,
            300,
        ),
        field(
            "imageDeadlineMinutes",
            "图片任务时限（分钟） Image deadline (min)",
            set.image_deadline_minutes,
            effective.image_deadline_minutes,
            1,
            1440,
        ),
        field(
            "videoDeadlineMinutes",
            "视频任务时限（分钟） Video deadline (min)",
            set.video_deadline_minutes,
            effective.video_deadline_minutes,
            1,
            1440,
        ),
        field(
            "maxSubmitAttempts",
            "最多提交次数 Submissions",
            set.max_submit_attempts,
            effective.max_submit_attempts,
            1,
            10,
        ),
        field(
            "channelWaitSeconds",
            "等待通道（秒） Channel wait (s)",
            set.channel_wait_seconds,
            effective.channel_wait_seconds,
            10,
            3600,
        ),
        field(
            "upstreamOutageSeconds",
            "上游无响应容忍（秒） Upstream outage (s)",
            set.upstream_outage_seconds,
            effective.upstream_outage_seconds,
            10,
            3600,
        ),
    ];
    let page = ConfigPage { user: signed_in.0.name.clone(), is_admin: signed_in.is_admin(), fields };
    Ok(([(header::CACHE_CONTROL, "no-store")], page).into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "providers.html")]
struct ProvidersPage {
    user: String,
    is_admin: bool,
    channels: Vec<crate::providers::ChannelView>,
    /// What a credential is shown as.
    mask: &'static str,
    upstreams: &'static [&'static str],
    credential_fields: &'static [&'static str],
}

async fn providers_page(State(state): State<BackOfficeState>, signed_in: SignedIn) -> Result<Response, Response> {
    let channels = crate::providers::channel_views(&state).await.map_err(IntoResponse::into_response)?;
    let page = ProvidersPage {
        user: signed_in.0.name.clone(),
        is_admin: signed_in.is_admin(),
        channels,
        mask: genrelay_providers::stored::MASK,
        upstreams: &genrelay_providers::config::UPSTREAM_TYPES,
        credential_fields: &genrelay_providers::config::CREDENTIAL_FIELDS,
    };
    Ok(([(header::CACHE_CONTROL, "no-store")], page).into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "meitu_config.html")]
struct MeituConfigPage {
    user: String,
    is_admin: bool,
    config: crate::meitu::config::MeituConfigView,
}

async fn meitu_config_page(State(state): State<BackOfficeState>, admin: AdminOnly) -> Result<Response, Response> {
    let config = crate::meitu::config::config_view(&state).await.map_err(IntoResponse::into_response)?;
    let page = MeituConfigPage { user: admin.0.0.name.clone(), is_admin: true, config };
    Ok(([(header::CACHE_CONTROL, "no-store")], page).into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "meitu_presets.html")]
struct MeituPresetsPage {
    user: String,
    is_admin: bool,
    presets: Vec<crate::meitu::presets::PresetView>,
    catalog: crate::meitu::styles::CatalogView,
    /// What a style may default a job to.
    capabilities: &'static [genrelay_core::Capability],
}

async fn meitu_presets_page(State(state): State<BackOfficeState>, admin: AdminOnly) -> Result<Response, Response> {
    let catalog = state.engine.style_catalog().await.map_err(|e| Failure::from(e).into_response())?;
    let presets = crate::meitu::presets::views(&catalog);
    let catalog = crate::meitu::styles::catalog_view(&catalog);
    let capabilities = genrelay_core::Capability::ALL;
    let page = MeituPresetsPage { user: admin.0.0.name.clone(), is_admin: true, presets, catalog, capabilities };
    Ok(([(header::CACHE_CONTROL, "no-store")], page).into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "meitu_tasks.html")]
struct MeituTasksPage {
    user: String,
    is_admin: bool,
    list: crate::meitu::tasks::MeituTaskList,
    order_number: String,
    status: String,
    statuses: [(&'static str, &'static str); 3],
}

async fn meitu_tasks_page(
    State(state): State<BackOfficeState>,
    signed_in: SignedIn,
    Query(filters): Query<crate::meitu::tasks::MeituTaskFilters>,
) -> Result<Response, Response> {
    let list = crate::meitu::tasks::task_list(&state, &filters).await.map_err(IntoResponse::into_response)?;
    let page = MeituTasksPage {
        user: signed_in.0.name.clone(),
        is_admin: signed_in.is_admin(),
        list,
        order_number: filters.order_number.unwrap_or_default(),
        status: filters.status.unwrap_or_default(),
        statuses: [("pending", "处理中 pending"), ("success", "成功 success"), ("failed", "失败 failed")],
    };
    Ok(([(header::CACHE_CONTROL, "no-store")], page).into_response())
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
