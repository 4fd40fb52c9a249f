//! A tiny gRPC server standing in for a cell's admin surface: it answers
//! RegisterNamespace, UpdateNamespace, DeleteNamespace and DescribeNamespace
//! (by name, or by the id it gave) as a cell would, serves PullUsage from totals a test
//! sets (paged, with the cursor semantics of `orrery_cell_api`), keeps
//! custom search attributes (List/Add/RemoveSearchAttributes) and archival
//! states with the cell's checks and messages, records the authorization
//! header of each call, and can be told to fail.
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use orrery_cell_api::{PullUsageRequest, PullUsageResponse, UsageRow};
use temporalio_protos::temporal::api::enums::v1::ArchivalState;
use temporalio_protos::temporal::api::namespace::v1::{NamespaceConfig, NamespaceInfo};
use temporalio_protos::temporal::api::operatorservice::v1::{
    AddSearchAttributesRequest, AddSearchAttributesResponse, DeleteNamespaceRequest,
    DeleteNamespaceResponse, ListSearchAttributesRequest, ListSearchAttributesResponse,
    RemoveSearchAttributesRequest, RemoveSearchAttributesResponse,
};
use temporalio_protos::temporal::api::workflowservice::v1::{
    DescribeNamespaceRequest, DescribeNamespaceResponse, RegisterNamespaceRequest,
    RegisterNamespaceResponse, UpdateNamespaceRequest, UpdateNamespaceResponse,
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
    /// Namespace name → the id this cell gave it (kept after a delete).
    pub ids: Mutex<BTreeMap<String, String>>,
    /// (hour_ms, the cell's namespace id, kind) → total so far.
    pub usage: Mutex<BTreeMap<(i64, String, String), i64>>,
    pub settled_before_hour_ms: AtomicI64,
    /// Rows per usage page at most (0: the request's page size).
    pub usage_page_cap: AtomicU32,
    /// Fails every PullUsage page but the first.
    pub fail_usage_continuation: AtomicBool,
    /// Each PullUsage call: (from_hour_ms, whether it continued a pull).
    pub usage_requests: Mutex<Vec<(i64, bool)>>,
    /// Fails every DescribeNamespace (the rest keeps working).
    pub fail_describe: AtomicBool,
    /// Namespace → custom search attribute → its IndexedValueType.
    pub search_attributes: Mutex<BTreeMap<String, BTreeMap<String, i32>>>,
    /// Namespace → (history, visibility) ArchivalState.
    pub archival: Mutex<BTreeMap<String, (i32, i32)>>,
    /// Plays a cell started without an archive: enabling archival is refused.
    pub no_archive: AtomicBool,
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
            .add_service(Admin(state.clone()))
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

    /// The id this cell gave the namespace named `name`.
    pub fn namespace_id(&self, name: &str) -> String {
        self.state.ids.lock().unwrap()[name].clone()
    }

    /// Sets the total of (cell namespace id, hour, kind), as the cell's
    /// usage table would hold it.
    pub fn set_usage(&self, cell_namespace_id: &str, hour_ms: i64, kind: &str, total: i64) {
        self.state.usage.lock().unwrap().insert(
            (hour_ms, cell_namespace_id.to_owned(), kind.to_owned()),
            total,
        );
    }

    pub fn set_settled_before(&self, hour_ms: i64) {
        self.state
            .settled_before_hour_ms
            .store(hour_ms, Ordering::SeqCst);
    }

    pub fn usage_requests(&self) -> Vec<(i64, bool)> {
        self.state.usage_requests.lock().unwrap().clone()
    }

    /// The namespace's custom search attributes (name → IndexedValueType).
    pub fn search_attributes(&self, namespace: &str) -> BTreeMap<String, i32> {
        let all = self.state.search_attributes.lock().unwrap();
        all.get(namespace).cloned().unwrap_or_default()
    }

    /// The namespace's (history, visibility) archival states.
    pub fn archival(&self, namespace: &str) -> (i32, i32) {
        let all = self.state.archival.lock().unwrap();
        let disabled = ArchivalState::Disabled as i32;
        all.get(namespace).copied().unwrap_or((disabled, disabled))
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
    s.ids
        .lock()
        .unwrap()
        .entry(r.namespace.clone())
        .or_insert_with(|| uuid::Uuid::new_v4().to_string());
    namespaces.insert(r.namespace, retention);
    Ok(RegisterNamespaceResponse::default())
}

fn update(s: &CellState, r: UpdateNamespaceRequest) -> Result<UpdateNamespaceResponse, Status> {
    let mut namespaces = s.namespaces.lock().unwrap();
    let entry = namespaces
        .get_mut(&r.namespace)
        .ok_or_else(|| Status::not_found("Namespace not found."))?;
    let Some(config) = r.config else {
        return Ok(UpdateNamespaceResponse::default());
    };
    // As the cell: an unspecified state keeps the stored one; enabling
    // needs an archive (the cell's default, as the control plane names none).
    let mut archival = s.archival.lock().unwrap();
    let disabled = ArchivalState::Disabled as i32;
    let (mut history, mut visibility) = archival
        .get(&r.namespace)
        .copied()
        .unwrap_or((disabled, disabled));
    for (field, new, stored) in [
        (
            "HistoryArchivalUri",
            config.history_archival_state,
            &mut history,
        ),
        (
            "VisibilityArchivalUri",
            config.visibility_archival_state,
            &mut visibility,
        ),
    ] {
        if new == ArchivalState::Unspecified as i32 {
            continue;
        }
        if ArchivalState::try_from(new).is_err() {
            return Err(Status::invalid_argument(format!(
                "{}State {new} is not a valid archival state.",
                field.trim_end_matches("Uri")
            )));
        }
        if new == ArchivalState::Enabled as i32 && s.no_archive.load(Ordering::SeqCst) {
            return Err(Status::invalid_argument(format!(
                "{field} is required to enable archival: this server has no default archive."
            )));
        }
        *stored = new;
    }
    archival.insert(r.namespace.clone(), (history, visibility));
    if let Some(ttl) = config.workflow_execution_retention_ttl {
        *entry = ttl.seconds;
    }
    Ok(UpdateNamespaceResponse::default())
}

/// The system attributes a few tests name (the cell knows them all).
const SYSTEM_ATTRIBUTES: &[&str] = &[
    "WorkflowId",
    "WorkflowType",
    "RunId",
    "ExecutionStatus",
    "StartTime",
    "CloseTime",
    "TaskQueue",
];

fn known_namespace(s: &CellState, namespace: &str) -> Result<(), Status> {
    if namespace.is_empty() {
        return Err(Status::invalid_argument("Namespace is not set on request."));
    }
    if s.namespaces.lock().unwrap().contains_key(namespace) {
        Ok(())
    } else {
        Err(Status::not_found(format!(
            "Namespace {namespace} is not found."
        )))
    }
}

fn list_attributes(
    s: &CellState,
    r: ListSearchAttributesRequest,
) -> Result<ListSearchAttributesResponse, Status> {
    known_namespace(s, &r.namespace)?;
    let all = s.search_attributes.lock().unwrap();
    let custom = all.get(&r.namespace).cloned().unwrap_or_default();
    Ok(ListSearchAttributesResponse {
        custom_attributes: custom.into_iter().collect(),
        // Keyword, as the cell lists them.
        system_attributes: SYSTEM_ATTRIBUTES
            .iter()
            .map(|n| (n.to_string(), 2))
            .collect(),
        ..Default::default()
    })
}

/// The cell's rule and messages (data-plane/frontend/src/handlers/visibility.rs).
fn add_attributes(
    s: &CellState,
    r: AddSearchAttributesRequest,
) -> Result<AddSearchAttributesResponse, Status> {
    known_namespace(s, &r.namespace)?;
    for (name, ty) in &r.search_attributes {
        if name.trim().is_empty() {
            return Err(Status::invalid_argument("Search attribute name is empty."));
        }
        let reserved = ["NamespaceId", "Memo", "MemoEncoding", "VisibilityTaskKey"];
        if name.starts_with("Temporal")
            || reserved.contains(&name.as_str())
            || SYSTEM_ATTRIBUTES.contains(&name.as_str())
        {
            return Err(Status::invalid_argument(format!(
                "Search attribute {name} is reserved by system."
            )));
        }
        if !(1..=7).contains(ty) {
            return Err(Status::invalid_argument(format!(
                "Unknown search attribute type: {ty}."
            )));
        }
    }
    let mut all = s.search_attributes.lock().unwrap();
    let attrs = all.entry(r.namespace.clone()).or_default();
    for (name, ty) in r.search_attributes {
        if attrs.contains_key(&name) {
            continue;
        }
        // Temporal Cloud's limits per type: Text (1) and KeywordList (7)
        // 5, Keyword (2) 40, the rest 20.
        let limit = match ty {
            1 | 7 => 5,
            2 => 40,
            _ => 20,
        };
        let used = attrs.values().filter(|t| **t == ty).count();
        if used >= limit {
            return Err(Status::invalid_argument(format!(
                "Unable to create search attribute {name}: the namespace {} already has {used} custom search attributes of type {ty}, the most it may have.",
                r.namespace
            )));
        }
        attrs.insert(name, ty);
    }
    Ok(AddSearchAttributesResponse {})
}

fn remove_attributes(
    s: &CellState,
    r: RemoveSearchAttributesRequest,
) -> Result<RemoveSearchAttributesResponse, Status> {
    known_namespace(s, &r.namespace)?;
    for name in &r.search_attributes {
        if SYSTEM_ATTRIBUTES.contains(&name.as_str()) {
            return Err(Status::invalid_argument(format!(
                "Unable to remove non-custom search attributes: {name}."
            )));
        }
    }
    let mut all = s.search_attributes.lock().unwrap();
    if let Some(attrs) = all.get_mut(&r.namespace) {
        for name in &r.search_attributes {
            attrs.remove(name);
        }
    }
    Ok(RemoveSearchAttributesResponse {})
}

fn delete(s: &CellState, r: DeleteNamespaceRequest) -> Result<DeleteNamespaceResponse, Status> {
    s.namespaces
        .lock()
        .unwrap()
        .remove(&r.namespace)
        .ok_or_else(|| Status::not_found("Namespace not found."))?;
    Ok(DeleteNamespaceResponse::default())
}

fn describe(
    s: &CellState,
    r: DescribeNamespaceRequest,
) -> Result<DescribeNamespaceResponse, Status> {
    if s.fail_describe.load(Ordering::SeqCst) {
        return Err(Status::unavailable("describe is down"));
    }
    let namespaces = s.namespaces.lock().unwrap();
    let ids = s.ids.lock().unwrap();
    // By name when one is given (as a cell does), else by id.
    let found = if r.namespace.is_empty() {
        ids.iter()
            .find(|(name, id)| **id == r.id && namespaces.contains_key(*name))
    } else {
        ids.iter()
            .find(|(name, _)| **name == r.namespace && namespaces.contains_key(*name))
    };
    let (name, id) = found
        .map(|(name, id)| (name.clone(), id.clone()))
        .ok_or_else(|| Status::not_found("Namespace not found."))?;
    let disabled = ArchivalState::Disabled as i32;
    let (history, visibility) =
        (s.archival.lock().unwrap().get(&name).copied()).unwrap_or((disabled, disabled));
    Ok(DescribeNamespaceResponse {
        namespace_info: Some(NamespaceInfo {
            name,
            id,
            ..Default::default()
        }),
        config: Some(NamespaceConfig {
            history_archival_state: history,
            visibility_archival_state: visibility,
            ..Default::default()
        }),
        ..Default::default()
    })
}

fn pull_usage(s: &CellState, r: PullUsageRequest) -> Result<PullUsageResponse, Status> {
    let continued = !r.page_token.is_empty();
    s.usage_requests
        .lock()
        .unwrap()
        .push((r.from_hour_ms, continued));
    if continued && s.fail_usage_continuation.load(Ordering::SeqCst) {
        return Err(Status::unavailable("the cell went away mid-pull"));
    }
    let offset: usize = if continued {
        String::from_utf8(r.page_token)
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| Status::invalid_argument("bad page token"))?
    } else {
        0
    };
    let mut size = if r.page_size == 0 {
        orrery_cell_api::MAX_USAGE_PAGE
    } else {
        r.page_size.min(orrery_cell_api::MAX_USAGE_PAGE)
    };
    let cap = s.usage_page_cap.load(Ordering::SeqCst);
    if cap > 0 {
        size = size.min(cap);
    }
    let usage = s.usage.lock().unwrap();
    let matching: Vec<_> = usage
        .iter()
        .filter(|((hour, _, _), _)| *hour >= r.from_hour_ms)
        .collect();
    let end = (offset + size as usize).min(matching.len());
    let rows = matching[offset.min(end)..end]
        .iter()
        .map(|((hour_ms, namespace_id, kind), total)| UsageRow {
            namespace_id: namespace_id.clone(),
            hour_ms: *hour_ms,
            kind: kind.clone(),
            total: **total,
        })
        .collect();
    Ok(PullUsageResponse {
        rows,
        next_page_token: if end < matching.len() {
            end.to_string().into_bytes()
        } else {
            Vec::new()
        },
        settled_before_hour_ms: s.settled_before_hour_ms.load(Ordering::SeqCst),
    })
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
            Some("DescribeNamespace") => {
                Box::pin(async move { Ok(unary(state, describe, req).await) })
            }
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
            Some("ListSearchAttributes") => {
                Box::pin(async move { Ok(unary(state, list_attributes, req).await) })
            }
            Some("AddSearchAttributes") => {
                Box::pin(async move { Ok(unary(state, add_attributes, req).await) })
            }
            Some("RemoveSearchAttributes") => {
                Box::pin(async move { Ok(unary(state, remove_attributes, req).await) })
            }
            _ => unimplemented(),
        }
    }
}

/// The cell admin service (`orrery.cell.v1.CellAdmin`): PullUsage only.
#[derive(Clone)]
struct Admin(Arc<CellState>);

impl NamedService for Admin {
    const NAME: &'static str = "orrery.cell.v1.CellAdmin";
}

impl tower::Service<http::Request<Body>> for Admin {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> BoxFuture {
        let state = self.0.clone();
        match req.uri().path().rsplit('/').next() {
            Some("PullUsage") => Box::pin(async move { Ok(unary(state, pull_usage, req).await) }),
            _ => unimplemented(),
        }
    }
}
