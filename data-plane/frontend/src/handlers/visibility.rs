//! Visibility: listing and counting runs with Temporal's list-filter
//! language, the legacy open/closed lists, and the search-attribute
//! registry (GetSearchAttributes, the operator's Add/Remove/List).
use std::collections::HashMap;

use orrery_core::{CellError, CellResult};
use orrery_persistence::{VisibilityPage, VisibilityRow};
use orrery_proto::api::common::v1::Payload;
use orrery_proto::api::enums::v1::WorkflowExecutionStatus;
use orrery_proto::api::operatorservice::v1::*;
use orrery_proto::api::workflow::v1::WorkflowExecutionInfo;
use orrery_proto::api::workflowservice::v1::*;
use orrery_visibility::{Catalog, Query, SaType};
use prost::Message;

use crate::Frontend;
use crate::namespaces::Namespace;

/// The most rows one page returns, and the default page size.
const MAX_PAGE_SIZE: usize = 1000;

/// Where the next page of a List call starts.
#[derive(Clone, PartialEq, Message)]
struct ListToken {
    #[prost(int64, tag = "1")]
    sort_close_ms: i64,
    #[prost(int64, tag = "2")]
    start_ms: i64,
    #[prost(string, tag = "3")]
    run_id: String,
    /// For a query with its own ORDER BY: rows already returned.
    #[prost(int64, tag = "4")]
    offset: i64,
}

pub(crate) fn parse_query(query: &str, catalog: &Catalog) -> CellResult<Query> {
    orrery_visibility::parse(query, catalog).map_err(|e| CellError::invalid(e.to_string()))
}

pub(crate) fn page_size(requested: i32) -> usize {
    if requested <= 0 {
        MAX_PAGE_SIZE
    } else {
        (requested as usize).min(MAX_PAGE_SIZE)
    }
}

fn decode_page(token: &[u8], query: &Query) -> CellResult<VisibilityPage> {
    if token.is_empty() {
        return Ok(VisibilityPage::First);
    }
    let t = ListToken::decode(token).map_err(|_| CellError::invalid("Invalid NextPageToken."))?;
    Ok(if !query.order_by().is_empty() {
        VisibilityPage::Offset(t.offset.max(0))
    } else {
        VisibilityPage::After {
            sort_close_ms: t.sort_close_ms,
            start_ms: t.start_ms,
            run_id: t.run_id,
        }
    })
}

fn next_token(
    rows: &[VisibilityRow],
    page: &VisibilityPage,
    limit: usize,
    ordered: bool,
) -> Vec<u8> {
    let Some(last) = rows.last() else {
        return Vec::new();
    };
    if rows.len() < limit {
        return Vec::new();
    }
    let token = match page {
        _ if ordered => {
            let done = match page {
                VisibilityPage::Offset(o) => *o,
                _ => 0,
            };
            ListToken {
                offset: done + rows.len() as i64,
                ..Default::default()
            }
        }
        _ => ListToken {
            sort_close_ms: last.sort_close_ms(),
            start_ms: last.start_ms,
            run_id: last.run_id.clone(),
            offset: 0,
        },
    };
    token.encode_to_vec()
}

/// A row as the API returns it: search attributes the namespace no longer
/// defines (removed since the run wrote them) are left out.
fn execution_info(row: &VisibilityRow, catalog: &Catalog) -> CellResult<WorkflowExecutionInfo> {
    let mut info =
        WorkflowExecutionInfo::decode(row.data.as_slice()).map_err(CellError::internal)?;
    defined_only(info.search_attributes.as_mut(), catalog);
    Ok(info)
}

