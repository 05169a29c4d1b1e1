//! Test harness: a private Postgres per test process (unless `DATABASE_URL` is set), a fresh
//! migrated database per test, the real services on a real socket, and `wait_for`.
#![allow(dead_code)]

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use berth::auth::TokenKind;
use berth::config::Config;
use berth::dev::postgres::{EmbeddedPostgres, Options};
use berth::service::{self, Roles};
use berth::store::Store;
use berth::store::tokens::TokenParams;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use sqlx::{Connection, PgConnection};
use tokio::sync::{Mutex, OnceCell};
use tokio_util::sync::CancellationToken;

/// The server every test of this process shares: (admin url builder, template name).
struct Cluster {
    /// `postgres://.../` without the database name.
    base: String,
    template: String,
    _pg: Option<EmbeddedPostgres>,
    _dir: Option<tempfile::TempDir>,
}

static CLUSTER: OnceCell<Cluster> = OnceCell::const_new();
static CREATE: Mutex<()> = Mutex::const_new(());
static NEXT: AtomicU32 = AtomicU32::new(0);

/// The embedded server's pid and folder. Statics are never dropped, and each test process's
/// folder holds hundreds of megabytes (50 GB of them had piled up in /tmp on the development VM):
/// the process stops the server and removes the folder when it exits.
static AT_EXIT: OnceLock<(u32, PathBuf)> = OnceLock::new();

unsafe extern "C" {
    /// libc's: runs `callback` when the process exits normally (libtest's `main` returns or calls
    /// `exit`, whether tests passed or failed).
    fn atexit(callback: extern "C" fn()) -> std::ffi::c_int;
}

/// Stops the server (fast shutdown, at most 10 s) and removes its folder. Never panics: it runs
/// from `exit`.
extern "C" fn stop_and_remove_cluster() {
    let Some((pid, dir)) = AT_EXIT.get() else { return };
    let pid = Pid::from_raw(i32::try_from(*pid).unwrap_or(i32::MAX));
    let mut stopped = kill(pid, Signal::SIGINT).is_err();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !stopped && std::time::Instant::now() < deadline {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => std::thread::sleep(Duration::from_millis(20)),
            _ => stopped = true,
        }
    }
    if stopped {
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn split_url(url: &str) -> (String, String) {
    match url.rfind('/') {
        Some(i) if url[..i].contains("://") && i > url.find("://").unwrap_or(0) + 2 => {
            (url[..=i].to_string(), url[i + 1..].split('?').next().unwrap_or("").to_string())
        }
        _ => (format!("{url}/"), "postgres".into()),
    }
}

async fn cluster() -> &'static Cluster {
    CLUSTER
        .get_or_init(|| async {
            let (base, pg, dir) = match std::env::var("DATABASE_URL") {
                Ok(url) => (split_url(&url).0, None, None),
                Err(_) => {
                    let dir = tempfile::tempdir().expect("temp dir");
                    let settings = [("fsync", "off"), ("synchronous_commit", "off"), ("full_page_writes", "off")];
                    let pg = EmbeddedPostgres::start(Options {
                        data_dir: dir.path().to_path_buf(),
                        port: None,
                        extra_settings: settings.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                    })
                    .await
                    .expect("start a private Postgres for the tests");
                    if let Some(pid) = pg.pid()
                        && AT_EXIT.set((pid, dir.path().to_path_buf())).is_ok()
                    {
                        // SAFETY: `atexit` only stores the pointer of a function that lives as long
                        // as the program; the function touches no thread-local state and never
                        // unwinds.
                        unsafe { atexit(stop_and_remove_cluster) };
                    }
                    (split_url(&pg.url("postgres")).0, Some(pg), Some(dir))
                }
            };
            let template = format!("berth_template_{}", std::process::id());
            let mut admin = PgConnection::connect(&format!("{base}postgres")).await.expect("admin connection");
            sqlx::query(sqlx::AssertSqlSafe(format!("drop database if exists {template}")))
                .execute(&mut admin)
                .await
                .expect("drop template");
            sqlx::query(sqlx::AssertSqlSafe(format!("create database {template}")))
                .execute(&mut admin)
                .await
                .expect("create template");
            let store = Store::connect(&format!("{base}{template}"), 2).await.expect("connect template");
            store.migrate_run().await.expect("migrate template");
            store.pool().close().await;
            Cluster { base, template, _pg: pg, _dir: dir }
        })
        .await
}

