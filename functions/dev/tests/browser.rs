//! The back office in a real browser: headless Chromium, driven over WebDriver (chromedriver),
//! against the `genrelay-dev` binary. An operator signs in, filters the tasks, opens an output
//! preview, retries a failed job, runs a playground job and signs out; /docs renders. Screenshots of each step
//! are kept under `target/browser-screenshots/`.
//!
//! Chromium and chromedriver are the Debian packages `chromium` and `chromium-driver`, which
//! tests/run.sh installs; without them this test fails, it is never skipped.

mod support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use support::{DevServer, wait_for_end};

const ADMIN_PASSWORD: &str = "browser-admin-password";
const WAIT: Duration = Duration::from_secs(20);
const CHANNEL_SECRET: &str = "browser-session-id-secret";
const MEITU_SECRET: &str = "browser-meitu-api-secret";

/// chromedriver on a free port, stopped with the test.
struct ChromeDriver {
    child: Child,
    url: String,
}

impl ChromeDriver {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs: install the Debian packages chromium and chromium-driver (tests/run.sh does)");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start listening");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, url }
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

async fn browser(driver: &ChromeDriver) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                        "--window-size=1440,1000", "--lang=zh-CN"]}),
    );
    ClientBuilder::rustls().unwrap().capabilities(capabilities).connect(&driver.url).await.expect("a browser session")
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/browser-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.unwrap();
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

