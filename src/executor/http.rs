//! Remote backend: forwards each run to an executor of its service speaking the seed system's client
//! protocol (`POST /submit`, `GET /retrieve/{id}`, `GET /retrieve_partial/{id}`, `POST /kill/{id}`,
//! `GET /load`), both generations, and fetches the zip back. The protocol as berth reads it, the
//! configuration and the failure mapping are in `docs/executors.md`.
//!
//! The executors have no authentication: they belong on a private network. No secret is sent to
//! them and none is logged (the job's environment is not forwarded: the protocol has no place for it).

use std::collections::HashMap;
use std::io::{Cursor, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use super::{Error, ExecRequest, ExecResult, Execute, LogChunk, LogStream, Outcome, Result};
use crate::config::{Config, ServiceConfig};

/// The file in the run folder where the seed's executor records `run.sh`'s exit status (written
/// by the `trap 'echo $? > .orchestrator.exit' EXIT` line its 2.x validator requires).
pub const EXIT_FILE: &str = ".orchestrator.exit";

/// How long a `GET /load` may take before the executor counts as the most loaded one.
const LOAD_TIMEOUT: Duration = Duration::from_secs(2);

/// One remote executor's URLs (each `{id}` URL is the base; the id is appended as `/{id}`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// `POST` target of the files.
    pub submit: String,
    /// `GET {retrieve}/{id}`: the zip or the state.
    pub retrieve: String,
    /// `GET {retrieve_partial}/{id}`: the folder so far (2.x).
    pub retrieve_partial: String,
    /// `POST {kill}/{id}` (2.x); `None`: the executor cannot be told to stop a run.
    pub kill: Option<String>,
    /// `GET`: a bare number, the executor's CPU percent.
    pub load: String,
}

/// The executors of a service, from its `executors`, `upload-url`, `download-url` and
/// `terminate-url` (comma-separated lists; the last three in the same order).
pub fn endpoints_of(service: &ServiceConfig) -> std::result::Result<Vec<Endpoint>, String> {
    let list = |s: &str| -> Vec<String> {
        s.split(',').map(|u| u.trim().trim_end_matches('/').to_string()).filter(|u| !u.is_empty()).collect()
    };
    let mut out = Vec::new();
    for base in list(&service.executors) {
        check_url(&base)?;
        out.push(Endpoint {
            submit: format!("{base}/submit"),
            retrieve: format!("{base}/retrieve"),
            retrieve_partial: format!("{base}/retrieve_partial"),
            kill: Some(format!("{base}/kill")),
            load: format!("{base}/load"),
        });
    }
    let uploads = list(&service.upload_url);
    let downloads = list(&service.download_url);
    let kills = list(&service.terminate_url);
    if !downloads.is_empty() && downloads.len() != uploads.len() {
        return Err(format!(
            "download-url lists {} executors and upload-url {}: give one download URL per upload URL, in the same order",
            downloads.len(),
            uploads.len()
        ));
    }
    if !kills.is_empty() && kills.len() != uploads.len() {
        return Err(format!(
            "terminate-url lists {} executors and upload-url {}: give one kill URL per upload URL, in the same order",
            kills.len(),
            uploads.len()
        ));
    }
    for (i, submit) in uploads.iter().enumerate() {
        check_url(submit)?;
        let base = submit.strip_suffix("/submit").unwrap_or(submit).to_string();
        let retrieve = downloads.get(i).cloned().unwrap_or_else(|| format!("{base}/retrieve"));
        check_url(&retrieve)?;
        let kill = kills.get(i).cloned();
        if let Some(k) = &kill {
            check_url(k)?;
        }
        out.push(Endpoint {
            submit: submit.clone(),
            retrieve_partial: format!("{}_partial", retrieve),
            retrieve,
            kill,
            load: format!("{base}/load"),
        });
    }
    Ok(out)
}

fn check_url(url: &str) -> std::result::Result<(), String> {
    match reqwest::Url::parse(url) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => Ok(()),
        _ => Err(format!("{:?} is not an http(s) URL", shown(url))),
    }
}

