//! A cell served by several processes ("members") on one PostgreSQL: the
//! wiring of membership (`orrery-membership`: who is alive, shard leases)
//! and peers (`orrery-peer`: routing, forwarding, internal calls) into the
//! roles. Where a call, a queue task or a started task belongs to another
//! member, it goes there:
//!
//! - public calls, by the `ForwardLayer` in front of the frontend, to the
//!   owner of the workflow's shard or of the polled task queue;
//! - new queue tasks and query tasks, by [`RoutedSink`] and
//!   [`MemberPeers::dispatch_query`], to the owner of their task queue;
//! - a polled task, by [`MemberPeers`], to the owner of its run, which
//!   starts it.
//!
//! Task queues are spread by rendezvous hashing over the live members,
//! without leases: a task handed out twice while two members briefly both
//! think they own its queue is started once, because starting it is a
//! fenced transition of its run.
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use orrery_core::matching::{QueueTask, TaskSink};
use orrery_core::token::{KIND_ACTIVITY, TokenSigner};
use orrery_core::{CellError, CellResult};
use orrery_frontend::Namespaces;
use orrery_history::HistoryEngine;
use orrery_matching::{Matching, QueryTask};
use orrery_membership::{Member, Membership};
use orrery_peer::internal::member::member_client::MemberClient;
use orrery_peer::internal::{
    AddTasksRequest, DispatchQueryRequest, Encoded, RecordTaskStartedRequest,
};
use orrery_peer::{PeerClients, RouteKey};
use orrery_proto::api::common::v1::WorkerVersionStamp;
use orrery_proto::api::workflowservice::v1::{
    PollActivityTaskQueueResponse, PollWorkflowTaskQueueResponse,
};
use prost::Message;
use tracing::Instrument;

/// How a process takes part in a cell of several.
#[derive(Clone, Debug)]
pub struct MemberSettings {
    /// `--member-id`: unique in the cell, stable across restarts.
    pub member_id: String,
    /// `--peer-addr`: `host:port` the other members reach this one at.
    pub peer_addr: String,
    /// `--peer-listen-addr`: where the peer listener binds.
    pub peer_listen_addr: SocketAddr,
    pub tls: orrery_peer::PeerTls,
    /// `--member-heartbeat-ms`.
    pub heartbeat_interval: Duration,
    /// `--member-ttl-ms`: silence after which a member's shards move.
    pub member_ttl: Duration,
}

/// The key a task queue is spread by.
pub(crate) fn queue_key(namespace_id: &str, queue: &str, kind: i32) -> String {
    format!("queue/{kind}/{namespace_id}/{queue}")
}

/// What every member-aware piece shares.
pub(crate) struct Cluster {
    pub(crate) membership: Arc<Membership>,
    pub(crate) clients: Arc<PeerClients>,
    shard_count: i32,
    namespaces: Arc<Namespaces>,
    signer: TokenSigner,
}

impl Cluster {
    pub(crate) fn new(
        membership: Arc<Membership>,
        clients: Arc<PeerClients>,
        shard_count: i32,
        namespaces: Arc<Namespaces>,
        signer: TokenSigner,
    ) -> Arc<Self> {
        Arc::new(Self {
            membership,
            clients,
            shard_count,
            namespaces,
            signer,
        })
    }

    /// The other member owning the run's shard; `None` when it is this
    /// member or nobody holds it now (this member then answers: its engine
    /// refuses with a retryable error if it does not own the shard).
    fn shard_member(&self, namespace_id: &str, workflow_id: &str) -> Option<Member> {
        let shard =
            orrery_history::shards::shard_id_of(self.shard_count, namespace_id, workflow_id);
        self.shard_owner_elsewhere(shard)
    }

    /// The other member holding `shard_id`; `None` when this one holds it
    /// or nobody does.
    fn shard_owner_elsewhere(&self, shard_id: i32) -> Option<Member> {
        let view = self.membership.view();
        view.shard_owner(shard_id)
            .filter(|m| !view.is_self(m))
            .cloned()
    }

