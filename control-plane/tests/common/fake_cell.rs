//! A tiny gRPC server standing in for a cell's admin surface: it answers
//! RegisterNamespace, UpdateNamespace and DeleteNamespace as a cell would,
//! records the authorization header of each call, and can be told to fail.
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use temporalio_protos::temporal::api::operatorservice::v1::{
    DeleteNamespaceRequest, DeleteNamespaceResponse,
};
use temporalio_protos::temporal::api::workflowservice::v1::{
    RegisterNamespaceRequest, RegisterNamespaceResponse, UpdateNamespaceRequest,
    UpdateNamespaceResponse,
};
use tonic::Status;
use tonic::body::Body;
use tonic::server::{Grpc, NamedService, UnaryService};

#[derive(Default)]
pub struct CellState {
    /// Namespace → retention in seconds.
    pub namespaces: Mutex<BTreeMap<String, i64>>,
    pub authorization: Mutex<Vec<String>>,
    pub fail: AtomicBool,
}

pub struct FakeCell {
    pub url: String,
    pub state: Arc<CellState>,
}

impl FakeCell {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(CellState::default());
        let server = tonic::transport::Server::builder()
            .add_service(Workflow(state.clone()))
            .add_service(Operator(state.clone()))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
        tokio::spawn(server);
        Self { url, state }
    }

    pub fn namespaces(&self) -> BTreeMap<String, i64> {
        self.state.namespaces.lock().unwrap().clone()
    }

    pub fn set_failing(&self, fail: bool) {
        self.state.fail.store(fail, Ordering::SeqCst);
    }
}

type Handler<Req, Resp> = fn(&CellState, Req) -> Result<Resp, Status>;

struct Unary<Req, Resp>(Arc<CellState>, Handler<Req, Resp>);

impl<Req: Send + 'static, Resp: Send + 'static> UnaryService<Req> for Unary<Req, Resp> {
    type Response = Resp;
    type Future = Pin<Box<dyn Future<Output = Result<tonic::Response<Resp>, Status>> + Send>>;

    fn call(&mut self, request: tonic::Request<Req>) -> Self::Future {
        let (state, handler) = (self.0.clone(), self.1);
        Box::pin(async move {
            let auth = request
                .metadata()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            state.authorization.lock().unwrap().push(auth);
            if state.fail.load(Ordering::SeqCst) {
                return Err(Status::unavailable("the cell is down"));
            }
            handler(&state, request.into_inner()).map(tonic::Response::new)
        })
    }
}

async fn unary<Req, Resp>(
    state: Arc<CellState>,
    handler: Handler<Req, Resp>,
    req: http::Request<Body>,
) -> http::Response<Body>
where
    Req: prost::Message + Default + Send + 'static,
    Resp: prost::Message + Send + 'static,
{
    Grpc::new(tonic_prost::ProstCodec::<Resp, Req>::default())
        .unary(Unary(state, handler), req)
        .await
}

fn register(
    s: &CellState,
    r: RegisterNamespaceRequest,
) -> Result<RegisterNamespaceResponse, Status> {
    let mut namespaces = s.namespaces.lock().unwrap();
    if namespaces.contains_key(&r.namespace) {
        return Err(Status::already_exists("Namespace already exists."));
    }
    let retention = r
        .workflow_execution_retention_period
        .map_or(0, |d| d.seconds);
    namespaces.insert(r.namespace, retention);
    Ok(RegisterNamespaceResponse::default())
}

fn update(s: &CellState, r: UpdateNamespaceRequest) -> Result<UpdateNamespaceResponse, Status> {
    let mut namespaces = s.namespaces.lock().unwrap();
    let entry = namespaces
        .get_mut(&r.namespace)
        .ok_or_else(|| Status::not_found("Namespace not found."))?;
    if let Some(ttl) = r.config.and_then(|c| c.workflow_execution_retention_ttl) {
        *entry = ttl.seconds;
    }
    Ok(UpdateNamespaceResponse::default())
}

fn delete(s: &CellState, r: DeleteNamespaceRequest) -> Result<DeleteNamespaceResponse, Status> {
    s.namespaces
        .lock()
        .unwrap()
        .remove(&r.namespace)
        .ok_or_else(|| Status::not_found("Namespace not found."))?;
    Ok(DeleteNamespaceResponse::default())
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send>>;

fn unimplemented() -> BoxFuture {
    Box::pin(async { Ok(Status::unimplemented("not in the fake cell").into_http()) })
}

#[derive(Clone)]
struct Workflow(Arc<CellState>);

impl NamedService for Workflow {
    const NAME: &'static str = "temporal.api.workflowservice.v1.WorkflowService";
}

impl tower::Service<http::Request<Body>> for Workflow {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> BoxFuture {
        let state = self.0.clone();
        match req.uri().path().rsplit('/').next() {
            Some("RegisterNamespace") => {
                Box::pin(async move { Ok(unary(state, register, req).await) })
            }
            Some("UpdateNamespace") => Box::pin(async move { Ok(unary(state, update, req).await) }),
            _ => unimplemented(),
        }
    }
}

#[derive(Clone)]
struct Operator(Arc<CellState>);

impl NamedService for Operator {
    const NAME: &'static str = "temporal.api.operatorservice.v1.OperatorService";
}

impl tower::Service<http::Request<Body>> for Operator {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> BoxFuture {
        let state = self.0.clone();
        match req.uri().path().rsplit('/').next() {
            Some("DeleteNamespace") => Box::pin(async move { Ok(unary(state, delete, req).await) }),
            _ => unimplemented(),
        }
    }
}