/// An executor URL as messages show it: without the user, password, query and fragment it may
/// carry (what the run's logs and messages say reaches every tenant who can read them).
fn shown(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => "(an executor URL that does not parse)".to_string(),
    }
}

/// A remote executor and what this worker has running on it.
#[derive(Debug)]
struct Remote {
    endpoint: Endpoint,
    in_flight: AtomicUsize,
}

/// The executors of one service.
#[derive(Debug)]
struct Pool {
    remotes: Vec<Remote>,
    /// Runs each remote may hold at once; 0: no limit.
    slots: usize,
    /// Rotates the choice among equally good remotes.
    next: AtomicUsize,
    /// Fired when a slot frees.
    freed: Notify,
}

/// A held slot on a remote; released when dropped.
struct Slot {
    pool: Arc<Pool>,
    index: usize,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.pool.remotes[self.index].in_flight.fetch_sub(1, Ordering::SeqCst);
        self.pool.freed.notify_waiters();
    }
}

/// Why a run the node itself reported `Lost` is lost. The seed 2.3 node also says it of a run it
/// has just started (its runner and updater race): the job may still be running there.
pub const LOST_BY_NODE: &str = "the executor lost the run (Lost)";

/// What one `GET /retrieve/{id}` said, whichever generation answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The run completed: the zip of its folder.
    Zip(Vec<u8>),
    /// Prepared or running.
    Pending,
    /// The job failed (`Failed`; 1.x: 410, or 500 without a JSON body).
    Failed,
    /// The executor refused the job (`Invalid`; 1.x: 400).
    Invalid,
    /// Someone killed the run on the executor.
    Killed,
    /// The executor lost the run (`Lost`, `Cleaned`, 1.x 204, or 404: it does not know the id).
    Lost(String),
    /// An answer that says nothing about the run (5xx with a JSON body, unknown status): ask again.
    Unclear(String),
}

/// Reads a `GET /retrieve/{id}` answer: 2.x says the state in a JSON body's `status`, 1.x in the
/// status code; a 200 that is not JSON is the zip (1.x sends it as `application/octet-stream`).
pub fn classify(status: u16, content_type: Option<&str>, body: Vec<u8>) -> Answer {
    let json = content_type.is_some_and(|c| c.starts_with("application/json"));
    if json && let Ok(value) = serde_json::from_slice::<serde_json::Value>(&body) {
        let state = value.get("status").and_then(|s| s.as_str()).unwrap_or("").to_string();
        if status == 404 {
            return Answer::Lost("the executor does not know the run (404)".into());
        }
        if status >= 500 {
            return Answer::Unclear(format!("executor error {status} (state {state:?})"));
        }
        return match state.as_str() {
            "Prepared" | "Running" | "Queued" | "Submitted" | "Processing" | "Locked" => Answer::Pending,
            "Failed" => Answer::Failed,
            "Invalid" => Answer::Invalid,
            "Killed" => Answer::Killed,
            "Lost" => Answer::Lost(LOST_BY_NODE.into()),
            "Cleaned" => Answer::Lost("the executor cleaned the run's folder (Cleaned)".into()),
            _ => Answer::Unclear(format!("unknown state {state:?} (HTTP {status})")),
        };
    }
    match status {
        200 => Answer::Zip(body),
        201 | 202 => Answer::Pending,
        204 => Answer::Lost("the executor cleaned the run's folder (204)".into()),
        400 => Answer::Invalid,
        404 => Answer::Lost("the executor does not know the run (404)".into()),
        410 | 500 => Answer::Failed,
        other => Answer::Unclear(format!("unexpected HTTP {other}")),
    }
}

