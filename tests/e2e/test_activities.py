"""Activities: retries, non-retryable errors, timeouts, heartbeats,
cancellation, heartbeat details across attempts, async completion."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    RetryState,
    TimeoutError,
    TimeoutType,
)
from temporalio.workflow import ActivityCancellationType

from helpers import event_types, history_events, new_id, run_worker, wait_for

# Per-workflow bookkeeping shared between activities (run in this process) and
# tests, keyed by workflow id.
attempts_seen: dict[str, list[int]] = defaultdict(list)
activity_started: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
activity_saw_cancel: dict[str, bool] = {}
task_tokens: dict[str, bytes] = {}


def _key() -> str:
    return activity.info().workflow_id or ""


# --------------------------------------------------------------------------- #
# Activities
# --------------------------------------------------------------------------- #
@activity.defn
async def fail_twice() -> int:
    attempt = activity.info().attempt
    attempts_seen[_key()].append(attempt)
    if attempt < 3:
        raise RuntimeError(f"failing attempt {attempt}")
    return attempt


@activity.defn
async def fail_with_type(error_type: str) -> None:
    attempts_seen[_key()].append(activity.info().attempt)
    # Retryable by itself; only the retry policy can make it non-retryable.
    raise ApplicationError(f"failed with {error_type}", type=error_type)


@activity.defn
async def sleep_for(seconds: float) -> str:
    attempts_seen[_key()].append(activity.info().attempt)
    await asyncio.sleep(seconds)
    return "woke up"


@activity.defn
async def heartbeat_once_then_stall() -> str:
    attempts_seen[_key()].append(activity.info().attempt)
    activity.heartbeat("only beat")
    await asyncio.sleep(30)
    return "should not get here"


@activity.defn
async def heartbeat_until_cancelled() -> str:
    key = _key()
    activity_started[key].set()
    try:
        while True:
            activity.heartbeat("alive")
            await asyncio.sleep(0.1)
    except asyncio.CancelledError:
        activity_saw_cancel[key] = True
        raise


@activity.defn
async def resume_from_heartbeat() -> list:
    info = activity.info()
    attempts_seen[_key()].append(info.attempt)
    if info.attempt == 1:
        activity.heartbeat("checkpoint-1", 42)
        raise RuntimeError("crash after checkpoint")
    return list(info.heartbeat_details)


@activity.defn
async def complete_me_later() -> str:
    task_tokens[_key()] = activity.info().task_token
    activity.raise_complete_async()


# --------------------------------------------------------------------------- #
# Workflows
# --------------------------------------------------------------------------- #
@dataclass
class ActivityCall:
    name: str
    args: list = field(default_factory=list)
    start_to_close_s: float = 10.0
    heartbeat_s: float | None = None
    initial_interval_ms: int = 100
    max_attempts: int = 0
    non_retryable_types: list[str] = field(default_factory=list)
    activity_id: str | None = None


@workflow.defn
class CallActivityWorkflow:
    """Runs one activity as described by the argument; lets errors propagate."""

    @workflow.run
    async def run(self, call: ActivityCall):
        return await workflow.execute_activity(
            call.name,
            args=call.args,
            activity_id=call.activity_id,
            start_to_close_timeout=timedelta(seconds=call.start_to_close_s),
            heartbeat_timeout=(
                timedelta(seconds=call.heartbeat_s) if call.heartbeat_s else None
            ),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=call.initial_interval_ms),
                backoff_coefficient=1.0,
                maximum_attempts=call.max_attempts,
                non_retryable_error_types=call.non_retryable_types,
            ),
        )


@workflow.defn
class CancelActivityWorkflow:
    def __init__(self) -> None:
        self.cancel_now = False

    @workflow.signal
    def cancel_activity(self) -> None:
        self.cancel_now = True

    @workflow.run
    async def run(self) -> str:
        handle = workflow.start_activity(
            heartbeat_until_cancelled,
            start_to_close_timeout=timedelta(seconds=30),
            heartbeat_timeout=timedelta(seconds=2),
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        await workflow.wait_condition(lambda: self.cancel_now)
        handle.cancel()
        try:
            await handle
        except ActivityError as e:
            if isinstance(e.cause, CancelledError):
                return "activity cancelled"
            raise
        return "activity was not cancelled"


ALL_ACTIVITIES = [
    fail_twice,
    fail_with_type,
    sleep_for,
    heartbeat_once_then_stall,
    heartbeat_until_cancelled,
    resume_from_heartbeat,
    complete_me_later,
]


async def _run(client: Client, call: ActivityCall, wid: str | None = None):
    wid = wid or new_id()
    async with run_worker(
        client, workflows=[CallActivityWorkflow], activities=ALL_ACTIVITIES
    ) as w:
        handle = await client.start_workflow(
            CallActivityWorkflow.run, call, id=wid, task_queue=w.task_queue
        )
        try:
            return await handle.result(), handle
        except WorkflowFailureError as e:
            return e, handle


# --------------------------------------------------------------------------- #
# Tests
# --------------------------------------------------------------------------- #
async def test_retry_until_success_on_third_attempt(client: Client) -> None:
    wid = new_id()
    result, handle = await _run(client, ActivityCall("fail_twice", max_attempts=5), wid)
    assert result == 3
    assert attempts_seen[wid] == [1, 2, 3]
    events = await history_events(handle)
    types = [e for e in await event_types(handle)]
    # Retries are not in history: one SCHEDULED, one STARTED (with the final
    # attempt number), one COMPLETED.
    assert types.count("ACTIVITY_TASK_SCHEDULED") == 1
    assert types.count("ACTIVITY_TASK_STARTED") == 1
    assert "ACTIVITY_TASK_FAILED" not in types
    started = next(e for e in events if e.HasField("activity_task_started_event_attributes"))
    assert started.activity_task_started_event_attributes.attempt == 3
    assert "failing attempt 2" in started.activity_task_started_event_attributes.last_failure.message


async def test_non_retryable_error_type(client: Client) -> None:
    wid = new_id()
    err, _ = await _run(
        client,
        ActivityCall(
            "fail_with_type", ["FatalError"], max_attempts=5, non_retryable_types=["FatalError"]
        ),
        wid,
    )
    assert isinstance(err, WorkflowFailureError)
    act = err.cause
    assert isinstance(act, ActivityError)
    assert act.retry_state == RetryState.NON_RETRYABLE_FAILURE
    assert isinstance(act.cause, ApplicationError)
    assert act.cause.type == "FatalError"
    assert act.cause.message == "failed with FatalError"
    assert attempts_seen[wid] == [1]


async def test_maximum_attempts_exhausted(client: Client) -> None:
    wid = new_id()
    err, handle = await _run(
        client, ActivityCall("fail_with_type", ["Flaky"], max_attempts=2), wid
    )
    assert isinstance(err, WorkflowFailureError)
    act = err.cause
    assert isinstance(act, ActivityError)
    assert act.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED
    assert isinstance(act.cause, ApplicationError)
    assert act.cause.type == "Flaky"
    assert attempts_seen[wid] == [1, 2]
    events = await history_events(handle)
    failed = next(e for e in events if e.HasField("activity_task_failed_event_attributes"))
    assert failed.activity_task_failed_event_attributes.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED.value
    started = next(e for e in events if e.HasField("activity_task_started_event_attributes"))
    assert started.activity_task_started_event_attributes.attempt == 2


async def test_start_to_close_timeout(client: Client) -> None:
    wid = new_id()
    err, handle = await _run(
        client, ActivityCall("sleep_for", [10.0], start_to_close_s=1.0, max_attempts=1), wid
    )
    assert isinstance(err, WorkflowFailureError)
    act = err.cause
    assert isinstance(act, ActivityError)
    assert isinstance(act.cause, TimeoutError)
    assert act.cause.type == TimeoutType.START_TO_CLOSE
    assert act.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED
    assert attempts_seen[wid] == [1]
    types = await event_types(handle)
    assert "ACTIVITY_TASK_TIMED_OUT" in types


async def test_heartbeat_timeout(client: Client) -> None:
    wid = new_id()
    err, handle = await _run(
        client,
        ActivityCall(
            "heartbeat_once_then_stall", start_to_close_s=30.0, heartbeat_s=1.0, max_attempts=1
        ),
        wid,
    )
    assert isinstance(err, WorkflowFailureError)
    act = err.cause
    assert isinstance(act, ActivityError)
    assert isinstance(act.cause, TimeoutError)
    assert act.cause.type == TimeoutType.HEARTBEAT
    assert list(act.cause.last_heartbeat_details) == ["only beat"]
    assert attempts_seen[wid] == [1]
    assert "ACTIVITY_TASK_TIMED_OUT" in await event_types(handle)


async def test_activity_cancellation(client: Client) -> None:
    wid = new_id()
    async with run_worker(
        client, workflows=[CancelActivityWorkflow], activities=ALL_ACTIVITIES
    ) as w:
        handle = await client.start_workflow(
            CancelActivityWorkflow.run, id=wid, task_queue=w.task_queue
        )
        await asyncio.wait_for(activity_started[wid].wait(), 20)
        await handle.signal(CancelActivityWorkflow.cancel_activity)
        assert await handle.result() == "activity cancelled"
    assert activity_saw_cancel.get(wid) is True
    types = await event_types(handle)
    assert "ACTIVITY_TASK_CANCEL_REQUESTED" in types
    assert "ACTIVITY_TASK_CANCELED" in types
    assert types.index("ACTIVITY_TASK_CANCEL_REQUESTED") < types.index("ACTIVITY_TASK_CANCELED")


async def test_heartbeat_details_carried_to_next_attempt(client: Client) -> None:
    wid = new_id()
    result, _ = await _run(
        client, ActivityCall("resume_from_heartbeat", heartbeat_s=10.0, max_attempts=3), wid
    )
    assert attempts_seen[wid] == [1, 2]
    assert result == ["checkpoint-1", 42]


@pytest.mark.parametrize("by", ["token", "id"])
async def test_async_activity_completion(client: Client, by: str) -> None:
    wid = new_id()
    async with run_worker(
        client, workflows=[CallActivityWorkflow], activities=ALL_ACTIVITIES
    ) as w:
        handle = await client.start_workflow(
            CallActivityWorkflow.run,
            ActivityCall("complete_me_later", activity_id="async-act", max_attempts=1),
            id=wid,
            task_queue=w.task_queue,
        )
        token = await wait_for(lambda: task_tokens.get(wid))
        if by == "token":
            act_handle = client.get_async_activity_handle(task_token=token)
        else:
            act_handle = client.get_async_activity_handle(
                workflow_id=wid, run_id=handle.result_run_id, activity_id="async-act"
            )
        await act_handle.heartbeat("still working")
        await act_handle.complete(f"completed by {by}")
        assert await handle.result() == f"completed by {by}"
    events = await history_events(handle)
    done = next(e for e in events if e.HasField("activity_task_completed_event_attributes"))
    assert done.activity_task_completed_event_attributes.scheduled_event_id == 5


async def test_async_completion_with_stale_token_is_not_found(client: Client) -> None:
    wid = new_id()
    async with run_worker(
        client, workflows=[CallActivityWorkflow], activities=ALL_ACTIVITIES
    ) as w:
        handle = await client.start_workflow(
            CallActivityWorkflow.run,
            ActivityCall("complete_me_later", max_attempts=1),
            id=wid,
            task_queue=w.task_queue,
        )
        token = await wait_for(lambda: task_tokens.get(wid))
        act_handle = client.get_async_activity_handle(task_token=token)
        await act_handle.complete("first")
        assert await handle.result() == "first"
        from temporalio.service import RPCError, RPCStatusCode

        with pytest.raises(RPCError) as err:
            await act_handle.complete("second")
        assert err.value.status == RPCStatusCode.NOT_FOUND
