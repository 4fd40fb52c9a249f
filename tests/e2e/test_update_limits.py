"""Per-run update limits (`history.maxInFlightUpdates`, default 10): the
11th update in flight on one workflow is refused as on the real server; a
repeat of an admitted update is not a new one; other workflows are not
affected; and once the worker has handled the ten, updates fit again (the
registry lets go of finished updates)."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import UpdateWorkflowExecutionLifecycleStage as Stage
from temporalio.api.enums.v1 import ResourceExhaustedCause, ResourceExhaustedScope
from temporalio.api.errordetails.v1 import ResourceExhaustedFailure
from temporalio.api.update.v1 import Input, Meta, Request, UpdateRef, WaitPolicy
from temporalio.api.workflowservice.v1 import (
    PollWorkflowExecutionUpdateRequest,
    UpdateWorkflowExecutionRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from helpers import new_id, run_worker

ACCEPTED = Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ACCEPTED
ADMITTED = Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED


@workflow.defn
class Counter:
    def __init__(self) -> None:
        self.count = 0

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.count >= 100)
        return self.count

    @workflow.update
    def bump(self) -> int:
        self.count += 1
        return self.count


async def _update(client: Client, workflow_id: str, update_id: str, timeout: float = 5) -> Any:
    """UpdateWorkflowExecution without the SDK's retries (it would retry a
    RESOURCE_EXHAUSTED)."""
    return await client.workflow_service.update_workflow_execution(
        UpdateWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id),
            wait_policy=WaitPolicy(lifecycle_stage=ACCEPTED),
            request=Request(meta=Meta(update_id=update_id, identity="e2e"), input=Input(name="bump")),
        ),
        retry=False,
        timeout=timedelta(seconds=timeout),
    )


async def _wait_admitted(client: Client, workflow_id: str, update_id: str) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            await client.workflow_service.poll_workflow_execution_update(
                PollWorkflowExecutionUpdateRequest(
                    namespace=client.namespace,
                    update_ref=UpdateRef(
                        workflow_execution=WorkflowExecution(workflow_id=workflow_id),
                        update_id=update_id,
                    ),
                    identity="e2e",
                    wait_policy=WaitPolicy(lifecycle_stage=ADMITTED),
                ),
                retry=False,
                timeout=timedelta(seconds=2),
            )
            return
        except RPCError as e:
            if e.status != RPCStatusCode.NOT_FOUND or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def test_the_eleventh_in_flight_update_is_refused_until_the_worker_catches_up(
    client: Client,
) -> None:
    task_queue = new_id("tq")
    handle = await client.start_workflow(Counter.run, id=new_id(), task_queue=task_queue)
    # No worker yet: ten updates wait to be accepted.
    waiting = [asyncio.create_task(_update(client, handle.id, f"u{i}", timeout=60)) for i in range(10)]
    try:
        for i in range(10):
            await _wait_admitted(client, handle.id, f"u{i}")
        try:
            await _update(client, handle.id, "u10")
            raise AssertionError("the 11th in-flight update was admitted")
        except RPCError as e:
            assert e.status == RPCStatusCode.RESOURCE_EXHAUSTED
            assert e.message == "limit on number of concurrent in-flight updates has been reached (10)"
            [detail] = e.grpc_status.details
            failure = ResourceExhaustedFailure()
            assert detail.Unpack(failure)
            assert failure.cause == ResourceExhaustedCause.RESOURCE_EXHAUSTED_CAUSE_CONCURRENT_LIMIT
            assert failure.scope == ResourceExhaustedScope.RESOURCE_EXHAUSTED_SCOPE_NAMESPACE

        # Another workflow has its own budget.
        other = await client.start_workflow(Counter.run, id=new_id(), task_queue=task_queue)
        other_update = asyncio.create_task(_update(client, other.id, "u10", timeout=60))
        await _wait_admitted(client, other.id, "u10")

        # The worker accepts and completes all of them; the finished updates
        # leave the run's budget, so more fit again.
        async with run_worker(client, workflows=[Counter], task_queue=task_queue):
            for response in await asyncio.gather(*waiting, other_update):
                assert response.stage >= ACCEPTED
            results = [await handle.execute_update(Counter.bump, id=f"more-{i}") for i in range(11)]
            assert results == list(range(11, 22))
            # A repeat of a completed update is that update, not a new one.
            assert await handle.execute_update(Counter.bump, id="u3") <= 10
            await handle.terminate(reason="done")
            await other.terminate(reason="done")
    finally:
        for task in waiting:
            task.cancel()