/// The exit status recorded in the result zip's [`EXIT_FILE`], if there is one.
pub fn recorded_exit_code(zip: &[u8]) -> Option<i32> {
    let mut archive = zip::ZipArchive::new(Cursor::new(zip)).ok()?;
    let mut entry = archive.by_name(EXIT_FILE).ok()?;
    let mut text = String::new();
    entry.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

/// The backend: one pool of remote executors per configured service.
#[derive(Clone, Debug)]
pub struct HttpExecutor {
    client: reqwest::Client,
    pools: Arc<HashMap<String, Arc<Pool>>>,
    poll: Duration,
    /// How long the executor may fail to answer before the run counts as lost.
    patience: Duration,
}

impl HttpExecutor {
    /// The backend for `config`'s services (`services.<name>.executors`/`upload-url`/...).
    pub fn from_config(config: &Config) -> std::result::Result<Self, String> {
        let mut pools = HashMap::new();
        for (name, service) in &config.services {
            let remotes = endpoints_of(service)
                .map_err(|e| format!("services.{name}: {e}"))?
                .into_iter()
                .map(|endpoint| Remote { endpoint, in_flight: AtomicUsize::new(0) })
                .collect();
            let slots = usize::try_from(service.executor_slots).unwrap_or(usize::MAX);
            pools.insert(
                name.clone(),
                Arc::new(Pool { remotes, slots, next: AtomicUsize::new(0), freed: Notify::new() }),
            );
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.worker.http_request_timeout_seconds))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self {
            client,
            pools: Arc::new(pools),
            poll: Duration::from_millis(config.worker.http_poll_ms),
            patience: Duration::from_secs(config.lease_timeout_seconds),
        })
    }

    /// Picks a remote with a free slot: the fewest runs from this worker, then the lowest
    /// `GET /load`, then in turn. Waits while every remote is full. Returns the held slot and the
    /// other open remotes in order of preference (to fall back on when the first does not answer);
    /// `None`: cancelled meanwhile.
    async fn acquire(&self, pool: &Arc<Pool>, cancel: &CancellationToken) -> Option<(Slot, Vec<usize>)> {
        loop {
            let freed = pool.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            let counts: Vec<usize> = pool.remotes.iter().map(|r| r.in_flight.load(Ordering::SeqCst)).collect();
            let mut open: Vec<usize> =
                (0..pool.remotes.len()).filter(|&i| pool.slots == 0 || counts[i] < pool.slots).collect();
            if !open.is_empty() {
                let loads = self.loads(pool, &open, &counts).await;
                // Runs submitted concurrently took slots while the loads were asked (a seed node
                // takes 200 ms to say its load): rank by the counts as they are now, or two runs
                // submitted together would both go to the least loaded node.
                let counts: Vec<usize> = pool.remotes.iter().map(|r| r.in_flight.load(Ordering::SeqCst)).collect();
                let n = pool.remotes.len();
                let turn = pool.next.fetch_add(1, Ordering::Relaxed) % n;
                let rotated = |i: usize| (i + n - turn) % n;
                open.sort_by(|&a, &b| {
                    counts[a].cmp(&counts[b]).then(loads[&a].total_cmp(&loads[&b])).then(rotated(a).cmp(&rotated(b)))
                });
                for (k, &index) in open.iter().enumerate() {
                    if let Some(slot) = take(pool, index) {
                        return Some((slot, open[k + 1..].to_vec()));
                    }
                }
            }
            tokio::select! {
                _ = &mut freed => {}
                _ = cancel.cancelled() => return None,
            }
        }
    }

    /// `GET /load` of the `open` remotes when more than one has the fewest runs; the others count 0.
    async fn loads(&self, pool: &Pool, open: &[usize], counts: &[usize]) -> HashMap<usize, f64> {
        let least = open.iter().map(|&i| counts[i]).min();
        let tied: Vec<usize> = open.iter().copied().filter(|&i| Some(counts[i]) == least).collect();
        let mut out: HashMap<usize, f64> = open.iter().map(|&i| (i, 0.0)).collect();
        if tied.len() < 2 {
            return out;
        }
        let mut asks = tokio::task::JoinSet::new();
        for i in tied {
            let url = pool.remotes[i].endpoint.load.clone();
            let client = self.client.clone();
            asks.spawn(async move {
                let answer = async {
                    let text = client.get(&url).timeout(LOAD_TIMEOUT).send().await.ok()?.text().await.ok()?;
                    text.trim().parse::<f64>().ok().filter(|v| v.is_finite())
                };
                // An executor that does not say its load is tried last.
                (i, answer.await.unwrap_or(f64::INFINITY))
            });
        }
        while let Some(Ok((i, load))) = asks.join_next().await {
            out.insert(i, load);
        }
        out
    }
}

