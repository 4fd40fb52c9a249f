use orrery_core::caller::Caller;
use orrery_core::time::duration_millis;
use orrery_core::{CellError, CellResult};
use orrery_proto::api::namespace::v1::namespace_info;
use orrery_proto::api::workflowservice::v1::*;

use crate::handlers::archival::ArchivalRequest;
use crate::namespaces::{Namespace, NewNamespace};
use crate::{Frontend, validate};

/// What this server can do, whatever a namespace was created with: a
/// capability belongs to the server version, not to the stored namespace.
fn capabilities() -> namespace_info::Capabilities {
    namespace_info::Capabilities {
        eager_workflow_start: true,
        standalone_activities: true,
        sync_update: true,
        async_update: true,
        ..Default::default()
    }
}

fn describe(ns: Namespace) -> DescribeNamespaceResponse {
    let mut detail = ns.detail;
    if let Some(info) = detail.namespace_info.as_mut() {
        info.capabilities = Some(capabilities());
    }
    detail
}

impl Frontend {
    pub(crate) async fn register_namespace(
        &self,
        req: RegisterNamespaceRequest,
    ) -> CellResult<RegisterNamespaceResponse> {
        validate::required_id(&req.namespace, "Namespace")?;
        validate::non_negative(
            req.workflow_execution_retention_period.as_ref(),
            "WorkflowExecutionRetentionPeriod",
        )?;
        let retention = duration_millis(req.workflow_execution_retention_period.as_ref());
        if retention <= 0 {
            return Err(CellError::invalid(
                "A valid retention period is not set on request.",
            ));
        }
        let history_archival = self
            .archival_setting(
                ArchivalRequest {
                    field: "HistoryArchivalUri",
                    state: req.history_archival_state,
                    uri: &req.history_archival_uri,
                },
                None,
            )
            .await?;
        let visibility_archival = self
            .archival_setting(
                ArchivalRequest {
                    field: "VisibilityArchivalUri",
                    state: req.visibility_archival_state,
                    uri: &req.visibility_archival_uri,
                },
                None,
            )
            .await?;
        self.namespaces
            .create(NewNamespace {
                name: req.namespace,
                description: req.description,
                owner_email: req.owner_email,
                retention_ms: retention,
                data: req.data,
                history_archival,
                visibility_archival,
            })
            .await?;
        Ok(RegisterNamespaceResponse::default())
    }

    pub(crate) async fn describe_namespace(
        &self,
        req: DescribeNamespaceRequest,
    ) -> CellResult<DescribeNamespaceResponse> {
        let ns = match (req.namespace.is_empty(), req.id.is_empty()) {
            (false, _) => self.namespaces.by_name(&req.namespace).await?,
            (true, false) => self.namespaces.by_id(&req.id).await?,
            (true, true) => return Err(CellError::invalid("Namespace is not set on request.")),
        };
        Ok(describe(ns))
    }

    pub(crate) async fn list_namespaces(
        &self,
        _req: ListNamespacesRequest,
        caller: Option<Caller>,
    ) -> CellResult<ListNamespacesResponse> {
        Ok(ListNamespacesResponse {
            namespaces: self
                .namespaces
                .list()
                .await?
                .into_iter()
                // A tenant sees only the namespaces it holds a permission in.
                .filter(|ns| {
                    caller
                        .as_ref()
                        .is_none_or(|c| c.permission(&ns.name).is_some())
                })
                .map(describe)
                .collect(),
            next_page_token: Vec::new(),
        })
    }

    pub(crate) async fn update_namespace(
        &self,
        req: UpdateNamespaceRequest,
    ) -> CellResult<UpdateNamespaceResponse> {
        validate::required_id(&req.namespace, "Namespace")?;
        if let Some(config) = &req.config {
            validate::non_negative(
                config.workflow_execution_retention_ttl.as_ref(),
                "WorkflowExecutionRetentionTtl",
            )?;
        }
        // Archival settings are checked (a test write) before the update,
        // against the stored ones.
        let mut archival = None;
        if let Some(new) = &req.config {
            let current = self.namespaces.by_name(&req.namespace).await?;
            let stored = current.detail.config.clone().unwrap_or_default();
            let history = self
                .archival_setting(
                    ArchivalRequest {
                        field: "HistoryArchivalUri",
                        state: new.history_archival_state,
                        uri: &new.history_archival_uri,
                    },
                    Some((stored.history_archival_state, &stored.history_archival_uri)),
                )
                .await?;
            let visibility = self
                .archival_setting(
                    ArchivalRequest {
                        field: "VisibilityArchivalUri",
                        state: new.visibility_archival_state,
                        uri: &new.visibility_archival_uri,
                    },
                    Some((
                        stored.visibility_archival_state,
                        &stored.visibility_archival_uri,
                    )),
                )
                .await?;
            archival = Some((history, visibility));
        }
        let ns = self
            .namespaces
            .update(&req.namespace, |detail| {
                let info = detail.namespace_info.get_or_insert_with(Default::default);
                if let Some(update) = &req.update_info {
                    if !update.description.is_empty() {
                        info.description = update.description.clone();
                    }
                    if !update.owner_email.is_empty() {
                        info.owner_email = update.owner_email.clone();
                    }
                    for (k, v) in &update.data {
                        info.data.insert(k.clone(), v.clone());
                    }
                }
                if let Some(new) = &req.config {
                    let config = detail.config.get_or_insert_with(Default::default);
                    if duration_millis(new.workflow_execution_retention_ttl.as_ref()) > 0 {
                        config.workflow_execution_retention_ttl =
                            new.workflow_execution_retention_ttl;
                    }
                    if let Some(((hs, hu), (vs, vu))) = archival.take() {
                        config.history_archival_state = hs as i32;
                        config.history_archival_uri = hu;
                        config.visibility_archival_state = vs as i32;
                        config.visibility_archival_uri = vu;
                    }
                    for (k, v) in &new.custom_search_attribute_aliases {
                        config
                            .custom_search_attribute_aliases
                            .insert(k.clone(), v.clone());
                    }
                }
                Ok(())
            })
            .await?;
        let detail = describe(ns);
        Ok(UpdateNamespaceResponse {
            namespace_info: detail.namespace_info,
            config: detail.config,
            replication_config: detail.replication_config,
            failover_version: 0,
            is_global_namespace: false,
        })
    }
}
