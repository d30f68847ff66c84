//! A test application: the open API router on embedded adapters in a temporary folder, a clock
//! the test moves by hand, and helpers to drive the engine's background steps.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{DateTime, Utc};
use genrelay_bootstrap::Embedded;
use genrelay_core::ports::{Clock, Metrics, Provider, UpstreamOperation, WebhookOutcome, WebhookSender};
use genrelay_core::{Capability, JobStatus};
use genrelay_engine::{Channel, ChannelRegistry, Engine, Settings};
use genrelay_http::{ApiKeys, AppState};
use genrelay_providers::MockConfig;
use serde_json::Value;
use tower::ServiceExt;

pub const KEY_A: &str = "key-a";
pub const KEY_B: &str = "key-b";
pub const API_KEYS: &str = "partner-a:key-a,partner-b:key-b,sample:sample-key";
pub const BLOB_BASE: &str = "http://dev.test";

/// A clock that starts at the wall clock and moves only when told.
#[derive(Clone)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    pub fn new() -> Self {
        Self(Arc::new(Mutex::new(Utc::now())))
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap();
        *now += chrono::Duration::from_std(by).unwrap();
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

type ProviderFactory = Box<dyn FnOnce(&ManualClock, &Embedded) -> Vec<Channel>>;

/// Metrics kept in memory, to check what the engine counts.
#[derive(Default)]
pub struct RecordedMetrics(Mutex<Vec<String>>);

impl RecordedMetrics {
    pub fn recorded(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

impl Metrics for RecordedMetrics {
    fn job_created(&self, capability: Capability) {
        self.0.lock().unwrap().push(format!("created {capability}"));
    }

    fn job_finished(&self, capability: Capability, status: JobStatus) {
        self.0.lock().unwrap().push(format!("finished {capability} {status}"));
    }

    fn upstream_call(&self, channel: &str, operation: UpstreamOperation, _latency: Duration, succeeded: bool) {
        self.0.lock().unwrap().push(format!("upstream {channel} {operation} {succeeded}"));
    }

    fn webhook_attempt(&self, outcome: WebhookOutcome) {
        self.0.lock().unwrap().push(format!("webhook {outcome}"));
    }
}

/// The key of the test apps' session cookies.
pub const SESSION_KEY: [u8; 64] = [7; 64];

/// The open API, the back office and /docs, as the dev server serves them.
fn routers(engine: &Arc<Engine>, embedded: &Embedded) -> Router {
    routers_with_admin(engine, embedded, None)
}

/// [`routers`], the back office configured with `first_admin`.
fn routers_with_admin(
    engine: &Arc<Engine>,
    embedded: &Embedded,
    first_admin: Option<genrelay_back_office::FirstAdmin>,
) -> Router {
    let state = AppState { engine: engine.clone(), keys: Arc::new(ApiKeys::parse(API_KEYS).unwrap()) };
    let sessions = genrelay_back_office::SessionSettings::new(
        genrelay_back_office::SessionKey::from_bytes(&SESSION_KEY).expect("64 bytes"),
    );
    let back_office = genrelay_back_office::BackOfficeState {
        engine: engine.clone(),
        users: Arc::new(embedded.store.clone()),
        channels: embedded.stored_channels(&genrelay_egress::Egress::allow_private()),
        sessions,
        first_admin,
    };
    genrelay_http::open_api_router(state)
        .merge(genrelay_back_office::router().with_state(back_office))
        .merge(genrelay_docs::router())
}

pub struct TestApp {
    pub metrics: Arc<RecordedMetrics>,
    pub dir: tempfile::TempDir,
    pub embedded: Embedded,
    pub engine: Arc<Engine>,
    pub clock: ManualClock,
    pub router: Router,
}

impl Default for TestApp {
    fn default() -> Self {
        Self::new()
    }
}

impl TestApp {
    /// Jobs finish as soon as a worker picks them up.
    pub fn new() -> Self {
        Self::with_mock(MockConfig { latency: Duration::ZERO, failure_rate: 0.0 })
    }

    pub fn with_mock(mock: MockConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::open(dir, mock)
    }

    /// Opens the app on an existing data folder (a restart).
    pub fn open(dir: tempfile::TempDir, mock: MockConfig) -> Self {
        Self::build(dir, mock, None, Settings::default())
    }

    /// Jobs run by the mock as `mock` says, on an engine with `settings`.
    pub fn with_settings(mock: MockConfig, settings: Settings) -> Self {
        Self::build(tempfile::tempdir().unwrap(), mock, None, settings)
    }

    /// Every capability goes to `provider` (made with the app's clock and store) instead of
    /// the mock.
    pub fn with_provider(make: impl FnOnce(&ManualClock, &Embedded) -> Arc<dyn Provider> + 'static) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let channels = move |clock: &ManualClock, embedded: &Embedded| {
            vec![Channel::new(Capability::ALL.to_vec(), make(clock, embedded))]
        };
        Self::build(dir, MockConfig::default(), Some(Box::new(channels)), Settings::default())
    }

    /// Every capability goes to `channels`, in order of preference.
    pub fn with_channels(channels: Vec<Arc<dyn Provider>>) -> Self {
        Self::with_channel_settings(channels.into_iter().map(|c| Channel::new(Capability::ALL.to_vec(), c)).collect())
    }

    /// Capabilities go to the channels of `channels` (with their priorities, weights and caps).
    pub fn with_channel_settings(channels: Vec<Channel>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::build(dir, MockConfig::default(), Some(Box::new(move |_, _| channels)), Settings::default())
    }

    /// Only `channels` serve, the mock provider switched off (as on AWS by default).
    pub fn without_mock(channels: Vec<Channel>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut app = Self::build(dir, MockConfig::default(), None, Settings::default());
        let mut deps = app.embedded.deps(MockConfig::default(), Arc::new(app.clock.clone()));
        deps.channels = ChannelRegistry::new(channels, None);
        app.engine = Arc::new(Engine::new(deps, Settings::default()));
        app.router = routers(&app.engine, &app.embedded);
        app
    }

    /// Channels come from the store, as operators edit them in the back office (the mock
    /// serves the capabilities none of them serves).
    pub async fn with_stored_channels() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mock = MockConfig { latency: Duration::ZERO, failure_rate: 0.0 };
        let mut app = Self::build(dir, mock.clone(), None, Settings::default());
        let channels = app.embedded.stored_channels(&genrelay_egress::Egress::allow_private());
        let deps = app.embedded.deps(mock, Arc::new(app.clock.clone()));
        let engine = Engine::new(deps, Settings::default()).with_channel_source(Arc::new(channels));
        engine.reload_channels().await.unwrap();
        app.engine = Arc::new(engine);
        app.router = routers(&app.engine, &app.embedded);
        app
    }