    /// The other member owning a task queue; `None` when this one does.
    fn queue_member(&self, namespace_id: &str, queue: &str, kind: i32) -> Option<Member> {
        let view = self.membership.view();
        view.rendezvous_owner(&queue_key(namespace_id, queue, kind))
            .filter(|m| !view.is_self(m))
            .cloned()
    }

    /// Whether this member owns the task queue (or is alone).
    pub(crate) fn owns_queue(&self, namespace_id: &str, queue: &str, kind: i32) -> bool {
        self.queue_member(namespace_id, queue, kind).is_none()
    }

    /// Whether this member runs a schedule: spread like task queues.
    pub(crate) fn owns_schedule(&self, namespace_id: &str, schedule_id: &str) -> bool {
        let view = self.membership.view();
        view.rendezvous_owner(&format!("schedule/{namespace_id}/{schedule_id}"))
            .is_none_or(|m| view.is_self(m))
    }

    fn client(&self, member: &Member) -> CellResult<MemberClient<tonic::transport::Channel>> {
        self.clients
            .channel(&member.peer_addr)
            .map(MemberClient::new)
            .map_err(|s| CellError::Unavailable(s.message().to_string()))
    }

    /// The run a queue task acts on: a standalone activity lives in its
    /// namespace's activity keyspace.
    fn task_run(task: &QueueTask) -> (String, &str) {
        if task.standalone_activity {
            (
                orrery_history::activity_keyspace(&task.namespace_id),
                &task.workflow_id,
            )
        } else {
            (task.namespace_id.clone(), &task.workflow_id)
        }
    }
}

#[async_trait]
impl orrery_peer::Placement for Cluster {
    fn forwarding(&self) -> bool {
        self.membership.view().members.len() > 1
    }

    async fn owner(&self, key: &RouteKey) -> Option<Member> {
        match key {
            RouteKey::Any => None,
            RouteKey::Workflow {
                namespace,
                workflow_id,
            } => {
                let ns = self.namespaces.by_name(namespace).await.ok()?;
                self.shard_member(&ns.id, workflow_id)
            }
            RouteKey::Activity {
                namespace,
                activity_id,
            } => {
                let ns = self.namespaces.by_name(namespace).await.ok()?;
                self.shard_member(&orrery_history::activity_keyspace(&ns.id), activity_id)
            }
            // A forged token is refused by whichever member checks it: here.
            RouteKey::TaskToken { token, .. } => {
                let token = self.signer.verify(token).ok()?;
                if token.kind == KIND_ACTIVITY && token.workflow_id.is_empty() {
                    let keyspace = orrery_history::activity_keyspace(&token.namespace_id);
                    self.shard_member(&keyspace, &token.activity_id)
                } else {
                    self.shard_member(&token.namespace_id, &token.workflow_id)
                }
            }
            RouteKey::TaskQueue {
                namespace,
                task_queue,
                kind,
            } => {
                let ns = self.namespaces.by_name(namespace).await.ok()?;
                self.queue_member(&ns.id, task_queue, *kind)
            }
        }
    }

    fn unreachable(&self, _member: &Member) {
        self.membership.nudge();
    }
}

/// History's sink: tasks of queues this member owns go to its matching,
/// the others' to their owner (and are stored either way: an owner that
/// cannot be told reads them from its backlog).
pub(crate) struct RoutedSink {
    pub(crate) cluster: Arc<Cluster>,
    pub(crate) local: Arc<Matching>,
}

/// Attempts at telling a queue's owner about new tasks.
const ADD_ATTEMPTS: u32 = 3;

