//! Schedules in the store and the leader's cron duty at fixed instants: one run per fire time
//! however often it is decided, the starting deadline, the concurrency policies, fencing, pause,
//! and a deleted job's schedule. Real Postgres; no worker, no sleeps.

mod common;

use std::collections::BTreeMap;

use berth::config::Config;
use berth::domain::{ConcurrencyPolicy, FireOutcome, Flow, JobKind, Priority};
use berth::resources::Resources;
use berth::retry::RetryPolicy;
use berth::scheduler::SchedulerSettings;
use berth::scheduler::schedules;
use berth::store::jobs::{Input, JobSpec, StartParams};
use berth::store::schedules::{FireDecision, ScheduleSpec};
use berth::store::{JobId, Store};
use chrono::{DateTime, Duration, Utc};

fn job_spec(name: &str, kind: JobKind) -> JobSpec {
    JobSpec {
        name: name.into(),
        description: String::new(),
        kind,
        service: "example".into(),
        namespace: "default".into(),
        run_as: "7".into(),
        priority: Priority::Normal,
        flow: Flow::Priority,
        request: Resources { cpu: 100, memory: 64, pods: 1, storage: 0 },
        command: Some(vec!["echo".into()]),
        args: vec!["hi".into()],
        env: BTreeMap::new(),
        timeout_seconds: None,
        retry: RetryPolicy::default(),
        tags: BTreeMap::new(),
        restart: None,
        steps: Vec::new(),
    }
}

