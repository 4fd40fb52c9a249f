//! Who may make which call, and how often. Every served RPC passes `admit`
//! before its handler runs: the caller the cell's authentication layer put in
//! the request must hold the RPC's permission in the request's namespace, and
//! the namespace must be under its rate limit (a call that names no
//! namespace: its caller under its own; see `rate_limits`). Each RPC's
//! permission is declared beside its dispatch ([`served!`]). Absent a tenant
//! auth layer (`orrery dev`, a cell without a control plane) only the
//! namespace's rate limit applies.
use std::sync::Arc;
use std::time::Instant;

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use orrery_core::caller::{Caller, Permission};
use orrery_core::{CellError, CellResult};
use orrery_proto::api::common::v1::WorkflowExecution;
use orrery_proto::api::operatorservice::v1 as op;
use orrery_proto::api::update::v1::UpdateRef;
use orrery_proto::api::workflowservice::v1 as wf;
use tonic::Request;
use tonic::metadata::{KeyRef, MetadataMap};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::Frontend;
use crate::rate_gate::Charged;
use crate::rate_limits::{CallerLimits, RateLimits, after_pause};

/// How a request names its namespace.
pub(crate) enum Target<'a> {
    Name(&'a str),
    /// By id only (DescribeNamespace, DeleteNamespace may).
    Id(&'a str),
    /// Not a namespaced call (system info, the namespace list).
    None,
}

pub(crate) trait Namespaced {
    fn target(&self) -> Target<'_>;

    /// The workflow the call is about, when the request names one (for its
    /// span; a worker's call by task token names it in the token).
    fn workflow_id(&self) -> Option<&str> {
        None
    }

    /// The task token a worker's call carries instead of naming the
    /// workflow.
    fn task_token(&self) -> Option<&[u8]> {
        None
    }
}

/// A request field that names a workflow, in the shapes the API uses.
trait NamesWorkflow {
    fn workflow(&self) -> Option<&str>;
}

impl NamesWorkflow for String {
    fn workflow(&self) -> Option<&str> {
        Some(self)
    }
}

impl NamesWorkflow for Option<WorkflowExecution> {
    fn workflow(&self) -> Option<&str> {
        self.as_ref().map(|e| e.workflow_id.as_str())
    }
}

impl NamesWorkflow for Option<UpdateRef> {
    fn workflow(&self) -> Option<&str> {
        self.as_ref().and_then(|u| u.workflow_execution.workflow())
    }
}

/// A multi-operation's workflow is its start's (all its operations share it).
impl NamesWorkflow for Vec<wf::execute_multi_operation_request::Operation> {
    fn workflow(&self) -> Option<&str> {
        use wf::execute_multi_operation_request::operation::Operation as Op;
        self.iter().find_map(|o| match &o.operation {
            Some(Op::StartWorkflow(start)) => Some(start.workflow_id.as_str()),
            Some(Op::UpdateWorkflow(update)) => update.workflow_execution.workflow(),
            None => None,
        })
    }
}

/// `Request => field`: the field that names the call's workflow.
macro_rules! by_name {
    ($($t:ty $(=> $workflow:ident)?),* $(,)?) => {$(
        impl Namespaced for $t {
            fn target(&self) -> Target<'_> {
                Target::Name(&self.namespace)
            }
            $(
                fn workflow_id(&self) -> Option<&str> {
                    NamesWorkflow::workflow(&self.$workflow).filter(|id| !id.is_empty())
                }
            )?
        }
    )*};
}

/// A worker's call that names its task by token.
macro_rules! by_name_and_token {
    ($($t:ty),* $(,)?) => {$(
        impl Namespaced for $t {
            fn target(&self) -> Target<'_> {
                Target::Name(&self.namespace)
            }
            fn task_token(&self) -> Option<&[u8]> {
                Some(&self.task_token).filter(|t| !t.is_empty()).map(Vec::as_slice)
            }
        }
    )*};
}

by_name_and_token!(
    wf::RecordActivityTaskHeartbeatRequest,
    wf::RespondActivityTaskCanceledRequest,
    wf::RespondActivityTaskCompletedRequest,
    wf::RespondActivityTaskFailedRequest,
    wf::RespondQueryTaskCompletedRequest,
    wf::RespondWorkflowTaskCompletedRequest,
    wf::RespondWorkflowTaskFailedRequest,
);

