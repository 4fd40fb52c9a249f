//! What the control plane signs for its cells, and how a cell checks it.
//!
//! The network between the control plane and a cell is not trusted, TLS or
//! not: everything a cell installs or obeys is signed with the control
//! plane's *control key* (Ed25519), whose public half the cell is configured
//! with (or fetched once over verified TLS). Two kinds of signed message:
//! - the **auth snapshot** for one cell (audience `orrery-cell-snapshot:<cell id>`):
//!   a snapshot meant for another cell, or signed by another key, is refused;
//! - a short-lived **admin token** the control plane presents to a cell's
//!   admin listener (audience `orrery-cell-admin:<cell id>`, two minutes).
//!
//! Each cell also holds a **cell credential** of its own (`orrery-cell.<cell
//! id>.<secret>`), issued when it is registered and stored by the control
//! plane only as a hash: it authenticates the cell's polls, and tells the
//! cell its own id, which the audiences above name.
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::snapshot::Snapshot;

pub const CONTROL_ISSUER: &str = "orrery-control-plane";
/// How long an admin token is good for; each admin call signs a new one.
pub const ADMIN_TOKEN_TTL_SECS: u64 = 120;
const SNAPSHOT_AUDIENCE: &str = "orrery-cell-snapshot:";
const ADMIN_AUDIENCE: &str = "orrery-cell-admin:";
const CREDENTIAL_PREFIX: &str = "orrery-cell.";
/// Clock skew tolerated on admin tokens, in seconds.
const LEEWAY_SECS: u64 = 30;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("the control key is not an Ed25519 public key in PEM")]
    BadKey,
    #[error("the message is not a signed JWT")]
    Malformed,
    #[error("the signature does not verify with the control plane's key")]
    BadSignature,
    #[error("the message is meant for another cell or another purpose")]
    WrongAudience,
    #[error("the message was not issued by the control plane")]
    WrongIssuer,
    #[error("the admin token has expired or is not yet valid")]
    Expired,
    #[error("signing failed: {0}")]
    Signing(String),
}

#[derive(Serialize, Deserialize)]
struct SnapshotClaims {
    iss: String,
    aud: String,
    iat: u64,
    /// The version this message speaks of.
    version: u64,
    /// The snapshot; none means "still `version`, as of `iat`" (the
    /// answer to a poll that already has it), signed all the same so that
    /// no one on the path can keep a cell on an old view without it
    /// noticing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    snapshot: Option<Snapshot>,
}

/// A verified message about a cell's snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedSnapshot {
    pub version: u64,
    /// When the control plane signed it (seconds since the epoch, its clock).
    pub issued_at: u64,
    /// `None`: the cell's snapshot is still `version`.
    pub snapshot: Option<Snapshot>,
}

#[derive(Serialize, Deserialize)]
struct AdminClaims {
    iss: String,
    aud: String,
    iat: u64,
    exp: u64,
}

/// A new cell credential for the cell with id `cell_id`; `secret` is 256
/// random bits (the caller's random source).
pub fn new_cell_credential(cell_id: &str, secret: &str) -> String {
    format!("{CREDENTIAL_PREFIX}{cell_id}.{secret}")
}

/// The cell id a credential names, if it has the credential's shape.
pub fn cell_id_of_credential(credential: &str) -> Option<&str> {
    let rest = credential.strip_prefix(CREDENTIAL_PREFIX)?;
    let (id, secret) = rest.split_once('.')?;
    (!id.is_empty() && secret.len() >= 32).then_some(id)
}

fn header(kid: &str) -> Header {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.to_owned());
    header
}

fn signing(e: jsonwebtoken::errors::Error) -> ControlError {
    ControlError::Signing(e.to_string())
}

/// The control plane's side: signs with its control key.
pub struct ControlSigner<'k> {
    pub kid: &'k str,
    pub key: &'k EncodingKey,
}

