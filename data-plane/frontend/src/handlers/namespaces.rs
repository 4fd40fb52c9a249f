use orrery_core::caller::{Caller, Permission};
use orrery_core::time::duration_millis;
use orrery_core::{CellError, CellResult};
use orrery_proto::api::namespace::v1::namespace_info;
use orrery_proto::api::workflowservice::v1::*;
use prost::Message;

use crate::handlers::archival::ArchivalRequest;
use crate::namespaces::{LIST_SCAN_LIMIT, Namespace, NewNamespace};
use crate::{Frontend, validate};

/// ListNamespaces' page size when the request names none, as Temporal's.
const DEFAULT_LIST_PAGE_SIZE: usize = 100;

/// The retention a tenant may set through the API: the control plane's
/// range (its `retention_days`, 1–90), so a gRPC UpdateNamespace cannot
/// keep a tenant's runs longer than the console allows. The operator and a
/// cell without tenant auth keep Temporal's rule (any positive period).
const TENANT_MIN_RETENTION_DAYS: i64 = 1;
const TENANT_MAX_RETENTION_DAYS: i64 = 90;
const DAY_MS: i64 = 24 * 3600 * 1000;

/// Where the next ListNamespaces page starts: after this name.
#[derive(Clone, PartialEq, Message)]
struct ListNamespacesToken {
    #[prost(string, tag = "1")]
    after: String,
}

fn is_tenant(caller: Option<&Caller>) -> bool {
    matches!(caller, Some(Caller::Tenant { .. }))
}

/// A tenant's retention must be within the control plane's range.
fn tenant_retention(caller: Option<&Caller>, retention_ms: i64, field: &str) -> CellResult<()> {
    let range = TENANT_MIN_RETENTION_DAYS * DAY_MS..=TENANT_MAX_RETENTION_DAYS * DAY_MS;
    if is_tenant(caller) && !range.contains(&retention_ms) {
        return Err(CellError::invalid(format!(
            "{field} must be between {TENANT_MIN_RETENTION_DAYS} and {TENANT_MAX_RETENTION_DAYS} days."
        )));
    }
    Ok(())
}

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

/// A by-id lookup's outcome as `caller` may learn it: a tenant gets the same
/// refusal for an id that does not exist and for one of a namespace it holds
/// no permission in, worded as a namespace it cannot see by name, with the
/// id in place of the name.
fn as_seen_by(
    caller: Option<&Caller>,
    id: &str,
    rpc: &str,
    found: CellResult<String>,
) -> CellResult<String> {
    let Some(tenant @ Caller::Tenant { .. }) = caller else {
        return found;
    };
    match found {
        Ok(name) if tenant.permission(&name).is_some() => Ok(name),
        Ok(_) | Err(CellError::NamespaceNotFound(_)) => Err(CellError::PermissionDenied(format!(
            "Request unauthorized: {} lacks {} permission on namespace {id} for {rpc}.",
            tenant.principal(),
            Permission::Read.as_str()
        ))),
        Err(other) => Err(other),
    }
}

