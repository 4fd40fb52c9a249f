//! OperatorService: what a dev loop needs (namespaces, search attributes);
//! everything else answers UNIMPLEMENTED naming the RPC.
use orrery_proto::api::operatorservice::v1::*;
use orrery_proto::operatorservice::operator_service_server::OperatorService;
use tonic::{Request, Response, Status};

use crate::FrontendService;
use crate::serve::serve;

#[tonic::async_trait]
impl OperatorService for FrontendService {
    async fn delete_namespace(
        &self,
        r: Request<DeleteNamespaceRequest>,
    ) -> Result<Response<DeleteNamespaceResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            let req = r.into_inner();
            let name = if req.namespace.is_empty() {
                f.namespaces.by_id(&req.namespace_id).await?.name
            } else {
                req.namespace
            };
            Ok(DeleteNamespaceResponse {
                deleted_namespace: f.delete_namespace(&name).await?,
            })
        })
        .await
    }

    async fn add_search_attributes(
        &self,
        r: Request<AddSearchAttributesRequest>,
    ) -> Result<Response<AddSearchAttributesResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.add_search_attributes(r.into_inner()).await
        })
        .await
    }

    async fn remove_search_attributes(
        &self,
        r: Request<RemoveSearchAttributesRequest>,
    ) -> Result<Response<RemoveSearchAttributesResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.remove_search_attributes(r.into_inner()).await
        })
        .await
    }

    async fn list_search_attributes(
        &self,
        r: Request<ListSearchAttributesRequest>,
    ) -> Result<Response<ListSearchAttributesResponse>, Status> {
        let f = &self.0;
        serve(f.admit(&r).await, async {
            f.list_search_attributes(r.into_inner()).await
        })
        .await
    }
}
