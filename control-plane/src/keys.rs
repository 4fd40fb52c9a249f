//! The control plane's Ed25519 keys, kept in the database (private halves
//! sealed, see `crate::sealing`) so every replica uses the same ones:
//!
//! - API-key signing keys ([`Signer`]): the newest signs; the operator
//!   rotates them. Cells get the public halves (with their `kid`) in the
//!   auth snapshot while an API key they signed is unexpired.
//! - The control key ([`ControlKey`]): signs what the control plane sends
//!   cells. Never published as an API-key signing key, so nothing it signs
//!   can pass for an API key.
use std::sync::{Arc, Mutex, PoisonError};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use orrery_tenant_auth::{API_KEY_AUDIENCE, API_KEY_ISSUER, ApiKeyClaims, CONSOLE_TOKEN_AUDIENCE};
use sha2::{Digest, Sha256};

use crate::sealing::{SealError, Sealer};
use crate::store::{Audit, ControlStore, KeyPurpose, SigningKeyRow, StoreError, StoreResult};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Seal(#[from] SealError),
    /// What is wrong with a key, never the key.
    #[error("{0}")]
    Invalid(String),
    #[error("signing: {0}")]
    Jwt(#[from] jsonwebtoken::errors::Error),
}

impl From<KeyError> for StoreError {
    fn from(err: KeyError) -> Self {
        match err {
            KeyError::Store(e) => e,
            other => StoreError::Database(other.to_string()),
        }
    }
}

impl From<KeyError> for crate::problem::ApiError {
    fn from(err: KeyError) -> Self {
        StoreError::from(err).into()
    }
}

/// A new key of `purpose`, its private half sealed for its row.
fn generate(purpose: KeyPurpose, sealer: &Sealer) -> Result<SigningKeyRow, KeyError> {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)
        .map_err(|e| KeyError::Invalid(format!("generating an Ed25519 key: {e}")))?;
    let kid = crate::secret::random_slug(16);
    Ok(SigningKeyRow {
        private_key_sealed: sealer
            .seal(&pair.serialize_pem(), &SigningKeyRow::seal_context(&kid))?,
        kid,
        alg: "EdDSA".into(),
        purpose,
        public_key_pem: pair.public_key_pem(),
        created_ms: chrono::Utc::now().timestamp_millis(),
        retired_ms: None,
    })
}

fn open(row: &SigningKeyRow, sealer: &Sealer) -> Result<EncodingKey, KeyError> {
    let what = format!("the signing key {}", row.kid);
    let pem = sealer.open(
        &row.private_key_sealed,
        &SigningKeyRow::seal_context(&row.kid),
        &what,
    )?;
    EncodingKey::from_ed_pem(pem.as_bytes())
        .map_err(|_| KeyError::Invalid(format!("{what} is not an Ed25519 PKCS#8 key")))
}

/// The newest key of `purpose`, created if there is none.
async fn newest_or_create(
    store: &dyn ControlStore,
    purpose: KeyPurpose,
    sealer: &Sealer,
) -> Result<SigningKeyRow, KeyError> {
    match store.newest_signing_key(purpose).await? {
        Some(row) => Ok(row),
        None => Ok(store
            .insert_first_signing_key(&generate(purpose, sealer)?)
            .await?),
    }
}

/// An API key just signed, with the `kid` of the key that signed it.
pub struct Minted {
    pub token: String,
    pub kid: String,
}

struct OpenKey {
    kid: String,
    key: EncodingKey,
}

/// Signs API keys with the newest API-key signing key, read from the store
/// at each mint (minting is rare) so a rotation made through any replica
/// takes effect everywhere at once; only the opened key is cached, by kid.
pub struct Signer {
    store: Arc<dyn ControlStore>,
    sealer: Sealer,
    opened: Mutex<Option<Arc<OpenKey>>>,
}

impl Signer {
    /// Creates the first signing key if there is none and checks that the
    /// newest one opens (a wrong key-encryption key fails the start).
    pub async fn load_or_create(
        store: Arc<dyn ControlStore>,
        sealer: Sealer,
    ) -> Result<Self, KeyError> {
        newest_or_create(store.as_ref(), KeyPurpose::ApiKey, &sealer).await?;
        let signer = Self {
            store,
            sealer,
            opened: Mutex::new(None),
        };
        signer.current().await?;
        Ok(signer)
    }

    async fn current(&self) -> Result<Arc<OpenKey>, KeyError> {
        let row = self
            .store
            .newest_signing_key(KeyPurpose::ApiKey)
            .await?
            .ok_or_else(|| KeyError::Invalid("no API-key signing key is stored".into()))?;
        let mut opened = self.opened.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(key) = opened.as_ref().filter(|k| k.kid == row.kid) {
            return Ok(key.clone());
        }
        let key = Arc::new(OpenKey {
            key: open(&row, &self.sealer)?,
            kid: row.kid,
        });
        *opened = Some(key.clone());
        Ok(key)
    }

    /// Signs an API key for `subject` (`user:<id>` / `service-account:<id>`).
    pub async fn mint(
        &self,
        jti: &str,
        subject: &str,
        account: &str,
        iat: u64,
        exp: u64,
    ) -> Result<Minted, KeyError> {
        self.sign(API_KEY_AUDIENCE, jti, subject, account, iat, exp, None)
            .await
    }