    /// This app's engine rebuilt on its adapters, its clock and metrics, with `change` made to
    /// its dependencies (a provider, a webhook sender, ...).
    pub fn rewired(mut self, change: impl FnOnce(&mut genrelay_engine::Deps)) -> Self {
        let mock = MockConfig { latency: Duration::ZERO, failure_rate: 0.0 };
        let mut deps = self.embedded.deps(mock, Arc::new(self.clock.clone()));
        deps.metrics = self.metrics.clone();
        change(&mut deps);
        self.engine = Arc::new(Engine::new(deps, Settings::default()));
        self.router = routers(&self.engine, &self.embedded);
        self
    }

    /// The back office adds `admin` at its first sign-in, as the functions configure it.
    pub fn with_first_admin(mut self, admin: genrelay_back_office::FirstAdmin) -> Self {
        self.router = routers_with_admin(&self.engine, &self.embedded, Some(admin));
        self
    }

    /// Its store, dispatch queues and blob store fail while `outage` has them down.
    pub fn with_outage(outage: &crate::outage::Outage) -> Self {
        let app = Self::new();
        let embedded = app.embedded.clone();
        app.rewired(|deps| outage.wrap_embedded(deps, &embedded))
    }

    /// Webhooks go through `sender` (a real one, pointed at a loopback receiver).
    pub fn with_webhook_sender(sender: Arc<dyn WebhookSender>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut app =
            Self::build(dir, MockConfig { latency: Duration::ZERO, failure_rate: 0.0 }, None, Settings::default());
        let mut deps =
            app.embedded.deps(MockConfig { latency: Duration::ZERO, failure_rate: 0.0 }, Arc::new(app.clock.clone()));
        deps.metrics = app.metrics.clone();
        deps.webhooks.sender = sender;
        app.engine = Arc::new(Engine::new(deps, Settings::default()));
        app.router = routers(&app.engine, &app.embedded);
        app
    }

