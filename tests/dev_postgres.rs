//! Tests of the embedded PostgreSQL launcher against the real server binaries.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use berth::dev::postgres::{EmbeddedPostgres, Error, Options, find_bin_dir};
use sqlx::{Connection, PgConnection};
use tokio::io::{AsyncBufReadExt, BufReader};

const DEATH_HELPER_ENV: &str = "PGLAUNCH_DEATH_HELPER_DIR";
const DEADLINE: Duration = Duration::from_secs(30);

/// A 0700 temporary directory (like `mktemp -d`) inside this crate's target dir.
fn tempdir() -> tempfile::TempDir {
    let private = std::os::unix::fs::PermissionsExt::from_mode(0o700);
    tempfile::Builder::new().prefix("pg-").permissions(private).tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

fn opts(dir: &Path) -> Options {
    let fast = [("fsync", "off"), ("synchronous_commit", "off"), ("full_page_writes", "off")];
    Options {
        data_dir: dir.to_path_buf(),
        port: None,
        extra_settings: fast.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    }
}

fn postmaster_pid(data_dir: &Path) -> i32 {
    let text = std::fs::read_to_string(data_dir.join("pg/postmaster.pid")).unwrap();
    text.lines().next().unwrap().trim().parse().unwrap()
}

/// Alive and not a zombie.
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| !stat.rsplit(')').next().unwrap().trim_start().starts_with('Z'))
}

async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn connect(pg: &EmbeddedPostgres) -> PgConnection {
    PgConnection::connect(&pg.url("postgres")).await.unwrap()
}

#[tokio::test]
async fn start_query_extension_stop() {
    let dir = tempdir();
    let pg = EmbeddedPostgres::start(opts(dir.path())).await.unwrap();
    assert!(pg.url("postgres").starts_with("postgres://berth:"));
    assert!(pg.url("postgres").ends_with(&format!("@127.0.0.1:{}/postgres", pg.port())));
    let pid = postmaster_pid(dir.path());
    assert!(alive(pid));
    let mut conn = connect(&pg).await;
    let one: i32 = sqlx::query_scalar("select 1").fetch_one(&mut conn).await.unwrap();
    assert_eq!(one, 1);
    sqlx::query("create extension if not exists pg_trgm").execute(&mut conn).await.unwrap();
    let sim: f32 = sqlx::query_scalar("select similarity('berth', 'birth')").fetch_one(&mut conn).await.unwrap();
    assert!(sim > 0.0);
    let settings: (String, String) =
        sqlx::query_as("select current_setting('fsync'), current_setting('max_connections')")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(settings, ("off".to_string(), "200".to_string()));
    conn.close().await.unwrap();
    pg.stop().await.unwrap();
    assert!(!alive(pid), "postmaster {pid} still alive after stop");
    assert!(!dir.path().join("pg/postmaster.pid").exists());
    let log = std::fs::read_to_string(dir.path().join("pg/postgres.log")).unwrap();
    assert!(log.contains("database system is shut down"), "{log}");
}

#[tokio::test]
async fn restart_reuses_data() {
    let dir = tempdir();
    let pg = EmbeddedPostgres::start(opts(dir.path())).await.unwrap();
    let mut conn = connect(&pg).await;
    sqlx::query("create table kept (x int)").execute(&mut conn).await.unwrap();
    sqlx::query("insert into kept values (42)").execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    pg.stop().await.unwrap();

    let pg = EmbeddedPostgres::start(opts(dir.path())).await.unwrap();
    let mut conn = connect(&pg).await;
    let x: i32 = sqlx::query_scalar("select x from kept").fetch_one(&mut conn).await.unwrap();
    assert_eq!(x, 42);
    conn.close().await.unwrap();
    pg.stop().await.unwrap();
}

/// Run as a child process by `server_dies_with_its_owner`; a no-op otherwise.
#[tokio::test]
async fn death_helper() {
    let Some(dir) = std::env::var_os(DEATH_HELPER_ENV) else { return };
    let dir = PathBuf::from(dir);
    let pg = EmbeddedPostgres::start(opts(&dir)).await.unwrap();
    println!("READY {} {}", pg.port(), postmaster_pid(&dir));
    std::future::pending::<()>().await;
}

#[tokio::test]
async fn server_dies_with_its_owner() {
    let dir = tempdir();
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "death_helper", "--nocapture", "--test-threads=1"])
        .env(DEATH_HELPER_ENV, dir.path())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(DEADLINE, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            // The harness prints "test death_helper ... " on the same line.
            if let Some((_, rest)) = line.split_once("READY ") {
                return rest.to_string();
            }
        }
        panic!("helper exited without starting PostgreSQL");
    })
    .await
    .expect("helper did not start PostgreSQL in time");
    let (port, pid) = ready.split_once(' ').unwrap();
    let (port, pid): (u16, i32) = (port.parse().unwrap(), pid.parse().unwrap());
    assert!(alive(pid));
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());

    child.kill().await.unwrap(); // SIGKILL: no destructor or signal handler of the helper runs
    wait_until("the orphaned postmaster exits", || !alive(pid)).await;
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());

    // It shut down cleanly, so the cluster starts again right away.
    let pg = EmbeddedPostgres::start(opts(dir.path())).await.unwrap();
    pg.stop().await.unwrap();
}

