//! Signup, login, sessions, CSRF, rate limits and what bad input answers.
mod common;

use common::{Backend, PASSWORD, TestApp};
use http::{Method, Request, header};
use serde_json::json;

on_both!(
    signup_login_me_logout,
    cookie_mutations_need_the_csrf_token,
    login_is_rate_limited_per_email_and_per_ip,
    password_change_ends_other_sessions,
    signup_rejects_bad_input_with_problems,
    malformed_requests_are_problems_not_500s,
    invitations_are_one_time,
);

async fn signup_login_me_logout(backend: Backend) {
    let app = TestApp::start(backend).await;
    let signup = app
        .anon()
        .post(
            "/api/v1/signup",
            json!({"account_name": "Acme", "email": "  Alice@Example.COM", "password": PASSWORD}),
        )
        .await;
    let body = signup.ok(201);
    assert_eq!(body["user"]["email"], "alice@example.com");
    assert_eq!(body["user"]["role"], "owner");
    let slug = body["account"]["slug"].as_str().unwrap();
    assert_eq!(slug.len(), 8);

    // The same email (any case) cannot sign up twice.
    app.anon()
        .post(
            "/api/v1/signup",
            json!({"account_name": "B", "email": "ALICE@example.com", "password": PASSWORD}),
        )
        .await
        .problem(409);

    let wrong = app
        .anon()
        .post(
            "/api/v1/login",
            json!({"email": "alice@example.com", "password": "wrong password!"}),
        )
        .await;
    wrong.problem(401);
    assert!(wrong.cookie("orrery_session").is_none());
    // An unknown email answers exactly like a wrong password.
    let unknown = app
        .anon()
        .post(
            "/api/v1/login",
            json!({"email": "nobody@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(unknown.problem(401)["detail"], wrong.body["detail"]);

    let login = app
        .anon()
        .post(
            "/api/v1/login",
            json!({"email": "alice@example.com", "password": PASSWORD}),
        )
        .await;
    login.ok(200);
    let session_cookie = login.set_cookie_header("orrery_session");
    for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(session_cookie.contains(attr), "{session_cookie}");
    }
    let csrf_cookie = login.set_cookie_header("orrery_csrf");
    assert!(!csrf_cookie.contains("HttpOnly") && csrf_cookie.contains("Secure"));
    let session = login.cookie("orrery_session").unwrap();
    assert_eq!(session.len(), 43, "256 bits, base64url");
    // Only the hash is stored.
    assert!(
        app.store
            .session(&session, i64::MAX / 2)
            .await
            .unwrap()
            .is_none()
    );

    let client = app.login("alice@example.com", PASSWORD).await;
    let me = client.get("/api/v1/me").await;
    assert_eq!(me.ok(200)["email"], "alice@example.com");
    assert_eq!(me.body["role"], "owner");
    assert_eq!(me.body["authenticated_by"], "session");
    assert_eq!(me.body["account"]["slug"], slug);

    let out = client.post("/api/v1/logout", json!({})).await;
    out.ok(204);
    assert!(
        out.set_cookie_header("orrery_session")
            .contains("Max-Age=0")
    );
    client.get("/api/v1/me").await.problem(401);
    app.anon().get("/api/v1/me").await.problem(401);
}

async fn cookie_mutations_need_the_csrf_token(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("owner@example.com").await;
    // Reads need no token.
    let mut no_csrf = app
        .login("owner@example.com", PASSWORD)
        .await
        .without_csrf();
    no_csrf.get("/api/v1/namespaces").await.ok(200);
    let create = json!({"name": "orders"});
    let res = no_csrf.post("/api/v1/namespaces", create.clone()).await;
    assert_eq!(res.problem(403)["type"], "urn:orrery:problem:csrf");
    // A wrong token (e.g. another session's) is refused too.
    no_csrf.send_csrf = true;
    no_csrf.csrf = owner.csrf.clone();
    no_csrf
        .post("/api/v1/namespaces", create.clone())
        .await
        .problem(403);
    no_csrf.post("/api/v1/logout", json!({})).await.problem(403);
    assert!(app.cell.namespaces().is_empty());
    owner.post("/api/v1/namespaces", create).await.ok(201);
}

async fn login_is_rate_limited_per_email_and_per_ip(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.signup("victim@example.com").await;
    let attempt = |email: &str, ip: &str| {
        let body = json!({"email": email, "password": "not the password"});
        let client = app.anon().with_ip(ip);
        async move { client.post("/api/v1/login", body).await }
    };
    // signup's login used one of the 10 per minute for this email.
    for i in 0..9 {
        attempt("victim@example.com", &format!("10.0.0.{i}"))
            .await
            .problem(401);
    }
    let limited = attempt("victim@example.com", "10.0.0.9").await;
    assert_eq!(
        limited.problem(429)["type"],
        "urn:orrery:problem:rate-limited"
    );
    // Even the right password waits now.
    let right = app
        .anon()
        .with_ip("10.0.1.1")
        .post(
            "/api/v1/login",
            json!({"email": "victim@example.com", "password": PASSWORD}),
        )
        .await;
    right.problem(429);
    // Per address: 30 attempts over many emails.
    for i in 0..30 {
        attempt(&format!("u{i}@example.com"), "10.9.9.9")
            .await
            .problem(401);
    }
    attempt("fresh@example.com", "10.9.9.9").await.problem(429);
    attempt("fresh@example.com", "10.9.9.8").await.problem(401);
}

async fn password_change_ends_other_sessions(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (first, _) = app.signup("pat@example.com").await;
    let second = app.login("pat@example.com", PASSWORD).await;
    let res = first
        .post(
            "/api/v1/me/password",
            json!({"current_password": "wrong one here", "new_password": "a new long password"}),
        )
        .await;
    assert_eq!(res.fields(), ["current_password"]);
    let res = first
        .post(
            "/api/v1/me/password",
            json!({"current_password": PASSWORD, "new_password": "short"}),
        )
        .await;
    assert_eq!(res.fields(), ["new_password"]);
    first
        .post(
            "/api/v1/me/password",
            json!({"current_password": PASSWORD, "new_password": "a new long password"}),
        )
        .await
        .ok(204);
    first.get("/api/v1/me").await.ok(200);
    second.get("/api/v1/me").await.problem(401);
    app.anon()
        .post(
            "/api/v1/login",
            json!({"email": "pat@example.com", "password": PASSWORD}),
        )
        .await
        .problem(401);
    app.login("pat@example.com", "a new long password").await;
}

async fn signup_rejects_bad_input_with_problems(backend: Backend) {
    let app = TestApp::start(backend).await;
    let anon = app.anon();
    let res = anon
        .post(
            "/api/v1/signup",
            json!({"account_name": "", "email": "not-an-email", "password": "short"}),
        )
        .await;
    let mut fields = res.fields();
    fields.sort();
    assert_eq!(fields, ["account_name", "email"]);
    let res = anon
        .post(
            "/api/v1/signup",
            json!({"account_name": "A", "email": "a@example.com", "password": "elevenchars"}),
        )
        .await;
    assert_eq!(res.fields(), ["password"]);
    assert!(
        res.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("12")
    );
    let res = anon
        .post(
            "/api/v1/signup",
            json!({"account_name": "A", "email": "a@example.com", "password": PASSWORD, "admin": true}),
        )
        .await;
    assert_eq!(res.fields(), ["admin"]);
    let res = anon
        .post(
            "/api/v1/signup",
            json!({"account_name": "A", "email": 5, "password": PASSWORD}),
        )
        .await;
    assert_eq!(res.fields(), ["email"]);
    let res = anon
        .post(
            "/api/v1/signup",
            json!({"account_name": "A", "email": "a@example.com"}),
        )
        .await;
    assert_eq!(res.fields(), ["password"]);
    // Nothing was created by any of them.
    assert!(
        app.store
            .user_by_email("a@example.com")
            .await
            .unwrap()
            .is_none()
    );
}

async fn malformed_requests_are_problems_not_500s(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("m@example.com").await;
    let ip = "127.0.0.1:1".parse().unwrap();
    let raw = |method: Method, uri: &str, content_type: Option<&str>, body: &str| {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        req.body(axum::body::Body::from(body.to_owned())).unwrap()
    };
    let syntax = app
        .raw(
            raw(
                Method::POST,
                "/api/v1/signup",
                Some("application/json"),
                "{\"email\":",
            ),
            ip,
        )
        .await;
    syntax.problem(400);
    let media = app
        .raw(
            raw(Method::POST, "/api/v1/signup", Some("text/plain"), "{}"),
            ip,
        )
        .await;
    media.problem(415);
    let big = "x".repeat(300 * 1024);
    let too_big = app
        .raw(
            raw(
                Method::POST,
                "/api/v1/signup",
                Some("application/json"),
                &format!("\"{big}\""),
            ),
            ip,
        )
        .await;
    too_big.problem(413);
    app.anon().get("/api/v1/no-such-route").await.problem(404);
    app.anon().delete("/api/v1/signup").await.problem(405);
    // Ids that are not ids.
    owner.get("/api/v1/users/not-a-uuid").await.problem(400);
    owner.get("/api/v1/api-keys/1234").await.problem(400);
    owner.get("/api/v1/audit-log?limit=abc").await.problem(400);
    owner.get("/api/v1/audit-log?limit=0").await.problem(422);
    // Bad bearer headers are 401, not 500.
    let mut bearer = app.anon();
    bearer.bearer = Some("not.a.jwt".into());
    bearer.get("/api/v1/me").await.problem(401);
    let basic = app
        .raw(
            Request::builder()
                .uri("/api/v1/me")
                .header(header::AUTHORIZATION, "Basic Zm9vOmJhcg==")
                .body(axum::body::Body::empty())
                .unwrap(),
            ip,
        )
        .await;
    basic.problem(401);
    assert!(basic.headers.contains_key(header::WWW_AUTHENTICATE));
}

async fn invitations_are_one_time(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, _) = app.signup("o@example.com").await;
    let res = owner
        .post(
            "/api/v1/users",
            json!({"email": "Dev@Example.com", "role": "developer"}),
        )
        .await;
    let token = res.ok(201)["invite_token"].as_str().unwrap().to_owned();
    assert_eq!(res.body["user"]["state"], "invited");
    assert_eq!(res.body["user"]["email"], "dev@example.com");
    // An invited user cannot log in before accepting.
    app.anon()
        .post(
            "/api/v1/login",
            json!({"email": "dev@example.com", "password": PASSWORD}),
        )
        .await
        .problem(401);
    let accept = json!({"token": token, "password": PASSWORD});
    let accepted = app
        .anon()
        .post("/api/v1/invitations/accept", accept.clone())
        .await;
    assert_eq!(accepted.ok(200)["state"], "active");
    app.anon()
        .post("/api/v1/invitations/accept", accept)
        .await
        .problem(404);
    app.anon()
        .post(
            "/api/v1/invitations/accept",
            json!({"token": "guess", "password": PASSWORD}),
        )
        .await
        .problem(404);
    let dev = app.login("dev@example.com", PASSWORD).await;
    assert_eq!(dev.get("/api/v1/me").await.ok(200)["role"], "developer");
    // The email is taken now.
    owner
        .post(
            "/api/v1/users",
            json!({"email": "dev@example.com", "role": "read"}),
        )
        .await
        .problem(409);
}
