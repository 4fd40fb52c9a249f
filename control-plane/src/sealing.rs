//! Private keys at rest: envelope encryption. Each secret gets its own
//! random 256-bit data key (DEK) and is encrypted with AES-256-GCM, with the
//! identity of the row that holds it as associated data, so a sealed value
//! copied into another row does not open. The DEK is wrapped by the
//! key-encryption key (KEK), which lives outside the database: a copy of the
//! database alone yields no usable key. The KEK sits behind
//! [`KeyEncryption`] so that a KMS can take the place of [`LocalKek`].
//!
//! Stored form (text, so it fits the existing columns):
//! `orrery-sealed:v1:<kek id>:<b64 wrapped dek>:<b64 nonce>:<b64 ciphertext>`.
//! The KEK id is taken from the right of the prefix up to the last three
//! fields, so a KMS key id may contain `:`.
//!
//! Neither errors nor `Debug` output ever contain secret material.
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

const PREFIX: &str = "orrery-sealed:v1:";
const DEK_LEN: usize = 32;
/// Associated data of a wrapped DEK, so a DEK cannot be confused with any
/// other value the KEK might ever encrypt.
const WRAP_AAD: &[u8] = b"orrery-kek-wrap:v1";

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error(
        "{what} is sealed with key-encryption key {sealed_with}, but the configured key-encryption key is {configured}"
    )]
    WrongKek {
        what: String,
        sealed_with: String,
        configured: String,
    },
    #[error(
        "{what} is sealed with key-encryption key {sealed_with}, but the control plane runs without key encryption"
    )]
    NoKek { what: String, sealed_with: String },
    #[error(
        "{what} is stored in plaintext although a key-encryption key is configured (the control plane seals such rows at start)"
    )]
    NotSealed { what: String },
    #[error("{what} does not open: it was altered, or copied from another row")]
    DoesNotOpen { what: String },
    #[error("{what}: the sealed value is malformed ({why})")]
    Malformed { what: String, why: &'static str },
    #[error("key-encryption key: {0}")]
    Kek(String),
    #[error("the system random source failed")]
    Random,
}

/// The KEK: wraps and unwraps data keys. A KMS implements this by calling
/// its encrypt/decrypt operations; errors must not carry key material.
pub trait KeyEncryption: Send + Sync + fmt::Debug {
    /// Names the KEK in every value it sealed, so a wrong one is reported
    /// as such and not as corruption.
    fn key_id(&self) -> &str;
    fn wrap(&self, dek: &[u8]) -> Result<Vec<u8>, SealError>;
    fn unwrap(&self, wrapped: &[u8]) -> Result<Vec<u8>, SealError>;
}

fn random<const N: usize>() -> Result<[u8; N], SealError> {
    let mut bytes = [0u8; N];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| SealError::Random)?;
    Ok(bytes)
}

fn aes_key(key: &[u8]) -> Result<LessSafeKey, SealError> {
    UnboundKey::new(&AES_256_GCM, key)
        .map(LessSafeKey::new)
        .map_err(|_| SealError::Kek("an AES-256 key is 32 bytes".into()))
}

/// `nonce || ciphertext || tag`.
fn aes_seal(key: &LessSafeKey, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
    let nonce = random::<NONCE_LEN>()?;
    let mut out = plaintext.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut out,
    )
    .map_err(|_| SealError::Kek("AES-GCM sealing failed".into()))?;
    let mut sealed = nonce.to_vec();
    sealed.extend_from_slice(&out);
    Ok(sealed)
}

fn aes_open(key: &LessSafeKey, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE_LEN {
        return None;
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut buf = body.to_vec();
    let plain = key.open_in_place(nonce, Aad::from(aad), &mut buf).ok()?;
    Some(plain.to_vec())
}

/// A KEK held in memory: 32 bytes from the configuration. Its id is the
/// first 8 hex digits of its sha256.
pub struct LocalKek {
    id: String,
    key: LessSafeKey,
}

impl fmt::Debug for LocalKek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalKek").field("id", &self.id).finish()
    }
}

impl LocalKek {
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, SealError> {
        Ok(Self {
            id: hex::encode(&Sha256::digest(bytes)[..4]),
            key: aes_key(bytes)?,
        })
    }

