//! Sandbox probes: jobs that try to reach what they must not (the worker's environment, other
//! runs' folders, berth's data and database) or to outgrow their limits, run by the real worker
//! on a real Postgres. Each probe is refused or contained, and the worker runs the next job.
//!
//! The probes need root (a worker that is not root runs jobs as itself: nothing to probe); as
//! another user they pass without checking anything and say so.

mod common;

use std::time::Duration;

use berth::config::Config;
use berth::domain::NetworkMode;
use common::{TestApp, gate_path, test_config, wait_for};

/// A variable only the worker's environment holds.
const SECRET_NAME: &str = "BERTH_SANDBOX_PROBE_SECRET";
const SECRET_VALUE: &str = "s3cret-only-the-worker-knows";

fn is_root() -> bool {
    let root = nix::unistd::Uid::effective().is_root();
    if !root {
        eprintln!("not root: the sandbox probes are skipped (jobs run as the worker itself)");
    }
    root
}

/// Test configuration whose jobs run as uids `first..first+8`, apart from other tests' jobs
/// (per-uid process limits would otherwise count another test's jobs).
fn config(first: u32) -> Config {
    let mut c = test_config();
    c.worker.run_as_uids = format!("{first}-{}", first + 7);
    c
}

/// The run's (stdout, stderr).
async fn logs(app: &TestApp, id: i64) -> (String, String) {
    let (_, logs) = app.get_json(&format!("/api/v1/runs/{id}/logs")).await;
    (logs["stdout"].as_str().unwrap_or("").to_string(), logs["stderr"].as_str().unwrap_or("").to_string())
}

/// Waits for run `id` to end; returns its state, message and (stdout, stderr).
async fn finish(app: &TestApp, id: i64) -> (String, String, String, String) {
    let state = app.wait_terminal(id).await;
    let (_, run) = app.get_json(&format!("/api/v1/runs/{id}")).await;
    let message = run["message"].as_str().unwrap_or("").to_string();
    let (out, err) = logs(app, id).await;
    (state, message, out, err)
}

/// The port of the database the app uses.
fn db_port(app: &TestApp) -> u16 {
    let after_host = app.database_url.rsplit('@').next().unwrap();
    after_host.split(':').nth(1).unwrap().split('/').next().unwrap().parse().unwrap()
}

/// Processes whose real uid is `uid`.
fn processes_of(uid: u32) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().chars().all(|c| c.is_ascii_digit()))
        .filter(|e| {
            let status = std::fs::read_to_string(e.path().join("status")).unwrap_or_default();
            status.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some(&uid.to_string()))
        })
        .count()
}

#[tokio::test]
async fn a_job_is_unprivileged_has_a_clean_environment_and_cannot_reach_the_worker() {
    if !is_root() {
        return;
    }
    // SAFETY: set once before this test starts its services; the other tests of this binary read
    // the environment only through std::env, which serialises access with its own lock.
    unsafe { std::env::set_var(SECRET_NAME, SECRET_VALUE) };
    let app = TestApp::spawn_all(config(61100)).await;
    let data = common::cluster_dir().await.unwrap_or_else(|| "/nonexistent".into());
    let script = format!(
        "echo \"uid=$(id -u) gid=$(id -g) groups=$(id -G)\"\n\
         env | sort > env.txt\n\
         cat /proc/{worker}/environ > /dev/null 2>&1 && echo environ=read || echo environ=refused\n\
         ls {scratch} > /dev/null 2>&1 && echo scratch=listed || echo scratch=refused\n\
         ls {data} > /dev/null 2>&1 && echo data=listed || echo data=refused\n\
         cat {data}/pg/pg_hba.conf > /dev/null 2>&1 && echo hba=read || echo hba=refused\n\
         stat -c 'home=%a %u' \"$HOME\"\n\
         touch \"$TMPDIR/scratch-file\" && echo tmp=writable\n\
         echo kept > out.txt\n",
        worker = std::process::id(),
        scratch = app.scratch().display(),
        data = data.display(),
    );
    let id = app.submit_script(&script, "1").await;
    let (state, message, out, err) = finish(&app, id).await;
    assert_eq!(state, "succeeded", "{message}\n{out}\n{err}");
    assert!(out.contains("uid=61100 gid=61100 groups=61100\n"), "one unprivileged uid, no other group: {out}");
    for line in ["environ=refused", "scratch=refused", "data=refused", "hba=refused", "home=700 61100", "tmp=writable"]
    {
        assert!(out.contains(line), "{line} expected in:\n{out}\n{err}");
    }
    let res = app.http.get(app.url(&format!("/download/{id}"))).send().await.unwrap();
    let zip = res.bytes().await.unwrap();
    let env = common::zip_read(&zip, "env.txt");
    assert!(!env.contains(SECRET_VALUE) && !env.contains(SECRET_NAME), "the worker's secret leaked:\n{env}");
    assert!(env.contains("PATH=/usr/local/bin:/usr/bin:/bin\n"), "{env}");
    assert!(env.contains(&format!("BERTH_RUN_ID={id}\n")), "{env}");
    let names: Vec<&str> = env.lines().filter_map(|l| l.split_once('=').map(|(k, _)| k)).collect();
    for name in &names {
        let bash_own = ["PWD", "SHLVL", "_", "OLDPWD"];
        assert!(
            ["PATH", "HOME", "TMPDIR", "BERTH_RUN_ID"].contains(name) || bash_own.contains(name),
            "{name} was inherited: {env}"
        );
    }
    let mut files = common::zip_names(&zip);
    files.sort();
    assert_eq!(files, ["env.txt", "out.txt", "run.sh"], "TMPDIR is not a result");
    app.stop().await;
}

