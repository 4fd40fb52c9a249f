//! Invoice previews (tiers, storage, the plan minimum, rounding, in integer
//! cents, computed by hand below), a rate card from a file, and who may read
//! usage: owners, admins and finance admins, the finance admin nothing else.
mod common;

use std::collections::BTreeSet;

use common::{Backend, Client, TestApp, open_store};
use orrery_control_plane::usage::puller::Puller;
use orrery_control_plane::usage::{ACTIVE_STORAGE_BYTE_SECONDS, RETAINED_STORAGE_BYTE_SECONDS};
use serde_json::{Value, json};

on_both!(
    invoice_tiers_storage_and_rounding,
    a_rate_card_file_and_the_plan_minimum,
    invoice_requests_are_validated,
    usage_readers_are_owner_admin_and_finance_admin,
    finance_admin_reads_usage_and_nothing_else,
    a_namespace_deleted_before_any_pull_is_invoiced,
);

/// 2025-03-01T00:00:00Z and 2025-04-01T00:00:00Z.
const MARCH: i64 = 1_740_787_200_000;
const APRIL: i64 = 1_743_465_600_000;
const HOUR: i64 = 3_600_000;
const GBH: i64 = 3_600_000_000_000;

async fn pull(app: &TestApp) {
    let cell = app
        .store
        .cell_loads()
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.cell)
        .find(|c| c.name == "cell-a")
        .unwrap();
    Puller::default()
        .pull_cell(&app.state, &cell)
        .await
        .unwrap();
}

async fn namespace(app: &TestApp, owner: &Client<'_>, name: &str) -> (String, String) {
    let id = owner
        .post("/api/v1/namespaces", json!({"name": name}))
        .await
        .ok(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cell_id = app.cell.namespace_id(&id);
    (id, cell_id)
}

/// (namespace, item, tier, quantity, amount_cents) of a line.
type Line = (Option<String>, String, Option<u64>, String, i64);

fn lines(invoice: &Value) -> Vec<Line> {
    invoice["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["namespace"].as_str().map(str::to_owned),
                l["item"].as_str().unwrap().to_owned(),
                l["tier"].as_u64(),
                l["quantity"].as_str().unwrap().to_owned(),
                l["amount_cents"].as_i64().unwrap(),
            )
        })
        .collect()
}