by_name!(
    wf::CountActivityExecutionsRequest,
    wf::CountWorkflowExecutionsRequest,
    wf::CreateScheduleRequest,
    wf::DeleteActivityExecutionRequest,
    wf::DeleteScheduleRequest,
    wf::DeleteWorkflowExecutionRequest => workflow_execution,
    wf::DescribeActivityExecutionRequest,
    wf::DescribeScheduleRequest,
    wf::DescribeTaskQueueRequest,
    wf::DescribeWorkflowExecutionRequest => execution,
    wf::ExecuteMultiOperationRequest => operations,
    wf::GetWorkflowExecutionHistoryRequest => execution,
    wf::GetWorkflowExecutionHistoryReverseRequest => execution,
    wf::ListActivityExecutionsRequest,
    wf::ListArchivedWorkflowExecutionsRequest,
    wf::ListClosedWorkflowExecutionsRequest,
    wf::ListOpenWorkflowExecutionsRequest,
    wf::ListScheduleMatchingTimesRequest,
    wf::ListSchedulesRequest,
    wf::ListWorkflowExecutionsRequest,
    wf::PatchScheduleRequest,
    wf::PauseActivityRequest => execution,
    wf::PollActivityExecutionRequest,
    wf::PollActivityTaskQueueRequest,
    wf::PollWorkflowExecutionUpdateRequest => update_ref,
    wf::PollWorkflowTaskQueueRequest,
    wf::QueryWorkflowRequest => execution,
    wf::RecordActivityTaskHeartbeatByIdRequest => workflow_id,
    wf::RecordWorkerHeartbeatRequest,
    wf::RegisterNamespaceRequest,
    wf::RequestCancelActivityExecutionRequest,
    wf::RequestCancelWorkflowExecutionRequest => workflow_execution,
    wf::ResetActivityRequest => execution,
    wf::ResetStickyTaskQueueRequest => execution,
    wf::ResetWorkflowExecutionRequest => workflow_execution,
    wf::RespondActivityTaskCanceledByIdRequest => workflow_id,
    wf::RespondActivityTaskCompletedByIdRequest => workflow_id,
    wf::RespondActivityTaskFailedByIdRequest => workflow_id,
    wf::ScanWorkflowExecutionsRequest,
    wf::ShutdownWorkerRequest,
    wf::SignalWithStartWorkflowExecutionRequest => workflow_id,
    wf::SignalWorkflowExecutionRequest => workflow_execution,
    wf::StartActivityExecutionRequest,
    wf::StartWorkflowExecutionRequest => workflow_id,
    wf::TerminateActivityExecutionRequest,
    wf::TerminateWorkflowExecutionRequest => workflow_execution,
    wf::UnpauseActivityRequest => execution,
    wf::UpdateActivityOptionsRequest => execution,
    wf::UpdateNamespaceRequest,
    wf::UpdateScheduleRequest,
    wf::UpdateWorkflowExecutionRequest => workflow_execution,
    op::AddSearchAttributesRequest,
    op::RemoveSearchAttributesRequest,
    op::ListSearchAttributesRequest,
);

macro_rules! not_namespaced {
    ($($t:ty),* $(,)?) => {$(
        impl Namespaced for $t {
            fn target(&self) -> Target<'_> {
                Target::None
            }
        }
    )*};
}

not_namespaced!(
    wf::GetClusterInfoRequest,
    wf::GetSystemInfoRequest,
    wf::ListNamespacesRequest,
    wf::GetSearchAttributesRequest,
);

impl Namespaced for wf::DescribeNamespaceRequest {
    fn target(&self) -> Target<'_> {
        if self.namespace.is_empty() {
            Target::Id(&self.id)
        } else {
            Target::Name(&self.namespace)
        }
    }
}

impl Namespaced for op::DeleteNamespaceRequest {
    fn target(&self) -> Target<'_> {
        if self.namespace.is_empty() {
            Target::Id(&self.namespace_id)
        } else {
            Target::Name(&self.namespace)
        }
    }
}

/// What an RPC needs of its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Needs {
    /// Any authenticated caller (the namespace list is filtered to what the
    /// caller may read).
    Any,
    /// This permission in the namespace the request names.
    Read,
    Write,
    Admin,
    /// Only the cell's operator: namespaces are created and deleted through
    /// the control plane, never by a tenant.
    Operator,
}

/// A served RPC as its dispatch declares it: its name (for spans and
/// errors) and what it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rpc {
    pub name: &'static str,
    pub needs: Needs,
}

