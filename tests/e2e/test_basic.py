"""Basic workflow lifecycle: activities, timers, signals, queries, failure,
cancel, terminate, describe, history, signal-with-start, continue-as-new."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.api.enums.v1 import ContinueAsNewInitiator
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError, CancelledError, TerminatedError

from helpers import event_types, history_events, new_id, run_worker, wait_for


# --------------------------------------------------------------------------- #
# Workflows and activities
# --------------------------------------------------------------------------- #
@activity.defn
async def greet(name: str) -> str:
    return f"Hello, {name}!"


@workflow.defn
class OneActivityWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            greet, name, start_to_close_timeout=timedelta(seconds=10)
        )


@workflow.defn
class TimerWorkflow:
    @workflow.run
    async def run(self, seconds: float) -> str:
        await workflow.sleep(seconds)
        return "timer fired"


@workflow.defn
class WaitSignalWorkflow:
    """Waits for one `deliver` signal and returns its payload."""

    def __init__(self) -> None:
        self.value: str | None = None
        self.state = "waiting"

    @workflow.signal
    def deliver(self, value: str) -> None:
        self.value = value
        self.state = f"got {value}"

    @workflow.query
    def current_state(self) -> str:
        return self.state

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.value is not None)
        assert self.value is not None
        return self.value


@workflow.defn
class FailingWorkflow:
    @workflow.run
    async def run(self) -> None:
        raise ApplicationError("deliberate failure", "detail-1", type="MyBusinessError")


@workflow.defn
class ForeverWorkflow:
    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)


@workflow.defn
class ContinueAsNewWorkflow:
    @workflow.run
    async def run(self, remaining: int, total: int) -> int:
        if remaining == 0:
            return total
        workflow.continue_as_new(args=[remaining - 1, total + remaining])


# Fails its first workflow task with a non-Temporal exception (the SDK then
# fails the *workflow task*, not the workflow), and succeeds on the retry.
_task_failures: dict[str, int] = {}


@workflow.defn
class FlakyTaskWorkflow:
    @workflow.run
    async def run(self) -> str:
        wid = workflow.info().workflow_id
        if _task_failures.get(wid, 0) == 0:
            _task_failures[wid] = 1
            raise RuntimeError("transient bug in workflow code")
        return "recovered"


# --------------------------------------------------------------------------- #
# Tests
# --------------------------------------------------------------------------- #
async def test_activity_returns_value(client: Client) -> None:
    async with run_worker(client, workflows=[OneActivityWorkflow], activities=[greet]) as w:
        result = await client.execute_workflow(
            OneActivityWorkflow.run, "Orrery", id=new_id(), task_queue=w.task_queue
        )
    assert result == "Hello, Orrery!"


async def test_one_activity_history_event_sequence(client: Client) -> None:
    async with run_worker(client, workflows=[OneActivityWorkflow], activities=[greet]) as w:
        handle = await client.start_workflow(
            OneActivityWorkflow.run, "history", id=new_id(), task_queue=w.task_queue
        )
        assert await handle.result() == "Hello, history!"
    assert await event_types(handle) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "ACTIVITY_TASK_SCHEDULED",
        "ACTIVITY_TASK_STARTED",
        "ACTIVITY_TASK_COMPLETED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    events = await history_events(handle)
    # Event ids are 1..N, contiguous.
    assert [e.event_id for e in events] == list(range(1, len(events) + 1))
    started = events[0].workflow_execution_started_event_attributes
    assert started.workflow_type.name == "OneActivityWorkflow"
    assert started.task_queue.name == handle_task_queue(events)
    sched = events[4].activity_task_scheduled_event_attributes
    assert sched.activity_type.name == "greet"
    assert sched.workflow_task_completed_event_id == 4
    act_started = events[5].activity_task_started_event_attributes
    assert act_started.scheduled_event_id == 5
    assert act_started.attempt == 1
    act_done = events[6].activity_task_completed_event_attributes
    assert act_done.scheduled_event_id == 5
    assert act_done.started_event_id == 6
    done = events[10].workflow_execution_completed_event_attributes
    assert done.workflow_task_completed_event_id == 10


def handle_task_queue(events) -> str:
    return events[1].workflow_task_scheduled_event_attributes.task_queue.name


async def test_timer(client: Client) -> None:
    async with run_worker(client, workflows=[TimerWorkflow]) as w:
        handle = await client.start_workflow(
            TimerWorkflow.run, 1.0, id=new_id(), task_queue=w.task_queue
        )
        t0 = time.monotonic()
        assert await handle.result() == "timer fired"
        elapsed = time.monotonic() - t0
    assert elapsed >= 0.9, f"1 s timer fired after {elapsed:.2f}s"
    assert elapsed < 10, f"1 s timer fired after {elapsed:.2f}s"
    types = await event_types(handle)
    assert "TIMER_STARTED" in types and "TIMER_FIRED" in types
    assert types.index("TIMER_STARTED") < types.index("TIMER_FIRED")
    events = await history_events(handle)
    timer = next(e for e in events if e.HasField("timer_started_event_attributes"))
    assert timer.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta() == timedelta(
        seconds=1
    )


async def test_signal(client: Client) -> None:
    async with run_worker(client, workflows=[WaitSignalWorkflow]) as w:
        handle = await client.start_workflow(
            WaitSignalWorkflow.run, id=new_id(), task_queue=w.task_queue
        )
        await handle.signal(WaitSignalWorkflow.deliver, "signal-payload")
        assert await handle.result() == "signal-payload"
    types = await event_types(handle)
    assert "WORKFLOW_EXECUTION_SIGNALED" in types
    events = await history_events(handle)
    sig = next(e for e in events if e.HasField("workflow_execution_signaled_event_attributes"))
    assert sig.workflow_execution_signaled_event_attributes.signal_name == "deliver"


async def test_query_running_and_completed(client: Client) -> None:
    async with run_worker(client, workflows=[WaitSignalWorkflow]) as w:
        handle = await client.start_workflow(
            WaitSignalWorkflow.run, id=new_id(), task_queue=w.task_queue
        )
        assert await handle.query(WaitSignalWorkflow.current_state) == "waiting"
        await handle.signal(WaitSignalWorkflow.deliver, "x")
        assert await handle.result() == "x"
        # Queries on a closed workflow are answered by replaying its history.
        assert await handle.query(WaitSignalWorkflow.current_state) == "got x"


async def test_workflow_failure(client: Client) -> None:
    async with run_worker(client, workflows=[FailingWorkflow]) as w:
        handle = await client.start_workflow(
            FailingWorkflow.run, id=new_id(), task_queue=w.task_queue
        )
        with pytest.raises(WorkflowFailureError) as err:
            await handle.result()
    cause = err.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.message == "deliberate failure"
    assert cause.type == "MyBusinessError"
    assert list(cause.details) == ["detail-1"]
    assert (await handle.describe()).status == WorkflowExecutionStatus.FAILED
    assert (await event_types(handle))[-1] == "WORKFLOW_EXECUTION_FAILED"


async def test_cancel_workflow(client: Client) -> None:
    async with run_worker(client, workflows=[ForeverWorkflow]) as w:
        handle = await client.start_workflow(
            ForeverWorkflow.run, id=new_id(), task_queue=w.task_queue
        )
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as err:
            await handle.result()
    assert isinstance(err.value.cause, CancelledError)
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    types = await event_types(handle)
    assert "WORKFLOW_EXECUTION_CANCEL_REQUESTED" in types
    assert types[-1] == "WORKFLOW_EXECUTION_CANCELED"


async def test_terminate_workflow(client: Client) -> None:
    async with run_worker(client, workflows=[ForeverWorkflow]) as w:
        handle = await client.start_workflow(
            ForeverWorkflow.run, id=new_id(), task_queue=w.task_queue
        )
        await handle.terminate("enough", reason="test says stop")
        with pytest.raises(WorkflowFailureError) as err:
            await handle.result()
    cause = err.value.cause
    assert isinstance(cause, TerminatedError)
    assert cause.message == "test says stop"
    assert (await handle.describe()).status == WorkflowExecutionStatus.TERMINATED
    events = await history_events(handle)
    last = events[-1]
    assert last.HasField("workflow_execution_terminated_event_attributes")
    assert last.workflow_execution_terminated_event_attributes.reason == "test says stop"


async def test_terminate_without_worker(client: Client) -> None:
    """Terminate works on a workflow no worker ever picked up."""
    handle = await client.start_workflow(
        "NoSuchWorkflowType", id=new_id(), task_queue=new_id("tq-nobody")
    )
    await handle.terminate(reason="no worker")
    assert (await handle.describe()).status == WorkflowExecutionStatus.TERMINATED
    assert await event_types(handle) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_EXECUTION_TERMINATED",
    ]


async def test_describe_running_and_completed(client: Client) -> None:
    async with run_worker(client, workflows=[WaitSignalWorkflow]) as w:
        wid = new_id()
        handle = await client.start_workflow(
            WaitSignalWorkflow.run, id=wid, task_queue=w.task_queue
        )
        desc = await handle.describe()
        assert desc.id == wid
        assert desc.run_id == handle.result_run_id
        assert desc.status == WorkflowExecutionStatus.RUNNING
        assert desc.workflow_type == "WaitSignalWorkflow"
        assert desc.task_queue == w.task_queue
        assert desc.close_time is None
        assert desc.start_time is not None

        await handle.signal(WaitSignalWorkflow.deliver, "done")
        await handle.result()
        desc = await handle.describe()
    assert desc.status == WorkflowExecutionStatus.COMPLETED
    assert desc.workflow_type == "WaitSignalWorkflow"
    assert desc.task_queue == w.task_queue
    assert desc.close_time is not None and desc.close_time >= desc.start_time
    assert desc.history_length == len(await history_events(handle))


async def test_signal_with_start(client: Client) -> None:
    async with run_worker(client, workflows=[WaitSignalWorkflow]) as w:
        wid = new_id()
        handle = await client.start_workflow(
            WaitSignalWorkflow.run,
            id=wid,
            task_queue=w.task_queue,
            start_signal="deliver",
            start_signal_args=["from signal-with-start"],
        )
        assert await handle.result() == "from signal-with-start"
    types = await event_types(handle)
    assert types[:3] == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_TASK_SCHEDULED",
    ]
    assert types[-1] == "WORKFLOW_EXECUTION_COMPLETED"


async def test_signal_with_start_on_running_workflow_signals_it(client: Client) -> None:
    async with run_worker(client, workflows=[WaitSignalWorkflow]) as w:
        wid = new_id()
        first = await client.start_workflow(
            WaitSignalWorkflow.run, id=wid, task_queue=w.task_queue
        )
        second = await client.start_workflow(
            WaitSignalWorkflow.run,
            id=wid,
            task_queue=w.task_queue,
            start_signal="deliver",
            start_signal_args=["to the running one"],
        )
        assert second.result_run_id == first.result_run_id
        assert await first.result() == "to the running one"


async def test_continue_as_new(client: Client) -> None:
    async with run_worker(client, workflows=[ContinueAsNewWorkflow]) as w:
        wid = new_id()
        handle = await client.start_workflow(
            ContinueAsNewWorkflow.run, args=[3, 0], id=wid, task_queue=w.task_queue
        )
        first_run_id = handle.result_run_id
        assert await handle.result() == 3 + 2 + 1

    first = client.get_workflow_handle(wid, run_id=first_run_id)
    first_events = await history_events(first)
    assert first_events[-1].HasField("workflow_execution_continued_as_new_event_attributes")
    can = first_events[-1].workflow_execution_continued_as_new_event_attributes
    assert can.new_execution_run_id
    assert (await first.describe()).status == WorkflowExecutionStatus.CONTINUED_AS_NEW

    latest = client.get_workflow_handle(wid)
    desc = await latest.describe()
    assert desc.status == WorkflowExecutionStatus.COMPLETED
    assert desc.run_id != first_run_id
    final_events = await history_events(latest)
    started = final_events[0].workflow_execution_started_event_attributes
    assert started.continued_execution_run_id, "final run must record its predecessor"
    assert started.continued_execution_run_id != desc.run_id
    assert started.first_execution_run_id == first_run_id
    assert final_events[-1].HasField("workflow_execution_completed_event_attributes")

    # The chain: the second run's predecessor is the first run.
    second = client.get_workflow_handle(wid, run_id=can.new_execution_run_id)
    second_started = (await history_events(second))[0].workflow_execution_started_event_attributes
    assert second_started.continued_execution_run_id == first_run_id
    assert second_started.initiator == ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_WORKFLOW


async def test_workflow_task_failure_is_retried(client: Client) -> None:
    async with run_worker(client, workflows=[FlakyTaskWorkflow]) as w:
        handle = await client.start_workflow(
            FlakyTaskWorkflow.run, id=new_id(), task_queue=w.task_queue
        )
        assert await handle.result() == "recovered"
    events = await history_events(handle)
    types = [e for e in await event_types(handle)]
    assert "WORKFLOW_TASK_FAILED" in types
    failed = next(e for e in events if e.HasField("workflow_task_failed_event_attributes"))
    assert "transient bug" in failed.workflow_task_failed_event_attributes.failure.message
    # The retried task carries attempt 2.
    scheduled = [
        e.workflow_task_scheduled_event_attributes
        for e in events
        if e.HasField("workflow_task_scheduled_event_attributes")
    ]
    assert [s.attempt for s in scheduled] == [1, 2]
