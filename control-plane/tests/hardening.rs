//! Issue 14's control-plane findings: per-address limits on the routes
//! anyone can call, bounded password hashing, the invitation token checked
//! before any hash, the namespace quota and the last owner under concurrent
//! requests, bounded failed-login audit rows, API keys that cannot outlive
//! the key that made them, expired invitations purged, and 502s that say
//! nothing about the cell.
mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Backend, Client, PASSWORD, Resp, TestApp};
use futures::future::join_all;
use orrery_control_plane::store::{
    Audit, ControlStore, PostgresStore, SqliteStore, User, UserState,
};
use serde_json::json;

on_both!(
    a_signup_burst_from_one_address_is_answered_429_with_retry_after,
    invitation_accepts_are_limited_per_address,
    password_hashes_are_bounded_process_wide,
    an_invitation_token_is_checked_before_the_password,
    the_namespace_quota_holds_under_concurrent_creates,
    the_last_owner_survives_concurrent_demotions_and_removals,
    failed_login_audit_rows_are_bounded,
    an_api_key_cannot_mint_a_key_that_outlives_it,
    expired_invitations_are_purged,
    cell_failures_do_not_leak_the_cell,
);

/// A direct connection to the store's database, to read what the API does
/// not show (audit rows of no account).
enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Raw {
    async fn login_audit_texts(&self) -> Vec<String> {
        let sql = "SELECT actor, target, detail FROM audit_log WHERE action = 'session.login'";
        let rows: Vec<(String, String, String)> = match self {
            Raw::Sqlite(pool) => sqlx::query_as(sql).fetch_all(pool).await.unwrap(),
            Raw::Postgres(pool) => sqlx::query_as(sql).fetch_all(pool).await.unwrap(),
        };
        rows.into_iter().flat_map(|(a, t, d)| [a, t, d]).collect()
    }
}

async fn open_raw(backend: Backend) -> (Arc<dyn ControlStore>, Option<tempfile::TempDir>, Raw) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}/control-plane.db", dir.path().display());
            let store = SqliteStore::open(&url).await.unwrap();
            let raw = sqlx::SqlitePool::connect(&url).await.unwrap();
            (Arc::new(store), Some(dir), Raw::Sqlite(raw))
        }
        Backend::Postgres => {
            let options = common::fresh_postgres_schema().await;
            let store = PostgresStore::open_with(options.clone()).await.unwrap();
            let raw = sqlx::PgPool::connect_with(options).await.unwrap();
            (Arc::new(store), None, Raw::Postgres(raw))
        }
    }
}

/// A control plane with generous anonymous limits, for tests that need
/// many accounts or invitations from one address.
async fn roomy(backend: Backend) -> TestApp {
    let (store, dir) = common::open_store(backend).await;
    TestApp::on_store(store, dir, |config| {
        config.signups_per_ip = 1000;
        config.invitation_accepts_per_ip = 1000;
    })
    .await
    .unwrap()
}