impl ControlSigner<'_> {
    pub fn snapshot(
        &self,
        cell_id: &str,
        snapshot: &Snapshot,
        now: u64,
    ) -> Result<String, ControlError> {
        self.sign_snapshot(cell_id, snapshot.version, Some(snapshot.clone()), now)
    }

    /// "The cell's snapshot is still `version`", as of `now`.
    pub fn unchanged(&self, cell_id: &str, version: u64, now: u64) -> Result<String, ControlError> {
        self.sign_snapshot(cell_id, version, None, now)
    }

    fn sign_snapshot(
        &self,
        cell_id: &str,
        version: u64,
        snapshot: Option<Snapshot>,
        now: u64,
    ) -> Result<String, ControlError> {
        let claims = SnapshotClaims {
            iss: CONTROL_ISSUER.into(),
            aud: format!("{SNAPSHOT_AUDIENCE}{cell_id}"),
            iat: now,
            version,
            snapshot,
        };
        jsonwebtoken::encode(&header(self.kid), &claims, self.key).map_err(signing)
    }

    pub fn admin_token(&self, cell_id: &str, now: u64) -> Result<String, ControlError> {
        let claims = AdminClaims {
            iss: CONTROL_ISSUER.into(),
            aud: format!("{ADMIN_AUDIENCE}{cell_id}"),
            iat: now,
            exp: now + ADMIN_TOKEN_TTL_SECS,
        };
        jsonwebtoken::encode(&header(self.kid), &claims, self.key).map_err(signing)
    }
}

/// A cell's side: the control plane's public keys (several while the
/// control key rotates) and the cell's own id.
pub struct ControlVerifier {
    keys: Vec<DecodingKey>,
    cell_id: String,
}

