//! Stored jobs in the store: create, replace under a version, start runs that keep what they were
//! started with, the legacy switch, delete, the lists and their plans. Real Postgres.

mod common;

use std::collections::BTreeMap;

use berth::domain::{Flow, JobKind, Priority, RunState};
use berth::resources::Resources;
use berth::retry::RetryPolicy;
use berth::store::jobs::{Deleted, Input, JobSpec, StartParams};
use berth::store::lists::{JobCursor, JobFilter, Match, RunFilter, StatementPlan};
use berth::store::{JobId, Store};

fn spec(name: &str) -> JobSpec {
    JobSpec {
        name: name.into(),
        description: "nightly".into(),
        kind: JobKind::Batch,
        service: "example".into(),
        namespace: "default".into(),
        run_as: "7".into(),
        priority: Priority::Normal,
        flow: Flow::Priority,
        request: Resources { cpu: 100, memory: 64, pods: 1, storage: 0 },
        command: Some(vec!["echo".into(), "hello".into()]),
        args: vec!["--fast".into()],
        env: BTreeMap::from([("STAGE".to_string(), "prod".to_string())]),
        timeout_seconds: Some(60),
        retry: RetryPolicy { max_attempts: 2, ..RetryPolicy::default() },
        tags: BTreeMap::from([("team".to_string(), "ml".to_string())]),
        restart: None,
        steps: Vec::new(),
    }
}

async fn start(store: &Store, id: JobId, by: &str) -> berth::store::RunId {
    let p = StartParams { triggered_by: by.into(), ..StartParams::default() };
    store.job_start_run(id, &p).await.unwrap().unwrap()
}

/// The names `q` finds, best first.
async fn search(store: &Store, q: &str) -> Vec<String> {
    let f = JobFilter { q: Some(q.into()), limit: 10, ..JobFilter::default() };
    store.job_list(&f).await.unwrap().into_iter().map(|h| h.job.spec.name).collect()
}

#[tokio::test]
async fn a_job_reads_back_as_created_and_its_name_is_unique_in_its_namespace() {
    let store = common::fresh_store().await;
    let id = store.job_create(&spec("etl daily"), &Input::Keep(None), serde_json::json!({}), "alice").await.unwrap();
    let job = store.job_get(id).await.unwrap().unwrap();
    assert_eq!(job.spec, spec("etl daily"));
    assert_eq!((job.created_by.as_str(), job.one_off, job.input_bytes), ("alice", false, 0));
    let again =
        store.job_create(&spec("etl daily"), &Input::Keep(None), serde_json::json!({}), "bob").await.unwrap_err();
    let berth::store::Error::Db(sqlx::Error::Database(e)) = again else { panic!("{again:?}") };
    assert_eq!(e.constraint(), Some(berth::store::jobs::NAME_TAKEN_CONSTRAINT));
    let elsewhere = JobSpec { namespace: "etl".into(), ..spec("etl daily") };
    store
        .job_create(&elsewhere, &Input::Keep(None), serde_json::json!({}), "bob")
        .await
        .expect("the same name in another namespace");
    let kinds: Vec<String> = store.job_events(id).await.unwrap().into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["created"]);
}

#[tokio::test]
async fn a_run_keeps_what_it_was_started_with_when_its_job_changes() {
    let store = common::fresh_store().await;
    let id = store.job_create(&spec("keeps"), &Input::Keep(None), serde_json::json!({}), "alice").await.unwrap();
    let job = store.job_get(id).await.unwrap().unwrap();
    let p = StartParams {
        priority: Some(Priority::High),
        env: BTreeMap::from([("EXTRA".to_string(), "1".to_string())]),
        triggered_by: "carol".into(),
        ..StartParams::default()
    };
    let run = store.job_start_run(id, &p).await.unwrap().unwrap();
    let edited = JobSpec { command: Some(vec!["false".into()]), env: BTreeMap::new(), ..spec("keeps") };
    let changes = serde_json::json!({"command": {"from": ["echo", "hello"], "to": ["false"]}});
    assert!(
        store.job_replace(id, job.updated_at, &edited, &Input::Keep(None), changes, "alice").await.unwrap().is_some()
    );
    let (command, env, priority, by): (serde_json::Value, serde_json::Value, String, String) =
        sqlx::query_as("select command, env, priority, triggered_by from runs where id = $1")
            .bind(run)
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(command, serde_json::json!(["echo", "hello", "--fast"]), "the job's command and args at start");
    assert_eq!(env, serde_json::json!({"STAGE": "prod", "EXTRA": "1"}), "the job's env with the run's on top");
    assert_eq!((priority.as_str(), by.as_str()), ("high", "carol"));
    let unchanged = spec("keeps");
    let stale = store.job_replace(id, job.updated_at, &unchanged, &Input::Keep(None), serde_json::json!({}), "bob");
    assert!(stale.await.unwrap().is_none(), "a replace of a version that changed since is refused");
    let kinds: Vec<String> = store.job_events(id).await.unwrap().into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["created", "updated"]);
}

