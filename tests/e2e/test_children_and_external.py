"""Child workflows and signalling/cancelling external workflows."""

from __future__ import annotations

import pytest
from temporalio import workflow
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError, CancelledError, ChildWorkflowError

from helpers import event_types, history_events, new_id, run_worker


@workflow.defn
class ChildWorkflow:
    @workflow.run
    async def run(self, x: int) -> int:
        return x * 10


@workflow.defn
class FailingChildWorkflow:
    @workflow.run
    async def run(self) -> None:
        raise ApplicationError("child blew up", type="ChildError")


@workflow.defn
class ParentWorkflow:
    @workflow.run
    async def run(self, x: int) -> int:
        child_id = f"{workflow.info().workflow_id}-child"
        result = await workflow.execute_child_workflow(ChildWorkflow.run, x, id=child_id)
        return result + 1


@workflow.defn
class ParentOfFailingChildWorkflow:
    @workflow.run
    async def run(self) -> None:
        await workflow.execute_child_workflow(
            FailingChildWorkflow.run, id=f"{workflow.info().workflow_id}-child"
        )


@workflow.defn
class TargetWorkflow:
    """Waits for a `poke` signal; cancellable."""

    def __init__(self) -> None:
        self.payload: str | None = None

    @workflow.signal
    def poke(self, payload: str) -> None:
        self.payload = payload

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.payload is not None)
        assert self.payload is not None
        return self.payload


@workflow.defn
class SignalExternalWorkflow:
    @workflow.run
    async def run(self, target_id: str, payload: str) -> str:
        await workflow.get_external_workflow_handle(target_id).signal("poke", payload)
        return "signalled"


@workflow.defn
class CancelExternalWorkflow:
    @workflow.run
    async def run(self, target_id: str) -> str:
        await workflow.get_external_workflow_handle(target_id).cancel()
        return "cancel requested"


ALL = [
    ChildWorkflow,
    FailingChildWorkflow,
    ParentWorkflow,
    ParentOfFailingChildWorkflow,
    TargetWorkflow,
    SignalExternalWorkflow,
    CancelExternalWorkflow,
]


async def test_child_workflow_returns_value(client: Client) -> None:
    async with run_worker(client, workflows=ALL) as w:
        wid = new_id()
        handle = await client.start_workflow(
            ParentWorkflow.run, 4, id=wid, task_queue=w.task_queue
        )
        assert await handle.result() == 41
        child = client.get_workflow_handle(f"{wid}-child")
        desc = await child.describe()
    assert desc.status == WorkflowExecutionStatus.COMPLETED
    assert desc.parent_id == wid
    assert desc.parent_run_id == handle.result_run_id
    assert desc.task_queue == w.task_queue  # inherited from the parent
    types = await event_types(handle)
    for t in (
        "START_CHILD_WORKFLOW_EXECUTION_INITIATED",
        "CHILD_WORKFLOW_EXECUTION_STARTED",
        "CHILD_WORKFLOW_EXECUTION_COMPLETED",
    ):
        assert t in types, types
    child_started = (await history_events(child))[0].workflow_execution_started_event_attributes
    assert child_started.parent_workflow_execution.workflow_id == wid
    assert child_started.parent_initiated_event_id == types.index(
        "START_CHILD_WORKFLOW_EXECUTION_INITIATED"
    ) + 1


async def test_child_failure_propagates(client: Client) -> None:
    async with run_worker(client, workflows=ALL) as w:
        handle = await client.start_workflow(
            ParentOfFailingChildWorkflow.run, id=new_id(), task_queue=w.task_queue
        )
        with pytest.raises(WorkflowFailureError) as err:
            await handle.result()
    child_err = err.value.cause
    assert isinstance(child_err, ChildWorkflowError)
    assert child_err.workflow_type == "FailingChildWorkflow"
    assert isinstance(child_err.cause, ApplicationError)
    assert child_err.cause.message == "child blew up"
    assert child_err.cause.type == "ChildError"
    assert "CHILD_WORKFLOW_EXECUTION_FAILED" in await event_types(handle)


async def test_signal_external_workflow(client: Client) -> None:
    async with run_worker(client, workflows=ALL) as w:
        target_id = new_id("target")
        target = await client.start_workflow(
            TargetWorkflow.run, id=target_id, task_queue=w.task_queue
        )
        sender = await client.start_workflow(
            SignalExternalWorkflow.run,
            args=[target_id, "hello from a workflow"],
            id=new_id(),
            task_queue=w.task_queue,
        )
        assert await sender.result() == "signalled"
        assert await target.result() == "hello from a workflow"
    sender_types = await event_types(sender)
    assert "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED" in sender_types
    assert "EXTERNAL_WORKFLOW_EXECUTION_SIGNALED" in sender_types
    target_events = await history_events(target)
    sig = next(
        e for e in target_events if e.HasField("workflow_execution_signaled_event_attributes")
    )
    assert sig.workflow_execution_signaled_event_attributes.signal_name == "poke"
    assert (
        sig.workflow_execution_signaled_event_attributes.external_workflow_execution.workflow_id
        == sender.id
    )


async def test_signal_external_unknown_workflow_fails(client: Client) -> None:
    async with run_worker(client, workflows=ALL) as w:
        sender = await client.start_workflow(
            SignalExternalWorkflow.run,
            args=[new_id("nobody"), "lost"],
            id=new_id(),
            task_queue=w.task_queue,
        )
        with pytest.raises(WorkflowFailureError) as err:
            await sender.result()
    assert isinstance(err.value.cause, ApplicationError)
    assert "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED" in await event_types(sender)


async def test_cancel_external_workflow(client: Client) -> None:
    async with run_worker(client, workflows=ALL) as w:
        target_id = new_id("target")
        target = await client.start_workflow(
            TargetWorkflow.run, id=target_id, task_queue=w.task_queue
        )
        canceller = await client.start_workflow(
            CancelExternalWorkflow.run, target_id, id=new_id(), task_queue=w.task_queue
        )
        assert await canceller.result() == "cancel requested"
        with pytest.raises(WorkflowFailureError) as err:
            await target.result()
    assert isinstance(err.value.cause, CancelledError)
    assert (await target.describe()).status == WorkflowExecutionStatus.CANCELED
    canceller_types = await event_types(canceller)
    assert "REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED" in canceller_types
    assert "EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED" in canceller_types
    target_events = await history_events(target)
    req = next(
        e
        for e in target_events
        if e.HasField("workflow_execution_cancel_requested_event_attributes")
    )
    assert (
        req.workflow_execution_cancel_requested_event_attributes.external_workflow_execution.workflow_id
        == canceller.id
    )
