//! Archives of closed workflow runs. A namespace names where its archive
//! lives with a URI (`s3://bucket/prefix` or `file:///path`); [`Archives`]
//! opens the blob store behind it and lays histories and visibility records
//! out in it, one object each, keyed so that a retried upload overwrites
//! the same object with the same bytes.
mod archives;
mod blob;
mod file;
mod s3;
mod uri;

pub use archives::Archives;
pub use blob::BlobStore;
pub use s3::S3Settings;
pub use uri::ArchiveUri;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The URI can never work: bad scheme, relative path, no bucket.
    #[error("{0}")]
    InvalidUri(String),
    /// The store could not be reached or refused the request (network,
    /// credentials, missing bucket): worth retrying later.
    #[error("{0}")]
    Unavailable(String),
    /// An object in the archive does not decode.
    #[error("corrupt archive object {key}: {reason}")]
    Corrupt { key: String, reason: String },
}

pub type ArchiveResult<T> = Result<T, ArchiveError>;
