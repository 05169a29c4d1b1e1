//! The admission commit does not wait for the WAL flush (`synchronous_commit = off` for that
//! transaction only, admission/admit.sql). These tests crash PostgreSQL (immediate shutdown: what
//! is not written out of its WAL buffers is gone, as after a power cut) right after an admission
//! and check the two facts that make that safe (docs/state_machine.md, "Durability"): a lost
//! admission leaves its run `queued`, with no trace, for the next leader to admit again; and a
//! claim that survives the crash brings its admission with it, because the claim's synchronous
//! commit flushes the WAL up to its own commit record.
//!
//! Each test runs its own server with `wal_writer_delay = 10s`, so the WAL writer does not flush
//! the admission behind the test's back in the few milliseconds before the crash.

mod common;

use std::time::Duration;

use berth::dev::postgres::{EmbeddedPostgres, Options};
use berth::store::{RunId, Store, WorkerId};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// A private server for one test, in `dir`, on `port` (`None`: a free one).
async fn start(dir: &std::path::Path, port: Option<u16>) -> (EmbeddedPostgres, Store) {
    let settings = [("wal_writer_delay", "10s")];
    let pg = EmbeddedPostgres::start(Options {
        data_dir: dir.to_path_buf(),
        port,
        extra_settings: settings.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    })
    .await
    .expect("start a private Postgres");
    let store = Store::connect(&pg.url("postgres"), 4).await.expect("connect");
    store.migrate_run().await.expect("migrate");
    (pg, store)
}

/// Immediate shutdown (SIGQUIT to the postmaster): no checkpoint, the WAL buffers are lost; then
/// a restart, which replays the WAL that reached the disk.
async fn crash_and_restart(dir: &std::path::Path, pg: EmbeddedPostgres, store: Store) -> (EmbeddedPostgres, Store) {
    let port = pg.port();
    let pid = pg.pid().expect("running");
    kill(Pid::from_raw(i32::try_from(pid).unwrap()), Signal::SIGQUIT).expect("SIGQUIT");
    pg.stop().await.expect("reap the crashed server");
    drop(store);
    start(dir, Some(port)).await
}

/// A priority-flow run and a live worker with room for it.
async fn queued_run(store: &Store) -> (RunId, WorkerId) {
    common::create_namespace(store, "default", 1000).await;
    let worker = common::register_example_worker(store).await;
    (store.run_submit(common::priority_submit()).await.unwrap(), worker)
}

async fn admit(store: &Store) -> Vec<RunId> {
    common::admit_once(store, "durability").await
}

async fn claim(store: &Store, worker: WorkerId) -> Vec<RunId> {
    common::claim_example(store, worker).await.into_iter().map(|r| r.id).collect()
}

/// The run's state and its timeline's kinds, oldest first.
async fn state_and_events(store: &Store, run: RunId) -> (String, Vec<String>) {
    let state: String =
        sqlx::query_scalar("select state from runs where id = $1").bind(run).fetch_one(store.pool()).await.unwrap();
    let events = store.run_events(run).await.unwrap().into_iter().map(|e| e.kind).collect();
    (state, events)
}

/// Whether WAL that was inserted has not been written out of the server's buffers yet (what an
/// immediate shutdown loses).
async fn wal_unwritten(store: &Store) -> bool {
    sqlx::query_scalar("select pg_current_wal_insert_lsn() > pg_current_wal_lsn()")
        .fetch_one(store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn an_admission_a_crash_forgets_leaves_its_run_queued_for_the_next_leader() {
    let dir = tempfile::tempdir().unwrap();
    let (pg, store) = start(dir.path(), None).await;
    let (run, worker) = queued_run(&store).await;
    assert_eq!(admit(&store).await, vec![run]);
    // The submit committed synchronously; the admission did not wait for its WAL.
    assert!(wal_unwritten(&store).await, "the admission's commit waited for its WAL to be written");

    let (pg, store) = crash_and_restart(dir.path(), pg, store).await;
    let (state, events) = state_and_events(&store, run).await;
    // The WAL writer runs every 10 s here: it flushes the admission before the crash only if it
    // happened to wake in between. Either way the run is consistent with its timeline.
    eprintln!("run {run} after the crash: {state}, events {events:?}");
    match state.as_str() {
        "queued" => assert_eq!(events, ["submitted"], "a lost admission leaves no trace"),
        "admitted" => assert_eq!(events, ["submitted", "admitted"]),
        other => panic!("run {run} is {other} after the crash"),
    }
    if state == "queued" {
        assert_eq!(admit(&store).await, vec![run], "the next leader admits it again");
    }
    assert_eq!(claim(&store, worker).await, vec![run]);
    let (state, events) = state_and_events(&store, run).await;
    assert_eq!((state.as_str(), events), ("running", vec!["submitted".into(), "admitted".into(), "started".into()]));
    let attempts: i64 = sqlx::query_scalar("select count(*) from attempts_seen where run_id = $1")
        .bind(run)
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(attempts, 1, "one attempt");
    drop(store);
    pg.stop().await.unwrap();
}

#[tokio::test]
async fn a_claim_that_survives_a_crash_brings_its_admission_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let (pg, store) = start(dir.path(), None).await;
    let (run, worker) = queued_run(&store).await;
    assert_eq!(admit(&store).await, vec![run]);
    assert!(wal_unwritten(&store).await, "the admission's commit waited for its WAL to be written");
    // The claim commits synchronously: it returns once the WAL is flushed up to its own commit
    // record, which comes after the admission's.
    assert_eq!(claim(&store, worker).await, vec![run]);

    let (pg, store) = crash_and_restart(dir.path(), pg, store).await;
    let (state, events) = state_and_events(&store, run).await;
    assert_eq!((state.as_str(), events), ("running", vec!["submitted".into(), "admitted".into(), "started".into()]));
    let admitted_at: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("select admitted_at from runs where id = $1")
            .bind(run)
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert!(admitted_at.is_some(), "the admission is durable with the claim");
    drop(store);
    tokio::time::timeout(Duration::from_secs(30), pg.stop()).await.expect("stop in time").unwrap();
}