/// A standalone activity's row as ListActivityExecutions returns it.
fn activity_list_info(
    row: &VisibilityRow,
    catalog: &Catalog,
) -> CellResult<orrery_proto::api::activity::v1::ActivityExecutionListInfo> {
    use orrery_proto::api::enums::v1::ActivityExecutionStatus;
    let mut info = execution_info(row, catalog)?;
    let status = match WorkflowExecutionStatus::try_from(info.status) {
        Ok(WorkflowExecutionStatus::Running) => ActivityExecutionStatus::Running,
        Ok(WorkflowExecutionStatus::Completed) => ActivityExecutionStatus::Completed,
        Ok(WorkflowExecutionStatus::Failed) => ActivityExecutionStatus::Failed,
        Ok(WorkflowExecutionStatus::Canceled) => ActivityExecutionStatus::Canceled,
        Ok(WorkflowExecutionStatus::Terminated) => ActivityExecutionStatus::Terminated,
        Ok(WorkflowExecutionStatus::TimedOut) => ActivityExecutionStatus::TimedOut,
        _ => ActivityExecutionStatus::Unspecified,
    };
    let closed = row.close_ms.is_some();
    let execution = info.execution.take().unwrap_or_default();
    Ok(orrery_proto::api::activity::v1::ActivityExecutionListInfo {
        activity_id: execution.workflow_id,
        run_id: execution.run_id,
        activity_type: info
            .r#type
            .take()
            .map(|t| orrery_proto::api::common::v1::ActivityType { name: t.name }),
        schedule_time: info.start_time,
        close_time: info.close_time,
        status: status as i32,
        search_attributes: info.search_attributes,
        task_queue: info.task_queue,
        // As on the real server, the counters are set once the activity closed.
        state_transition_count: if closed {
            info.state_transition_count
        } else {
            0
        },
        state_size_bytes: if closed { info.history_size_bytes } else { 0 },
        execution_duration: row
            .close_ms
            .map(|c| orrery_core::time::duration(c - row.execution_ms)),
        execution_time: info.execution_time,
    })
}

/// Leaves out search attributes the namespace no longer defines.
pub(crate) fn defined_only(
    sa: Option<&mut orrery_proto::api::common::v1::SearchAttributes>,
    catalog: &Catalog,
) {
    if let Some(sa) = sa {
        sa.indexed_fields
            .retain(|name, _| catalog.get(name).is_some());
    }
}

/// A string literal of the filter language for a legacy filter's value.
fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn rfc3339(t: &prost_wkt_types::Timestamp) -> String {
    chrono::DateTime::from_timestamp(t.seconds, t.nanos.clamp(0, 999_999_999) as u32)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// The list-filter equivalent of the legacy List{Open,Closed} filters.
fn legacy_query(
    open: bool,
    time_filter: Option<&orrery_proto::api::filter::v1::StartTimeFilter>,
    workflow_id: Option<&str>,
    workflow_type: Option<&str>,
    status: Option<i32>,
) -> CellResult<String> {
    let mut clauses = Vec::new();
    if open {
        clauses.push("ExecutionStatus = 'Running'".to_string());
    } else {
        clauses.push("ExecutionStatus != 'Running'".to_string());
    }
    if let Some(f) = time_filter {
        // As on the real server, a closed list filters on close time.
        let column = if open { "StartTime" } else { "CloseTime" };
        if let Some(earliest) = &f.earliest_time {
            clauses.push(format!("{column} >= '{}'", rfc3339(earliest)));
        }
        if let Some(latest) = &f.latest_time {
            clauses.push(format!("{column} <= '{}'", rfc3339(latest)));
        }
    }
    if let Some(id) = workflow_id {
        clauses.push(format!("WorkflowId = {}", literal(id)));
    }
    if let Some(t) = workflow_type {
        clauses.push(format!("WorkflowType = {}", literal(t)));
    }
    if let Some(s) = status {
        let name = WorkflowExecutionStatus::try_from(s)
            .ok()
            .filter(|s| *s != WorkflowExecutionStatus::Unspecified)
            .ok_or_else(|| CellError::invalid(format!("Invalid status filter {s}.")))?;
        clauses.push(format!("ExecutionStatus = '{}'", status_name(name)));
    }
    Ok(clauses.join(" AND "))
}

/// The status as the filter language and group-by results spell it.
fn status_name(s: WorkflowExecutionStatus) -> &'static str {
    match s {
        WorkflowExecutionStatus::Unspecified => "Unspecified",
        WorkflowExecutionStatus::Running => "Running",
        WorkflowExecutionStatus::Completed => "Completed",
        WorkflowExecutionStatus::Failed => "Failed",
        WorkflowExecutionStatus::Canceled => "Canceled",
        WorkflowExecutionStatus::Terminated => "Terminated",
        WorkflowExecutionStatus::ContinuedAsNew => "ContinuedAsNew",
        WorkflowExecutionStatus::TimedOut => "TimedOut",
        WorkflowExecutionStatus::Paused => "Paused",
    }
}