    /// Base64 (standard alphabet, padding optional) of 32 bytes; surrounding
    /// whitespace is ignored. The error never repeats the input.
    pub fn from_base64(text: &str) -> Result<Self, SealError> {
        let text = text.trim();
        let decoded = STANDARD
            .decode(text)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
            .map_err(|_| SealError::Kek("not base64 (expected base64 of 32 bytes)".into()))?;
        let bytes: [u8; 32] = decoded.as_slice().try_into().map_err(|_| {
            SealError::Kek(format!(
                "{} bytes after base64 decoding; exactly 32 are required",
                decoded.len()
            ))
        })?;
        Self::from_bytes(&bytes)
    }

    /// Reads a file holding the base64 of 32 bytes.
    pub fn from_file(path: &Path) -> Result<Self, SealError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SealError::Kek(format!("reading {}: {e}", path.display())))?;
        Self::from_base64(&text)
            .map_err(|e| SealError::Kek(format!("{}: {}", path.display(), kek_reason(e))))
    }

    /// 32 random bytes, base64: what a KEK file holds.
    pub fn generate_base64() -> Result<String, SealError> {
        Ok(STANDARD.encode(random::<32>()?))
    }

    /// For `orrery dev`: uses the KEK file at `path`, creating it (mode
    /// 0600) with a random KEK if it does not exist.
    pub fn load_or_generate_file(path: &Path) -> Result<Self, SealError> {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(path) {
            Ok(mut file) => {
                let text = Self::generate_base64()?;
                file.write_all(format!("{text}\n").as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(|e| SealError::Kek(format!("writing {}: {e}", path.display())))?;
                Self::from_base64(&text)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::from_file(path),
            Err(e) => Err(SealError::Kek(format!("creating {}: {e}", path.display()))),
        }
    }
}

fn kek_reason(e: SealError) -> String {
    match e {
        SealError::Kek(why) => why,
        other => other.to_string(),
    }
}

impl KeyEncryption for LocalKek {
    fn key_id(&self) -> &str {
        &self.id
    }

    fn wrap(&self, dek: &[u8]) -> Result<Vec<u8>, SealError> {
        aes_seal(&self.key, WRAP_AAD, dek)
    }

    fn unwrap(&self, wrapped: &[u8]) -> Result<Vec<u8>, SealError> {
        aes_open(&self.key, WRAP_AAD, wrapped).ok_or(SealError::DoesNotOpen {
            what: "a wrapped data key".into(),
        })
    }
}

/// Seals and opens the secrets the control plane must keep (its signing
/// keys, generated CA keys). Without a KEK (`--insecure-no-key-encryption`)
/// it stores them as given.
#[derive(Clone, Debug)]
pub struct Sealer {
    kek: Option<Arc<dyn KeyEncryption>>,
}

/// A sealed value's parts.
struct Parts<'a> {
    kek_id: &'a str,
    wrapped: Vec<u8>,
    nonce_and_ciphertext: Vec<u8>,
}

fn parse<'a>(stored: &'a str, what: &str) -> Result<Parts<'a>, SealError> {
    let malformed = |why| SealError::Malformed {
        what: what.to_owned(),
        why,
    };
    let rest = stored
        .strip_prefix(PREFIX)
        .ok_or_else(|| malformed("unknown format"))?;
    let mut fields = rest.rsplitn(4, ':');
    let (Some(ciphertext), Some(nonce), Some(wrapped), Some(kek_id)) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(malformed("too few fields"));
    };
    let b64 = |s: &str| STANDARD.decode(s).map_err(|_| malformed("not base64"));
    let nonce = b64(nonce)?;
    if nonce.len() != NONCE_LEN {
        return Err(malformed("wrong nonce length"));
    }
    let mut nonce_and_ciphertext = nonce;
    nonce_and_ciphertext.extend(b64(ciphertext)?);
    Ok(Parts {
        kek_id,
        wrapped: b64(wrapped)?,
        nonce_and_ciphertext,
    })
}

/// The associated data: the format version and the row's identity.
fn aad(context: &str) -> Vec<u8> {
    let mut aad = PREFIX.as_bytes().to_vec();
    aad.push(0);
    aad.extend_from_slice(context.as_bytes());
    aad
}

impl Sealer {
    pub fn new(kek: Arc<dyn KeyEncryption>) -> Self {
        Self { kek: Some(kek) }
    }

    /// Keeps secrets in plaintext; only for `--insecure-no-key-encryption`.
    pub fn insecure_plaintext() -> Self {
        Self { kek: None }
    }

