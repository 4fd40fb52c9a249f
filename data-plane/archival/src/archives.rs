//! Where a run's archive objects live, and the blob stores behind URIs.
//!
//! Layout under a namespace's URI:
//!   `<namespace id>/history/<workflow id>/<run id>.history`       — `temporal.api.history.v1.History`
//!   `<namespace id>/visibility/<workflow id>/<run id>.visibility` — `temporal.api.workflow.v1.WorkflowExecutionInfo`
//! Both are protobuf, the format Temporal's own archivers and export use.
//! Every path part is percent-encoded, so any namespace, workflow or run id
//! is one safe path segment (no '/', no '.' or '..'): a namespace's objects
//! stay under `<uri>/<namespace id>/` whatever its ids are, and several
//! namespaces can share one URI (the cell's archive root) without seeing
//! each other's objects.
//!
//! Reads are held to that shape: a listing keeps only keys exactly one
//! workflow segment and one run segment below the namespace's prefix, so
//! objects that another URI nested inside this one put deeper down (an
//! archive whose URI points into another namespace's prefix) never show up
//! as this namespace's records.
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use orrery_proto::api::history::v1::History;
use orrery_proto::api::workflow::v1::WorkflowExecutionInfo;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use prost::Message;

use crate::blob::BlobStore;
use crate::file::FileStore;
use crate::s3::{S3Settings, S3Store};
use crate::{ArchiveError, ArchiveResult, ArchiveUri};

const KEY_PART: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_');
/// Written and read back when a namespace is configured, to prove the
/// archive is reachable with the cell's credentials before anything relies
/// on it.
const CHECK_KEY: &str = "orrery-archival-check";

fn key_part(s: &str) -> String {
    utf8_percent_encode(s, KEY_PART).to_string()
}

fn history_key(namespace_id: &str, workflow_id: &str, run_id: &str) -> String {
    format!(
        "{}/history/{}/{}.history",
        key_part(namespace_id),
        key_part(workflow_id),
        key_part(run_id)
    )
}

fn visibility_prefix(namespace_id: &str, workflow_id: Option<&str>) -> String {
    match workflow_id {
        Some(wid) => format!("{}/visibility/{}/", key_part(namespace_id), key_part(wid)),
        None => format!("{}/visibility/", key_part(namespace_id)),
    }
}

fn visibility_key(namespace_id: &str, workflow_id: &str, run_id: &str) -> String {
    format!(
        "{}{}.visibility",
        visibility_prefix(namespace_id, Some(workflow_id)),
        key_part(run_id)
    )
}

/// The run id a listed key names, if the key is exactly
/// `<prefix><one segment><suffix>`; anything nested deeper is not one of
/// this prefix's objects.
fn run_segment<'k>(key: &'k str, prefix: &str, suffix: &str) -> Option<&'k str> {
    let run = key.strip_prefix(prefix)?.strip_suffix(suffix)?;
    (!run.is_empty() && !run.contains('/')).then_some(run)
}

/// Whether a listed key is one visibility record directly under
/// `<namespace>/visibility/<workflow>/`.
fn is_visibility_record(key: &str, namespace_prefix: &str) -> bool {
    let Some((workflow, rest)) = key
        .strip_prefix(namespace_prefix)
        .and_then(|rest| rest.split_once('/'))
    else {
        return false;
    };
    !workflow.is_empty() && run_segment(rest, "", ".visibility").is_some()
}

fn decode<M: Message + Default>(key: &str, bytes: &[u8]) -> ArchiveResult<M> {
    M::decode(bytes).map_err(|e| ArchiveError::Corrupt {
        key: key.to_string(),
        reason: e.to_string(),
    })
}

/// Opens the blob store behind each URI once and keeps it.
pub struct Archives {
    s3: S3Settings,
    s3_client: tokio::sync::OnceCell<aws_sdk_s3::Client>,
    stores: Mutex<HashMap<ArchiveUri, Arc<dyn BlobStore>>>,
}

impl Archives {
    pub fn new(s3: S3Settings) -> Self {
        Self {
            s3,
            s3_client: tokio::sync::OnceCell::new(),
            stores: Mutex::new(HashMap::new()),
        }
    }