impl TaskSink for RoutedSink {
    fn tasks_added(&self, tasks: Vec<QueueTask>) {
        let mut local = Vec::new();
        let mut remote: std::collections::HashMap<String, (Member, Vec<QueueTask>)> =
            Default::default();
        for task in tasks {
            match self
                .cluster
                .queue_member(&task.namespace_id, &task.task_queue, task.kind)
            {
                None => local.push(task),
                Some(member) => remote
                    .entry(member.id.clone())
                    .or_insert_with(|| (member, Vec::new()))
                    .1
                    .push(task),
            }
        }
        if !local.is_empty() {
            self.local.tasks_added(local);
        }
        for (_, (member, tasks)) in remote {
            let cluster = self.cluster.clone();
            tokio::spawn(
                async move {
                    for attempt in 1..=ADD_ATTEMPTS {
                        let sent = match cluster.client(&member) {
                            Ok(mut client) => client
                                .add_tasks(AddTasksRequest {
                                    tasks: tasks.clone(),
                                })
                                .await
                                .map(|_| ())
                                .map_err(|s| s.to_string()),
                            Err(err) => Err(err.to_string()),
                        };
                        match sent {
                            Ok(()) => return,
                            Err(err) => {
                                tracing::warn!(member = %member.id, attempt, error = %err, "handing tasks to their queue's owner failed");
                                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
                            }
                        }
                    }
                    cluster.membership.nudge();
                }
                .instrument(tracing::debug_span!("add_tasks")),
            );
        }
    }
}

/// History's target halves for runs on another member's shard.
#[async_trait]
impl orrery_history::RemoteTargets for Cluster {
    async fn run(
        &self,
        shard_id: i32,
        request: orrery_history::TargetRequest,
    ) -> Option<CellResult<orrery_history::TargetOutcome>> {
        let member = self.shard_owner_elsewhere(shard_id)?;
        Some(
            async {
                let answer = self
                    .client(&member)?
                    .run_target(Encoded {
                        message: request.encode_to_vec(),
                    })
                    .await
                    .map_err(cell_error)?;
                orrery_history::TargetOutcome::decode(answer.into_inner().message.as_slice())
                    .map_err(CellError::internal)
            }
            .await,
        )
    }

    async fn scheduled(
        &self,
        shard_id: i32,
        action: orrery_history::ScheduledAction,
    ) -> Option<CellResult<String>> {
        let member = self.shard_owner_elsewhere(shard_id)?;
        Some(
            async {
                let answer = self
                    .client(&member)?
                    .run_scheduled(Encoded {
                        message: action.encode_to_vec(),
                    })
                    .await
                    .map_err(cell_error)?;
                String::from_utf8(answer.into_inner().message).map_err(CellError::internal)
            }
            .await,
        )
    }
}

/// The frontend's calls to other members.
pub(crate) struct MemberPeers {
    pub(crate) cluster: Arc<Cluster>,
}

/// A peer's refusal as the error the caller would have got locally.
fn cell_error(status: tonic::Status) -> CellError {
    let message = status.message().to_string();
    match status.code() {
        tonic::Code::NotFound => CellError::NotFound(message),
        tonic::Code::InvalidArgument => CellError::InvalidArgument(message),
        tonic::Code::FailedPrecondition => CellError::FailedPrecondition(message),
        tonic::Code::DeadlineExceeded => CellError::DeadlineExceeded(message),
        // Anything else is retried: the lease puts the task back.
        _ => CellError::Unavailable(message),
    }
}

#[async_trait]
impl orrery_frontend::Peers for MemberPeers {
    async fn record_workflow_task_started(
        &self,
        task: &QueueTask,
        namespace: &str,
        identity: &str,
        request_id: &str,
        worker_version: Option<WorkerVersionStamp>,
    ) -> Option<CellResult<PollWorkflowTaskQueueResponse>> {
        let (space, id) = Cluster::task_run(task);
        let member = self.cluster.shard_member(&space, id)?;
        Some(
            async {
                self.cluster
                    .client(&member)?
                    .record_workflow_task_started(RecordTaskStartedRequest {
                        task: Some(task.clone()),
                        namespace: namespace.into(),
                        identity: identity.into(),
                        request_id: request_id.into(),
                        worker_version,
                    })
                    .await
                    .map(tonic::Response::into_inner)
                    .map_err(cell_error)
            }
            .await,
        )
    }

