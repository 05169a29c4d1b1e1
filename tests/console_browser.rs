//! The web console in a real browser: headless Chromium driven through chromedriver (WebDriver)
//! against a real berth (API, scheduler and a real worker). A job submitted through the API
//! appears in the runs list; the search finds it by part of its name; a blocked run's page shows
//! its timeline and why it waits, in words and per dimension; its cancel button cancels it; the
//! other pages render what the API says; user text (logs) is shown as text, never as markup. A
//! streaming run's page shows its restart figures and its Abort button aborts it; a workflow job's
//! page draws its steps by depth and starts a workflow run, whose page shows every step and
//! cancels it.
//!
//! Needs Debian's `chromium` and `chromium-driver` packages (`.ci/run` installs them); without
//! them the test fails and says so. `BERTH_CHROMEDRIVER` names another chromedriver binary.
//!
//! The screenshots in docs/console/ come from the `#[ignore]`d test at the end:
//! `cargo test --test console_browser -- --ignored screenshots`.

mod common;

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use berth::config::ServiceConfig;
use common::{TestApp, gate_path, test_config, wait_for};
use fantoccini::{Client, ClientBuilder, Locator};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::{Value, json};

/// How long a page may take to show what the API says (it polls every two seconds).
const PAGE: Duration = Duration::from_secs(30);

/// chromedriver (in its own process group, with the Chromium it starts) and a session on it.
struct Browser {
    driver: Child,
    client: Client,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and opens a headless Chromium session.
    async fn start() -> Browser {
        let driver_bin = chromedriver();
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", driver_bin.display()));
        let browser = Browser { driver, client: connect(port).await };
        browser.client.set_window_size(1400, 1000).await.expect("window size");
        browser
    }

    /// Ends the session (Chromium quits) and stops chromedriver.
    async fn stop(self) {
        let _ = self.client.clone().close().await;
        // Drop stops chromedriver.
    }

    async fn goto(&self, app: &TestApp, path: &str) {
        self.client.goto(&app.url(path)).await.unwrap_or_else(|e| panic!("opening {path}: {e}"));
    }

    /// The text of the first element matching `css`, if there is one.
    async fn text(&self, css: &str) -> Option<String> {
        self.client.find(Locator::Css(css)).await.ok()?.text().await.ok()
    }

    /// Waits until the first element matching `css` has text for which `ok` holds; returns it.
    async fn wait_text(&self, what: &str, css: &str, ok: impl Fn(&str) -> bool) -> String {
        let ok = &ok;
        wait_for(what, PAGE, || async move { self.text(css).await.filter(|t| ok(t)) }).await
    }

    /// Waits until an element matches `css`.
    async fn wait_present(&self, what: &str, css: &str) {
        wait_for(what, PAGE, || async move { self.client.find(Locator::Css(css)).await.ok().map(|_| ()) }).await
    }

    /// Waits until no element matches `css`.
    async fn wait_absent(&self, what: &str, css: &str) {
        wait_for(what, PAGE, || async move {
            self.client.find_all(Locator::Css(css)).await.ok().filter(|all| all.is_empty()).map(|_| ())
        })
        .await
    }

    async fn click(&self, css: &str) {
        let element = self.client.wait().at_most(PAGE).for_element(Locator::Css(css)).await;
        element.unwrap_or_else(|e| panic!("no {css} to click: {e}")).click().await.expect("click");
    }

    async fn type_into(&self, css: &str, text: &str) {
        let element = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}"));
        element.clear().await.expect("clear");
        element.send_keys(text).await.expect("type");
    }

    /// Waits until the page has loaded its data: no "Loading…" left, and no error in the status line.
    async fn wait_loaded(&self, page: &str) {
        self.wait_absent(&format!("{page} to load"), "#content > p.muted:only-child").await;
        let status = self.text("#status").await.unwrap_or_default();
        assert!(status.is_empty(), "{page} shows an error: {status}");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The whole group: chromedriver and the Chromium processes it started.
        let pid = i32::try_from(self.driver.id()).expect("pid");
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        let _ = self.driver.wait();
    }
}

