//! The bench's own statements (`bench/sql/`) on a real Postgres: a private one this test starts
//! (as `berth-bench` does), or a fresh database on the server of `DATABASE_URL`.

use berth::dev::postgres::{EmbeddedPostgres, Options};
use berth::domain::Sharing;
use berth::resources::Resources;
use berth::store::batch::SubmitBatchParams;
use berth::store::lists::{JobFilter, RunFilter};
use berth::store::{RunId, Store};
use berth_bench::db;
use sqlx::{Connection, PgConnection};

/// A legacy-flow batch (admitted on insert) of one run per user in `namespace`.
fn batch(namespace: &str, users: &[&str]) -> SubmitBatchParams {
    SubmitBatchParams {
        name: "bulk".into(),
        service: "example".into(),
        namespace: namespace.into(),
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

/// Where the test database lives: a private server, or a database of its own on `DATABASE_URL`'s.
enum Server {
    Private(EmbeddedPostgres),
    Shared { base: String, name: String },
}

impl Server {
    /// Stops the private server, or drops the test's database on the shared one.
    async fn clean_up(self) {
        match self {
            Server::Private(pg) => pg.stop().await.expect("stop the private Postgres"),
            Server::Shared { base, name } => {
                let statement = format!("drop database if exists {name} with (force)");
                admin(&base, statement).await;
            }
        }
    }
}

async fn admin(base: &str, statement: String) {
    let mut admin = PgConnection::connect(&format!("{base}/postgres")).await.expect("admin connection");
    sqlx::query(sqlx::AssertSqlSafe(statement)).execute(&mut admin).await.expect("admin statement");
}

/// A migrated, empty database, and the server holding it.
async fn database(dir: &std::path::Path) -> (Store, Server) {
    let (url, server) = match std::env::var("DATABASE_URL") {
        Ok(url) => {
            let base = url[..url.rfind('/').expect("DATABASE_URL names a database")].to_string();
            let name = format!("berth_bench_test_{}", std::process::id());
            admin(&base, format!("drop database if exists {name} with (force)")).await;
            admin(&base, format!("create database {name}")).await;
            (format!("{base}/{name}"), Server::Shared { base, name })
        }
        Err(_) => {
            let settings = [("fsync", "off"), ("synchronous_commit", "off")];
            let pg = EmbeddedPostgres::start(Options {
                data_dir: dir.to_path_buf(),
                port: None,
                extra_settings: settings.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            })
            .await
            .expect("start a private Postgres");
            (pg.url("postgres"), Server::Private(pg))
        }
    };
    let store = berth::dev::connect_and_migrate(&url).await.expect("migrated database");
    let quota = Resources { cpu: 1000, memory: 1000, pods: 1000, storage: 1000 };
    let namespaces = [("default".to_string(), quota, Sharing::Fifo), ("elsewhere".to_string(), quota, Sharing::Fifo)];
    store.namespace_create_missing(&namespaces).await.expect("namespaces");
    (store, server)
}

/// One test, one server: every statement of `bench/sql/` in the order a measurement runs them.
#[tokio::test]
async fn the_bench_statements_on_a_real_postgres() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, server) = database(dir.path()).await;

    assert!(!db::any_runs(&store).await.unwrap(), "a fresh database holds no runs");
    let settings = db::settings(&store).await.unwrap();
    assert!(settings.iter().any(|(name, _)| name == "server_version"), "{settings:?}");
    assert!(!db::pending(&store).await.unwrap());

    the_history_fill_leaves_what_a_finished_run_leaves(&store).await;
    db::reset(&store).await.unwrap();
    the_lists_fill_makes_the_tables_it_describes(&store).await;
    db::reset(&store).await.unwrap();
    assert!(!db::any_runs(&store).await.unwrap(), "reset empties the runs");

    let ids = store.run_submit_batch(&batch("default", &["1", "2"])).await.unwrap();
    assert_eq!(ids[0], RunId(1), "reset restarts the identities");
    assert!(db::any_runs(&store).await.unwrap());
    assert!(db::pending(&store).await.unwrap(), "admitted runs are pending");
    assert_eq!(db::pending_from(&store, ids[1]).await.unwrap(), 1);
    let window = db::window(&store, ids[0]).await.unwrap();
    assert_eq!((window.last_finish, window.succeeded), (None, 0));

    assert_eq!(db::finish_history(&store, "default").await.unwrap(), 2);
    assert!(!db::pending(&store).await.unwrap());
    assert_eq!(db::pending_from(&store, ids[0]).await.unwrap(), 0);
    let window = db::window(&store, ids[0]).await.unwrap();
    assert_eq!(window.succeeded, 2);
    assert!(window.last_finish.is_some_and(|at| at <= window.now));
    let timings = db::timings(&store, ids[0]).await.unwrap();
    assert_eq!(timings.iter().map(|t| t.id).collect::<Vec<_>>(), ids);
    assert!(timings.iter().all(|t| t.state == "succeeded" && t.start_ms.is_some() && t.finish_ms.is_some()));

    db::reset(&store).await.unwrap();
    store.pool().close().await;
    server.clean_up().await;
}

