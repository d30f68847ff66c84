//! The adapter contract: the semantics every implementation of the storage and queue ports must
//! have (the DynamoDB/SQS adapters will run these same bodies). Here, on the embedded adapters.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use genrelay_core::ports::{
    Created, DispatchMessage, DispatchQueue, IdGenerator, JobQuery, JobStore,
};
use genrelay_core::spec::{Inputs, Params, UpscaleResolution};
use genrelay_core::{
    Capability, ClientId, IdempotencyKey, IdempotencyRecord, Job, JobId, JobSpec, JobStatus,
    RequestFingerprint,
};
use genrelay_embedded::{Database, SqliteQueue, SqliteStore};
use serde_json::json;

struct Adapters {
    _dir: tempfile::TempDir,
    store: SqliteStore,
    queue: SqliteQueue,
}

fn embedded() -> Adapters {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&dir.path().join("contract.db")).unwrap();
    Adapters {
        store: SqliteStore::new(db.clone()),
        queue: SqliteQueue::new(db),
        _dir: dir,
    }
}

fn client(name: &str) -> ClientId {
    ClientId::parse(name).unwrap()
}

fn job_at(client_name: &str, created_at: chrono::DateTime<Utc>) -> Job {
    let spec = JobSpec::new(
        Capability::ImageUpscale,
        None,
        Inputs {
            image_urls: vec!["https://e.com/a.png".into()],
            ..Inputs::default()
        },
        Params::ImageUpscale {
            resolution: UpscaleResolution::K2,
        },
    )
    .unwrap();
    Job::new(
        genrelay_core::ports::UlidGenerator.job_id(),
        client(client_name),
        spec,
        None,
        None,
        created_at,
        created_at + chrono::Duration::hours(1),
    )
}

fn record(
    job: &Job,
    key: &str,
    body: serde_json::Value,
    expires_in: chrono::Duration,
) -> IdempotencyRecord {
    IdempotencyRecord {
        client_id: job.client_id.clone(),
        key: IdempotencyKey::parse(key).unwrap(),
        fingerprint: RequestFingerprint::of_json(&body),
        job_id: job.id.clone(),
        expires_at: job.created_at + expires_in,
    }
}

#[tokio::test]
async fn put_if_absent_holds_under_concurrency() {
    let adapters = embedded();
    let store = Arc::new(adapters.store.clone());
    let now = Utc::now();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let job = job_at("a", now);
            let record = record(&job, "same", json!({"x": 1}), chrono::Duration::hours(24));
            store.create(&job, Some(&record)).await.unwrap()
        }));
    }
    let mut inserted = 0;
    for task in tasks {
        if task.await.unwrap() == Created::Inserted {
            inserted += 1;
        }
    }
    assert_eq!(inserted, 1);
    let page = store
        .list(
            &client("a"),
            &JobQuery {
                limit: 50,
                ..JobQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);

    let job = page.items[0].clone();
    assert!(
        matches!(
            store.create(&job, None).await,
            Err(genrelay_core::Error::Conflict(_))
        ),
        "same id twice"
    );
}

