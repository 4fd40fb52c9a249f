//! A blob store in an S3 bucket (or any S3-compatible server).
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;

use crate::blob::BlobStore;
use crate::{ArchiveError, ArchiveResult};

/// How the cell reaches S3. Credentials come from the standard AWS chain
/// (environment, profile, web identity, container or instance role).
#[derive(Clone, Debug, Default)]
pub struct S3Settings {
    /// A custom endpoint (an S3-compatible server); AWS's own otherwise,
    /// or `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL` if set.
    pub endpoint: Option<String>,
    /// The region; the AWS chain's otherwise, `us-east-1` as the last resort.
    pub region: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`) instead of
    /// virtual-host style (`bucket.endpoint/key`); most S3-compatible
    /// servers need it.
    pub force_path_style: bool,
}

/// Bounds an S3 call: an unreachable endpoint must fail the upload (to be
/// retried later), never hang the archival queue.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) async fn client(settings: &S3Settings) -> aws_sdk_s3::Client {
    let region = aws_config::meta::region::RegionProviderChain::first_try(
        settings.region.clone().map(aws_config::Region::new),
    )
    .or_default_provider()
    .or_else("us-east-1");
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(region)
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_timeout(OPERATION_TIMEOUT)
                .connect_timeout(CONNECT_TIMEOUT)
                .build(),
        )
        .load()
        .await;
    let mut config =
        aws_sdk_s3::config::Builder::from(&shared).force_path_style(settings.force_path_style);
    if let Some(endpoint) = &settings.endpoint {
        config = config.endpoint_url(endpoint);
    }
    aws_sdk_s3::Client::from_conf(config.build())
}

pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
    /// Prepended to every key, without a trailing '/'.
    prefix: String,
}

impl S3Store {
    pub fn new(client: aws_sdk_s3::Client, bucket: String, prefix: String) -> Self {
        Self {
            client,
            bucket,
            prefix,
        }
    }

    fn full_key(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }

    fn unavailable(&self, op: &str, err: impl std::error::Error) -> ArchiveError {
        ArchiveError::Unavailable(format!(
            "S3 {op} on bucket {:?}: {}",
            self.bucket,
            DisplayErrorContext(err)
        ))
    }
}

#[async_trait]
impl BlobStore for S3Store {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> ArchiveResult<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .content_type("application/x-protobuf")
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| self.unavailable("PutObject", e))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> ArchiveResult<Option<Vec<u8>>> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .send()
            .await
        {
            Ok(out) => out,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                return Ok(None);
            }
            Err(err) => return Err(self.unavailable("GetObject", err)),
        };
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| self.unavailable("GetObject body", e))?;
        Ok(Some(body.into_bytes().to_vec()))
    }

    async fn list(&self, prefix: &str) -> ArchiveResult<Vec<String>> {
        let full_prefix = self.full_key(prefix);
        let strip = if self.prefix.is_empty() {
            0
        } else {
            self.prefix.len() + 1
        };
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&full_prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| self.unavailable("ListObjectsV2", e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key())
                    .filter(|k| k.len() > strip)
                    .map(|k| k[strip..].to_string()),
            );
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_string()),
                _ => break,
            }
        }
        keys.sort();
        Ok(keys)
    }
}