fn every_minute(policy: ConcurrencyPolicy, deadline: Option<i32>) -> ScheduleSpec {
    ScheduleSpec {
        cron: "* * * * *".into(),
        time_zone: "UTC".into(),
        policy,
        starting_deadline_seconds: deadline,
        paused: false,
    }
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// A batch job with `schedule`, its fire times decided up to `after`.
async fn scheduled_job(store: &Store, name: &str, schedule: &ScheduleSpec, after: DateTime<Utc>) -> JobId {
    let id = store
        .job_create(&job_spec(name, JobKind::Batch), &Input::Keep(None), serde_json::json!({}), "alice")
        .await
        .unwrap();
    store.schedule_put(id, schedule, "alice", None).await.unwrap().expect("a batch job takes a schedule");
    sqlx::query("update schedules set after_at = $2, next_fire_at = $2 where job_id = $1")
        .bind(id)
        .bind(after)
        .execute(store.pool())
        .await
        .unwrap();
    id
}

async fn scheduled_runs(store: &Store, job: JobId) -> Vec<(i64, String)> {
    sqlx::query_as("select id, state from runs where job_id = $1 and triggered_by = 'schedule' order by id")
        .bind(job)
        .fetch_all(store.pool())
        .await
        .unwrap()
}

fn settings() -> SchedulerSettings {
    SchedulerSettings::from_config(&Config::default())
}

#[tokio::test]
async fn a_fire_time_decided_twice_starts_one_run() {
    let store = common::fresh_store().await;
    let leader = store.leader_try_elect("test").await.unwrap().expect("leader");
    let job =
        scheduled_job(&store, "etl", &every_minute(ConcurrencyPolicy::Allow, None), at("2030-01-01T10:00:00Z")).await;
    let decision = FireDecision {
        job_id: job,
        seen_after: at("2030-01-01T10:00:00Z"),
        after: at("2030-01-01T10:01:00Z"),
        next: Some(at("2030-01-01T10:02:00Z")),
        start: Some(at("2030-01-01T10:01:00Z")),
        missed: vec![],
    };
    let now = Some(at("2030-01-01T10:01:00.200Z"));
    let mut tx = store.leader_tx(leader.epoch()).await.unwrap();
    let fired = tx.schedule_fire(std::slice::from_ref(&decision), now, false).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!((fired.started, fired.advanced), (1, 1));

    // A second decision of the same fire time from the same starting point (a restarted leader that
    // read the schedule before the first commit, a replica with another clock): the schedule no
    // longer moves from there, so nothing is written.
    let mut tx = store.leader_tx(leader.epoch()).await.unwrap();
    let again = tx.schedule_fire(std::slice::from_ref(&decision), now, false).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!((again.started, again.advanced), (0, 0));

    // Even with the schedule moved back (restored from a backup, edited by hand), the fire record
    // refuses a second run for the same time, and that is not an error.
    sqlx::query("update schedules set after_at = $2 where job_id = $1")
        .bind(job)
        .bind(at("2030-01-01T10:00:00Z"))
        .execute(store.pool())
        .await
        .unwrap();
    let mut tx = store.leader_tx(leader.epoch()).await.unwrap();
    let replay = tx.schedule_fire(std::slice::from_ref(&decision), now, false).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!((replay.started, replay.advanced), (0, 1), "advanced again, but no second run");
    // And through the duty itself, deciding at the same instant.
    let (_, duty) = schedules::run(&store, leader.epoch(), &settings(), now, 100).await.unwrap();
    assert_eq!(duty.started, 0);

    let runs = scheduled_runs(&store, job).await;
    assert_eq!(runs.len(), 1, "one run for one fire time: {runs:?}");
    let fires = store.schedule_fires(job, 10).await.unwrap();
    assert_eq!(fires.len(), 1);
    assert_eq!((fires[0].outcome, fires[0].run_id.map(|r| r.0)), (FireOutcome::Started, Some(runs[0].0)));
    let events: Vec<(String, String)> =
        sqlx::query_as("select kind, actor from run_events where run_id = $1 order by id")
            .bind(runs[0].0)
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(events, [("submitted".to_string(), "schedule".to_string())]);
    let command: serde_json::Value = sqlx::query_scalar("select command from runs where id = $1")
        .bind(runs[0].0)
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(command, serde_json::json!(["echo", "hi"]), "the job's command and args, as a start does");
}

#[tokio::test]
async fn after_downtime_the_latest_fire_inside_the_deadline_starts_and_older_ones_are_missed() {
    let store = common::fresh_store().await;
    let leader = store.leader_try_elect("test").await.unwrap().expect("leader");
    let within =
        scheduled_job(&store, "within", &every_minute(ConcurrencyPolicy::Allow, Some(60)), at("2030-01-01T10:00:00Z"))
            .await;
    let past =
        scheduled_job(&store, "past", &every_minute(ConcurrencyPolicy::Allow, Some(10)), at("2030-01-01T10:00:00Z"))
            .await;
    let now = Some(at("2030-01-01T10:05:30Z"));
    let (decided, fired) = schedules::run(&store, leader.epoch(), &settings(), now, 100).await.unwrap();
    assert_eq!(decided, 2);
    assert_eq!((fired.started, fired.missed), (1, 4 + 5), "never a burst");
    assert_eq!(scheduled_runs(&store, within).await.len(), 1);
    assert!(scheduled_runs(&store, past).await.is_empty(), "10:05 is 30 s late, past its 10 s deadline");
    let fires = store.schedule_fires(within, 10).await.unwrap();
    assert_eq!(fires[0].fire_at, at("2030-01-01T10:05:00Z"));
    assert_eq!(fires[0].outcome, FireOutcome::Started);
    assert!(fires[1..].iter().all(|f| f.outcome == FireOutcome::Missed && f.run_id.is_none()), "{fires:?}");
    let row = store.schedule_get(within).await.unwrap().unwrap();
    assert_eq!(row.next_fire_at, Some(at("2030-01-01T10:06:00Z")), "indexed for the next pass");
    let (decided, _) = schedules::run(&store, leader.epoch(), &settings(), now, 100).await.unwrap();
    assert_eq!(decided, 0, "nothing due until 10:06");
}

#[tokio::test]
async fn forbid_skips_while_a_run_is_active_and_replace_cancels_it_then_starts() {
    let store = common::fresh_store().await;
    let leader = store.leader_try_elect("test").await.unwrap().expect("leader");
    let after = at("2030-01-01T10:00:00Z");
    let forbid = scheduled_job(&store, "forbid", &every_minute(ConcurrencyPolicy::Forbid, None), after).await;
    let replace = scheduled_job(&store, "replace", &every_minute(ConcurrencyPolicy::Replace, None), after).await;
    let mut active = Vec::new();
    for id in [forbid, replace] {
        let job = store.job_get(id).await.unwrap().unwrap();
        let p = StartParams { triggered_by: "alice".into(), ..StartParams::default() };
        active.push(store.job_start_run(job.id, &p).await.unwrap().unwrap());
    }
    let now = Some(at("2030-01-01T10:01:00Z"));
    let (_, fired) = schedules::run(&store, leader.epoch(), &settings(), now, 100).await.unwrap();
    assert_eq!((fired.skipped, fired.replaced, fired.started), (1, 1, 0));
    assert!(scheduled_runs(&store, forbid).await.is_empty());
    assert_eq!(store.schedule_fires(forbid, 1).await.unwrap()[0].outcome, FireOutcome::Skipped);
    let state = |id: berth::store::RunId| {
        let store = store.clone();
        async move {
            sqlx::query_scalar::<_, String>("select state from runs where id = $1")
                .bind(id)
                .fetch_one(store.pool())
                .await
                .unwrap()
        }
    };
    assert_eq!(state(active[0]).await, "queued", "forbid leaves the active run alone");
    assert_eq!(state(active[1]).await, "cancelled", "replace cancels it");
    let replaced = scheduled_runs(&store, replace).await;
    assert_eq!(replaced.len(), 1);
    assert_eq!(replaced[0].1, "queued");
    let fire = &store.schedule_fires(replace, 1).await.unwrap()[0];
    assert_eq!((fire.outcome, fire.run_id.map(|r| r.0)), (FireOutcome::Replaced, Some(replaced[0].0)));
}

#[tokio::test]
async fn a_deposed_leader_fires_nothing_and_paused_or_deleted_schedules_do_not_fire() {
    let store = common::fresh_store().await;
    let leader = store.leader_try_elect("test").await.unwrap().expect("leader");
    let after = at("2030-01-01T10:00:00Z");
    let now = Some(at("2030-01-01T10:01:00Z"));
    let job = scheduled_job(&store, "etl", &every_minute(ConcurrencyPolicy::Allow, None), after).await;
    match schedules::run(&store, leader.epoch() - 1, &settings(), now, 100).await {
        Err(berth::store::Error::Deposed { .. }) => {}
        other => panic!("a stale epoch must be refused: {other:?}"),
    }
    assert!(scheduled_runs(&store, job).await.is_empty());

    let paused = ScheduleSpec { paused: true, ..every_minute(ConcurrencyPolicy::Allow, None) };
    store.schedule_put(job, &paused, "alice", None).await.unwrap().unwrap();
    sqlx::query("update schedules set after_at = $2, next_fire_at = $2 where job_id = $1")
        .bind(job)
        .bind(after)
        .execute(store.pool())
        .await
        .unwrap();
    let (decided, _) = schedules::run(&store, leader.epoch(), &settings(), now, 100).await.unwrap();
    assert_eq!(decided, 0, "paused");

    let other = scheduled_job(&store, "other", &every_minute(ConcurrencyPolicy::Allow, None), after).await;
    store.job_delete(other, true, "alice").await.unwrap();
    assert!(store.schedule_get(other).await.unwrap().is_none(), "the job's delete removes its schedule");
    let (decided, _) = schedules::run(&store, leader.epoch(), &settings(), now, 100).await.unwrap();
    assert_eq!(decided, 0);

    let streaming = store
        .job_create(&job_spec("stream", JobKind::Streaming), &Input::Keep(None), serde_json::json!({}), "alice")
        .await
        .unwrap();
    let refused =
        store.schedule_put(streaming, &every_minute(ConcurrencyPolicy::Allow, None), "alice", None).await.unwrap();
    assert!(refused.is_none(), "only batch jobs take a schedule");
    let kinds: Vec<String> = store.job_events(job).await.unwrap().into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["created", "schedule_set", "schedule_set"]);
}