#[tokio::test]
async fn a_job_cannot_reach_another_runs_folder_while_it_runs_or_after() {
    if !is_root() {
        return;
    }
    let app = TestApp::spawn_all(config(61110)).await;
    let gate = gate_path("sandbox-neighbour");
    let script_a = format!(
        "echo secret-of-a > secret.txt\necho \"dir=$PWD\"\nwhile [ ! -f {} ]; do sleep 0.05; done\n",
        gate.display()
    );
    let a = app.submit_script(&script_a, "1").await;
    let a_dir = wait_for("run A to print its folder", Duration::from_secs(30), || async {
        let (out, _) = logs(&app, a).await;
        out.lines().find_map(|l| l.strip_prefix("dir=").map(str::to_string))
    })
    .await;
    let probe = format!(
        "cat {a}/secret.txt 2>/dev/null && echo read=yes || echo read=refused\n\
         ls {a} > /dev/null 2>&1 && echo list=yes || echo list=refused\n\
         for p in /proc/[0-9]*; do readlink $p/cwd; done 2>/dev/null | grep -q {a} && echo cwd=seen || echo cwd=hidden\n",
        a = a_dir
    );
    let b = app.submit_script(&probe, "2").await;
    let (state, message, out, err) = finish(&app, b).await;
    assert_eq!(state, "succeeded", "{message}\n{out}\n{err}");
    assert_eq!(out, "read=refused\nlist=refused\ncwd=hidden\n", "{err}");
    assert_eq!(app.state(a).await, "running", "B ran while A was running");

    std::fs::write(&gate, "").unwrap();
    assert_eq!(app.wait_terminal(a).await, "succeeded");
    let c = app.submit_script(&probe, "3").await;
    let (state, _, out, _) = finish(&app, c).await;
    assert_eq!(state, "succeeded");
    assert!(!out.contains("read=yes") && !out.contains("list=yes"), "A's folder after it ended: {out}");
    let _ = std::fs::remove_file(gate);
    app.stop().await;
}