async fn invoice_tiers_storage_and_rounding(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("owner@example.com").await;
    let (a, ca) = namespace(&app, &owner, "alpha").await;
    let (b, cb) = namespace(&app, &owner, "beta").await;
    // The built-in card: 0–5M at 50.00/M, 5–10M at 45.00, 10–20M at 40.00,
    // active 0.042/GBh, retained 0.00105/GBh, minimum 100.00.
    app.cell
        .set_usage(&ca, MARCH, "workflow_started", 3_000_000);
    app.cell.set_usage(&cb, MARCH, "signal", 1_500_000);
    app.cell
        .set_usage(&ca, MARCH + HOUR, "activity_started", 2_000_000);
    app.cell
        .set_usage(&cb, MARCH + 2 * HOUR, "schedule_action", 6_000_000);
    app.cell
        .set_usage(&ca, MARCH, ACTIVE_STORAGE_BYTE_SECONDS, 10 * GBH);
    app.cell
        .set_usage(&ca, MARCH, RETAINED_STORAGE_BYTE_SECONDS, 1000 * GBH);
    app.cell
        .set_usage(&cb, MARCH + HOUR, ACTIVE_STORAGE_BYTE_SECONDS, 5 * GBH);
    app.cell
        .set_usage(&cb, MARCH + HOUR, RETAINED_STORAGE_BYTE_SECONDS, 5 * GBH);
    // Another month and another account do not count.
    app.cell.set_usage(&ca, APRIL, "signal", 999);
    let (other, _) = app.signup("other@example.com").await;
    let (_, co) = namespace(&app, &other, "theirs").await;
    app.cell.set_usage(&co, MARCH, "signal", 7_000_000);
    pull(&app).await;

    let res = owner.get("/api/v1/invoices/preview?month=2025-03").await;
    let invoice = res.ok(200);
    // In the order they happened: alpha's 3M and beta's 1.5M (hour 0), then
    // alpha's 2M (0.5M left in tier 1, 1.5M in tier 2), then beta's 6M
    // (3.5M to fill tier 2, 2.5M in tier 3).
    let (a, b) = (Some(a), Some(b));
    assert_eq!(
        lines(invoice),
        vec![
            (
                a.clone(),
                "actions".into(),
                Some(1),
                "3500000".into(),
                17_500
            ), // 3.5 × 50.00
            (
                a.clone(),
                "actions".into(),
                Some(2),
                "1500000".into(),
                6_750
            ), // 1.5 × 45.00
            (
                b.clone(),
                "actions".into(),
                Some(1),
                "1500000".into(),
                7_500
            ), // 1.5 × 50.00
            (
                b.clone(),
                "actions".into(),
                Some(2),
                "3500000".into(),
                15_750
            ), // 3.5 × 45.00
            (
                b.clone(),
                "actions".into(),
                Some(3),
                "2500000".into(),
                10_000
            ), // 2.5 × 40.00
            (
                a.clone(),
                "active_storage".into(),
                None,
                "10.000000".into(),
                42
            ), // 10 × 0.042
            (
                a.clone(),
                "retained_storage".into(),
                None,
                "1000.000000".into(),
                105
            ), // 1000 × 0.00105
            (
                b.clone(),
                "active_storage".into(),
                None,
                "5.000000".into(),
                21
            ), // 5 × 0.042
            // 5 × 0.00105 = 0.00525: half a cent and a quarter, rounded up.
            (
                b.clone(),
                "retained_storage".into(),
                None,
                "5.000000".into(),
                1
            ),
        ]
    );
    assert_eq!(invoice["total_actions"], 12_500_000);
    assert_eq!(invoice["usage_cents"], 57_669);
    assert_eq!(invoice["plan_minimum_cents"], 10_000);
    assert_eq!(invoice["total_cents"], 57_669);
    assert_eq!(invoice["currency"], "USD");
    assert_eq!(invoice["month"], "2025-03");
    assert_eq!(invoice["period_start"], "2025-03-01T00:00:00Z");
    assert_eq!(invoice["period_end"], "2025-04-01T00:00:00Z");
    assert_eq!(invoice["incomplete"], false);
    let tier3 = &invoice["lines"][4];
    assert_eq!(tier3["tier_from_actions"], 10_000_000);
    assert_eq!(tier3["tier_up_to_actions"], 20_000_000);
    assert_eq!(tier3["unit"], "million actions");
    assert_eq!(tier3["unit_price"], "40.00");
    assert_eq!(invoice["lines"][6]["unit_price"], "0.00105");
    // Every amount is an integer: no float ever carries money.
    assert!(
        invoice["lines"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["amount_cents"].is_i64())
    );
}

async fn a_rate_card_file_and_the_plan_minimum(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rates.json");
    std::fs::write(
        &path,
        r#"{"currency": "EUR",
            "actions_tiers": [{"up_to_actions": 1000, "per_million": "2000.00"},
                              {"up_to_actions": null, "per_million": "1000.00"}],
            "active_storage_per_gbh": "0.10", "retained_storage_per_gbh": "0.01",
            "plan_minimum": "5.00"}"#,
    )
    .unwrap();
    let (store, db) = open_store(backend).await;
    let app = TestApp::on_store(store, db, |c| c.rate_card_path = Some(path.clone()))
        .await
        .unwrap();
    let (owner, _) = app.signup("owner@example.com").await;
    let (ns, cell_ns) = namespace(&app, &owner, "small").await;
    app.cell
        .set_usage(&cell_ns, MARCH, "workflow_started", 1500);
    app.cell
        .set_usage(&cell_ns, MARCH, ACTIVE_STORAGE_BYTE_SECONDS, GBH / 3);
    pull(&app).await;
    let res = owner.get("/api/v1/invoices/preview?month=2025-03").await;
    let invoice = res.ok(200);
    let ns = Some(ns);
    assert_eq!(
        lines(invoice),
        vec![
            (ns.clone(), "actions".into(), Some(1), "1000".into(), 200), // 1000 × 2000.00/M
            (ns.clone(), "actions".into(), Some(2), "500".into(), 50),   // 500 × 1000.00/M
            // 1/3 GBh × 0.10 = 3.33… cents: down to 3.
            (
                ns.clone(),
                "active_storage".into(),
                None,
                "0.333333".into(),
                3
            ),
            (None, "plan_minimum".into(), None, "1".into(), 247),
        ]
    );
    assert_eq!(invoice["currency"], "EUR");
    assert_eq!(invoice["usage_cents"], 253);
    assert_eq!(invoice["plan_minimum_cents"], 500);
    assert_eq!(invoice["total_cents"], 500);
    // A month without usage costs the minimum.
    let res = owner.get("/api/v1/invoices/preview?month=2025-02").await;
    assert_eq!(
        lines(res.ok(200)),
        vec![(None, "plan_minimum".into(), None, "1".into(), 500)]
    );

    // A card that does not parse stops the control plane from starting.
    std::fs::write(&path, r#"{"currency": "EUR", "actions_tiers": []}"#).unwrap();
    let (store, db) = open_store(backend).await;
    let err = TestApp::on_store(store, db, |c| c.rate_card_path = Some(path.clone()))
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("rates.json"), "{err}");
}

