/// Why a credential was refused. The messages name what failed without
/// echoing secrets, so they can go back to the caller in a gRPC status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the API key is malformed")]
    MalformedToken,
    #[error("the API key names an unknown signing key")]
    UnknownSigningKey,
    #[error("the API key's algorithm is not accepted")]
    AlgorithmNotAllowed,
    #[error("the API key's signature is invalid")]
    InvalidSignature,
    #[error("the API key's claims are invalid: {0}")]
    InvalidClaims(&'static str),
    #[error("the API key has expired")]
    Expired,
    #[error("the API key is disabled, deleted or unknown")]
    KeyNotActive,
    #[error("the API key's subject is not the principal it was issued to")]
    SubjectMismatch,
    #[error("namespace {0} does not accept client certificates")]
    MtlsNotConfigured(String),
    #[error("the client certificate could not be parsed")]
    MalformedCertificate,
    #[error("the client certificate matches none of the namespace's certificate filters")]
    CertificateFilterMismatch,
    #[error("the credential does not grant access to namespace {0}")]
    NamespaceNotGranted(String),
}

/// Which gRPC status an [`AuthError`] maps to, without tying this crate to tonic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthErrorKind {
    /// `UNAUTHENTICATED`: the credential itself is not valid.
    Unauthenticated,
    /// `PERMISSION_DENIED`: a valid credential that does not reach the target.
    PermissionDenied,
}

impl AuthError {
    pub fn kind(&self) -> AuthErrorKind {
        match self {
            AuthError::CertificateFilterMismatch
            | AuthError::MtlsNotConfigured(_)
            | AuthError::NamespaceNotGranted(_) => AuthErrorKind::PermissionDenied,
            _ => AuthErrorKind::Unauthenticated,
        }
    }
}