#[tokio::test]
async fn limits_end_the_run_failed_naming_the_limit_and_the_worker_runs_the_next_job() {
    if !is_root() {
        return;
    }
    let first = 61120;
    let mut config = config(first);
    config.worker.max_processes = 64;
    let svc = config.services.get_mut("example").unwrap();
    svc.storage = 1;
    svc.memory = 64;
    svc.timeout_seconds = Some(5);
    let app = TestApp::spawn_all(config).await;

    let id = app.submit_script("head -c 5000000 /dev/zero > big.bin\necho after=$?\n", "1").await;
    let (state, message, out, _) = finish(&app, id).await;
    assert_eq!(state, "failed", "{message} {out}");
    assert!(message.contains("file size limit") && message.contains("storage request (1 MiB)"), "{message}");

    let id = app.submit_script("head -c 3000000 /dev/zero | tr '\\0' x\n", "1").await;
    let (state, message, out, _) = finish(&app, id).await;
    assert_eq!(state, "failed", "{message}");
    assert!(message.contains("output limit exceeded"), "{message}");
    assert!(out.len() <= 1024 * 1024, "logs past the storage request are not kept: {} bytes", out.len());

    let id = app.submit_script("x=$(head -c 200000000 /dev/zero | tr '\\0' a)\necho ${#x}\n", "1").await;
    let (state, message, _, err) = finish(&app, id).await;
    assert_eq!(state, "failed", "{message} {err}");
    assert!(message.contains("memory limit reached") && message.contains("64 MiB"), "{message}\n{err}");

    // `bomb` returns at once (each level backgrounds the next), so the script gives the bomb time
    // to reach the limit before it exits: with a bare `wait` it could exit first under load.
    let id = app.submit_script("bomb() { bomb | bomb & }\nbomb\nsleep 3\nexit 3\n", "1").await;
    let (state, message, _, err) = finish(&app, id).await;
    assert!(state == "timed_out" || state == "failed", "{state}: {message}");
    assert!(message.contains("process limit reached"), "{message}\n{}", &err[..err.len().min(500)]);
    wait_for("the fork bomb's processes to be gone", Duration::from_secs(15), || async {
        (0..8).all(|i| processes_of(first + i) == 0).then_some(())
    })
    .await;

    let id = app.submit_script("ulimit -c > core.txt\necho ok\n", "1").await;
    let (state, message, out, _) = finish(&app, id).await;
    assert_eq!((state.as_str(), out.as_str()), ("succeeded", "ok\n"), "the worker survives: {message}");
    let zip = app.http.get(app.url(&format!("/download/{id}"))).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(common::zip_read(&zip, "core.txt"), "0\n", "no core dumps");
    app.stop().await;
}

#[tokio::test]
async fn berths_database_refuses_a_job_on_the_host_network() {
    if !is_root() || std::env::var_os("DATABASE_URL").is_some() {
        return;
    }
    let app = TestApp::spawn_all(config(61130)).await;
    let psql = berth::dev::postgres::find_bin_dir().unwrap().join("psql");
    let pg_dir = common::cluster_dir().await.unwrap().join("pg");
    let script = format!(
        "{psql} 'host=127.0.0.1 port={port} user=berth dbname=postgres' -c 'select 1' < /dev/null\n\
         echo tcp=$?\n\
         {psql} 'host={pg_dir} port={port} user=berth dbname=postgres' -c 'select 1' < /dev/null\n\
         echo socket=$?\n",
        psql = psql.display(),
        port = db_port(&app),
        pg_dir = pg_dir.display(),
    );
    let id = app.submit_script(&script, "1").await;
    let (state, message, out, err) = finish(&app, id).await;
    assert_eq!(state, "succeeded", "{message}");
    assert!(out.contains("tcp=2\n") && out.contains("socket=2\n"), "psql must fail to connect: {out}\n{err}");
    assert!(err.contains("password"), "refused for want of the password: {err}");
    assert!(!out.contains("1 row"), "{out}");
    app.stop().await;
}

#[tokio::test]
async fn with_network_none_a_job_cannot_connect_to_the_database() {
    if !is_root() {
        return;
    }
    let mut config = config(61140);
    config.worker.network = NetworkMode::None;
    let app = TestApp::spawn_all(config).await;
    let script = format!(
        "(exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && echo tcp=connected || echo tcp=refused\n",
        port = db_port(&app)
    );
    let id = app.submit_script(&script, "1").await;
    let (state, message, out, err) = finish(&app, id).await;
    assert_eq!(state, "succeeded", "{message} {err}");
    assert_eq!(out, "tcp=refused\n");
    app.stop().await;
}

#[tokio::test]
async fn a_root_worker_without_a_user_for_its_jobs_refuses_to_start_and_says_what_to_set() {
    if !is_root() {
        return;
    }
    let url = common::fresh_database_url().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["worker", "--metrics-port", "0"])
        .env("DATABASE_URL", &url)
        .env_remove("BERTH_WORKER_RUN_AS_USER")
        .env_remove("BERTH_WORKER_RUN_AS_UIDS")
        .output()
        .expect("run berth worker");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("worker.run-as-user") && err.contains("worker.run-as-uids"), "{err}");
}

/// Live (not zombie) processes whose real uid is `uid`.
fn live_processes_of(uid: u32) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().chars().all(|c| c.is_ascii_digit()))
        .filter(|e| {
            let status = std::fs::read_to_string(e.path().join("status")).unwrap_or_default();
            let of_uid =
                status.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some(&uid.to_string()));
            of_uid && !status.lines().any(|l| l.starts_with("State:") && l.contains('Z'))
        })
        .count()
}

