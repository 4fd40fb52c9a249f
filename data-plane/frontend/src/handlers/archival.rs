//! Archival as the API shows it: a namespace's archival settings (checked
//! with a test write before they are accepted), histories read back from
//! the archive once retention deleted the run, and
//! ListArchivedWorkflowExecutions.
use std::sync::Arc;

use orrery_archival::{ArchiveUri, Archives};
use orrery_core::caller::Caller;
use orrery_core::{CellError, CellResult};
use orrery_proto::api::common::v1::WorkflowExecution;
use orrery_proto::api::enums::v1::{ArchivalState, HistoryEventFilterType};
use orrery_proto::api::history::v1::History;
use orrery_proto::api::workflow::v1::WorkflowExecutionInfo;
use orrery_proto::api::workflowservice::v1::*;
use prost::Message;

use crate::Frontend;
use crate::namespaces::Namespace;

/// The cell's archives and its archive root: the URI a namespace archives
/// to when it enables archival without naming one, and the only one a
/// tenant's namespace may use (`orrery dev`: a directory beside its data).
pub struct ArchivalConfig {
    pub archives: Arc<Archives>,
    pub default_uri: Option<String>,
}

/// Where the next page of an archived history starts. Its tags are far
/// from the live history token's, so the two never read as each other.
#[derive(Clone, PartialEq, Message)]
struct ArchivedHistoryToken {
    #[prost(string, tag = "100")]
    run_id: String,
    #[prost(int64, tag = "101")]
    next_index: i64,
}

/// Where the next page of ListArchivedWorkflowExecutions starts: after
/// this (close time, run id) in newest-first order.
#[derive(Clone, PartialEq, Message)]
struct ArchivedListToken {
    #[prost(int64, tag = "1")]
    close_ns: i64,
    #[prost(string, tag = "2")]
    run_id: String,
}

/// One kind of archival (history or visibility) as a request asks it.
pub(crate) struct ArchivalRequest<'a> {
    pub field: &'a str,
    pub state: i32,
    pub uri: &'a str,
}

fn unavailable_archive(field: &str, uri: &str, err: orrery_archival::ArchiveError) -> CellError {
    CellError::invalid(format!(
        "{field} {uri:?} cannot be used: {err}. Check the bucket or directory exists and the server's credentials can write to it."
    ))
}

fn close_ns(info: &WorkflowExecutionInfo) -> i64 {
    info.close_time
        .as_ref()
        .map(|t| t.seconds * 1_000_000_000 + i64::from(t.nanos))
        .unwrap_or(0)
}

fn run_id(info: &WorkflowExecutionInfo) -> &str {
    info.execution
        .as_ref()
        .map(|e| e.run_id.as_str())
        .unwrap_or("")
}

/// Whether a history page token continues an archived history.
pub(crate) fn is_archived_token(token: &[u8]) -> bool {
    !token.is_empty() && ArchivedHistoryToken::decode(token).is_ok_and(|t| !t.run_id.is_empty())
}

/// What a tenant is told when the archive cannot be reached: nothing of the
/// cell's paths, buckets or cloud errors (they are logged on the cell).
const ARCHIVE_UNAVAILABLE: &str = "the archive is unavailable; try again later";

/// A failed archive read, logged in full and answered generically.
fn read_failed(namespace: &str, err: orrery_archival::ArchiveError) -> CellError {
    tracing::warn!(namespace, error = %err, "reading the archive failed");
    CellError::Unavailable(ARCHIVE_UNAVAILABLE.into())
}

/// Whether a tenant's request may carry `requested` as an archival URI: only
/// if it names none or the one its namespace uses (its stored URI, else the
/// cell's root), so a client that sends back what DescribeNamespace showed
/// still works.
fn tenant_may_name(requested: &str, current: &str, root: Option<&str>) -> bool {
    let in_use = match current {
        "" => root.unwrap_or(""),
        stored => stored,
    };
    requested.is_empty() || requested == in_use
}

