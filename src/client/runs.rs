//! One run: `berth status`, `logs`, `download`, `cancel` and `why`.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use super::output::{Table, cell, print_fields, print_json, resources, text, time};
use super::{Api, ClientArgs, Error, Result};
use crate::domain::RunState;

/// How often `logs --follow` and `submit --wait` ask again.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// A command on one run.
#[derive(Debug, clap::Args)]
pub struct IdArgs {
    /// Run id.
    pub id: i64,
    /// Server, token, output.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `berth logs`.
#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// Run id.
    pub id: i64,
    /// Keep printing new output until the run ends.
    #[arg(long, short)]
    pub follow: bool,
    /// Server, token, output.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `berth download`.
#[derive(Debug, clap::Args)]
pub struct DownloadArgs {
    /// Run id.
    pub id: i64,
    /// Where to write the zip (`-`: stdout; default `berth-run-<id>.zip`).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Server, token, output.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Whether the API's `state` text names a terminal state (an unknown one counts as not).
pub fn is_terminal(state: &str) -> bool {
    state.parse::<RunState>().is_ok_and(RunState::is_terminal)
}

/// `berth status ID`.
pub async fn status(args: IdArgs) -> Result<()> {
    let api = Api::new(&args.client)?;
    let run = api.get(&format!("/api/v1/runs/{}", args.id), &[]).await?;
    if args.client.json {
        print_json(&run);
        return Ok(());
    }
    print_run(&run);
    Ok(())
}

fn print_run(run: &Value) {
    let attempt = format!("{} of {}", text(run, "attempt"), text(run, "max_attempts"));
    print_fields(&[
        ("run", text(run, "id")),
        ("job", format!("{} ({})", text(run, "job_id"), text(run, "job_name"))),
        ("state", text(run, "state")),
        ("service", text(run, "service")),
        ("namespace", text(run, "namespace")),
        ("priority", text(run, "priority")),
        ("flow", text(run, "flow")),
        ("user", text(run, "user_id")),
        ("triggered by", text(run, "triggered_by")),
        ("requests", resources(run)),
        ("enqueued", time(run, "enqueued_at")),
        ("admitted", time(run, "admitted_at")),
        ("started", time(run, "started_at")),
        ("finished", time(run, "finished_at")),
        ("attempt", attempt),
        ("worker", text(run, "worker_id")),
        ("exit code", text(run, "exit_code")),
        ("message", text(run, "message")),
    ]);
    let attempts = run.get("attempts").and_then(Value::as_array).cloned().unwrap_or_default();
    if !attempts.is_empty() {
        println!("\nattempts:");
        let mut t = Table::new(&["#", "WORKER", "STARTED", "FINISHED", "OUTCOME", "EXIT"]);
        for a in &attempts {
            t.row(vec![
                text(a, "number"),
                text(a, "worker_id"),
                time(a, "started_at"),
                time(a, "finished_at"),
                text(a, "outcome"),
                text(a, "exit_code"),
            ]);
        }
        t.print();
    }
    let events = run.get("events").and_then(Value::as_array).cloned().unwrap_or_default();
    if !events.is_empty() {
        println!("\ntimeline:");
        let mut t = Table::new(&["AT", "EVENT", "BY", "MESSAGE"]);
        for e in &events {
            t.row(vec![time(e, "at"), text(e, "kind"), text(e, "actor"), text(e, "message")]);
        }
        t.print();
    }
}

/// `berth logs ID [--follow]`: stdout to stdout, stderr to stderr. With `--json`, the API's body,
/// or with `--follow` one `{"stream", "data"}` line per new chunk.
pub async fn logs(args: LogsArgs) -> Result<()> {
    let api = Api::new(&args.client)?;
    let path = format!("/api/v1/runs/{}/logs", args.id);
    if !args.follow {
        let logs = api.get(&path, &[]).await?;
        if args.client.json {
            print_json(&logs);
        } else {
            emit("stdout", &text_of(&logs, "stdout"), false);
            emit("stderr", &text_of(&logs, "stderr"), false);
        }
        return Ok(());
    }
    let (mut out_seen, mut err_seen) = (0usize, 0usize);
    loop {
        // The state first: when it was terminal before the logs were read, they are complete.
        let run = api.get(&format!("/api/v1/runs/{}", args.id), &[]).await?;
        let logs = api.get(&path, &[]).await?;
        for (stream, seen) in [("stdout", &mut out_seen), ("stderr", &mut err_seen)] {
            let all = text_of(&logs, stream);
            // A log only grows; should it shrink (retention cleaned it), start over quietly.
            let new = all.get(*seen..).unwrap_or("");
            emit(stream, new, args.client.json);
            *seen = all.len();
        }
        if is_terminal(&text(&run, "state")) {
            return Ok(());
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

fn text_of(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_string()
}

fn emit(stream: &str, data: &str, json: bool) {
    if data.is_empty() {
        return;
    }
    if json {
        println!("{}", json!({ "stream": stream, "data": data }));
    } else if stream == "stderr" {
        eprint!("{data}");
        let _ = std::io::stderr().flush();
    } else {
        print!("{data}");
        let _ = std::io::stdout().flush();
    }
}

/// `berth download ID [-o FILE]`: the result zip, whatever the outcome.
pub async fn download(args: DownloadArgs) -> Result<()> {
    let api = Api::new(&args.client)?;
    let zip = api.get_bytes(&format!("/api/v1/runs/{}/result", args.id)).await?;
    let path = args.output.unwrap_or_else(|| PathBuf::from(format!("berth-run-{}.zip", args.id)));
    if path.as_os_str() == "-" {
        std::io::stdout().write_all(&zip).map_err(|source| Error::File { path: "stdout".into(), source })?;
        return Ok(());
    }
    std::fs::write(&path, &zip).map_err(|source| Error::File { path: path.display().to_string(), source })?;
    if args.client.json {
        print_json(&json!({ "id": args.id, "path": path.display().to_string(), "bytes": zip.len() }));
    } else {
        println!("run {}: {} bytes written to {}", args.id, zip.len(), path.display());
    }
    Ok(())
}

/// `berth cancel ID`.
pub async fn cancel(args: IdArgs) -> Result<()> {
    let api = Api::new(&args.client)?;
    let run = api.post(&format!("/api/v1/runs/{}/cancel", args.id)).await?;
    if args.client.json {
        print_json(&run);
    } else if text(&run, "state") == "cancelled" {
        println!("run {} cancelled", args.id);
    } else {
        println!("run {}: cancellation requested; it is {} and stops shortly", args.id, text(&run, "state"));
    }
    Ok(())
}

/// `berth why ID`: the sentence, the position, and each blocking scope and dimension.
pub async fn why(args: IdArgs) -> Result<()> {
    let api = Api::new(&args.client)?;
    let why = api.get(&format!("/api/v1/runs/{}/why", args.id), &[]).await?;
    if args.client.json {
        print_json(&why);
        return Ok(());
    }
    println!("run {} is {}: {}", text(&why, "id"), text(&why, "state"), text(&why, "message"));
    let record = why.get("record").unwrap_or(&Value::Null);
    if let Some(position) = record.get("position").and_then(Value::as_u64) {
        println!("position {position} in its queue (as of {})", time(record, "evaluated_at"));
    }
    let scopes = record.get("scopes").and_then(Value::as_array).cloned().unwrap_or_default();
    if !scopes.is_empty() {
        let mut t = Table::new(&["SCOPE", "DIMENSION", "REQUESTED", "AVAILABLE", "SHORTFALL"]);
        for s in &scopes {
            t.row(vec![
                scope_words(s.get("scope").unwrap_or(&Value::Null)),
                s.get("dimension").and_then(Value::as_str).unwrap_or("count").to_string(),
                text(s, "requested"),
                text(s, "available"),
                text(s, "shortfall"),
            ]);
        }
        t.print();
    }
    Ok(())
}

/// A scope record (`{"namespace": {"namespace": "etl"}}`) in words: `namespace etl`.
pub fn scope_words(scope: &Value) -> String {
    match scope.as_object().and_then(|o| o.iter().next()) {
        Some((kind, fields)) => {
            let parts: Vec<String> = fields
                .as_object()
                .map(|f| f.iter().map(|(k, v)| format!("{k} {}", cell(v))).collect())
                .unwrap_or_default();
            match kind.as_str() {
                "namespace" => format!("quota of {}", parts.join(" ")),
                "user_service" => format!("run limit of {}", parts.join(", ")),
                "pool" => format!("workers of {}", parts.join(" ")),
                other => format!("{other} {}", parts.join(", ")),
            }
        }
        None => cell(scope),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_read_as_words() {
        assert_eq!(scope_words(&json!({"namespace": {"namespace": "etl"}})), "quota of namespace etl");
        assert_eq!(scope_words(&json!({"pool": {"service": "spark"}})), "workers of service spark");
        assert_eq!(
            scope_words(&json!({"user_service": {"service": "spark", "user": "7"}})),
            "run limit of service spark, user 7"
        );
    }

    #[test]
    fn terminal_states_are_the_domain_s() {
        assert!(is_terminal("succeeded") && is_terminal("cancelled") && is_terminal("cleaned"));
        assert!(!is_terminal("queued") && !is_terminal("running") && !is_terminal("nonsense"));
    }
}