    async fn record_activity_task_started(
        &self,
        task: &QueueTask,
        namespace: &str,
        identity: &str,
        request_id: &str,
    ) -> Option<CellResult<PollActivityTaskQueueResponse>> {
        let (space, id) = Cluster::task_run(task);
        let member = self.cluster.shard_member(&space, id)?;
        Some(
            async {
                self.cluster
                    .client(&member)?
                    .record_activity_task_started(RecordTaskStartedRequest {
                        task: Some(task.clone()),
                        namespace: namespace.into(),
                        identity: identity.into(),
                        request_id: request_id.into(),
                        worker_version: None,
                    })
                    .await
                    .map(tonic::Response::into_inner)
                    .map_err(cell_error)
            }
            .await,
        )
    }

    fn dispatch_query(&self, queue: &str, task: &QueryTask) -> bool {
        let kind = orrery_core::matching::TASK_KIND_WORKFLOW;
        let Some(member) = self.cluster.queue_member(&task.namespace_id, queue, kind) else {
            return false;
        };
        let request = DispatchQueryRequest {
            task_queue: queue.to_string(),
            id: task.id.clone(),
            namespace_id: task.namespace_id.clone(),
            workflow_id: task.workflow_id.clone(),
            run_id: task.run_id.clone(),
            query: Some(task.query.clone()),
        };
        let cluster = self.cluster.clone();
        // Unanswered, the query times out at its caller's deadline.
        tokio::spawn(async move {
            let sent = match cluster.client(&member) {
                Ok(mut client) => client
                    .dispatch_query(request)
                    .await
                    .map(|_| ())
                    .map_err(|s| s.to_string()),
                Err(err) => Err(err.to_string()),
            };
            if let Err(err) = sent {
                tracing::warn!(member = %member.id, error = %err, "handing a query to its queue's owner failed");
                cluster.membership.nudge();
            }
        });
        true
    }
}

/// What a member answers its peers on the peer listener.
pub(crate) struct MemberService {
    pub(crate) matching: Arc<Matching>,
    pub(crate) history: Arc<HistoryEngine>,
}

type Answer<T> = Result<tonic::Response<T>, tonic::Status>;

#[async_trait]
impl orrery_peer::internal::member::member_server::Member for MemberService {
    async fn add_tasks(
        &self,
        request: tonic::Request<AddTasksRequest>,
    ) -> Answer<orrery_peer::internal::Empty> {
        self.matching.tasks_added(request.into_inner().tasks);
        Ok(tonic::Response::new(Default::default()))
    }

    async fn dispatch_query(
        &self,
        request: tonic::Request<DispatchQueryRequest>,
    ) -> Answer<orrery_peer::internal::Empty> {
        let r = request.into_inner();
        let query = r
            .query
            .ok_or_else(|| tonic::Status::invalid_argument("a query task needs its query"))?;
        self.matching.dispatch_query(
            &r.task_queue,
            QueryTask {
                id: r.id,
                namespace_id: r.namespace_id,
                workflow_id: r.workflow_id,
                run_id: r.run_id,
                query,
            },
        );
        Ok(tonic::Response::new(Default::default()))
    }

    async fn record_workflow_task_started(
        &self,
        request: tonic::Request<RecordTaskStartedRequest>,
    ) -> Answer<PollWorkflowTaskQueueResponse> {
        let r = request.into_inner();
        let task = r
            .task
            .ok_or_else(|| tonic::Status::invalid_argument("no task"))?;
        self.history
            .record_workflow_task_started(
                &task,
                &r.namespace,
                &r.identity,
                &r.request_id,
                r.worker_version,
            )
            .await
            .map(tonic::Response::new)
            .map_err(tonic::Status::from)
    }