/// The chromedriver binary, or a failure naming the packages that provide it.
fn chromedriver() -> PathBuf {
    if let Some(path) = std::env::var_os("BERTH_CHROMEDRIVER") {
        return PathBuf::from(path);
    }
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).map(|d| d.join("chromedriver")).find(|p| p.is_file()))
        .unwrap_or_default();
    found.unwrap_or_else(|| {
        panic!(
            "chromedriver is not installed: the console's browser tests need Debian's `chromium` and \
             `chromium-driver` packages (apt-get install -y chromium chromium-driver; .ci/run installs them), \
             or BERTH_CHROMEDRIVER naming a chromedriver binary"
        )
    })
}

/// A session on the chromedriver at `port`, once it accepts connections.
async fn connect(port: u16) -> Client {
    let mut args = vec!["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"];
    args.push("--window-size=1400,1000");
    let mut options = json!({ "args": args });
    if std::path::Path::new("/usr/bin/chromium").is_file() {
        options["binary"] = json!("/usr/bin/chromium");
    }
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("goog:chromeOptions".into(), options);
    let url = format!("http://127.0.0.1:{port}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let last = match ClientBuilder::new(connector).capabilities(capabilities.clone()).connect(&url).await {
            Ok(client) => return client,
            Err(e) => e.to_string(),
        };
        assert!(tokio::time::Instant::now() < deadline, "chromedriver did not start a session within 30 s: {last}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn send(app: &TestApp, method: reqwest::Method, path: &str, body: Value) -> Value {
    let res = app.http.request(method.clone(), app.url(path)).json(&body).send().await.expect("request");
    let status = res.status();
    let body: Value = res.json().await.unwrap_or_default();
    assert!(status.is_success(), "{method} {path}: {status} {body}");
    body
}

/// A stored job running `script` with `sh -c` in namespace `etl`; returns its id.
async fn create_job(app: &TestApp, name: &str, cpu: i64, script: &str) -> i64 {
    let body = json!({
        "name": name, "service": "example", "namespace": "etl", "cpu": cpu, "user": "ana",
        "command": ["sh", "-c", script], "tags": {"team": "data"},
    });
    send(app, reqwest::Method::POST, "/api/v1/jobs", body).await["id"].as_i64().expect("job id")
}

async fn start_run(app: &TestApp, job: i64) -> i64 {
    send(app, reqwest::Method::POST, &format!("/api/v1/jobs/{job}/runs"), json!({})).await["id"]
        .as_i64()
        .expect("run id")
}

/// A berth with namespace `etl` (1,000 millicores): a running run of job `gatekeeper` holds the
/// whole quota until the gate file exists; a run of job `nightly-etl-report` (500) waits for it.
struct Scene {
    app: TestApp,
    gate: PathBuf,
    gatekeeper: (i64, i64),
    blocked: (i64, i64),
}

async fn scene() -> Scene {
    let mut config = test_config();
    config.worker.cpu = 8000;
    let app = TestApp::spawn_all(config).await;
    let quota = json!({"cpu": 1000, "memory": 8192, "pods": 10, "storage": 8192});
    send(&app, reqwest::Method::PUT, "/api/v1/namespaces/etl", quota).await;
    let gate = gate_path("console");
    let script = format!(
        "echo 'started <b>bold</b> & <script>alert(1)</script>'; while [ ! -f {} ]; do sleep 0.05; done; echo done",
        gate.display()
    );
    let keeper_job = create_job(&app, "gatekeeper", 1000, &script).await;
    let keeper = start_run(&app, keeper_job).await;
    wait_for("the gatekeeper to run", PAGE, || async { (app.state(keeper).await == "running").then_some(()) }).await;
    let report_job = create_job(&app, "nightly-etl-report", 500, "echo report").await;
    let report = start_run(&app, report_job).await;
    wait_for("the report's block record", PAGE, || async {
        let (_, why) = app.get_json(&format!("/api/v1/runs/{report}/why")).await;
        why["record"].is_object().then_some(())
    })
    .await;
    Scene { app, gate, gatekeeper: (keeper_job, keeper), blocked: (report_job, report) }
}

#[tokio::test]
async fn the_console_lists_searches_explains_and_cancels_a_run_in_a_real_browser() {
    let Scene { app, gate, gatekeeper: (keeper_job, keeper), blocked: (report_job, report) } = scene().await;
    let b = Browser::start().await;

    // Runs: the submitted run appears; the search narrows the list to it by part of its job's name.
    b.goto(&app, "/ui/runs").await;
    b.wait_present("the blocked run in the list", &format!("tr[data-run-id='{report}']")).await;
    b.wait_present("the running run in the list", &format!("tr[data-run-id='{keeper}']")).await;
    b.type_into("#search", "etl-rep").await;
    b.wait_absent("the search to leave the gatekeeper out", &format!("tr[data-run-id='{keeper}']")).await;
    b.wait_present("the search to keep the report", &format!("tr[data-run-id='{report}']")).await;
    assert!(b.client.current_url().await.unwrap().as_str().contains("q=etl-rep"), "the search is in the address");
    // A run submitted while the page is open appears without a reload.
    let second = start_run(&app, report_job).await;
    b.wait_present("a new run to appear without a reload", &format!("tr[data-run-id='{second}']")).await;
    send(&app, reqwest::Method::POST, &format!("/api/v1/runs/{second}/cancel"), json!({})).await;

    // The blocked run: why it waits in words, each dimension as requested / available / shortfall,
    // its position and its timeline.
    b.goto(&app, &format!("/ui/runs/{report}")).await;
    let why = b.wait_text("the why-pending words", "#why-message", |t| t.contains("cpu")).await;
    assert!(why.contains("etl"), "names the namespace: {why}");
    b.wait_present("the blocking dimensions", "#why-scopes tbody tr").await;
    let mut cells = Vec::new();
    for cell in b.client.find_all(Locator::Css("#why-scopes tbody tr:first-child td")).await.unwrap() {
        cells.push(cell.text().await.unwrap());
    }
    assert_eq!(
        cells,
        ["quota of namespace etl", "cpu", "500 m", "0 m", "500 m"],
        "scope, dimension, requested, available, shortfall"
    );
    let position = b.text("#position").await.expect("position");
    assert!(position.starts_with("1 in the normal queue of namespace etl"), "{position}");
    b.wait_present("the timeline's submission", "#timeline li[data-kind='submitted']").await;
    assert_eq!(b.text("#run-state").await.as_deref(), Some("queued"));

    // The cancel button (with its confirmation) cancels it.
    b.click("#cancel").await;
    b.click("#cancel-confirm").await;
    wait_for("the run to be cancelled", PAGE, || async { (app.state(report).await == "cancelled").then_some(()) })
        .await;
    b.wait_text("the page to show it cancelled", "#run-state", |t| t == "cancelled").await;
    b.wait_present("the cancellation in the timeline", "#timeline li[data-kind='cancelled']").await;

    // The running run's live log shows markup as text.
    b.goto(&app, &format!("/ui/runs/{keeper}")).await;
    let out = b.wait_text("the live log", "#stdout", |t| t.contains("started")).await;
    assert!(out.contains("<b>bold</b> & <script>alert(1)</script>"), "logs are text: {out}");
    assert!(b.client.find(Locator::Css("#stdout b, #stdout script")).await.is_err(), "no markup from logs");
    std::fs::write(&gate, b"go").unwrap();
    b.wait_text("the tail to follow the end", "#stdout", |t| t.contains("done")).await;
    b.wait_text("the run to finish", "#run-state", |t| t == "succeeded").await;
    assert_eq!(app.state(keeper).await, "succeeded");

    // Jobs: the search finds a job by part of its name; its page starts a run.
    b.goto(&app, "/ui/jobs").await;
    b.wait_present("the jobs list", &format!("tr[data-job-id='{keeper_job}']")).await;
    b.type_into("#job-search", "etl-rep").await;
    b.wait_absent("the job search to leave the gatekeeper out", &format!("tr[data-job-id='{keeper_job}']")).await;
    b.wait_present("the job search to find the report", &format!("tr[data-job-id='{report_job}']")).await;
    b.click(&format!("tr[data-job-id='{report_job}'] a")).await;
    b.wait_text("the job page", "#title", |t| t.contains("nightly-etl-report")).await;
    b.click("#start-run").await;
    let started = wait_for("the run page of the started run", PAGE, || async {
        let url = b.client.current_url().await.ok()?;
        let id = url.path().strip_prefix("/ui/runs/")?.parse::<i64>().ok()?;
        Some(id)
    })
    .await;
    let (_, run) = app.get_json(&format!("/api/v1/runs/{started}")).await;
    assert_eq!(run["job_id"], report_job);
    assert_eq!(app.wait_terminal(started).await, "succeeded");

    // The job page: its schedule's next fire times, an edit, a duplicate.
    let schedule = json!({"cron": "0 3 * * *", "time_zone": "Europe/Paris"});
    send(&app, reqwest::Method::PUT, &format!("/api/v1/jobs/{report_job}/schedule"), schedule).await;
    b.goto(&app, &format!("/ui/jobs/{report_job}")).await;
    wait_for("the next five fire times", PAGE, || async {
        let fires = b.client.find_all(Locator::Css("#next-fires li")).await.ok()?;
        (fires.len() == 5).then_some(())
    })
    .await;
    b.click("#edit").await;
    let (_, mut template) = app.get_json(&format!("/api/v1/jobs/{report_job}/template")).await;
    template["description"] = json!("edited <i>in</i> the console");
    b.wait_present("the editor", "#edit-json").await;
    b.type_into("#edit-json", &template.to_string()).await;
    b.click("#edit-save").await;
    b.wait_text("the edited description", "#job-description", |t| t == "edited <i>in</i> the console").await;
    let (_, job) = app.get_json(&format!("/api/v1/jobs/{report_job}")).await;
    assert_eq!(job["description"], "edited <i>in</i> the console");
    b.type_into("#duplicate-name", "report-copy").await;
    b.click("#duplicate").await;
    b.wait_text("the copy's page", "#title", |t| t.ends_with("report-copy")).await;
    let (_, copies) = app.get_json("/api/v1/jobs?q=report-copy").await;
    assert_eq!(copies["jobs"][0]["name"], "report-copy");

    // The other pages show what the API says.
    b.goto(&app, "/ui/queue").await;
    b.wait_loaded("the queue").await;
    b.goto(&app, "/ui/namespaces").await;
    let etl = b.wait_text("the etl namespace", "section[data-namespace='etl']", |t| t.contains("cpu")).await;
    assert!(etl.contains("/ 1000 m"), "the cpu limit: {etl}");
    assert!(etl.contains("queue order"), "a fifo namespace: {etl}");
    b.goto(&app, "/ui/workers").await;
    let workers = b.wait_text("the worker", "#worker-table tbody", |t| t.contains("alive")).await;
    assert!(workers.contains("8000 m"), "the cpu capacity: {workers}");
    b.goto(&app, "/ui/").await;
    let tiles = b.wait_text("the overview", ".tiles", |t| t.contains("Workers alive")).await;
    assert!(tiles.contains("1 / 1"), "one worker alive: {tiles}");
    b.wait_loaded("the overview").await;

    b.stop().await;
    let _ = std::fs::remove_file(gate);
    app.stop().await;
}

/// The texts of every element matching `css`, in document order.
async fn texts(b: &Browser, css: &str) -> Vec<String> {
    let mut out = Vec::new();
    for element in b.client.find_all(Locator::Css(css)).await.unwrap_or_default() {
        out.push(element.text().await.unwrap_or_default());
    }
    out
}

/// Streaming and workflows: runs of service `idle` are never claimed (no worker serves it), so
/// they stay queued while the pages are looked at. A streaming job's page lists its application
/// (the active one marked); the run's page shows its restart figures and its Abort button (with
/// its confirmation) aborts it. A workflow job's page draws its steps grouped by depth; its start
/// button opens the workflow run's page, which shows every step with its run and cancels it.
#[tokio::test]
async fn the_console_aborts_a_streaming_run_and_shows_and_cancels_a_workflow() {
    let mut config = test_config();
    config.services.insert("idle".into(), ServiceConfig::default());
    config.worker.services = vec!["example".into()];
    let app = TestApp::spawn_all(config).await;
    let b = Browser::start().await;

    // A streaming job: its application on the job page, marked active.
    let body = json!({"name": "ticker-app", "service": "idle", "kind": "streaming", "command": ["sh", "-c", "sleep 300"],
        "restart_policy": "on_failure", "failure_retries": 2});
    let stream_job = send(&app, reqwest::Method::POST, "/api/v1/jobs", body).await["id"].as_i64().unwrap();
    let app_run = start_run(&app, stream_job).await;
    b.goto(&app, &format!("/ui/jobs/{stream_job}")).await;
    b.wait_present("the active application", &format!("#applications tr.active-run[data-run-id='{app_run}']")).await;

    // Its run: the restart figures, then Abort with its confirmation.
    b.goto(&app, &format!("/ui/runs/{app_run}")).await;
    let policy = b.wait_text("the restart policy", "#restart-policy", |t| t.contains("on_failure")).await;
    assert!(policy.contains("2 retries"), "{policy}");
    assert_eq!(b.text("#stopping").await.as_deref(), Some("no"));
    b.wait_present("the cancel button beside abort", "#cancel").await;
    b.click("#abort").await;
    b.click("#abort-keep").await;
    b.wait_present("abort offered again after keeping it", "#abort").await;
    assert_ne!(app.state(app_run).await, "aborted", "keeping it does not abort it");
    b.click("#abort").await;
    b.click("#abort-confirm").await;
    wait_for("the application to be aborted", PAGE, || async { (app.state(app_run).await == "aborted").then_some(()) })
        .await;
    b.wait_text("the page to show it aborted", "#run-state", |t| t == "aborted").await;
    b.wait_absent("no abort button once ended", "#abort").await;

    // A workflow of four steps in three depths: extract and fetch, then clean, then load.
    let mut step_jobs = Vec::new();
    for name in ["wf-extract", "wf-fetch", "wf-clean", "wf-load"] {
        let body = json!({"name": name, "service": "idle", "command": ["true"]});
        step_jobs.push(send(&app, reqwest::Method::POST, "/api/v1/jobs", body).await["id"].as_i64().unwrap());
    }
    let steps = json!([
        {"name": "load", "job": step_jobs[3], "depends_on": ["clean", "fetch"]},
        {"name": "extract", "job": step_jobs[0], "depends_on": []},
        {"name": "clean", "job": step_jobs[2], "depends_on": ["extract"]},
        {"name": "fetch", "job": step_jobs[1], "depends_on": []},
    ]);
    let body = json!({"name": "nightly-flow", "kind": "workflow", "steps": steps});
    let wf_job = send(&app, reqwest::Method::POST, "/api/v1/jobs", body).await["id"].as_i64().unwrap();
    b.goto(&app, &format!("/ui/jobs/{wf_job}")).await;
    b.wait_present("the graph's last depth", ".dag .layer[data-depth='2'] .step[data-step='load']").await;
    let mut roots = texts(&b, ".dag .layer[data-depth='0'] .step-name").await;
    roots.sort();
    assert_eq!(roots, ["extract", "fetch"], "the roots are grouped at depth 0");
    assert_eq!(texts(&b, ".dag .layer[data-depth='1'] .step-name").await, ["clean"]);
    assert_eq!(texts(&b, ".dag .layer[data-depth='2'] .step-name").await, ["load"]);
    assert_eq!(texts(&b, ".dag .layer").await.len(), 3, "one column per depth");
    let load = b.text(".dag .step[data-step='load']").await.unwrap();
    assert!(load.contains("after clean, fetch") && load.contains("wf-load"), "names its parents and its job: {load}");
    b.wait_present("no workflow run yet", "#job-runs p.empty").await;

    // Its start button opens the workflow run's page.
    b.click("#start-run").await;
    let wf_run = wait_for("the workflow run's page", PAGE, || async {
        let url = b.client.current_url().await.ok()?;
        url.path().strip_prefix("/ui/workflow-runs/")?.parse::<i64>().ok()
    })
    .await;
    let (_, view) = app.get_json(&format!("/api/v1/workflow-runs/{wf_run}")).await;
    assert_eq!(view["job_id"], wf_job);
    b.wait_text("the workflow run's state", "#workflow-state", |t| t == "running").await;
    for step in view["steps"].as_array().unwrap() {
        let (name, run) = (step["name"].as_str().unwrap(), step["run_id"].as_i64().unwrap());
        let css = format!(".dag .step[data-step='{name}'] a[href='/ui/runs/{run}']");
        b.wait_present(&format!("step {name} linking its run"), &css).await;
    }
    let extract = b.text(".dag .layer[data-depth='0'] .step[data-step='extract'] .step-state").await.unwrap();
    assert_eq!(extract, "queued", "a root is queued");
    let waiting = b.text(".dag .layer[data-depth='2'] .step[data-step='load'] .step-state").await.unwrap();
    assert_eq!(waiting, "waiting", "a child waits for its parents");
    assert_eq!(texts(&b, "#edges tbody tr").await.len(), 3, "every edge");

    // The cancel button (with its confirmation) cancels the workflow run.
    b.click("#wf-cancel").await;
    b.click("#wf-cancel-confirm").await;
    wait_for("the workflow run to be cancelled", PAGE, || async {
        let (_, w) = app.get_json(&format!("/api/v1/workflow-runs/{wf_run}")).await;
        (w["state"] == "cancelled").then_some(())
    })
    .await;
    b.wait_text("the page to show it cancelled", "#workflow-state", |t| t == "cancelled").await;
    b.wait_text("the steps cancelled", ".dag .step[data-step='extract'] .step-state", |t| t == "cancelled").await;
    b.wait_absent("no cancel button once ended", "#wf-cancel").await;

    // The job page lists it; a step's run page links it.
    b.goto(&app, &format!("/ui/jobs/{wf_job}")).await;
    b.wait_present("the job's workflow run", &format!("#workflow-runs tr[data-workflow-run-id='{wf_run}']")).await;
    let step_run = view["steps"][0]["run_id"].as_i64().unwrap();
    b.goto(&app, &format!("/ui/runs/{step_run}")).await;
    b.click("#workflow-run-link").await;
    b.wait_text("the workflow run's page from a step", "#title", |t| t.contains(&format!("Workflow run {wf_run}")))
        .await;

    b.stop().await;
    app.stop().await;
}

/// A token-protected API (a stand-in answering 401 without `Authorization: Bearer s3cret`): the
/// page loads without a token, asks for one on the 401, keeps it in the tab and sends it.
#[tokio::test]
async fn the_console_asks_for_a_token_on_a_401_and_sends_it_with_every_call() {
    use axum::http::{HeaderMap, StatusCode};
    async fn runs(headers: HeaderMap) -> (StatusCode, axum::Json<Value>) {
        let bearer = headers.get("authorization").and_then(|v| v.to_str().ok());
        if bearer != Some("Bearer s3cret") {
            let body = json!({"error": "unauthorized", "message": "a token is needed"});
            return (StatusCode::UNAUTHORIZED, axum::Json(body));
        }
        let run = json!({"id": 7, "job_id": 1, "job_name": "secret-job", "state": "queued", "namespace": "default",
            "priority": "normal", "user_id": "ana", "enqueued_at": "2026-11-29T12:00:00Z", "started_at": null,
            "finished_at": null, "attempt": 0, "max_attempts": 1, "message": ""});
        (StatusCode::OK, axum::Json(json!({ "runs": [run] })))
    }
    let store = common::fresh_store().await;
    let state = berth::api::AppState { store, config: std::sync::Arc::new(test_config()) };
    let router = axum::Router::new()
        .route("/api/v1/runs", axum::routing::get(runs))
        .merge(berth::api::console::router())
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, router).await });

    let b = Browser::start().await;
    b.client.goto(&format!("{base}/ui/runs")).await.unwrap();
    b.wait_present("the token prompt", "#token-dialog[open]").await;
    b.type_into("#token-input", "s3cret").await;
    b.click("#token-save").await;
    b.wait_present("the list read with the token", "tr[data-run-id='7']").await;
    let kept = b.client.execute("return sessionStorage.getItem('berth.token')", vec![]).await.unwrap();
    assert_eq!(kept, json!("s3cret"), "kept in the tab's session storage");
    assert!(b.client.find(Locator::Css("#token-dialog[open]")).await.is_err(), "no prompt once the token works");
    b.click("#forget-token").await;
    b.wait_present("the prompt again once the token is forgotten", "#token-dialog[open]").await;
    b.stop().await;
    server.abort();
}

