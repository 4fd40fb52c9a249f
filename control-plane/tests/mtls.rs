//! Namespace CA bundles: what uploads are refused, and certificates issued
//! from a generated CA chaining through the verifier a cell would build.
mod common;

use std::sync::Arc;

use common::{Backend, Client, TestApp};
use orrery_tenant_auth::{AuthError, Authorizer, Snapshot};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, UnixTime};
use serde_json::json;

on_both!(
    ca_uploads_are_validated,
    bundles_rotate_and_reach_the_snapshot,
    generated_ca_issues_certificates_that_chain,
);

struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn ca(name: &str, expired: bool) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    if expired {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Ca {
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

fn leaf(ca: &Ca) -> String {
    let mut params = CertificateParams::new(vec!["worker.test".to_owned()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, "worker");
    let key = KeyPair::generate().unwrap();
    params.signed_by(&key, &ca.issuer).unwrap().pem()
}

async fn setup(app: &TestApp) -> (Client<'_>, String) {
    let (owner, _) = app.signup("o@example.com").await;
    let ns = owner
        .post("/api/v1/namespaces", json!({"name": "orders"}))
        .await
        .ok(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (owner, ns)
}

async fn snapshot(app: &TestApp) -> Snapshot {
    app.verify_snapshot(app.snapshot(None).await.ok(200))
}

async fn ca_uploads_are_validated(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, ns) = setup(&app).await;
    let path = format!("/api/v1/namespaces/{ns}/mtls");
    let refused = |pem: String, needle: &'static str| {
        let owner = &owner;
        let path = &path;
        async move {
            let res = owner.put(path, json!({"ca_pem": pem})).await;
            assert_eq!(res.fields(), ["ca_pem"]);
            let message = res.body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .to_owned();
            assert!(message.contains(needle), "{message:?} lacks {needle:?}");
        }
    };
    let good = ca("good", false);
    refused(leaf(&good), "not a CA").await;
    refused("hello, I am not PEM".into(), "no PEM CERTIFICATE").await;
    refused(
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into(),
        "not an X.509",
    )
    .await;
    refused(KeyPair::generate().unwrap().serialize_pem(), "PRIVATE KEY").await;
    refused(ca("old", true).pem, "expired").await;
    assert!(good.pem.len() * 200 > 64 * 1024);
    refused(good.pem.repeat(200), "bytes").await;
    let seventeen: String = (0..17).map(|i| ca(&format!("ca{i}"), false).pem).collect();
    refused(seventeen, "at most 16").await;
    let res = owner
        .put(&path, json!({"ca_pem": good.pem, "filters": [{}]}))
        .await;
    assert_eq!(res.fields(), ["filters[0]"]);
    let res = owner
        .put(
            &path,
            json!({"ca_pem": good.pem, "filters": [{"common_name": "a*b"}]}),
        )
        .await;
    assert_eq!(res.fields(), ["filters[0].common_name"]);
    owner
        .put(&path, json!({"ca_pem": good.pem, "filters": [{"cn": "x"}]}))
        .await
        .problem(422);
    // None of that stored anything.
    assert_eq!(owner.get(&path).await.ok(200)["enabled"], false);
    assert!(snapshot(&app).await.namespaces[0].mtls.is_none());

    let (read, _) = app.invite(&owner, "r@example.com", "read").await;
    read.put(&path, json!({"ca_pem": good.pem}))
        .await
        .problem(403);
    let res = owner.put(&path, json!({"ca_pem": good.pem})).await;
    let certs = res.ok(200)["ca_certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 1);
    assert!(certs[0]["subject"].as_str().unwrap().contains("good"));
    assert_eq!(certs[0]["fingerprint_sha256"].as_str().unwrap().len(), 64);
}

async fn bundles_rotate_and_reach_the_snapshot(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, ns) = setup(&app).await;
    let path = format!("/api/v1/namespaces/{ns}/mtls");
    let (old, new) = (ca("old", false), ca("new", false));
    let bundle = format!("{}\n{}", old.pem, new.pem);
    let filters =
        json!([{"common_name": "worker"}, {"organization": "Acme", "organizational_unit": "pay*"}]);
    let res = owner
        .put(&path, json!({"ca_pem": bundle, "filters": filters}))
        .await;
    assert_eq!(res.ok(200)["ca_certificates"].as_array().unwrap().len(), 2);
    let snap = snapshot(&app).await;
    let mtls = snap.namespaces[0].mtls.clone().unwrap();
    assert_eq!(mtls.ca_pems.len(), 2);
    assert_eq!(mtls.filters.len(), 2);
    assert_eq!(mtls.filters[1].organizational_unit.as_deref(), Some("pay*"));
    let auth = Authorizer::new(snap);
    assert_eq!(auth.ca_roots(&ns).len(), 2);
    let worker = CertificateDer::from_pem_slice(leaf(&new).as_bytes()).unwrap();
    assert!(auth.verify_client_certificate(&ns, &worker).is_ok());
    // The rotation's second step: only the new CA.
    owner.put(&path, json!({"ca_pem": new.pem})).await.ok(200);
    assert_eq!(Authorizer::new(snapshot(&app).await).ca_roots(&ns).len(), 1);
    owner.delete(&path).await.ok(204);
    let auth = Authorizer::new(snapshot(&app).await);
    assert!(auth.ca_roots(&ns).is_empty());
    assert_eq!(
        auth.verify_client_certificate(&ns, &worker),
        Err(AuthError::MtlsNotConfigured(ns.clone()))
    );
}

async fn generated_ca_issues_certificates_that_chain(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner, ns) = setup(&app).await;
    let base = format!("/api/v1/namespaces/{ns}/mtls");
    let issue =
        json!({"common_name": "worker-1", "organizational_unit": "payments", "validity_days": 10});
    owner
        .post(&format!("{base}/client-certificates"), issue.clone())
        .await
        .problem(409);
    let res = owner
        .post(&format!("{base}/generated-ca"), json!({"validity_days": 0}))
        .await;
    assert_eq!(res.fields(), ["validity_days"]);
    let generated = owner.post(&format!("{base}/generated-ca"), json!({})).await;
    let ca_pem = generated.ok(201)["ca_pem"].as_str().unwrap().to_owned();
    assert_eq!(generated.body["mtls"]["generated_ca"], true);
    // The generated CA is itself a valid upload: a CA, unexpired.
    assert!(ca_pem.contains("BEGIN CERTIFICATE"));

    let issued = owner
        .post(&format!("{base}/client-certificates"), issue)
        .await;
    let body = issued.ok(201).clone();
    let cert_pem = body["certificate_pem"].as_str().unwrap();
    let key_pem = body["private_key_pem"].as_str().unwrap();
    assert!(key_pem.contains("PRIVATE KEY"));
    assert_eq!(body["ca_pem"], ca_pem);
    // The key is returned once and kept nowhere.
    let stored = app.store.mtls(&ns).await.unwrap().unwrap();
    assert!(!stored.ca_pems.iter().any(|p| p.contains(key_pem)));
    assert_ne!(stored.generated_ca.unwrap().key_sealed, key_pem);
    KeyPair::from_pem(key_pem).unwrap();

    // Chain it the way a cell would: roots from the snapshot, rustls' verifier.
    let auth = Authorizer::new(snapshot(&app).await);
    let mut roots = rustls::RootCertStore::empty();
    for root in auth.ca_roots(&ns) {
        roots.add(root).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .unwrap();
    let leaf_der = CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap();
    verifier
        .verify_client_cert(&leaf_der, &[], UnixTime::now())
        .unwrap();
    // A certificate from a stranger's CA does not chain.
    let stranger = CertificateDer::from_pem_slice(leaf(&ca("stranger", false)).as_bytes()).unwrap();
    assert!(
        verifier
            .verify_client_cert(&stranger, &[], UnixTime::now())
            .is_err()
    );

    // Filters then apply to what chained.
    let principal = auth.verify_client_certificate(&ns, &leaf_der).unwrap();
    assert_eq!(principal.to_string(), format!("certificate:{ns}"));
    owner
        .put(
            &base,
            json!({"ca_pem": ca_pem, "filters": [{"common_name": "other-*"}]}),
        )
        .await
        .ok(200);
    let filtered = Authorizer::new(snapshot(&app).await);
    assert_eq!(
        filtered.verify_client_certificate(&ns, &leaf_der),
        Err(AuthError::CertificateFilterMismatch)
    );
    // Keeping the generated CA in the bundle keeps it as the issuer; dropping it does not.
    assert_eq!(owner.get(&base).await.ok(200)["generated_ca"], true);
    owner
        .put(&base, json!({"ca_pem": ca("other", false).pem}))
        .await
        .ok(200);
    assert_eq!(owner.get(&base).await.ok(200)["generated_ca"], false);
    owner
        .post(
            &format!("{base}/client-certificates"),
            json!({"common_name": "w"}),
        )
        .await
        .problem(409);
}