#[tokio::test]
async fn moving_a_job_to_legacy_takes_its_queued_runs_out_of_admission() {
    let store = common::fresh_store().await;
    let id = store.job_create(&spec("blocker"), &Input::Keep(None), serde_json::json!({}), "alice").await.unwrap();
    let run = start(&store, id, "alice").await;
    let other = store.job_create(&spec("bystander"), &Input::Keep(None), serde_json::json!({}), "alice").await.unwrap();
    let untouched = start(&store, other, "alice").await;
    let job = store.job_get(id).await.unwrap().unwrap();
    let legacy = JobSpec { flow: Flow::Legacy, ..spec("blocker") };
    store.job_replace(id, job.updated_at, &legacy, &Input::Keep(None), serde_json::json!({}), "ops").await.unwrap();
    let moved = store.run_get(run).await.unwrap().unwrap();
    assert_eq!((moved.state, moved.flow), (RunState::Admitted, Flow::Legacy));
    assert_eq!(store.run_get(untouched).await.unwrap().unwrap().state, RunState::Queued);
}

#[tokio::test]
async fn deleting_a_job_with_active_runs_needs_cancel_runs_and_its_runs_stay_readable() {
    let store = common::fresh_store().await;
    let id = store.job_create(&spec("doomed"), &Input::Keep(None), serde_json::json!({}), "alice").await.unwrap();
    let run = start(&store, id, "alice").await;
    assert_eq!(store.job_delete(id, false, "bob").await.unwrap(), Deleted::ActiveRuns(1));
    assert!(store.job_get(id).await.unwrap().is_some(), "refused: nothing changed");
    assert_eq!(store.job_delete(id, true, "bob").await.unwrap(), Deleted::Done { cancelled: 1, stopping: 0 });
    assert!(store.job_get(id).await.unwrap().is_none());
    assert_eq!(store.run_get(run).await.unwrap().unwrap().state, RunState::Cancelled, "its run stays readable");
    assert_eq!(store.job_delete(id, true, "bob").await.unwrap(), Deleted::NotFound);
    let again = store.job_create(&spec("doomed"), &Input::Keep(None), serde_json::json!({}), "alice").await;
    assert!(again.is_ok(), "a deleted job's name is free again");
}

/// A run a worker claims while a delete with `cancel_runs` runs (admitted in the delete's snapshot,
/// running by the time its update reaches the row) is asked to stop, not missed: with one update
/// per state, each skipped it, and the run went on after its job was deleted.
#[tokio::test]
async fn a_delete_stops_a_run_claimed_while_it_runs() {
    let store = common::fresh_store().await;
    common::create_namespace(&store, "default", 1000).await;
    let worker = common::register_example_worker(&store).await;
    let id = store.job_create(&spec("raced"), &Input::Keep(None), serde_json::json!({}), "alice").await.unwrap();
    let run = start(&store, id, "alice").await;
    assert_eq!(common::admit_once(&store, "test").await, vec![run]);
    // A claim in flight: the run is running in its transaction, which has not committed.
    let mut claim = store.pool().begin().await.unwrap();
    sqlx::query("update runs set state = 'running', worker_id = $2, started_at = now() where id = $1")
        .bind(run.0)
        .bind(worker.0)
        .execute(&mut *claim)
        .await
        .unwrap();
    let deleting = {
        let store = store.clone();
        tokio::spawn(async move { store.job_delete(id, true, "bob").await })
    };
    common::wait_for_lock_wait(&store, "-- Deletes a job").await;
    claim.commit().await.unwrap();
    assert_eq!(deleting.await.unwrap().unwrap(), Deleted::Done { cancelled: 0, stopping: 1 });
    let row = store.run_get(run).await.unwrap().unwrap();
    assert_eq!(row.state, RunState::Running);
    let asked: bool = sqlx::query_scalar("select cancel_requested from runs where id = $1")
        .bind(run.0)
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert!(asked, "its worker is asked to stop it");
}