#[tokio::test]
async fn many_due_schedules_fire_in_batches_of_one_statement_each() {
    let store = common::fresh_store().await;
    let leader = store.leader_try_elect("test").await.unwrap().expect("leader");
    let after = at("2030-01-01T10:00:00Z");
    for n in 0..30 {
        scheduled_job(&store, &format!("job {n}"), &every_minute(ConcurrencyPolicy::Allow, None), after).await;
    }
    let now = Some(at("2030-01-01T10:01:00.100Z"));
    let mut total = 0;
    for pass in 0.. {
        let (decided, fired) = schedules::run(&store, leader.epoch(), &settings(), now, 8).await.unwrap();
        total += fired.started;
        if decided < 8 {
            break;
        }
        assert!(pass < 5, "batches of 8 drain 30 schedules in four passes");
    }
    assert_eq!(total, 30);
    let runs: i64 = sqlx::query_scalar("select count(*) from runs where triggered_by = 'schedule'")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(runs, 30);

    // Old fire records are forgotten; recent ones stay.
    let mut tx = store.leader_tx(leader.epoch()).await.unwrap();
    let later = Some(at("2030-01-01T10:01:00.100Z") + Duration::days(8));
    assert_eq!(tx.schedule_prune_fires(now, 3600.0, 100).await.unwrap(), 0);
    assert_eq!(tx.schedule_prune_fires(later, 7.0 * 86400.0, 100).await.unwrap(), 30);
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn the_leader_learns_how_long_until_the_next_fire_time() {
    let store = common::fresh_store().await;
    let now = Some(at("2030-01-01T10:00:00Z"));
    assert_eq!(store.schedule_next_fire(now).await.unwrap(), None, "no schedule: nothing to wait for");

    scheduled_job(&store, "later", &every_minute(ConcurrencyPolicy::Allow, None), at("2030-01-01T10:00:40Z")).await;
    let soon =
        scheduled_job(&store, "soon", &every_minute(ConcurrencyPolicy::Allow, None), at("2030-01-01T10:00:02.5Z"))
            .await;
    // A due fire time the duty has not taken (a locked row, a deleted job's) is not waited for.
    scheduled_job(&store, "past", &every_minute(ConcurrencyPolicy::Allow, None), at("2030-01-01T09:59:00Z")).await;
    let next = store.schedule_next_fire(now).await.unwrap().expect("a future fire time");
    assert_eq!(
        (next.at, next.within, next.due),
        (at("2030-01-01T10:00:02.5Z"), std::time::Duration::from_millis(2500), 1)
    );

    sqlx::query("update schedules set paused = true where job_id = $1").bind(soon).execute(store.pool()).await.unwrap();
    let next = store.schedule_next_fire(now).await.unwrap().expect("the other schedule");
    assert_eq!(next.within, std::time::Duration::from_secs(40), "a paused schedule is not waited for");
}

fn every_second(policy: ConcurrencyPolicy, deadline: Option<i32>) -> ScheduleSpec {
    ScheduleSpec { cron: "* * * * * *".into(), ..every_minute(policy, deadline) }
}

/// The database's clock.
async fn db_now(store: &Store) -> DateTime<Utc> {
    sqlx::query_scalar("select clock_timestamp()").fetch_one(store.pool()).await.unwrap()
}

#[tokio::test]
async fn fires_prepared_ahead_commit_at_their_time_once_and_only_for_allow() {
    let store = common::fresh_store().await;
    let leader = store.leader_try_elect("test").await.unwrap().expect("leader");
    // The next whole second at least 1.5 s ahead: every-second schedules decided up to the one
    // before it, so their one fire time is `fire`.
    let fire = DateTime::from_timestamp(db_now(&store).await.timestamp() + 2, 0).unwrap();
    let before = fire - Duration::seconds(1);
    let allow = scheduled_job(&store, "allow", &every_second(ConcurrencyPolicy::Allow, None), before).await;
    let forbid = scheduled_job(&store, "forbid", &every_second(ConcurrencyPolicy::Forbid, None), before).await;
    for job in [allow, forbid] {
        fire_next_at(&store, job, fire).await;
    }
    let next = store.schedule_next_fire(None).await.unwrap().expect("the fire time");
    assert_eq!((next.at, next.due), (fire, 2));

    let mut prepared = schedules::Prepared::begin(&store, leader.epoch(), next).await.unwrap();
    assert_eq!(prepared.more(&settings(), 100).await.unwrap(), 1, "only the `allow` schedule is prepared");
    assert!(prepared.complete);
    // Written, not visible: no run, no fire record, and the usual pass finds nothing due yet.
    assert!(scheduled_runs(&store, allow).await.is_empty());
    assert!(store.schedule_fires(allow, 10).await.unwrap().is_empty());
    let (decided, _) = schedules::run(&store, leader.epoch(), &settings(), None, 100).await.unwrap();
    assert_eq!(decided, 0, "nothing is due before {fire}");
    assert!(db_now(&store).await < fire, "the preparation took less than the lead");

    let fired = prepared.commit().await.unwrap().expect("committed in time");
    let committed = db_now(&store).await;
    assert!(committed >= fire, "never before the fire time: committed at {committed}, fire {fire}");
    assert_eq!((fired.started, fired.advanced), (1, 1));
    let runs = scheduled_runs(&store, allow).await;
    assert_eq!(runs.len(), 1);
    let enqueued: DateTime<Utc> = sqlx::query_scalar("select enqueued_at from runs where id = $1")
        .bind(runs[0].0)
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(enqueued, fire, "a prepared run is enqueued at its fire time");
    let fires = store.schedule_fires(allow, 10).await.unwrap();
    assert_eq!((fires.len(), fires[0].fire_at, fires[0].decided_at), (1, fire, fire));

    // The `forbid` schedule fires the usual way, at the fire time; the prepared one not again.
    let (decided, fired) = schedules::run(&store, leader.epoch(), &settings(), Some(fire), 100).await.unwrap();
    assert_eq!((decided, fired.started), (1, 1));
    assert_eq!(scheduled_runs(&store, forbid).await.len(), 1);
    assert_eq!(scheduled_runs(&store, allow).await.len(), 1, "exactly once");
}

#[tokio::test]
async fn a_prepared_fire_that_would_commit_past_its_starting_deadline_rolls_back() {
    let store = common::fresh_store().await;
    let leader = store.leader_try_elect("test").await.unwrap().expect("leader");
    // Prepared for a fire time 3 s ago (a preparation that ran late), with a deadline of 1 s.
    let fire = DateTime::from_timestamp(db_now(&store).await.timestamp() - 3, 0).unwrap();
    let job =
        scheduled_job(&store, "late", &every_second(ConcurrencyPolicy::Allow, Some(1)), fire - Duration::seconds(1))
            .await;
    fire_next_at(&store, job, fire).await;
    let next = berth::store::schedules::NextFire { at: fire, within: std::time::Duration::ZERO, due: 1 };
    let mut prepared = schedules::Prepared::begin(&store, leader.epoch(), next).await.unwrap();
    assert_eq!(prepared.more(&settings(), 100).await.unwrap(), 1);
    assert_eq!(prepared.commit().await.unwrap(), None, "3 s late for a 1 s deadline: not committed");
    assert!(scheduled_runs(&store, job).await.is_empty());
    assert!(store.schedule_fires(job, 10).await.unwrap().is_empty(), "rolled back");
    // Decided again at the real time: that fire is missed, and one within its deadline starts.
    let (decided, _) = schedules::run(&store, leader.epoch(), &settings(), None, 100).await.unwrap();
    assert_eq!(decided, 1);
    let fires = store.schedule_fires(job, 10).await.unwrap();
    assert!(fires.iter().any(|f| f.fire_at == fire && f.outcome == FireOutcome::Missed), "{fires:?}");
    assert!(scheduled_runs(&store, job).await.len() <= 1);
}

/// Sets the next fire time of `job`'s schedule.
async fn fire_next_at(store: &Store, job: JobId, fire: DateTime<Utc>) {
    sqlx::query("update schedules set next_fire_at = $2 where job_id = $1")
        .bind(job)
        .bind(fire)
        .execute(store.pool())
        .await
        .unwrap();
}

/// An `allow` job `name` scheduled every second, its next fire time the whole second two seconds
/// from now, and that fire prepared (not committed) as the leader of `epoch`: the job, the fire
/// time and the preparation.
async fn one_prepared_fire(store: &Store, epoch: i64, name: &str) -> (JobId, DateTime<Utc>, schedules::Prepared) {
    let fire = DateTime::from_timestamp(db_now(store).await.timestamp() + 2, 0).unwrap();
    let job =
        scheduled_job(store, name, &every_second(ConcurrencyPolicy::Allow, None), fire - Duration::seconds(1)).await;
    fire_next_at(store, job, fire).await;
    let next = store.schedule_next_fire(None).await.unwrap().expect("the fire time");
    let mut prepared = schedules::Prepared::begin(store, epoch, next).await.unwrap();
    assert_eq!(prepared.more(&settings(), 100).await.unwrap(), 1);
    (job, fire, prepared)
}

#[tokio::test]
async fn a_prepared_fire_neither_blocks_admission_nor_survives_a_takeover() {
    let store = common::fresh_store().await;
    let leader = store.leader_try_elect("test").await.unwrap().expect("leader");
    let (job, fire, prepared) = one_prepared_fire(&store, leader.epoch(), "allow").await;

    // The admission commit locks the leader row for update (it writes the credits there): with a
    // fire prepared and its transaction open, it still goes through at once (the leader loop runs
    // both, one after the other: a wait here would never end).
    let batch = berth::store::admission::AdmitBatch { runs: &[], now: None, wrr: (1, 1) };
    let admitted = tokio::time::timeout(std::time::Duration::from_secs(5), store.admit(leader.epoch(), &batch))
        .await
        .expect("admission does not wait for the prepared fires");
    admitted.unwrap();

    // A takeover meanwhile: the prepared fires are not committed, and the schedule fires anew.
    sqlx::query("update leader set epoch = epoch + 1 where id = 1").execute(store.pool()).await.unwrap();
    match prepared.commit().await {
        Err(berth::store::Error::Deposed { .. }) => {}
        other => panic!("a deposed leader's prepared fires must not commit: {other:?}"),
    }
    assert!(scheduled_runs(&store, job).await.is_empty());
    assert!(store.schedule_fires(job, 10).await.unwrap().is_empty());
    let (decided, fired) = schedules::run(&store, leader.epoch() + 1, &settings(), Some(fire), 100).await.unwrap();
    assert_eq!((decided, fired.started), (1, 1), "the new leader fires it");
}

/// A prepared fire holds the jobs it fires FOR SHARE until it commits, as a start by hand does: an
/// edit waits for it (else the fire would commit a run of a definition, or an input, replaced
/// meanwhile), and a job delete, which takes the schedule before the job, waits too, without a
/// deadlock.
#[tokio::test]
async fn a_prepared_fire_holds_its_job_so_edits_and_deletes_wait_for_its_commit() {
    let store = common::fresh_store().await;
    let leader = store.leader_try_elect("test").await.unwrap().expect("leader");
    let (job, _, prepared) = one_prepared_fire(&store, leader.epoch(), "held").await;

    let mut other = store.pool().acquire().await.unwrap();
    sqlx::query("set lock_timeout = '200ms'").execute(&mut *other).await.unwrap();
    let edit = sqlx::query("update jobs set description = 'edited' where id = $1").bind(job).execute(&mut *other).await;
    let code = edit.err().and_then(|e| e.as_database_error().and_then(|d| d.code().map(|c| c.to_string())));
    assert_eq!(code.as_deref(), Some("55P03"), "an edit waits for the prepared fire (here: a lock timeout)");

    let deleting = {
        let store = store.clone();
        tokio::spawn(async move { store.job_delete(job, true, "alice").await })
    };
    common::wait_for_lock_wait(&store, "-- Locks the schedule of job").await;
    prepared.commit().await.unwrap().expect("committed at its time");
    let deleted = deleting.await.unwrap().expect("no deadlock");
    assert!(matches!(deleted, berth::store::jobs::Deleted::Done { .. }), "{deleted:?}");
    assert_eq!(scheduled_runs(&store, job).await.len(), 1, "the fire's run, committed before the delete");
}
