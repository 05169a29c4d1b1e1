//! `berth submit FILES… --service S [--wait]`: the seed's upload (`POST /upload`), then, with
//! `--wait`, a live line (queue position, admitted, running, done) and the job's exit code.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use reqwest::multipart::{Form, Part};
use serde_json::Value;

use super::output::{print_json, text};
use super::runs::{POLL_INTERVAL, is_terminal};
use super::{Api, ClientArgs, EXIT_NO_EXIT_CODE, Error, Result};

/// How long `--wait` keeps asking a server that does not answer before giving up.
pub const WAIT_UNREACHABLE_MAX: Duration = Duration::from_secs(60);

/// `berth submit`.
#[derive(Debug, clap::Args)]
pub struct SubmitArgs {
    /// The job's files, one named run.sh; a folder adds every file under it (names relative to it).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// A configured service.
    #[arg(long, short)]
    pub service: String,
    /// The submitting user, an integer (default: your uid).
    #[arg(long)]
    pub user: Option<i64>,
    /// high or normal (default normal).
    #[arg(long, short)]
    pub priority: Option<String>,
    /// An existing namespace (default `default`).
    #[arg(long, short)]
    pub namespace: Option<String>,
    /// priority (through admission, default) or legacy.
    #[arg(long)]
    pub flow: Option<String>,
    /// Millicores (default: the service's).
    #[arg(long)]
    pub cpu: Option<i64>,
    /// MiB of memory (default: the service's).
    #[arg(long)]
    pub memory: Option<i64>,
    /// Pods (default: the service's).
    #[arg(long)]
    pub pods: Option<i64>,
    /// MiB of scratch storage (default: the service's).
    #[arg(long)]
    pub storage: Option<i64>,
    /// Makes a retried submit return the first run instead of a second one.
    #[arg(long)]
    pub idempotency_key: Option<String>,
    /// Follow the run to its end and exit with its exit code.
    #[arg(long, short)]
    pub wait: bool,
    /// Server, token, output.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Submits; returns the exit status (0, or with `--wait` the job's).
pub async fn submit(a: SubmitArgs) -> Result<u8> {
    let api = Api::new(&a.client)?;
    let files = collect(&a.files)?;
    let user = a.user.unwrap_or_else(|| i64::from(nix::unistd::getuid().as_raw()));
    let mut form = Form::new();
    for (name, data) in files {
        form = form.part("file", Part::bytes(data).file_name(name));
    }
    let fields = [
        ("user_id", Some(user.to_string())),
        ("service", Some(a.service.clone())),
        ("priority", a.priority.clone()),
        ("namespace", a.namespace.clone()),
        ("flow", a.flow.clone()),
        ("cpu", a.cpu.map(|v| v.to_string())),
        ("memory", a.memory.map(|v| v.to_string())),
        ("pods", a.pods.map(|v| v.to_string())),
        ("storage", a.storage.map(|v| v.to_string())),
    ];
    for (k, v) in fields {
        if let Some(v) = v {
            form = form.text(k, v);
        }
    }
    let headers: Vec<(&str, String)> = a.idempotency_key.iter().map(|k| ("Idempotency-Key", k.clone())).collect();
    let accepted = api.post_form("/upload", form, &headers).await?;
    let id = accepted
        .get("id")
        .and_then(Value::as_i64)
        .ok_or_else(|| Error::Unexpected { url: api.url("/upload"), reason: format!("no run id in {accepted}") })?;
    if !a.wait {
        if a.client.json {
            print_json(&accepted);
        } else {
            println!("run {id} queued (service {}, user {user})", a.service);
        }
        return Ok(0);
    }
    let run = follow(&api, id).await?;
    if a.client.json {
        print_json(&run);
    }
    Ok(exit_code(&run))
}

/// Polls run `id` until it ends, showing where it stands on one live line (a spinner on a
/// terminal, one line per change otherwise); returns the final run.
async fn follow(api: &Api, id: i64) -> Result<Value> {
    let live = std::io::stderr().is_terminal();
    let bar = if live { ProgressBar::new_spinner() } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})").unwrap_or(ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let path = format!("/api/v1/runs/{id}");
    let mut last = String::new();
    let mut failing_since: Option<Instant> = None;
    loop {
        let run = match api.get(&path, &[]).await {
            Ok(run) => {
                failing_since = None;
                run
            }
            Err(e @ Error::Unreachable { .. }) => {
                let since = *failing_since.get_or_insert_with(Instant::now);
                if since.elapsed() > WAIT_UNREACHABLE_MAX {
                    bar.finish_and_clear();
                    return Err(e);
                }
                tokio::time::sleep(POLL_INTERVAL).await;
                continue;
            }
            Err(e) => {
                bar.finish_and_clear();
                return Err(e);
            }
        };
        let line = describe(&run);
        if line != last {
            if live {
                bar.set_message(line.clone());
            } else {
                eprintln!("{line}");
            }
            last = line;
        }
        if is_terminal(&text(&run, "state")) {
            if live {
                bar.finish_and_clear();
                eprintln!("{last}");
            }
            return Ok(run);
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Where the run stands, in a few words.
pub fn describe(run: &Value) -> String {
    let id = text(run, "id");
    let block = run.get("block").unwrap_or(&Value::Null);
    match text(run, "state").as_str() {
        "queued" => match block.get("position").and_then(Value::as_u64) {
            Some(p) => format!("run {id} queued: position {p} — {}", text(block, "message")),
            None => format!("run {id} queued"),
        },
        "waiting" => format!("run {id} waiting (retry back-off or dependencies)"),
        "admitted" => format!("run {id} admitted, waiting for a worker"),
        "running" => format!("run {id} running attempt {} on worker {}", text(run, "attempt"), text(run, "worker_id")),
        state => match run.get("exit_code").and_then(Value::as_i64) {
            Some(code) => format!("run {id} {state} (exit {code})"),
            None => format!("run {id} {state}: {}", text(run, "message")),
        },
    }
}

/// The exit status for a finished run: 0 when it succeeded, its exit code when it has one (the low
/// byte; 1 if that is 0), else [`EXIT_NO_EXIT_CODE`].
pub fn exit_code(run: &Value) -> u8 {
    if text(run, "state") == "succeeded" {
        return 0;
    }
    match run.get("exit_code").and_then(Value::as_i64) {
        Some(code) => match u8::try_from(code & 0xff).unwrap_or(1) {
            0 => 1,
            c => c,
        },
        None => EXIT_NO_EXIT_CODE,
    }
}

/// The files to upload as (name, bytes): a file by its own name, a folder's files by their paths
/// relative to it. Refuses two files with one name.
fn collect(paths: &[PathBuf]) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|source| file_error(path, source))?;
        if meta.is_dir() {
            walk(path, path, &mut out)?;
        } else {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            out.push((name, std::fs::read(path).map_err(|source| file_error(path, source))?));
        }
    }
    let mut names: Vec<&str> = out.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(Error::Usage(format!("two files would be uploaded as {:?}", w[0])));
    }
    if !names.contains(&"run.sh") {
        return Err(Error::Usage("one of the files must be named run.sh".into()));
    }
    Ok(out)
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| file_error(dir, source))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .map_err(|source| file_error(dir, source))?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(root, &path, out)?;
        } else {
            let name = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().into_owned();
            out.push((name, std::fs::read(&path).map_err(|source| file_error(&path, source))?));
        }
    }
    Ok(())
}

fn file_error(path: &Path, source: std::io::Error) -> Error {
    Error::File { path: path.display().to_string(), source }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_exit_status_is_the_job_s() {
        assert_eq!(exit_code(&json!({"state": "succeeded", "exit_code": 0})), 0);
        assert_eq!(exit_code(&json!({"state": "failed", "exit_code": 7})), 7);
        assert_eq!(exit_code(&json!({"state": "failed", "exit_code": 256})), 1, "the low byte, never 0 on failure");
        assert_eq!(exit_code(&json!({"state": "cancelled", "exit_code": null})), EXIT_NO_EXIT_CODE);
    }

    #[test]
    fn a_folder_uploads_its_files_by_relative_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("lib")).unwrap();
        std::fs::write(dir.path().join("run.sh"), "echo hi").unwrap();
        std::fs::write(dir.path().join("lib/a.txt"), "a").unwrap();
        let files = collect(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["lib/a.txt", "run.sh"]);
        let twice = collect(&[dir.path().join("run.sh"), dir.path().join("run.sh")]);
        assert!(matches!(twice, Err(Error::Usage(_))));
        assert!(matches!(collect(&[dir.path().join("lib/a.txt")]), Err(Error::Usage(_))), "no run.sh");
    }
}