    async fn store(&self, uri: &str) -> ArchiveResult<Arc<dyn BlobStore>> {
        let uri = ArchiveUri::parse(uri)?;
        if let Some(store) = self
            .stores
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&uri)
        {
            return Ok(store.clone());
        }
        let store: Arc<dyn BlobStore> = match &uri {
            ArchiveUri::File(path) => Arc::new(FileStore::new(PathBuf::from(path))),
            ArchiveUri::S3 { bucket, prefix } => {
                let client = self
                    .s3_client
                    .get_or_init(|| crate::s3::client(&self.s3))
                    .await
                    .clone();
                Arc::new(S3Store::new(client, bucket.clone(), prefix.clone()))
            }
        };
        self.stores
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(uri, store.clone());
        Ok(store)
    }

    /// Proves the archive can be written and read with the cell's
    /// credentials.
    pub async fn check(&self, uri: &str) -> ArchiveResult<()> {
        let store = self.store(uri).await?;
        let probe = b"orrery archival check".to_vec();
        store.put(CHECK_KEY, probe.clone()).await?;
        match store.get(CHECK_KEY).await? {
            Some(read) if read == probe => Ok(()),
            _ => Err(ArchiveError::Unavailable(format!(
                "{uri}: an object written there could not be read back"
            ))),
        }
    }

    pub async fn put_history(
        &self,
        uri: &str,
        namespace_id: &str,
        workflow_id: &str,
        run_id: &str,
        history: &History,
    ) -> ArchiveResult<()> {
        let key = history_key(namespace_id, workflow_id, run_id);
        self.store(uri)
            .await?
            .put(&key, history.encode_to_vec())
            .await
    }

    pub async fn history(
        &self,
        uri: &str,
        namespace_id: &str,
        workflow_id: &str,
        run_id: &str,
    ) -> ArchiveResult<Option<History>> {
        let key = history_key(namespace_id, workflow_id, run_id);
        match self.store(uri).await?.get(&key).await? {
            Some(bytes) => decode(&key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// The run ids of a workflow id whose histories are archived.
    pub async fn history_runs(
        &self,
        uri: &str,
        namespace_id: &str,
        workflow_id: &str,
    ) -> ArchiveResult<Vec<String>> {
        let prefix = format!(
            "{}/history/{}/",
            key_part(namespace_id),
            key_part(workflow_id)
        );
        let keys = self.store(uri).await?.list(&prefix).await?;
        Ok(keys
            .iter()
            .filter_map(|k| run_segment(k, &prefix, ".history"))
            .map(|run| {
                percent_encoding::percent_decode_str(run)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect())
    }

    pub async fn put_visibility(
        &self,
        uri: &str,
        namespace_id: &str,
        record: &WorkflowExecutionInfo,
    ) -> ArchiveResult<()> {
        let execution = record.execution.clone().unwrap_or_default();
        let key = visibility_key(namespace_id, &execution.workflow_id, &execution.run_id);
        self.store(uri)
            .await?
            .put(&key, record.encode_to_vec())
            .await
    }

    /// The archived visibility records of a namespace, or of one workflow
    /// id in it.
    pub async fn visibility_records(
        &self,
        uri: &str,
        namespace_id: &str,
        workflow_id: Option<&str>,
    ) -> ArchiveResult<Vec<WorkflowExecutionInfo>> {
        let store = self.store(uri).await?;
        let keys = store
            .list(&visibility_prefix(namespace_id, workflow_id))
            .await?;
        let namespace_prefix = visibility_prefix(namespace_id, None);
        let mut records = Vec::with_capacity(keys.len());
        for key in keys
            .iter()
            .filter(|k| is_visibility_record(k, &namespace_prefix))
        {
            if let Some(bytes) = store.get(key).await? {
                records.push(decode(key, &bytes)?);
            }
        }
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orrery_proto::api::common::v1::WorkflowExecution;
    use orrery_proto::api::history::v1::HistoryEvent;

    #[test]
    fn keys_are_single_safe_segments() {
        assert_eq!(
            history_key("ns-1", "a/../b c", "r1"),
            "ns-1/history/a%2F%2E%2E%2Fb%20c/r1.history"
        );
        assert_eq!(
            visibility_key("ns", "..", "r"),
            "ns/visibility/%2E%2E/r.visibility"
        );
        // One workflow's prefix never covers another's.
        assert!(!visibility_key("ns", "ab", "r").starts_with(&visibility_prefix("ns", Some("a"))));
    }

    #[tokio::test]
    async fn file_archive_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let uri = format!("file://{}", dir.path().join("archive").display());
        let archives = Archives::new(S3Settings::default());
        archives.check(&uri).await.unwrap();
        let history = History {
            events: vec![HistoryEvent {
                event_id: 1,
                ..Default::default()
            }],
        };
        archives
            .put_history(&uri, "ns", "wf/1", "run-1", &history)
            .await
            .unwrap();
        assert_eq!(
            archives.history(&uri, "ns", "wf/1", "run-1").await.unwrap(),
            Some(history)
        );
        assert_eq!(
            archives
                .history(&uri, "other", "wf/1", "run-1")
                .await
                .unwrap(),
            None
        );
        for (wid, run) in [("wf/1", "run-1"), ("wf/1", "run-2"), ("wf/2", "run-3")] {
            let record = WorkflowExecutionInfo {
                execution: Some(WorkflowExecution {
                    workflow_id: wid.into(),
                    run_id: run.into(),
                }),
                ..Default::default()
            };
            archives.put_visibility(&uri, "ns", &record).await.unwrap();
        }
        assert_eq!(
            archives
                .visibility_records(&uri, "ns", None)
                .await
                .unwrap()
                .len(),
            3
        );
        assert_eq!(
            archives
                .visibility_records(&uri, "ns", Some("wf/1"))
                .await
                .unwrap()
                .len(),
            2
        );
        assert!(
            archives
                .visibility_records(&uri, "other", None)
                .await
                .unwrap()
                .is_empty()
        );
    }

    fn record(workflow_id: &str, run_id: &str) -> WorkflowExecutionInfo {
        WorkflowExecutionInfo {
            execution: Some(WorkflowExecution {
                workflow_id: workflow_id.into(),
                run_id: run_id.into(),
            }),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn an_archive_nested_in_another_namespaces_prefix_adds_nothing_to_its_lists() {
        let dir = tempfile::tempdir().unwrap();
        let root = format!("file://{}", dir.path().display());
        let archives = Archives::new(S3Settings::default());
        archives
            .put_visibility(&root, "victim", &record("wf", "r1"))
            .await
            .unwrap();
        // A URI pointing inside the victim's visibility prefix: what is
        // archived there lands (on disk) below the victim's records.
        for nested in [
            "victim/visibility/wf",
            "victim/visibility",
            "victim/history/wf",
        ] {
            let uri = format!("{root}/{nested}");
            archives
                .put_visibility(&uri, "intruder", &record("planted", "r9"))
                .await
                .unwrap();
            let history = History::default();
            archives
                .put_history(&uri, "intruder", "planted", "r9", &history)
                .await
                .unwrap();
        }
        let listed = archives
            .visibility_records(&root, "victim", None)
            .await
            .unwrap();
        assert_eq!(listed, vec![record("wf", "r1")]);
        assert_eq!(
            archives
                .visibility_records(&root, "victim", Some("wf"))
                .await
                .unwrap(),
            vec![record("wf", "r1")]
        );
        assert!(
            archives
                .history_runs(&root, "victim", "wf")
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn ids_cannot_reach_out_of_their_namespace_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let root = format!("file://{}", dir.path().display());
        let archives = Archives::new(S3Settings::default());
        let history = History {
            events: vec![HistoryEvent {
                event_id: 1,
                ..Default::default()
            }],
        };
        archives
            .put_history(&root, "victim", "wf", "r1", &history)
            .await
            .unwrap();
        for (ns, wid, run) in [
            ("intruder", "../victim/history/wf", "r1"),
            ("intruder/../victim", "wf", "r1"),
            ("..", "victim/history/wf", "r1"),
            ("intruder", "wf", "../../victim/history/wf/r1"),
        ] {
            assert_eq!(
                archives.history(&root, ns, wid, run).await.unwrap(),
                None,
                "{ns} {wid} {run}"
            );
            archives
                .put_history(&root, ns, wid, run, &history)
                .await
                .unwrap();
        }
        // Each of those writes stayed in a directory of its own, one
        // segment below the root; the victim's prefix holds its run alone.
        let victim = dir.path().join("victim/history");
        let entries: Vec<_> = walk(&victim);
        assert_eq!(entries, [victim.join("wf/r1.history")]);
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            assert!(!name.contains('.') || name == CHECK_KEY, "{name}");
        }
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
        out.sort();
        out
    }

    #[tokio::test]
    async fn check_fails_on_an_unwritable_place() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        let archives = Archives::new(S3Settings::default());
        let err = archives
            .check(&format!("file://{}", file.display()))
            .await
            .unwrap_err();
        assert!(matches!(err, ArchiveError::Unavailable(_)), "{err}");
        let err = archives.check("ftp://x").await.unwrap_err();
        assert!(matches!(err, ArchiveError::InvalidUri(_)), "{err}");
    }
}
