//! A blob store in a local directory: one file per key.
use std::io::Write;
use std::path::{Path, PathBuf};

use async_trait::async_trait;

use crate::blob::BlobStore;
use crate::{ArchiveError, ArchiveResult};

pub struct FileStore {
    root: PathBuf,
}

impl FileStore {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }
}

fn unavailable(path: &Path, err: std::io::Error) -> ArchiveError {
    ArchiveError::Unavailable(format!("{}: {err}", path.display()))
}

/// Writes to a temporary file beside the target, syncs it and renames it
/// over the target: a reader (or a crash) sees the old object or the whole
/// new one, never half of it.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("keys have a parent directory");
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile_in(dir)?;
    tmp.1.write_all(bytes)?;
    tmp.1.sync_all()?;
    std::fs::rename(&tmp.0, path)?;
    // The rename is durable only once the directory is.
    std::fs::File::open(dir)?.sync_all()
}

fn tempfile_in(dir: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = dir.join(format!(".tmp-{}-{n}", std::process::id()));
    let file = std::fs::File::create(&path)?;
    Ok((path, file))
}

fn list_under(root: &Path, dir: &Path, prefix: &str, out: &mut Vec<String>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err),
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with(".tmp-") {
            continue;
        }
        if entry.file_type()?.is_dir() {
            list_under(root, &path, prefix, out)?;
        } else if let Ok(rel) = path.strip_prefix(root) {
            let key = rel
                .to_string_lossy()
                .replace(std::path::MAIN_SEPARATOR, "/");
            if key.starts_with(prefix) {
                out.push(key);
            }
        }
    }
    Ok(())
}

#[async_trait]
impl BlobStore for FileStore {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> ArchiveResult<()> {
        let path = self.root.join(key);
        tokio::task::spawn_blocking(move || {
            write_atomically(&path, &bytes).map_err(|e| unavailable(&path, e))
        })
        .await
        .map_err(|e| ArchiveError::Unavailable(e.to_string()))?
    }

    async fn get(&self, key: &str) -> ArchiveResult<Option<Vec<u8>>> {
        let path = self.root.join(key);
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(unavailable(&path, err)),
        }
    }

    async fn list(&self, prefix: &str) -> ArchiveResult<Vec<String>> {
        let root = self.root.clone();
        let prefix = prefix.to_string();
        // Walk only the deepest directory the prefix names in full.
        let start = match prefix.rfind('/') {
            Some(i) => root.join(&prefix[..i]),
            None => root.clone(),
        };
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            list_under(&root, &start, &prefix, &mut out).map_err(|e| unavailable(&start, e))?;
            out.sort();
            Ok(out)
        })
        .await
        .map_err(|e| ArchiveError::Unavailable(e.to_string()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_get_list_round_trip_and_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().join("archive"));
        assert_eq!(store.get("ns/a/1").await.unwrap(), None);
        assert!(store.list("ns/").await.unwrap().is_empty());
        store.put("ns/a/1", b"one".to_vec()).await.unwrap();
        store.put("ns/a/2", b"two".to_vec()).await.unwrap();
        store.put("ns/b/1", b"three".to_vec()).await.unwrap();
        store.put("ns/a/1", b"uno".to_vec()).await.unwrap();
        assert_eq!(store.get("ns/a/1").await.unwrap().unwrap(), b"uno");
        assert_eq!(store.list("ns/a/").await.unwrap(), ["ns/a/1", "ns/a/2"]);
        assert_eq!(store.list("ns/").await.unwrap().len(), 3);
        assert!(store.list("other/").await.unwrap().is_empty());
        // No temporary file is left behind.
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("archive/ns/a"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[tokio::test]
    async fn unwritable_root_is_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain-file");
        std::fs::write(&file, b"x").unwrap();
        let store = FileStore::new(file);
        let err = store.put("k/v", b"x".to_vec()).await.unwrap_err();
        assert!(matches!(err, ArchiveError::Unavailable(_)), "{err}");
    }
}
