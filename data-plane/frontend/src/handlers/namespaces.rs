use std::collections::HashMap;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use orrery_core::caller::{Caller, Permission};
use orrery_core::time::duration_millis;
use orrery_core::{CellError, CellResult};
use orrery_proto::api::namespace::v1::namespace_info;
use orrery_proto::api::workflowservice::v1::*;
use prost::Message;

use crate::handlers::archival::ArchivalRequest;
use crate::namespaces::{LIST_SCAN_LIMIT, Namespace, Namespaces, NewNamespace};
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

/// ListNamespaces page tokens, sealed. The next page starts after the last
/// row the store gave, and that row is often a namespace the caller may not
/// see (the page stops at [`LIST_SCAN_LIMIT`] rows read, however few were
/// visible): another tenant's name. Carrying only the last *visible* name
/// would either re-read those invisible rows on every call or never get past
/// a run of 1,000 of them; so the token carries the exact cursor, encrypted
/// and authenticated (AES-256-GCM under a key derived from the cell's
/// secret, a random nonce per token, the caller's principal as associated
/// data). A client learns no name from it, cannot point it at a name of its
/// choosing, and cannot use another caller's; anything that does not open
/// is INVALID_ARGUMENT, as an unreadable token on the real server. Tokens
/// stay valid across restarts while the cell's secret does.
struct PageTokens(LessSafeKey);

/// What the key of [`PageTokens`] is derived for (see `TokenSigner::derive_key`).
const PAGE_TOKEN_KEY_PURPOSE: &str = "ListNamespaces next_page_token v1";
/// The first byte of a token, so the format can change without ambiguity.
const PAGE_TOKEN_VERSION: u8 = 1;

impl PageTokens {
    fn new(key: [u8; 32]) -> Self {
        let key = UnboundKey::new(&AES_256_GCM, &key).expect("AES-256 takes a 32-byte key");
        Self(LessSafeKey::new(key))
    }

    fn seal(&self, caller: Option<&Caller>, after: String) -> CellResult<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| CellError::internal("no randomness"))?;
        let mut body = ListNamespacesToken { after }.encode_to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(principal(caller).as_bytes()),
                &mut body,
            )
            .map_err(|_| CellError::internal("page token sealing failed"))?;
        let mut token = Vec::with_capacity(1 + NONCE_LEN + body.len());
        token.push(PAGE_TOKEN_VERSION);
        token.extend_from_slice(&nonce);
        token.extend_from_slice(&body);
        Ok(token)
    }

    /// The name the next page starts after; INVALID_ARGUMENT for a token
    /// this cell did not seal for this caller, or one altered since.
    fn open(&self, caller: Option<&Caller>, token: &[u8]) -> CellResult<String> {
        let invalid = || CellError::invalid("Invalid NextPageToken.");
        let Some((&PAGE_TOKEN_VERSION, rest)) = token.split_first() else {
            return Err(invalid());
        };
        if rest.len() < NONCE_LEN {
            return Err(invalid());
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| invalid())?;
        let mut sealed = sealed.to_vec();
        let body = self
            .0
            .open_in_place(nonce, Aad::from(principal(caller).as_bytes()), &mut sealed)
            .map_err(|_| invalid())?;
        Ok(ListNamespacesToken::decode(&*body)
            .map_err(|_| invalid())?
            .after)
    }
}

/// Who a page token is sealed for: a cell without tenant auth has no
/// callers to tell apart.
fn principal(caller: Option<&Caller>) -> &str {
    caller.map_or("", Caller::principal)
}

/// One ListNamespaces page as `caller` may see it.
async fn list_page(
    namespaces: &Namespaces,
    tokens: &PageTokens,
    req: ListNamespacesRequest,
    caller: Option<&Caller>,
) -> CellResult<ListNamespacesResponse> {
    let size = match usize::try_from(req.page_size) {
        Ok(0) | Err(_) => DEFAULT_LIST_PAGE_SIZE,
        Ok(n) => n.min(LIST_SCAN_LIMIT),
    };
    let after = if req.next_page_token.is_empty() {
        String::new()
    } else {
        tokens.open(caller, &req.next_page_token)?
    };
    let visible = |name: &str| caller.is_none_or(|c| c.permission(name).is_some());
    let (page, next) = namespaces.page(&after, size, visible).await?;
    Ok(ListNamespacesResponse {
        namespaces: page.into_iter().map(describe).collect(),
        next_page_token: match next {
            Some(after) => tokens.seal(caller, after)?,
            None => Vec::new(),
        },
    })
}

