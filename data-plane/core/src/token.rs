//! Task tokens. Temporal's are unsigned protobufs; ours carry an HMAC over the
//! encoded body, keyed by a secret only the cell knows, so a token's contents
//! (namespace, run, event ids) are trusted only after the MAC checks out.
use hmac::{Hmac, Mac};
use prost::Message;
use sha2::Sha256;

use crate::{CellError, CellResult};

const MAC_LEN: usize = 32;

#[derive(Clone, PartialEq, Message)]
pub struct TaskToken {
    /// 0 = workflow task, 1 = activity task, 2 = query task.
    #[prost(int32, tag = "1")]
    pub kind: i32,
    #[prost(string, tag = "2")]
    pub namespace_id: String,
    #[prost(string, tag = "3")]
    pub workflow_id: String,
    #[prost(string, tag = "4")]
    pub run_id: String,
    #[prost(int64, tag = "5")]
    pub scheduled_event_id: i64,
    #[prost(int64, tag = "6")]
    pub started_event_id: i64,
    #[prost(int32, tag = "7")]
    pub attempt: i32,
    #[prost(string, tag = "8")]
    pub activity_id: String,
    #[prost(string, tag = "9")]
    pub query_id: String,
    /// Identifies one dispatch of a workflow task, so a token from an earlier
    /// attempt cannot complete a later one.
    #[prost(int64, tag = "10")]
    pub started_time_ms: i64,
}

pub const KIND_WORKFLOW: i32 = 0;
pub const KIND_ACTIVITY: i32 = 1;
pub const KIND_QUERY: i32 = 2;

#[derive(Clone)]
pub struct TokenSigner {
    key: Vec<u8>,
}

impl TokenSigner {
    pub fn new(key: Vec<u8>) -> Self {
        Self { key }
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes keys of any length; this cannot fail.
        Hmac::<Sha256>::new_from_slice(&self.key).expect("hmac accepts any key length")
    }

    /// A 256-bit key for another purpose than task tokens, derived from the
    /// cell's secret (HMAC-SHA256 of `purpose`), so one configured secret
    /// serves several uses without one use's key opening another's values.
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        let mut mac = self.mac();
        mac.update(b"orrery-derived-key:");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    pub fn sign(&self, token: &TaskToken) -> Vec<u8> {
        let mut body = token.encode_to_vec();
        let mut mac = self.mac();
        mac.update(&body);
        body.extend_from_slice(&mac.finalize().into_bytes());
        body
    }

    /// Verifies the MAC and decodes. Any tampering answers InvalidArgument,
    /// as the real server does for a token it cannot read.
    pub fn verify(&self, bytes: &[u8]) -> CellResult<TaskToken> {
        let invalid = || CellError::invalid("Error deserializing task token.");
        if bytes.len() <= MAC_LEN {
            return Err(invalid());
        }
        let (body, tag) = bytes.split_at(bytes.len() - MAC_LEN);
        let mut mac = self.mac();
        mac.update(body);
        mac.verify_slice(tag).map_err(|_| invalid())?;
        TaskToken::decode(body).map_err(|_| invalid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> TaskToken {
        TaskToken {
            kind: KIND_ACTIVITY,
            namespace_id: "ns".into(),
            workflow_id: "wf".into(),
            run_id: "run".into(),
            scheduled_event_id: 5,
            ..Default::default()
        }
    }

    #[test]
    fn signed_token_round_trips() {
        let signer = TokenSigner::new(b"secret".to_vec());
        let bytes = signer.sign(&token());
        assert_eq!(signer.verify(&bytes).unwrap(), token());
    }

    #[test]
    fn derived_keys_differ_by_purpose_and_secret() {
        let signer = TokenSigner::new(b"secret".to_vec());
        let a = signer.derive_key("a");
        assert_eq!(a, signer.derive_key("a"));
        assert_ne!(a, signer.derive_key("b"));
        assert_ne!(a, TokenSigner::new(b"other".to_vec()).derive_key("a"));
    }

    #[test]
    fn tampered_or_foreign_token_is_rejected() {
        let signer = TokenSigner::new(b"secret".to_vec());
        let mut bytes = signer.sign(&token());
        bytes[3] ^= 1;
        assert!(matches!(
            signer.verify(&bytes),
            Err(CellError::InvalidArgument(_))
        ));
        let other = TokenSigner::new(b"other".to_vec());
        assert!(other.verify(&signer.sign(&token())).is_err());
        assert!(signer.verify(b"short").is_err());
    }
}
