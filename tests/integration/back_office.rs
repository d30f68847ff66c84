//! The back office (seed 000) through its router on the embedded store: sessions and roles,
//! the AI task list and detail across clients, operators' actions, pages and /docs.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use genrelay_core::ports::Role;
use genrelay_providers::MockConfig;
use serde_json::{Value, json};

use genrelay_tests::app::{KEY_A, KEY_B, TestApp, json_of};

const ADMIN: (&str, &str) = ("root", "root-password-1");
const OPERATOR: (&str, &str) = ("olivia", "operator-password-1");

async fn app_with_users(app: TestApp) -> TestApp {
    app.add_back_office_user(ADMIN.0, Role::Admin, ADMIN.1).await;
    app.add_back_office_user(OPERATOR.0, Role::Operator, OPERATOR.1).await;
    app
}

/// A request with optional cookie and JSON body.
fn request(method: &str, path: &str, cookie: Option<&str>, body: Option<Value>) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(cookie) = cookie {
        builder = builder.header(header::COOKIE, cookie);
    }
    match body {
        Some(body) => builder.header(header::CONTENT_TYPE, "application/json").body(Body::from(body.to_string())),
        None => builder.body(Body::empty()),
    }
    .unwrap()
}

async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let (status, _, bytes) = app.send(request(method, path, cookie, body)).await;
    (status, json_of(&bytes))
}

/// The `session=…` pair a response sets, if any.
fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("session="))
        .map(|v| v.split(';').next().unwrap().to_owned())
}

async fn sign_in(app: &TestApp, (name, password): (&str, &str)) -> String {
    let body = json!({"username": name, "password": password});
    let (status, headers, bytes) = app.send(request("POST", "/admin/login", None, Some(body))).await;
    assert_eq!(status, StatusCode::OK, "{}", json_of(&bytes));
    session_cookie(&headers).expect("a session cookie")
}