/// The most custom search attribute aliases a namespace keeps: one per
/// custom attribute it may have.
fn max_search_attribute_aliases() -> usize {
    orrery_visibility::SaType::ALL
        .into_iter()
        .map(crate::handlers::visibility::custom_limit)
        .sum()
}

/// The real server's merge of UpdateNamespace's aliases into the stored
/// ones (`upsertCustomSearchAttributesAliases`): an empty alias removes its
/// field's, a field without one gets it, and a field that has one already is
/// refused. The merged map must still be within bounds, so updates cannot
/// grow it a step at a time.
fn merge_search_attribute_aliases(
    stored: &mut HashMap<String, String>,
    upsert: &HashMap<String, String>,
) -> CellResult<()> {
    let mut merged = stored.clone();
    for (field, alias) in upsert {
        if alias.is_empty() {
            merged.remove(field);
        } else if !stored.contains_key(field) {
            merged.insert(field.clone(), alias.clone());
        } else {
            return Err(CellError::invalid(
                "Custom search attribute field name already allocated.",
            ));
        }
    }
    validate::search_attribute_aliases(&merged, max_search_attribute_aliases())?;
    *stored = merged;
    Ok(())
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
        validate::namespace_info(&req.description, &req.owner_email)?;
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
    /// the namespaces it holds a permission in, and learns nothing of the
    /// others from its page tokens ([`PageTokens`]).
    pub(crate) async fn list_namespaces(
        &self,
        req: ListNamespacesRequest,
        caller: Option<Caller>,
    ) -> CellResult<ListNamespacesResponse> {
        let tokens = PageTokens::new(self.history.signer().derive_key(PAGE_TOKEN_KEY_PURPOSE));
        list_page(&self.namespaces, &tokens, req, caller.as_ref()).await
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
            validate::namespace_info(&update.description, &update.owner_email)?;
            validate::namespace_data(&update.data)?;
        }
        if let Some(config) = &req.config {
            validate::search_attribute_aliases(
                &config.custom_search_attribute_aliases,
                max_search_attribute_aliases(),
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
                    merge_search_attribute_aliases(
                        &mut config.custom_search_attribute_aliases,
                        &new.custom_search_attribute_aliases,
                    )?;
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

    fn ids(page: &ListNamespacesResponse) -> Vec<String> {
        page.namespaces
            .iter()
            .map(|n| n.namespace_info.clone().unwrap_or_default().name)
            .collect()
    }

    fn request(page_size: i32, next_page_token: Vec<u8>) -> ListNamespacesRequest {
        ListNamespacesRequest {
            page_size,
            next_page_token,
            ..Default::default()
        }
    }

    /// A tenant with two namespaces on a cell where another tenant has
    /// 2,500 between them: it pages past them all, and no token it gets
    /// names one of them (a call stops after 1,000 rows read, so the next
    /// page starts after a name the tenant may not see).
    #[tokio::test]
    async fn page_tokens_name_nothing_the_caller_cannot_see() {
        let others: Vec<String> = (0..2500).map(|i| format!("beta-{i:04}.b")).collect();
        let mut names = others.clone();
        names.extend(["alpha.a".to_string(), "gamma.a".to_string()]);
        let (namespaces, _) = crate::namespaces::tests::registry(names).await;
        let tokens = PageTokens::new([7; 32]);
        let alpha = tenant(&["alpha.a", "gamma.a"]);
        let mut seen = Vec::new();
        let mut token = Vec::new();
        let mut calls = 0;
        loop {
            let page = list_page(&namespaces, &tokens, request(1, token), Some(&alpha))
                .await
                .unwrap();
            seen.extend(ids(&page));
            calls += 1;
            token = page.next_page_token;
            if token.is_empty() {
                break;
            }
            // Neither the bytes nor any decoding of them name another's.
            let text = String::from_utf8_lossy(&token);
            assert!(!text.contains("beta-"), "{text}");
            if let Ok(plain) = ListNamespacesToken::decode(token.as_slice()) {
                assert!(!plain.after.starts_with("beta-"), "{}", plain.after);
            }
            // The cursor behind it may well be another's: that is why it is sealed.
            let cursor = tokens.open(Some(&alpha), &token).unwrap();
            assert!(
                cursor == "alpha.a" || cursor.starts_with("beta-"),
                "{cursor}"
            );
            assert!(calls < 10, "no progress");
        }
        assert_eq!(seen, ["alpha.a", "gamma.a"]);
        assert!(calls >= 3, "the 2,500 rows take more than one call");
    }

    #[tokio::test]
    async fn a_forged_altered_or_borrowed_page_token_is_refused() {
        let names = (0..5).map(|i| format!("ns-{i}"));
        let (namespaces, _) = crate::namespaces::tests::registry(names).await;
        let tokens = PageTokens::new([7; 32]);
        let alpha = tenant(&["ns-0", "ns-1", "ns-2", "ns-3", "ns-4"]);
        let first = list_page(&namespaces, &tokens, request(2, Vec::new()), Some(&alpha))
            .await
            .unwrap();
        assert_eq!(ids(&first), ["ns-0", "ns-1"]);
        let token = first.next_page_token;
        let second = list_page(
            &namespaces,
            &tokens,
            request(2, token.clone()),
            Some(&alpha),
        )
        .await
        .unwrap();
        assert_eq!(ids(&second), ["ns-2", "ns-3"]);

        let mut refused = Vec::new();
        // A token written by the client, as the plain cursor used to be.
        refused.push(
            ListNamespacesToken {
                after: "ns-2".into(),
            }
            .encode_to_vec(),
        );
        // Any byte of a real one changed, or the token cut short.
        for i in 0..token.len() {
            let mut altered = token.clone();
            altered[i] ^= 0x01;
            refused.push(altered);
        }
        refused.push(token[..token.len() - 1].to_vec());
        refused.push(vec![PAGE_TOKEN_VERSION]);
        for bad in refused {
            let err = list_page(&namespaces, &tokens, request(2, bad), Some(&alpha))
                .await
                .unwrap_err();
            assert!(matches!(err, CellError::InvalidArgument(_)), "{err}");
            assert_eq!(err.to_string(), "Invalid NextPageToken.");
        }
        // Another caller's token, or another cell's key.
        let beta = Caller::Tenant {
            principal: "user:u2".into(),
            grants: Arc::new(HashMap::from([("ns-2".to_string(), Permission::Read)])),
        };
        for (tokens, caller) in [
            (&tokens, Some(&beta)),
            (&PageTokens::new([8; 32]), Some(&alpha)),
        ] {
            let err = list_page(&namespaces, tokens, request(2, token.clone()), caller)
                .await
                .unwrap_err();
            assert!(matches!(err, CellError::InvalidArgument(_)), "{err}");
        }
    }

    #[test]
    fn aliases_merge_as_on_the_real_server_and_stay_bounded() {
        let mut stored = HashMap::from([("Keyword01".to_string(), "Customer".to_string())]);
        let upsert = HashMap::from([
            ("Keyword01".to_string(), String::new()),
            ("Int01".to_string(), "Priority".to_string()),
        ]);
        merge_search_attribute_aliases(&mut stored, &upsert).unwrap();
        assert_eq!(
            stored,
            HashMap::from([("Int01".to_string(), "Priority".to_string())])
        );
        // A field that has an alias keeps it; nothing of the request is stored.
        let again = HashMap::from([
            ("Int01".to_string(), "Other".to_string()),
            ("Int02".to_string(), "New".to_string()),
        ]);
        let err = merge_search_attribute_aliases(&mut stored, &again).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Custom search attribute field name already allocated."
        );
        assert_eq!(stored.len(), 1);
        // One at a time, no further than one per custom attribute allowed.
        assert_eq!(max_search_attribute_aliases(), 130);
        for i in 1..130 {
            let one = HashMap::from([(format!("F{i}"), format!("a{i}"))]);
            merge_search_attribute_aliases(&mut stored, &one).unwrap();
        }
        assert_eq!(stored.len(), 130);
        let err =
            merge_search_attribute_aliases(&mut stored, &HashMap::from([("F".into(), "x".into())]))
                .unwrap_err();
        assert!(matches!(err, CellError::InvalidArgument(_)));
        assert!(
            err.to_string()
                .starts_with("CustomSearchAttributeAliases has 131 entries"),
            "{err}"
        );
        assert_eq!(stored.len(), 130);
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
