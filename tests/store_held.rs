//! A held connection (`store::held`) on real Postgres: the loop's statements run on one server
//! session, and a session that died is replaced at the next statement after the one that failed.

mod common;

use berth::store::runs::ClaimParams;

#[tokio::test]
async fn a_held_connection_keeps_its_session_and_is_replaced_once_it_died() {
    let store = common::fresh_store().await;
    common::create_namespace(&store, "default", 1000).await;
    let worker = common::register_example_worker(&store).await;
    let params = ClaimParams {
        worker,
        services: vec!["example".into()],
        free: common::EXAMPLE_WORKER,
        limit: 4,
        now: None,
        floor: None,
    };
    let mut held = store.hold();
    let session = |store: berth::store::Store| async move {
        // The server process that ran the latest claim.
        let pid: Option<i32> = sqlx::query_scalar(
            "select pid from pg_stat_activity
             where pid <> pg_backend_pid() and datname = current_database() and query like '-- Claims admitted runs%'
             order by query_start desc limit 1",
        )
        .fetch_optional(store.pool())
        .await
        .unwrap();
        pid.expect("the held session")
    };

    assert!(held.run_claim_batch(&params).await.unwrap().is_empty());
    let first = session(store.clone()).await;
    // Another loop's held connection, kept meanwhile: had `held` given its connection back, this
    // one would have taken it, and `held`'s next claim would run on another session.
    let mut other = store.hold();
    assert!(other.run_claim_batch(&params).await.unwrap().is_empty());
    assert_ne!(session(store.clone()).await, first, "the other loop has a session of its own");
    assert!(held.run_claim_batch(&params).await.unwrap().is_empty());
    assert_eq!(session(store.clone()).await, first, "both of `held`'s claims ran on one session");
    drop(other);

    let killed: bool =
        sqlx::query_scalar("select pg_terminate_backend($1)").bind(first).fetch_one(store.pool()).await.unwrap();
    assert!(killed);
    assert!(held.run_claim_batch(&params).await.is_err(), "the statement on the dead session fails");

    store.run_submit(common::priority_submit()).await.unwrap();
    assert_eq!(common::admit_once(&store, "held-test").await.len(), 1);
    let claimed = held.run_claim_batch(&params).await.expect("a new session after the failure");
    assert_eq!(claimed.len(), 1, "and it claims as before");
    assert_ne!(session(store.clone()).await, first);
}