/// Holds a slot on remote `index` if it has one free.
fn take(pool: &Arc<Pool>, index: usize) -> Option<Slot> {
    let held = &pool.remotes[index].in_flight;
    let before = held.fetch_add(1, Ordering::SeqCst);
    if pool.slots != 0 && before >= pool.slots {
        held.fetch_sub(1, Ordering::SeqCst);
        return None;
    }
    Some(Slot { pool: pool.clone(), index })
}

/// Berth's own lines in the run's log (stream stderr): the seed protocol carries no job output.
async fn note(logs: &mpsc::Sender<LogChunk>, line: String) {
    let data = format!("[berth http executor] {line}\n").into_bytes();
    let _ = logs.send(LogChunk { stream: LogStream::Stderr, data }).await;
}

/// The files of an input zip, as `(path, content)`.
fn files_of(zip_bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>> {
    let bad = |e: zip::result::ZipError| Error::Fatal(format!("invalid input zip: {e}"));
    let mut archive = zip::ZipArchive::new(Cursor::new(zip_bytes)).map_err(bad)?;
    let mut out = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(bad)?;
        if entry.is_dir() {
            continue;
        }
        let name = entry.name().map_err(bad)?.into_owned();
        if super::archive::safe_relative_path(&name).is_none() || entry.is_symlink() {
            return Err(Error::Fatal(format!("input zip entry {name:?} escapes the folder")));
        }
        let mut data = Vec::new();
        entry.read_to_end(&mut data).map_err(|e| Error::Fatal(format!("invalid input zip: {e}")))?;
        out.push((name, data));
    }
    Ok(out)
}

/// Why the watch of a remote run ended.
enum Watch {
    Answer(Answer),
    Cancelled,
    TimedOut,
}

impl HttpExecutor {
    async fn submit(
        &self,
        endpoint: &Endpoint,
        files: &[(String, Vec<u8>)],
    ) -> std::result::Result<u64, (bool, String)> {
        let mut form = reqwest::multipart::Form::new();
        for (name, data) in files {
            form = form.part("file", reqwest::multipart::Part::bytes(data.clone()).file_name(name.clone()));
        }
        let response = self
            .client
            .post(&endpoint.submit)
            .multipart(form)
            .send()
            .await
            .map_err(|e| (true, format!("POST {} failed: {}", shown(&endpoint.submit), e.without_url())))?;
        let status = response.status();
        if status == reqwest::StatusCode::BAD_REQUEST {
            return Err((false, format!("POST {} refused the form (400)", shown(&endpoint.submit))));
        }
        if !status.is_success() {
            return Err((true, format!("POST {} answered {status}", shown(&endpoint.submit))));
        }
        let body: serde_json::Value = response.json().await.map_err(|e| {
            (true, format!("POST {} answered no JSON payload: {}", shown(&endpoint.submit), e.without_url()))
        })?;
        body.get("id")
            .and_then(|v| v.as_u64())
            .filter(|id| *id > 0)
            .ok_or_else(|| (true, format!("POST {} answered no payload id", shown(&endpoint.submit))))
    }