impl Frontend {
    /// The (state, URI) a namespace ends up with: the stored one changed as
    /// asked. An enabled archive is written to once, so a bad bucket,
    /// path or credential fails here rather than at the first close.
    ///
    /// Where archives go is the operator's choice (the cell's archive root,
    /// `--archive-uri`), never a tenant's: the cell writes there with its
    /// own file access and cloud role, so a tenant may switch archival on
    /// and off, and its namespace archives to the root (its objects under
    /// `<root>/<namespace id>/`), but a URI it names must be the one in use.
    /// The operator and a cell without tenant auth (`orrery dev`) may name
    /// any URI, as in Temporal.
    pub(crate) async fn archival_setting(
        &self,
        req: ArchivalRequest<'_>,
        current: Option<(i32, &str)>,
        namespace: &str,
        caller: Option<&Caller>,
    ) -> CellResult<(ArchivalState, String)> {
        let tenant = matches!(caller, Some(Caller::Tenant { .. }));
        let (current_state, current_uri) = current.unwrap_or((ArchivalState::Disabled as i32, ""));
        let state = match ArchivalState::try_from(req.state) {
            Ok(ArchivalState::Unspecified) => {
                ArchivalState::try_from(current_state).unwrap_or(ArchivalState::Disabled)
            }
            Ok(state) => state,
            Err(_) => {
                return Err(CellError::invalid(format!(
                    "{}State {} is not a valid archival state.",
                    req.field.trim_end_matches("Uri"),
                    req.state
                )));
            }
        };
        if tenant {
            if !tenant_may_name(req.uri, current_uri, self.archival.default_uri.as_deref()) {
                return Err(CellError::invalid(format!(
                    "{} cannot be set: archival locations are set by the operator. Leave it empty to archive to this namespace's place in the cell's archive.",
                    req.field
                )));
            }
        } else if !req.uri.is_empty() {
            ArchiveUri::parse(req.uri)
                .map_err(|e| CellError::invalid(format!("{}: {e}", req.field)))?;
            if !current_uri.is_empty() && current_uri != req.uri {
                return Err(CellError::invalid("Cannot update existing archival URI"));
            }
        }
        let uri = [req.uri, current_uri]
            .into_iter()
            .find(|u| !u.is_empty())
            .map(str::to_string)
            .or_else(|| {
                (state == ArchivalState::Enabled)
                    .then(|| self.archival.default_uri.clone())
                    .flatten()
            })
            .unwrap_or_default();
        if state == ArchivalState::Enabled {
            if uri.is_empty() {
                return Err(CellError::invalid(if tenant {
                    format!("{}: archival is not available on this cell.", req.field)
                } else {
                    format!(
                        "{} is required to enable archival: this server has no default archive.",
                        req.field
                    )
                }));
            }
            let changed = current_state != ArchivalState::Enabled as i32 || current_uri != uri;
            if changed && let Err(err) = self.archival.archives.check(&uri).await {
                tracing::warn!(namespace, field = req.field, error = %err, "archive check failed");
                return Err(if tenant {
                    CellError::Unavailable(format!("{}: {ARCHIVE_UNAVAILABLE}", req.field))
                } else {
                    unavailable_archive(req.field, &uri, err)
                });
            }
        }
        Ok((state, uri))
    }

    /// The history of a run retention removed, from the namespace's
    /// archive; `None` if the namespace has no history archive or the run
    /// is not in it.
    pub(crate) async fn archived_history(
        &self,
        ns: &Namespace,
        req: &GetWorkflowExecutionHistoryRequest,
        exec: &WorkflowExecution,
    ) -> CellResult<Option<GetWorkflowExecutionHistoryResponse>> {
        let uri = match ns.detail.config.as_ref() {
            Some(c) if !c.history_archival_uri.is_empty() => c.history_archival_uri.clone(),
            _ => return Ok(None),
        };
        let archives = &self.archival.archives;
        let token = if req.next_page_token.is_empty() {
            None
        } else {
            ArchivedHistoryToken::decode(req.next_page_token.as_slice())
                .ok()
                .filter(|t| !t.run_id.is_empty())
        };
        let run_id = match (&token, exec.run_id.as_str()) {
            (Some(t), _) => t.run_id.clone(),
            (None, "") => {
                // Run ids are time-ordered: the greatest is the latest run.
                let runs = archives
                    .history_runs(&uri, &ns.id, &exec.workflow_id)
                    .await
                    .map_err(|e| read_failed(&ns.name, e))?;
                match runs.into_iter().max() {
                    Some(run) => run,
                    None => return Ok(None),
                }
            }
            (None, run) => run.to_string(),
        };
        let Some(history) = archives
            .history(&uri, &ns.id, &exec.workflow_id, &run_id)
            .await
            .map_err(|e| read_failed(&ns.name, e))?
        else {
            return Ok(None);
        };
        let mut events = history.events;
        if req.history_event_filter_type == HistoryEventFilterType::CloseEvent as i32 {
            events = events.pop().into_iter().collect();
            return Ok(Some(GetWorkflowExecutionHistoryResponse {
                history: Some(History { events }),
                archived: true,
                ..Default::default()
            }));
        }
        let from = token
            .map(|t| t.next_index.max(0) as usize)
            .unwrap_or(0)
            .min(events.len());
        let size = match req.maximum_page_size {
            n if n <= 0 => orrery_history::DEFAULT_HISTORY_PAGE_SIZE,
            n => n as usize,
        };
        let to = (from + size).min(events.len());
        let next_page_token = if to < events.len() {
            ArchivedHistoryToken {
                run_id,
                next_index: to as i64,
            }
            .encode_to_vec()
        } else {
            Vec::new()
        };
        Ok(Some(GetWorkflowExecutionHistoryResponse {
            history: Some(History {
                events: events.drain(from..to).collect(),
            }),
            next_page_token,
            archived: true,
            ..Default::default()
        }))
    }