/// Runs `script` in the page until it returns true.
async fn wait_until(browser: &Client, what: &str, script: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        if browser.execute(script, vec![]).await.unwrap() == Value::Bool(true) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn path_of(browser: &Client) -> String {
    let url = browser.current_url().await.unwrap();
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}

/// A job of the dev client, run to its end.
async fn finished_job(http: &reqwest::Client, server: &DevServer, body: Value) -> String {
    let created = server.json(http.post(server.url("/api/v1/jobs")).json(&body)).await;
    let id = created["job"]["id"].as_str().unwrap_or_else(|| panic!("{created}")).to_owned();
    wait_for_end(http, server, &id).await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_works_the_back_office_in_a_real_browser() {
    let data = tempfile::tempdir().unwrap();
    let server = DevServer::start_with_env(data.path(), &[], &[("GENRELAY_ADMIN_PASSWORD", ADMIN_PASSWORD)]);
    let http = genrelay_egress::http_client_builder().build().unwrap();
    let done = finished_job(
        &http,
        &server,
        json!({"capability": "image.generate", "prompt": "a red bicycle", "width": 256, "height": 256,
               "orderNumber": "ORD-BROWSER-1", "imageType": "original"}),
    )
    .await;
    let failed = finished_job(
        &http,
        &server,
        json!({"capability": "image.generate", "prompt": "[mock:fail] a blue car", "width": 256, "height": 256,
               "orderNumber": "ORD-BROWSER-2"}),
    )
    .await;

    let driver = ChromeDriver::start();
    let browser = browser(&driver).await;

    // A page without a session goes to the login page, which comes back after.
    browser.goto(&server.url("/admin/ai/tasks")).await.unwrap();
    assert!(path_of(&browser).await.starts_with("/admin/login?next="));
    browser.find(Locator::Id("username")).await.unwrap().send_keys("admin").await.unwrap();
    browser.find(Locator::Id("password")).await.unwrap().send_keys(ADMIN_PASSWORD).await.unwrap();
    screenshot(&browser, "01-login").await;
    browser.find(Locator::Id("login-submit")).await.unwrap().click().await.unwrap();
    browser.wait().at_most(WAIT).for_element(Locator::Id("tasks")).await.unwrap();
    assert_eq!(path_of(&browser).await, "/admin/ai/tasks");
    let rows = browser.find_all(Locator::Css("#tasks tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 2);
    screenshot(&browser, "02-tasks").await;

    // Filter by order number: one row, the finished job, with its output thumbnail.
    browser.find(Locator::Id("filter-order")).await.unwrap().send_keys("BROWSER-1").await.unwrap();
    browser.find(Locator::Id("filter-submit")).await.unwrap().click().await.unwrap();
    wait_until(&browser, "the filter applies", "return location.search.includes('order_number=BROWSER-1')").await;
    let rows = browser.find_all(Locator::Css("#tasks tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].attr("data-task").await.unwrap().as_deref(), Some(done.as_str()));
    assert!(rows[0].text().await.unwrap().contains("已完成"));

    // The output thumbnail loads through the session and enlarges on click.
    wait_until(
        &browser,
        "the thumbnail loads",
        "const i = document.querySelector('img.output'); return !!i && i.complete && i.naturalWidth === 256",
    )
    .await;
    browser.find(Locator::Css("img.output")).await.unwrap().click().await.unwrap();
    wait_until(&browser, "the preview opens", "const i = document.getElementById('preview-image'); return !!i && i.complete && i.naturalWidth === 256 && !document.getElementById('preview').hidden").await;
    screenshot(&browser, "03-preview").await;
    browser.find(Locator::Id("preview")).await.unwrap().click().await.unwrap();

    // The task's own page: its output, the facts and the timeline.
    browser.find(Locator::Css("a.detail-link")).await.unwrap().click().await.unwrap();
    browser.wait().at_most(WAIT).for_element(Locator::Id("timeline")).await.unwrap();
    assert_eq!(path_of(&browser).await, format!("/admin/ai/tasks/{done}"));
    wait_until(
        &browser,
        "the detail's output loads",
        "const i = document.querySelector('#task-outputs img'); return !!i && i.complete && i.naturalWidth === 256",
    )
    .await;
    let timeline = browser.find(Locator::Id("timeline")).await.unwrap().text().await.unwrap();
    assert!(timeline.contains("handed to mock") && timeline.contains("已完成"), "{timeline}");
    screenshot(&browser, "03-detail").await;

    // Retry the failed job: a new task appears, linked to it.
    browser.goto(&server.url("/admin/ai/tasks?status=failed")).await.unwrap();
    let row = browser.find(Locator::Css(&format!("tr[data-task='{failed}']"))).await.unwrap();
    assert!(row.text().await.unwrap().contains("generation failed"), "the upstream's error is shown");
    row.find(Locator::Css("button[data-action='retry']")).await.unwrap().click().await.unwrap();
    wait_until(
        &browser,
        "the retry is confirmed",
        "return document.getElementById('flash').textContent.includes('已重新提交')",
    )
    .await;
    screenshot(&browser, "04-retried").await;
    let retries = server.json(http.get(server.url("/api/v1/jobs?limit=10"))).await;
    let retry = retries["jobs"].as_array().unwrap().iter().find(|job| job["retryOf"] == failed.as_str());
    assert!(retry.is_some(), "a new job retries the failed one: {retries}");

    // The playground: run a job and watch its output arrive. (The tasks page reloads itself after
    // an action and while tasks run, so the next page is opened by address, not by a click a
    // reload could swallow.)
    browser.goto(&server.url("/admin/playground")).await.unwrap();
    browser.wait().at_most(WAIT).for_element(Locator::Id("playground")).await.unwrap();
    browser.find(Locator::Css("#pg-capability option[value='image.generate']")).await.unwrap().click().await.unwrap();
    browser.find(Locator::Id("pg-prompt")).await.unwrap().send_keys("a lighthouse at dawn").await.unwrap();
    browser.find(Locator::Id("pg-run")).await.unwrap().click().await.unwrap();
    wait_until(
        &browser,
        "the playground output arrives",
        "const i = document.querySelector('#pg-outputs img'); return !!i && i.complete && i.naturalWidth > 0",
    )
    .await;
    let status = browser.find(Locator::Id("pg-status")).await.unwrap().text().await.unwrap();
    assert_eq!(status, "已完成");
    screenshot(&browser, "05-playground").await;
    let mine = browser
        .execute(
            "return fetch('/admin/ai/api/tasks?playground_only=true').then(r => r.json()).then(b => b.data.tasks.map(t => t.playground_user));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(mine, json!(["admin"]), "the playground job is the admin's");

    // The AI config: an admin changes a deadline; the value in force follows, and what the form
    // does not show (seed 003's presets, set through the API) stays.
    let presets = json!({"inferencePresets": {"9": {"capability": "image.generate", "prompt": "a kite"}}});
    let stored = browser
        .execute(
            "return fetch('/admin/ai/api/config', {method: 'PUT', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(arguments[0])}).then(r => r.status);",
            vec![presets],
        )
        .await
        .unwrap();
    assert_eq!(stored, json!(200));
    browser.find(Locator::Id("nav-config")).await.unwrap().click().await.unwrap();
    let deadline = browser.wait().at_most(WAIT).for_element(Locator::Id("config-imageDeadlineMinutes")).await.unwrap();
    deadline.send_keys("30").await.unwrap();
    browser.find(Locator::Id("config-save")).await.unwrap().click().await.unwrap();
    wait_until(
        &browser,
        "the config is saved",
        "return document.getElementById('flash').textContent.includes('已保存')",
    )
    .await;
    wait_until(&browser, "the page shows it in force", "return document.body.textContent.includes('in force: 30')")
        .await;
    screenshot(&browser, "06-config").await;
    let kept = browser
        .execute("return fetch('/admin/ai/api/config').then(r => r.json()).then(b => b.data.config);", vec![])
        .await
        .unwrap();
    assert_eq!(kept["imageDeadlineMinutes"], 30);
    assert_eq!(kept["inferencePresets"]["9"]["prompt"], "a kite", "the form kept the presets: {kept}");

    // A provider channel: an admin adds one with its session id, sees it masked, tests it (its
    // server is not there) and edits it with the credential left blank, which keeps it.
    browser.goto(&server.url("/admin/ai-provider/config")).await.unwrap();
    browser.wait().at_most(WAIT).for_element(Locator::Id("channel-add")).await.unwrap().click().await.unwrap();
    browser.find(Locator::Id("channel-name")).await.unwrap().send_keys("jimeng-browser").await.unwrap();
    browser.find(Locator::Css("#channel-type option[value='jimeng']")).await.unwrap().click().await.unwrap();
    browser.find(Locator::Id("channel-base-url")).await.unwrap().send_keys("http://127.0.0.1:9").await.unwrap();
    browser.find(Locator::Id("channel-sessionId")).await.unwrap().send_keys(CHANNEL_SECRET).await.unwrap();
    let other = browser.find(Locator::Id("channel-other")).await.unwrap();
    other.clear().await.unwrap();
    other.send_keys(r#"{"models": {"image.generate": "jimeng-4.5"}}"#).await.unwrap();
    screenshot(&browser, "07-channel-form").await;
    browser.find(Locator::Id("channel-save")).await.unwrap().click().await.unwrap();
    wait_until(
        &browser,
        "the channel is added",
        "return document.getElementById('flash').textContent.includes('通道已添加')",
    )
    .await;
    browser.goto(&server.url("/admin/ai-provider/config")).await.unwrap();
    let row =
        browser.wait().at_most(WAIT).for_element(Locator::Css("tr[data-channel='jimeng-browser']")).await.unwrap();
    let text = row.text().await.unwrap();
    assert!(text.contains("sessionId: ••••••••") && text.contains("jimeng"), "{text}");
    assert!(!browser.source().await.unwrap().contains(CHANNEL_SECRET), "the secret is never sent to the page");
    row.find(Locator::Css("button[data-channel-action='test']")).await.unwrap().click().await.unwrap();
    wait_until(
        &browser,
        "the test reports",
        "return document.getElementById('probe').textContent.includes('连接失败')",
    )
    .await;
    screenshot(&browser, "08-channels").await;
    row.find(Locator::Css("button[data-channel-action='edit']")).await.unwrap().click().await.unwrap();
    let priority = browser.find(Locator::Id("channel-priority")).await.unwrap();
    priority.clear().await.unwrap();
    priority.send_keys("3").await.unwrap();
    browser.find(Locator::Id("channel-save")).await.unwrap().click().await.unwrap();
    wait_until(
        &browser,
        "the channel is saved",
        "return document.getElementById('flash').textContent.includes('通道已保存')",
    )
    .await;
    let saved = browser
        .execute(
            "return fetch('/admin/ai-provider/api/configs/jimeng-browser').then(r => r.json()).then(b => b.data);",
            vec![],
        )
        .await
        .unwrap();
    // Still masked: the blank field kept the session id.
    assert_eq!((saved["priority"].clone(), saved["settings"]["sessionId"].clone()), (json!(3), json!("••••••••")));

    // The Meitu config (seed 000's 3.2): saved from its page, then shown with the secret masked.
    browser.goto(&server.url("/admin/meitu/config")).await.unwrap();
    browser.wait().at_most(WAIT).for_element(Locator::Id("meitu-config")).await.unwrap();
    browser.find(Locator::Id("meitu-api-key")).await.unwrap().send_keys("your_key").await.unwrap();
    browser.find(Locator::Id("meitu-api-secret")).await.unwrap().send_keys(MEITU_SECRET).await.unwrap();
    browser.find(Locator::Id("meitu-in-workflow")).await.unwrap().click().await.unwrap();
    browser.find(Locator::Id("meitu-save")).await.unwrap().click().await.unwrap();
    wait_until(
        &browser,
        "the Meitu config is saved",
        "return document.getElementById('flash').textContent.includes('配置保存成功')",
    )
    .await;
    browser.goto(&server.url("/admin/meitu/config")).await.unwrap();
    let secret = browser.wait().at_most(WAIT).for_element(Locator::Id("meitu-api-secret")).await.unwrap();
    assert!(secret.attr("placeholder").await.unwrap().unwrap_or_default().contains("••••••••"));
    assert_eq!(secret.prop("value").await.unwrap().as_deref(), Some(""), "never filled in");
    let in_workflow = browser.find(Locator::Id("meitu-in-workflow")).await.unwrap();
    assert_eq!(in_workflow.prop("checked").await.unwrap().as_deref(), Some("true"));
    assert!(!browser.source().await.unwrap().contains(MEITU_SECRET));
    screenshot(&browser, "09-meitu-config").await;

    // A Meitu preset on a style image: the catalog gets a category and an image, then the preset
    // is made from the presets page and listed with its mapping.
    browser.find(Locator::Id("nav-meitu-presets")).await.unwrap().click().await.unwrap();
    browser.wait().at_most(WAIT).for_element(Locator::Id("category-form")).await.unwrap();
    browser.find(Locator::Id("category-name")).await.unwrap().send_keys("人像").await.unwrap();
    browser.find(Locator::Id("category-code")).await.unwrap().send_keys("portrait").await.unwrap();
    // What jobs naming the style inherit.
    browser.find(Locator::Id("category-capability")).await.unwrap().select_by_value("image.edit").await.unwrap();
    browser.find(Locator::Id("category-prompt")).await.unwrap().send_keys("studio portrait").await.unwrap();
    browser.find(Locator::Id("category-save")).await.unwrap().click().await.unwrap();
    wait_until(
        &browser,
        "the category is added",
        "return document.getElementById('flash').textContent.includes('风格分类已添加')",
    )
    .await;
    wait_until(
        &browser,
        "the category shows the defaults jobs inherit",
        "const row = document.querySelector('#style-categories tr[data-category]'); \
         return !!row && row.textContent.includes('image.edit') && row.textContent.includes('studio portrait')",
    )
    .await;
    browser.goto(&server.url("/admin/meitu/presets")).await.unwrap();
    browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("image-name"))
        .await
        .unwrap()
        .send_keys("经典人像")
        .await
        .unwrap();
    browser.find(Locator::Id("image-code")).await.unwrap().send_keys("classic").await.unwrap();
    browser.find(Locator::Id("image-save")).await.unwrap().click().await.unwrap();
    wait_until(
        &browser,
        "the style image is added",
        "return document.getElementById('flash').textContent.includes('风格图片已添加')",
    )
    .await;
    browser.goto(&server.url("/admin/meitu/presets")).await.unwrap();
    browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("preset-code"))
        .await
        .unwrap()
        .send_keys("MT-BROWSER")
        .await
        .unwrap();
    browser.find(Locator::Id("preset-name")).await.unwrap().send_keys("人像精修").await.unwrap();
    browser.find(Locator::Id("preset-save")).await.unwrap().click().await.unwrap();
    wait_until(
        &browser,
        "the preset is created",
        "return document.getElementById('flash').textContent.includes('预设创建成功')",
    )
    .await;
    browser.goto(&server.url("/admin/meitu/presets")).await.unwrap();
    let row = browser.wait().at_most(WAIT).for_element(Locator::Css("#presets tbody tr")).await.unwrap();
    let text = row.text().await.unwrap();
    assert!(text.contains("MT-BROWSER") && text.contains("经典人像") && text.contains("图片 image"), "{text}");
    screenshot(&browser, "10-meitu-presets").await;

    // A Meitu task rechecked: the config points at a fake Yunxiu whose channel retouches upscales
    // (polled only on demand here), a job goes to it, and the recheck asks Meitu now.
    let yunxiu = genrelay_tests::fake_yunxiu::FakeYunxiu::start().await;
    let keys = json!({"api_key": genrelay_tests::fake_yunxiu::API_KEY, "api_secret": genrelay_tests::fake_yunxiu::API_SECRET,
                      "api_base_url": yunxiu.base_url});
    let call = "return fetch(arguments[0], {method: arguments[1], headers: {'Content-Type': 'application/json'}, body: JSON.stringify(arguments[2])}).then(r => r.json());";
    browser.execute(call, vec![json!("/admin/meitu/api/config"), json!("POST"), keys]).await.unwrap();
    let channel = browser
        .execute("return fetch('/admin/ai-provider/api/configs/meitu-yunxiu').then(r => r.json()).then(b => b.data.settings);", vec![])
        .await
        .unwrap();
    let mut settings = channel.clone();
    settings["presets"] = json!({"image.upscale": "MT-BROWSER"});
    settings["firstPollMs"] = json!(600_000);
    let saved = browser
        .execute(call, vec![json!("/admin/ai-provider/api/configs/meitu-yunxiu"), json!("PUT"), settings])
        .await
        .unwrap();
    assert_eq!(saved["status"], "success", "{saved}");
    let output =
        server.json(http.get(server.url(&format!("/api/v1/jobs/{done}")))).await["job"]["outputAssetIds"][0].clone();
    let retouch = json!({"capability": "image.upscale", "inputAssetIds": [output], "orderNumber": "ORD-MEITU-1"});
    let created = server.json(http.post(server.url("/api/v1/jobs")).json(&retouch)).await;
    let retouched = created["job"]["id"].as_str().unwrap_or_else(|| panic!("{created} ({output})")).to_owned();
    browser.goto(&server.url("/admin/meitu/tasks")).await.unwrap();
    wait_until(
        &browser,
        "Meitu takes the call",
        "return fetch('/admin/meitu/api/tasks').then(r => r.json()).then(b => b.data.tasks.some(t => t.has_msg_id))",
    )
    .await;
    browser.goto(&server.url("/admin/meitu/tasks")).await.unwrap();
    let row = browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(&format!("tr[data-meitu-task='{retouched}']")))
        .await
        .unwrap();
    assert!(row.text().await.unwrap().contains("ORD-MEITU-1"));
    row.find(Locator::Css("button[data-meitu-recheck]")).await.unwrap().click().await.unwrap();
    wait_until(
        &browser,
        "the recheck answers",
        "return document.getElementById('flash').textContent.includes('已重新查询')",
    )
    .await;
    screenshot(&browser, "11-meitu-tasks").await;

    // Sign out (from a page loaded afresh, not one that may still reload itself): the console is
    // closed again.
    browser.goto(&server.url("/admin/ai/config")).await.unwrap();
    browser.find(Locator::Id("logout")).await.unwrap().click().await.unwrap();
    browser.wait().at_most(WAIT).for_element(Locator::Id("login-form")).await.unwrap();
    browser.goto(&server.url("/admin/ai/tasks")).await.unwrap();
    assert!(path_of(&browser).await.starts_with("/admin/login"));
    screenshot(&browser, "12-signed-out").await;

    browser.close().await.unwrap();
    server.terminate();
}

/// `/docs` in a real browser: Swagger UI, from the files the server embeds, renders the
/// operations of every surface, the back office's under its own tag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documentation_renders_every_surface_in_a_real_browser() {
    let data = tempfile::tempdir().unwrap();
    let server = DevServer::start_with_env(data.path(), &[], &[]);
    let driver = ChromeDriver::start();
    let browser = browser(&driver).await;
    browser.goto(&server.url("/docs")).await.unwrap();
    wait_until(
        &browser,
        "the operations render",
        "return document.querySelectorAll('.opblock').length > 20 \
         && !!document.querySelector('.opblock-tag[data-tag=\"管理后台\"]') \
         && !!document.querySelector('.opblock-tag[data-tag=\"jobs\"]')",
    )
    .await;
    let title = browser.find(Locator::Css(".info .title")).await.unwrap().text().await.unwrap();
    assert!(title.contains("genrelay open API"), "{title}");
    screenshot(&browser, "13-docs").await;
    browser.close().await.unwrap();
    server.terminate();
}