/// The embedded server's data folder (its cluster is in `pg/`); `None` when `DATABASE_URL` is set.
pub async fn cluster_dir() -> Option<PathBuf> {
    cluster().await._dir.as_ref().map(|d| d.path().to_path_buf())
}

/// A fresh, migrated database for one test: its URL.
pub async fn fresh_database_url() -> String {
    let c = cluster().await;
    let name = format!("berth_test_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
    let _guard = CREATE.lock().await;
    let mut admin = PgConnection::connect(&format!("{}postgres", c.base)).await.expect("admin connection");
    // With DATABASE_URL, the cluster outlives test runs and keeps their databases: a process id
    // used again meets its name. No live process has this id, so that database is a leftover.
    sqlx::query(sqlx::AssertSqlSafe(format!("drop database if exists {name}")))
        .execute(&mut admin)
        .await
        .expect("drop a leftover test database");
    sqlx::query(sqlx::AssertSqlSafe(format!("create database {name} template {}", c.template)))
        .execute(&mut admin)
        .await
        .expect("create test database");
    format!("{}{name}", c.base)
}

/// An empty database with no migrations applied.
pub async fn empty_database_url() -> String {
    let c = cluster().await;
    let name = format!("berth_empty_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
    let mut admin = PgConnection::connect(&format!("{}postgres", c.base)).await.expect("admin connection");
    sqlx::query(sqlx::AssertSqlSafe(format!("drop database if exists {name}")))
        .execute(&mut admin)
        .await
        .expect("drop a leftover test database");
    sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
        .execute(&mut admin)
        .await
        .expect("create empty database");
    format!("{}{name}", c.base)
}

/// A store on a fresh database.
pub async fn fresh_store() -> Store {
    Store::connect(&fresh_database_url().await, 5).await.expect("connect")
}

/// Configuration tuned for tests: fast ticks and polls, no metrics exporter, a private scratch folder.
pub fn test_config() -> Config {
    let mut c = Config::load(None, Vec::<(String, String)>::new()).expect("default config");
    c.metrics.port = 0;
    c.scheduler.tick_ms = 100;
    c.worker.poll_ms = 100;
    c.worker.heartbeat_seconds = 1;
    c.lease_timeout_seconds = 10;
    c.worker.pods = 8;
    // A worker started as root refuses to run jobs as root: tests as root run them as uids of
    // their own (64, more than any test's pods; they need no passwd entry). Each worker gets a
    // range no other test's worker uses: a worker kills every process of a uid when its run ends.
    if nix::unistd::Uid::effective().is_root() {
        static BLOCK: AtomicU32 = AtomicU32::new(0);
        let block = BLOCK.fetch_add(1, Ordering::SeqCst) % 64;
        let first = 1_000_000 + (std::process::id() % 20_000) * 4096 + block * 64;
        c.worker.run_as_uids = format!("{first}-{}", first + 63);
    }
    c
}

/// The real services on a real socket, on a fresh database.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The database the services use.
    pub database_url: String,
    /// Direct database access for assertions.
    pub store: Store,
    /// HTTP client.
    pub http: reqwest::Client,
    cancel: CancellationToken,
    handle: Option<tokio::task::JoinHandle<()>>,
    _scratch: tempfile::TempDir,
}

impl TestApp {
    /// Starts `services` with `config` on a fresh database.
    pub async fn spawn(config: Config, services: Roles) -> TestApp {
        Self::spawn_on(fresh_database_url().await, config, services).await
    }

    /// Starts `services` with `config` on an existing database (a restart).
    pub async fn spawn_on(url: String, mut config: Config, services: Roles) -> TestApp {
        let scratch = tempfile::tempdir().expect("scratch");
        config.worker.scratch_dir = scratch.path().to_path_buf();
        config.database_url = Some(url.clone());
        let store = Store::connect(&url, 10).await.expect("connect");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let cancel = CancellationToken::new();
        let (s, c, k) = (store.clone(), Arc::new(config), cancel.clone());
        let handle = tokio::spawn(async move {
            service::run(s, c, services, Some(listener), k).await.expect("services");
        });
        let app = TestApp {
            base,
            database_url: url,
            store,
            http: reqwest::Client::new(),
            cancel,
            handle: Some(handle),
            _scratch: scratch,
        };
        if services.api {
            // The API creates the configured namespaces before it serves: once it answers, a test
            // reads the database as any client would find it.
            wait_for("the API to serve", Duration::from_secs(30), || async {
                let res = app.http.get(app.url("/health")).send().await.ok()?;
                res.status().is_success().then_some(())
            })
            .await;
        }
        app
    }

    /// Everything, as `berth dev` runs it.
    pub async fn spawn_all(config: Config) -> TestApp {
        Self::spawn(config, Roles::ALL).await
    }

    /// Everything, with `auth.enabled` on (the default of the tests is off, as `berth dev`'s).
    pub async fn spawn_with_auth(mut config: Config) -> TestApp {
        config.auth.enabled = Some(true);
        Self::spawn(config, Roles::ALL).await
    }

    /// A new token for `subject`, as `berth token create` makes it, after `adjust`; its secret.
    pub async fn token(&self, subject: &str, adjust: impl FnOnce(&mut TokenParams)) -> String {
        let mut p = TokenParams {
            subject: subject.into(),
            kind: TokenKind::User,
            groups: Vec::new(),
            admin: false,
            may_act_for_others: false,
            expires_at: None,
            created_by: "test".into(),
        };
        adjust(&mut p);
        let secret = berth::auth::token_generate();
        self.store.token_create(&berth::auth::token_hash(&secret), &p).await.expect("token");
        secret
    }

    /// Grants `create` in `default` to every token (group `*`), as admin token `admin`.
    pub async fn open_default_namespace(&self, admin: &str) {
        let grants =
            serde_json::json!({"grants": [{"grantee_kind": "group", "grantee": "*", "permissions": ["create"]}]});
        let res = self
            .http
            .put(self.url("/api/v1/namespaces/default/permissions"))
            .bearer_auth(admin)
            .json(&grants)
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap_or_default());
    }

    /// Stops the services and waits for them to drain.
    pub async fn stop(mut self) {
        self.cancel.cancel();
        if let Some(h) = self.handle.take() {
            let _ = h.await;
        }
    }

    /// The worker's scratch folder (the parent of run folders).
    pub fn scratch(&self) -> &std::path::Path {
        self._scratch.path()
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Uploads files with form fields; returns the response.
    pub async fn upload(&self, files: &[(&str, &[u8])], fields: &[(&str, &str)]) -> reqwest::Response {
        let mut form = reqwest::multipart::Form::new();
        for (name, data) in files {
            form = form.part("file", reqwest::multipart::Part::bytes(data.to_vec()).file_name(name.to_string()));
        }
        for (k, v) in fields {
            form = form.text(k.to_string(), v.to_string());
        }
        self.http.post(self.url("/upload")).multipart(form).send().await.expect("upload request")
    }

    /// Uploads a `run.sh` for user 1 on service `example`; returns the run id.
    pub async fn submit_script(&self, script: &str, user: &str) -> i64 {
        let res = self.upload(&[("run.sh", script.as_bytes())], &[("user_id", user), ("service", "example")]).await;
        assert_eq!(res.status(), 201, "upload refused: {}", res.text().await.unwrap_or_default());
        let body: serde_json::Value = res.json().await.expect("json");
        body["id"].as_i64().expect("id")
    }

    /// GET `path` as JSON.
    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let res = self.http.get(self.url(path)).send().await.expect("request");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// The state of run `id` from the API.
    pub async fn state(&self, id: i64) -> String {
        let (_, run) = self.get_json(&format!("/api/v1/runs/{id}")).await;
        run["state"].as_str().unwrap_or("").to_string()
    }

    /// Waits until run `id` is in a terminal state; returns it.
    pub async fn wait_terminal(&self, id: i64) -> String {
        wait_for(&format!("run {id} to finish"), Duration::from_secs(60), || async move {
            let s = self.state(id).await;
            matches!(s.as_str(), "succeeded" | "failed" | "timed_out" | "cancelled" | "aborted").then_some(s)
        })
        .await
    }

    /// Row counts of the tables a rejected request must not touch: (jobs, runs, blobs, events).
    pub async fn counts(&self) -> (i64, i64, i64, i64) {
        let one = |sql: &'static str| async move {
            sqlx::query_scalar::<_, i64>(sql).fetch_one(self.store.pool()).await.expect("count")
        };
        (
            one("select count(*) from jobs").await,
            one("select count(*) from runs").await,
            one("select count(*) from blobs").await,
            one("select count(*) from run_events").await,
        )
    }
}