#[tokio::test]
async fn the_job_list_finds_substrings_else_similar_names_page_by_page() {
    let store = common::fresh_store().await;
    for name in ["etl-daily", "etl-daily-archive-backfill-2019", "train resnet", "xxabyy", "report.weekly"] {
        store.job_create(&spec(name), &Input::Keep(None), serde_json::json!({}), "alice").await.unwrap();
    }
    let hits = |q: &str| {
        let f = JobFilter { q: Some(q.into()), limit: 10, ..JobFilter::default() };
        let store = &store;
        async move { store.job_list(&f).await.unwrap().into_iter().map(|h| (h.job.spec.name, h.tier)).collect::<Vec<_>>() }
    };
    // No name contains the typo: the similar names, newest first.
    let typo = hits("etl-daly").await;
    assert_eq!(
        typo,
        [("etl-daily-archive-backfill-2019".to_string(), Match::Similar), ("etl-daily".to_string(), Match::Similar)],
        "a typo finds the names it meant"
    );
    // Names contain it: those names only (no look-alikes after them), newest first.
    let daily = hits("DAILY").await;
    assert_eq!(
        daily.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["etl-daily-archive-backfill-2019", "etl-daily"]
    );
    assert!(daily.iter().all(|(_, m)| *m == Match::Substring), "{daily:?}");
    assert_eq!(search(&store, "ab").await, ["xxabyy"], "two characters find a substring");
    assert_eq!(search(&store, "t.w").await, ["report.weekly"]);
    assert_eq!(search(&store, "50%").await, Vec::<String>::new(), "a wildcard matches itself");

    // Keyset pages: every stored job exactly once, newest first.
    let mut seen = Vec::new();
    let mut after: Option<JobCursor> = None;
    loop {
        let page = store.job_list(&JobFilter { limit: 2, after, ..JobFilter::default() }).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some(JobCursor { tier: last.tier, id: last.job.id });
        seen.extend(page.iter().map(|h| h.job.id.0));
    }
    let mut sorted = seen.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!((seen.len(), &seen), (5, &sorted));
    let tagged = JobFilter { tags: vec![("team".into(), "ml".into())], limit: 10, ..JobFilter::default() };
    assert_eq!(store.job_list(&tagged).await.unwrap().len(), 5);
    let none = JobFilter { tags: vec![("team".into(), "web".into())], limit: 10, ..JobFilter::default() };
    assert!(store.job_list(&none).await.unwrap().is_empty());
}

/// Every page of `f` in turn, `limit` rows at a time: the ids and how each matched.
async fn all_pages(store: &Store, f: &JobFilter) -> Vec<(i64, Match)> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = store.job_list(&JobFilter { after, ..f.clone() }).await.unwrap();
        out.extend(page.iter().map(|h| (h.job.id.0, h.tier)));
        if page.len() < usize::try_from(f.limit).unwrap() {
            return out;
        }
        let last = page.last().unwrap();
        after = Some(JobCursor { tier: last.tier, id: last.job.id });
    }
}