/// The `Uid:`, `Gid:` and `Groups:` lines of every thread of this process.
fn credentials_of_every_thread() -> Vec<String> {
    let mut out = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        let lines: Vec<&str> = status
            .lines()
            .filter(|l| l.starts_with("Uid:") || l.starts_with("Gid:") || l.starts_with("Groups:"))
            .collect();
        if !lines.is_empty() {
            out.push(lines.join(" | "));
        }
    }
    out
}

/// Jobs are started and their uids swept by children that share the worker's memory
/// (`executor::spawn`): the credentials they drop must be theirs alone, every handler and blocked
/// signal of the worker must be gone in the job, the job may gain no privilege (no_new_privs), and
/// a process that left the job's group is still killed when the run ends.
#[tokio::test]
async fn jobs_start_without_a_fork_confined_with_default_signals_and_the_worker_keeps_its_credentials() {
    if !is_root() {
        return;
    }
    let first = 61150;
    let app = TestApp::spawn_all(config(first)).await;
    let before = credentials_of_every_thread();
    assert!(before.iter().all(|c| c.starts_with("Uid:\t0\t0\t0\t0")), "{before:?}");
    let script = "grep -E '^(SigBlk|SigIgn|NoNewPrivs):' /proc/self/status\n\
                  yes | head -n 1 > /dev/null\n\
                  setsid sleep 300 < /dev/null > /dev/null 2>&1 &\n\
                  echo \"uid=$(id -u) groups=$(id -G) pgid=$(cut -d' ' -f5 /proc/$$/stat) pid=$$\"\n";
    let id = app.submit_script(script, "1").await;
    let (state, message, out, err) = finish(&app, id).await;
    assert_eq!(state, "succeeded", "{message}\n{out}\n{err}");
    assert!(out.contains("SigBlk:\t0000000000000000\n"), "the job starts with no signal blocked: {out}");
    assert!(out.contains("SigIgn:\t0000000000000000\n"), "nor ignored (SIGPIPE included): {out}");
    assert!(!err.contains("Broken pipe"), "yes died of SIGPIPE, as outside berth: {err}");
    assert!(out.contains("NoNewPrivs:\t1\n"), "no program the job runs gains a privilege: {out}");
    let line = out.lines().find(|l| l.starts_with("uid=")).unwrap_or_default();
    assert!(line.starts_with(&format!("uid={first} groups={first} ")), "{out}");
    let pid = line.rsplit("pid=").next().unwrap_or_default();
    assert!(line.contains(&format!("pgid={pid} ")), "the job leads its own process group: {line}");
    wait_for("the job's setsid process to be swept", Duration::from_secs(10), || async {
        (live_processes_of(first) == 0).then_some(())
    })
    .await;
    let after = credentials_of_every_thread();
    assert!(after.iter().all(|c| c.starts_with("Uid:\t0\t0\t0\t0") && c.contains("Gid:\t0\t0\t0\t0")), "{after:?}");
    assert!(!after.iter().any(|c| c.contains(&first.to_string())), "a worker thread took the job's ids: {after:?}");
    app.stop().await;
}

/// A uid of the range is swept before each job (a crashed worker's leftovers, or a process a
/// setuid program left in a shared folder started since) and when the job ends; a lease whose job
/// was swept is not swept again when it is dropped, one that was not is.
#[tokio::test]
async fn a_uid_is_swept_before_each_job_and_once_when_it_ends() {
    if !is_root() {
        return;
    }
    use berth::executor::sandbox::{Identity, Sandbox};
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let uid = 61160;
    let leftover = || std::process::Command::new("sleep").arg("300").uid(uid).gid(uid).spawn().unwrap();
    let sandbox = std::sync::Arc::new(Sandbox::new(Identity::Uids { first: uid, count: 1 }, NetworkMode::Host));

    let mut crashed_workers = leftover();
    let lease = sandbox.acquire().unwrap();
    assert_eq!(crashed_workers.wait().unwrap().signal(), Some(9), "swept before the job");
    let mut jobs_escapee = leftover();
    lease.sweep();
    assert_eq!(jobs_escapee.wait().unwrap().signal(), Some(9), "swept when the job ended");
    let mut after_the_sweep = leftover();
    drop(lease);
    assert_eq!(after_the_sweep.try_wait().unwrap(), None, "no second sweep as the lease ends");

    let lease = sandbox.acquire().unwrap();
    assert_eq!(after_the_sweep.wait().unwrap().signal(), Some(9), "swept before the next job");
    let mut unswept = leftover();
    drop(lease);
    assert_eq!(unswept.wait().unwrap().signal(), Some(9), "a lease ended unswept sweeps as it ends");
}
