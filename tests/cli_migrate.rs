//! The binary itself: migrations up, down, up; services refuse an out-of-date schema.

mod common;

use std::process::Command;

fn berth(args: &[&str], url: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        // Started as root, a worker refuses to start unless its jobs have a user of their own.
        .env("BERTH_WORKER_RUN_AS_UIDS", "60000-60063")
        // `berth api` refuses to start without an explicit auth setting (tests/api_auth.rs).
        .env("BERTH_AUTH_ENABLED", "false")
        .output()
        .expect("run berth")
}

#[tokio::test]
async fn migrations_go_up_down_and_up_and_services_refuse_an_old_schema() {
    let url = common::empty_database_url().await;
    for command in [
        &["api", "--port", "0", "--metrics-port", "0"][..],
        &["worker", "--metrics-port", "0"],
        &["scheduler", "--metrics-port", "0"],
    ] {
        let out = berth(command, &url);
        assert!(!out.status.success(), "{command:?} must refuse an unmigrated database");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("berth migrate"), "{command:?} says what to do: {err}");
    }
    let check = berth(&["migrate", "--check"], &url);
    assert!(!check.status.success());

    for step in [&["migrate"][..], &["migrate", "--undo"], &["migrate"], &["migrate", "--check"]] {
        let out = berth(step, &url);
        assert!(out.status.success(), "{step:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let store = berth::store::Store::connect(&url, 1).await.unwrap();
    let tables: i64 = sqlx::query_scalar(
        "select count(*) from information_schema.tables where table_name in ('runs', 'jobs', 'run_events')",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(tables, 3);
}

#[test]
fn services_without_a_database_url_say_so() {
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["api", "--metrics-port", "0"])
        .env_remove("DATABASE_URL")
        .output()
        .expect("run berth");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("DATABASE_URL is not set"));
}

/// Logs go to stderr and stdout carries only the command's result, whatever `RUST_LOG` says.
#[tokio::test]
async fn stdout_carries_the_result_and_logs_go_to_stderr() {
    let url = common::empty_database_url().await;
    for (args, result) in
        [(&["migrate"][..], "migrations applied\n"), (&["migrate", "--check"], "the schema is up to date\n")]
    {
        let out = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(args)
            .env("DATABASE_URL", &url)
            .env("RUST_LOG", "debug")
            .output()
            .expect("run berth");
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let start: String = stdout.chars().take(300).collect();
        assert!(stdout == result, "{args:?}: stdout must be {result:?} alone; it starts with {start:?}");
        let logs = String::from_utf8_lossy(&out.stderr);
        assert!(logs.contains("DEBUG"), "{args:?}: the debug logs went to stderr: {logs}");
    }
}