/// A search or label filter reads the newest WINDOW jobs, then asks the index for the rest: its
/// pages hold every match exactly once, newest first, whether a page ends inside the window, across
/// its edge or in the rest.
#[tokio::test]
async fn search_and_label_pages_are_every_match_once_newest_first_across_the_window() {
    let store = common::fresh_store().await;
    let jobs = 3 * berth::store::lists::WINDOW;
    // One name in 60 holds `needle` and one in 71 the label: fewer than a page per window.
    sqlx::query(
        "insert into jobs (name, service, namespace, user_id, created_by, one_off, tags)
         select case when g % 60 = 0 then 'job ' || g || ' needle' else 'job ' || g || ' hay' end,
                'example', 'default', '7', 'alice', g % 5 = 1,
                case when g % 71 = 0 then '{\"tier\": \"canary\"}'::jsonb else '{}'::jsonb end
         from generate_series(1, $1) g",
    )
    .bind(jobs)
    .execute(store.pool())
    .await
    .unwrap();
    let pool = store.pool().clone();
    let truth = |sql: &'static str| {
        let pool = pool.clone();
        async move { sqlx::query_scalar::<_, i64>(sql).fetch_all(&pool).await.unwrap() }
    };
    let needle = truth("select id from jobs where not one_off and name like '%needle%' order by id desc").await;
    assert!(needle.len() > 40, "{}", needle.len());
    for limit in [7, 50] {
        let f = JobFilter { q: Some("needle".into()), limit, ..JobFilter::default() };
        let pages = all_pages(&store, &f).await;
        assert!(pages.iter().all(|(_, m)| *m == Match::Substring));
        assert_eq!(pages.iter().map(|(id, _)| *id).collect::<Vec<_>>(), needle, "limit {limit}");
    }
    // No name contains the typo: the similar names, every one once, newest first.
    let similar = {
        let mut tx = store.pool().begin().await.unwrap();
        sqlx::query("select set_config('pg_trgm.word_similarity_threshold', '0.5', true)")
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::query_scalar::<_, i64>(
            "select id from jobs where not one_off and 'needel' <% name and name not ilike '%needel%' order by id desc",
        )
        .fetch_all(&mut *tx)
        .await
        .unwrap()
    };
    assert!(similar.len() > 40, "{}", similar.len());
    let f = JobFilter { q: Some("needel".into()), limit: 9, ..JobFilter::default() };
    let pages = all_pages(&store, &f).await;
    assert!(pages.iter().all(|(_, m)| *m == Match::Similar));
    assert_eq!(pages.iter().map(|(id, _)| *id).collect::<Vec<_>>(), similar);
    // Labels: the same window and rest.
    let canary =
        truth("select id from jobs where not one_off and tags @> '{\"tier\": \"canary\"}' order by id desc").await;
    let f = JobFilter { tags: vec![("tier".into(), "canary".into())], limit: 50, ..JobFilter::default() };
    assert_eq!(all_pages(&store, &f).await.into_iter().map(|(id, _)| id).collect::<Vec<_>>(), canary);
}

/// A name equal to `q` comes first, then the names starting with it, then those containing it
/// elsewhere, each newest first, whatever their age.
#[tokio::test]
async fn an_exact_name_comes_first_then_prefixes_then_substrings() {
    let store = common::fresh_store().await;
    let create = |name: String, namespace: &'static str| {
        let store = &store;
        async move {
            let spec = JobSpec { namespace: namespace.into(), ..spec(&name) };
            store.job_create(&spec, &Input::Keep(None), serde_json::json!({}), "alice").await.unwrap()
        }
    };
    let exact = create("daily".into(), "default").await;
    let older_prefix = create("Daily-report".into(), "default").await;
    for i in 0..60 {
        create(format!("etl daily {i}"), "default").await;
    }
    let newer_prefix = create("daily.zz".into(), "default").await;
    let exact_elsewhere = create("DAILY".into(), "etl").await;
    let f = JobFilter { q: Some("dAiLy".into()), limit: 10, ..JobFilter::default() };
    let page = store.job_list(&f).await.unwrap();
    let got: Vec<(i64, Match)> = page.iter().map(|h| (h.job.id.0, h.tier)).collect();
    assert_eq!(
        got[..4],
        [
            (exact_elsewhere.0, Match::Exact),
            (exact.0, Match::Exact),
            (newer_prefix.0, Match::Prefix),
            (older_prefix.0, Match::Prefix)
        ],
        "the exact names first, then the prefixes, each newest first: {got:?}"
    );
    assert!(got[4..].iter().all(|(_, m)| *m == Match::Substring), "{got:?}");
    assert_eq!(page[4].job.spec.name, "etl daily 59", "the substrings newest first");
    assert!((page[0].score - 1.0).abs() < 1e-6, "an exact name scores 1: {}", page[0].score);
    // With the one-off jobs too (the trigram index instead of the name index): the same order.
    let with_one_off = store.job_list(&JobFilter { one_off: true, ..f }).await.unwrap();
    assert_eq!(with_one_off.iter().map(|h| (h.job.id.0, h.tier)).collect::<Vec<_>>(), got);
}

