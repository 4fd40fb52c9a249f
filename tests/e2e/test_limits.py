"""Configurable limits, with Temporal's dynamic-config key names, and
stickiness reset."""

from __future__ import annotations

from datetime import timedelta

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio import workflow
from temporalio.api.command.v1 import Command, ScheduleActivityTaskCommandAttributes
from temporalio.api.common.v1 import ActivityType, Payload, Payloads, WorkflowExecution, WorkflowType
from temporalio.api.enums.v1 import CommandType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    ResetStickyTaskQueueRequest,
    RespondWorkflowTaskCompletedRequest,
    StartWorkflowExecutionRequest,
)
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import TerminatedError
from temporalio.service import RPCError, RPCStatusCode

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


class _ServerWithConfig(Server):
    """A server of its own with dynamic-config values."""

    def __init__(self, target: str, *settings: str) -> None:
        super().__init__(target)
        self.settings = settings

    def command(self) -> list[str]:
        cmd = super().command()
        flag = "--dynamic-config-value" if self.target == "real" else "--dynamic-config"
        for setting in self.settings:
            cmd = [*cmd, flag, setting]
        return cmd


async def test_continue_as_new_is_suggested_past_the_configured_history_count(monkeypatch) -> None:
    monkeypatch.delenv("ORRERY_DATABASE_URL", raising=False)
    server = _ServerWithConfig(e2e_target(), "limit.historyCount.suggestContinueAsNew=10")
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


@workflow.defn
class ManyTimersWorkflow:
    @workflow.run
    async def run(self) -> str:
        for _ in range(30):
            await workflow.sleep(timedelta(milliseconds=10))
        return "never"


def _schedule_big_activity(queue: str, size: int) -> Command:
    return Command(
        command_type=CommandType.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK,
        schedule_activity_task_command_attributes=ScheduleActivityTaskCommandAttributes(
            activity_id="big",
            activity_type=ActivityType(name="Big"),
            task_queue=TaskQueue(name=queue),
            start_to_close_timeout=Duration(seconds=10),
            input=Payloads(payloads=[Payload(metadata={"encoding": b"binary/plain"}, data=b"x" * size)]),
        ),
    )


async def test_history_and_payload_hard_limits_terminate(monkeypatch) -> None:
    """Over `limit.historyCount.error` a run is terminated (a signal that
    finds it over gets InvalidArgument); a command over
    `limit.blobSize.error` fails its task, terminates the run, and the
    worker gets InvalidArgument."""
    monkeypatch.delenv("ORRERY_DATABASE_URL", raising=False)
    server = _ServerWithConfig(
        e2e_target(),
        "limit.historyCount.error=20",
        "limit.historyCount.warn=10",
        "limit.blobSize.error=10240",
        "limit.blobSize.warn=2048",
    )
    await server.start()
    try:
        client = await Client.connect(server.address)
        async with run_worker(client, workflows=[ManyTimersWorkflow]) as w:
            handle = await client.start_workflow(ManyTimersWorkflow.run, id=new_id(), task_queue=w.task_queue)
            with pytest.raises(WorkflowFailureError) as failed:
                await handle.result()
            assert isinstance(failed.value.cause, TerminatedError)
            assert failed.value.cause.message == "Workflow history count exceeds limit."

        parked = await client.start_workflow("Parked", id=new_id(), task_queue=new_id("nobody"))
        accepted = 0
        with pytest.raises(RPCError) as refused:
            for _ in range(30):
                await parked.signal("poke")
                accepted += 1
        assert refused.value.status == RPCStatusCode.INVALID_ARGUMENT
        assert accepted == 19
        types = await event_types(parked)
        assert types[-2:] == ["WORKFLOW_EXECUTION_SIGNALED", "WORKFLOW_EXECUTION_TERMINATED"]

        queue = new_id("big")
        started = await client.workflow_service.start_workflow_execution(
            StartWorkflowExecutionRequest(
                namespace=client.namespace,
                workflow_id=new_id(),
                workflow_type=WorkflowType(name="Big"),
                task_queue=TaskQueue(name=queue),
                request_id=new_id("req"),
                request_eager_execution=True,
            )
        )
        with pytest.raises(RPCError) as too_big:
            await client.workflow_service.respond_workflow_task_completed(
                RespondWorkflowTaskCompletedRequest(
                    namespace=client.namespace,
                    task_token=started.eager_workflow_task.task_token,
                    commands=[_schedule_big_activity(queue, 12 * 1024)],
                )
            )
        assert too_big.value.status == RPCStatusCode.INVALID_ARGUMENT
        assert too_big.value.message == (
            "BadScheduleActivityAttributes: ScheduleActivityTaskCommandAttributes.Input exceeds size limit."
        )
        big = client.get_workflow_handle(started.eager_workflow_task.workflow_execution.workflow_id)
        assert (await event_types(big))[-2:] == ["WORKFLOW_TASK_FAILED", "WORKFLOW_EXECUTION_TERMINATED"]
    finally:
        server.stop()
        server.cleanup()