    async fn run_target(&self, request: tonic::Request<Encoded>) -> Answer<Encoded> {
        let target = orrery_history::TargetRequest::decode(request.into_inner().message.as_slice())
            .map_err(|_| tonic::Status::invalid_argument("an undecodable target request"))?;
        let outcome = self
            .history
            .run_target(target)
            .await
            .map_err(tonic::Status::from)?;
        Ok(tonic::Response::new(Encoded {
            message: outcome.encode_to_vec(),
        }))
    }

    async fn run_scheduled(&self, request: tonic::Request<Encoded>) -> Answer<Encoded> {
        let action =
            orrery_history::ScheduledAction::decode(request.into_inner().message.as_slice())
                .map_err(|_| tonic::Status::invalid_argument("an undecodable scheduled action"))?;
        let run_id = self
            .history
            .run_scheduled_action(action)
            .await
            .map_err(tonic::Status::from)?;
        Ok(tonic::Response::new(Encoded {
            message: run_id.into_bytes(),
        }))
    }

    async fn record_activity_task_started(
        &self,
        request: tonic::Request<RecordTaskStartedRequest>,
    ) -> Answer<PollActivityTaskQueueResponse> {
        let r = request.into_inner();
        let task = r
            .task
            .ok_or_else(|| tonic::Status::invalid_argument("no task"))?;
        self.history
            .record_activity_task_started(&task, &r.namespace, &r.identity, &r.request_id)
            .await
            .map(tonic::Response::new)
            .map_err(tonic::Status::from)
    }
}

/// Follows membership: queues this member no longer owns leave its memory
/// (their pollers answered empty, so they poll again and reach the owner).
pub(crate) fn spawn_queue_handover(cluster: Arc<Cluster>, matching: Arc<Matching>) {
    let mut views = cluster.membership.subscribe();
    tokio::spawn(
        async move {
            let mut members: Vec<String> = Vec::new();
            while views.changed().await.is_ok() {
                let now: Vec<String> = views
                    .borrow_and_update()
                    .members
                    .iter()
                    .map(|m| m.id.clone())
                    .collect();
                if now == members {
                    continue;
                }
                members = now;
                let dropped =
                    matching.retain_owned(|ns, queue, kind| cluster.owns_queue(ns, queue, kind));
                orrery_core::metrics::background_run("queue_handover", true);
                if dropped > 0 {
                    tracing::info!(dropped, "task queues handed to other members");
                }
            }
        }
        .instrument(tracing::info_span!("queue_handover")),
    );
}

/// What joining a cell of several sets up before the engine starts.
pub(crate) struct Joining {
    pub(crate) cluster: Arc<Cluster>,
    listener: tokio::net::TcpListener,
    credentials: Option<orrery_peer::PeerCredentials>,
}

/// What serving as a member takes, once the roles exist.
pub(crate) struct Serving {
    pub(crate) cluster: Arc<Cluster>,
    pub(crate) history: Arc<HistoryEngine>,
    listener: tokio::net::TcpListener,
    credentials: Option<orrery_peer::PeerCredentials>,
    matching: Arc<Matching>,
}

