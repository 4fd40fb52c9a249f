"""Workflow updates with the official SDK: accepted and rejected updates,
waiting for acceptance then the result, update-with-start, duplicates.
A rejected update leaves no trace in history, on both servers."""

from __future__ import annotations

import uuid

import pytest
from temporalio import workflow
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from temporalio.common import WorkflowIDConflictPolicy

from helpers import event_types, new_id, run_worker


@workflow.defn
class Cart:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.closed = False

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: self.closed)
        return self.items

    @workflow.update
    async def add(self, item: str) -> int:
        self.items.append(item)
        return len(self.items)

    @add.validator
    def validate_add(self, item: str) -> None:
        if item == "forbidden":
            raise ValueError("forbidden item")

    @workflow.update
    async def close(self) -> None:
        self.closed = True


async def test_accepted_and_rejected_updates(client: Client) -> None:
    async with run_worker(client, workflows=[Cart]) as w:
        handle = await client.start_workflow(Cart.run, id=new_id(), task_queue=w.task_queue)
        assert await handle.execute_update(Cart.add, "apple") == 1
        before = await event_types(handle)
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await handle.execute_update(Cart.add, "forbidden")
        assert "forbidden item" in str(err.value.cause)
        # The rejection wrote nothing.
        assert await event_types(handle) == before
        assert await handle.execute_update(Cart.add, "pear") == 2
        await handle.execute_update(Cart.close)
        assert await handle.result() == ["apple", "pear"]
        types = await event_types(handle)
    assert types.count("WORKFLOW_EXECUTION_UPDATE_ACCEPTED") == 3
    assert types.count("WORKFLOW_EXECUTION_UPDATE_COMPLETED") == 3
    assert types[-1] == "WORKFLOW_EXECUTION_COMPLETED"


async def test_start_update_then_result_and_duplicate_id(client: Client) -> None:
    async with run_worker(client, workflows=[Cart]) as w:
        handle = await client.start_workflow(Cart.run, id=new_id(), task_queue=w.task_queue)
        update_id = str(uuid.uuid4())
        started = await handle.start_update(
            Cart.add, "fig", id=update_id, wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )
        assert await started.result() == 1
        # The same update id again is the same update, not a second one.
        again = await handle.execute_update(Cart.add, "fig", id=update_id)
        assert again == 1
        await handle.execute_update(Cart.close)
        assert await handle.result() == ["fig"]


async def test_update_with_start(client: Client) -> None:
    async with run_worker(client, workflows=[Cart]) as w:
        wid = new_id()
        op = WithStartWorkflowOperation(
            Cart.run,
            id=wid,
            task_queue=w.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        assert await client.execute_update_with_start_workflow(Cart.add, "kiwi", start_workflow_operation=op) == 1
        # Again: the running workflow is used, not a new one.
        op2 = WithStartWorkflowOperation(
            Cart.run,
            id=wid,
            task_queue=w.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        assert await client.execute_update_with_start_workflow(Cart.add, "lime", start_workflow_operation=op2) == 2
        handle = await op.workflow_handle()
        assert (await op2.workflow_handle()).result_run_id == handle.result_run_id
        await handle.execute_update(Cart.close)
        assert await handle.result() == ["kiwi", "lime"]


async def test_update_with_start_attaches_to_a_known_update(client: Client) -> None:
    """An update the workflow already has is attached to, even with the FAIL
    conflict policy; once the workflow closed, a completed update still is."""
    async with run_worker(client, workflows=[Cart]) as w:
        wid, update_id = new_id(), str(uuid.uuid4())

        def op() -> WithStartWorkflowOperation:
            return WithStartWorkflowOperation(
                Cart.run, id=wid, task_queue=w.task_queue, id_conflict_policy=WorkflowIDConflictPolicy.FAIL
            )

        first = op()
        assert await client.execute_update_with_start_workflow(
            Cart.close, id=update_id, start_workflow_operation=first
        ) is None
        handle = await first.workflow_handle()
        assert await handle.result() == []
        again = op()
        assert await client.execute_update_with_start_workflow(
            Cart.close, id=update_id, start_workflow_operation=again
        ) is None
        assert (await again.workflow_handle()).first_execution_run_id == handle.first_execution_run_id
        # Only one update and one run.
        types = await event_types(handle)
        assert types.count("WORKFLOW_EXECUTION_UPDATE_ACCEPTED") == 1