/// Polls `check` every 20 ms until it returns `Some`, or panics after `timeout` naming `what`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until a statement of this test's database whose text starts with `prefix` (its SQL
/// file's first comment line) waits on a lock: the other side of a race a test holds open.
pub async fn wait_for_lock_wait(store: &Store, prefix: &str) {
    let pattern = format!("{prefix}%");
    wait_for("a statement to wait on a lock", Duration::from_secs(10), || async {
        let n: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity \
             where datname = current_database() and wait_event_type = 'Lock' and query like $1",
        )
        .bind(&pattern)
        .fetch_one(store.pool())
        .await
        .unwrap();
        (n > 0).then_some(())
    })
    .await;
}

/// A unique path under the system temp folder, for scripts that wait on a file a test creates.
pub fn gate_path(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "berth-gate-{}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst),
        tag
    ))
}

/// The names in a zip archive.
pub fn zip_names(bytes: &[u8]) -> Vec<String> {
    let archive = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).expect("a valid zip");
    archive.file_names().filter_map(|n| n.ok().map(|n| n.to_string())).collect()
}

/// One file of a zip archive.
pub fn zip_read(bytes: &[u8], name: &str) -> String {
    use std::io::Read;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).expect("a valid zip");
    let mut f = archive.by_name(name).expect("file in zip");
    let mut s = String::new();
    f.read_to_string(&mut s).expect("utf-8");
    s
}