/// The pages of a search hold every match exactly once, by tier and newest first within each,
/// whatever the page size and wherever a page ends: within a tier, across the boundary of two
/// tiers, inside the window, across its edge or in the rest; for a prefix tier read whole through
/// the name index and for one too large for it, with and without the one-off jobs.
#[tokio::test]
async fn search_pages_cross_the_tiers_with_every_match_once() {
    let store = common::fresh_store().await;
    let jobs = 3 * berth::store::lists::WINDOW;
    // `needle`: a few exact names (one per namespace), about 120 prefixes (the name index reads
    // them whole), 100 substrings. `job`: a few exact names, thousands of prefixes (the window),
    // 800 substrings. `old`: more prefixes than the name index reads, all older than the window
    // (the rest reads them), and substrings (`gold`).
    sqlx::query(
        "insert into jobs (name, service, namespace, user_id, created_by, one_off)
         select case when g % 997 = 0 then 'needle'
                     when g % 1499 = 0 then 'JOB'
                     when g % 50 = 1 then 'Needle job ' || g
                     when g % 60 = 0 then 'job ' || g || ' needle'
                     when g % 53 = 0 then 'x gold ' || g
                     when g <= 1600 and g % 2 = 0 then 'old ' || g
                     when g % 7 = 0 then 'hay job ' || g
                     else 'job ' || g || ' hay' end,
                'example', case when g % 997 = 0 or g % 1499 = 0 then 'ns-' || g else 'default' end,
                '7', 'alice', g % 5 = 2
         from generate_series(1, $1) g",
    )
    .bind(jobs)
    .execute(store.pool())
    .await
    .unwrap();
    sqlx::raw_sql("analyze jobs").execute(store.pool()).await.unwrap();
    // The truth: every match with its tier, best tier first, newest first within it.
    let truth = |q: &'static str, one_off: bool| {
        let pool = store.pool().clone();
        async move {
            sqlx::query_as::<_, (i64, i32)>(
                "select id, tier from (
                     select id, case when lower(name) = lower($1) then 0
                                     when starts_with(lower(name), lower($1)) then 1
                                     when name ilike '%' || $1 || '%' then 2 end as tier
                     from jobs where deleted_at is null and ($2 or not one_off)) t
                 where tier is not null order by tier, id desc",
            )
            .bind(q)
            .bind(one_off)
            .fetch_all(&pool)
            .await
            .unwrap()
            .into_iter()
            .map(|(id, tier)| (id, Match::from_rank(u8::try_from(tier).unwrap()).unwrap()))
            .collect::<Vec<_>>()
        }
    };
    let count = |t: &[(i64, Match)], m: Match| t.iter().filter(|(_, x)| *x == m).count();
    for (q, one_off, limits) in [
        ("needle", false, &[1, 7, 50][..]),
        ("needle", true, &[7][..]),
        ("job", false, &[50, 333][..]),
        ("old", false, &[7, 50][..]),
        ("old", true, &[50][..]),
    ] {
        let truth = truth(q, one_off).await;
        for limit in limits {
            let f = JobFilter { q: Some(q.into()), one_off, limit: *limit, ..JobFilter::default() };
            let pages = all_pages(&store, &f).await;
            assert_eq!(pages.len(), truth.len(), "{q} one_off {one_off} limit {limit}");
            assert!(pages == truth, "{q} one_off {one_off} limit {limit}: the pages differ from the truth");
        }
        match q {
            "needle" => {
                assert!(count(&truth, Match::Exact) >= 3 && count(&truth, Match::Substring) > 50, "{q}");
                assert!((50..berth::store::lists::NAME_PROBE as usize).contains(&count(&truth, Match::Prefix)));
            }
            _ => {
                let prefixes = count(&truth, Match::Prefix);
                assert!(prefixes > berth::store::lists::NAME_PROBE as usize, "{q}: {prefixes}");
                assert!(count(&truth, Match::Substring) > 20, "{q}");
            }
        }
    }
}