async fn invoice_requests_are_validated(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("owner@example.com").await;
    for bad in [
        "",
        "?month=2025-13",
        "?month=2025-3",
        "?month=march",
        "?month=2999-01",
    ] {
        let res = owner.get(&format!("/api/v1/invoices/preview{bad}")).await;
        assert_eq!(res.fields(), ["month"], "{bad}");
    }
    owner
        .get("/api/v1/invoices/preview?month=2025-03&extra=1")
        .await
        .problem(400);
    // The current month is fine (and incomplete while it runs, once a
    // namespace's cell is involved and not yet pulled).
    let now = chrono::Utc::now().format("%Y-%m").to_string();
    let res = owner
        .get(&format!("/api/v1/invoices/preview?month={now}"))
        .await;
    assert_eq!(res.ok(200)["incomplete"], false);
    namespace(&app, &owner, "orders").await;
    let res = owner
        .get(&format!("/api/v1/invoices/preview?month={now}"))
        .await;
    assert_eq!(res.ok(200)["incomplete"], true);
}

const USAGE: &str = "/api/v1/usage?from=2025-03-01T00:00:00Z&to=2025-03-02T00:00:00Z";
const CSV: &str = "/api/v1/usage/export.csv?month=2025-03";
const INVOICE: &str = "/api/v1/invoices/preview?month=2025-03";

async fn usage_readers_are_owner_admin_and_finance_admin(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("owner@example.com").await;
    let (admin, _) = app.invite(&owner, "admin@example.com", "admin").await;
    let (finance, _) = app.invite(&owner, "fin@example.com", "finance_admin").await;
    let (developer, _) = app.invite(&owner, "dev@example.com", "developer").await;
    let (reader, _) = app.invite(&owner, "read@example.com", "read").await;
    for client in [&owner, &admin, &finance] {
        for uri in [USAGE, CSV, INVOICE] {
            client.get(uri).await.ok(200);
        }
    }
    for client in [&developer, &reader] {
        for uri in [USAGE, CSV, INVOICE] {
            client.get(uri).await.problem(403);
        }
    }
    // A service account's key with the finance_admin role reads usage too.
    let sa = owner
        .post(
            "/api/v1/service-accounts",
            json!({"name": "billing", "role": "finance_admin"}),
        )
        .await
        .ok(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = owner
        .post(
            "/api/v1/api-keys",
            json!({"name": "billing", "expiry_days": 7, "owner": format!("service-account:{sa}")}),
        )
        .await
        .ok(201)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.bearer(&key).get(INVOICE).await.ok(200);
}

/// Every route of the OpenAPI document, walked with a finance admin's API
/// key: usage, invoices and the CSV answer; the caller's own identity and
/// own API keys are self-service (how it got this key at all); anonymous,
/// operator and cell routes are not the tenant API. Everything else is
/// 403 or 404. A route missing from these lists fails the test, so a new
/// route must be classified here.
async fn finance_admin_reads_usage_and_nothing_else(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("owner@example.com").await;
    let owner_id = owner.get("/api/v1/me").await.ok(200)["principal"]
        .as_str()
        .unwrap()
        .strip_prefix("user:")
        .unwrap()
        .to_owned();
    let (ns, _) = namespace(&app, &owner, "orders").await;
    let sa = owner
        .post("/api/v1/service-accounts", json!({"name": "ci"}))
        .await
        .ok(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (finance, finance_id) = app.invite(&owner, "fin@example.com", "finance_admin").await;
    let token = finance
        .post("/api/v1/api-keys", json!({"name": "fin", "expiry_days": 7}))
        .await
        .ok(201)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = app.bearer(&token);

    let doc = app.anon().get("/api/v1/openapi.json").await.ok(200).clone();
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            routes.insert((method.to_uppercase(), path.clone()));
        }
    }
    let allowed = [
        ("GET", "/api/v1/usage"),
        ("GET", "/api/v1/usage/export.csv"),
        ("GET", "/api/v1/invoices/preview"),
    ];
    let not_tenant_api = |path: &str| {
        [
            "/api/v1/signup",
            "/api/v1/login",
            "/api/v1/invitations/accept",
        ]
        .contains(&path)
            || path.starts_with("/api/v1/admin/")
            || path.starts_with("/internal/")
    };
    let self_service = |path: &str| {
        [
            "/api/v1/me",
            "/api/v1/me/password",
            "/api/v1/logout",
            "/api/v1/account",
        ]
        .contains(&path)
            || path.starts_with("/api/v1/api-keys")
    };
    let body = |method: &str, path: &str| -> Option<Value> {
        Some(match (method, path) {
            ("GET" | "DELETE", _) => return None,
            ("POST", "/api/v1/namespaces") => json!({"name": "sneaky"}),
            ("PATCH", "/api/v1/namespaces/{namespace}") => json!({"retention_days": 7}),
            ("PUT", "/api/v1/namespaces/{namespace}/permissions/{principal}") => {
                json!({"permission": "admin"})
            }
            ("PUT", "/api/v1/namespaces/{namespace}/mtls") => json!({"ca_pem": "x"}),
            ("POST", "/api/v1/namespaces/{namespace}/mtls/client-certificates") => {
                json!({"common_name": "x"})
            }
            ("POST", "/api/v1/users") => json!({"email": "x@example.com", "role": "owner"}),
            ("PATCH", "/api/v1/users/{id}") => json!({"role": "owner"}),
            ("POST", "/api/v1/service-accounts") => json!({"name": "x"}),
            ("PATCH", "/api/v1/service-accounts/{id}") => json!({"role": "owner"}),
            _ => json!({}),
        })
    };
    let mut walked = 0;
    for (method, path) in &routes {
        if allowed.contains(&(method.as_str(), path.as_str())) {
            let query = if path.ends_with("preview") || path.ends_with(".csv") {
                "?month=2025-03"
            } else {
                "?from=2025-03-01T00:00:00Z&to=2025-03-02T00:00:00Z"
            };
            key.get(&format!("{path}{query}")).await.ok(200);
            continue;
        }
        if not_tenant_api(path) || self_service(path) {
            continue;
        }
        let id = if path.starts_with("/api/v1/service-accounts") {
            sa.clone()
        } else {
            owner_id.clone()
        };
        let uri = path
            .replace("{namespace}", &ns)
            .replace("{principal}", &format!("user:{finance_id}"))
            .replace("{id}", &id);
        let res = key
            .request(method.parse().unwrap(), &uri, body(method, path))
            .await;
        walked += 1;
        assert!(
            [403, 404].contains(&res.status.as_u16()),
            "{method} {path}: {} {}",
            res.status,
            res.body
        );
    }
    assert!(walked >= 25, "only {walked} routes walked");
    // Nothing was changed on the way.
    let namespaces = owner.get("/api/v1/namespaces").await;
    assert_eq!(namespaces.ok(200).as_array().map(Vec::len), Some(1));
    let fin = owner.get(&format!("/api/v1/users/{finance_id}")).await;
    assert_eq!(fin.ok(200)["role"], "finance_admin");
}