/// The fill of `--scenario history` leaves what a run that ran leaves (its four events, one ended
/// attempt, a succeeded state), and only for the admitted runs of its namespace.
async fn the_history_fill_leaves_what_a_finished_run_leaves(store: &Store) {
    let ids = store.run_submit_batch(&batch("default", &["1", "2"])).await.unwrap();
    let untouched = store.run_submit_batch(&batch("elsewhere", &["3"])).await.unwrap();

    assert_eq!(db::finish_history(store, "default").await.unwrap(), 2);
    for &id in &ids {
        let run = store.run_get(id).await.unwrap().unwrap();
        assert_eq!(run.state.as_str(), "succeeded");
        let kinds: Vec<String> = store.run_events(id).await.unwrap().into_iter().map(|e| e.kind).collect();
        assert_eq!(kinds, ["submitted", "admitted", "started", "succeeded"]);
        let attempts = store.attempt_list(id).await.unwrap();
        assert_eq!(attempts.len(), 1);
        assert_eq!((attempts[0].number, attempts[0].outcome.map(|o| o.as_str())), (1, Some("succeeded")));
        assert!(attempts[0].finished_at.is_some());
    }
    let other = store.run_get(untouched[0]).await.unwrap().unwrap();
    assert_eq!(other.state.as_str(), "admitted", "another namespace is left alone");
    assert_eq!(db::finish_history(store, "default").await.unwrap(), 0, "nothing left to finish");
    db::vacuum(store).await.unwrap();
}

/// The fill of `--scenario lists` at a tiny size: the stored and one-off jobs it says, one run per
/// one-off job and the rest over stored jobs created before them, ids in enqueue order across
/// slices, only finished states, a user whose runs are all old, and sequences past its ids.
async fn the_lists_fill_makes_the_tables_it_describes(store: &Store) {
    let fill = db::ListsFill {
        jobs: 100,
        stored: 10,
        runs: 150,
        users: 5,
        namespaces: vec!["default".into(), "elsewhere".into()],
        seed: 5,
        end: chrono::Utc::now() - chrono::Duration::hours(1),
        span_seconds: 365.0 * 24.0 * 3600.0,
    };
    assert_eq!(db::fill_jobs(store, &fill, 1, 60).await.unwrap(), 60);
    assert_eq!(db::fill_jobs(store, &fill, 61, 100).await.unwrap(), 40);
    let mut runs = 0;
    for slice in 1..=3 {
        runs += db::fill_runs(store, &fill, slice, 3).await.unwrap();
    }
    assert_eq!(runs, 150);
    db::fill_sequences(store, fill.jobs, fill.runs).await.unwrap();
    db::vacuum_lists(store).await.unwrap();

    let scalar =
        |sql: &'static str| async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(store.pool()).await.expect(sql) };
    assert_eq!(scalar("select count(*) from jobs where not one_off").await, 10);
    assert_eq!(scalar("select count(*) from jobs where id % 10 = 0 and not one_off").await, 10, "spread evenly");
    let stored = store.job_list(&JobFilter { limit: 500, ..JobFilter::default() }).await.unwrap();
    assert_eq!(stored.len(), 10, "the list shows the stored jobs");
    for job in stored.iter().map(|hit| &hit.job) {
        assert!(job.spec.name.split(' ').count() >= 5, "several words: {}", job.spec.name);
        assert!(job.spec.tags.contains_key("team"), "{:?}", job.spec.tags);
        assert!(["default", "elsewhere"].contains(&job.spec.namespace.as_str()));
    }
    assert_eq!(scalar("select count(*) from runs").await, 150);
    assert_eq!(scalar("select max(id) from runs").await, 150, "ids 1 to 150");
    let one_run_each =
        "select count(*) from jobs j where j.one_off and (select count(*) from runs r where r.job_id = j.id) <> 1";
    assert_eq!(scalar(one_run_each).await, 0, "each one-off job has its one run");
    let backwards = "select count(*) from (select enqueued_at < lag(enqueued_at) over (order by id) as back from runs) x \
                     where back";
    assert_eq!(scalar(backwards).await, 0, "newest first by id is newest first by time");
    let before_job = "select count(*) from runs r join jobs j on j.id = r.job_id where r.enqueued_at < j.created_at";
    assert_eq!(scalar(before_job).await, 0, "no run before its job");
    let active = "select count(*) from runs where state not in ('succeeded', 'failed', 'timed_out', 'cancelled')";
    assert_eq!(scalar(active).await, 0, "finished runs only");
    let departed_newest = "select count(*) from runs where user_id = 'departed' and enqueued_at > \
                           (select min(enqueued_at) + interval '30 days' from runs)";
    assert_eq!(scalar(departed_newest).await, 0, "departed's runs are all old");
    let departed = RunFilter { user: Some("departed".into()), limit: 50, ..RunFilter::default() };
    assert!(!store.run_list(&departed).await.unwrap().is_empty());

    let next = store.run_submit_batch(&batch("default", &["1"])).await.unwrap();
    assert_eq!(next, [RunId(151)], "the sequences start after the fill's ids");
}
