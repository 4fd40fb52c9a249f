//! Who may make which call, and how often. Every served RPC passes `admit`
//! before its handler runs: the caller the cell's authentication layer put in
//! the request must hold the RPC's permission in the request's namespace, and
//! the namespace must be under its rate limit. Absent a tenant auth layer
//! (`orrery dev`, a cell without a control plane) only the rate limit applies.
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use orrery_core::caller::{Caller, Permission};
use orrery_core::dynamic_config::PerNamespace;
use orrery_core::{CellError, CellResult};
use orrery_proto::api::enums::v1::ResourceExhaustedCause;
use orrery_proto::api::operatorservice::v1 as op;
use orrery_proto::api::workflowservice::v1 as wf;
use tonic::Request;

use crate::Frontend;
use crate::rate_gate::Charged;

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
}

macro_rules! by_name {
    ($($t:ty),* $(,)?) => {$(
        impl Namespaced for $t {
            fn target(&self) -> Target<'_> {
                Target::Name(&self.namespace)
            }
        }
    )*};
}

by_name!(
    wf::CountActivityExecutionsRequest,
    wf::CountWorkflowExecutionsRequest,
    wf::CreateScheduleRequest,
    wf::DeleteActivityExecutionRequest,
    wf::DeleteScheduleRequest,
    wf::DeleteWorkflowExecutionRequest,
    wf::DescribeActivityExecutionRequest,
    wf::DescribeScheduleRequest,
    wf::DescribeTaskQueueRequest,
    wf::DescribeWorkflowExecutionRequest,
    wf::ExecuteMultiOperationRequest,
    wf::GetWorkflowExecutionHistoryRequest,
    wf::GetWorkflowExecutionHistoryReverseRequest,
    wf::ListActivityExecutionsRequest,
    wf::ListArchivedWorkflowExecutionsRequest,
    wf::ListClosedWorkflowExecutionsRequest,
    wf::ListOpenWorkflowExecutionsRequest,
    wf::ListScheduleMatchingTimesRequest,
    wf::ListSchedulesRequest,
    wf::ListWorkflowExecutionsRequest,
    wf::PatchScheduleRequest,
    wf::PauseActivityRequest,
    wf::PollActivityExecutionRequest,
    wf::PollActivityTaskQueueRequest,
    wf::PollWorkflowExecutionUpdateRequest,
    wf::PollWorkflowTaskQueueRequest,
    wf::QueryWorkflowRequest,
    wf::RecordActivityTaskHeartbeatByIdRequest,
    wf::RecordActivityTaskHeartbeatRequest,
    wf::RecordWorkerHeartbeatRequest,
    wf::RegisterNamespaceRequest,
    wf::RequestCancelActivityExecutionRequest,
    wf::RequestCancelWorkflowExecutionRequest,
    wf::ResetActivityRequest,
    wf::ResetStickyTaskQueueRequest,
    wf::ResetWorkflowExecutionRequest,
    wf::RespondActivityTaskCanceledByIdRequest,
    wf::RespondActivityTaskCanceledRequest,
    wf::RespondActivityTaskCompletedByIdRequest,
    wf::RespondActivityTaskCompletedRequest,
    wf::RespondActivityTaskFailedByIdRequest,
    wf::RespondActivityTaskFailedRequest,
    wf::RespondQueryTaskCompletedRequest,
    wf::RespondWorkflowTaskCompletedRequest,
    wf::RespondWorkflowTaskFailedRequest,
    wf::ScanWorkflowExecutionsRequest,
    wf::ShutdownWorkerRequest,
    wf::SignalWithStartWorkflowExecutionRequest,
    wf::SignalWorkflowExecutionRequest,
    wf::StartActivityExecutionRequest,
    wf::StartWorkflowExecutionRequest,
    wf::TerminateActivityExecutionRequest,
    wf::TerminateWorkflowExecutionRequest,
    wf::UnpauseActivityRequest,
    wf::UpdateActivityOptionsRequest,
    wf::UpdateNamespaceRequest,
    wf::UpdateScheduleRequest,
    wf::UpdateWorkflowExecutionRequest,
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

/// What an RPC needs. `None`: any authenticated caller (the namespace list
/// is filtered to what the caller may read).
enum Needs {
    Any,
    Namespace(Permission),
    /// Only the cell's operator: namespaces are created and deleted through
    /// the control plane, never by a tenant.
    Operator,
}

fn needs(rpc: &str) -> Needs {
    match rpc {
        "GetSystemInfo" | "GetClusterInfo" | "ListNamespaces" | "GetSearchAttributes" => Needs::Any,
        "RegisterNamespace" | "DeleteNamespace" => Needs::Operator,
        "UpdateNamespace" | "AddSearchAttributes" | "RemoveSearchAttributes" => {
            Needs::Namespace(Permission::Admin)
        }
        _ if rpc.starts_with("Describe")
            || rpc.starts_with("List")
            || rpc.starts_with("Count")
            || rpc.starts_with("Scan")
            || rpc.starts_with("GetWorkflowExecutionHistory") =>
        {
            Needs::Namespace(Permission::Read)
        }
        "QueryWorkflow" | "PollWorkflowExecutionUpdate" | "PollActivityExecution" => {
            Needs::Namespace(Permission::Read)
        }
        _ => Needs::Namespace(Permission::Write),
    }
}

/// Per-namespace request rate limits, as Temporal's `frontend.namespaceRPS`
/// (burst twice the rate, as there): one rate for every namespace, and any
/// namespace's own (a rate of 0 or less: unlimited).
pub struct RateLimits {
    every: Option<DefaultKeyedRateLimiter<String>>,
    own: HashMap<String, Option<DefaultDirectRateLimiter>>,
}

/// How long a call refused for its namespace's rate waits for its answer.
/// The SDKs wait a second or more before retrying a RESOURCE_EXHAUSTED, so
/// they lose nothing; a client that retries at once is then paced by how
/// many calls it keeps in flight rather than by how fast the cell can refuse
/// them, and its refusals stop costing the cell's cores (and the neighbours
/// on them) per call.
pub(crate) const REFUSAL_PAUSE: Duration = Duration::from_millis(100);

/// `refused`, once [`REFUSAL_PAUSE`] has passed.
pub(crate) async fn after_pause(refused: CellError) -> CellError {
    tokio::time::sleep(REFUSAL_PAUSE).await;
    refused
}

fn quota(rps: i64) -> Option<Quota> {
    let rate = NonZeroU32::new(u32::try_from(rps.max(0)).unwrap_or(u32::MAX))?;
    let burst = NonZeroU32::new(rate.get().saturating_mul(2))?;
    Some(Quota::per_second(rate).allow_burst(burst))
}

impl RateLimits {
    /// None when no namespace is limited.
    pub fn new(rps: &PerNamespace<i64>) -> Option<Self> {
        let limits = Self {
            every: quota(rps.default).map(RateLimiter::keyed),
            own: (rps.namespaces.iter())
                .map(|(namespace, &rps)| (namespace.clone(), quota(rps).map(RateLimiter::direct)))
                .collect(),
        };
        (limits.every.is_some() || limits.own.values().any(Option::is_some)).then_some(limits)
    }

    #[cfg(test)]
    pub(crate) fn per_second(rps: u32) -> Option<Self> {
        Self::new(&PerNamespace {
            default: rps.into(),
            namespaces: HashMap::new(),
        })
    }

    pub(crate) fn check(&self, namespace: &str) -> CellResult<()> {
        let allowed = match self.own.get(namespace) {
            Some(own) => own.as_ref().is_none_or(|limiter| limiter.check().is_ok()),
            None => (self.every.as_ref())
                .is_none_or(|limiter| limiter.check_key(&namespace.to_string()).is_ok()),
        };
        allowed
            .then_some(())
            .ok_or_else(|| CellError::ResourceExhausted {
                message: format!("namespace rate limit exceeded for namespace {namespace}"),
                cause: ResourceExhaustedCause::RpsLimit,
            })
    }
}

/// The frontend's access rules: whether calls must carry a caller, and the
/// rate limits.
#[derive(Default)]
pub struct AccessPolicy {
    /// A tenant auth layer runs in front: a call without a caller is refused.
    pub callers_required: bool,
    /// Shared with the `RateGateLayer` in front of the services.
    pub rate_limits: Option<Arc<RateLimits>>,
}

/// The RPC a request type belongs to: `…::StartWorkflowExecutionRequest` →
/// `StartWorkflowExecution` (every request type is its RPC's name plus
/// `Request`).
fn rpc_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    let name = full.rsplit("::").next().unwrap_or(full);
    name.strip_suffix("Request").unwrap_or(name)
}

