//! The namespace registry: stored records, cached by name and id. A record's
//! body is the `DescribeNamespaceResponse` the API returns.
//!
//! A cached namespace is trusted for [`CACHE_TTL`]: in a cell of several
//! members another member may change or delete it, and this one must see
//! that soon (Temporal's frontends refresh their namespace registry the
//! same way, every 10 s by default).
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use orrery_core::time::duration;
use orrery_core::{CellError, CellResult};
use orrery_persistence::{NamespaceRecord, NamespaceStore};
use orrery_proto::api::enums::v1::{ArchivalState, NamespaceState};
use orrery_proto::api::namespace::v1::{NamespaceConfig, NamespaceInfo};
use orrery_proto::api::replication::v1::{ClusterReplicationConfig, NamespaceReplicationConfig};
use orrery_proto::api::workflowservice::v1::DescribeNamespaceResponse;
use prost::Message;

pub const CLUSTER_NAME: &str = "active";

/// The most stored namespaces one ListNamespaces page reads, whatever its
/// page size and however few of them the caller may see: the bound on one
/// call's work. Also the largest page size.
pub const LIST_SCAN_LIMIT: usize = 1000;

#[derive(Clone, Debug)]
pub struct Namespace {
    pub id: String,
    pub name: String,
    pub version: i64,
    pub detail: DescribeNamespaceResponse,
    /// Custom search attributes: name → `IndexedValueType`.
    pub search_attributes: BTreeMap<String, i32>,
}

/// What a namespace keeps beyond the API's description of it. Its tags sit
/// far above `DescribeNamespaceResponse`'s, so the stored body is the two
/// encodings concatenated: each message decodes its own fields from it and
/// records written before these existed still decode.
#[derive(Clone, PartialEq, Message)]
struct NamespaceExtras {
    #[prost(map = "string, int32", tag = "1000")]
    search_attributes: std::collections::HashMap<String, i32>,
}

impl Namespace {
    fn from_record(r: NamespaceRecord) -> CellResult<Self> {
        let extras = NamespaceExtras::decode(r.data.as_slice()).map_err(CellError::internal)?;
        Ok(Self {
            detail: DescribeNamespaceResponse::decode(r.data.as_slice())
                .map_err(CellError::internal)?,
            search_attributes: extras.search_attributes.into_iter().collect(),
            id: r.id,
            name: r.name,
            version: r.version,
        })
    }

    fn record(&self) -> NamespaceRecord {
        let mut data = self.detail.encode_to_vec();
        NamespaceExtras {
            search_attributes: self
                .search_attributes
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
        }
        .encode(&mut data)
        .expect("a Vec grows as needed");
        NamespaceRecord {
            id: self.id.clone(),
            name: self.name.clone(),
            version: self.version,
            data,
        }
    }

    /// The search attributes queries and values of this namespace are
    /// checked against: the system ones and its custom ones.
    pub fn catalog(&self) -> orrery_visibility::Catalog {
        orrery_visibility::Catalog::new(self.custom_attributes())
    }

    /// The catalog of queries over the namespace's standalone activities.
    pub fn activity_catalog(&self) -> orrery_visibility::Catalog {
        orrery_visibility::Catalog::for_activities(self.custom_attributes())
    }

    /// Where this namespace's histories are archived, if it archives them.
    pub fn history_archive(&self) -> Option<String> {
        let config = self.detail.config.as_ref()?;
        (config.history_archival_state == ArchivalState::Enabled as i32
            && !config.history_archival_uri.is_empty())
        .then(|| config.history_archival_uri.clone())
    }

    /// Where this namespace's visibility records are archived, if it does.
    pub fn visibility_archive(&self) -> Option<String> {
        let config = self.detail.config.as_ref()?;
        (config.visibility_archival_state == ArchivalState::Enabled as i32
            && !config.visibility_archival_uri.is_empty())
        .then(|| config.visibility_archival_uri.clone())
    }

    fn close_policy(&self) -> orrery_history::ClosePolicy {
        orrery_history::ClosePolicy {
            retention_ms: self
                .detail
                .config
                .as_ref()
                .map(|c| {
                    orrery_core::time::duration_millis(c.workflow_execution_retention_ttl.as_ref())
                })
                .filter(|ms| *ms > 0)
                .unwrap_or(orrery_core::limits::DEFAULT_RETENTION_SECS * 1000),
            history_archival_uri: self.history_archive(),
            visibility_archival_uri: self.visibility_archive(),
        }
    }

    fn custom_attributes(&self) -> BTreeMap<String, orrery_visibility::SaType> {
        self.search_attributes
            .iter()
            .filter_map(|(name, t)| {
                orrery_visibility::SaType::from_i32(*t).map(|t| (name.clone(), t))
            })
            .collect()
    }
}

