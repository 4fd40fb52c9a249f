"""ResetWorkflowExecution: the new run carries on from the reset point with
the work that was pending there (an activity and a timer), on every
database; the old run is terminated; a reset to a non-boundary fails."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, WorkflowExecutionStatus
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from helpers import event_types, new_id, run_worker, wait_for

RELEASE = asyncio.Event()


@activity.defn
async def gated() -> str:
    await RELEASE.wait()
    return "released"


@workflow.defn
class ResetPending:
    def __init__(self) -> None:
        self.pokes = 0

    @workflow.signal
    def poke(self) -> None:
        self.pokes += 1

    @workflow.run
    async def run(self) -> str:
        result = workflow.start_activity(gated, start_to_close_timeout=timedelta(seconds=30))
        await workflow.sleep(2)
        value = await result
        await workflow.wait_condition(lambda: self.pokes >= 1)
        return f"{value}:{self.pokes}"


def _reset(client: Client, workflow_id: str, run_id: str, event_id: int) -> ResetWorkflowExecutionRequest:
    return ResetWorkflowExecutionRequest(
        namespace=client.namespace,
        workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
        reason="e2e reset",
        workflow_task_finish_event_id=event_id,
        request_id=str(uuid.uuid4()),
    )


async def test_reset_rebuilds_pending_activity_and_timer(client: Client) -> None:
    RELEASE.clear()
    async with run_worker(client, workflows=[ResetPending], activities=[gated]) as worker:
        wid = new_id("reset")
        handle = await client.start_workflow(ResetPending.run, id=wid, task_queue=worker.task_queue)

        async def completed_tasks() -> list[int]:
            return [
                e.event_id
                for e in (await handle.fetch_history()).events
                if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
            ]

        await wait_for(lambda: completed_tasks())
        await handle.signal(ResetPending.poke)

        async def two_tasks() -> list[int] | None:
            done = await completed_tasks()
            return done if len(done) >= 2 else None

        second = (await wait_for(two_tasks))[1]
        reset = await client.workflow_service.reset_workflow_execution(
            _reset(client, wid, handle.result_run_id, second)
        )
        assert reset.run_id and reset.run_id != handle.result_run_id
        RELEASE.set()
        new_run = client.get_workflow_handle(wid, run_id=reset.run_id)
        assert await new_run.result() == "released:1"

        types = await event_types(new_run)
        # The activity and timer were copied, not scheduled again.
        assert types.count("ACTIVITY_TASK_SCHEDULED") == 1
        assert types.count("TIMER_STARTED") == 1 and "TIMER_FIRED" in types
        assert "WORKFLOW_TASK_FAILED" in types
        old = await client.get_workflow_handle(wid, run_id=handle.result_run_id).describe()
        assert old.raw_description.workflow_execution_info.status == (
            WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TERMINATED
        )
        # The latest run is the reset one.
        assert (await client.get_workflow_handle(wid).describe()).run_id == reset.run_id


async def test_reset_to_a_non_boundary_is_invalid(client: Client) -> None:
    wid = new_id("reset")
    handle = await client.start_workflow("Nobody", id=wid, task_queue=new_id("nobody"))
    for event_id in (1, 2, 99):
        with pytest.raises(RPCError) as err:
            await client.workflow_service.reset_workflow_execution(
                _reset(client, wid, handle.result_run_id, event_id)
            )
        assert err.value.status == RPCStatusCode.INVALID_ARGUMENT
    # Nothing changed: the run still runs.
    described = await handle.describe()
    assert described.raw_description.workflow_execution_info.status == (
        WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING
    )
    await handle.terminate(reason="done")