async fn a_namespace_deleted_before_any_pull_is_invoiced(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("owner@example.com").await;
    let (kept, ck) = namespace(&app, &owner, "kept").await;
    let (gone, cg) = namespace(&app, &owner, "gone").await;
    app.cell.set_usage(&ck, MARCH, "signal", 1_000_000);
    app.cell
        .set_usage(&cg, MARCH, "workflow_started", 4_000_000);
    app.cell.set_usage(&cg, MARCH + HOUR, "signal", 2_000_000);
    app.cell
        .set_usage(&cg, MARCH, ACTIVE_STORAGE_BYTE_SECONDS, 10 * GBH);
    // Created, used and deleted before the puller ever saw it: the cell can
    // no longer name the id, yet its usage is the account's.
    owner
        .delete(&format!("/api/v1/namespaces/{gone}"))
        .await
        .ok(204);
    pull(&app).await;
    let res = owner.get("/api/v1/invoices/preview?month=2025-03").await;
    let invoice = res.ok(200);
    assert_eq!(invoice["total_actions"], 7_000_000);
    let (kept, gone) = (Some(kept), Some(gone));
    // Hour 0: gone's 4M then kept's 1M (id order) fill tier 1 (5M); hour 1:
    // gone's 2M at 45.00/M.
    assert_eq!(
        lines(invoice),
        [
            (
                gone.clone(),
                "actions".into(),
                Some(1),
                "4000000".into(),
                20_000
            ),
            (
                gone.clone(),
                "actions".into(),
                Some(2),
                "2000000".into(),
                9_000
            ),
            (kept, "actions".into(), Some(1), "1000000".into(), 5_000),
            (gone, "active_storage".into(), None, "10.000000".into(), 42),
        ]
    );
}
