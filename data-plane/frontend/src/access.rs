//! Who may make which call, and how often. Every served RPC passes `admit`
//! before its handler runs: the caller the cell's authentication layer put in
//! the request must hold the RPC's permission in the request's namespace, and
//! the namespace must be under its rate limit. Absent a tenant auth layer
//! (`orrery dev`, a cell without a control plane) only the rate limit applies.
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use orrery_core::caller::{Caller, Permission};
use orrery_core::dynamic_config::{DynamicConfig, PerNamespace};
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

/// Per-namespace request rate limits, as Temporal's `frontend.namespaceRPS`
/// (burst twice the rate, as there): one rate for every namespace, and any
/// namespace's own (a rate of 0 or less: unlimited).
pub struct RateLimits {
    every: Option<BoundedKeyed>,
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
            every: quota(rps.default).map(BoundedKeyed::new),
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
            None => (self.every.as_ref()).is_none_or(|limiter| limiter.check(namespace)),
        };
        allowed
            .then_some(())
            .ok_or_else(|| CellError::ResourceExhausted {
                message: format!("namespace rate limit exceeded for namespace {namespace}"),
                cause: ResourceExhaustedCause::RpsLimit,
            })
    }
}

/// Temporal's `frontend.namespaceRPS` keys namespaces by name; a cell with
/// no tenant auth (`orrery dev`) charges whatever a header names, so the
/// keyed limiters forget idle keys once they hold this many.
const KEYS_BEFORE_PRUNING: usize = 10_000;
/// A keyed rate limiter whose key map stays bounded: idle keys (whose
/// bucket has refilled, so forgetting them changes nothing) are dropped
/// whenever the map has doubled since the last pruning. A key is busy for
/// at most the time its burst takes to refill (two seconds), so the map
/// holds at most about twice the keys used in the last two seconds, and the
/// pruning's cost is spread over as many calls as it scans keys.
struct BoundedKeyed {
    limiter: DefaultKeyedRateLimiter<String>,
    prune_at: AtomicUsize,
}

impl BoundedKeyed {
    fn new(quota: Quota) -> Self {
        Self {
            limiter: RateLimiter::keyed(quota),
            prune_at: AtomicUsize::new(KEYS_BEFORE_PRUNING),
        }
    }

    fn check(&self, key: &str) -> bool {
        let allowed = self.limiter.check_key(&key.to_owned()).is_ok();
        if self.limiter.len() > self.prune_at.load(Ordering::Relaxed) {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
            let next = (self.limiter.len() * 2).max(KEYS_BEFORE_PRUNING);
            self.prune_at.store(next, Ordering::Relaxed);
        }
        allowed
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.limiter.len()
    }
}

/// Orrery's own (Temporal limits these RPCs only per frontend host, with
/// `frontend.rps`): each caller's rate for the RPCs that name no namespace
/// (GetSystemInfo, GetClusterInfo, ListNamespaces, GetSearchAttributes,
/// DescribeNamespace by id), burst twice the rate; 0 or less: unlimited.
pub const NAMESPACELESS_RPS_PER_CALLER: &str = "frontend.namespacelessRPSPerCaller";
pub const DEFAULT_NAMESPACELESS_RPS_PER_CALLER: i64 = 50;

/// Per-caller rate limits on the RPCs that name no namespace, keyed by the
/// caller's principal; those RPCs charge no namespace's budget, so without
/// this one credential could call them as fast as the cell answers.
pub struct CallerLimits {
    per_caller: BoundedKeyed,
}

impl CallerLimits {
    /// None when unlimited.
    pub fn new(rps: i64) -> Option<Self> {
        Some(Self {
            per_caller: BoundedKeyed::new(quota(rps)?),
        })
    }

    /// From [`NAMESPACELESS_RPS_PER_CALLER`] in the dynamic config.
    pub fn from_dynamic_config(config: &DynamicConfig) -> Option<Arc<Self>> {
        Self::new(config.i64(
            NAMESPACELESS_RPS_PER_CALLER,
            DEFAULT_NAMESPACELESS_RPS_PER_CALLER,
        ))
        .map(Arc::new)
    }

    /// The operator (the control plane) is not limited: it is ours.
    pub(crate) fn check(&self, caller: &Caller) -> CellResult<()> {
        let Caller::Tenant { principal, .. } = caller else {
            return Ok(());
        };
        if self.per_caller.check(principal) {
            return Ok(());
        }
        // The real server's answer for a limit that is not a namespace's.
        Err(CellError::ServiceExhausted {
            message: "service rate limit exceeded".into(),
            cause: ResourceExhaustedCause::RpsLimit,
        })
    }
}

/// Whether a call may run, and its RPC's name for the span.
pub(crate) struct Admitted {
    pub rpc: &'static str,
    pub verdict: CellResult<()>,
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
        Admitted {
            rpc: T::RPC.name,
            verdict: self.check(T::RPC, r).await,
        }
    }

    async fn check<T: Namespaced>(&self, rpc: Rpc, r: &Request<T>) -> CellResult<()> {
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
        let served = crate::workflow_service::WORKFLOW_RPCS
            .iter()
            .chain(crate::operator_service::OPERATOR_RPCS);
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

    fn caller(principal: &str) -> Caller {
        Caller::Tenant {
            principal: principal.into(),
            grants: Arc::new(HashMap::<String, Permission>::new()),
        }
    }

    #[test]
    fn a_caller_over_its_namespaceless_rate_is_exhausted_and_others_are_not() {
        let limits = CallerLimits::new(5).unwrap();
        // The burst is twice the rate.
        for _ in 0..10 {
            limits.check(&caller("user:flood")).unwrap();
        }
        let refused = limits.check(&caller("user:flood")).unwrap_err();
        assert!(matches!(
            &refused,
            CellError::ServiceExhausted {
                cause: ResourceExhaustedCause::RpsLimit,
                ..
            }
        ));
        let status = tonic::Status::from(refused);
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert_eq!(status.message(), "service rate limit exceeded");
        assert!(limits.check(&caller("user:quiet")).is_ok());
        // The operator is never limited; a rate of 0 means no limit.
        for _ in 0..100 {
            limits.check(&Caller::Operator).unwrap();
        }
        assert!(CallerLimits::new(0).is_none());
    }

    #[test]
    fn the_namespaceless_rate_is_read_from_its_key() {
        let config = DynamicConfig::parse(["frontend.namespacelessRPSPerCaller=1"]).unwrap();
        let limits = CallerLimits::from_dynamic_config(&config).unwrap();
        for _ in 0..2 {
            limits.check(&caller("user:a")).unwrap();
        }
        assert!(limits.check(&caller("user:a")).is_err());
        let off = DynamicConfig::parse(["frontend.namespacelessRPSPerCaller=0"]).unwrap();
        assert!(CallerLimits::from_dynamic_config(&off).is_none());
        // Unset: the default, limited.
        assert!(CallerLimits::from_dynamic_config(&DynamicConfig::default()).is_some());
    }

    #[test]
    fn keyed_limits_forget_idle_keys_so_many_callers_do_not_grow_them() {
        // A fast rate: each key's one spent token is back within a
        // microsecond, so every earlier key is idle when pruning runs.
        let keyed = BoundedKeyed::new(quota(1_000_000).unwrap());
        for i in 0..5 * KEYS_BEFORE_PRUNING {
            assert!(keyed.check(&format!("user:{i}")));
        }
        assert!(
            keyed.len() <= KEYS_BEFORE_PRUNING + 1,
            "{} keys held",
            keyed.len()
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
