//! Archive URIs: where a namespace's archive lives.
use std::path::PathBuf;

use crate::ArchiveError;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ArchiveUri {
    /// `file:///absolute/path`
    File(PathBuf),
    /// `s3://bucket/optional/prefix`
    S3 { bucket: String, prefix: String },
}

impl ArchiveUri {
    pub fn parse(uri: &str) -> Result<Self, ArchiveError> {
        let invalid =
            |why: &str| ArchiveError::InvalidUri(format!("invalid archival URI {uri:?}: {why}"));
        if let Some(path) = uri.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(invalid("a file URI needs an absolute path (file:///path)"));
            }
            let path = PathBuf::from(path);
            if path
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
            {
                return Err(invalid("the path may not contain '..'"));
            }
            return Ok(Self::File(path));
        }
        if let Some(rest) = uri.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if !valid_bucket(bucket) {
                return Err(invalid(
                    "the bucket name must be 3-63 characters of a-z, 0-9, '.' and '-'",
                ));
            }
            if prefix.contains('?') || prefix.contains('#') {
                return Err(invalid("the key prefix may not carry a query or fragment"));
            }
            return Ok(Self::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.trim_matches('/').to_string(),
            });
        }
        Err(invalid("the scheme must be s3:// or file://"))
    }
}

/// S3's bucket naming rules, as far as a URI can break them.
fn valid_bucket(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric()
}

impl std::fmt::Display for ArchiveUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(path) => write!(f, "file://{}", path.display()),
            Self::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            Self::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_file_and_s3_uris() {
        assert_eq!(
            ArchiveUri::parse("file:///var/archive").unwrap(),
            ArchiveUri::File("/var/archive".into())
        );
        assert_eq!(
            ArchiveUri::parse("s3://my-bucket/a/b/").unwrap(),
            ArchiveUri::S3 {
                bucket: "my-bucket".into(),
                prefix: "a/b".into()
            }
        );
        assert_eq!(
            ArchiveUri::parse("s3://my-bucket").unwrap().to_string(),
            "s3://my-bucket"
        );
    }

    #[test]
    fn rejects_what_can_never_work() {
        for bad in [
            "",
            "http://x/y",
            "file://relative/path",
            "file:///a/../etc",
            "s3://",
            "s3://ab",
            "s3://Upper/x",
            "s3://-bucket",
            "s3://bucket/p?x=1",
        ] {
            let err = ArchiveUri::parse(bad).unwrap_err();
            assert!(matches!(err, ArchiveError::InvalidUri(_)), "{bad}: {err}");
        }
    }
}