impl Rpc {
    /// Refuses (when the constant is evaluated, at compile time) a name
    /// that is not its request type's less `Request`, so a copied line
    /// cannot name the wrong RPC.
    pub(crate) const fn declare(name: &'static str, request: &str, needs: Needs) -> Self {
        assert!(
            named_after(name, request),
            "an RPC's name is its request type's less `Request`"
        );
        Self { name, needs }
    }
}

const fn named_after(name: &str, request: &str) -> bool {
    let (name, request, suffix) = (name.as_bytes(), request.as_bytes(), b"Request");
    if request.len() != name.len() + suffix.len() {
        return false;
    }
    let mut i = 0;
    while i < request.len() {
        let expected = if i < name.len() {
            name[i]
        } else {
            suffix[i - name.len()]
        };
        if request[i] != expected {
            return false;
        }
        i += 1;
    }
    true
}

/// The request type of a served RPC, bound to its declaration: `admit`
/// takes only these, so a new RPC does not compile until its dispatch
/// declares what it needs (see [`served!`]).
pub(crate) trait Served: Namespaced {
    const RPC: Rpc;
}

/// Declares each served RPC's name and permission, beside its dispatch:
/// `StartWorkflowExecutionRequest => "StartWorkflowExecution", Write;`.
/// Also lists them (for the test that checks every declaration).
macro_rules! served {
    ($list:ident: $($request:ident => $name:literal, $needs:ident;)*) => {
        $(
            impl $crate::access::Served for $request {
                const RPC: $crate::access::Rpc = $crate::access::Rpc::declare(
                    $name,
                    stringify!($request),
                    $crate::access::Needs::$needs,
                );
            }
        )*
        #[cfg(test)]
        pub(crate) const $list: &[$crate::access::Rpc] =
            &[$(<$request as $crate::access::Served>::RPC),*];
    };
}
pub(crate) use served;

/// Whether a call may run, and what its span and metrics need.
pub(crate) struct Admitted {
    pub rpc: &'static str,
    /// The namespace the call names ("" when it names none).
    pub namespace: String,
    /// The call's span, admission included: `rpc`, `namespace` and
    /// `workflow_id` fields, its parent the caller's W3C trace context.
    pub span: tracing::Span,
    /// When admission began, for the call's latency.
    pub started: Instant,
    pub verdict: CellResult<()>,
    /// The control plane's own call (usage and metrics lookups, namespace
    /// admin): counted under no namespace, so a tenant's metrics show only
    /// the tenant's calls.
    pub by_operator: bool,
}
/// The frontend's access rules: whether calls must carry a caller, and the
/// rate limits.
#[derive(Default)]
pub struct AccessPolicy {
    /// A tenant auth layer runs in front: a call without a caller is refused.
    pub callers_required: bool,
    /// Shared with the `RateGateLayer` in front of the services.
    pub rate_limits: Option<Arc<RateLimits>>,
    /// Each caller's budget for the RPCs that name no namespace.
    pub caller_limits: Option<Arc<CallerLimits>>,
}

impl Frontend {
    /// Decides whether the call may run; a refusal is the call's answer.
    pub(crate) async fn admit<T: Served>(&self, r: &Request<T>) -> Admitted {
        let started = Instant::now();
        let rpc = T::RPC.name;
        let mut namespace = match r.get_ref().target() {
            Target::Name(name) => name.to_owned(),
            Target::Id(_) | Target::None => String::new(),
        };
        // A token's workflow is taken only from a token this cell signed
        // (the handler checks the rest of it).
        let by_token = (r.get_ref().task_token())
            .and_then(|token| self.history.signer().verify(token).ok())
            .map(|token| token.workflow_id)
            .filter(|id| !id.is_empty());
        let workflow_id = by_token.as_deref().or(r.get_ref().workflow_id());
        let span = rpc_span(rpc, &namespace, workflow_id, r.metadata());
        let by_name = !namespace.is_empty();
        let verdict = self
            .check(T::RPC, r, &mut namespace)
            .instrument(span.clone())
            .await;
        if !by_name && !namespace.is_empty() {
            span.record("namespace", namespace.as_str());
        }
        let by_operator = matches!(r.extensions().get::<Caller>(), Some(Caller::Operator));
        Admitted {
            rpc,
            namespace,
            span,
            started,
            verdict,
            by_operator,
        }
    }