    /// The configured KEK's id; `None` when secrets stay plaintext.
    pub fn kek_id(&self) -> Option<&str> {
        self.kek.as_deref().map(KeyEncryption::key_id)
    }

    pub fn is_sealed(stored: &str) -> bool {
        stored.starts_with(PREFIX)
    }

    /// The KEK id a sealed value names, if it is one.
    pub fn sealed_with(stored: &str) -> Option<&str> {
        parse(stored, "").ok().map(|p| p.kek_id)
    }

    /// Seals `secret` for the row `context` names (e.g.
    /// `signing_keys/<kid>`); it opens only with the same context.
    pub fn seal(&self, secret: &str, context: &str) -> Result<String, SealError> {
        let Some(kek) = &self.kek else {
            return Ok(secret.to_owned());
        };
        let mut dek = random::<DEK_LEN>()?;
        let sealed = aes_seal(&aes_key(&dek)?, &aad(context), secret.as_bytes());
        let wrapped = kek.wrap(&dek);
        dek.fill(0);
        let sealed = sealed?;
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        Ok(format!(
            "{PREFIX}{}:{}:{}:{}",
            kek.key_id(),
            STANDARD.encode(wrapped?),
            STANDARD.encode(nonce),
            STANDARD.encode(ciphertext)
        ))
    }

    /// Opens what [`Sealer::seal`] stored for `context`. `what` names the
    /// secret in errors ("the signing key abc").
    pub fn open(&self, stored: &str, context: &str, what: &str) -> Result<String, SealError> {
        let kek = match (&self.kek, Self::is_sealed(stored)) {
            (None, false) => return Ok(stored.to_owned()),
            (None, true) => {
                return Err(SealError::NoKek {
                    what: what.to_owned(),
                    sealed_with: parse(stored, what)?.kek_id.to_owned(),
                });
            }
            (Some(_), false) => {
                return Err(SealError::NotSealed {
                    what: what.to_owned(),
                });
            }
            (Some(kek), true) => kek,
        };
        let parts = parse(stored, what)?;
        if parts.kek_id != kek.key_id() {
            return Err(SealError::WrongKek {
                what: what.to_owned(),
                sealed_with: parts.kek_id.to_owned(),
                configured: kek.key_id().to_owned(),
            });
        }
        let does_not_open = || SealError::DoesNotOpen {
            what: what.to_owned(),
        };
        let mut dek = kek.unwrap(&parts.wrapped).map_err(|_| does_not_open())?;
        let key = aes_key(&dek).map_err(|_| does_not_open());
        dek.fill(0);
        let plain = aes_open(&key?, &aad(context), &parts.nonce_and_ciphertext)
            .ok_or_else(does_not_open)?;
        String::from_utf8(plain).map_err(|_| does_not_open())
    }
}

