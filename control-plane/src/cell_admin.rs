//! How the control plane changes a cell: through the cell's public Temporal
//! API (WorkflowService.RegisterNamespace / UpdateNamespace,
//! OperatorService.DeleteNamespace) on the cell's admin listener, over TLS,
//! authenticated by a short-lived token signed with the control key for
//! that one cell (`orrery_tenant_auth::control`). The control plane keeps
//! no secret of the cell's: what it presents, it signs. Usage is pulled from
//! the same listener through the cell admin service (`orrery-cell-api`).
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use orrery_cell_api::cell_admin_client::CellAdminClient;
use orrery_cell_api::{PullUsageRequest, PullUsageResponse};
use orrery_tenant_auth::control::ControlSigner;
use temporalio_protos::temporal::api::namespace::v1::NamespaceConfig;
use temporalio_protos::temporal::api::operatorservice::v1::DeleteNamespaceRequest;
use temporalio_protos::temporal::api::operatorservice::v1::operator_service_client::OperatorServiceClient;
use temporalio_protos::temporal::api::workflowservice::v1::workflow_service_client::WorkflowServiceClient;
use temporalio_protos::temporal::api::workflowservice::v1::{
    DescribeNamespaceRequest, RegisterNamespaceRequest, UpdateNamespaceRequest,
};
use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use crate::keys::ControlKey;
use crate::store::Cell;

mod settings;
pub use settings::{Archival, SearchAttributeType, SettingError};

/// Why a call to a cell failed. Its text names the cell and its address:
/// for logs and operators only, never for tenants.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CellAdminError(pub String);

#[async_trait]
pub trait CellAdmin: Send + Sync {
    /// Creates the namespace; one that exists already counts as created, so
    /// a retry after a lost answer succeeds.
    async fn register_namespace(
        &self,
        cell: &Cell,
        namespace: &str,
        retention_days: u32,
    ) -> Result<(), CellAdminError>;
    async fn update_namespace(
        &self,
        cell: &Cell,
        namespace: &str,
        retention_days: u32,
    ) -> Result<(), CellAdminError>;
    /// Deletes the namespace; one already gone counts as deleted.
    async fn delete_namespace(&self, cell: &Cell, namespace: &str) -> Result<(), CellAdminError>;
    /// One page of the cell's usage totals (`PullUsage`; cursor semantics
    /// in `orrery_cell_api`).
    async fn pull_usage(
        &self,
        cell: &Cell,
        request: PullUsageRequest,
    ) -> Result<PullUsageResponse, CellAdminError>;
    /// The name of the namespace the cell knows by `cell_namespace_id` (the
    /// id the cell gave it, which its usage rows carry); None if the cell
    /// has no such namespace (any more).
    async fn namespace_name(
        &self,
        cell: &Cell,
        cell_namespace_id: &str,
    ) -> Result<Option<String>, CellAdminError>;
    /// The id the cell gave the namespace named `namespace` (the id its
    /// usage rows carry); None if the cell has no such namespace. Asked
    /// right after registering, so usage is attributable even if the
    /// namespace is deleted before the next usage pull.
    async fn namespace_id(
        &self,
        cell: &Cell,
        namespace: &str,
    ) -> Result<Option<String>, CellAdminError>;
    /// The cell's cumulative per-namespace statistics (`PullNamespaceStats`),
    /// which tenant metrics are computed from.
    async fn pull_namespace_stats(
        &self,
        cell: &Cell,
    ) -> Result<orrery_cell_api::PullNamespaceStatsResponse, CellAdminError>;

    // Namespace settings kept at the cell (`settings`). The defaults
    // refuse, for stand-ins that only deal in namespaces and usage.

    /// The namespace's custom search attributes, by name.
    async fn search_attributes(
        &self,
        _cell: &Cell,
        _namespace: &str,
    ) -> Result<std::collections::BTreeMap<String, SearchAttributeType>, SettingError> {
        Err(SettingError::unsupported())
    }
    /// Adds one custom search attribute. The cell keeps a name it has
    /// already, whatever the type (as Temporal does): callers that must
    /// tell a duplicate apart look first.
    async fn add_search_attribute(
        &self,
        _cell: &Cell,
        _namespace: &str,
        _name: &str,
        _ty: SearchAttributeType,
    ) -> Result<(), SettingError> {
        Err(SettingError::unsupported())
    }
    /// Removes one custom search attribute (and its values); a name the
    /// namespace lacks is no error at the cell.
    async fn remove_search_attribute(
        &self,
        _cell: &Cell,
        _namespace: &str,
        _name: &str,
    ) -> Result<(), SettingError> {
        Err(SettingError::unsupported())
    }
    /// Whether history and visibility archival are on.
    async fn archival(&self, _cell: &Cell, _namespace: &str) -> Result<Archival, SettingError> {
        Err(SettingError::unsupported())
    }
    /// Turns history and visibility archival on or off, to the cell's
    /// default archive.
    async fn set_archival(
        &self,
        _cell: &Cell,
        _namespace: &str,
        _archival: Archival,
    ) -> Result<(), SettingError> {
        Err(SettingError::unsupported())
    }
}

