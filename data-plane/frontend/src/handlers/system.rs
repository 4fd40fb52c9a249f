//! Cluster-level RPCs: system and cluster info, task queue descriptions,
//! worker lifecycle.
use std::collections::HashMap;

use orrery_core::CellResult;
use orrery_core::matching::{TASK_KIND_ACTIVITY, TASK_KIND_WORKFLOW};
use orrery_core::time::duration;
use orrery_proto::api::enums::v1::TaskQueueType;
use orrery_proto::api::taskqueue::v1::{PollerInfo, TaskQueueStats, TaskQueueStatus};
use orrery_proto::api::workflowservice::v1::*;

use crate::{Frontend, validate};

/// The server version SDKs see: the Temporal release whose API we serve.
pub const SERVER_VERSION: &str = "1.32.0";

impl Frontend {
    pub(crate) fn system_info(&self) -> GetSystemInfoResponse {
        GetSystemInfoResponse {
            server_version: SERVER_VERSION.into(),
            capabilities: Some(get_system_info_response::Capabilities {
                signal_and_query_header: true,
                internal_error_differentiation: true,
                activity_failure_include_heartbeat: true,
                encoded_failure_attributes: true,
                upsert_memo: true,
                sdk_metadata: true,
                ..Default::default()
            }),
        }
    }

    pub(crate) fn cluster_info(&self) -> GetClusterInfoResponse {
        GetClusterInfoResponse {
            supported_clients: HashMap::from([
                ("temporal-cli".into(), ">=0.1.0".into()),
                ("temporal-go".into(), ">=1.0.0".into()),
                ("temporal-java".into(), ">=1.0.0".into()),
                ("temporal-typescript".into(), ">=0.1.0".into()),
                ("temporal-python".into(), ">=0.1.0".into()),
                ("temporal-server".into(), ">=1.0.0".into()),
            ]),
            server_version: SERVER_VERSION.into(),
            cluster_id: "orrery".into(),
            cluster_name: crate::namespaces::CLUSTER_NAME.into(),
            history_shard_count: self.shard_count,
            persistence_store: self.persistence.into(),
            visibility_store: self.persistence.into(),
            initial_failover_version: 1,
            failover_version_increment: 10,
            ..Default::default()
        }
    }

    // The legacy task-queue status is deprecated but still asked for by
    // `temporal task-queue describe --legacy-mode`.
    #[allow(deprecated)]
    pub(crate) async fn describe_task_queue(
        &self,
        req: DescribeTaskQueueRequest,
    ) -> CellResult<DescribeTaskQueueResponse> {
        let queue = validate::task_queue(req.task_queue.as_ref())?;
        let ns = self.namespaces.by_name(&req.namespace).await?;
        let kind = if req.task_queue_type == TaskQueueType::Activity as i32 {
            TASK_KIND_ACTIVITY
        } else {
            TASK_KIND_WORKFLOW
        };
        let pollers = self
            .matching
            .pollers(&ns.id, &queue, kind)
            .into_iter()
            .map(|p| PollerInfo {
                last_access_time: Some(prost_wkt_types::Timestamp::from(p.last_access)),
                identity: p.identity,
                rate_per_second: 100_000.0,
                ..Default::default()
            })
            .collect();
        let backlog = if req.report_stats || req.include_task_queue_status {
            Some(self.matching.backlog(&ns.id, &queue, kind).await?)
        } else {
            None
        };
        // Stats as the real server reports them: per priority key too, all
        // tasks having the default key (3) here.
        let stats = backlog
            .filter(|_| req.report_stats)
            .map(|b| TaskQueueStats {
                approximate_backlog_count: b.count as i64,
                approximate_backlog_age: b
                    .oldest_created_ms
                    .map(|created| duration((orrery_core::time::now_millis() - created).max(0))),
                ..Default::default()
            });
        Ok(DescribeTaskQueueResponse {
            pollers,
            task_queue_status: backlog.filter(|_| req.include_task_queue_status).map(|b| {
                TaskQueueStatus {
                    backlog_count_hint: b.count as i64,
                    rate_per_second: 100_000.0,
                    ..Default::default()
                }
            }),
            stats_by_priority_key: stats.map(|s| [(3, s)].into()).unwrap_or_default(),
            stats,
            ..Default::default()
        })
    }

    pub(crate) async fn shutdown_worker(
        &self,
        req: ShutdownWorkerRequest,
    ) -> CellResult<ShutdownWorkerResponse> {
        let ns = self.namespaces.by_name(&req.namespace).await?;
        if !req.sticky_task_queue.is_empty() {
            self.matching
                .release_pollers(&ns.id, &req.sticky_task_queue, TASK_KIND_WORKFLOW);
        }
        Ok(ShutdownWorkerResponse::default())
    }

    pub(crate) async fn record_worker_heartbeat(
        &self,
        req: RecordWorkerHeartbeatRequest,
    ) -> CellResult<RecordWorkerHeartbeatResponse> {
        self.namespaces.by_name(&req.namespace).await?;
        Ok(RecordWorkerHeartbeatResponse::default())
    }

    pub(crate) async fn delete_namespace(&self, namespace: &str) -> CellResult<String> {
        validate::required_id(namespace, "Namespace")?;
        Ok(self.namespaces.delete(namespace).await?.name)
    }
}
