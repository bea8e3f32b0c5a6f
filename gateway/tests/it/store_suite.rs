//! The store suite: one set of checks, run against SQLite and PostgreSQL.

use serde_json::{Map, json};
use turnout_core::store::testing::{Backend, fresh_dir};
use turnout_core::{ManualClock, Store};
use turnout_gateway::admin::Admin;
use turnout_gateway::keys::secret::KeyHasher;
use turnout_gateway::keys::store as key_store;
use turnout_gateway::limiter::Window;
use turnout_gateway::limiter::memory::QuotaCount;
use turnout_gateway::limiter::quota_store;
use turnout_gateway::usage::histogram::Histogram;
use turnout_gateway::usage::recorder::MinuteStats;

async fn store(backend: Backend) -> Store {
    let url = backend.fresh_url().await;
    let s = Store::open(url.as_deref(), &fresh_dir("store"), 5)
        .await
        .unwrap();
    assert_eq!(
        s.migrate("gateway", turnout_gateway::app::MIGRATIONS)
            .await
            .unwrap(),
        turnout_gateway::app::MIGRATIONS.len()
    );
    assert_eq!(
        s.migrate("gateway", turnout_gateway::app::MIGRATIONS)
            .await
            .unwrap(),
        0,
        "migrating twice is a no-op"
    );
    s
}

fn admin(store: Store) -> Admin {
    let clock = ManualClock::at(
        chrono::DateTime::parse_from_rfc3339("2026-11-27T12:00:00Z")
            .unwrap()
            .into(),
    );
    Admin {
        store,
        hasher: KeyHasher::new(b"suite"),
        clock: std::sync::Arc::new(clock),
    }
}

fn obj(v: serde_json::Value) -> Map<String, serde_json::Value> {
    v.as_object().unwrap().clone()
}

async fn plans_and_keys_round_trip_and_changes_are_followed(backend: Backend) {
    let a = admin(store(backend).await);
    let rev0 = key_store::current_rev(&a.store).await.unwrap();
    let plan = a.create_plan("t", &obj(json!({"name": "p", "rate_per_second": 2.5, "burst": 4, "quota_per_day": 9, "timezone": "Europe/Paris", "scopes": ["events"]}))).await.unwrap();
    assert_eq!(a.plan("p").await.unwrap(), plan);
    assert_eq!(a.plan(&plan.id).await.unwrap(), plan);
    assert!(matches!(
        a.create_plan(
            "t",
            &obj(json!({"name": "p", "rate_per_second": 1, "burst": 1}))
        )
        .await,
        Err(turnout_gateway::admin::AdminError::Conflict(_))
    ));
    let created = a
        .create_key(
            "t",
            &obj(json!({"name": "k", "plan": "p", "overrides": {"burst": 8}})),
        )
        .await
        .unwrap();
    let (key, _) = a.key(&created.key.id).await.unwrap();
    assert_eq!(key, created.key);
    assert_eq!(key.overrides.burst, Some(8));

    let changes = key_store::changes_since(&a.store, rev0).await.unwrap();
    assert_eq!((changes.plans.len(), changes.keys.len()), (1, 1));
    let rev1 = changes.rev;
    a.set_key_status("t", &key.id, turnout_gateway::keys::KeyStatus::Disabled)
        .await
        .unwrap();
    let changes = key_store::changes_since(&a.store, rev1).await.unwrap();
    assert_eq!(
        (changes.plans.len(), changes.keys.len()),
        (0, 1),
        "only what changed after rev1"
    );
    assert_eq!(
        changes.keys[0].status,
        turnout_gateway::keys::KeyStatus::Disabled
    );
    assert!(
        key_store::changes_since(&a.store, changes.rev)
            .await
            .unwrap()
            .keys
            .is_empty()
    );

    let (audit, count) = key_store::list_audit(&a.store, 0, 10).await.unwrap();
    assert_eq!(count, 3);
    assert_eq!(audit[0].action, "key.update");
    assert_eq!(audit[0].before.as_ref().unwrap()["status"], "active");
}

async fn first_setting_wins(backend: Backend) {
    let a = admin(store(backend).await);
    let one = a.ensure_admin_token().await.unwrap();
    let two = a.ensure_admin_token().await.unwrap();
    assert!(one.is_some() && two.is_none(), "a token is generated once");
    let s1 = turnout_gateway::admin::service::key_hash_secret(&a.store, None, &*a.clock)
        .await
        .unwrap();
    let s2 = turnout_gateway::admin::service::key_hash_secret(&a.store, None, &*a.clock)
        .await
        .unwrap();
    assert_eq!(s1, s2);
}

async fn quota_counts_add_up_and_load_the_newest_period(backend: Backend) {
    let s = store(backend).await;
    let delta = |period: &str, n| QuotaCount {
        subject: "k".into(),
        window: Window::Day,
        period: period.into(),
        count: n,
    };
    quota_store::add(&s, &[delta("2026-11-26", 5)], 1000)
        .await
        .unwrap();
    quota_store::add(&s, &[delta("2026-11-27", 2)], 1000)
        .await
        .unwrap();
    quota_store::add(&s, &[delta("2026-11-27", 3)], 1001)
        .await
        .unwrap();
    let loaded = quota_store::load_recent(&s, 1001, 100).await.unwrap();
    assert_eq!(loaded, vec![delta("2026-11-27", 5)]);
    assert_eq!(quota_store::prune(&s, 100_000, 10).await.unwrap(), 2);
}

async fn usage_rows_replace_and_filter(backend: Backend) {
    let s = store(backend).await;
    let stats = |calls| {
        let mut h = Histogram::default();
        h.record(1000);
        MinuteStats {
            calls,
            latency: h,
            ..MinuteStats::default()
        }
    };
    let k: std::sync::Arc<str> = "k".into();
    let r: std::sync::Arc<str> = "/v1/a".into();
    use turnout_gateway::usage::store as usage_store;
    usage_store::write(&s, "i1", &[(10, k.clone(), r.clone(), stats(1))])
        .await
        .unwrap();
    usage_store::write(&s, "i1", &[(10, k.clone(), r.clone(), stats(4))])
        .await
        .unwrap();
    usage_store::write(
        &s,
        "i2",
        &[
            (10, k.clone(), r.clone(), stats(2)),
            (11, "other".into(), r.clone(), stats(7)),
        ],
    )
    .await
    .unwrap();
    let rows = usage_store::read(&s, 0, 100, Some("k"), None)
        .await
        .unwrap();
    let calls: u64 = rows.iter().map(|r| r.3.calls).sum();
    assert_eq!(calls, 6, "a rewrite replaces its row; instances add up");
    assert_eq!(
        usage_store::read(&s, 11, 12, None, Some("/v1/a"))
            .await
            .unwrap()
            .len(),
        1
    );
}

turnout_core::on_both_stores!(
    plans_and_keys_round_trip_and_changes_are_followed,
    first_setting_wins,
    quota_counts_add_up_and_load_the_newest_period,
    usage_rows_replace_and_filter,
);