    /// Signs a console token: a user's stand-in for an API key on a cell's
    /// HTTP API, for one namespace, living at most `CONSOLE_TOKEN_MAX_TTL`
    /// (the cells refuse longer ones, and use it in that namespace only).
    #[allow(clippy::too_many_arguments)]
    pub async fn mint_console(
        &self,
        jti: &str,
        user_subject: &str,
        account: &str,
        namespace: &str,
        iat: u64,
        exp: u64,
    ) -> Result<Minted, KeyError> {
        let namespace = Some(namespace.to_owned());
        self.sign(
            CONSOLE_TOKEN_AUDIENCE,
            jti,
            user_subject,
            account,
            iat,
            exp,
            namespace,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn sign(
        &self,
        audience: &str,
        jti: &str,
        subject: &str,
        account: &str,
        iat: u64,
        exp: u64,
        namespace: Option<String>,
    ) -> Result<Minted, KeyError> {
        let key = self.current().await?;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(key.kid.clone());
        let claims = ApiKeyClaims {
            iss: API_KEY_ISSUER.into(),
            aud: audience.into(),
            sub: subject.into(),
            jti: jti.into(),
            account: account.into(),
            iat,
            exp,
            namespace,
        };
        Ok(Minted {
            token: jsonwebtoken::encode(&header, &claims, &key.key)?,
            kid: key.kid.clone(),
        })
    }

    /// A new signing key that signs every API key from now on; the others
    /// keep verifying the keys they signed until those expire.
    pub async fn rotate(&self, audit: &Audit) -> Result<SigningKeyRow, KeyError> {
        let row = generate(KeyPurpose::ApiKey, &self.sealer)?;
        let mut audit = audit.clone();
        audit.target = format!("signing-key:{}", row.kid);
        Ok(self.store.rotate_signing_key(&row, &audit).await?)
    }
}

/// The key the control plane signs with towards cells (auth snapshots, the
/// short-lived tokens it presents to their admin listeners).
pub struct ControlKey {
    kid: String,
    key: EncodingKey,
    public_key_pem: String,
}

impl std::fmt::Debug for ControlKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl ControlKey {
    /// The stored control key, created (sealed) at first start.
    pub async fn load_or_create(store: &dyn ControlStore, sealer: &Sealer) -> StoreResult<Self> {
        Ok(Self::open_or_create(store, sealer).await?)
    }

    pub(crate) async fn open_or_create(
        store: &dyn ControlStore,
        sealer: &Sealer,
    ) -> Result<Self, KeyError> {
        let row = newest_or_create(store, KeyPurpose::Control, sealer).await?;
        Ok(Self {
            key: open(&row, sealer)?,
            kid: row.kid,
            public_key_pem: row.public_key_pem,
        })
    }

    /// A key the operator supplies (`--control-key-file`): an Ed25519
    /// private key, PKCS#8 PEM. Its kid derives from the public key, so
    /// every replica given the same file names it alike.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, KeyError> {
        let pair = rcgen::KeyPair::from_pem(pem).map_err(|_| {
            KeyError::Invalid("the control key is not a PKCS#8 PEM private key".into())
        })?;
        if !pair.is_compatible(&rcgen::PKCS_ED25519) {
            return Err(KeyError::Invalid(
                "the control key must be an Ed25519 key".into(),
            ));
        }
        let key = EncodingKey::from_ed_pem(pem.as_bytes()).map_err(|_| {
            KeyError::Invalid("the control key is not an Ed25519 PKCS#8 key".into())
        })?;
        let public_key_pem = pair.public_key_pem();
        let digest = hex::encode(Sha256::digest(public_key_pem.as_bytes()));
        Ok(Self {
            kid: format!("control-{}", &digest[..16]),
            key,
            public_key_pem,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn encoding_key(&self) -> &EncodingKey {
        &self.key
    }

    /// SubjectPublicKeyInfo PEM.
    pub fn public_key_pem(&self) -> &str {
        &self.public_key_pem
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operator_control_key_is_ed25519_with_a_derived_kid() {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let pem = pair.serialize_pem();
        let key = ControlKey::from_pkcs8_pem(&pem).unwrap();
        assert_eq!(key.public_key_pem(), pair.public_key_pem());
        assert!(key.kid().starts_with("control-") && key.kid().len() == 24);
        assert_eq!(ControlKey::from_pkcs8_pem(&pem).unwrap().kid(), key.kid());
        assert!(!format!("{key:?}").contains("PRIVATE"));

        // It signs what its public half verifies.
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::EdDSA),
            &serde_json::json!({"sub": "x"}),
            key.encoding_key(),
        )
        .unwrap();
        let decoding = jsonwebtoken::DecodingKey::from_ed_pem(key.public_key_pem().as_bytes());
        let mut validation = jsonwebtoken::Validation::new(Algorithm::EdDSA);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        jsonwebtoken::decode::<serde_json::Value>(&token, &decoding.unwrap(), &validation).unwrap();
    }

    #[test]
    fn other_control_keys_are_refused_without_echoing_them() {
        let p256 = rcgen::KeyPair::generate().unwrap().serialize_pem();
        let err = ControlKey::from_pkcs8_pem(&p256).unwrap_err().to_string();
        assert_eq!(err, "the control key must be an Ed25519 key");
        let err = ControlKey::from_pkcs8_pem("not a key")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "the control key is not a PKCS#8 PEM private key");
    }
}