impl Frontend {
    pub(crate) async fn register_namespace(
        &self,
        req: RegisterNamespaceRequest,
        caller: Option<Caller>,
    ) -> CellResult<RegisterNamespaceResponse> {
        let caller = caller.as_ref();
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
        tenant_retention(caller, retention, "WorkflowExecutionRetentionPeriod")?;
        validate::namespace_data(&req.data)?;
        let history_archival = self
            .archival_setting(
                ArchivalRequest {
                    field: "HistoryArchivalUri",
                    state: req.history_archival_state,
                    uri: &req.history_archival_uri,
                },
                None,
                &req.namespace,
                caller,
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
                &req.namespace,
                caller,
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

    /// ListNamespaces, one page at a time in name order (Temporal's
    /// default page size; at most [`LIST_SCAN_LIMIT`]); a tenant sees only
    /// the namespaces it holds a permission in.
    pub(crate) async fn list_namespaces(
        &self,
        req: ListNamespacesRequest,
        caller: Option<Caller>,
    ) -> CellResult<ListNamespacesResponse> {
        let size = match usize::try_from(req.page_size) {
            Ok(0) | Err(_) => DEFAULT_LIST_PAGE_SIZE,
            Ok(n) => n.min(LIST_SCAN_LIMIT),
        };
        let after = if req.next_page_token.is_empty() {
            String::new()
        } else {
            ListNamespacesToken::decode(req.next_page_token.as_slice())
                .map_err(|_| CellError::invalid("Invalid NextPageToken."))?
                .after
        };
        let visible = |name: &str| caller.as_ref().is_none_or(|c| c.permission(name).is_some());
        let (page, next) = self.namespaces.page(&after, size, visible).await?;
        Ok(ListNamespacesResponse {
            namespaces: page.into_iter().map(describe).collect(),
            next_page_token: next
                .map(|after| ListNamespacesToken { after }.encode_to_vec())
                .unwrap_or_default(),
        })
    }

    /// The name of the namespace with id `id`, for access checks of calls
    /// that name it by id. A tenant learns nothing from an id: one that
    /// does not exist and one of a namespace it holds no permission in are
    /// refused alike, in the words a namespace it cannot see by name gets,
    /// with the id in place of the name.
    pub(crate) async fn namespace_name_by_id(
        &self,
        id: &str,
        caller: Option<&Caller>,
        rpc: &str,
    ) -> CellResult<String> {
        let found = self.namespaces.by_id(id).await.map(|ns| ns.name);
        as_seen_by(caller, id, rpc, found)
    }

    pub(crate) async fn update_namespace(
        &self,
        req: UpdateNamespaceRequest,
        caller: Option<Caller>,
    ) -> CellResult<UpdateNamespaceResponse> {
        let caller = caller.as_ref();
        validate::required_id(&req.namespace, "Namespace")?;
        if let Some(config) = &req.config {
            let ttl = config.workflow_execution_retention_ttl.as_ref();
            validate::non_negative(ttl, "WorkflowExecutionRetentionTtl")?;
            if validate::duration_set(ttl) {
                tenant_retention(
                    caller,
                    duration_millis(ttl),
                    "WorkflowExecutionRetentionTtl",
                )?;
            }
        }
        if let Some(update) = &req.update_info {
            validate::namespace_data(&update.data)?;
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
                    &req.namespace,
                    caller,
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
                    &req.namespace,
                    caller,
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
                    // Merged into what is stored, the map must still be
                    // within bounds: updates cannot grow it a step at a time.
                    validate::namespace_data(&info.data)?;
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use super::*;

    fn tenant(grants: &[&str]) -> Caller {
        Caller::Tenant {
            principal: "user:u1".into(),
            grants: Arc::new(
                grants
                    .iter()
                    .map(|n| (n.to_string(), Permission::Read))
                    .collect::<HashMap<_, _>>(),
            ),
        }
    }

    #[test]
    fn a_tenant_cannot_tell_a_missing_id_from_another_tenants() {
        let alpha = tenant(&["a.x"]);
        let missing = as_seen_by(
            Some(&alpha),
            "id-1",
            "DescribeNamespace",
            Err(CellError::NamespaceNotFound("id-1".into())),
        )
        .unwrap_err();
        let others =
            as_seen_by(Some(&alpha), "id-1", "DescribeNamespace", Ok("b.x".into())).unwrap_err();
        assert!(
            matches!(missing, CellError::PermissionDenied(_)),
            "{missing}"
        );
        assert_eq!(missing.to_string(), others.to_string());
        assert!(!others.to_string().contains("b.x"), "{others}");
        // Its own namespace by id, and the operator or a cell without
        // tenant auth, as before.
        let own = as_seen_by(Some(&alpha), "id-2", "DescribeNamespace", Ok("a.x".into()));
        assert_eq!(own.unwrap(), "a.x");
        for caller in [Some(&Caller::Operator), None] {
            let err = as_seen_by(
                caller,
                "id-1",
                "DescribeNamespace",
                Err(CellError::NamespaceNotFound("id-1".into())),
            )
            .unwrap_err();
            assert!(matches!(err, CellError::NamespaceNotFound(_)), "{err}");
        }
        // Other failures are not hidden (they say nothing about the id).
        let err = as_seen_by(
            Some(&alpha),
            "id-1",
            "DescribeNamespace",
            Err(CellError::Unavailable("db".into())),
        )
        .unwrap_err();
        assert!(matches!(err, CellError::Unavailable(_)));
    }

    #[test]
    fn a_tenants_retention_stays_within_the_control_planes_range() {
        let alpha = tenant(&["a.x"]);
        let field = "WorkflowExecutionRetentionTtl";
        for days in [1, 30, 90] {
            tenant_retention(Some(&alpha), days * DAY_MS, field).unwrap();
        }
        for ms in [DAY_MS - 1, 91 * DAY_MS, 3650 * DAY_MS] {
            let err = tenant_retention(Some(&alpha), ms, field).unwrap_err();
            assert!(matches!(err, CellError::InvalidArgument(_)));
            assert!(err.to_string().starts_with(field), "{err}");
        }
        // The operator and a cell without tenant auth keep Temporal's rule.
        tenant_retention(Some(&Caller::Operator), 3650 * DAY_MS, field).unwrap();
        tenant_retention(None, 1000, field).unwrap();
    }
}
