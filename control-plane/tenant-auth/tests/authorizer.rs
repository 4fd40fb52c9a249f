//! The cell-side checks against forged, stale and mismatched credentials.
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use orrery_tenant_auth::*;
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, PKCS_ED25519, SanType};

struct Keys {
    private_pem: String,
    public_pem: String,
}

fn ed25519() -> Keys {
    let pair = KeyPair::generate_for(&PKCS_ED25519).unwrap();
    Keys {
        private_pem: pair.serialize_pem(),
        public_pem: pair.public_key_pem(),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims(jti: &str) -> ApiKeyClaims {
    ApiKeyClaims {
        iss: API_KEY_ISSUER.into(),
        aud: API_KEY_AUDIENCE.into(),
        sub: "user:u1".into(),
        jti: jti.into(),
        account: "a1".into(),
        iat: now(),
        exp: now() + 3600,
        namespace: None,
    }
}

fn sign(keys: &Keys, kid: &str, claims: &ApiKeyClaims) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_ed_pem(keys.private_pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn snapshot(keys: &Keys) -> Snapshot {
    Snapshot {
        version: 7,
        signing_keys: vec![SigningKey {
            kid: "k1".into(),
            alg: KeyAlgorithm::EdDSA,
            public_key: keys.public_pem.clone(),
        }],
        namespaces: vec![NamespaceAuth {
            namespace: "orders.abc12".into(),
            mtls: None,
            grants: vec![
                Grant {
                    principal: "user:u1".parse().unwrap(),
                    permission: Permission::Write,
                },
                Grant {
                    principal: "service-account:s1".parse().unwrap(),
                    permission: Permission::Read,
                },
            ],
        }],
        active_api_keys: vec![ActiveApiKey {
            id: "key-1".into(),
            principal: "user:u1".parse().unwrap(),
        }],
    }
}

fn b64(json: &str) -> String {
    URL_SAFE_NO_PAD.encode(json)
}

#[test]
fn a_valid_key_yields_its_subject() {
    let keys = ed25519();
    let auth = Authorizer::new(snapshot(&keys));
    assert_eq!(auth.version(), 7);
    let token = sign(&keys, "k1", &claims("key-1"));
    let principal = auth.verify_api_key(&token, SystemTime::now()).unwrap();
    assert_eq!(principal, Principal::User("u1".into()));
    assert_eq!(
        auth.namespace_permission(&principal, "orders.abc12"),
        Some(Permission::Write)
    );
    assert_eq!(auth.namespace_permission(&principal, "other.abc12"), None);
    assert!(
        auth.authorize(&principal, "orders.abc12", Permission::Read)
            .is_ok()
    );
    let denied = auth
        .authorize(&principal, "orders.abc12", Permission::Admin)
        .unwrap_err();
    assert_eq!(denied.kind(), AuthErrorKind::PermissionDenied);
}

#[test]
fn alg_none_is_rejected() {
    let keys = ed25519();
    let auth = Authorizer::new(snapshot(&keys));
    let payload = serde_json::to_string(&claims("key-1")).unwrap();
    for header in [
        r#"{"alg":"none","kid":"k1","typ":"JWT"}"#,
        r#"{"alg":"None","kid":"k1"}"#,
    ] {
        for signature in ["", "c2ln"] {
            let token = format!("{}.{}.{signature}", b64(header), b64(&payload));
            let err = auth.verify_api_key(&token, SystemTime::now()).unwrap_err();
            assert_eq!(err.kind(), AuthErrorKind::Unauthenticated, "{err}");
        }
    }
}

#[test]
fn hmac_with_the_public_key_as_secret_is_rejected() {
    let keys = ed25519();
    let auth = Authorizer::new(snapshot(&keys));
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k1".into());
    let token = jsonwebtoken::encode(
        &header,
        &claims("key-1"),
        &EncodingKey::from_secret(keys.public_pem.as_bytes()).unwrap(),
    )
    .unwrap();
    assert_eq!(
        auth.verify_api_key(&token, SystemTime::now()),
        Err(AuthError::AlgorithmNotAllowed)
    );
}

#[test]
fn rs256_header_is_rejected() {
    let keys = ed25519();
    let auth = Authorizer::new(snapshot(&keys));
    let payload = serde_json::to_string(&claims("key-1")).unwrap();
    let token = format!(
        "{}.{}.{}",
        b64(r#"{"alg":"RS256","kid":"k1"}"#),
        b64(&payload),
        b64("not a signature")
    );
    assert_eq!(
        auth.verify_api_key(&token, SystemTime::now()),
        Err(AuthError::AlgorithmNotAllowed)
    );
}

#[test]
fn wrong_issuer_or_audience_is_rejected() {
    let keys = ed25519();
    let auth = Authorizer::new(snapshot(&keys));
    let mut c = claims("key-1");
    c.iss = "someone-else".into();
    assert_eq!(
        auth.verify_api_key(&sign(&keys, "k1", &c), SystemTime::now()),
        Err(AuthError::InvalidClaims("wrong issuer"))
    );
    let mut c = claims("key-1");
    c.aud = "orrery-control-plane".into();
    assert_eq!(
        auth.verify_api_key(&sign(&keys, "k1", &c), SystemTime::now()),
        Err(AuthError::InvalidClaims("wrong audience"))
    );
}

#[test]
fn expired_keys_are_rejected_by_the_given_clock() {
    let keys = ed25519();
    let auth = Authorizer::new(snapshot(&keys));
    let mut c = claims("key-1");
    c.iat = now() - 7200;
    c.exp = now() - 3600;
    let token = sign(&keys, "k1", &c);
    assert_eq!(
        auth.verify_api_key(&token, SystemTime::now()),
        Err(AuthError::Expired)
    );
    // The same token was fine while it was valid.
    let then = SystemTime::now() - Duration::from_secs(5400);
    assert!(auth.verify_api_key(&token, then).is_ok());
}

#[test]
fn unknown_kid_or_other_key_is_rejected() {
    let keys = ed25519();
    let auth = Authorizer::new(snapshot(&keys));
    assert_eq!(
        auth.verify_api_key(&sign(&keys, "k2", &claims("key-1")), SystemTime::now()),
        Err(AuthError::UnknownSigningKey)
    );
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = None;
    let no_kid = jsonwebtoken::encode(
        &header,
        &claims("key-1"),
        &EncodingKey::from_ed_pem(keys.private_pem.as_bytes()).unwrap(),
    )
    .unwrap();
    assert_eq!(
        auth.verify_api_key(&no_kid, SystemTime::now()),
        Err(AuthError::UnknownSigningKey)
    );
    // An attacker's own Ed25519 key under our kid.
    let attacker = ed25519();
    assert_eq!(
        auth.verify_api_key(&sign(&attacker, "k1", &claims("key-1")), SystemTime::now()),
        Err(AuthError::InvalidSignature)
    );
}

#[test]
fn a_tampered_payload_breaks_the_signature() {
    let keys = ed25519();
    let auth = Authorizer::new(snapshot(&keys));
    let token = sign(&keys, "k1", &claims("key-1"));
    let parts: Vec<&str> = token.split('.').collect();
    let mut c = claims("key-1");
    c.sub = "user:admin".into();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64(&serde_json::to_string(&c).unwrap()),
        parts[2]
    );
    assert_eq!(
        auth.verify_api_key(&forged, SystemTime::now()),
        Err(AuthError::InvalidSignature)
    );
    assert_eq!(
        auth.verify_api_key("not-a-jwt", SystemTime::now()),
        Err(AuthError::MalformedToken)
    );
}

#[test]
fn inactive_jti_is_rejected() {
    let keys = ed25519();
    let auth = Authorizer::new(snapshot(&keys));
    assert_eq!(
        auth.verify_api_key(&sign(&keys, "k1", &claims("key-2")), SystemTime::now()),
        Err(AuthError::KeyNotActive)
    );
}

/// A console token is a user's, short-lived, for one namespace, and stands
/// for that user's grants there without being an active key; anything
/// longer-lived, naming a service account or no namespace is refused, and
/// it is never taken for an API key.
#[test]
fn console_tokens_are_short_lived_and_a_users() {
    let keys = ed25519();
    let auth = Authorizer::new(snapshot(&keys));
    let console = |sub: &str, ttl: u64| ApiKeyClaims {
        aud: CONSOLE_TOKEN_AUDIENCE.into(),
        sub: sub.into(),
        exp: now() + ttl,
        namespace: Some("orders.abc12".into()),
        ..claims("session-not-a-key")
    };
    let token = sign(&keys, "k1", &console("user:u1", 300));
    let bearer = auth.verify_bearer(&token, SystemTime::now()).unwrap();
    assert_eq!(bearer.namespace.as_deref(), Some("orders.abc12"));
    assert_eq!(
        auth.namespace_permission(&bearer.principal, "orders.abc12"),
        Some(Permission::Write)
    );
    assert!(matches!(
        auth.verify_api_key(&token, SystemTime::now()),
        Err(AuthError::InvalidClaims(_))
    ));
    let unscoped = sign(
        &keys,
        "k1",
        &ApiKeyClaims {
            namespace: None,
            ..console("user:u1", 300)
        },
    );
    assert!(matches!(
        auth.verify_bearer(&unscoped, SystemTime::now()),
        Err(AuthError::InvalidClaims(_))
    ));
    let long = sign(&keys, "k1", &console("user:u1", CONSOLE_TOKEN_MAX_TTL + 60));
    assert!(matches!(
        auth.verify_bearer(&long, SystemTime::now()),
        Err(AuthError::InvalidClaims(_))
    ));
    let robot = sign(&keys, "k1", &console("service-account:s1", 300));
    assert!(matches!(
        auth.verify_bearer(&robot, SystemTime::now()),
        Err(AuthError::InvalidClaims(_))
    ));
    let later = SystemTime::now() + Duration::from_secs(300 + CLOCK_LEEWAY + 5);
    assert_eq!(auth.verify_bearer(&token, later), Err(AuthError::Expired));
}

/// A signing key in the wrong hands (a database copy) signs `{sub:
/// victim, jti: a key of its own}`: the key id belongs to someone else.
#[test]
fn a_key_id_acts_only_for_the_principal_it_was_issued_to() {
    let keys = ed25519();
    let auth = Authorizer::new(snapshot(&keys));
    let mut forged = claims("key-1");
    forged.sub = "service-account:s1".into();
    assert_eq!(
        auth.verify_api_key(&sign(&keys, "k1", &forged), SystemTime::now()),
        Err(AuthError::SubjectMismatch)
    );
    assert_eq!(
        AuthError::SubjectMismatch.kind(),
        AuthErrorKind::Unauthenticated
    );
}

#[test]
fn grants_keep_the_highest_permission_per_principal() {
    let keys = ed25519();
    let mut snap = snapshot(&keys);
    snap.namespaces[0].grants.push(Grant {
        principal: "user:u1".parse().unwrap(),
        permission: Permission::Admin,
    });
    snap.namespaces[0].grants.push(Grant {
        principal: "user:u1".parse().unwrap(),
        permission: Permission::Read,
    });
    let auth = Authorizer::new(snap);
    assert_eq!(
        auth.namespace_permission(&Principal::User("u1".into()), "orders.abc12"),
        Some(Permission::Admin)
    );
    assert_eq!(
        auth.namespace_permission(&Principal::ServiceAccount("s1".into()), "orders.abc12"),
        Some(Permission::Read)
    );
    assert_eq!(
        auth.namespace_permission(&Principal::ServiceAccount("u1".into()), "orders.abc12"),
        None
    );
    assert!(Permission::Read < Permission::Write && Permission::Write < Permission::Admin);
}

#[test]
fn snapshot_json_round_trips_and_rejects_bad_principals() {
    let keys = ed25519();
    let snap = snapshot(&keys);
    let json = serde_json::to_value(&snap).unwrap();
    assert_eq!(json["namespaces"][0]["grants"][0]["principal"], "user:u1");
    assert_eq!(json["namespaces"][0]["grants"][0]["permission"], "write");
    assert_eq!(json["signing_keys"][0]["alg"], "EdDSA");
    let back: Snapshot = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back, snap);
    let mut bad = json;
    bad["namespaces"][0]["grants"][0]["principal"] = "root".into();
    assert!(serde_json::from_value::<Snapshot>(bad).is_err());
    assert!("certificate:x".parse::<Principal>().is_err());
    assert!("user:".parse::<Principal>().is_err());
}

struct Pki {
    ca_pem: String,
    ca: rcgen::Issuer<'static, KeyPair>,
}

fn pki() -> Pki {
    pki_valid_until(None)
}

fn pki_valid_until(not_after: Option<SystemTime>) -> Pki {
    pki_valid(not_after.map(|t| (t - Duration::from_secs(7 * 86_400), t)))
}

fn pki_valid(validity: Option<(SystemTime, SystemTime)>) -> Pki {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    if let Some((not_before, not_after)) = validity {
        params.not_before = not_before.into();
        params.not_after = not_after.into();
    }
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "test CA");
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Pki {
        ca_pem: cert.pem(),
        ca: rcgen::Issuer::new(params, key),
    }
}

fn leaf(pki: &Pki, cn: &str, org: &str, ou: &str, san: &str) -> Vec<u8> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, org);
    dn.push(DnType::OrganizationalUnitName, ou);
    params.distinguished_name = dn;
    params.subject_alt_names = vec![SanType::DnsName(san.try_into().unwrap())];
    let key = KeyPair::generate().unwrap();
    params.signed_by(&key, &pki.ca).unwrap().der().to_vec()
}

