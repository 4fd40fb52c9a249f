//! OperatorService: what a dev loop needs; everything else answers
//! UNIMPLEMENTED naming the RPC.
use orrery_proto::api::operatorservice::v1::*;
use orrery_proto::operatorservice::operator_service_server::OperatorService;
use tonic::{Request, Response, Status};

use crate::FrontendService;

#[tonic::async_trait]
impl OperatorService for FrontendService {
    async fn delete_namespace(
        &self,
        request: Request<DeleteNamespaceRequest>,
    ) -> Result<Response<DeleteNamespaceResponse>, Status> {
        let req = request.into_inner();
        let name = if req.namespace.is_empty() {
            self.0.namespaces.by_id(&req.namespace_id).await?.name
        } else {
            req.namespace
        };
        let deleted = self.0.delete_namespace(&name).await?;
        Ok(Response::new(DeleteNamespaceResponse {
            deleted_namespace: deleted,
        }))
    }
}