pub struct Namespaces {
    store: Arc<dyn NamespaceStore>,
    cache: RwLock<HashMap<String, Cached>>,
}

/// What a new namespace is made of.
pub struct NewNamespace {
    pub name: String,
    pub description: String,
    pub owner_email: String,
    pub retention_ms: i64,
    pub data: HashMap<String, String>,
    /// `(state, URI)` of history archival, already checked.
    pub history_archival: (ArchivalState, String),
    pub visibility_archival: (ArchivalState, String),
}

/// How long a cached namespace is used before it is read again.
pub const CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(2);

struct Cached {
    ns: Namespace,
    fetched: std::time::Instant,
}

impl Cached {
    fn fresh(&self) -> Option<&Namespace> {
        (self.fetched.elapsed() < CACHE_TTL).then_some(&self.ns)
    }
}

impl Namespaces {
    pub fn new(store: Arc<dyn NamespaceStore>) -> Self {
        Self {
            store,
            cache: RwLock::new(HashMap::new()),
        }
    }

    pub async fn create(&self, new: NewNamespace) -> CellResult<Namespace> {
        let id = uuid::Uuid::new_v4().to_string();
        let ns = Namespace {
            id: id.clone(),
            name: new.name.clone(),
            version: 1,
            search_attributes: BTreeMap::new(),
            detail: DescribeNamespaceResponse {
                namespace_info: Some(NamespaceInfo {
                    name: new.name.clone(),
                    state: NamespaceState::Registered as i32,
                    description: new.description,
                    owner_email: new.owner_email,
                    data: new.data,
                    id,
                    ..Default::default()
                }),
                config: Some(NamespaceConfig {
                    workflow_execution_retention_ttl: Some(duration(new.retention_ms)),
                    history_archival_state: new.history_archival.0 as i32,
                    history_archival_uri: new.history_archival.1,
                    visibility_archival_state: new.visibility_archival.0 as i32,
                    visibility_archival_uri: new.visibility_archival.1,
                    ..Default::default()
                }),
                replication_config: Some(NamespaceReplicationConfig {
                    active_cluster_name: CLUSTER_NAME.into(),
                    clusters: vec![ClusterReplicationConfig {
                        cluster_name: CLUSTER_NAME.into(),
                        ..Default::default()
                    }],
                    state: 0,
                }),
                ..Default::default()
            },
        };
        self.store.create_namespace(&ns.record()).await?;
        self.remember(&ns);
        Ok(ns)
    }