fn json_payload(value: &str) -> Payload {
    Payload {
        metadata: HashMap::from([("encoding".to_string(), b"json/plain".to_vec())]),
        data: serde_json::to_vec(value).unwrap_or_default(),
        ..Default::default()
    }
}

impl Frontend {
    /// Runs a list query over the namespace's runs: the rows of a page, the
    /// token of the next, and the catalog the query was read with.
    pub(crate) async fn list_rows(
        &self,
        ns: &Namespace,
        query: &str,
        requested_page_size: i32,
        token: &[u8],
    ) -> CellResult<(Vec<VisibilityRow>, Vec<u8>, Catalog)> {
        let catalog = ns.catalog();
        let (rows, token) = self
            .query_rows(&ns.id, &catalog, query, requested_page_size, token)
            .await?;
        Ok((rows, token, catalog))
    }

    /// Runs a list query over one keyspace (a namespace's runs, or its
    /// standalone activities).
    async fn query_rows(
        &self,
        keyspace: &str,
        catalog: &Catalog,
        query: &str,
        requested_page_size: i32,
        token: &[u8],
    ) -> CellResult<(Vec<VisibilityRow>, Vec<u8>)> {
        // A GROUP BY only matters to a count; a list ignores it, as the real
        // server does.
        let query = parse_query(query, catalog)?;
        let limit = page_size(requested_page_size);
        let page = decode_page(token, &query)?;
        let rows = self
            .history
            .list_visibility(keyspace, &query, &page, limit)
            .await?;
        let token = next_token(&rows, &page, limit, !query.order_by().is_empty());
        Ok((rows, token))
    }

    /// Counts over one keyspace, with groups for `GROUP BY ExecutionStatus`.
    async fn count_rows(
        &self,
        keyspace: &str,
        catalog: &Catalog,
        query: &str,
    ) -> CellResult<(i64, Vec<(Payload, i64)>)> {
        let query = parse_query(query, catalog)?;
        let count = self.history.count_visibility(keyspace, &query).await?;
        let groups = count
            .by_status
            .unwrap_or_default()
            .into_iter()
            .map(|(status, n)| {
                let name = WorkflowExecutionStatus::try_from(status)
                    .map(status_name)
                    .unwrap_or("Unspecified");
                (json_payload(name), n)
            })
            .collect();
        Ok((count.total, groups))
    }

    /// Runs a list query over runs; the page and the token of the next.
    async fn list_page(
        &self,
        ns: &Namespace,
        query: &str,
        requested_page_size: i32,
        token: &[u8],
    ) -> CellResult<(Vec<WorkflowExecutionInfo>, Vec<u8>)> {
        let (rows, token, catalog) = self
            .list_rows(ns, query, requested_page_size, token)
            .await?;
        let executions = rows
            .iter()
            .map(|r| execution_info(r, &catalog))
            .collect::<CellResult<Vec<_>>>()?;
        Ok((executions, token))
    }