fn mtls_snapshot(pki: &Pki, filters: Vec<CertificateFilter>) -> Snapshot {
    Snapshot {
        version: 1,
        signing_keys: vec![],
        namespaces: vec![
            NamespaceAuth {
                namespace: "orders.abc12".into(),
                mtls: Some(MtlsConfig {
                    ca_pems: vec![pki.ca_pem.clone()],
                    filters,
                }),
                grants: vec![],
            },
            NamespaceAuth {
                namespace: "billing.abc12".into(),
                mtls: None,
                grants: vec![],
            },
        ],
        active_api_keys: vec![],
    }
}

#[test]
fn certificates_pass_any_matching_filter() {
    let pki = pki();
    let worker = leaf(&pki, "worker-1", "Acme", "payments", "worker-1.acme.test");
    let other = leaf(&pki, "intruder", "Evil", "ops", "evil.test");
    let filters = vec![
        CertificateFilter {
            common_name: Some("worker-*".into()),
            organization: Some("Acme".into()),
            ..Default::default()
        },
        CertificateFilter {
            subject_alt_name: Some("billing.acme.test".into()),
            ..Default::default()
        },
    ];
    let auth = Authorizer::new(mtls_snapshot(&pki, filters));
    let principal = auth
        .verify_client_certificate("orders.abc12", &worker)
        .unwrap();
    assert_eq!(
        principal,
        Principal::Certificate {
            namespace: "orders.abc12".into(),
            subject: "worker-1".into()
        }
    );
    assert_eq!(
        auth.namespace_permission(&principal, "orders.abc12"),
        Some(Permission::Admin)
    );
    assert_eq!(auth.namespace_permission(&principal, "billing.abc12"), None);
    assert_eq!(
        auth.verify_client_certificate("orders.abc12", &other),
        Err(AuthError::CertificateFilterMismatch)
    );
    // Organization alone does not carry the first filter.
    let acme_other = leaf(&pki, "batch", "Acme", "payments", "batch.acme.test");
    assert!(
        auth.verify_client_certificate("orders.abc12", &acme_other)
            .is_err()
    );
    let by_san = leaf(&pki, "x", "y", "z", "billing.acme.test");
    assert!(
        auth.verify_client_certificate("orders.abc12", &by_san)
            .is_ok()
    );
    assert_eq!(
        auth.verify_client_certificate("billing.abc12", &worker),
        Err(AuthError::MtlsNotConfigured("billing.abc12".into()))
    );
    assert_eq!(
        auth.verify_client_certificate("orders.abc12", b"garbage"),
        Err(AuthError::MalformedCertificate)
    );
}

