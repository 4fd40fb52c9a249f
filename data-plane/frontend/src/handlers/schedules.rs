//! Schedule RPCs: the namespace and search attributes are checked here, the
//! schedule itself by the scheduler.
use orrery_core::{CellError, CellResult};
use orrery_proto::api::common::v1::SearchAttributes;
use orrery_proto::api::schedule::v1::{Schedule, schedule_action};
use orrery_proto::api::workflowservice::v1::*;
use orrery_scheduler::NamespaceRef;
use orrery_visibility::Catalog;

use crate::Frontend;
use crate::handlers::visibility::defined_only;
use crate::namespaces::Namespace;

fn namespace_ref(ns: &Namespace) -> NamespaceRef<'_> {
    NamespaceRef {
        id: &ns.id,
        name: &ns.name,
    }
}

fn check_attributes(sa: Option<&mut SearchAttributes>, catalog: &Catalog) -> CellResult<()> {
    match sa {
        Some(sa) => {
            orrery_visibility::validate(sa, catalog).map_err(|e| CellError::invalid(e.to_string()))
        }
        None => Ok(()),
    }
}

/// The action's workflow search attributes, checked and stamped as a
/// start's would be.
fn check_action(schedule: Option<&mut Schedule>, catalog: &Catalog) -> CellResult<()> {
    if let Some(schedule_action::Action::StartWorkflow(wf)) = schedule
        .and_then(|s| s.action.as_mut())
        .and_then(|a| a.action.as_mut())
    {
        check_attributes(wf.search_attributes.as_mut(), catalog)?;
    }
    Ok(())
}

impl Frontend {
    pub(crate) async fn create_schedule(
        &self,
        mut req: CreateScheduleRequest,
    ) -> CellResult<CreateScheduleResponse> {
        let ns = self.namespaces.by_name(&req.namespace).await?;
        let catalog = ns.catalog();
        check_attributes(req.search_attributes.as_mut(), &catalog)?;
        check_action(req.schedule.as_mut(), &catalog)?;
        self.scheduler.create(namespace_ref(&ns), req).await
    }

    pub(crate) async fn describe_schedule(
        &self,
        req: DescribeScheduleRequest,
    ) -> CellResult<DescribeScheduleResponse> {
        let ns = self.namespaces.by_name(&req.namespace).await?;
        let mut described = self
            .scheduler
            .describe(namespace_ref(&ns), &req.schedule_id)
            .await?;
        defined_only(described.search_attributes.as_mut(), &ns.catalog());
        Ok(described)
    }

    pub(crate) async fn update_schedule(
        &self,
        mut req: UpdateScheduleRequest,
    ) -> CellResult<UpdateScheduleResponse> {
        let ns = self.namespaces.by_name(&req.namespace).await?;
        let catalog = ns.catalog();
        check_attributes(req.search_attributes.as_mut(), &catalog)?;
        check_action(req.schedule.as_mut(), &catalog)?;
        self.scheduler.update(namespace_ref(&ns), req).await
    }

    pub(crate) async fn patch_schedule(
        &self,
        req: PatchScheduleRequest,
    ) -> CellResult<PatchScheduleResponse> {
        let ns = self.namespaces.by_name(&req.namespace).await?;
        self.scheduler.patch(namespace_ref(&ns), req).await
    }

    pub(crate) async fn delete_schedule(
        &self,
        req: DeleteScheduleRequest,
    ) -> CellResult<DeleteScheduleResponse> {
        let ns = self.namespaces.by_name(&req.namespace).await?;
        self.scheduler
            .delete(namespace_ref(&ns), &req.schedule_id)
            .await
    }

    pub(crate) async fn schedule_matching_times(
        &self,
        req: ListScheduleMatchingTimesRequest,
    ) -> CellResult<ListScheduleMatchingTimesResponse> {
        let ns = self.namespaces.by_name(&req.namespace).await?;
        self.scheduler.matching_times(namespace_ref(&ns), req).await
    }

    pub(crate) async fn list_schedules(
        &self,
        req: ListSchedulesRequest,
    ) -> CellResult<ListSchedulesResponse> {
        let ns = self.namespaces.by_name(&req.namespace).await?;
        let division = format!(
            "{} = '{}'",
            orrery_visibility::NAMESPACE_DIVISION,
            orrery_scheduler::SCHEDULER_DIVISION
        );
        // The caller's filter is checked on its own first, so its errors
        // speak of what it wrote.
        let query = if req.query.trim().is_empty() {
            division
        } else {
            let catalog = ns.catalog();
            let parsed = orrery_visibility::parse(&req.query, &catalog)
                .map_err(|e| CellError::invalid(e.to_string()))?;
            // A schedule is not a workflow: as the real server, a schedule
            // query may name its id (`ScheduleId`) and search attributes, not
            // the columns of the runner workflow.
            if let Some(name) = parsed.written_names().iter().find(|n| {
                n.as_str() != "ScheduleId"
                    && catalog
                        .resolve(n)
                        .is_some_and(|a| a.storage != orrery_visibility::Storage::Eav)
            }) {
                return Err(CellError::invalid(format!(
                    "invalid query filter for schedules: cannot filter on \"{name}\""
                )));
            }
            format!("{division} AND ({})", req.query)
        };
        let (rows, next_page_token, catalog) = self
            .list_rows(&ns, &query, req.maximum_page_size, &req.next_page_token)
            .await?;
        let schedules = rows
            .iter()
            .map(|r| {
                let mut entry = orrery_scheduler::list_entry(&r.data)?;
                defined_only(entry.search_attributes.as_mut(), &catalog);
                Ok(entry)
            })
            .collect::<CellResult<Vec<_>>>()?;
        Ok(ListSchedulesResponse {
            schedules,
            next_page_token,
        })
    }
}