    pub(crate) async fn list_workflows(
        &self,
        req: ListWorkflowExecutionsRequest,
    ) -> CellResult<ListWorkflowExecutionsResponse> {
        let ns = self.namespaces.by_name(&req.namespace).await?;
        let (executions, next_page_token) = self
            .list_page(&ns, &req.query, req.page_size, &req.next_page_token)
            .await?;
        Ok(ListWorkflowExecutionsResponse {
            executions,
            next_page_token,
        })
    }

    pub(crate) async fn scan_workflows(
        &self,
        req: ScanWorkflowExecutionsRequest,
    ) -> CellResult<ScanWorkflowExecutionsResponse> {
        let ns = self.namespaces.by_name(&req.namespace).await?;
        let (executions, next_page_token) = self
            .list_page(&ns, &req.query, req.page_size, &req.next_page_token)
            .await?;
        Ok(ScanWorkflowExecutionsResponse {
            executions,
            next_page_token,
        })
    }

    pub(crate) async fn list_open_workflows(
        &self,
        req: ListOpenWorkflowExecutionsRequest,
    ) -> CellResult<ListOpenWorkflowExecutionsResponse> {
        use list_open_workflow_executions_request::Filters;
        let ns = self.namespaces.by_name(&req.namespace).await?;
        let (id, ty) = match &req.filters {
            Some(Filters::ExecutionFilter(f)) => (Some(f.workflow_id.as_str()), None),
            Some(Filters::TypeFilter(f)) => (None, Some(f.name.as_str())),
            None => (None, None),
        };
        let query = legacy_query(true, req.start_time_filter.as_ref(), id, ty, None)?;
        let (executions, next_page_token) = self
            .list_page(&ns, &query, req.maximum_page_size, &req.next_page_token)
            .await?;
        Ok(ListOpenWorkflowExecutionsResponse {
            executions,
            next_page_token,
        })
    }

    pub(crate) async fn list_closed_workflows(
        &self,
        req: ListClosedWorkflowExecutionsRequest,
    ) -> CellResult<ListClosedWorkflowExecutionsResponse> {
        use list_closed_workflow_executions_request::Filters;
        let ns = self.namespaces.by_name(&req.namespace).await?;
        let (id, ty, status) = match &req.filters {
            Some(Filters::ExecutionFilter(f)) => (Some(f.workflow_id.as_str()), None, None),
            Some(Filters::TypeFilter(f)) => (None, Some(f.name.as_str()), None),
            Some(Filters::StatusFilter(f)) => (None, None, Some(f.status)),
            None => (None, None, None),
        };
        let query = legacy_query(false, req.start_time_filter.as_ref(), id, ty, status)?;
        let (executions, next_page_token) = self
            .list_page(&ns, &query, req.maximum_page_size, &req.next_page_token)
            .await?;
        Ok(ListClosedWorkflowExecutionsResponse {
            executions,
            next_page_token,
        })
    }

    pub(crate) async fn count_workflows(
        &self,
        req: CountWorkflowExecutionsRequest,
    ) -> CellResult<CountWorkflowExecutionsResponse> {
        let ns = self.namespaces.by_name(&req.namespace).await?;
        let (count, groups) = self.count_rows(&ns.id, &ns.catalog(), &req.query).await?;
        Ok(CountWorkflowExecutionsResponse {
            count,
            groups: groups
                .into_iter()
                .map(
                    |(value, count)| count_workflow_executions_response::AggregationGroup {
                        group_values: vec![value],
                        count,
                    },
                )
                .collect(),
        })
    }

    pub(crate) async fn list_activities(
        &self,
        req: ListActivityExecutionsRequest,
    ) -> CellResult<ListActivityExecutionsResponse> {
        let ns = self.namespaces.by_name(&req.namespace).await?;
        let catalog = ns.activity_catalog();
        let keyspace = orrery_history::activity_keyspace(&ns.id);
        let (rows, next_page_token) = self
            .query_rows(
                &keyspace,
                &catalog,
                &req.query,
                req.page_size,
                &req.next_page_token,
            )
            .await?;
        let executions = rows
            .iter()
            .map(|r| activity_list_info(r, &catalog))
            .collect::<CellResult<Vec<_>>>()?;
        Ok(ListActivityExecutionsResponse {
            executions,
            next_page_token,
        })
    }