/// Creates (or sets) namespace `name` with a quota of `quota` in every dimension, as an operator
/// would: submissions never create namespaces, and a store without the API has only those the
/// test creates.
pub async fn create_namespace(store: &Store, name: &str, quota: i64) {
    let quota = berth::resources::Resources { cpu: quota, memory: quota, pods: quota, storage: quota };
    store.namespace_set_quota(name, quota, None).await.expect("create namespace");
}

/// Capacity of [`register_example_worker`]'s worker: room for four 1-pod runs.
pub const EXAMPLE_WORKER: berth::resources::Resources =
    berth::resources::Resources { cpu: 1000, memory: 1000, pods: 4, storage: 1000 };

/// Registers a worker named `w` for the `example` service with [`EXAMPLE_WORKER`]'s capacity.
pub async fn register_example_worker(store: &Store) -> berth::store::WorkerId {
    store.worker_register("w", &["example".to_string()], EXAMPLE_WORKER).await.expect("register a worker")
}

/// One priority-flow upload of user `1` to the `example` service (1 pod, no input) in the
/// `default` namespace (which the test creates first, see [`create_namespace`]).
pub fn priority_submit() -> berth::store::runs::SubmitParams {
    berth::store::runs::SubmitParams {
        name: "example-1".into(),
        service: "example".into(),
        namespace: "default".into(),
        user_id: "1".into(),
        priority: berth::domain::Priority::Normal,
        flow: berth::domain::Flow::Priority,
        request: berth::resources::Resources { cpu: 0, memory: 0, pods: 1, storage: 0 },
        input_zip: Vec::new(),
        command: None,
        env: serde_json::json!({}),
        timeout_seconds: None,
        retry: berth::retry::RetryPolicy::default(),
        idempotency: None,
        now: None,
    }
}