/// The pages and assets are served without a token; an unknown asset or a run page with no number
/// is a 404; every page carries the content policy that keeps inline scripts out.
#[tokio::test]
async fn the_console_is_served_by_the_api_with_its_content_policy() {
    let app = TestApp::spawn(test_config(), berth::service::Roles { api: true, scheduler: false, worker: false }).await;
    for path in [
        "/ui/",
        "/ui/runs",
        "/ui/runs/12",
        "/ui/queue",
        "/ui/namespaces",
        "/ui/workers",
        "/ui/jobs",
        "/ui/jobs/3",
        "/ui/workflow-runs/5",
    ] {
        let res = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let csp = res.headers()["content-security-policy"].to_str().unwrap().to_string();
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        let html = res.text().await.unwrap();
        assert!(html.contains("/ui/assets/api.js") && !html.contains("{{"), "{path}");
    }
    let res = app.http.get(app.url("/ui")).send().await.unwrap();
    assert_eq!(res.url().path(), "/ui/", "/ui redirects to /ui/");
    for (path, status) in [
        ("/ui/assets/run.js", 200),
        ("/ui/assets/workflow.js", 200),
        ("/ui/assets/nope.js", 404),
        ("/ui/runs/abc", 404),
        ("/ui/workflow-runs/0", 404),
    ] {
        assert_eq!(app.http.get(app.url(path)).send().await.unwrap().status(), status, "{path}");
    }
    app.stop().await;
}