#[test]
fn no_filters_accept_any_certificate_and_roots_are_the_bundle() {
    let pki = pki();
    let auth = Authorizer::new(mtls_snapshot(&pki, vec![]));
    let cert = leaf(&pki, "anyone", "Any", "any", "any.test");
    assert!(
        auth.verify_client_certificate("orders.abc12", &cert)
            .is_ok()
    );
    let roots = auth.ca_roots("orders.abc12");
    assert_eq!(roots.len(), 1);
    assert!(auth.ca_roots("billing.abc12").is_empty());
    assert!(auth.ca_roots("missing.abc12").is_empty());
}

/// TLS libraries take a trust anchor as it is, expired or not: the
/// authorizer leaves an expired CA out, and says when the next one expires.
#[test]
fn expired_namespace_cas_are_not_trusted() {
    let now = SystemTime::now();
    let expired = pki_valid_until(Some(now - Duration::from_secs(3600)));
    let auth = Authorizer::new_at(mtls_snapshot(&expired, vec![]), now);
    assert!(auth.ca_roots("orders.abc12").is_empty());
    assert_eq!(auth.next_ca_change(), None);

    let expiring = pki_valid_until(Some(now + Duration::from_secs(3600)));
    let snapshot = mtls_snapshot(&expiring, vec![]);
    let auth = Authorizer::new_at(snapshot.clone(), now);
    assert_eq!(auth.ca_roots("orders.abc12").len(), 1);
    let expiry = auth.next_ca_change().expect("an expiry");
    assert!(expiry > now && expiry <= now + Duration::from_secs(3600));
    let later = Authorizer::new_at(snapshot, now + Duration::from_secs(7200));
    assert!(later.ca_roots("orders.abc12").is_empty());
}

/// A successor CA uploaded ahead of a rotation is trusted from its
/// not-before on: the authorizer names that moment as its next change.
#[test]
fn a_ca_not_valid_yet_is_trusted_once_it_is() {
    let now = SystemTime::now();
    let hour = Duration::from_secs(3600);
    let successor = pki_valid(Some((now + hour, now + 48 * hour)));
    let snapshot = mtls_snapshot(&successor, vec![]);
    let auth = Authorizer::new_at(snapshot.clone(), now);
    assert!(auth.ca_roots("orders.abc12").is_empty());
    let change = auth.next_ca_change().expect("when it becomes valid");
    assert!(change > now && change <= now + hour);
    let later = Authorizer::new_at(snapshot, now + 2 * hour);
    assert_eq!(later.ca_roots("orders.abc12").len(), 1);
    assert!(later.next_ca_change().unwrap() > now + 47 * hour);
}