#[tokio::test]
async fn an_expired_idempotency_record_is_replaced() {
    let store = embedded().store;
    let first = job_at("a", Utc::now());
    store
        .create(
            &first,
            Some(&record(&first, "k", json!(1), chrono::Duration::hours(24))),
        )
        .await
        .unwrap();
    let later = job_at("a", first.created_at + chrono::Duration::hours(25));
    let outcome = store
        .create(
            &later,
            Some(&record(&later, "k", json!(2), chrono::Duration::hours(24))),
        )
        .await
        .unwrap();
    assert_eq!(outcome, Created::Inserted);
    let soon = job_at("a", later.created_at + chrono::Duration::hours(1));
    match store
        .create(
            &soon,
            Some(&record(&soon, "k", json!(3), chrono::Duration::hours(24))),
        )
        .await
        .unwrap()
    {
        Created::KeyTaken(existing) => assert_eq!(existing.job_id, later.id),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn transitions_are_conditional_on_the_stored_status() {
    let store = embedded().store;
    let job = job_at("a", Utc::now());
    store.create(&job, None).await.unwrap();
    let mut running = job.clone();
    running.start("mock", Utc::now()).unwrap();
    assert!(
        store
            .replace_if_status(&running, JobStatus::Queued)
            .await
            .unwrap()
    );
    assert!(
        !store
            .replace_if_status(&running, JobStatus::Queued)
            .await
            .unwrap(),
        "the second writer loses"
    );
    let mut cancelled = running.clone();
    cancelled.cancel(Utc::now()).unwrap();
    assert!(
        store
            .replace_if_status(&cancelled, JobStatus::Running)
            .await
            .unwrap()
    );
    let mut late = running.clone();
    late.succeed(vec![], Utc::now()).unwrap();
    assert!(
        !store
            .replace_if_status(&late, JobStatus::Running)
            .await
            .unwrap(),
        "terminal states are final"
    );
    let stored = store.get(&client("a"), &job.id).await.unwrap().unwrap();
    assert_eq!(stored.status, JobStatus::Cancelled);
    assert!(
        store.get(&client("b"), &job.id).await.unwrap().is_none(),
        "keyed by client"
    );
}

#[tokio::test]
async fn cursors_walk_every_item_once_newest_first() {
    let store = embedded().store;
    let start = Utc::now();
    let mut ids = Vec::new();
    for i in 0..7 {
        // Two jobs share each timestamp, so the cursor must break ties by id.
        let job = job_at("a", start + chrono::Duration::seconds(i / 2));
        store.create(&job, None).await.unwrap();
        ids.push(job.id);
    }
    store.create(&job_at("b", start), None).await.unwrap();
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list(
                &client("a"),
                &JobQuery {
                    limit: 3,
                    cursor,
                    ..JobQuery::default()
                },
            )
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|j| (j.created_at, j.id.clone())));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest first, ties by id");
}

#[tokio::test]
async fn due_polls_and_stuck_queued_queries_find_only_their_jobs() {
    let store = embedded().store;
    let now = Utc::now();
    let old = job_at("a", now - chrono::Duration::minutes(10));
    let fresh = job_at("a", now);
    store.create(&old, None).await.unwrap();
    store.create(&fresh, None).await.unwrap();
    let stuck = store
        .queued_before(now - chrono::Duration::minutes(1), 10)
        .await
        .unwrap();
    assert_eq!(stuck.iter().map(|j| &j.id).collect::<Vec<_>>(), [&old.id]);

    let mut due = fresh.clone();
    due.start("mock", now).unwrap();
    due.await_upstream("t1".into(), now - chrono::Duration::seconds(1), now);
    store
        .replace_if_status(&due, JobStatus::Queued)
        .await
        .unwrap();
    let mut later = old.clone();
    later.start("mock", now).unwrap();
    later.await_upstream("t2".into(), now + chrono::Duration::minutes(5), now);
    store
        .replace_if_status(&later, JobStatus::Queued)
        .await
        .unwrap();
    let polls = store.due_polls(now, 10).await.unwrap();
    assert_eq!(polls.iter().map(|j| &j.id).collect::<Vec<_>>(), [&fresh.id]);
    assert!(store.queued_before(now, 10).await.unwrap().is_empty());
}

fn message(n: u32) -> DispatchMessage {
    DispatchMessage {
        job_id: JobId::parse(&format!("job_{n}")).unwrap(),
        client_id: client("a"),
    }
}

#[tokio::test]
async fn unacknowledged_messages_come_back_after_their_visibility_timeout() {
    let queue = embedded().queue;
    queue.send(&message(1)).await.unwrap();
    queue.send(&message(2)).await.unwrap();
    let first = queue.receive(10, Duration::from_millis(200)).await.unwrap();
    assert_eq!(first.len(), 2);
    assert!(
        queue
            .receive(10, Duration::from_millis(200))
            .await
            .unwrap()
            .is_empty(),
        "hidden while in flight"
    );
    queue.ack(&first[0].receipt).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = queue.receive(10, Duration::from_millis(200)).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].message, first[1].message);
    assert_eq!(again[0].receive_count, 2);
    queue.ack(&first[1].receipt).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        queue
            .receive(10, Duration::from_millis(200))
            .await
            .unwrap()
            .len(),
        1,
        "a stale receipt acknowledges nothing"
    );
}

#[tokio::test]
async fn a_message_received_too_often_moves_to_the_dead_letter_queue() {
    let queue = embedded().queue;
    queue.send(&message(7)).await.unwrap();
    for _ in 0..genrelay_embedded::MAX_RECEIVES {
        assert_eq!(queue.receive(1, Duration::ZERO).await.unwrap().len(), 1);
    }
    assert!(queue.receive(1, Duration::ZERO).await.unwrap().is_empty());
    assert_eq!(queue.dead_letters().await.unwrap(), [message(7)]);
}