/// The parent-death signal follows the forking *thread*: a runtime (and thread) that goes away
/// after `start` must not take the server with it.
#[test]
fn server_outlives_the_thread_that_started_it() {
    let dir = tempdir();
    let data = dir.path().to_path_buf();
    let start = move || tokio::runtime::Runtime::new().unwrap().block_on(EmbeddedPostgres::start(opts(&data)));
    let pg = std::thread::spawn(start).join().unwrap().unwrap();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let mut conn = connect(&pg).await;
        sqlx::query("select pg_sleep(0.2)").execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
        let log = std::fs::read_to_string(dir.path().join("pg/postgres.log")).unwrap();
        assert!(!log.contains("shutdown request"), "{log}");
        pg.stop().await.unwrap();
    });
}

#[tokio::test]
async fn stale_pid_file_is_removed_and_live_one_refused() {
    let dir = tempdir();
    EmbeddedPostgres::start(opts(dir.path())).await.unwrap().stop().await.unwrap();
    let pid_file = dir.path().join("pg/postmaster.pid");

    // A pid that is certainly gone: a child we have already reaped.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = gone.id();
    gone.wait().unwrap();
    // Our own pid is alive but not a postgres process: a pid reused after a crash or reboot.
    for stale in [dead_pid, std::process::id()] {
        std::fs::write(&pid_file, format!("{stale}\n{}\n", dir.path().join("pg").display())).unwrap();
        let pg = EmbeddedPostgres::start(opts(dir.path())).await.unwrap();
        assert_ne!(postmaster_pid(dir.path()), stale as i32);
        pg.stop().await.unwrap();
    }

    let first = EmbeddedPostgres::start(opts(dir.path())).await.unwrap();
    let running = postmaster_pid(dir.path());
    match EmbeddedPostgres::start(opts(dir.path())).await {
        Err(Error::DataDirInUse { pid }) => assert_eq!(pid, running),
        other => panic!("expected DataDirInUse, got {other:?}"),
    }
    let mut conn = connect(&first).await; // the refused start left the running server alone
    sqlx::query("select 1").execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    first.stop().await.unwrap();
}

#[tokio::test]
async fn fixed_port_is_used() {
    let dir = tempdir();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut options = Options { port: Some(port), ..opts(dir.path()) };
    options.extra_settings.push(("max_connections".into(), "50".into())); // overrides the default 200
    let pg = EmbeddedPostgres::start(options).await.unwrap();
    assert_eq!(pg.port(), port);
    let mut conn = connect(&pg).await;
    let max: String =
        sqlx::query_scalar("select current_setting('max_connections')").fetch_one(&mut conn).await.unwrap();
    assert_eq!(max, "50");
    conn.close().await.unwrap();

    // A second cluster on the same port fails with the server's own words.
    let other = tempdir();
    match EmbeddedPostgres::start(Options { port: Some(port), ..opts(other.path()) }).await {
        Err(Error::Start(msg)) => assert!(msg.contains("could not bind") || msg.contains("in use"), "{msg}"),
        res => panic!("expected a start error, got {res:?}"),
    }
    pg.stop().await.unwrap();
}

#[tokio::test]
async fn dropping_without_stop_shuts_down() {
    let dir = tempdir();
    let pg = EmbeddedPostgres::start(opts(dir.path())).await.unwrap();
    let pid = postmaster_pid(dir.path());
    drop(pg);
    wait_until("the dropped server exits", || !alive(pid)).await;
}

#[tokio::test]
async fn unreachable_ancestor_is_reported_when_root() {
    if !nix::unistd::Uid::effective().is_root() {
        return;
    }
    let dir = tempdir(); // 0700 root: the server user cannot pass through it
    let data = dir.path().join("nested/berth");
    match EmbeddedPostgres::start(opts(&data)).await {
        Err(Error::Start(msg)) => assert!(msg.contains(&dir.path().display().to_string()), "{msg}"),
        res => panic!("expected a start error, got {res:?}"),
    }
}

#[test]
fn finds_installed_server() {
    assert_eq!(find_bin_dir().unwrap(), Path::new("/usr/lib/postgresql/15/bin"));
}

/// The URL without its password.
fn without_password(pg: &EmbeddedPostgres) -> String {
    format!("postgres://berth@127.0.0.1:{}/postgres", pg.port())
}

#[tokio::test]
async fn only_the_password_berth_keeps_opens_a_connection() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempdir();
    let pg = EmbeddedPostgres::start(opts(dir.path())).await.unwrap();
    let err = PgConnection::connect(&without_password(&pg)).await.unwrap_err();
    assert!(err.to_string().contains("password"), "{err}");
    let wrong = pg.url("postgres").replace("berth:", "berth:0000");
    assert!(PgConnection::connect(&wrong).await.is_err(), "a wrong password is refused");
    connect(&pg).await.close().await.unwrap();
    let file = dir.path().join(berth::dev::postgres::PASSWORD_FILE);
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(pg.url("postgres").contains(std::fs::read_to_string(&file).unwrap().trim()));
    assert!(!pg.url_redacted("postgres").contains(std::fs::read_to_string(&file).unwrap().trim()));
    pg.stop().await.unwrap();

    // A cluster made before passwords (trust, no password file) gets one on its next start.
    std::fs::write(dir.path().join("pg/pg_hba.conf"), "local all all trust\nhost all all 127.0.0.1/32 trust\n")
        .unwrap();
    std::fs::remove_file(&file).unwrap();
    let pg = EmbeddedPostgres::start(opts(dir.path())).await.unwrap();
    connect(&pg).await.close().await.unwrap();
    wait_until("the reloaded server to require the password", || {
        std::fs::read_to_string(dir.path().join("pg/pg_hba.conf")).unwrap().contains("scram-sha-256")
    })
    .await;
    let deadline = Instant::now() + DEADLINE;
    while PgConnection::connect(&without_password(&pg)).await.is_ok() {
        assert!(Instant::now() < deadline, "the old cluster still trusts connections without the password");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    pg.stop().await.unwrap();
}