    /// Polls `GET /retrieve/{id}` until the run ends, `cancel` fires or `deadline` passes. Answers
    /// that say nothing (transport errors, 5xx with JSON) are tolerated for `patience`.
    async fn watch(
        &self,
        endpoint: &Endpoint,
        id: u64,
        deadline: Option<tokio::time::Instant>,
        cancel: &CancellationToken,
    ) -> Watch {
        let url = format!("{}/{id}", endpoint.retrieve);
        let mut last_heard = Instant::now();
        let mut first = true;
        loop {
            let pause = if first { Duration::ZERO } else { self.poll };
            first = false;
            let sleep = tokio::time::sleep(pause);
            let timeout = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return Watch::Cancelled,
                _ = timeout => return Watch::TimedOut,
                _ = sleep => {}
            }
            let asked = async {
                let response = self.client.get(&url).send().await.map_err(|e| e.without_url().to_string())?;
                let status = response.status().as_u16();
                let content_type = response
                    .headers()
                    .get(reqwest::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let body = response.bytes().await.map_err(|e| e.without_url().to_string())?;
                Ok::<_, String>(classify(status, content_type.as_deref(), body.to_vec()))
            };
            let answer = tokio::select! {
                biased;
                _ = cancel.cancelled() => return Watch::Cancelled,
                a = asked => a,
            };
            match answer {
                Ok(Answer::Pending) => last_heard = Instant::now(),
                Ok(Answer::Unclear(why)) | Err(why) => {
                    if last_heard.elapsed() >= self.patience {
                        return Watch::Answer(Answer::Lost(format!(
                            "the executor gave no usable answer for {}s (last: {why})",
                            self.patience.as_secs()
                        )));
                    }
                    tracing::debug!(payload = id, error = %why, "remote executor did not answer; asking again");
                }
                Ok(other) => return Watch::Answer(other),
            }
        }
    }

    /// Asks the executor to stop the run (2.x `POST /kill/{id}`); failures are logged, not fatal:
    /// the run's attempt ends here either way and a late result is refused by its fencing token.
    async fn kill(&self, endpoint: &Endpoint, id: u64, logs: &mpsc::Sender<LogChunk>) {
        let Some(kill) = &endpoint.kill else {
            note(logs, format!("no kill URL: payload {id} is left to finish on {}", shown(&endpoint.submit))).await;
            return;
        };
        let url = format!("{kill}/{id}");
        match self.client.post(&url).send().await {
            Ok(r) if r.status().is_success() => note(logs, format!("killed payload {id} on the executor")).await,
            Ok(r) => note(logs, format!("POST {} answered {}", shown(&url), r.status())).await,
            Err(e) => note(logs, format!("POST {} failed: {}", shown(&url), e.without_url())).await,
        }
    }

    /// The folder so far (2.x `GET /retrieve_partial/{id}`), if the executor gives it.
    async fn partial(&self, endpoint: &Endpoint, id: u64) -> Option<Vec<u8>> {
        let response = self.client.get(format!("{}/{id}", endpoint.retrieve_partial)).send().await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        let body = response.bytes().await.ok()?.to_vec();
        body.starts_with(b"PK").then_some(body)
    }
}