/// How the control plane reaches cells' admin listeners.
#[derive(Clone, Debug, Default)]
pub struct CellChannel {
    /// CA certificates (PEM) that issued the cells' admin certificates; the
    /// system's roots as well.
    pub ca_pem: Option<Vec<u8>>,
    /// Allows `http://` admin endpoints (`--insecure-cell-channel`): only
    /// for everything on one host, as `orrery dev`.
    pub insecure_plaintext: bool,
}

/// The real client. It connects per call: these calls are rare, and a
/// cached channel to a cell that moved would need invalidating.
pub struct GrpcCellAdmin {
    pub timeout: Duration,
    channel: CellChannel,
    control_key: Arc<ControlKey>,
}

impl GrpcCellAdmin {
    pub fn new(control_key: Arc<ControlKey>, channel: CellChannel) -> Self {
        Self {
            timeout: Duration::from_secs(10),
            channel,
            control_key,
        }
    }
}

#[derive(Clone)]
struct AdminToken(MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for AdminToken {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        req.metadata_mut().insert("authorization", self.0.clone());
        Ok(req)
    }
}

fn retention(days: u32) -> prost_wkt_types::Duration {
    prost_wkt_types::Duration {
        seconds: i64::from(days) * 86_400,
        nanos: 0,
    }
}

impl GrpcCellAdmin {
    async fn channel(&self, cell: &Cell) -> Result<(Channel, AdminToken), CellAdminError> {
        let url = cell.admin_endpoint.as_str();
        let mut endpoint = Endpoint::from_shared(url.to_owned())
            .map_err(|e| CellAdminError(format!("admin endpoint {url:?}: {e}")))?
            .connect_timeout(self.timeout)
            .timeout(self.timeout);
        if url.starts_with("https://") {
            let mut tls = ClientTlsConfig::new().with_native_roots();
            if let Some(pem) = &self.channel.ca_pem {
                tls = tls.ca_certificate(Certificate::from_pem(pem));
            }
            endpoint = endpoint
                .tls_config(tls)
                .map_err(|e| CellAdminError(format!("TLS towards cell {}: {e}", cell.name)))?;
        } else if !self.channel.insecure_plaintext {
            return Err(CellAdminError(format!(
                "cell {}'s admin endpoint {url} is not https:// (start the control plane with \
                 --insecure-cell-channel to allow plaintext)",
                cell.name
            )));
        }
        let channel = endpoint.connect().await.map_err(|e| {
            CellAdminError(format!("connecting to cell {} at {url}: {e}", cell.name))
        })?;
        let now = chrono::Utc::now().timestamp().max(0).unsigned_abs();
        let signed = ControlSigner {
            kid: self.control_key.kid(),
            key: self.control_key.encoding_key(),
        }
        .admin_token(&cell.id, now)
        .map_err(|e| CellAdminError(format!("signing the admin token: {e}")))?;
        let token = MetadataValue::try_from(format!("Bearer {signed}"))
            .map_err(|_| CellAdminError("the admin token is not valid header text".into()))?;
        Ok((channel, AdminToken(token)))
    }

    async fn workflow(
        &self,
        cell: &Cell,
    ) -> Result<WorkflowServiceClient<InterceptedService<Channel, AdminToken>>, CellAdminError>
    {
        let (channel, token) = self.channel(cell).await?;
        Ok(WorkflowServiceClient::with_interceptor(channel, token))
    }
}

fn status_error(cell: &Cell, call: &str, status: tonic::Status) -> CellAdminError {
    CellAdminError(format!(
        "cell {} answered {call} with {:?}: {}",
        cell.name,
        status.code(),
        status.message()
    ))
}

#[async_trait]
impl CellAdmin for GrpcCellAdmin {
    async fn register_namespace(
        &self,
        cell: &Cell,
        namespace: &str,
        retention_days: u32,
    ) -> Result<(), CellAdminError> {
        let request = RegisterNamespaceRequest {
            namespace: namespace.to_owned(),
            workflow_execution_retention_period: Some(retention(retention_days)),
            ..Default::default()
        };
        match self.workflow(cell).await?.register_namespace(request).await {
            Ok(_) => Ok(()),
            Err(status) if status.code() == Code::AlreadyExists => Ok(()),
            Err(status) => Err(status_error(cell, "RegisterNamespace", status)),
        }
    }