/// Writes docs/console/*.png: the overview, the runs list, a blocked run, the queue and the jobs
/// (`cargo test --test console_browser -- --ignored screenshots`).
#[tokio::test]
#[ignore = "writes docs/console/*.png; run by hand"]
async fn screenshots() {
    let Scene { app, gate, blocked: (report_job, report), .. } = scene().await;
    // Some history: finished runs of a few jobs.
    for (name, script) in [("daily-ingest", "echo ingest"), ("model-training", "exit 3"), ("weekly-backup", "echo ok")]
    {
        let body = json!({"name": name, "service": "example", "command": ["sh", "-c", script], "user": "bo"});
        let job = send(&app, reqwest::Method::POST, "/api/v1/jobs", body).await["id"].as_i64().unwrap();
        let run = start_run(&app, job).await;
        app.wait_terminal(run).await;
    }
    let schedule = json!({"cron": "30 2 * * *", "time_zone": "Europe/Berlin", "concurrency_policy": "forbid"});
    send(&app, reqwest::Method::PUT, &format!("/api/v1/jobs/{report_job}/schedule"), schedule).await;
    let b = Browser::start().await;
    b.client.set_window_size(1400, 1300).await.expect("window size");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/console");
    std::fs::create_dir_all(&dir).unwrap();
    let pages = [
        ("overview", "/ui/".to_string(), ".tiles"),
        ("runs", "/ui/runs".to_string(), "#run-table"),
        ("run", format!("/ui/runs/{report}"), "#why-scopes"),
        ("queue", "/ui/queue".to_string(), "section.queue"),
        ("namespaces", "/ui/namespaces".to_string(), "section.namespace"),
        ("workers", "/ui/workers".to_string(), "#worker-table"),
        ("jobs", "/ui/jobs".to_string(), "#job-table"),
        ("job", format!("/ui/jobs/{report_job}"), "#next-fires"),
    ];
    for (name, path, ready) in pages {
        b.goto(&app, &path).await;
        b.wait_present(name, ready).await;
        let png = b.client.screenshot().await.expect("screenshot");
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
    b.stop().await;
    std::fs::write(&gate, b"go").unwrap();
    let _ = std::fs::remove_file(gate);
    app.stop().await;
}