#[tokio::test]
async fn the_run_list_filters_by_job_state_trigger_and_id() {
    let store = common::fresh_store().await;
    let a = store.job_create(&spec("alpha"), &Input::Keep(None), serde_json::json!({}), "alice").await.unwrap();
    let b = store.job_create(&spec("beta"), &Input::Keep(None), serde_json::json!({}), "alice").await.unwrap();
    let a1 = start(&store, a, "alice").await;
    let a2 = start(&store, a, "cron").await;
    let b1 = start(&store, b, "alice").await;
    let ids = |runs: Vec<berth::store::runs::RunRow>| -> Vec<i64> { runs.into_iter().map(|r| r.id.0).collect() };
    let all = store.run_list(&RunFilter { limit: 10, ..RunFilter::default() }).await.unwrap();
    assert_eq!(ids(all), [b1.0, a2.0, a1.0], "newest first");
    let of_a = store.run_list(&RunFilter { job: Some(a), limit: 10, ..RunFilter::default() }).await.unwrap();
    assert_eq!(ids(of_a), [a2.0, a1.0]);
    let by_cron = RunFilter { triggered_by: Some("cron".into()), limit: 10, ..RunFilter::default() };
    assert_eq!(ids(store.run_list(&by_cron).await.unwrap()), [a2.0]);
    let by_id = RunFilter { q: Some(b1.0.to_string()), limit: 10, ..RunFilter::default() };
    assert_eq!(ids(store.run_list(&by_id).await.unwrap()), [b1.0]);
    let by_name = RunFilter { q: Some("lph".into()), limit: 10, ..RunFilter::default() };
    assert_eq!(ids(store.run_list(&by_name).await.unwrap()), [a2.0, a1.0]);
    let done = RunFilter { states: vec![RunState::Succeeded], limit: 10, ..RunFilter::default() };
    assert!(store.run_list(&done).await.unwrap().is_empty());
    let page = RunFilter { before: Some(a2), limit: 10, ..RunFilter::default() };
    assert_eq!(ids(store.run_list(&page).await.unwrap()), [a1.0]);

    // A user's runs come from two indexes (finished and waiting runs; queued, admitted and running
    // ones), merged newest first.
    sqlx::query("update runs set state = 'succeeded', finished_at = now() where id = $1")
        .bind(a2)
        .execute(store.pool())
        .await
        .unwrap();
    sqlx::query("update runs set state = 'admitted', admitted_at = now() where id = $1")
        .bind(a1)
        .execute(store.pool())
        .await
        .unwrap();
    let of_user = |before, limit| RunFilter { user: Some("7".into()), before, limit, ..RunFilter::default() };
    assert_eq!(ids(store.run_list(&of_user(None, 10)).await.unwrap()), [b1.0, a2.0, a1.0]);
    assert_eq!(ids(store.run_list(&of_user(None, 2)).await.unwrap()), [b1.0, a2.0]);
    assert_eq!(ids(store.run_list(&of_user(Some(b1), 10)).await.unwrap()), [a2.0, a1.0]);
    let done_of_user = RunFilter { states: vec![RunState::Succeeded], ..of_user(None, 10) };
    assert_eq!(ids(store.run_list(&done_of_user).await.unwrap()), [a2.0]);
    assert!(
        store
            .run_list(&RunFilter { user: Some("8".into()), limit: 10, ..RunFilter::default() })
            .await
            .unwrap()
            .is_empty()
    );
}

/// Every node type of a plan, depth first.
fn nodes(plan: &serde_json::Value, out: &mut Vec<String>) {
    if let Some(kind) = plan.get("Node Type").and_then(|v| v.as_str()) {
        let index = plan.get("Index Name").and_then(|v| v.as_str()).unwrap_or("");
        out.push(format!("{kind} {index}").trim().to_string());
    }
    for child in plan.get("Plans").and_then(|p| p.as_array()).into_iter().flatten() {
        nodes(child, out);
    }
}

fn plan_nodes(explain: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    nodes(&explain[0]["Plan"], &mut out);
    out
}