    fn build(dir: tempfile::TempDir, mock: MockConfig, provider: Option<ProviderFactory>, settings: Settings) -> Self {
        let embedded = Embedded::open(dir.path(), BLOB_BASE).unwrap();
        let clock = ManualClock::new();
        let mut deps = embedded.deps(mock, Arc::new(clock.clone()));
        let metrics = Arc::new(RecordedMetrics::default());
        deps.metrics = metrics.clone();
        if let Some(make) = provider {
            let channels = make(&clock, &embedded);
            let fallback = channels[0].provider.clone();
            deps.channels = ChannelRegistry::new(channels, Some(fallback));
        }
        let engine = Arc::new(Engine::new(deps, settings));
        let router = routers(&engine, &embedded);
        Self { metrics, dir, embedded, engine, clock, router }
    }

    /// Drops this app's adapters and opens new ones on the same data folder.
    pub fn restart(self, mock: MockConfig) -> Self {
        let Self { dir, embedded, engine, router, .. } = self;
        drop((router, engine, embedded));
        Self::open(dir, mock)
    }

    pub async fn send(&self, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        (parts.status, parts.headers, bytes.to_vec())
    }

    /// Sends a request with an optional API key and JSON body; returns status and JSON body.
    pub async fn call(&self, method: &str, path: &str, key: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(key) = key {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let request = match body {
            Some(body) => {
                builder.header(header::CONTENT_TYPE, "application/json").body(Body::from(body.to_string())).unwrap()
            }
            None => builder.body(Body::empty()).unwrap(),
        };
        let (status, _, bytes) = self.send(request).await;
        (status, json_of(&bytes))
    }

    pub async fn get(&self, path: &str, key: &str) -> (StatusCode, Value) {
        self.call("GET", path, Some(key), None).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
        self.call("POST", path, Some(key), Some(body)).await
    }

    /// Adds a back-office user.
    /// Signs in to the back office as `(name, password)`; the `session=…` cookie.
    pub async fn sign_in(&self, (name, password): (&str, &str)) -> String {
        let body = serde_json::json!({"username": name, "password": password}).to_string();
        let request =
            Request::post("/admin/login").header(header::CONTENT_TYPE, "application/json").body(Body::from(body));
        let (status, headers, _) = self.send(request.unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{name} signs in");
        let cookie = headers.get_all(header::SET_COOKIE).iter().find_map(|v| {
            let v = v.to_str().ok()?;
            v.starts_with("session=").then(|| v.split(';').next().unwrap().to_owned())
        });
        cookie.expect("a session cookie")
    }

    /// A back-office call with a session cookie (`""` for none): status, JSON and the body's text.
    pub async fn back_office(
        &self,
        method: &str,
        path: &str,
        cookie: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value, String) {
        let builder = Request::builder().method(method).uri(path).header(header::COOKIE, cookie);
        let request = match body {
            Some(body) => builder.header(header::CONTENT_TYPE, "application/json").body(Body::from(body.to_string())),
            None => builder.body(Body::empty()),
        };
        let (status, _, bytes) = self.send(request.unwrap()).await;
        (status, json_of(&bytes), String::from_utf8_lossy(&bytes).into_owned())
    }

    pub async fn add_back_office_user(&self, name: &str, role: genrelay_core::ports::Role, password: &str) {
        use genrelay_core::ports::{BackOfficeStore, BackOfficeUser};
        let password_hash = genrelay_back_office::hash_password(password).unwrap();
        let user = BackOfficeUser { name: name.to_owned(), role, password_hash, created_at: Utc::now() };
        assert!(self.embedded.store.add_user(&user).await.unwrap(), "a new user");
    }

    /// Creates a job and returns its id.
    pub async fn create_job(&self, key: &str, body: Value) -> String {
        let (status, answer) = self.post("/api/v1/jobs", key, body).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        answer["job"]["id"].as_str().unwrap().to_owned()
    }

    pub async fn job(&self, key: &str, id: &str) -> Value {
        let (status, answer) = self.get(&format!("/api/v1/jobs/{id}"), key).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answer["job"].clone()
    }

    /// A job of client `partner-a` as stored (with what clients do not see).
    pub async fn stored_job(&self, id: &str) -> genrelay_core::Job {
        let client = genrelay_core::ClientId::parse("partner-a").unwrap();
        self.engine.job(&client, &genrelay_core::JobId::parse(id).unwrap()).await.unwrap()
    }

    /// Runs the worker and the poller until neither has anything left to do.
    pub async fn drain(&self) {
        loop {
            let received = self.engine.work_dispatch_queue(10, Duration::from_secs(60)).await.unwrap();
            let polled = self.engine.poll_due(50).await.unwrap().polled;
            let entered = |job: genrelay_core::Job, status| async move { self.engine.job_entered(&job, status).await };
            let changes = self.embedded.store.feed_job_changes(50, entered).await.unwrap();
            let retried = self.engine.deliver_due(50).await.unwrap();
            if received + polled + changes + retried == 0 {
                break;
            }
        }
    }

    /// `GET /api/v1/assets/{id}/download`: the status and the redirect target.
    pub async fn download_redirect(&self, key: &str, asset_id: &str) -> (StatusCode, String) {
        let request = Request::get(format!("/api/v1/assets/{asset_id}/download"))
            .header(header::AUTHORIZATION, format!("Bearer {key}"))
            .body(Body::empty())
            .unwrap();
        let (status, headers, _) = self.send(request).await;
        let location = headers.get(header::LOCATION).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        (status, location)
    }

    /// Uploads one file through multipart and returns the created asset.
    /// Every blob stored under the data folder (the signing key aside).
    pub fn stored_files(&self) -> usize {
        fn walk(dir: &std::path::Path) -> usize {
            let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
            entries
                .flatten()
                .map(|e| match e.path().is_dir() {
                    true => walk(&e.path()),
                    false => usize::from(!e.file_name().to_string_lossy().starts_with('.')),
                })
                .sum()
        }
        walk(&self.dir.path().join("blobs"))
    }

    pub async fn upload(&self, key: &str, name: &str, content_type: &str, bytes: &[u8]) -> (StatusCode, Value) {
        let request = multipart_request(key, &[("files", name, content_type, bytes)]);
        let (status, _, body) = self.send(request).await;
        (status, json_of(&body))
    }
}

pub fn json_of(bytes: &[u8]) -> Value {
    if bytes.is_empty() { Value::Null } else { serde_json::from_slice(bytes).unwrap_or(Value::Null) }
}

pub const BOUNDARY: &str = "genrelay-test-boundary";

/// One part of a multipart upload: field, file name, content type, bytes.
pub type FilePart<'a> = (&'a str, &'a str, &'a str, &'a [u8]);

/// A multipart/form-data upload of file parts.
pub fn multipart_request(key: &str, parts: &[FilePart]) -> Request<Body> {
    let mut body = Vec::new();
    for (field, name, content_type, bytes) in parts {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\n\
                 Content-Type: {content_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    Request::post("/api/v1/assets")
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(Body::from(body))
        .unwrap()
}

/// A small valid PNG.
pub fn tiny_png() -> Vec<u8> {
    genrelay_providers::mock::render_png("a reference image", 8, 8)
}

/// Width and height from a PNG's IHDR chunk.
pub fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    (width, height)
}

/// Follows a download redirect to the signed blob URL and returns the bytes and content type
/// it serves, as the dev server's blob route would.
pub fn read_signed_url(app: &TestApp, location: &str) -> Option<(Vec<u8>, String)> {
    let rest = location.strip_prefix(&format!("{BLOB_BASE}{}", genrelay_embedded::BLOB_ROUTE_PREFIX))?;
    let (path, query) = rest.split_once('?')?;
    let key = percent_encoding::percent_decode_str(path).decode_utf8().ok()?;
    let blob = app.embedded.blobs.verify(genrelay_embedded::LinkMethod::Get, &key, query, Utc::now())?;
    Some((std::fs::read(&blob.path).unwrap(), blob.content_type))
}

/// The cause of an upstream's error, if it is one.
pub fn cause_of<T>(result: &genrelay_core::Result<T>) -> Option<genrelay_core::Cause> {
    match result {
        Err(genrelay_core::Error::Upstream(error)) => Some(error.cause),
        _ => None,
    }
}

/// The job the sample events under `events/` name (`job_01jsample0000000000000000` of client
/// `sample`): a queued 64×64 image.generate, created now, due in an hour.
pub fn sample_job() -> genrelay_core::Job {
    use genrelay_core::spec::{ImageGenerateParams, Inputs, Params};
    use genrelay_core::{ClientId, Job, JobId, JobSpec, NewJob};
    let params = Params::ImageGenerate(ImageGenerateParams::new(Some(64), Some(64), None, None, None).unwrap());
    let spec = JobSpec::new(Capability::ImageGenerate, Some("x".into()), Inputs::default(), params).unwrap();
    let now = Utc::now();
    let id = JobId::parse(SAMPLE_JOB_ID).unwrap();
    Job::new(id, ClientId::parse("sample").unwrap(), NewJob::of(spec), None, now, now + chrono::Duration::hours(1))
}

/// The id of [`sample_job`].
pub const SAMPLE_JOB_ID: &str = "job_01jsample0000000000000000";