    pub(crate) async fn count_activities(
        &self,
        req: CountActivityExecutionsRequest,
    ) -> CellResult<CountActivityExecutionsResponse> {
        let ns = self.namespaces.by_name(&req.namespace).await?;
        let keyspace = orrery_history::activity_keyspace(&ns.id);
        let (count, groups) = self
            .count_rows(&keyspace, &ns.activity_catalog(), &req.query)
            .await?;
        Ok(CountActivityExecutionsResponse {
            count,
            groups: groups
                .into_iter()
                .map(
                    |(value, count)| count_activity_executions_response::AggregationGroup {
                        group_values: vec![value],
                        count,
                    },
                )
                .collect(),
        })
    }

    pub(crate) fn get_search_attributes(&self) -> GetSearchAttributesResponse {
        GetSearchAttributesResponse {
            keys: types_by_name(&Catalog::default().system()),
        }
    }

    pub(crate) async fn list_search_attributes(
        &self,
        req: ListSearchAttributesRequest,
    ) -> CellResult<ListSearchAttributesResponse> {
        let ns = self.operator_namespace(&req.namespace).await?;
        let catalog = ns.catalog();
        Ok(ListSearchAttributesResponse {
            custom_attributes: types_by_name(catalog.custom()),
            system_attributes: types_by_name(&catalog.system()),
            storage_schema: HashMap::new(),
        })
    }

    pub(crate) async fn add_search_attributes(
        &self,
        req: AddSearchAttributesRequest,
    ) -> CellResult<AddSearchAttributesResponse> {
        let ns = self.operator_namespace(&req.namespace).await?;
        let system = Catalog::default();
        let mut wanted = Vec::with_capacity(req.search_attributes.len());
        for (name, t) in &req.search_attributes {
            if name.trim().is_empty() {
                return Err(CellError::invalid("Search attribute name is empty."));
            }
            if Catalog::is_reserved(name) || system.get(name).is_some() {
                return Err(CellError::invalid(format!(
                    "Search attribute {name} is reserved by system."
                )));
            }
            let ty = SaType::from_i32(*t).ok_or_else(|| {
                CellError::invalid(format!("Unknown search attribute type: {t}."))
            })?;
            wanted.push((name.clone(), ty));
        }
        self.namespaces
            .update_namespace(&ns.name, |ns| {
                for (name, ty) in &wanted {
                    // As on the real server, adding a name that exists keeps
                    // it as it is, whatever type is asked for.
                    if ns.search_attributes.contains_key(name) {
                        continue;
                    }
                    let used = ns
                        .search_attributes
                        .values()
                        .filter(|t| **t == ty.to_i32())
                        .count();
                    if used >= custom_limit(*ty) {
                        return Err(CellError::invalid(format!(
                            "Unable to create search attribute {name}: the namespace {} already has {used} custom search attributes of type {}, the most it may have.",
                            ns.name,
                            ty.name()
                        )));
                    }
                    ns.search_attributes.insert(name.clone(), ty.to_i32());
                }
                Ok(())
            })
            .await?;
        Ok(AddSearchAttributesResponse {})
    }