    fn remember(&self, ns: &Namespace) {
        self.cache
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                ns.name.clone(),
                Cached {
                    ns: ns.clone(),
                    fetched: std::time::Instant::now(),
                },
            );
    }

    /// The namespace called `name`; NamespaceNotFound otherwise.
    pub async fn by_name(&self, name: &str) -> CellResult<Namespace> {
        if let Some(ns) = self
            .cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .and_then(Cached::fresh)
        {
            return Ok(ns.clone());
        }
        let Some(record) = self.store.namespace_by_name(name).await? else {
            // Deleted (perhaps by another member): forget it here too.
            self.cache
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .remove(name);
            return Err(CellError::NamespaceNotFound(name.to_string()));
        };
        let ns = Namespace::from_record(record)?;
        self.remember(&ns);
        Ok(ns)
    }

    pub async fn by_id(&self, id: &str) -> CellResult<Namespace> {
        let cached = self
            .cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter_map(Cached::fresh)
            .find(|n| n.id == id)
            .cloned();
        if let Some(ns) = cached {
            return Ok(ns);
        }
        let record = self
            .store
            .namespace_by_id(id)
            .await?
            .ok_or_else(|| CellError::NamespaceNotFound(id.to_string()))?;
        let ns = Namespace::from_record(record)?;
        self.remember(&ns);
        Ok(ns)
    }

    /// One page of the namespaces `visible` keeps, in name order, after the
    /// name `after` (`""`: from the first), and where the next page starts
    /// (`None`: this was the last). A call reads at most
    /// [`LIST_SCAN_LIMIT`] stored rows and decodes only the namespaces it
    /// returns (from the cache when it holds the stored version), so one
    /// ListNamespaces costs the same however many namespaces the cell holds
    /// or the caller cannot see; a page may come back short, with a token.
    pub async fn page(
        &self,
        after: &str,
        size: usize,
        visible: impl Fn(&str) -> bool,
    ) -> CellResult<(Vec<Namespace>, Option<String>)> {
        let size = size.clamp(1, LIST_SCAN_LIMIT);
        let mut out = Vec::new();
        let mut cursor = after.to_string();
        let mut scanned = 0;
        loop {
            // One row beyond a full page tells whether another page exists.
            let fetch = (size - out.len() + 1).min(LIST_SCAN_LIMIT - scanned);
            let batch = self
                .store
                .list_namespaces(&cursor, u32::try_from(fetch).unwrap_or(u32::MAX))
                .await?;
            let exhausted = batch.len() < fetch;
            for record in batch {
                if out.len() == size {
                    return Ok((out, Some(cursor)));
                }
                scanned += 1;
                cursor.clone_from(&record.name);
                if visible(&record.name) {
                    out.push(self.decoded(record)?);
                }
            }
            if exhausted {
                return Ok((out, None));
            }
            if scanned >= LIST_SCAN_LIMIT {
                return Ok((out, Some(cursor)));
            }
        }
    }

    /// A listed record as a namespace: the cached copy if it is this
    /// version, decoded otherwise.
    fn decoded(&self, record: NamespaceRecord) -> CellResult<Namespace> {
        let cached = self
            .cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&record.name)
            .map(|c| &c.ns)
            .filter(|ns| ns.version == record.version && ns.id == record.id)
            .cloned();
        cached.map_or_else(|| Namespace::from_record(record), Ok)
    }

    /// Applies `change` to the stored namespace's description and writes it
    /// back if no one else changed it meanwhile.
    pub async fn update(
        &self,
        name: &str,
        change: impl FnOnce(&mut DescribeNamespaceResponse) -> CellResult<()>,
    ) -> CellResult<Namespace> {
        self.update_namespace(name, |ns| change(&mut ns.detail))
            .await
    }

    /// Applies `change` to the whole stored namespace, as `update` does.
    pub async fn update_namespace(
        &self,
        name: &str,
        change: impl FnOnce(&mut Namespace) -> CellResult<()>,
    ) -> CellResult<Namespace> {
        let record = self
            .store
            .namespace_by_name(name)
            .await?
            .ok_or_else(|| CellError::NamespaceNotFound(name.to_string()))?;
        let mut ns = Namespace::from_record(record)?;
        change(&mut ns)?;
        ns.version += 1;
        self.store
            .update_namespace(&ns.record())
            .await
            .map_err(|e| match e {
                CellError::ConditionFailed => {
                    CellError::Unavailable("namespace was updated concurrently; retry".into())
                }
                other => other,
            })?;
        self.remember(&ns);
        Ok(ns)
    }

    pub async fn delete(&self, name: &str) -> CellResult<Namespace> {
        let ns = self.by_name(name).await?;
        self.store.delete_namespace(&ns.id).await?;
        self.cache
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
        Ok(ns)
    }
}

/// What history needs of a namespace when one of its runs closes.
#[async_trait::async_trait]
impl orrery_history::ClosePolicies for Namespaces {
    fn cached(&self, namespace_id: &str) -> Option<orrery_history::ClosePolicy> {
        self.cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter_map(Cached::fresh)
            .find(|n| n.id == namespace_id)
            .map(Namespace::close_policy)
    }

