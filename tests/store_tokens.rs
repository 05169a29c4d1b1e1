//! Tokens and grants in the store: what authenticates, when a use is recorded, and who holds
//! which permission (the one function the checks and the filtered lists share).

mod common;

use std::collections::BTreeMap;

use berth::auth::{JobPermission, NamespacePermission, TokenKind, token_generate, token_hash};
use berth::domain::{Flow, JobKind, Priority};
use berth::resources::Resources;
use berth::retry::RetryPolicy;
use berth::store::Store;
use berth::store::grants::Viewer;
use berth::store::jobs::{Input, JobSpec};
use berth::store::tokens::TokenParams;
use chrono::{Duration, Utc};

fn params(subject: &str) -> TokenParams {
    TokenParams {
        subject: subject.into(),
        kind: TokenKind::User,
        groups: vec![],
        admin: false,
        may_act_for_others: false,
        expires_at: None,
        created_by: "test".into(),
    }
}

async fn make(store: &Store, p: &TokenParams) -> (i64, Vec<u8>) {
    let hash = token_hash(&token_generate());
    let (id, _) = store.token_create(&hash, p).await.unwrap();
    (id, hash)
}

async fn last_used(store: &Store, id: i64) -> Option<chrono::DateTime<Utc>> {
    store.token_list().await.unwrap().into_iter().find(|t| t.id == id).unwrap().last_used_at
}

#[tokio::test]
async fn only_live_tokens_authenticate_and_a_use_is_written_at_most_once_a_minute() {
    let store = common::fresh_store().await;
    let (id, hash) = make(&store, &params("alice")).await;
    assert_eq!(last_used(&store, id).await, None);
    let caller = store.token_authenticate(&hash).await.unwrap().unwrap();
    assert_eq!((caller.subject.as_str(), caller.admin), ("alice", false));
    let first = last_used(&store, id).await.expect("use recorded");
    store.token_authenticate(&hash).await.unwrap().unwrap();
    assert_eq!(last_used(&store, id).await, Some(first), "within a minute: no write");
    sqlx::query("update tokens set last_used_at = now() - interval '2 minutes' where id = $1")
        .bind(id)
        .execute(store.pool())
        .await
        .unwrap();
    store.token_authenticate(&hash).await.unwrap().unwrap();
    assert!(last_used(&store, id).await.unwrap() >= first, "a minute later: recorded again");

    assert!(store.token_authenticate(&token_hash("berth_unknown")).await.unwrap().is_none());
    let (_, expired) =
        make(&store, &TokenParams { expires_at: Some(Utc::now() - Duration::seconds(1)), ..params("e") }).await;
    assert!(store.token_authenticate(&expired).await.unwrap().is_none(), "expired");
    assert!(store.token_revoke(id).await.unwrap());
    assert!(store.token_authenticate(&hash).await.unwrap().is_none(), "revoked");
    assert!(!store.token_revoke(999_999).await.unwrap());
    let user_acting = TokenParams { may_act_for_others: true, ..params("u") };
    assert!(store.token_create(&token_hash("x"), &user_acting).await.is_err(), "only service accounts act for others");
}

#[tokio::test]
async fn permissions_come_from_ownership_grants_groups_and_the_namespace() {
    let store = common::fresh_store().await;
    let spec = JobSpec {
        name: "etl".into(),
        description: String::new(),
        kind: JobKind::Batch,
        service: "example".into(),
        namespace: "default".into(),
        run_as: "alice".into(),
        priority: Priority::Normal,
        flow: Flow::Priority,
        request: Resources { cpu: 0, memory: 0, pods: 1, storage: 0 },
        command: Some(vec!["true".into()]),
        args: vec![],
        env: BTreeMap::new(),
        timeout_seconds: None,
        retry: RetryPolicy::default(),
        tags: BTreeMap::new(),
        restart: None,
        steps: Vec::new(),
    };
    let job = store.job_create(&spec, &Input::Keep(None), serde_json::json!({}), "alice").await.unwrap();
    let who =
        |s: &str, groups: &[&str]| Viewer { subject: s.into(), groups: groups.iter().map(|g| g.to_string()).collect() };
    let allows = |v: Viewer, p: JobPermission| {
        let store = store.clone();
        async move { store.job_allows(job, &v, p).await.unwrap().unwrap() }
    };
    assert!(allows(who("alice", &[]), JobPermission::Delete).await, "the owner holds everything");
    assert!(!allows(who("bob", &[]), JobPermission::View).await);
    let grant = |k: &str, g: &str, p: &str| (k.to_string(), g.to_string(), p.to_string());
    store
        .job_grants_replace(
            job,
            &[grant("user", "bob", "run"), grant("group", "ml", "update"), grant("group", "*", "view")],
            "alice",
        )
        .await
        .unwrap();
    assert!(allows(who("bob", &[]), JobPermission::Run).await);
    assert!(allows(who("bob", &[]), JobPermission::View).await, "any permission includes view");
    assert!(!allows(who("bob", &[]), JobPermission::Update).await);
    assert!(allows(who("carol", &["ml"]), JobPermission::Update).await, "through a group");
    assert!(allows(who("anyone", &[]), JobPermission::View).await, "`*` is every token");
    assert!(!allows(who("anyone", &[]), JobPermission::Run).await);
    assert_eq!(store.job_grants(job).await.unwrap().len(), 3);
    store.job_grants_replace(job, &[], "alice").await.unwrap();
    assert!(!allows(who("bob", &[]), JobPermission::View).await, "a PUT replaces the whole set");
    assert!(
        store.job_allows(berth::store::JobId(424242), &who("x", &[]), JobPermission::View).await.unwrap().is_none()
    );

    assert!(!store.namespace_allows("default", &who("dave", &[]), NamespacePermission::Create).await.unwrap());
    store.namespace_grants_replace("default", &[grant("user", "dave", "view")], "root").await.unwrap();
    assert!(allows(who("dave", &[]), JobPermission::View).await, "the namespace's view shows its jobs");
    assert!(!allows(who("dave", &[]), JobPermission::Run).await);
    assert!(store.namespace_allows("default", &who("dave", &[]), NamespacePermission::View).await.unwrap());
    assert!(!store.namespace_allows("default", &who("dave", &[]), NamespacePermission::Create).await.unwrap());
}
