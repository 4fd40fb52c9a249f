"""Crash durability: SIGKILL the server with work in flight, restart it on the
same data, and check every workflow still finishes with the right result.

Needs a server the suite started itself (not ORRERY_E2E_ADDRESS). Works with
both targets: the real dev server restarts on the same --db-filename.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import RetryPolicy

from helpers import event_types, new_id, run_worker, wait_for

pytestmark = pytest.mark.durability

activity_attempts: dict[str, list[int]] = defaultdict(list)
activity_running: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
release_activities = asyncio.Event()


@activity.defn
async def wait_for_release(tag: str) -> str:
    key = activity.info().workflow_id or ""
    activity_attempts[key].append(activity.info().attempt)
    activity_running[key].set()
    # The first attempt blocks until released (or until the worker stops and
    # cancels it); any later attempt finishes at once.
    if activity.info().attempt == 1:
        await release_activities.wait()
    return f"{tag} done"


@workflow.defn
class ActivityInFlightWorkflow:
    @workflow.run
    async def run(self, tag: str) -> str:
        out = await workflow.execute_activity(
            wait_for_release,
            tag,
            # Whether the stopped worker reports the cancelled attempt or not,
            # a second attempt happens within a few seconds.
            start_to_close_timeout=timedelta(seconds=4),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=100), backoff_coefficient=1.0
            ),
        )
        return f"workflow saw: {out}"


@workflow.defn
class PendingTimerWorkflow:
    @workflow.run
    async def run(self, seconds: float) -> str:
        await workflow.sleep(seconds)
        return "timer survived"


@workflow.defn
class AwaitSignalWorkflow:
    def __init__(self) -> None:
        self.got: str | None = None

    @workflow.signal
    def go(self, value: str) -> None:
        self.got = value

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.got is not None)
        return f"signal: {self.got}"


@workflow.defn
class QuickWorkflow:
    @workflow.run
    async def run(self, x: int) -> int:
        return x + 1


WORKFLOWS = [ActivityInFlightWorkflow, PendingTimerWorkflow, AwaitSignalWorkflow, QuickWorkflow]


async def test_workflows_survive_kill9(server) -> None:
    if not server.can_restart:
        pytest.skip("needs a server started by the suite (ORRERY_E2E_ADDRESS is set)")
    release_activities.clear()
    client = await Client.connect(server.address, namespace="default")
    tq = new_id("tq-durable")
    act_id, timer_id, sig_id, done_id = (new_id(p) for p in ("act", "timer", "sig", "done"))

    async with run_worker(
        client, workflows=WORKFLOWS, activities=[wait_for_release], task_queue=tq
    ):
        done = await client.start_workflow(QuickWorkflow.run, 41, id=done_id, task_queue=tq)
        assert await done.result() == 42
        act = await client.start_workflow(
            ActivityInFlightWorkflow.run, "activity", id=act_id, task_queue=tq
        )
        timer_started_at = time.monotonic()
        timer = await client.start_workflow(
            PendingTimerWorkflow.run, 5.0, id=timer_id, task_queue=tq
        )
        sig = await client.start_workflow(AwaitSignalWorkflow.run, id=sig_id, task_queue=tq)

        # Every workflow is mid-way: activity running, timer pending, first
        # workflow task of the signal waiter completed.
        await asyncio.wait_for(activity_running[act_id].wait(), 20)
        await wait_for(lambda: _has_event(timer, "TIMER_STARTED"))
        await wait_for(lambda: _has_event(sig, "WORKFLOW_TASK_COMPLETED"))
    # Worker stopped here (its running activity attempt was cancelled).

    server.kill9()
    await server.start()

    client = await Client.connect(server.address, namespace="default")
    handles = {wid: client.get_workflow_handle(wid) for wid in (act_id, timer_id, sig_id, done_id)}
    # Nothing acknowledged before the crash is lost.
    assert (await handles[done_id].describe()).status == WorkflowExecutionStatus.COMPLETED
    assert await handles[done_id].result() == 42
    for wid in (act_id, timer_id, sig_id):
        assert (await handles[wid].describe()).status == WorkflowExecutionStatus.RUNNING

    release_activities.set()
    async with run_worker(
        client, workflows=WORKFLOWS, activities=[wait_for_release], task_queue=tq
    ):
        await handles[sig_id].signal(AwaitSignalWorkflow.go, "after restart")
        results = await asyncio.wait_for(
            asyncio.gather(*(handles[w].result() for w in (act_id, timer_id, sig_id))), 40
        )
    assert results == ["workflow saw: activity done", "timer survived", "signal: after restart"]
    assert time.monotonic() - timer_started_at >= 5.0
    # The activity ran again after the crash (attempt 1 was cut short).
    assert len(activity_attempts[act_id]) >= 2
    assert activity_attempts[act_id][0] == 1


async def _has_event(handle, event_type: str) -> bool:
    return event_type in await event_types(handle)


async def test_schedules_survive_kill9(server) -> None:
    """A schedule keeps its spec, counters and place in time through a crash:
    after a restart it goes on starting workflows, once per time."""
    from temporalio.client import (
        Schedule,
        ScheduleActionStartWorkflow,
        ScheduleIntervalSpec,
        ScheduleSpec,
    )

    if not server.can_restart:
        pytest.skip("needs a server started by the suite (ORRERY_E2E_ADDRESS is set)")
    client = await Client.connect(server.address, namespace="default")
    tq, sid = new_id("tq-sched-durable"), new_id("sched-durable")
    handle = await client.create_schedule(
        sid,
        Schedule(
            action=ScheduleActionStartWorkflow(QuickWorkflow.run, 1, id=f"wf-{sid}", task_queue=tq),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=1))]),
        ),
    )
    async with run_worker(client, workflows=WORKFLOWS, task_queue=tq):
        before = await wait_for(lambda: _actions_at_least(handle, 2), timeout=20)

    server.kill9()
    await server.start()

    client = await Client.connect(server.address, namespace="default")
    handle = client.get_schedule_handle(sid)
    async with run_worker(client, workflows=WORKFLOWS, task_queue=tq):
        after = await wait_for(lambda: _actions_at_least(handle, before + 2), timeout=30)
        described = await handle.describe()
    assert after >= before + 2
    started = [a.action.workflow_id for a in described.info.recent_actions]
    # One workflow per time: no start was made twice across the crash.
    assert len(started) == len(set(started))
    await handle.delete()


async def _actions_at_least(handle, n: int) -> int | None:
    count = (await handle.describe()).info.num_actions
    return count if count >= n else None