/// One admission cycle as a leader elected as `holder` for it (released after); what it admitted.
pub async fn admit_once(store: &Store, holder: &str) -> Vec<berth::store::RunId> {
    let settings = berth::scheduler::SchedulerSettings::from_config(&test_config());
    let leader = store.leader_try_elect(holder).await.unwrap().expect("leader");
    let mut wrr = berth::scheduler::admission::Wrr::default();
    let done = berth::scheduler::cycle::run(
        &mut store.hold(),
        leader.epoch(),
        &mut wrr,
        &settings,
        &berth::clock::Clock::System,
        false,
    )
    .await
    .unwrap();
    leader.release().await;
    done.admitted
}

/// One claim of up to four `example` runs by `worker`, with all of [`EXAMPLE_WORKER`] free.
pub async fn claim_example(store: &Store, worker: berth::store::WorkerId) -> Vec<berth::store::runs::ClaimedRun> {
    let params = berth::store::runs::ClaimParams {
        worker,
        services: vec!["example".into()],
        free: EXAMPLE_WORKER,
        limit: 4,
        now: None,
        floor: None,
    };
    store.run_claim_batch(&params).await.unwrap()
}

/// A bulk enqueue of one legacy run per user for the `example` service (1 pod each, no input) in
/// the `default` namespace (which the test creates first, see [`create_namespace`]).
pub fn legacy_batch(users: &[&str]) -> berth::store::batch::SubmitBatchParams {
    use berth::resources::Resources;
    berth::store::batch::SubmitBatchParams {
        name: "bulk".into(),
        service: "example".into(),
        namespace: "default".into(),
        priority: berth::domain::Priority::Normal,
        flow: berth::domain::Flow::Legacy,
        request: Resources { cpu: 0, memory: 0, pods: 1, storage: 0 },
        input_zip: Vec::new(),
        timeout_seconds: None,
        max_attempts: 1,
        user_ids: users.iter().map(|u| u.to_string()).collect(),
        now: None,
    }
}

/// Every entry of the zip `bytes`: name to content.
pub fn zip_contents(bytes: &[u8]) -> std::collections::BTreeMap<String, Vec<u8>> {
    use std::io::Read;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("read result zip");
    let mut out = std::collections::BTreeMap::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).expect("entry");
        let mut data = Vec::new();
        entry.read_to_end(&mut data).expect("entry data");
        out.insert(entry.name().expect("name").into_owned(), data);
    }
    out
}

/// A run of service `example` in `scratch`: `script` as its `run.sh` beside an `in.txt` holding
/// `input` (the http executor's tests, against the test's peer and the real seed nodes).
pub fn run_sh_request(scratch: &std::path::Path, script: &str) -> berth::executor::ExecRequest {
    let files = vec![("run.sh".to_string(), script.as_bytes().to_vec()), ("in.txt".to_string(), b"input".to_vec())];
    berth::executor::ExecRequest {
        run_id: 7,
        input_zip: berth::executor::archive::zip_files(&files).expect("zip"),
        command: None,
        env: Vec::new(),
        timeout: Some(Duration::from_secs(60)),
        memory_limit_mib: None,
        storage_limit_mib: None,
        scratch: scratch.to_path_buf(),
        service: "example".into(),
    }
}