    pub(crate) async fn remove_search_attributes(
        &self,
        req: RemoveSearchAttributesRequest,
    ) -> CellResult<RemoveSearchAttributesResponse> {
        let ns = self.operator_namespace(&req.namespace).await?;
        for name in &req.search_attributes {
            if Catalog::default().get(name).is_some() {
                return Err(CellError::invalid(format!(
                    "Unable to remove non-custom search attributes: {name}."
                )));
            }
        }
        // Removing a name that is not there is no error, as on the real server.
        let ns = self
            .namespaces
            .update_namespace(&ns.name, |ns| {
                for name in &req.search_attributes {
                    ns.search_attributes.remove(name);
                }
                Ok(())
            })
            .await?;
        // The values go too: an attribute added again later under the same
        // name (perhaps with another type) starts empty.
        for name in &req.search_attributes {
            self.history.remove_search_attribute(&ns.id, name).await?;
        }
        Ok(RemoveSearchAttributesResponse {})
    }

    async fn operator_namespace(&self, name: &str) -> CellResult<Namespace> {
        if name.is_empty() {
            return Err(CellError::invalid("Namespace is not set on request."));
        }
        self.namespaces.by_name(name).await
    }
}

fn types_by_name(attrs: &std::collections::BTreeMap<String, SaType>) -> HashMap<String, i32> {
    attrs
        .iter()
        .map(|(name, t)| (name.clone(), t.to_i32()))
        .collect()
}

/// Temporal Cloud's per-namespace limits on custom search attributes.
pub(crate) fn custom_limit(t: SaType) -> usize {
    match t {
        SaType::Bool | SaType::Datetime | SaType::Double | SaType::Int => 20,
        SaType::Keyword => 40,
        SaType::KeywordList | SaType::Text => 5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_filters_become_queries_with_escaped_literals() {
        let q = legacy_query(true, None, Some("it's\\x"), None, None).unwrap();
        assert_eq!(
            q,
            r"ExecutionStatus = 'Running' AND WorkflowId = 'it\'s\\x'"
        );
        let catalog = Catalog::default();
        parse_query(&q, &catalog).unwrap();
        let closed = legacy_query(
            false,
            None,
            None,
            Some("T"),
            Some(WorkflowExecutionStatus::Failed as i32),
        )
        .unwrap();
        assert_eq!(
            closed,
            "ExecutionStatus != 'Running' AND WorkflowType = 'T' AND ExecutionStatus = 'Failed'"
        );
        parse_query(&closed, &catalog).unwrap();
        assert!(legacy_query(false, None, None, None, Some(0)).is_err());
    }

    #[test]
    fn tokens_continue_where_the_page_ended() {
        let rows: Vec<VisibilityRow> = (0..3)
            .map(|i| VisibilityRow {
                run_id: format!("r{i}"),
                start_ms: 100 - i,
                ..Default::default()
            })
            .collect();
        assert!(next_token(&rows, &VisibilityPage::First, 4, false).is_empty());
        let t = next_token(&rows, &VisibilityPage::First, 3, false);
        let q = parse_query("", &Catalog::default()).unwrap();
        assert_eq!(
            decode_page(&t, &q).unwrap(),
            VisibilityPage::After {
                sort_close_ms: i64::MAX,
                start_ms: 98,
                run_id: "r2".into()
            }
        );
        let ordered = parse_query("ORDER BY StartTime", &Catalog::default()).unwrap();
        let t = next_token(&rows, &VisibilityPage::First, 3, true);
        assert_eq!(
            decode_page(&t, &ordered).unwrap(),
            VisibilityPage::Offset(3)
        );
        let t = next_token(&rows, &VisibilityPage::Offset(3), 3, true);
        assert_eq!(
            decode_page(&t, &ordered).unwrap(),
            VisibilityPage::Offset(6)
        );
        assert!(decode_page(b"\xff\xff", &q).is_err());
    }

    #[test]
    fn only_the_cloud_limits_of_custom_attributes() {
        assert_eq!(custom_limit(SaType::Keyword), 40);
        assert_eq!(custom_limit(SaType::Text), 5);
        assert_eq!(
            orrery_proto::api::enums::v1::IndexedValueType::Keyword as i32,
            SaType::Keyword.to_i32()
        );
    }
}