impl Execute for HttpExecutor {
    async fn run(
        &self,
        req: ExecRequest,
        logs: mpsc::Sender<LogChunk>,
        cancel: CancellationToken,
    ) -> Result<ExecResult> {
        if req.command.is_some() {
            return Err(Error::Fatal(
                "the http executor runs run.sh only: the seed protocol has no command line".into(),
            ));
        }
        let pool = self
            .pools
            .get(&req.service)
            .filter(|p| !p.remotes.is_empty())
            .ok_or_else(|| Error::Fatal(format!("service {:?} has no remote executor configured", req.service)))?
            .clone();
        let files = {
            let zip = req.input_zip.clone();
            tokio::task::spawn_blocking(move || files_of(&zip))
                .await
                .map_err(|e| Error::Retryable(format!("unpacking task failed: {e}")))??
        };
        if !files.iter().any(|(name, _)| name == "run.sh") {
            return Err(Error::Fatal("no run.sh among the files".into()));
        }
        let deadline = req.timeout.map(|t| tokio::time::Instant::now() + t);
        let cancelled =
            || Ok(ExecResult { outcome: Outcome::Cancelled, exit_code: None, result_zip: None, message: None });
        let Some((first, rest)) = self.acquire(&pool, &cancel).await else {
            return cancelled();
        };
        // Submit to the preferred remote; fall back to the next ones while one does not answer.
        let mut slot = Some(first);
        let mut fallback = rest.into_iter();
        let mut errors = Vec::new();
        let (_slot, endpoint, id) = loop {
            let Some(held) = slot.take() else {
                let Some(next) = fallback.next() else {
                    return Err(Error::Retryable(format!(
                        "no executor of {:?} took the run: {}",
                        req.service,
                        errors.join("; ")
                    )));
                };
                slot = take(&pool, next);
                continue;
            };
            let endpoint = pool.remotes[held.index].endpoint.clone();
            match self.submit(&endpoint, &files).await {
                Ok(id) => break (held, endpoint, id),
                Err((false, why)) => return Err(Error::Fatal(why)),
                Err((true, why)) => {
                    tracing::warn!(run = req.run_id, error = %why, "remote executor refused the submission");
                    note(&logs, why.clone()).await;
                    errors.push(why);
                }
            }
        };
        note(&logs, format!("submitted as payload {id} to {}", shown(&endpoint.submit))).await;
        match self.watch(&endpoint, id, deadline, &cancel).await {
            Watch::Cancelled => {
                self.kill(&endpoint, id, &logs).await;
                cancelled()
            }
            Watch::TimedOut => {
                self.kill(&endpoint, id, &logs).await;
                let result_zip = self.partial(&endpoint, id).await;
                Ok(ExecResult { outcome: Outcome::TimedOut, exit_code: None, result_zip, message: None })
            }
            Watch::Answer(Answer::Zip(zip)) => {
                let exit_code = recorded_exit_code(&zip);
                let outcome = match exit_code {
                    Some(code) if code != 0 => Outcome::Failed,
                    _ => Outcome::Succeeded,
                };
                note(&logs, format!("payload {id} completed (exit status {exit_code:?}); result fetched")).await;
                Ok(ExecResult { outcome, exit_code: exit_code.or(Some(0)), result_zip: Some(zip), message: None })
            }
            Watch::Answer(Answer::Failed) => {
                let zip = self.partial(&endpoint, id).await;
                let exit_code = zip.as_deref().and_then(recorded_exit_code);
                note(&logs, format!("the executor reported payload {id} Failed (exit status {exit_code:?})")).await;
                Ok(ExecResult {
                    outcome: Outcome::Failed,
                    exit_code: exit_code.or(Some(1)),
                    result_zip: zip,
                    message: None,
                })
            }
            Watch::Answer(Answer::Invalid) => Err(Error::Fatal(format!(
                "the executor marked payload {id} Invalid: it refused run.sh (the seed 2.x executor requires \
                 `trap 'echo $? > .orchestrator.exit' EXIT` and rejects the patterns its validator forbids)"
            ))),
            Watch::Answer(Answer::Killed) => {
                note(&logs, format!("payload {id} was killed on the executor")).await;
                cancelled()
            }
            Watch::Answer(Answer::Lost(why)) | Watch::Answer(Answer::Unclear(why)) => {
                note(&logs, format!("payload {id}: {why}")).await;
                if why == LOST_BY_NODE {
                    // A seed 2.3 node reports `Lost` a run it has just started when its updater
                    // looks before its runner stored the pid; the job runs on. Stop it, so that
                    // the retry is the only copy running (best effort: with the pid not yet
                    // stored, the node's kill does nothing).
                    self.kill(&endpoint, id, &logs).await;
                }
                Err(Error::Retryable(format!("remote run lost: {why}")))
            }
            Watch::Answer(Answer::Pending) => unreachable!("watch returns only a final answer"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: Option<&str> = Some("application/json");

    fn payload(status: &str) -> Vec<u8> {
        format!(r#"{{"id":3,"status":"{status}","loc":"/x","pid":0,"killed":false}}"#).into_bytes()
    }

    #[test]
    fn both_generations_are_read() {
        // 2.x: the state in a JSON body.
        assert_eq!(classify(200, JSON, payload("Running")), Answer::Pending);
        assert_eq!(classify(200, JSON, payload("Prepared")), Answer::Pending);
        assert_eq!(classify(200, JSON, payload("Failed")), Answer::Failed);
        assert_eq!(classify(200, JSON, payload("Invalid")), Answer::Invalid);
        assert_eq!(classify(200, JSON, payload("Killed")), Answer::Killed);
        assert!(matches!(classify(200, JSON, payload("Lost")), Answer::Lost(_)));
        assert!(matches!(classify(200, JSON, payload("Cleaned")), Answer::Lost(_)));
        assert!(matches!(classify(404, JSON, payload("Unknown")), Answer::Lost(_)));
        assert!(matches!(classify(500, JSON, payload("Unknown")), Answer::Unclear(_)), "2.x 500: its own error");
        assert_eq!(classify(200, Some("application/zip"), b"PK..".to_vec()), Answer::Zip(b"PK..".to_vec()));
        // 1.x: the state in the status code; the zip as octet-stream.
        assert_eq!(classify(200, Some("application/octet-stream"), b"PK".to_vec()), Answer::Zip(b"PK".to_vec()));
        assert_eq!(classify(201, None, Vec::new()), Answer::Pending);
        assert_eq!(classify(202, None, Vec::new()), Answer::Pending);
        assert_eq!(classify(400, None, Vec::new()), Answer::Invalid);
        assert_eq!(classify(410, None, Vec::new()), Answer::Failed);
        assert_eq!(classify(500, Some("text/plain"), Vec::new()), Answer::Failed);
        assert!(matches!(classify(204, None, Vec::new()), Answer::Lost(_)));
        assert!(matches!(classify(404, None, Vec::new()), Answer::Lost(_)));
        assert!(matches!(classify(503, None, Vec::new()), Answer::Unclear(_)));
    }

    /// What reaches a run's logs and messages never carries the URL's credentials or query.
    #[test]
    fn a_url_is_shown_without_its_credentials() {
        assert_eq!(shown("https://ops:s3cret@node-1:9000/submit?token=abc#x"), "https://node-1:9000/submit");
        assert_eq!(shown("http://node-2/submit"), "http://node-2/submit");
        assert!(!shown("not a url s3cret").contains("s3cret"));
        let refused = check_url("ftp://ops:s3cret@node/submit").unwrap_err();
        assert!(!refused.contains("s3cret"), "{refused}");
    }

    #[test]
    fn endpoints_come_from_either_naming() {
        let service = ServiceConfig {
            executors: "http://a:9000/, http://b:9000".into(),
            upload_url: "http://c:9000/submit".into(),
            download_url: "http://c:9000/retrieve".into(),
            ..ServiceConfig::default()
        };
        let e = endpoints_of(&service).unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].submit, "http://a:9000/submit");
        assert_eq!(e[0].kill.as_deref(), Some("http://a:9000/kill"));
        assert_eq!(e[2].retrieve, "http://c:9000/retrieve");
        assert_eq!(e[2].retrieve_partial, "http://c:9000/retrieve_partial");
        assert_eq!(e[2].load, "http://c:9000/load");
        assert_eq!(e[2].kill, None, "no terminate URL: no kill");
        let bad = ServiceConfig { upload_url: "ftp://x/submit".into(), ..ServiceConfig::default() };
        assert!(endpoints_of(&bad).is_err());
    }

    #[test]
    fn the_recorded_exit_status_is_read_from_the_zip() {
        let zip = super::super::archive::zip_files(&[(EXIT_FILE.into(), b"3\n".to_vec())]).unwrap();
        assert_eq!(recorded_exit_code(&zip), Some(3));
        let zip = super::super::archive::zip_files(&[("out.txt".into(), b"x".to_vec())]).unwrap();
        assert_eq!(recorded_exit_code(&zip), None);
    }
}
