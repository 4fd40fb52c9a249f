//! The control plane's API-key signing key: Ed25519, generated at first
//! start and kept in the database so every replica signs with it. Cells get
//! the public half (with its `kid`) in the auth snapshot.
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use orrery_tenant_auth::{API_KEY_AUDIENCE, API_KEY_ISSUER, ApiKeyClaims};

use crate::store::{ControlStore, SigningKeyRow, StoreError, StoreResult};

pub struct Signer {
    kid: String,
    key: EncodingKey,
}

impl Signer {
    /// Loads the newest signing key, creating the first one if there is none.
    pub async fn load_or_create(store: &dyn ControlStore) -> StoreResult<Self> {
        let mut keys = store.signing_keys().await?;
        if keys.is_empty() {
            keys = store.insert_first_signing_key(&generate()?).await?;
        }
        let row = keys
            .last()
            .ok_or_else(|| StoreError::Database("no signing key after inserting one".into()))?;
        let key = EncodingKey::from_ed_pem(row.private_key_pem.as_bytes())
            .map_err(|e| StoreError::Database(format!("stored signing key: {e}")))?;
        Ok(Self {
            kid: row.kid.clone(),
            key,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs an API key for `subject` (`user:<id>` / `service-account:<id>`).
    pub fn mint(
        &self,
        jti: &str,
        subject: &str,
        account: &str,
        iat: u64,
        exp: u64,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        let claims = ApiKeyClaims {
            iss: API_KEY_ISSUER.into(),
            aud: API_KEY_AUDIENCE.into(),
            sub: subject.into(),
            jti: jti.into(),
            account: account.into(),
            iat,
            exp,
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
    }
}

fn generate() -> StoreResult<SigningKeyRow> {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)
        .map_err(|e| StoreError::Database(format!("generating the signing key: {e}")))?;
    Ok(SigningKeyRow {
        kid: crate::secret::random_slug(16),
        alg: "EdDSA".into(),
        private_key_pem: pair.serialize_pem(),
        public_key_pem: pair.public_key_pem(),
        created_ms: chrono::Utc::now().timestamp_millis(),
    })
}