/// Checks the settings, reads the peer credentials and binds the peer
/// listener: everything that can fail before the engine starts.
pub(crate) async fn prepare(
    settings: &MemberSettings,
    database_url: &str,
    store: Arc<dyn orrery_persistence::CellStore>,
    shard_count: i32,
    namespaces: Arc<Namespaces>,
    signer: TokenSigner,
) -> CellResult<Joining> {
    if !database_url.starts_with("postgres") {
        return Err(CellError::invalid(
            "a cell of several members shares one PostgreSQL database; SQLite serves one process",
        ));
    }
    if settings.member_id.is_empty() || settings.peer_addr.is_empty() {
        return Err(CellError::invalid(
            "a member needs --member-id and --peer-addr",
        ));
    }
    if matches!(settings.tls, orrery_peer::PeerTls::InsecurePlaintext) {
        orrery_peer::tls::check_plaintext(settings.peer_listen_addr).map_err(CellError::invalid)?;
    }
    let credentials = settings.tls.load().map_err(CellError::invalid)?;
    let listener = tokio::net::TcpListener::bind(settings.peer_listen_addr)
        .await
        .map_err(|e| {
            CellError::Unavailable(format!("binding {}: {e}", settings.peer_listen_addr))
        })?;
    let mut config =
        orrery_membership::MembershipConfig::new(&settings.member_id, &settings.peer_addr);
    config.heartbeat_interval = settings.heartbeat_interval;
    config.member_ttl = settings.member_ttl;
    config.handover_patience = settings.member_ttl;
    let membership = Membership::new(store, config);
    let clients = PeerClients::new(credentials.clone());
    Ok(Joining {
        cluster: Cluster::new(membership, clients, shard_count, namespaces, signer),
        listener,
        credentials,
    })
}

impl Joining {
    /// The sink history hands new queue tasks to.
    pub(crate) fn sink(&self, local: Arc<Matching>) -> Arc<dyn TaskSink> {
        Arc::new(RoutedSink {
            cluster: self.cluster.clone(),
            local,
        })
    }

    /// Joins: takes this member's share of the shards, then keeps
    /// heartbeating and following membership.
    pub(crate) async fn join(
        self,
        history: Arc<HistoryEngine>,
        matching: Arc<Matching>,
    ) -> CellResult<Serving> {
        let membership = &self.cluster.membership;
        membership.join(history.as_ref()).await?;
        membership.spawn(history.clone());
        history.set_remote_targets(self.cluster.clone());
        spawn_queue_handover(self.cluster.clone(), matching.clone());
        tracing::info!(
            member = %membership.member_id(),
            shards = history.owned_shards().len(),
            "joined the cell"
        );
        Ok(Serving {
            cluster: self.cluster,
            history,
            listener: self.listener,
            credentials: self.credentials,
            matching,
        })
    }
}

type ServeFuture = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<(), tonic::transport::Error>> + Send>,
>;

impl Serving {
    /// The layer in front of the frontend that sends calls to their owner.
    pub(crate) fn forward_layer(&self) -> CellResult<orrery_peer::ForwardLayer> {
        let pool = orrery_http_api::descriptor_pool().map_err(CellError::Internal)?;
        let routes = orrery_peer::Routes::from_pool(&pool).map_err(CellError::Internal)?;
        Ok(orrery_peer::ForwardLayer::new(
            routes,
            self.cluster.clone(),
            self.cluster.clients.clone(),
        ))
    }

    /// The peer listener: forwarded calls (their caller as the forwarding
    /// member vouches) and the internal Member service, mutual TLS only.
    pub(crate) fn serve_peers(
        self,
        frontend: &Arc<orrery_frontend::Frontend>,
        stopped: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> CellResult<ServeFuture> {
        let mut builder = tonic::transport::Server::builder();
        if let Some(credentials) = &self.credentials {
            builder = builder
                .tls_config(credentials.server())
                .map_err(|e| CellError::invalid(format!("the peer certificate: {e}")))?;
        }
        let service = MemberService {
            matching: self.matching.clone(),
            history: self.history.clone(),
        };
        let router = builder
            .layer(crate::status_mapping::layer())
            .layer(orrery_peer::PeerCallerLayer)
            .add_service(frontend.workflow_service())
            .add_service(frontend.operator_service())
            .add_service(orrery_peer::internal::member::member_server::MemberServer::new(service));
        Ok(Box::pin(router.serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(self.listener).with_nodelay(Some(true)),
            stopped,
        )))
    }
}