/// The node types and indexes of the plan of each statement a job list ran, by what it was for.
fn statement_nodes(plans: &[StatementPlan]) -> Vec<(String, Vec<String>)> {
    plans.iter().map(|p| (p.what.clone(), plan_nodes(&p.plan))).collect()
}

/// Whether the statement `what` ran and used a node containing `node`.
fn uses(plans: &[(String, Vec<String>)], what: &str, node: &str) -> bool {
    plans.iter().any(|(w, nodes)| w == what && nodes.iter().any(|n| n.contains(node)))
}

/// The search and the lists use the indexes meant for them on tables large enough for a plan to
/// matter (statistics taken).
#[tokio::test]
async fn the_search_and_the_lists_use_their_indexes() {
    let store = common::fresh_store().await;
    sqlx::query(
        "insert into jobs (name, service, namespace, user_id, created_by, one_off, tags)
         select 'job-' || g || '-' || md5(g::text), 'example', 'default', (g % 500)::text, 'alice', g % 2 = 0,
                case when g % 1000 = 1 then '{\"tier\": \"canary\"}'::jsonb else '{\"tier\": \"prod\"}'::jsonb end
         from generate_series(1, 40000) g",
    )
    .execute(store.pool())
    .await
    .unwrap();
    sqlx::query(
        "insert into runs (job_id, user_id, service, namespace, priority, flow, cpu, memory, pods, storage, state,
                           triggered_by)
         select id, user_id, service, namespace, 'normal', 'priority', 0, 0, 1, 0, 'succeeded', 'upload' from jobs",
    )
    .execute(store.pool())
    .await
    .unwrap();
    // Statistics from every row, not a sample of 30,000 of the 40,000: the same estimates, and so
    // the same plans, on every run (a sample once made the rare substring's rest read the newest
    // jobs instead of the trigram index).
    sqlx::raw_sql(
        "alter table jobs alter column name set statistics 200; alter table runs alter column job_id set statistics 200;
         analyze jobs; analyze runs",
    )
    .execute(store.pool())
    .await
    .unwrap();
    let jobs = |f: JobFilter| {
        let store = &store;
        async move { statement_nodes(&store.job_list_plan(&JobFilter { limit: 50, ..f }).await.unwrap()) }
    };

    // The exact and prefix tiers ask the name index (migration 0022) first. A common prefix (one
    // stored name in 18 starts with `job-3`): more than the name index reads, so the page is found
    // among the newest stored jobs (jobs_stored backwards); no rest runs.
    let common = jobs(JobFilter { q: Some("job-3".into()), ..JobFilter::default() }).await;
    assert!(uses(&common, "exact", "jobs_stored_name_lower"), "{common:?}");
    assert!(uses(&common, "prefix", "Index Scan jobs_stored_name_lower"), "{common:?}");
    assert!(uses(&common, "window prefix", "Index Scan jobs_stored"), "{common:?}");
    assert!(!common.iter().any(|(w, _)| w.starts_with("rest") || w.ends_with("substring")), "{common:?}");
    // A prefix common in old names only (`job-1`: ids 1 to 19999, none in the window): the rest
    // reads it from the name index, as a range.
    let old = jobs(JobFilter { q: Some("job-1".into()), ..JobFilter::default() }).await;
    assert!(uses(&old, "window prefix", "Index Scan jobs_stored"), "{old:?}");
    assert!(uses(&old, "rest prefix", "jobs_stored_name_lower"), "{old:?}");
    // A name: the name index gives it at once.
    let name = jobs(JobFilter { q: Some("JOB-39999-".into()), ..JobFilter::default() }).await;
    assert!(uses(&name, "prefix", "Index Scan jobs_stored_name_lower"), "{name:?}");
    assert!(!name.iter().any(|(w, _)| w.contains("window prefix")), "{name:?}");
    // A rare one in the middle of names: the name index finds no exact name nor prefix, the newest
    // stored jobs some, the trigram index of stored job names the rest.
    let rare = jobs(JobFilter { q: Some("7f3a".into()), ..JobFilter::default() }).await;
    assert!(uses(&rare, "exact", "jobs_stored_name_lower"), "{rare:?}");
    assert!(uses(&rare, "prefix", "jobs_stored_name_lower"), "{rare:?}");
    assert!(uses(&rare, "window substring", "Index Scan jobs_stored"), "{rare:?}");
    assert!(uses(&rare, "rest substring", "Bitmap Index Scan jobs_stored_name_trgm"), "{rare:?}");
    assert!(uses(&rare, "rest substring", "Index Scan jobs_pkey"), "the rest's rows by id: {rare:?}");
    assert!(!rare.iter().any(|(_, nodes)| nodes.iter().any(|n| n == "Seq Scan")), "{rare:?}");
    // A typo no name contains: the same for similar names (word similarity, the same index).
    let typo = jobs(JobFilter { q: Some("xqzjv".into()), ..JobFilter::default() }).await;
    assert!(uses(&typo, "rest similar", "Bitmap Index Scan jobs_stored_name_trgm"), "{typo:?}");
    // With the one-off jobs of uploads: the trigram index over every job name.
    let all = jobs(JobFilter { q: Some("7f3a".into()), one_off: true, ..JobFilter::default() }).await;
    assert!(uses(&all, "rest substring", "Bitmap Index Scan jobs_name_trgm"), "{all:?}");
    // There the exact and prefix tiers take the window and the same index (anchored `ilike`): the
    // name index holds stored jobs only.
    assert!(uses(&all, "rest exact", "Bitmap Index Scan jobs_name_trgm"), "{all:?}");
    assert!(uses(&all, "rest prefix", "Bitmap Index Scan jobs_name_trgm"), "{all:?}");
    assert!(!all.iter().any(|(w, _)| w == "exact" || w == "prefix"), "{all:?}");
    // A rare label: the newest stored jobs, then the labels' GIN index (migration 0015).
    let tier = |v: &str| vec![("tier".to_string(), v.to_string())];
    let canary = jobs(JobFilter { tags: tier("canary"), ..JobFilter::default() }).await;
    assert!(uses(&canary, "rest", "Bitmap Index Scan jobs_stored_tags"), "{canary:?}");
    let prod = jobs(JobFilter { tags: tier("prod"), ..JobFilter::default() }).await;
    assert!(uses(&prod, "window", "Index Scan jobs_stored"), "{prod:?}");
    // No search, no label: the newest stored jobs.
    let list = jobs(JobFilter::default()).await;
    assert!(uses(&list, "list", "jobs_stored"), "{list:?}");

    let runs = |f: RunFilter| {
        let store = &store;
        async move { plan_nodes(&store.run_list_plan(&RunFilter { limit: 50, ..f }).await.unwrap()) }
    };
    // A user's runs: their finished (and waiting) runs by runs_user_done (migration 0019), their
    // queued, admitted and running ones by the claim path's partial indexes.
    let by_user = runs(RunFilter { user: Some("42".into()), ..RunFilter::default() }).await;
    for index in ["runs_user_done", "runs_queued_namespace", "runs_admitted", "runs_running_worker"] {
        assert!(by_user.iter().any(|n| n.ends_with(index)), "{index}: {by_user:?}");
    }
    assert!(!by_user.iter().any(|n| n.contains("runs_pkey") || n.starts_with("Seq Scan")), "{by_user:?}");
    let failed = runs(RunFilter {
        user: Some("42".into()),
        states: vec![RunState::Failed, RunState::Queued],
        ..RunFilter::default()
    })
    .await;
    assert!(failed.iter().any(|n| n.ends_with("runs_user_done")), "{failed:?}");
    let by_job = runs(RunFilter { job: Some(JobId(99)), ..RunFilter::default() }).await;
    assert!(by_job.iter().any(|n| n.contains("runs_job")), "{by_job:?}");
    let newest = runs(RunFilter::default()).await;
    assert!(newest.iter().any(|n| n.contains("runs_pkey")), "newest first walks the primary key: {newest:?}");
    // A namespace (few per installation): newest first, filtering (no index of its own).
    let namespace = runs(RunFilter { namespace: Some("default".into()), ..RunFilter::default() }).await;
    assert!(namespace.iter().any(|n| n.contains("runs_pkey")), "{namespace:?}");
}
