//! How the control plane changes a cell: through the cell's public Temporal
//! API (WorkflowService.RegisterNamespace / UpdateNamespace,
//! OperatorService.DeleteNamespace), authenticated with the cell's admin token.
use std::time::Duration;

use async_trait::async_trait;
use temporalio_protos::temporal::api::namespace::v1::NamespaceConfig;
use temporalio_protos::temporal::api::operatorservice::v1::DeleteNamespaceRequest;
use temporalio_protos::temporal::api::operatorservice::v1::operator_service_client::OperatorServiceClient;
use temporalio_protos::temporal::api::workflowservice::v1::workflow_service_client::WorkflowServiceClient;
use temporalio_protos::temporal::api::workflowservice::v1::{
    RegisterNamespaceRequest, UpdateNamespaceRequest,
};
use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use crate::store::Cell;

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
}

/// The real client. It connects per call: these calls are rare, and a
/// cached channel to a cell that moved would need invalidating.
#[derive(Debug, Clone)]
pub struct GrpcCellAdmin {
    pub timeout: Duration,
}

impl Default for GrpcCellAdmin {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
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
        let endpoint = Endpoint::from_shared(cell.admin_endpoint.clone())
            .map_err(|e| CellAdminError(format!("admin endpoint {:?}: {e}", cell.admin_endpoint)))?
            .connect_timeout(self.timeout)
            .timeout(self.timeout);
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| CellAdminError(format!("connecting to cell {}: {e}", cell.name)))?;
        let token =
            MetadataValue::try_from(format!("Bearer {}", cell.admin_token)).map_err(|_| {
                CellAdminError("the cell's admin token is not valid header text".into())
            })?;
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
}
