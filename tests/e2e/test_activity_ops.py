"""Operator commands on a workflow's activities: a paused activity is told
through its heartbeat, its attempt ends without a retry, and it runs again
once unpaused; pause of an unknown activity is NotFound."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import PendingActivityState
from google.protobuf.duration_pb2 import Duration
from google.protobuf.field_mask_pb2 import FieldMask
from temporalio.api.activity.v1 import ActivityOptions
from temporalio.api.common.v1 import RetryPolicy as RpcRetryPolicy
from temporalio.api.workflowservice.v1 import (
    PauseActivityRequest,
    UnpauseActivityRequest,
    UpdateActivityOptionsRequest,
)
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.exceptions import CancelledError
from temporalio.service import RPCError, RPCStatusCode

from helpers import event_types, new_id, run_worker, wait_for

PAUSED_SEEN: list[bool] = []


@activity.defn
async def heartbeats_until_paused() -> str:
    if activity.info().attempt > 1:
        return f"ran again as attempt {activity.info().attempt}"
    try:
        while True:
            activity.heartbeat("beat")
            await asyncio.sleep(0.1)
    except (CancelledError, asyncio.CancelledError):
        details = activity.cancellation_details()
        PAUSED_SEEN.append(bool(details and details.paused))
        raise


@workflow.defn
class PausableWorkflow:
    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_activity(
            heartbeats_until_paused,
            activity_id="pausable",
            start_to_close_timeout=timedelta(seconds=30),
            heartbeat_timeout=timedelta(seconds=2),
            retry_policy=RetryPolicy(maximum_attempts=3, initial_interval=timedelta(milliseconds=100)),
        )


async def _pending(handle, activity_id: str):
    for pending in (await handle.describe()).raw_description.pending_activities:
        if pending.activity_id == activity_id:
            return pending
    return None


async def test_pause_then_unpause_runs_the_activity_again(client: Client) -> None:
    PAUSED_SEEN.clear()
    async with run_worker(
        client,
        workflows=[PausableWorkflow],
        activities=[heartbeats_until_paused],
        max_heartbeat_throttle_interval=timedelta(milliseconds=100),
        default_heartbeat_throttle_interval=timedelta(milliseconds=100),
    ) as w:
        handle = await client.start_workflow(PausableWorkflow.run, id=new_id(), task_queue=w.task_queue)

        async def running():
            p = await _pending(handle, "pausable")
            return p if p and p.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED else None

        await wait_for(running)
        execution = WorkflowExecution(workflow_id=handle.id, run_id=handle.result_run_id)
        await client.workflow_service.pause_activity(
            PauseActivityRequest(
                namespace=client.namespace, execution=execution, id="pausable", identity="ops", reason="maintenance"
            )
        )

        async def paused_and_stopped():
            p = await _pending(handle, "pausable")
            return p if p and p.state == PendingActivityState.PENDING_ACTIVITY_STATE_PAUSED else None

        paused = await wait_for(paused_and_stopped)
        assert paused.paused and paused.pause_info.manual.reason == "maintenance"
        assert PAUSED_SEEN == [True]
        # No retry while paused.
        await asyncio.sleep(0.5)
        assert (await _pending(handle, "pausable")).state == PendingActivityState.PENDING_ACTIVITY_STATE_PAUSED

        await client.workflow_service.unpause_activity(
            UnpauseActivityRequest(namespace=client.namespace, execution=execution, id="pausable")
        )
        assert await handle.result() == "ran again as attempt 2"
        types = await event_types(handle)
        assert types.count("ACTIVITY_TASK_SCHEDULED") == 1 and "ACTIVITY_TASK_COMPLETED" in types


async def test_pause_unknown_activity_is_not_found(client: Client) -> None:
    handle = await client.start_workflow("Parked", id=new_id(), task_queue=new_id("nobody"))
    with pytest.raises(RPCError) as err:
        await client.workflow_service.pause_activity(
            PauseActivityRequest(
                namespace=client.namespace,
                execution=WorkflowExecution(workflow_id=handle.id),
                id="no-such-activity",
            )
        )
    assert err.value.status == RPCStatusCode.NOT_FOUND
    await handle.terminate(reason="done")


@workflow.defn
class WaitsOnUnpolledActivity:
    @workflow.run
    async def run(self, queue: str) -> str:
        return await workflow.execute_activity(
            "Unpolled", activity_id="opts", task_queue=queue, start_to_close_timeout=timedelta(seconds=10)
        )


async def test_update_activity_options_changes_the_pending_activity(client: Client) -> None:
    async with run_worker(client, workflows=[WaitsOnUnpolledActivity]) as w:
        handle = await client.start_workflow(
            WaitsOnUnpolledActivity.run, new_id("nobody"), id=new_id(), task_queue=w.task_queue
        )
        await wait_for(lambda: _pending(handle, "opts"))
        resp = await client.workflow_service.update_activity_options(
            UpdateActivityOptionsRequest(
                namespace=client.namespace,
                execution=WorkflowExecution(workflow_id=handle.id),
                id="opts",
                activity_options=ActivityOptions(
                    start_to_close_timeout=Duration(seconds=7), retry_policy=RpcRetryPolicy(maximum_attempts=5)
                ),
                update_mask=FieldMask(paths=["start_to_close_timeout", "retry_policy.maximum_attempts"]),
            )
        )
        assert resp.activity_options.start_to_close_timeout.seconds == 7
        assert resp.activity_options.retry_policy.maximum_attempts == 5
        pending = await _pending(handle, "opts")
        assert pending.activity_options.start_to_close_timeout.seconds == 7
        await handle.terminate(reason="done")