    /// `resolved` is set to the namespace's name when the request names it
    /// by id.
    async fn check<T: Namespaced>(
        &self,
        rpc: Rpc,
        r: &Request<T>,
        resolved: &mut String,
    ) -> CellResult<()> {
        let caller = r.extensions().get::<Caller>();
        if self.access.callers_required && caller.is_none() {
            return Err(CellError::Unauthenticated(
                "Request unauthorized: no credentials.".into(),
            ));
        }
        let target = r.get_ref().target();
        // A call that names no namespace by name spends its caller's budget,
        // before any work (looking a namespace up by id included).
        if !matches!(target, Target::Name(_))
            && let (Some(limits), Some(caller)) = (&self.access.caller_limits, caller)
            && let Err(refused) = limits.check(caller)
        {
            return Err(after_pause(refused).await);
        }
        let by_id;
        let namespace = match target {
            Target::Name(name) => Some(name),
            Target::Id(id) if !id.is_empty() => {
                by_id = self.namespace_name_by_id(id, caller, rpc.name).await?;
                resolved.clone_from(&by_id);
                Some(by_id.as_str())
            }
            Target::Id(_) | Target::None => None,
        };
        if self.access.callers_required
            && let Some(caller) = caller
        {
            authorize(caller, rpc, namespace)?;
        }
        if let (Some(limits), Some(namespace)) = (&self.access.rate_limits, namespace) {
            let charged = r
                .extensions()
                .get::<Charged>()
                .is_some_and(|c| c.0.as_bytes() == namespace.as_bytes());
            if !charged && let Err(refused) = limits.check(namespace) {
                return Err(after_pause(refused).await);
            }
        }
        Ok(())
    }
}

/// The call's span. Exported (src/telemetry.rs) under the RPC's name, as a
/// server span; with a valid `traceparent` in the call's metadata it
/// continues the caller's trace.
fn rpc_span(
    rpc: &'static str,
    namespace: &str,
    workflow_id: Option<&str>,
    metadata: &MetadataMap,
) -> tracing::Span {
    let span = tracing::info_span!(
        "rpc",
        otel.name = rpc,
        otel.kind = "server",
        rpc,
        namespace = tracing::field::Empty,
        workflow_id = tracing::field::Empty,
    );
    if span.is_disabled() {
        return span;
    }
    // The parent first: it is fixed once the span starts.
    if metadata.contains_key("traceparent") {
        let parent = TraceContextPropagator::new().extract(&Metadata(metadata));
        // An unparsable header leaves no valid remote span: the call starts
        // a trace of its own rather than joining a broken one.
        if parent.span().span_context().is_valid() {
            // Refused only when no exporter is installed: nothing to join.
            let _ = span.set_parent(parent);
        }
    }
    if !namespace.is_empty() {
        span.record("namespace", namespace);
    }
    if let Some(id) = workflow_id {
        span.record("workflow_id", id);
    }
    span
}

/// gRPC metadata as the W3C propagator reads it (ASCII values only: the
/// trace context headers are ASCII).
struct Metadata<'a>(&'a MetadataMap);

impl Extractor for Metadata<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0
            .keys()
            .filter_map(|k| match k {
                KeyRef::Ascii(k) => Some(k.as_str()),
                KeyRef::Binary(_) => None,
            })
            .collect()
    }
}

