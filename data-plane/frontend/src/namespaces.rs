//! The namespace registry: stored records, cached by name and id. A record's
//! body is the `DescribeNamespaceResponse` the API returns.
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
    cache: RwLock<HashMap<String, Namespace>>,
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
            .insert(ns.name.clone(), ns.clone());
    }

    /// The namespace called `name`; NamespaceNotFound otherwise.
    pub async fn by_name(&self, name: &str) -> CellResult<Namespace> {
        if let Some(ns) = self
            .cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            return Ok(ns.clone());
        }
        let record = self
            .store
            .namespace_by_name(name)
            .await?
            .ok_or_else(|| CellError::NamespaceNotFound(name.to_string()))?;
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

    pub async fn list(&self) -> CellResult<Vec<Namespace>> {
        self.store
            .list_namespaces()
            .await?
            .into_iter()
            .map(Namespace::from_record)
            .collect()
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
