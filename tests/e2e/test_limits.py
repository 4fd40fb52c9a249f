"""Configurable limits, with Temporal's dynamic-config key names, and
stickiness reset."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import ResetStickyTaskQueueRequest
from temporalio.client import Client

from conftest import Server, e2e_target
from helpers import event_types, new_id, run_worker, wait_for


async def _completed_task(handle) -> bool:
    return "WORKFLOW_TASK_COMPLETED" in await event_types(handle)


@workflow.defn
class GrowingHistoryWorkflow:
    @workflow.run
    async def run(self) -> list[bool]:
        seen = [workflow.info().is_continue_as_new_suggested()]
        for _ in range(4):
            await workflow.sleep(timedelta(milliseconds=10))
        seen.append(workflow.info().is_continue_as_new_suggested())
        return seen


class _ServerWithSuggestLimit(Server):
    """A server of its own whose continue-as-new suggestion starts at 10 events."""

    def command(self) -> list[str]:
        cmd = super().command()
        if self.target == "real":
            return [*cmd, "--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=10"]
        return [*cmd, "--dynamic-config", "limit.historyCount.suggestContinueAsNew=10"]


async def test_continue_as_new_is_suggested_past_the_configured_history_count(monkeypatch) -> None:
    monkeypatch.delenv("ORRERY_DATABASE_URL", raising=False)
    server = _ServerWithSuggestLimit(e2e_target())
    await server.start()
    try:
        client = await Client.connect(server.address)
        async with run_worker(client, workflows=[GrowingHistoryWorkflow]) as w:
            result = await client.execute_workflow(
                GrowingHistoryWorkflow.run, id=new_id(), task_queue=w.task_queue
            )
        assert result == [False, True]
    finally:
        server.stop()
        server.cleanup()


@workflow.defn
class TwoStepWorkflow:
    def __init__(self) -> None:
        self.go = False

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.go)
        return "done"

    @workflow.signal
    def proceed(self) -> None:
        self.go = True


async def test_reset_sticky_task_queue(client: Client) -> None:
    async with run_worker(client, workflows=[TwoStepWorkflow]) as w:
        handle = await client.start_workflow(TwoStepWorkflow.run, id=new_id(), task_queue=w.task_queue)
        # After the first task the worker holds the workflow on its sticky queue.
        await wait_for(lambda: _completed_task(handle))
        await client.workflow_service.reset_sticky_task_queue(
            ResetStickyTaskQueueRequest(
                namespace=client.namespace,
                execution=WorkflowExecution(workflow_id=handle.id),
            )
        )
        await handle.signal(TwoStepWorkflow.proceed)
        assert await handle.result() == "done"


async def test_delete_workflow_execution(client: Client) -> None:
    """A running workflow is terminated and then gone: describe answers
    NOT_FOUND (the real server deletes asynchronously, hence the wait)."""
    from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
    from temporalio.service import RPCError, RPCStatusCode

    wid = new_id()
    handle = await client.start_workflow(TwoStepWorkflow.run, id=wid, task_queue=new_id("nobody"))
    await client.workflow_service.delete_workflow_execution(
        DeleteWorkflowExecutionRequest(
            namespace=client.namespace, workflow_execution=WorkflowExecution(workflow_id=wid)
        )
    )

    async def gone() -> bool:
        try:
            await handle.describe()
            return False
        except RPCError as err:
            assert err.status == RPCStatusCode.NOT_FOUND
            return True

    await wait_for(gone, timeout=20)
    # The id is free again.
    again = await client.start_workflow(TwoStepWorkflow.run, id=wid, task_queue=new_id("nobody"))
    assert again.result_run_id != handle.result_run_id
    await again.terminate()