/// A key that does not seal or open is the server's failure, logged in
/// full (no secret is ever in the message) and shown to no caller.
impl From<SealError> for crate::problem::ApiError {
    fn from(err: SealError) -> Self {
        crate::problem::ApiError::Internal(err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kek(byte: u8) -> Arc<dyn KeyEncryption> {
        Arc::new(LocalKek::from_bytes(&[byte; 32]).unwrap())
    }

    const SECRET: &str = "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n";

    #[test]
    fn seals_and_opens_for_the_same_row_only() {
        let sealer = Sealer::new(kek(1));
        let sealed = sealer.seal(SECRET, "signing_keys/a").unwrap();
        assert!(sealed.starts_with(&format!("orrery-sealed:v1:{}:", sealer.kek_id().unwrap())));
        assert!(!sealed.contains("PRIVATE KEY"));
        assert_eq!(sealer.open(&sealed, "signing_keys/a", "k").unwrap(), SECRET);
        // A fresh DEK and nonce each time.
        assert_ne!(sealer.seal(SECRET, "signing_keys/a").unwrap(), sealed);
        assert!(matches!(
            sealer.open(&sealed, "signing_keys/b", "k"),
            Err(SealError::DoesNotOpen { .. })
        ));
    }

    #[test]
    fn another_kek_is_named_in_the_error() {
        let sealed = Sealer::new(kek(1)).seal(SECRET, "r").unwrap();
        let other = Sealer::new(kek(2));
        let err = other.open(&sealed, "r", "the signing key x").unwrap_err();
        let (a, b) = (kek(1).key_id().to_owned(), kek(2).key_id().to_owned());
        assert_ne!(a, b);
        assert_eq!(
            err.to_string(),
            format!(
                "the signing key x is sealed with key-encryption key {a}, but the configured key-encryption key is {b}"
            )
        );
        assert!(matches!(
            Sealer::insecure_plaintext().open(&sealed, "r", "k"),
            Err(SealError::NoKek { .. })
        ));
    }

    /// A KEK that claims the same id but is another key: the wrapped DEK
    /// does not open, which is reported without any secret.
    #[test]
    fn same_id_other_key_does_not_open() {
        #[derive(Debug)]
        struct Impostor(LocalKek, String);
        impl KeyEncryption for Impostor {
            fn key_id(&self) -> &str {
                &self.1
            }
            fn wrap(&self, dek: &[u8]) -> Result<Vec<u8>, SealError> {
                self.0.wrap(dek)
            }
            fn unwrap(&self, wrapped: &[u8]) -> Result<Vec<u8>, SealError> {
                self.0.unwrap(wrapped)
            }
        }
        let sealed = Sealer::new(kek(1)).seal(SECRET, "r").unwrap();
        let impostor = Sealer::new(Arc::new(Impostor(
            LocalKek::from_bytes(&[2; 32]).unwrap(),
            kek(1).key_id().to_owned(),
        )));
        let err = impostor.open(&sealed, "r", "k").unwrap_err();
        assert!(matches!(err, SealError::DoesNotOpen { .. }), "{err}");
    }

    #[test]
    fn tampering_and_plaintext_are_refused() {
        let sealer = Sealer::new(kek(1));
        let sealed = sealer.seal(SECRET, "r").unwrap();
        let (head, ciphertext) = sealed.rsplit_once(':').unwrap();
        let mut bytes = STANDARD.decode(ciphertext).unwrap();
        bytes[0] ^= 1;
        let altered = format!("{head}:{}", STANDARD.encode(bytes));
        assert!(matches!(
            sealer.open(&altered, "r", "k"),
            Err(SealError::DoesNotOpen { .. })
        ));
        assert!(matches!(
            sealer.open("orrery-sealed:v1:x", "r", "k"),
            Err(SealError::Malformed { .. })
        ));
        assert!(matches!(
            sealer.open(SECRET, "r", "k"),
            Err(SealError::NotSealed { .. })
        ));
        let plain = Sealer::insecure_plaintext();
        assert_eq!(plain.seal(SECRET, "r").unwrap(), SECRET);
        assert_eq!(plain.open(SECRET, "r", "k").unwrap(), SECRET);
    }

    #[test]
    fn kek_ids_may_contain_colons() {
        #[derive(Debug)]
        struct Kms(LocalKek);
        impl KeyEncryption for Kms {
            fn key_id(&self) -> &str {
                "arn:aws:kms:eu-west-1:1:key/k"
            }
            fn wrap(&self, dek: &[u8]) -> Result<Vec<u8>, SealError> {
                self.0.wrap(dek)
            }
            fn unwrap(&self, wrapped: &[u8]) -> Result<Vec<u8>, SealError> {
                self.0.unwrap(wrapped)
            }
        }
        let sealer = Sealer::new(Arc::new(Kms(LocalKek::from_bytes(&[3; 32]).unwrap())));
        let sealed = sealer.seal(SECRET, "r").unwrap();
        assert_eq!(
            Sealer::sealed_with(&sealed),
            Some("arn:aws:kms:eu-west-1:1:key/k")
        );
        assert_eq!(sealer.open(&sealed, "r", "k").unwrap(), SECRET);
    }

    #[test]
    fn kek_configuration_errors_do_not_echo_the_input() {
        let short = STANDARD.encode([7u8; 16]);
        let err = LocalKek::from_base64(&short).unwrap_err().to_string();
        assert!(err.contains("16 bytes"), "{err}");
        assert!(!err.contains(&short));
        let err = LocalKek::from_base64("not base64!")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("not base64!"), "{err}");
        let ok = LocalKek::from_base64(&format!(" {}\n", STANDARD.encode([9u8; 32]))).unwrap();
        assert_eq!(ok.key_id().len(), 8);
        assert_eq!(
            format!("{ok:?}"),
            format!("LocalKek {{ id: {:?} }}", ok.key_id())
        );
    }

    #[test]
    fn a_generated_kek_file_is_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek");
        let first = LocalKek::load_or_generate_file(&path).unwrap();
        let again = LocalKek::load_or_generate_file(&path).unwrap();
        assert_eq!(first.key_id(), again.key_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