    /// ListArchivedWorkflowExecutions: the namespace's archived visibility
    /// records matching the query, most recently closed first.
    pub(crate) async fn list_archived(
        &self,
        req: ListArchivedWorkflowExecutionsRequest,
    ) -> CellResult<ListArchivedWorkflowExecutionsResponse> {
        let ns = self.namespaces.by_name(&req.namespace).await?;
        let Some(uri) = ns
            .detail
            .config
            .as_ref()
            .map(|c| c.visibility_archival_uri.clone())
            .filter(|u| !u.is_empty())
        else {
            return Err(CellError::invalid(
                "Namespace is not configured for visibility archival.",
            ));
        };
        let query = crate::handlers::visibility::parse_query(&req.query, &ns.catalog())?;
        orrery_visibility::check_in_memory(&query)
            .map_err(|e| CellError::invalid(e.to_string()))?;
        let after = if req.next_page_token.is_empty() {
            None
        } else {
            Some(
                ArchivedListToken::decode(req.next_page_token.as_slice())
                    .map_err(|_| CellError::invalid("Invalid NextPageToken."))?,
            )
        };
        let limit = crate::handlers::visibility::page_size(req.page_size);
        let mut records = self
            .archival
            .archives
            .visibility_records(&uri, &ns.id, None)
            .await
            .map_err(|e| read_failed(&ns.name, e))?;
        let mut kept = Vec::new();
        for r in records.drain(..) {
            if orrery_visibility::matches(&query, &r)
                .map_err(|e| CellError::invalid(e.to_string()))?
            {
                kept.push(r);
            }
        }
        let key =
            |r: &WorkflowExecutionInfo| (std::cmp::Reverse(close_ns(r)), run_id(r).to_string());
        kept.sort_by_key(key);
        if let Some(t) = &after {
            let cursor = (std::cmp::Reverse(t.close_ns), t.run_id.clone());
            kept.retain(|r| key(r) > cursor);
        }
        let next_page_token = if kept.len() > limit {
            kept.truncate(limit);
            let last = kept.last().expect("a full page");
            ArchivedListToken {
                close_ns: close_ns(last),
                run_id: run_id(last).to_string(),
            }
            .encode_to_vec()
        } else {
            Vec::new()
        };
        Ok(ListArchivedWorkflowExecutionsResponse {
            executions: kept,
            next_page_token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_names_no_archive_but_the_one_in_use() {
        let root = Some("file:///var/lib/orrery/archive");
        assert!(tenant_may_name("", "", root));
        assert!(tenant_may_name("", "", None));
        assert!(tenant_may_name("file:///var/lib/orrery/archive", "", root));
        for elsewhere in [
            "file:///tmp/probe",
            "file:///var/lib/orrery/archive/other-namespace-id/visibility",
            "s3://someone-elses-bucket",
        ] {
            assert!(!tenant_may_name(elsewhere, "", root), "{elsewhere}");
            assert!(!tenant_may_name(elsewhere, "", None), "{elsewhere}");
        }
        // A namespace the operator pointed elsewhere keeps that archive; the
        // tenant may send it back, not the root instead.
        let operators = "s3://operator-bucket/ns";
        assert!(tenant_may_name(operators, operators, root));
        assert!(!tenant_may_name(
            "file:///var/lib/orrery/archive",
            operators,
            root
        ));
    }
}