#[tokio::test]
async fn without_a_session_the_api_answers_401_and_pages_go_to_the_login_page() {
    let app = app_with_users(TestApp::new()).await;
    let (status, body) =
        call(&app, "GET", "/admin/ai/api/tasks?page=1&per_page=10&status=processing", None, None).await;
    assert_eq!((status, body), (StatusCode::UNAUTHORIZED, json!({"status": "error", "message": "未登录"})));

    let (status, headers, _) = app.send(request("GET", "/admin/ai/tasks?status=failed", None, None)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/admin/login?next=/admin/ai/tasks%3Fstatus%3Dfailed");

    // An API key never opens the back office.
    let (status, _) = app.call("GET", "/admin/ai/api/tasks", Some(KEY_A), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A forged or tampered cookie is no session.
    let cookie = sign_in(&app, ADMIN).await;
    let tampered = format!("{}A", &cookie[..cookie.len() - 1]);
    assert_eq!(call(&app, "GET", "/admin/ai/api/tasks", Some(&tampered), None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(call(&app, "GET", "/admin/ai/api/tasks", Some("session=admin"), None).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_json_login_opens_a_strict_http_only_session_that_never_opens_the_api() {
    let app = app_with_users(TestApp::new()).await;
    let body = json!({"username": ADMIN.0, "password": "wrong password"});
    let (status, wrong) = call(&app, "POST", "/admin/login", None, Some(body)).await;
    assert_eq!((status, wrong), (StatusCode::UNAUTHORIZED, json!({"status": "error", "message": "用户名或密码错误"})));
    let (status, _) =
        call(&app, "POST", "/admin/login", None, Some(json!({"username": "nobody", "password": "whatever1"}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "an unknown user answers as a wrong password does");

    let body = json!({"username": ADMIN.0, "password": ADMIN.1});
    let (status, headers, bytes) = app.send(request("POST", "/admin/login", None, Some(body))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json_of(&bytes), json!({"status": "success", "data": {"username": "root", "role": "admin"}}));
    let set_cookie = headers[header::SET_COOKIE].to_str().unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/", "Max-Age=28800"] {
        assert!(set_cookie.contains(attribute), "{set_cookie} lacks {attribute}");
    }
    assert!(!set_cookie.contains("root"), "the cookie is encrypted: {set_cookie}");
    let cookie = session_cookie(&headers).unwrap();

    let (status, list) = call(&app, "GET", "/admin/ai/api/tasks", Some(&cookie), None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    // A session never opens the API.
    assert_eq!(call(&app, "GET", "/api/v1/jobs", Some(&cookie), None).await.0, StatusCode::UNAUTHORIZED);

    let (status, headers, _) = app.send(request("POST", "/admin/logout", Some(&cookie), None)).await;
    assert_eq!(status, StatusCode::OK);
    let removed = headers[header::SET_COOKIE].to_str().unwrap();
    assert!(removed.starts_with("session=;") && removed.contains("Max-Age=0"), "{removed}");
}

#[tokio::test]
async fn a_form_login_goes_to_its_next_back_office_page_and_no_further() {
    let app = app_with_users(TestApp::new()).await;
    let form = |next: &str| {
        Request::post("/admin/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("username=root&password=root-password-1&next={next}")))
            .unwrap()
    };
    let (status, headers, _) = app.send(form("%2Fadmin%2Fai%2Ftasks%3Fstatus%3Dfailed")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/admin/ai/tasks?status=failed");
    assert!(session_cookie(&headers).is_some());
    for elsewhere in ["https%3A%2F%2Fevil.test%2F", "%2F%2Fevil.test", "%2Fapi%2Fv1%2Fjobs"] {
        let (_, headers, _) = app.send(form(elsewhere)).await;
        assert_eq!(headers[header::LOCATION], "/admin/ai/tasks", "{elsewhere}");
    }
    let wrong = Request::post("/admin/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("username=root&password=nope"))
        .unwrap();
    let (status, _, page) = app.send(wrong).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(String::from_utf8(page).unwrap().contains("用户名或密码错误"), "the login page again, with the error");
}

/// The configured first admin is added at its first sign-in (start-up reads nothing for it);
/// a user of that name added before keeps its own password; other names add nothing.
#[tokio::test]
async fn the_first_admin_is_added_at_its_first_sign_in() {
    use genrelay_back_office::FirstAdmin;
    use genrelay_core::ports::BackOfficeStore;
    let admin = || FirstAdmin::new("boss".to_owned(), "boss-password-1".to_owned()).unwrap();
    let app = TestApp::new().with_first_admin(admin());
    let body = json!({"username": "nobody", "password": "boss-password-1"});
    assert_eq!(call(&app, "POST", "/admin/login", None, Some(body)).await.0, StatusCode::UNAUTHORIZED);
    assert!(app.embedded.store.user("nobody").await.unwrap().is_none());
    assert!(app.embedded.store.user("boss").await.unwrap().is_none(), "not added before it signs in");
    let cookie = sign_in(&app, ("boss", "boss-password-1")).await;
    assert_eq!(app.embedded.store.user("boss").await.unwrap().unwrap().role, Role::Admin);
    let body = json!({"username": "second", "password": "second-password", "role": "operator"});
    assert_eq!(call(&app, "POST", "/admin/api/users", Some(&cookie), Some(body)).await.0, StatusCode::CREATED);

    let app = app_with_users(TestApp::new())
        .await
        .with_first_admin(FirstAdmin::new(ADMIN.0.to_owned(), "configured-password".to_owned()).unwrap());
    let body = json!({"username": ADMIN.0, "password": "configured-password"});
    assert_eq!(call(&app, "POST", "/admin/login", None, Some(body)).await.0, StatusCode::UNAUTHORIZED);
    sign_in(&app, ADMIN).await;
    assert!(FirstAdmin::new("bad name!".to_owned(), "long enough".to_owned()).is_err());
    assert!(FirstAdmin::new("boss".to_owned(), "short".to_owned()).is_err(), "checked at start-up");
}

#[tokio::test]
async fn failed_logins_are_limited_per_user_and_address_in_the_store() {
    let app = app_with_users(TestApp::new()).await;
    for _ in 0..5 {
        let body = json!({"username": ADMIN.0, "password": "guess guess"});
        assert_eq!(call(&app, "POST", "/admin/login", None, Some(body)).await.0, StatusCode::UNAUTHORIZED);
    }
    let body = json!({"username": ADMIN.0, "password": ADMIN.1});
    let request = Request::post("/admin/login").header(header::CONTENT_TYPE, "application/json");
    let (status, headers, refused) = app.send(request.body(Body::from(body.to_string())).unwrap()).await;
    let refused = json_of(&refused);
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "even the right password waits: {refused}");
    assert!(refused["message"].as_str().unwrap().contains("登录失败次数过多"));
    let minutes = refused["message"].as_str().unwrap().split_whitespace().nth(1).unwrap().parse::<u64>().unwrap();
    assert_eq!(headers[header::RETRY_AFTER], (minutes * 60).to_string(), "Retry-After says the same wait");
    use genrelay_core::ports::BackOfficeStore;
    let counted = app.embedded.store.failed_logins("root@unknown").await.unwrap().unwrap();
    assert_eq!(counted.count, 5, "kept in the store, so every instance sees it");
    sign_in(&app, OPERATOR).await;
}

#[tokio::test]
async fn operators_may_not_do_what_only_admins_do_and_writes_from_other_sites_are_refused() {
    let app = app_with_users(TestApp::new()).await;
    let operator = sign_in(&app, OPERATOR).await;
    let admin = sign_in(&app, ADMIN).await;
    let new_user = json!({"username": "oscar", "password": "oscar-password", "role": "operator"});
    let (status, body) = call(&app, "POST", "/admin/api/users", Some(&operator), Some(new_user.clone())).await;
    assert_eq!((status, body), (StatusCode::FORBIDDEN, json!({"status": "error", "message": "权限不足"})));
    let (status, body) = call(&app, "POST", "/admin/api/users", Some(&admin), Some(new_user.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(call(&app, "POST", "/admin/api/users", Some(&admin), Some(new_user)).await.0, StatusCode::CONFLICT);
    let short = json!({"username": "pat", "password": "short", "role": "operator"});
    assert_eq!(call(&app, "POST", "/admin/api/users", Some(&admin), Some(short)).await.0, StatusCode::BAD_REQUEST);
    sign_in(&app, ("oscar", "oscar-password")).await;

    for (name, value) in [("sec-fetch-site", "cross-site"), ("origin", "https://evil.test")] {
        let mut forged = request("POST", "/admin/api/users", Some(&admin), Some(json!({})));
        forged.headers_mut().insert(name, value.parse().unwrap());
        forged.headers_mut().insert(header::HOST, "admin.example.com".parse().unwrap());
        let (status, _, body) = app.send(forged).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}: {}", json_of(&body));
        assert_eq!(json_of(&body)["status"], "error");
    }
}

/// Jobs of two clients and two surfaces: an image job with an order number, a failed one, and
/// a PS task.
async fn mixed_jobs(app: &TestApp) -> (String, String, String) {
    let mut first = crate::jobs::seed_examples()[2].clone();
    first["orderNumber"] = json!("ORD-2026-0001");
    first["imageType"] = json!("original");
    let done = app.create_job(KEY_A, first).await;
    app.drain().await;
    let mut second = crate::jobs::seed_examples()[0].clone();
    second["orderNumber"] = json!("ORD-2026-0002");
    second["imageType"] = json!("retouched");
    let queued = app.create_job(KEY_B, second).await;
    let ps = json!({"image_url": "https://example.com/p.png", "prompt": "换背景", "editor": "user123"});
    let ps_router = genrelay_http::ps_tasks_router(crate::surfaces::state(app));
    let submit = Request::post("/ps_tasks/submit")
        .header(header::AUTHORIZATION, format!("Bearer {KEY_A}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(ps.to_string()))
        .unwrap();
    let answer = tower::ServiceExt::oneshot(ps_router, submit).await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let answer = json_of(&axum::body::to_bytes(answer.into_body(), usize::MAX).await.unwrap());
    let ps_task = answer["data"]["task_id"].as_str().unwrap().to_owned();
    (done, queued, ps_task)
}

fn task_ids(list: &Value) -> Vec<&str> {
    list["data"]["tasks"].as_array().unwrap().iter().map(|t| t["task_id"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn the_task_list_shows_every_clients_jobs_with_seed_000s_fields_and_filters() {
    let app = app_with_users(TestApp::new()).await;
    let (done, queued, ps_task) = mixed_jobs(&app).await;
    let cookie = sign_in(&app, OPERATOR).await;
    let list = |query: &'static str| {
        let (app, cookie) = (&app, cookie.clone());
        async move {
            let (status, body) = call(app, "GET", &format!("/admin/ai/api/tasks{query}"), Some(&cookie), None).await;
            assert_eq!(status, StatusCode::OK, "{query}: {body}");
            body
        }
    };

    let all = list("").await;
    assert_eq!(all["status"], "success");
    assert_eq!(task_ids(&all), [ps_task.as_str(), &queued, &done], "newest first, every client and surface");
    assert_eq!((all["data"]["total"].clone(), all["data"]["page"].clone()), (json!(3), json!(1)));
    assert_eq!((all["data"]["per_page"].clone(), all["data"]["pages"].clone()), (json!(10), json!(1)));
    let task = &all["data"]["tasks"][2];
    assert_eq!(task["order_number"], "ORD-2026-0001");
    assert_eq!((task["status"].clone(), task["status_text"].clone()), (json!("completed"), json!("已完成")));
    assert_eq!((task["image_type"].clone(), task["image_type_text"].clone()), (json!("original"), json!("原图")));
    assert_eq!((task["client_id"].clone(), task["surface"].clone()), (json!("partner-a"), json!("open-api")));
    assert_eq!(task["provider"], "mock");
    assert!(
        task.as_object().unwrap().contains_key("api_task_id"),
        "the upstream task id (none: the mock answered at once)"
    );
    assert_eq!(task["request_params"], json!({"resolution": "4k"}));
    assert!(task["duration_seconds"].is_number());
    let output = task["output_files"][0]["url"].as_str().unwrap();
    assert!(output.starts_with(&format!("/admin/ai/api/tasks/{done}/files/asset_")), "{output}");
    assert_eq!(task["input_files"][0]["url"], "https://example.com/input.png");
    assert_eq!(all["data"]["tasks"][1]["status_text"], "待处理");
    assert_eq!(all["data"]["tasks"][0]["surface"], "ps-tasks");

    // Seed 000's example.
    assert_eq!(task_ids(&list("?page=1&per_page=10&status=pending").await), [ps_task.as_str(), &queued]);
    assert_eq!(task_ids(&list("?status=completed").await), [done.as_str()]);
    assert_eq!(task_ids(&list("?order_number=2026-000").await), [queued.as_str(), &done]);
    assert_eq!(task_ids(&list("?image_type=retouched").await), [queued.as_str()]);
    assert_eq!(task_ids(&list("?start_date=2000-01-01&end_date=2000-01-31").await), Vec::<&str>::new());
    assert_eq!(task_ids(&list("?start_date=2000-01-01").await).len(), 3);
    let second_page = list("?page=2&per_page=2").await;
    assert_eq!(task_ids(&second_page), [done.as_str()]);
    assert_eq!((second_page["data"]["total"].clone(), second_page["data"]["pages"].clone()), (json!(3), json!(2)));
    assert_eq!(task_ids(&list("?playground_only=true").await), Vec::<&str>::new());
    assert_eq!(task_ids(&list("?status=&order_number=").await).len(), 3, "empty filters are no filters");

    for (query, complaint) in [
        ("?status=done", "status: \"done\" is not one of pending, processing, completed, failed, cancelled"),
        ("?per_page=0", "per_page: must be a whole number from 1 to 100"),
        ("?page=x", "page: must be a whole number"),
        ("?start_date=yesterday", "start_date: expected a date"),
        ("?start_date=2026-02-01&end_date=2026-01-01", "end_date: is before start_date"),
        ("?image_type=beautified", "image_type: \"beautified\" is not allowed"),
        ("?cursor=zz", "cursor: not a cursor"),
    ] {
        let (status, body) = call(&app, "GET", &format!("/admin/ai/api/tasks{query}"), Some(&cookie), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(body["status"], "error");
        assert!(body["message"].as_str().unwrap().contains(complaint), "{query}: {body}");
    }
}

#[tokio::test]
async fn a_task_detail_adds_attempts_upstream_state_deliveries_and_its_files_open_through_the_session() {
    let app = app_with_users(TestApp::new()).await;
    let (done, _, _) = mixed_jobs(&app).await;
    let cookie = sign_in(&app, OPERATOR).await;
    let (status, detail) = call(&app, "GET", &format!("/admin/ai/api/tasks/{done}"), Some(&cookie), None).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    let data = &detail["data"];
    assert_eq!(data["task_id"], done.as_str());
    assert_eq!(data["attempts"][0]["channel"], "mock");
    assert_eq!(data["attempts"][0]["outcome"], "accepted");
    assert_eq!(data["upstream"]["provider"], "mock");
    assert_eq!(data["webhook_deliveries"], json!([]));
    assert_eq!(data["source"], json!({"surface": "open-api"}));

    let output = data["output_files"][0]["url"].as_str().unwrap();
    let (status, headers, _) = app.send(request("GET", output, Some(&cookie), None)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(headers[header::LOCATION].to_str().unwrap().starts_with("http://dev.test/"), "a signed download URL");
    assert_eq!(call(&app, "GET", output, None, None).await.0, StatusCode::UNAUTHORIZED);
    let foreign = format!("/admin/ai/api/tasks/{done}/files/asset_01jsample000000000000000");
    assert_eq!(call(&app, "GET", &foreign, Some(&cookie), None).await.0, StatusCode::NOT_FOUND);

    for missing in ["job_01jsample0000000000000000", "not-an-id"] {
        let (status, body) = call(&app, "GET", &format!("/admin/ai/api/tasks/{missing}"), Some(&cookie), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(body["status"], "error");
    }
}

#[tokio::test]
async fn operators_cancel_recheck_and_retry_and_each_action_is_recorded_on_the_job() {
    let app = app_with_users(TestApp::with_mock(MockConfig { latency: Duration::ZERO, failure_rate: 1.0 })).await;
    let cookie = sign_in(&app, OPERATOR).await;
    let action = |id: String, what: &'static str| {
        let (app, cookie) = (&app, cookie.clone());
        async move { call(app, "POST", &format!("/admin/ai/api/tasks/{id}/{what}"), Some(&cookie), None).await }
    };

    // A queued job: recheck dispatches it again, cancel cancels it.
    let queued = app.create_job(KEY_B, crate::jobs::seed_examples()[2].clone()).await;
    let (status, rechecked) = action(queued.clone(), "recheck").await;
    assert_eq!(status, StatusCode::OK, "{rechecked}");
    assert!(rechecked["message"].as_str().unwrap().contains("dispatched again"), "{rechecked}");
    let (status, cancelled) = action(queued.clone(), "cancel").await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(
        (cancelled["data"]["status"].clone(), cancelled["data"]["status_text"].clone()),
        (json!("cancelled"), json!("已取消"))
    );
    assert_eq!(cancelled["data"]["error_message"], "Cancelled by operator olivia.");
    assert_eq!(action(queued.clone(), "cancel").await.0, StatusCode::CONFLICT);
    assert_eq!(action(queued.clone(), "recheck").await.0, StatusCode::CONFLICT, "an ended task has nothing to ask");

    // A failed job (the mock fails every job here) is retried as a new job of the same client.
    let failed = app.create_job(KEY_A, crate::jobs::seed_examples()[2].clone()).await;
    app.drain().await;
    assert_eq!(app.job(KEY_A, &failed).await["status"], "failed");
    let (status, retried) = action(failed.clone(), "retry").await;
    assert_eq!(status, StatusCode::CREATED, "{retried}");
    let retry_id = retried["data"]["task"]["task_id"].as_str().unwrap().to_owned();
    assert_ne!(retry_id, failed);
    assert_eq!(retried["data"]["task"]["retry_of"], failed.as_str());
    assert_eq!(retried["data"]["original_task_id"], failed.as_str());
    let retry = app.job(KEY_A, &retry_id).await;
    assert_eq!((retry["status"].clone(), retry["retryOf"].clone()), (json!("queued"), json!(failed.clone())));
    assert_eq!(retry["params"], json!({"resolution": "4k"}), "the same request");

    let (_, detail) = call(&app, "GET", &format!("/admin/ai/api/tasks/{failed}"), Some(&cookie), None).await;
    let recorded = &detail["data"]["operator_actions"];
    assert_eq!(recorded.as_array().unwrap().len(), 1, "{detail}");
    assert_eq!((recorded[0]["action"].clone(), recorded[0]["by"].clone()), (json!("retry"), json!("olivia")));
    assert_eq!(recorded[0]["outcome"], retry_id.as_str());
    let (_, detail) = call(&app, "GET", &format!("/admin/ai/api/tasks/{queued}"), Some(&cookie), None).await;
    let actions: Vec<&str> =
        detail["data"]["operator_actions"].as_array().unwrap().iter().map(|a| a["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["recheck", "cancel"]);

    // Only failed, expired or cancelled jobs are retried.
    assert_eq!(action(retry_id.clone(), "retry").await.0, StatusCode::CONFLICT);
    assert_eq!(action("job_01jsample0000000000000000".into(), "retry").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_recheck_asks_the_upstream_now_and_applies_its_answer() {
    let app =
        app_with_users(TestApp::with_mock(MockConfig { latency: Duration::from_secs(30), failure_rate: 0.0 })).await;
    let cookie = sign_in(&app, ADMIN).await;
    let id = app.create_job(KEY_A, crate::jobs::seed_examples()[2].clone()).await;
    app.drain().await;
    assert_eq!(app.job(KEY_A, &id).await["status"], "running");
    app.clock.advance(Duration::from_secs(31));
    // The poll is not due yet in the job's schedule; the recheck asks anyway.
    let (status, rechecked) =
        call(&app, "POST", &format!("/admin/ai/api/tasks/{id}/recheck"), Some(&cookie), None).await;
    assert_eq!(status, StatusCode::OK, "{rechecked}");
    assert_eq!(rechecked["data"]["status"], "completed", "{rechecked}");
    assert!(rechecked["message"].as_str().unwrap().contains("succeeded"), "{rechecked}");
}

#[tokio::test]
async fn the_pages_render_on_the_server_with_nothing_from_elsewhere() {
    let app = app_with_users(TestApp::new()).await;
    let (done, _, _) = mixed_jobs(&app).await;
    let (status, headers, login) = app.send(request("GET", "/admin/login", None, None)).await;
    assert_eq!(status, StatusCode::OK);
    let login = String::from_utf8(login).unwrap();
    assert!(login.contains("<form method=\"post\" action=\"/admin/login\""), "{login}");
    assert!(headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap().starts_with("default-src 'self'"));

    let cookie = sign_in(&app, OPERATOR).await;
    let (status, _, page) = app.send(request("GET", "/admin/ai/tasks?order_number=0001", Some(&cookie), None)).await;
    assert_eq!(status, StatusCode::OK);
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains(&done) && page.contains("ORD-2026-0001") && page.contains("已完成"), "{page}");
    assert!(page.contains(&format!("/admin/ai/api/tasks/{done}/files/asset_")), "an output thumbnail");
    assert!(!page.contains("ORD-2026-0002"), "filtered out");
    assert!(!page.contains("http://cdn") && !page.contains("https://cdn"), "nothing from a CDN");
    let (status, _, detail) = app.send(request("GET", &format!("/admin/ai/tasks/{done}"), Some(&cookie), None)).await;
    assert_eq!(status, StatusCode::OK);
    let detail = String::from_utf8(detail).unwrap();
    assert!(detail.contains("id=\"timeline\"") && detail.contains("handed to mock"), "{detail}");
    assert!(detail.contains("&#34;resolution&#34;: &#34;4k&#34;"), "the request parameters, escaped: {detail}");
    let missing = request("GET", "/admin/ai/tasks/job_01jsample0000000000000000", Some(&cookie), None);
    assert_eq!(app.send(missing).await.0, StatusCode::NOT_FOUND);
    for asset in ["/admin/static/console.css", "/admin/static/console.js"] {
        let (status, _, body) = app.send(request("GET", asset, None, None)).await;
        assert_eq!((status, body.is_empty()), (StatusCode::OK, false), "{asset}");
    }
}

#[tokio::test]
async fn docs_render_every_surface_with_the_back_office_under_its_own_tag() {
    let app = TestApp::new();
    let (status, _, page) = app.send(request("GET", "/docs", None, None)).await;
    assert_eq!(status, StatusCode::OK);
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains("<div id=\"swagger-ui\">") && !page.contains("://"), "nothing from elsewhere: {page}");
    for file in ["/docs/ui/swagger-ui-bundle.js", "/docs/ui/swagger-ui.css", "/docs/ui/swagger-initializer.js"] {
        assert!(page.contains(file), "{file} is loaded by the page");
        let (status, headers, body) = app.send(request("GET", file, None, None)).await;
        assert_eq!(status, StatusCode::OK, "{file}: Swagger UI is served from the binary");
        let kind = if file.ends_with(".js") { "text/javascript" } else { "text/css" };
        assert!(headers["content-type"].to_str().unwrap().starts_with(kind), "{file}: {headers:?}");
        assert!(!body.is_empty());
        if file.ends_with("initializer.js") {
            assert!(String::from_utf8(body).unwrap().contains("/docs/openapi.json"), "it loads our document");
        }
    }
    assert_eq!(app.send(request("GET", "/docs/ui/swagger-ui.js.map", None, None)).await.0, StatusCode::NOT_FOUND);

    let (status, document) = call(&app, "GET", "/docs/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let paths = &document["paths"];
    assert_eq!(paths["/admin/ai/api/tasks"]["get"]["tags"], json!(["管理后台"]));
    for path in [
        "/admin/login",
        "/admin/ai/api/tasks/{task_id}",
        "/admin/ai/api/tasks/{task_id}/retry",
        "/api/v1/jobs",
        "/ps_tasks/submit",
    ] {
        assert!(paths[path].is_object(), "{path} is documented");
    }
    let tags: Vec<&str> = document["tags"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(tags.contains(&"管理后台") && tags.contains(&"jobs"), "{tags:?}");
    let unauthorized = &paths["/admin/ai/api/tasks"]["get"]["responses"]["401"]["content"]["application/json"];
    assert_eq!(unauthorized["schema"]["$ref"], "#/components/schemas/BackOfficeError");
    assert!(document["components"]["schemas"]["CreateJobBody"]["properties"]["orderNumber"].is_object());
}

#[tokio::test]
async fn playground_jobs_belong_to_whoever_ran_them_and_are_what_playground_only_lists() {
    let app = app_with_users(TestApp::new()).await;
    let (root, olivia) = (sign_in(&app, ADMIN).await, sign_in(&app, OPERATOR).await);
    assert_eq!(
        call(&app, "POST", "/admin/playground/api/run", None, Some(json!({}))).await.0,
        StatusCode::UNAUTHORIZED
    );

    // An input image uploaded for the playground, then a job that uses it.
    let png = genrelay_tests::app::tiny_png();
    let boundary = "playground-boundary";
    let mut form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"input.png\"\r\nContent-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    form.extend_from_slice(&png);
    form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let upload = Request::post("/admin/playground/api/files")
        .header(header::COOKIE, &olivia)
        .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
        .body(Body::from(form))
        .unwrap();
    let (status, _, stored) = app.send(upload).await;
    let stored = json_of(&stored);
    assert_eq!(status, StatusCode::CREATED, "{stored}");
    let asset = stored["data"][0]["asset_id"].as_str().unwrap().to_owned();

    let body =
        json!({"capability": "image.upscale", "inputAssetIds": [asset], "resolution": "2k", "orderNumber": "PG-1"});
    let (status, ran) = call(&app, "POST", "/admin/playground/api/run", Some(&olivia), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{ran}");
    let task = &ran["data"];
    assert_eq!((task["playground"].clone(), task["playground_user"].clone()), (json!(true), json!("olivia")));
    assert_eq!(task["client_id"], "playground");
    let id = task["task_id"].as_str().unwrap().to_owned();
    let (status, _) = call(
        &app,
        "POST",
        "/admin/playground/api/run",
        Some(&root),
        Some(json!({"capability": "image.generate", "prompt": "a cat"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    app.create_job(KEY_A, crate::jobs::seed_examples()[0].clone()).await;

    let (_, mine) = call(&app, "GET", "/admin/ai/api/tasks?playground_only=true", Some(&olivia), None).await;
    assert_eq!(task_ids(&mine), [id.as_str()], "only olivia's playground jobs");
    let (_, all) = call(&app, "GET", "/admin/ai/api/tasks", Some(&olivia), None).await;
    assert_eq!(all["data"]["total"], 3);

    // The result arrives: the job runs and its output opens through the session.
    app.drain().await;
    let (_, detail) = call(&app, "GET", &format!("/admin/ai/api/tasks/{id}"), Some(&olivia), None).await;
    assert_eq!(detail["data"]["status"], "completed", "{detail}");
    let output = detail["data"]["output_files"][0]["url"].as_str().unwrap();
    assert_eq!(app.send(request("GET", output, Some(&olivia), None)).await.0, StatusCode::SEE_OTHER);
    let input = detail["data"]["input_files"][0]["url"].as_str().unwrap();
    assert_eq!(app.send(request("GET", input, Some(&olivia), None)).await.0, StatusCode::SEE_OTHER);

    let (status, refused) =
        call(&app, "POST", "/admin/playground/api/run", Some(&olivia), Some(json!({"capability": "image.paint"})))
            .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("capability"), "{refused}");
    let (status, _, page) = app.send(request("GET", "/admin/playground", Some(&olivia), None)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8(page).unwrap().contains("<option value=\"video.generate\">"));
}

#[tokio::test]
async fn the_ai_config_is_checked_saved_by_admins_only_and_reaches_every_engine_on_the_store() {
    let app = app_with_users(TestApp::new()).await;
    let (root, olivia) = (sign_in(&app, ADMIN).await, sign_in(&app, OPERATOR).await);
    let (status, read) = call(&app, "GET", "/admin/ai/api/config", Some(&olivia), None).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["data"]["config"], json!({}), "nothing set");
    assert_eq!(read["data"]["effective"]["imageDeadlineMinutes"], 15, "the defaults in force");
    assert_eq!(read["data"]["effective"]["pollRetrySeconds"], 5);

    let change = json!({"imageDeadlineMinutes": 2, "pollRetrySeconds": 9});
    let (status, refused) = call(&app, "PUT", "/admin/ai/api/config", Some(&olivia), Some(change.clone())).await;
    assert_eq!((status, refused["message"].clone()), (StatusCode::FORBIDDEN, json!("权限不足")));
    for (bad, complaint) in [
        (json!({"pollRetrySeconds": 0}), "pollRetrySeconds: must be between 1 and 300"),
        (json!({"imageDeadlineMinutes": 5000}), "imageDeadlineMinutes: must be between 1 and 1440"),
        (json!({"retries": 3}), "unknown field `retries`"),
        (json!({"maxSubmitAttempts": "three"}), "maxSubmitAttempts"),
    ] {
        let (status, body) = call(&app, "PUT", "/admin/ai/api/config", Some(&root), Some(bad.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(body["message"].as_str().unwrap().contains(complaint), "{bad}: {body}");
    }
    assert_eq!(
        call(&app, "GET", "/admin/ai/api/config", Some(&root), None).await.1["data"]["config"],
        json!({}),
        "nothing half-saved"
    );

    let (status, saved) = call(&app, "PUT", "/admin/ai/api/config", Some(&root), Some(change.clone())).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["data"]["config"], change);
    assert_eq!(saved["data"]["effective"]["imageDeadlineMinutes"], 2);
    // New jobs take the new deadline at once on this instance.
    let id = app.create_job(KEY_A, crate::jobs::seed_examples()[2].clone()).await;
    let job = app.stored_job(&id).await;
    assert_eq!(job.deadline_at - job.created_at, chrono::Duration::minutes(2));

    // Another function instance on the same store reads it on its first step, no restart.
    let other = genrelay_engine::Engine::new(
        app.embedded.deps(MockConfig::default(), std::sync::Arc::new(app.clock.clone())),
        genrelay_engine::Settings::default(),
    );
    assert_eq!(other.settings().image_timeout, Duration::from_secs(15 * 60), "its deployment's default");
    other.poll_due(10).await.unwrap();
    assert_eq!(other.settings().image_timeout, Duration::from_secs(2 * 60));
    assert_eq!(other.settings().poll_retry, Duration::from_secs(9));

    let (status, _, page) = app.send(request("GET", "/admin/ai/config", Some(&olivia), None)).await;
    assert_eq!(status, StatusCode::OK);
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains("id=\"config-read-only\"") && page.contains("disabled"), "operators see it read-only");
    let (_, _, page) = app.send(request("GET", "/admin/ai/config", Some(&root), None)).await;
    assert!(String::from_utf8(page).unwrap().contains("id=\"config-save\""));
}

#[tokio::test]
async fn seed_003s_presets_in_the_ai_config_are_checked_and_replace_the_deployments_without_a_restart() {
    let app = app_with_users(TestApp::new()).await;
    let root = sign_in(&app, ADMIN).await;
    let inference = genrelay_http::inference_router(
        crate::surfaces::state(&app),
        genrelay_http::inference::InferencePresets::defaults(),
    );
    let submit = |index: u32| {
        let inference = inference.clone();
        async move {
            let request = Request::post(format!("/api/inference?index={index}"))
                .header(header::AUTHORIZATION, format!("Bearer {KEY_A}"))
                .body(Body::empty())
                .unwrap();
            let answer = tower::ServiceExt::oneshot(inference, request).await.unwrap();
            let status = answer.status();
            (status, json_of(&axum::body::to_bytes(answer.into_body(), usize::MAX).await.unwrap()))
        }
    };
    assert_eq!(submit(1).await.0, StatusCode::OK, "the deployment's preset 1");

    let bad = json!({"inferencePresets": {"7": {"capability": "image.generate"}}});
    let (status, refused) = call(&app, "PUT", "/admin/ai/api/config", Some(&root), Some(bad)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(refused["message"].as_str().unwrap().starts_with("inferencePresets: index 7: prompt"), "{refused}");

    let presets = json!({"inferencePresets": {"7": {"capability": "image.upscale", "imageUrls": ["https://example.com/a.png"]}},
                         "inferenceQueueLimit": 5});
    let (status, saved) = call(&app, "PUT", "/admin/ai/api/config", Some(&root), Some(presets)).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let (status, started) = submit(7).await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let job = app.stored_job(started["task_id"].as_str().unwrap()).await;
    assert_eq!(job.capability(), genrelay_core::Capability::ImageUpscale);
    let (status, gone) = submit(1).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the config's presets replace the deployment's: {gone}");
}

#[tokio::test]
async fn the_channels_page_and_api_show_each_channel_with_its_live_slots_and_cooldown() {
    use genrelay_core::ports::ChannelLedger;
    let app = app_with_users(TestApp::new()).await;
    let olivia = sign_in(&app, OPERATOR).await;
    let now = chrono::Utc::now();
    let job = genrelay_core::JobId::parse("job_01jsample0000000000000000").unwrap();
    app.embedded.store.take_slot("mock", &job, 4, now + chrono::Duration::minutes(5), now).await.unwrap();
    app.embedded.store.cool_down("mock", now + chrono::Duration::minutes(5), "quota exhausted").await.unwrap();

    let (status, list) = call(&app, "GET", "/admin/ai-provider/api/configs", Some(&olivia), None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let mock = &list["data"][0];
    assert_eq!((mock["id"].clone(), mock["slots_in_use"].clone()), (json!("mock"), json!(1)));
    assert_eq!(
        mock["capabilities"].as_array().unwrap().len(),
        genrelay_core::Capability::ALL.len(),
        "one channel, every capability"
    );
    assert_eq!(
        (mock["cooling_down"].clone(), mock["cooldown_reason"].clone()),
        (json!(true), json!("quota exhausted"))
    );
    let (status, one) = call(&app, "GET", "/admin/ai-provider/api/configs/mock", Some(&olivia), None).await;
    assert_eq!((status, one["data"]["name"].clone()), (StatusCode::OK, json!("mock")));
    assert_eq!(
        call(&app, "GET", "/admin/ai-provider/api/configs/nope", Some(&olivia), None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(call(&app, "GET", "/admin/ai-provider/api/configs", None, None).await.0, StatusCode::UNAUTHORIZED);

    let (status, _, page) = app.send(request("GET", "/admin/ai-provider/config", Some(&olivia), None)).await;
    assert_eq!(status, StatusCode::OK);
    let page = String::from_utf8(page).unwrap();
    assert!(
        page.contains("data-channel=\"mock\"") && page.contains("1 / ∞") && page.contains("quota exhausted"),
        "{page}"
    );
}