/// Whether a call may run, and its RPC's name for the span.
pub(crate) struct Admitted {
    pub rpc: &'static str,
    pub verdict: CellResult<()>,
}

impl Frontend {
    /// Decides whether the call may run; a refusal is the call's answer.
    pub(crate) async fn admit<T: Namespaced>(&self, r: &Request<T>) -> Admitted {
        let rpc = rpc_name::<T>();
        Admitted {
            rpc,
            verdict: self.check(rpc, r).await,
        }
    }

    async fn check<T: Namespaced>(&self, rpc: &str, r: &Request<T>) -> CellResult<()> {
        let by_id;
        let namespace = match r.get_ref().target() {
            Target::Name(name) => Some(name),
            Target::Id(id) if !id.is_empty() => {
                by_id = self.namespaces.by_id(id).await?.name;
                Some(by_id.as_str())
            }
            Target::Id(_) | Target::None => None,
        };
        if self.access.callers_required {
            let caller = r.extensions().get::<Caller>().ok_or_else(|| {
                CellError::Unauthenticated("Request unauthorized: no credentials.".into())
            })?;
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

fn authorize(caller: &Caller, rpc: &str, namespace: Option<&str>) -> CellResult<()> {
    let denied = |why: String| Err(CellError::PermissionDenied(why));
    match needs(rpc) {
        Needs::Any => Ok(()),
        Needs::Operator if matches!(caller, Caller::Operator) => Ok(()),
        Needs::Operator => denied(format!(
            "Request unauthorized: {rpc} is done through the control plane."
        )),
        Needs::Namespace(needed) => {
            let Some(namespace) = namespace.filter(|n| !n.is_empty()) else {
                return Err(CellError::invalid("Namespace not set on request."));
            };
            match caller.permission(namespace) {
                Some(held) if held >= needed => Ok(()),
                // The same answer whether the namespace exists or not: a
                // tenant learns nothing about others' namespaces.
                _ => denied(format!(
                    "Request unauthorized: {} lacks {} permission on namespace {namespace} for {rpc}.",
                    caller.principal(),
                    needed.as_str()
                )),
            }
        }
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

    #[test]
    fn each_rpc_needs_its_permission_in_the_named_namespace() {
        let reader = tenant(&[("a.x", Permission::Read)]);
        assert!(authorize(&reader, "DescribeWorkflowExecution", Some("a.x")).is_ok());
        assert!(authorize(&reader, "GetWorkflowExecutionHistory", Some("a.x")).is_ok());
        assert!(matches!(
            authorize(&reader, "StartWorkflowExecution", Some("a.x")),
            Err(CellError::PermissionDenied(_))
        ));
        let writer = tenant(&[("a.x", Permission::Write)]);
        assert!(authorize(&writer, "StartWorkflowExecution", Some("a.x")).is_ok());
        assert!(authorize(&writer, "PollWorkflowTaskQueue", Some("a.x")).is_ok());
        assert!(matches!(
            authorize(&writer, "AddSearchAttributes", Some("a.x")),
            Err(CellError::PermissionDenied(_))
        ));
        assert!(matches!(
            authorize(&writer, "StartWorkflowExecution", Some("b.x")),
            Err(CellError::PermissionDenied(_))
        ));
        assert!(matches!(
            authorize(&writer, "StartWorkflowExecution", Some("")),
            Err(CellError::InvalidArgument(_))
        ));
        let admin = tenant(&[("a.x", Permission::Admin)]);
        assert!(authorize(&admin, "UpdateNamespace", Some("a.x")).is_ok());
        assert!(matches!(
            authorize(&admin, "RegisterNamespace", Some("c.x")),
            Err(CellError::PermissionDenied(_))
        ));
        assert!(authorize(&Caller::Operator, "RegisterNamespace", Some("c.x")).is_ok());
        assert!(authorize(&reader, "GetSystemInfo", None).is_ok());
    }

    #[test]
    fn the_rpc_is_named_after_its_request_type() {
        assert_eq!(
            rpc_name::<wf::StartWorkflowExecutionRequest>(),
            "StartWorkflowExecution"
        );
        assert_eq!(
            rpc_name::<op::AddSearchAttributesRequest>(),
            "AddSearchAttributes"
        );
        assert_eq!(
            rpc_name::<wf::GetWorkflowExecutionHistoryReverseRequest>(),
            "GetWorkflowExecutionHistoryReverse"
        );
    }

    #[test]
    fn a_namespace_over_its_rate_is_exhausted_and_others_are_not() {
        let limits = RateLimits::per_second(5).unwrap();
        for _ in 0..10 {
            limits.check("busy").unwrap();
        }
        assert!(matches!(
            limits.check("busy"),
            Err(CellError::ResourceExhausted {
                cause: ResourceExhaustedCause::RpsLimit,
                ..
            })
        ));
        assert!(limits.check("quiet").is_ok());
        assert!(RateLimits::per_second(0).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_comes_back_after_the_pause() {
        let before = tokio::time::Instant::now();
        let refused = after_pause(CellError::Unavailable("x".into())).await;
        assert!(before.elapsed() >= REFUSAL_PAUSE);
        assert!(matches!(refused, CellError::Unavailable(_)));
    }

    #[test]
    fn a_namespace_with_its_own_rate_is_held_to_it_alone() {
        let rps = PerNamespace {
            default: 5,
            namespaces: HashMap::from([("flood".to_string(), 1), ("free".to_string(), 0)]),
        };
        let limits = RateLimits::new(&rps).unwrap();
        // Its own burst (2), not the default's (10).
        for _ in 0..2 {
            limits.check("flood").unwrap();
        }
        assert!(limits.check("flood").is_err());
        // The default rate is whole for the others; "free" has none.
        for _ in 0..10 {
            limits.check("quiet").unwrap();
        }
        assert!(limits.check("quiet").is_err());
        for _ in 0..100 {
            limits.check("free").unwrap();
        }
        // Only one namespace limited: still limits.
        let one = PerNamespace {
            default: 0,
            namespaces: HashMap::from([("flood".to_string(), 1)]),
        };
        let limits = RateLimits::new(&one).unwrap();
        for _ in 0..100 {
            limits.check("other").unwrap();
        }
        let none = PerNamespace {
            default: 0,
            namespaces: HashMap::from([("free".to_string(), 0)]),
        };
        assert!(RateLimits::new(&none).is_none());
    }
}