    async fn update_namespace(
        &self,
        cell: &Cell,
        namespace: &str,
        retention_days: u32,
    ) -> Result<(), CellAdminError> {
        let request = UpdateNamespaceRequest {
            namespace: namespace.to_owned(),
            config: Some(NamespaceConfig {
                workflow_execution_retention_ttl: Some(retention(retention_days)),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.workflow(cell)
            .await?
            .update_namespace(request)
            .await
            .map(|_| ())
            .map_err(|status| status_error(cell, "UpdateNamespace", status))
    }

    async fn delete_namespace(&self, cell: &Cell, namespace: &str) -> Result<(), CellAdminError> {
        let (channel, token) = self.channel(cell).await?;
        let request = DeleteNamespaceRequest {
            namespace: namespace.to_owned(),
            ..Default::default()
        };
        match OperatorServiceClient::with_interceptor(channel, token)
            .delete_namespace(request)
            .await
        {
            Ok(_) => Ok(()),
            Err(status) if status.code() == Code::NotFound => Ok(()),
            Err(status) => Err(status_error(cell, "DeleteNamespace", status)),
        }
    }

    async fn pull_usage(
        &self,
        cell: &Cell,
        request: PullUsageRequest,
    ) -> Result<PullUsageResponse, CellAdminError> {
        let (channel, token) = self.channel(cell).await?;
        CellAdminClient::with_interceptor(channel, token)
            // A whole page is MAX_USAGE_PAGE short rows: far below this.
            .max_decoding_message_size(16 * 1024 * 1024)
            .pull_usage(request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|status| status_error(cell, "PullUsage", status))
    }

    async fn namespace_name(
        &self,
        cell: &Cell,
        cell_namespace_id: &str,
    ) -> Result<Option<String>, CellAdminError> {
        let request = DescribeNamespaceRequest {
            id: cell_namespace_id.to_owned(),
            ..Default::default()
        };
        match self.workflow(cell).await?.describe_namespace(request).await {
            Ok(answer) => Ok(answer
                .into_inner()
                .namespace_info
                .map(|info| info.name)
                .filter(|name| !name.is_empty())),
            Err(status) if status.code() == Code::NotFound => Ok(None),
            Err(status) => Err(status_error(cell, "DescribeNamespace", status)),
        }
    }

    async fn namespace_id(
        &self,
        cell: &Cell,
        namespace: &str,
    ) -> Result<Option<String>, CellAdminError> {
        let request = DescribeNamespaceRequest {
            namespace: namespace.to_owned(),
            ..Default::default()
        };
        match self.workflow(cell).await?.describe_namespace(request).await {
            Ok(answer) => Ok(answer
                .into_inner()
                .namespace_info
                .map(|info| info.id)
                .filter(|id| !id.is_empty())),
            Err(status) if status.code() == Code::NotFound => Ok(None),
            Err(status) => Err(status_error(cell, "DescribeNamespace", status)),
        }
    }

    async fn pull_namespace_stats(
        &self,
        cell: &Cell,
    ) -> Result<orrery_cell_api::PullNamespaceStatsResponse, CellAdminError> {
        let (channel, token) = self.channel(cell).await?;
        orrery_cell_api::cell_admin_client::CellAdminClient::with_interceptor(channel, token)
            // Every series of every namespace of the cell in one answer.
            .max_decoding_message_size(64 * 1024 * 1024)
            .pull_namespace_stats(orrery_cell_api::PullNamespaceStatsRequest {})
            .await
            .map(tonic::Response::into_inner)
            .map_err(|status| status_error(cell, "PullNamespaceStats", status))
    }

    async fn search_attributes(
        &self,
        cell: &Cell,
        namespace: &str,
    ) -> Result<std::collections::BTreeMap<String, SearchAttributeType>, SettingError> {
        self.list_search_attributes(cell, namespace).await
    }

    async fn add_search_attribute(
        &self,
        cell: &Cell,
        namespace: &str,
        name: &str,
        ty: SearchAttributeType,
    ) -> Result<(), SettingError> {
        self.add_attribute(cell, namespace, name, ty).await
    }

    async fn remove_search_attribute(
        &self,
        cell: &Cell,
        namespace: &str,
        name: &str,
    ) -> Result<(), SettingError> {
        self.remove_attribute(cell, namespace, name).await
    }

    async fn archival(&self, cell: &Cell, namespace: &str) -> Result<Archival, SettingError> {
        self.read_archival(cell, namespace).await
    }

    async fn set_archival(
        &self,
        cell: &Cell,
        namespace: &str,
        archival: Archival,
    ) -> Result<(), SettingError> {
        self.write_archival(cell, namespace, archival).await
    }
}
