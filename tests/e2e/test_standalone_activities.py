"""Standalone activities (StartActivityExecution): started by a client,
run by an ordinary worker, retried per policy, canceled, terminated, and
completed asynchronously by id; activity ids live apart from workflow ids."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.client import ActivityExecutionStatus, ActivityFailureError, Client
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityAlreadyStartedError, ApplicationError, CancelledError
from temporalio.service import RPCError, RPCStatusCode

from helpers import new_id, run_worker

ATTEMPTS: dict[str, int] = {}


@activity.defn
async def add_one(x: int) -> int:
    return x + 1


@activity.defn
async def flaky(key: str) -> str:
    ATTEMPTS[key] = ATTEMPTS.get(key, 0) + 1
    if ATTEMPTS[key] < 3:
        raise ApplicationError(f"attempt {ATTEMPTS[key]} fails")
    return f"succeeded on attempt {activity.info().attempt}"


@activity.defn
async def completes_elsewhere() -> str:
    activity.raise_complete_async()


async def test_start_and_result_through_a_worker(client: Client) -> None:
    queue = new_id("sa-tq")
    handle = await client.start_activity(
        add_one, 41, id=new_id("sa"), task_queue=queue, start_to_close_timeout=timedelta(seconds=10)
    )
    described = await handle.describe()
    assert described.status == ActivityExecutionStatus.RUNNING
    async with run_worker(client, activities=[add_one], task_queue=queue):
        assert await handle.result() == 42
    assert (await handle.describe()).status == ActivityExecutionStatus.COMPLETED
    # A workflow id equal to the activity id is a different thing entirely.
    with pytest.raises(RPCError) as err:
        await client.get_workflow_handle(handle.id).describe()
    assert err.value.status == RPCStatusCode.NOT_FOUND


async def test_retries_follow_the_policy(client: Client) -> None:
    queue, key = new_id("sa-tq"), new_id("key")
    async with run_worker(client, activities=[flaky], task_queue=queue):
        result = await client.execute_activity(
            flaky,
            key,
            id=new_id("sa"),
            task_queue=queue,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=50)),
        )
    assert result == "succeeded on attempt 3"


async def test_id_conflict_and_cancel_before_start(client: Client) -> None:
    activity_id, queue = new_id("sa"), new_id("nobody")
    handle = await client.start_activity(
        add_one, 1, id=activity_id, task_queue=queue, start_to_close_timeout=timedelta(seconds=10)
    )
    with pytest.raises(ActivityAlreadyStartedError):
        await client.start_activity(
            add_one, 1, id=activity_id, task_queue=queue, start_to_close_timeout=timedelta(seconds=10)
        )
    await handle.cancel(reason="not needed")
    with pytest.raises(ActivityFailureError) as failed:
        await handle.result()
    assert isinstance(failed.value.cause, CancelledError)
    described = await handle.describe()
    assert described.status == ActivityExecutionStatus.CANCELED
    # A closed activity cannot be terminated.
    with pytest.raises(RPCError) as err:
        await handle.terminate(reason="too late")
    assert err.value.status == RPCStatusCode.FAILED_PRECONDITION


async def test_terminate_and_complete_by_id(client: Client) -> None:
    queue = new_id("nobody")
    doomed = await client.start_activity(
        add_one, 1, id=new_id("sa"), task_queue=queue, start_to_close_timeout=timedelta(seconds=10)
    )
    await doomed.terminate(reason="operator")
    assert (await doomed.describe()).status == ActivityExecutionStatus.TERMINATED

    queue = new_id("sa-tq")
    handle = await client.start_activity(
        completes_elsewhere, id=new_id("sa"), task_queue=queue, start_to_close_timeout=timedelta(seconds=10)
    )
    async with run_worker(client, activities=[completes_elsewhere], task_queue=queue):
        async def started() -> bool:
            return (await handle.describe()).last_started_time is not None

        import asyncio

        for _ in range(100):
            if await started():
                break
            await asyncio.sleep(0.05)
        by_id = client.get_async_activity_handle(activity_id=handle.id, run_id=handle.run_id)
        await by_id.complete("done by id")
    assert await handle.result() == "done by id"


async def test_list_and_count_with_filters(client: Client) -> None:
    from helpers import wait_for

    queue = new_id("sa-tq")
    ids = [new_id("sa-list") for _ in range(3)]
    for i in ids:
        await client.start_activity(
            add_one, 1, id=i, task_queue=queue, start_to_close_timeout=timedelta(seconds=30)
        )
    # No worker polls the queue: all three stay running.
    by_id = " OR ".join(f"ActivityId = '{i}'" for i in ids)

    async def listed() -> list:
        return [e async for e in client.list_activities(f"({by_id}) AND TaskQueue = '{queue}'")]

    executions = await wait_for(lambda: _all_three(listed))
    assert sorted(e.activity_id for e in executions) == sorted(ids)
    assert {e.activity_type for e in executions} == {"add_one"}
    assert {e.task_queue for e in executions} == {queue}
    count = await client.count_activities(f"{by_id}")
    assert count.count == 3
    grouped = await client.count_activities(f"({by_id}) GROUP BY ExecutionStatus")
    assert [(g.group_values, g.count) for g in grouped.groups] == [(["Running"], 3)]
    assert {e.status for e in executions} == {ActivityExecutionStatus.RUNNING}
    assert (await client.count_activities(f"ActivityId = '{new_id('none')}'")).count == 0
    # Activities and workflows are listed apart.
    assert [w async for w in client.list_workflows(f"WorkflowId = '{ids[0]}'")] == []
    with pytest.raises(RPCError) as err:
        await client.count_activities("ActivityId = ")
    assert err.value.status == RPCStatusCode.INVALID_ARGUMENT


async def _all_three(listed) -> list | None:
    got = await listed()
    return got if len(got) == 3 else None