    async fn load(&self, namespace_id: &str) -> CellResult<Option<orrery_history::ClosePolicy>> {
        match self.by_id(namespace_id).await {
            Ok(ns) => Ok(Some(ns.close_policy())),
            Err(CellError::NamespaceNotFound(_)) => Ok(None),
            Err(err) => Err(err),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Namespaces in memory, counting the rows each listing reads.
    #[derive(Default)]
    pub(crate) struct Memory {
        rows: Mutex<BTreeMap<String, NamespaceRecord>>,
        read: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl NamespaceStore for Memory {
        async fn create_namespace(&self, ns: &NamespaceRecord) -> CellResult<()> {
            self.rows
                .lock()
                .unwrap()
                .insert(ns.name.clone(), ns.clone());
            Ok(())
        }
        async fn namespace_by_name(&self, name: &str) -> CellResult<Option<NamespaceRecord>> {
            Ok(self.rows.lock().unwrap().get(name).cloned())
        }
        async fn namespace_by_id(&self, id: &str) -> CellResult<Option<NamespaceRecord>> {
            let rows = self.rows.lock().unwrap();
            Ok(rows.values().find(|r| r.id == id).cloned())
        }
        async fn list_namespaces(
            &self,
            after: &str,
            limit: u32,
        ) -> CellResult<Vec<NamespaceRecord>> {
            let rows = self.rows.lock().unwrap();
            let page: Vec<_> = rows
                .range::<str, _>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
                .take(limit as usize)
                .map(|(_, r)| r.clone())
                .collect();
            self.read.fetch_add(page.len(), Ordering::Relaxed);
            Ok(page)
        }
        async fn update_namespace(&self, ns: &NamespaceRecord) -> CellResult<()> {
            self.create_namespace(ns).await
        }
        async fn delete_namespace(&self, id: &str) -> CellResult<()> {
            self.rows.lock().unwrap().retain(|_, r| r.id != id);
            Ok(())
        }
    }

    /// A registry over [`Memory`] holding namespaces `names`.
    pub(crate) async fn registry(
        names: impl IntoIterator<Item = String>,
    ) -> (Namespaces, Arc<Memory>) {
        let store = Arc::new(Memory::default());
        let namespaces = Namespaces::new(store.clone());
        for name in names {
            namespaces
                .create(NewNamespace {
                    name,
                    description: String::new(),
                    owner_email: String::new(),
                    retention_ms: 1000,
                    data: HashMap::new(),
                    history_archival: (ArchivalState::Disabled, String::new()),
                    visibility_archival: (ArchivalState::Disabled, String::new()),
                })
                .await
                .unwrap();
        }
        (namespaces, store)
    }

    /// Two registries over one store, as two members of a cell have: a
    /// change or a removal made through one is seen by the other once its
    /// cached copy is older than the TTL.
    #[tokio::test]
    async fn another_members_change_is_seen_after_the_ttl() {
        let (a, store) = registry(["shared".to_string()]).await;
        let b = Namespaces::new(store.clone());
        assert_eq!(b.by_name("shared").await.unwrap().version, 1);
        a.update("shared", |d| {
            d.namespace_info.as_mut().unwrap().description = "changed".into();
            Ok(())
        })
        .await
        .unwrap();
        // Within the TTL b answers from its copy.
        assert_eq!(b.by_name("shared").await.unwrap().version, 1);
        std::thread::sleep(CACHE_TTL + std::time::Duration::from_millis(100));
        let seen = b.by_name("shared").await.unwrap();
        assert_eq!(seen.version, 2);
        assert_eq!(seen.detail.namespace_info.unwrap().description, "changed");
        let id = seen.id.clone();
        assert_eq!(b.by_id(&id).await.unwrap().version, 2);
        a.delete("shared").await.unwrap();
        std::thread::sleep(CACHE_TTL + std::time::Duration::from_millis(100));
        assert!(matches!(
            b.by_name("shared").await,
            Err(CellError::NamespaceNotFound(_))
        ));
        assert!(b.by_id(&id).await.is_err());
    }

    /// Every page of a listing, as names.
    async fn pages(
        ns: &Namespaces,
        size: usize,
        visible: impl Fn(&str) -> bool,
    ) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        let mut after = String::new();
        loop {
            let (page, next) = ns.page(&after, size, &visible).await.unwrap();
            out.push(page.into_iter().map(|n| n.name).collect());
            match next {
                Some(next) => after = next,
                None => return out,
            }
        }
    }

    #[tokio::test]
    async fn listing_pages_in_name_order() {
        let (ns, _) = registry(["c", "a", "e", "b", "d"].map(String::from)).await;
        assert_eq!(
            pages(&ns, 2, |_| true).await,
            [vec!["a", "b"], vec!["c", "d"], vec!["e"]]
        );
        // A full last page says there is no more only once it knows.
        assert_eq!(
            pages(&ns, 5, |_| true).await,
            [vec!["a", "b", "c", "d", "e"]]
        );
        // Filtered: pages of what the caller sees.
        assert_eq!(
            pages(&ns, 1, |n| n == "b" || n == "e").await,
            [vec!["b"], vec!["e"]]
        );
    }

    #[tokio::test]
    async fn one_page_reads_a_bounded_number_of_rows() {
        let names = (0..LIST_SCAN_LIMIT * 2 + 5).map(|i| format!("ns-{i:05}"));
        let (ns, store) = registry(names).await;
        // A caller who sees only the last namespace: every call reads at
        // most the scan limit (plus the one row that tells more exist),
        // and the listing still ends with it.
        let last = format!("ns-{:05}", LIST_SCAN_LIMIT * 2 + 4);
        let mut after = String::new();
        let mut seen = Vec::new();
        loop {
            store.read.store(0, Ordering::Relaxed);
            let (page, next) = ns.page(&after, 100, |n| n == last).await.unwrap();
            assert!(store.read.load(Ordering::Relaxed) <= LIST_SCAN_LIMIT + 1);
            seen.extend(page.into_iter().map(|n| n.name));
            match next {
                Some(next) => after = next,
                None => break,
            }
        }
        assert_eq!(seen, [last]);
    }
}