fn authorize(caller: &Caller, rpc: Rpc, namespace: Option<&str>) -> CellResult<()> {
    let denied = |why: String| Err(CellError::PermissionDenied(why));
    let name = rpc.name;
    let needed = match rpc.needs {
        Needs::Any => return Ok(()),
        Needs::Operator if matches!(caller, Caller::Operator) => return Ok(()),
        Needs::Operator => {
            return denied(format!(
                "Request unauthorized: {name} is done through the control plane."
            ));
        }
        Needs::Read => Permission::Read,
        Needs::Write => Permission::Write,
        Needs::Admin => Permission::Admin,
    };
    let Some(namespace) = namespace.filter(|n| !n.is_empty()) else {
        return Err(CellError::invalid("Namespace not set on request."));
    };
    match caller.permission(namespace) {
        Some(held) if held >= needed => Ok(()),
        // The same answer whether the namespace exists or not: a tenant
        // learns nothing about others' namespaces.
        _ => denied(format!(
            "Request unauthorized: {} lacks {} permission on namespace {namespace} for {name}.",
            caller.principal(),
            needed.as_str()
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn tenant(grants: &[(&str, Permission)]) -> Caller {
        Caller::Tenant {
            principal: "user:u1".into(),
            grants: Arc::new(
                grants
                    .iter()
                    .map(|(n, p)| (n.to_string(), *p))
                    .collect::<HashMap<_, _>>(),
            ),
        }
    }

    fn rpc(name: &'static str, needs: Needs) -> Rpc {
        Rpc { name, needs }
    }

    #[test]
    fn each_rpc_needs_its_permission_in_the_named_namespace() {
        let (describe, start) = (
            rpc("DescribeWorkflowExecution", Needs::Read),
            rpc("StartWorkflowExecution", Needs::Write),
        );
        let reader = tenant(&[("a.x", Permission::Read)]);
        assert!(authorize(&reader, describe, Some("a.x")).is_ok());
        assert!(matches!(
            authorize(&reader, start, Some("a.x")),
            Err(CellError::PermissionDenied(_))
        ));
        let writer = tenant(&[("a.x", Permission::Write)]);
        assert!(authorize(&writer, start, Some("a.x")).is_ok());
        let add = rpc("AddSearchAttributes", Needs::Admin);
        assert!(matches!(
            authorize(&writer, add, Some("a.x")),
            Err(CellError::PermissionDenied(_))
        ));
        assert!(matches!(
            authorize(&writer, start, Some("b.x")),
            Err(CellError::PermissionDenied(_))
        ));
        assert!(matches!(
            authorize(&writer, start, Some("")),
            Err(CellError::InvalidArgument(_))
        ));
        let admin = tenant(&[("a.x", Permission::Admin)]);
        assert!(authorize(&admin, add, Some("a.x")).is_ok());
        let register = rpc("RegisterNamespace", Needs::Operator);
        assert!(matches!(
            authorize(&admin, register, Some("c.x")),
            Err(CellError::PermissionDenied(_))
        ));
        assert!(authorize(&Caller::Operator, register, Some("c.x")).is_ok());
        assert!(authorize(&tenant(&[]), rpc("GetSystemInfo", Needs::Any), None).is_ok());
    }

    /// What each served RPC needs, written out independently of the
    /// declarations beside the dispatch: a declaration that differs, or an
    /// RPC served without a line here, fails.
    const EXPECTED: &[(Needs, &[&str])] = &[
        (
            Needs::Any,
            &[
                "GetSystemInfo",
                "GetClusterInfo",
                "ListNamespaces",
                "GetSearchAttributes",
            ],
        ),
        (Needs::Operator, &["RegisterNamespace", "DeleteNamespace"]),
        (
            Needs::Admin,
            &[
                "UpdateNamespace",
                "AddSearchAttributes",
                "RemoveSearchAttributes",
            ],
        ),
        (
            Needs::Read,
            &[
                "DescribeNamespace",
                "DescribeWorkflowExecution",
                "DescribeActivityExecution",
                "DescribeSchedule",
                "DescribeTaskQueue",
                "ListWorkflowExecutions",
                "ListOpenWorkflowExecutions",
                "ListClosedWorkflowExecutions",
                "ListArchivedWorkflowExecutions",
                "ListSchedules",
                "ListScheduleMatchingTimes",
                "ListActivityExecutions",
                "ListSearchAttributes",
                "CountWorkflowExecutions",
                "CountActivityExecutions",
                "ScanWorkflowExecutions",
                "GetWorkflowExecutionHistory",
                "GetWorkflowExecutionHistoryReverse",
                "QueryWorkflow",
                "PollWorkflowExecutionUpdate",
                "PollActivityExecution",
            ],
        ),
        (
            Needs::Write,
            &[
                "StartWorkflowExecution",
                "SignalWorkflowExecution",
                "SignalWithStartWorkflowExecution",
                "RequestCancelWorkflowExecution",
                "TerminateWorkflowExecution",
                "DeleteWorkflowExecution",
                "ResetWorkflowExecution",
                "UpdateWorkflowExecution",
                "ExecuteMultiOperation",
                "StartActivityExecution",
                "RequestCancelActivityExecution",
                "TerminateActivityExecution",
                "DeleteActivityExecution",
                "UpdateActivityOptions",
                "PauseActivity",
                "UnpauseActivity",
                "ResetActivity",
                "ResetStickyTaskQueue",
                "CreateSchedule",
                "UpdateSchedule",
                "PatchSchedule",
                "DeleteSchedule",
                "PollWorkflowTaskQueue",
                "RespondWorkflowTaskCompleted",
                "RespondWorkflowTaskFailed",
                "RespondQueryTaskCompleted",
                "PollActivityTaskQueue",
                "RespondActivityTaskCompleted",
                "RespondActivityTaskCompletedById",
                "RespondActivityTaskFailed",
                "RespondActivityTaskFailedById",
                "RespondActivityTaskCanceled",
                "RespondActivityTaskCanceledById",
                "RecordActivityTaskHeartbeat",
                "RecordActivityTaskHeartbeatById",
                "ShutdownWorker",
                "RecordWorkerHeartbeat",
            ],
        ),
    ];

    #[test]
    fn every_served_rpc_declares_the_permission_it_needs() {
        let expected: HashMap<&str, Needs> = EXPECTED
            .iter()
            .flat_map(|(needs, names)| names.iter().map(move |name| (*name, *needs)))
            .collect();
        let served = crate::rpc_permissions::WORKFLOW_RPCS
            .iter()
            .chain(crate::rpc_permissions::OPERATOR_RPCS);
        let mut declared = HashMap::new();
        for rpc in served {
            assert!(
                declared.insert(rpc.name, rpc.needs).is_none(),
                "{} is declared twice",
                rpc.name
            );
            assert_eq!(
                Some(&rpc.needs),
                expected.get(rpc.name),
                "{} declares {:?}",
                rpc.name,
                rpc.needs
            );
        }
        let unserved: Vec<_> = (expected.keys())
            .filter(|name| !declared.contains_key(*name))
            .collect();
        assert!(unserved.is_empty(), "expected but not served: {unserved:?}");
        // Each permission is enforced as declared.
        let reader = tenant(&[("a.x", Permission::Read)]);
        for (name, needs) in &declared {
            let allowed = authorize(&reader, rpc(name, *needs), Some("a.x")).is_ok();
            assert_eq!(allowed, matches!(needs, Needs::Any | Needs::Read), "{name}");
        }
    }

    #[test]
    fn a_request_names_its_workflow_for_the_span() {
        use orrery_proto::api::workflowservice::v1::execute_multi_operation_request::{
            Operation, operation,
        };
        let execution = |id: &str| {
            Some(WorkflowExecution {
                workflow_id: id.into(),
                run_id: String::new(),
            })
        };
        let start = wf::StartWorkflowExecutionRequest {
            workflow_id: "w1".into(),
            ..Default::default()
        };
        assert_eq!(start.workflow_id(), Some("w1"));
        let signal = wf::SignalWorkflowExecutionRequest {
            workflow_execution: execution("w2"),
            ..Default::default()
        };
        assert_eq!(signal.workflow_id(), Some("w2"));
        let poll = wf::PollWorkflowExecutionUpdateRequest {
            update_ref: Some(UpdateRef {
                workflow_execution: execution("w3"),
                update_id: "u".into(),
            }),
            ..Default::default()
        };
        assert_eq!(poll.workflow_id(), Some("w3"));
        let multi = wf::ExecuteMultiOperationRequest {
            operations: vec![Operation {
                operation: Some(operation::Operation::StartWorkflow(start.clone())),
            }],
            ..Default::default()
        };
        assert_eq!(multi.workflow_id(), Some("w1"));
        // Absent or empty: none, not "".
        assert_eq!(wf::QueryWorkflowRequest::default().workflow_id(), None);
        let unnamed = wf::DescribeWorkflowExecutionRequest {
            execution: execution(""),
            ..Default::default()
        };
        assert_eq!(unnamed.workflow_id(), None);
        assert_eq!(
            wf::PollWorkflowTaskQueueRequest::default().workflow_id(),
            None
        );
    }

    #[test]
    fn a_declared_name_must_be_its_request_types() {
        assert!(named_after(
            "StartWorkflowExecution",
            "StartWorkflowExecutionRequest"
        ));
        assert!(!named_after(
            "StartWorkflowExecution",
            "SignalWorkflowExecutionRequest"
        ));
        assert!(!named_after(
            "StartWorkflowExecution",
            "StartWorkflowExecution"
        ));
        assert!(!named_after("Start", "StartWorkflowExecutionRequest"));
        assert_eq!(
            <wf::GetWorkflowExecutionHistoryReverseRequest as Served>::RPC.name,
            "GetWorkflowExecutionHistoryReverse"
        );
    }
}