fn retry_after(res: &Resp) -> u64 {
    res.headers
        .get("retry-after")
        .unwrap_or_else(|| panic!("no Retry-After on {}: {}", res.status, res.body))
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn signup_body(email: &str) -> serde_json::Value {
    json!({"account_name": "Acme", "email": email, "password": PASSWORD})
}

async fn a_signup_burst_from_one_address_is_answered_429_with_retry_after(backend: Backend) {
    let app = TestApp::start(backend).await;
    let from = app.anon().with_ip("203.0.113.7");
    let mut created = 0;
    let mut refused = Vec::new();
    for i in 0..40 {
        let email = format!("burst{i}@example.com");
        let res = from.post("/api/v1/signup", signup_body(&email)).await;
        match res.status.as_u16() {
            201 => created += 1,
            429 => {
                let problem = res.problem(429);
                assert_eq!(problem["type"], "urn:orrery:problem:rate-limited");
                let secs = retry_after(&res);
                // 5 a minute refill one every 12 s.
                assert!((1..=12).contains(&secs), "Retry-After {secs}");
                refused.push(email);
            }
            other => panic!("signup {i}: {other} {}", res.body),
        }
    }
    assert_eq!(created, 5, "the default burst is 5 signups per address");
    assert_eq!(refused.len(), 35);
    // A refused signup created nothing.
    for email in &refused {
        assert!(app.store.user_by_email(email).await.unwrap().is_none());
    }
    // Another address has its own budget.
    app.anon()
        .with_ip("198.51.100.2")
        .post("/api/v1/signup", signup_body("other@example.com"))
        .await
        .ok(201);
}

async fn invitation_accepts_are_limited_per_address(backend: Backend) {
    let app = TestApp::start(backend).await;
    let from = app.anon().with_ip("203.0.113.8");
    let guess = json!({"token": "not-a-token", "password": PASSWORD});
    for _ in 0..10 {
        from.post("/api/v1/invitations/accept", guess.clone())
            .await
            .problem(404);
    }
    let res = from.post("/api/v1/invitations/accept", guess.clone()).await;
    res.problem(429);
    assert!(retry_after(&res) >= 1);
    app.anon()
        .with_ip("198.51.100.3")
        .post("/api/v1/invitations/accept", guess)
        .await
        .problem(404);
}

async fn password_hashes_are_bounded_process_wide(backend: Backend) {
    let (store, dir) = common::open_store(backend).await;
    let app = TestApp::on_store(store, dir, |config| {
        config.password_hash_concurrency = 1;
        config.password_hash_wait = Duration::from_millis(1);
    })
    .await
    .unwrap();
    // From 12 addresses, so no per-address limit is involved.
    let clients: Vec<Client<'_>> = (0..12)
        .map(|i| app.anon().with_ip(&format!("192.0.2.{}", i + 1)))
        .collect();
    let answers = join_all(clients.iter().enumerate().map(|(i, c)| {
        c.post(
            "/api/v1/signup",
            signup_body(&format!("hash{i}@example.com")),
        )
    }))
    .await;
    let busy: Vec<&Resp> = answers.iter().filter(|r| r.status == 503).collect();
    assert!(
        answers.iter().any(|r| r.status == 201),
        "someone got the hashing slot"
    );
    assert!(
        !busy.is_empty(),
        "12 concurrent hashes with one slot all ran"
    );
    for res in busy {
        assert_eq!(res.problem(503)["type"], "urn:orrery:problem:busy");
        assert!(retry_after(res) >= 1);
    }
    for res in &answers {
        assert!(matches!(res.status.as_u16(), 201 | 503), "{}", res.body);
    }
}

async fn an_invitation_token_is_checked_before_the_password(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("o@example.com").await;
    let token = owner
        .post(
            "/api/v1/users",
            json!({"email": "dev@example.com", "role": "developer"}),
        )
        .await
        .ok(201)["invite_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // An unknown token is answered before the password is looked at (so
    // before any hash): even a password that would fail validation is 404.
    app.anon()
        .post(
            "/api/v1/invitations/accept",
            json!({"token": "unknown", "password": "short"}),
        )
        .await
        .problem(404);
    // With a live token, the password is checked against the invitee's email.
    let res = app
        .anon()
        .post(
            "/api/v1/invitations/accept",
            json!({"token": token, "password": "dev@example.com"}),
        )
        .await;
    assert_eq!(res.fields(), ["password"]);
    app.anon()
        .post(
            "/api/v1/invitations/accept",
            json!({"token": token, "password": PASSWORD}),
        )
        .await
        .ok(200);
}

async fn the_namespace_quota_holds_under_concurrent_creates(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("o@example.com").await;
    // The default quota is 10.
    for i in 0..10 {
        owner
            .post("/api/v1/namespaces", json!({"name": format!("ns-{i}")}))
            .await
            .ok(201);
    }
    let res = owner
        .post("/api/v1/namespaces", json!({"name": "ns-10"}))
        .await;
    let problem = res.problem(422);
    assert_eq!(problem["type"], "urn:orrery:problem:quota-exceeded");
    assert_eq!(
        problem["detail"],
        "the account has reached its namespace quota (10)"
    );
    assert_eq!(res.fields(), ["name"]);
    assert_eq!(app.cell.namespaces().len(), 10, "the cell was not asked");

    // Concurrent creates in another account with a quota of 3: exactly 3 pass.
    let (store, dir) = common::open_store(backend).await;
    let small = TestApp::on_store(store, dir, |config| config.namespace_quota = 3)
        .await
        .unwrap();
    let (owner, _) = small.signup("o@example.com").await;
    let answers = join_all(
        (0..12).map(|i| owner.post("/api/v1/namespaces", json!({"name": format!("c-{i}")}))),
    )
    .await;
    let created = answers.iter().filter(|r| r.status == 201).count();
    let refused = answers.iter().filter(|r| r.status == 422).count();
    assert_eq!(
        (created, refused),
        (3, 9),
        "{:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let listed = owner.get("/api/v1/namespaces").await;
    assert_eq!(listed.ok(200).as_array().unwrap().len(), 3);
    // Deleting one frees a place.
    let id = listed.body[0]["id"].as_str().unwrap().to_owned();
    owner
        .delete(&format!("/api/v1/namespaces/{id}"))
        .await
        .ok(204);
    owner
        .post("/api/v1/namespaces", json!({"name": "again"}))
        .await
        .ok(201);
}

async fn active_owners(app: &TestApp, account_id: &str) -> usize {
    app.store
        .users(account_id)
        .await
        .unwrap()
        .into_iter()
        .filter(|u| u.role.as_str() == "owner" && u.state == UserState::Active)
        .count()
}

async fn the_last_owner_survives_concurrent_demotions_and_removals(backend: Backend) {
    let app = roomy(backend).await;
    for round in 0..4 {
        let (a, signed) = app.signup(&format!("a{round}@example.com")).await;
        let account_id = signed["account"]["id"].as_str().unwrap().to_owned();
        let a_id = signed["user"]["id"].as_str().unwrap().to_owned();
        let (b, b_id) = app
            .invite(&a, &format!("b{round}@example.com"), "owner")
            .await;
        assert_eq!(active_owners(&app, &account_id).await, 2);
        // Each owner takes the role from the other at the same time (even
        // rounds), or removes the other (odd rounds).
        let (of_a, of_b) = (
            format!("/api/v1/users/{a_id}"),
            format!("/api/v1/users/{b_id}"),
        );
        let (x, y) = if round % 2 == 0 {
            let demote = json!({"role": "admin"});
            tokio::join!(a.patch(&of_b, demote.clone()), b.patch(&of_a, demote))
        } else {
            tokio::join!(a.delete(&of_b), b.delete(&of_a))
        };
        assert_eq!(
            active_owners(&app, &account_id).await,
            1,
            "round {round}: {} {} / {} {}",
            x.status,
            x.body,
            y.status,
            y.body
        );
        let mut statuses = [x.status.as_u16(), y.status.as_u16()];
        statuses.sort();
        // The loser was refused as the last owner, or (when its request
        // was read after the winner's change) as no owner any more (403) or
        // no user any more (401).
        if round % 2 == 0 {
            assert!(
                matches!(statuses, [200, 403 | 409]),
                "{statuses:?}: {} / {}",
                x.body,
                y.body
            );
        } else {
            assert!(
                matches!(statuses, [204, 401 | 409]),
                "{statuses:?}: {} / {}",
                x.body,
                y.body
            );
        }
    }
}

async fn failed_login_audit_rows_are_bounded(backend: Backend) {
    let (store, dir, raw) = open_raw(backend).await;
    let app = TestApp::on_store(store, dir, |_| {}).await.unwrap();
    let long = format!("{}@example.com", "a".repeat(100_000));
    let secret = "the-submitted-password-9f3c";
    app.anon()
        .post("/api/v1/login", json!({"email": long, "password": secret}))
        .await
        .problem(401);
    let texts = raw.login_audit_texts().await;
    assert!(!texts.is_empty(), "the failed login was audited");
    for text in &texts {
        assert!(text.chars().count() <= 300, "{} chars kept", text.len());
        assert!(!text.contains(secret));
    }
    assert!(
        texts.iter().any(|t| t.ends_with("…[truncated]")),
        "{texts:?}"
    );
    // A normal email is kept whole.
    app.anon()
        .post(
            "/api/v1/login",
            json!({"email": "someone@example.com", "password": secret}),
        )
        .await
        .problem(401);
    let texts = raw.login_audit_texts().await;
    assert!(texts.contains(&"email:someone@example.com".to_owned()));
    assert!(texts.iter().all(|t| !t.contains(secret)));
}

async fn an_api_key_cannot_mint_a_key_that_outlives_it(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("o@example.com").await;
    let key = owner
        .post("/api/v1/api-keys", json!({"name": "ci", "expiry_days": 7}))
        .await;
    let token = key.ok(201)["token"].as_str().unwrap().to_owned();
    let program = app.bearer(&token);
    let res = program
        .post(
            "/api/v1/api-keys",
            json!({"name": "longer", "expiry_days": 30}),
        )
        .await;
    assert_eq!(res.fields(), ["expiry_days"]);
    assert!(
        res.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("outlive"),
        "{}",
        res.body
    );
    // Also for a service account's key made with an API key.
    let sa = owner
        .post(
            "/api/v1/service-accounts",
            json!({"name": "deployer", "role": "developer"}),
        )
        .await;
    let sa_id = sa.ok(201)["id"].as_str().unwrap().to_owned();
    let res = program
        .post(
            "/api/v1/api-keys",
            json!({"name": "sa", "expiry_days": 90, "owner": format!("service-account:{sa_id}")}),
        )
        .await;
    assert_eq!(res.fields(), ["expiry_days"]);
    // A shorter one is fine, and a session is not bound by any key.
    let shorter = program
        .post(
            "/api/v1/api-keys",
            json!({"name": "shorter", "expiry_days": 6}),
        )
        .await;
    shorter.ok(201);
    owner
        .post(
            "/api/v1/api-keys",
            json!({"name": "long", "expiry_days": 90}),
        )
        .await
        .ok(201);
}

async fn expired_invitations_are_purged(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, signed) = app.signup("o@example.com").await;
    let account_id = signed["account"]["id"].as_str().unwrap().to_owned();
    let live = owner
        .post(
            "/api/v1/users",
            json!({"email": "live@example.com", "role": "read"}),
        )
        .await;
    let live_id = live.ok(201)["user"]["id"].as_str().unwrap().to_owned();
    // An invitation that expired a minute ago, with a grant on a namespace.
    let now = chrono::Utc::now().timestamp_millis();
    let stale = User {
        id: uuid::Uuid::new_v4().to_string(),
        account_id: account_id.clone(),
        email: "stale@example.com".into(),
        role: "developer".parse().unwrap(),
        state: UserState::Invited,
        password_hash: None,
        created_ms: now - 8 * 86_400_000,
    };
    let token = "stale-invitation-token";
    app.store
        .invite_user(
            &stale,
            &orrery_control_plane::secret::sha256_hex(token),
            now - 60_000,
            &Audit::default(),
        )
        .await
        .unwrap();
    let ns = owner
        .post("/api/v1/namespaces", json!({"name": "orders"}))
        .await
        .ok(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    owner
        .put(
            &format!("/api/v1/namespaces/{ns}/permissions/user:{}", stale.id),
            json!({"permission": "write"}),
        )
        .await
        .ok(200);
    // It cannot be accepted.
    app.anon()
        .post(
            "/api/v1/invitations/accept",
            json!({"token": token, "password": PASSWORD}),
        )
        .await
        .problem(404);

    assert_eq!(app.store.purge_expired_invitations(now).await.unwrap(), 1);
    assert!(
        app.store
            .user(&account_id, &stale.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        app.store
            .user(&account_id, &live_id)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        app.store
            .grant(&ns, &format!("user:{}", stale.id))
            .await
            .unwrap()
            .is_none()
    );
    let audit = owner.get("/api/v1/audit-log").await;
    assert!(
        audit.ok(200)["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "invitation.expire"
                && e["target"] == format!("user:{}", stale.id)),
        "{}",
        audit.body
    );
    // Its email is free again; nothing is left to purge.
    owner
        .post(
            "/api/v1/users",
            json!({"email": "stale@example.com", "role": "read"}),
        )
        .await
        .ok(201);
    assert_eq!(app.store.purge_expired_invitations(now).await.unwrap(), 0);
}

async fn cell_failures_do_not_leak_the_cell(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("o@example.com").await;
    // Off loopback, where the fake cell listens: its address must not show.
    let owner = owner.with_ip("203.0.113.10");
    let id = owner
        .post("/api/v1/namespaces", json!({"name": "orders"}))
        .await
        .ok(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let port = app.cell.url.rsplit(':').next().unwrap().to_owned();
    app.cell.set_failing(true);
    let path = format!("/api/v1/namespaces/{id}");
    let answers = [
        owner
            .post("/api/v1/namespaces", json!({"name": "other"}))
            .await,
        owner.patch(&path, json!({"retention_days": 3})).await,
        owner.delete(&path).await,
    ];
    let audit = owner.get("/api/v1/audit-log").await;
    let mut texts: Vec<String> = answers
        .iter()
        .map(|res| {
            let problem = res.problem(502);
            assert_eq!(problem["type"], "urn:orrery:problem:cell-unavailable");
            assert_eq!(
                problem["detail"],
                "the namespace's cell is unavailable; try again"
            );
            problem.to_string()
        })
        .collect();
    // The tenant's audit log records the failures, as vaguely.
    let failures: Vec<_> = audit.ok(200)["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["outcome"] == "failure: cell-unavailable")
        .collect();
    assert_eq!(failures.len(), 3, "{}", audit.body);
    texts.extend(failures.iter().map(|e| e.to_string()));
    for text in texts {
        for secret in [
            "cell-a",
            "127.0.0.1",
            port.as_str(),
            "the cell is down",
            "Unavailable",
        ] {
            assert!(!text.contains(secret), "{secret:?} leaked in {text}");
        }
    }
}