impl ControlVerifier {
    pub fn new<'p>(
        public_pems: impl IntoIterator<Item = &'p str>,
        cell_id: &str,
    ) -> Result<Self, ControlError> {
        let keys = (public_pems.into_iter())
            .map(|pem| DecodingKey::from_ed_pem(pem.as_bytes()).map_err(|_| ControlError::BadKey))
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(ControlError::BadKey);
        }
        Ok(Self {
            keys,
            cell_id: cell_id.to_owned(),
        })
    }

    pub fn cell_id(&self) -> &str {
        &self.cell_id
    }

    fn decode<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        audience: &str,
        validation: impl Fn(&mut Validation),
    ) -> Result<T, ControlError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| ControlError::Malformed)?;
        // Only EdDSA: a token whose header names `none`, HMAC or RSA never
        // reaches a key.
        if header.alg != Algorithm::EdDSA {
            return Err(ControlError::BadSignature);
        }
        let mut v = Validation::new(Algorithm::EdDSA);
        v.algorithms = vec![Algorithm::EdDSA];
        v.set_issuer(&[CONTROL_ISSUER]);
        v.set_audience(&[format!("{audience}{}", self.cell_id)]);
        v.leeway = LEEWAY_SECS;
        validation(&mut v);
        let mut last = ControlError::BadSignature;
        for key in &self.keys {
            match jsonwebtoken::decode::<T>(token, key, &v) {
                Ok(data) => return Ok(data.claims),
                Err(e) => {
                    last = match e.kind() {
                        ErrorKind::InvalidSignature => ControlError::BadSignature,
                        ErrorKind::InvalidAudience => ControlError::WrongAudience,
                        ErrorKind::InvalidIssuer => ControlError::WrongIssuer,
                        ErrorKind::ExpiredSignature | ErrorKind::ImmatureSignature => {
                            ControlError::Expired
                        }
                        _ => ControlError::Malformed,
                    };
                    // Another key may still verify it; a wrong audience or
                    // an expiry is the same under every key.
                    if last != ControlError::BadSignature {
                        return Err(last);
                    }
                }
            }
        }
        Err(last)
    }

    /// A signed message about this cell's snapshot.
    pub fn snapshot(&self, token: &str) -> Result<SignedSnapshot, ControlError> {
        let claims: SnapshotClaims = self.decode(token, SNAPSHOT_AUDIENCE, |v| {
            // A snapshot stays in force while the control plane is away;
            // the cell judges its freshness by version and `iat`.
            v.validate_exp = false;
            v.set_required_spec_claims(&["iss", "aud"]);
        })?;
        if claims
            .snapshot
            .as_ref()
            .is_some_and(|s| s.version != claims.version)
        {
            return Err(ControlError::Malformed);
        }
        Ok(SignedSnapshot {
            version: claims.version,
            issued_at: claims.iat,
            snapshot: claims.snapshot,
        })
    }

    /// Checks an admin token presented to this cell's admin listener.
    pub fn admin_token(&self, token: &str) -> Result<(), ControlError> {
        self.decode::<AdminClaims>(token, ADMIN_AUDIENCE, |v| {
            v.set_required_spec_claims(&["iss", "aud", "exp"]);
        })
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (EncodingKey, String) {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        (
            EncodingKey::from_ed_pem(pair.serialize_pem().as_bytes()).unwrap(),
            pair.public_key_pem(),
        )
    }

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    fn snapshot() -> Snapshot {
        Snapshot {
            version: 3,
            signing_keys: vec![],
            namespaces: vec![],
            active_api_keys: vec![],
        }
    }

    #[test]
    fn credentials_name_their_cell() {
        let secret = "s".repeat(43);
        let credential = new_cell_credential("c-1", &secret);
        assert_eq!(cell_id_of_credential(&credential), Some("c-1"));
        assert_eq!(cell_id_of_credential("orrery-cell.c-1.short"), None);
        assert_eq!(cell_id_of_credential(&format!("x.c-1.{secret}")), None);
        assert_eq!(
            cell_id_of_credential(&format!("orrery-cell..{secret}")),
            None
        );
    }

    #[test]
    fn a_snapshot_verifies_only_with_the_key_and_for_the_cell_it_was_signed_for() {
        let (key, public) = pair();
        let (other_key, other_public) = pair();
        let signer = ControlSigner {
            kid: "c1",
            key: &key,
        };
        let token = signer.snapshot("cell-a", &snapshot(), now()).unwrap();
        let cell_a = ControlVerifier::new([public.as_str()], "cell-a").unwrap();
        let signed = cell_a.snapshot(&token).unwrap();
        assert_eq!(signed.snapshot, Some(snapshot()));
        assert_eq!(signed.version, 3);
        // "Unchanged" is signed for one cell too.
        let unchanged = signer.unchanged("cell-a", 3, now()).unwrap();
        let signed = cell_a.snapshot(&unchanged).unwrap();
        assert_eq!((signed.version, signed.snapshot), (3, None));
        assert!(signed.issued_at >= now() - 5);
        // Another cell, another key, a tampered body, an admin token.
        let cell_b = ControlVerifier::new([public.as_str()], "cell-b").unwrap();
        assert_eq!(cell_b.snapshot(&token), Err(ControlError::WrongAudience));
        assert_eq!(
            cell_b.snapshot(&unchanged),
            Err(ControlError::WrongAudience)
        );
        let rogue = ControlVerifier::new([other_public.as_str()], "cell-a").unwrap();
        assert_eq!(rogue.snapshot(&token), Err(ControlError::BadSignature));
        let forged = ControlSigner {
            kid: "c1",
            key: &other_key,
        }
        .snapshot("cell-a", &snapshot(), now())
        .unwrap();
        assert_eq!(cell_a.snapshot(&forged), Err(ControlError::BadSignature));
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[1] = parts[1].chars().rev().collect();
        assert!(cell_a.snapshot(&parts.join(".")).is_err());
        assert!(cell_a.snapshot("not a jwt").is_err());
        let admin = signer.admin_token("cell-a", now()).unwrap();
        assert!(cell_a.snapshot(&admin).is_err());
        // Rotation: either configured key verifies.
        let both =
            ControlVerifier::new([other_public.as_str(), public.as_str()], "cell-a").unwrap();
        assert!(both.snapshot(&token).is_ok());
    }

    #[test]
    fn admin_tokens_expire_and_are_bound_to_one_cell() {
        let (key, public) = pair();
        let signer = ControlSigner {
            kid: "c1",
            key: &key,
        };
        let cell_a = ControlVerifier::new([public.as_str()], "cell-a").unwrap();
        assert!(
            cell_a
                .admin_token(&signer.admin_token("cell-a", now()).unwrap())
                .is_ok()
        );
        assert_eq!(
            cell_a.admin_token(&signer.admin_token("cell-b", now()).unwrap()),
            Err(ControlError::WrongAudience)
        );
        let old = signer.admin_token("cell-a", now() - 600).unwrap();
        assert_eq!(cell_a.admin_token(&old), Err(ControlError::Expired));
        let snapshot = signer.snapshot("cell-a", &snapshot(), now()).unwrap();
        assert!(cell_a.admin_token(&snapshot).is_err());
        assert!(ControlVerifier::new(["junk"], "cell-a").is_err());
        assert!(ControlVerifier::new([], "cell-a").is_err());
    }
}
