"""A cell of several members: three `orrery cell` processes on one PostgreSQL
database (8 shards) serve one namespace. Calls made to any member reach the
owner of the workflow's shard or of the task queue, and when a member is
killed or stopped its shards move to the others without losing or repeating
anything.

Orrery only (the real dev server is one process); needs PostgreSQL at
127.0.0.1:5432 (user postgres, trust auth), where each test makes its own
database and drops it afterwards.
"""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio import activity, workflow
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from conftest import e2e_target, free_port, orrery_binary
from helpers import event_type_name, new_id, run_worker, wait_for
from members_stack import Database, MemberCell

pytestmark = pytest.mark.skipif(
    e2e_target() != "orrery", reason="a cell of several members is Orrery's"
)


@pytest_asyncio.fixture
async def cell():
    """Three members (`--shards 8`, TTL 3 s), each ready (/readyz 200).
    Their log tails are printed at teardown, which pytest shows only for a
    failed test."""
    c = MemberCell(3, shards=8, ttl_ms=3000)
    try:
        await c.start()
        # The three split the shards (member-0..2 take 2, 1 and 5 of 8 by
        # rendezvous hashing), so calls really cross members.
        await c.wait_shard_owners({m.member_id for m in c.members})
        yield c
    finally:
        print(c.log_tails(80))
        c.close()


async def connect(member) -> Client:
    return await asyncio.wait_for(Client.connect(member.address, namespace="default"), 20)


def check_event_ids(wf_id: str, events: list[HistoryEvent]) -> None:
    ids = [e.event_id for e in events]
    dupes = [i for i, n in Counter(ids).items() if n > 1]
    assert not dupes, f"{wf_id}: duplicate event ids {dupes} in {ids}"
    assert ids == list(range(1, len(ids) + 1)), f"{wf_id}: event ids not 1..n: {ids}"


# -- workflows and activities ----------------------------------------------

flaky_attempts: dict[str, list[int]] = defaultdict(list)


@activity.defn
async def flaky_double(n: int) -> str:
    info = activity.info()
    flaky_attempts[info.workflow_id or ""].append(info.attempt)
    if info.attempt == 1:
        raise ApplicationError(f"attempt 1 of {n} fails on purpose")
    return f"{2 * n}@{info.attempt}"


@workflow.defn
class ActivityTimerSignalWorkflow:
    def __init__(self) -> None:
        self.value: str | None = None

    @workflow.signal
    def go(self, value: str) -> None:
        self.value = value

    @workflow.run
    async def run(self, n: int) -> str:
        doubled = await workflow.execute_activity(
            flaky_double,
            n,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=100),
                backoff_coefficient=1.0,
                maximum_attempts=5,
            ),
        )
        await workflow.sleep(1 + n % 2)
        await workflow.wait_condition(lambda: self.value is not None)
        return f"{n}:{doubled}:{self.value}"


@activity.defn
async def slow_echo(n: int) -> str:
    await asyncio.sleep(0.2)
    return f"echo-{n}"


@workflow.defn
class TimerActivityWorkflow:
    @workflow.run
    async def run(self, n: int) -> str:
        await workflow.sleep(2 + n % 3)
        echoed = await workflow.execute_activity(
            slow_echo,
            n,
            start_to_close_timeout=timedelta(seconds=5),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=200), backoff_coefficient=1.0
            ),
        )
        return f"{n}:{echoed}"


@workflow.defn
class ChildEcho:
    def __init__(self) -> None:
        self.poke: str | None = None

    @workflow.signal
    def poked(self, value: str) -> None:
        self.poke = value

    @workflow.run
    async def run(self, n: int) -> str:
        await workflow.wait_condition(lambda: self.poke is not None)
        return f"child-{n}:{self.poke}"


@workflow.defn
class ParentOfChildren:
    """Starts two children (their ids hash to any member's shard), signals
    each as an external workflow, and returns what they returned: every step
    crosses members when the shards do."""

    @workflow.run
    async def run(self, n: int) -> list[str]:
        parent_id = workflow.info().workflow_id
        handles = [
            await workflow.start_child_workflow(ChildEcho.run, n * 10 + k, id=f"{parent_id}-c{k}")
            for k in range(2)
        ]
        for k in range(2):
            await workflow.get_external_workflow_handle(f"{parent_id}-c{k}").signal(
                ChildEcho.poked, f"p{k}"
            )
        return [await h for h in handles]


# -- tests -----------------------------------------------------------------


@pytest.mark.timeout(240)
async def test_workflows_complete_across_members(cell) -> None:
    # The worker polls member 0, the starter starts through member 1 and
    # signals go through member 2.
    worker_client, starter, signaller = [await connect(cell[i]) for i in range(3)]
    count = 40
    ids = [new_id(f"across-{i}") for i in range(count)]
    async with run_worker(
        worker_client, workflows=[ActivityTimerSignalWorkflow], activities=[flaky_double]
    ) as worker:
        handles: list[WorkflowHandle] = await asyncio.gather(
            *(
                starter.start_workflow(
                    ActivityTimerSignalWorkflow.run, i, id=ids[i], task_queue=worker.task_queue
                )
                for i in range(count)
            )
        )
        await asyncio.gather(
            *(
                signaller.get_workflow_handle(ids[i]).signal(
                    ActivityTimerSignalWorkflow.go, f"sig-{i}"
                )
                for i in range(count)
            )
        )
        try:
            results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 90)
        except asyncio.TimeoutError:
            pytest.fail(f"not every workflow finished within 90 s\n{cell.log_tails()}")

    for i, result in enumerate(results):
        assert result == f"{i}:{2 * i}@2:sig-{i}", f"{ids[i]}: {result}"
        assert flaky_attempts[ids[i]] == [1, 2], f"{ids[i]}: attempts {flaky_attempts[ids[i]]}"

    # Read back through the third member: its description and the history
    # agree, whichever member owns the run.
    for i, wf_id in enumerate(ids):
        handle = signaller.get_workflow_handle(wf_id, run_id=handles[i].result_run_id)
        desc = await handle.describe()
        events = list((await handle.fetch_history()).events)
        check_event_ids(wf_id, events)
        types = [event_type_name(e) for e in events]
        assert desc.status == WorkflowExecutionStatus.COMPLETED, f"{wf_id}: {desc.status}"
        assert desc.run_id == handles[i].result_run_id
        assert desc.history_length == len(events), (
            f"{wf_id}: described history_length {desc.history_length}, history has {len(events)}"
        )
        assert desc.close_time is not None
        assert types[0] == "WORKFLOW_EXECUTION_STARTED"
        assert types[-1] == "WORKFLOW_EXECUTION_COMPLETED", f"{wf_id}: {types}"
        counts = Counter(types)
        assert counts["WORKFLOW_EXECUTION_SIGNALED"] == 1, f"{wf_id}: {types}"
        assert counts["TIMER_STARTED"] == counts["TIMER_FIRED"] == 1, f"{wf_id}: {types}"
        assert counts["ACTIVITY_TASK_COMPLETED"] == 1, f"{wf_id}: {types}"
        # The failed first attempt is retried inside the activity: its one
        # started event records the attempt that completed.
        started = [e for e in events if event_type_name(e) == "ACTIVITY_TASK_STARTED"]
        assert [e.activity_task_started_event_attributes.attempt for e in started] == [2]


@pytest.mark.timeout(240)
async def test_a_member_killed_and_one_stopped_lose_nothing(cell) -> None:
    client = await connect(cell[0])
    count = 30
    ids = [new_id(f"survive-{i}") for i in range(count)]
    async with run_worker(
        client, workflows=[TimerActivityWorkflow], activities=[slow_echo]
    ) as worker:
        handles: list[WorkflowHandle] = await asyncio.gather(
            *(
                client.start_workflow(
                    TimerActivityWorkflow.run, i, id=ids[i], task_queue=worker.task_queue
                )
                for i in range(count)
            )
        )

        async def all_timers_started() -> bool:
            for h in handles:
                events = list((await h.fetch_history()).events)
                if not any(event_type_name(e) == "TIMER_STARTED" for e in events):
                    return False
            return True

        # Every workflow is mid-way (its timer pending) when members go.
        await wait_for(all_timers_started, timeout=30, interval=0.1)

        await asyncio.to_thread(cell[2].kill9)
        cell[1].sigterm()
        try:
            code = await asyncio.to_thread(cell[1].proc.wait, 10)
        except subprocess.TimeoutExpired:
            pytest.fail(f"member-1 still running 10 s after SIGTERM\n{cell[1].log_tail()}")
        assert code == 0, f"member-1 exited {code} after SIGTERM\n{cell[1].log_tail()}"

        try:
            results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 60)
        except asyncio.TimeoutError:
            pytest.fail(
                "not every workflow finished within 60 s of losing two members\n"
                f"{cell.log_tails()}"
            )
    assert results == [f"{i}:echo-{i}" for i in range(count)]
    assert cell[0].running(), "the surviving member stopped"
    # The survivor holds every shard now (the killed member's after its TTL).
    await cell.wait_shard_owners({cell[0].member_id}, timeout=10)

    for i, h in enumerate(handles):
        events = list((await h.fetch_history()).events)
        check_event_ids(ids[i], events)
        types = [event_type_name(e) for e in events]
        assert types[-1] == "WORKFLOW_EXECUTION_COMPLETED", f"{ids[i]}: {types}"
        timers_started = [e.event_id for e in events if event_type_name(e) == "TIMER_STARTED"]
        timers_fired = [
            e.timer_fired_event_attributes.started_event_id
            for e in events
            if event_type_name(e) == "TIMER_FIRED"
        ]
        assert len(timers_started) == 1, f"{ids[i]}: {types}"
        assert timers_fired == timers_started, (
            f"{ids[i]}: timers started at {timers_started}, fired for {timers_fired}: {types}"
        )
        assert Counter(types)["ACTIVITY_TASK_COMPLETED"] == 1, f"{ids[i]}: {types}"


def _run_cell(args: list[str]) -> subprocess.CompletedProcess[str]:
    """Runs `orrery cell ARGS` expecting it to refuse to start (bounded)."""
    return subprocess.run(
        [orrery_binary(), "cell", *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.timeout(150)
def test_peer_tls_is_required_off_loopback() -> None:
    db = Database()
    try:
        peer_port = free_port()
        off_loopback = _run_cell(
            [
                "--database-url", db.url,
                "--grpc-addr", f"127.0.0.1:{free_port()}",
                "--member-id", "a",
                "--peer-addr", "10.0.0.1:7235",
                "--peer-listen-addr", f"0.0.0.0:{peer_port}",
                "--insecure-peer-channel",
            ]
        )
    finally:
        db.drop()
    out = off_loopback.stdout + off_loopback.stderr
    assert off_loopback.returncode != 0, f"a plaintext member off loopback started:\n{out}"
    assert "loopback" in out, out

    with tempfile.TemporaryDirectory(prefix="orrery-e2e-members-") as tmp:
        peer_port = free_port()
        on_sqlite = _run_cell(
            [
                "--database-url", f"sqlite://{Path(tmp) / 'cell.db'}",
                "--grpc-addr", f"127.0.0.1:{free_port()}",
                "--member-id", "a",
                "--peer-addr", f"127.0.0.1:{peer_port}",
                "--peer-listen-addr", f"127.0.0.1:{peer_port}",
                "--insecure-peer-channel",
            ]
        )
    out = on_sqlite.stdout + on_sqlite.stderr
    assert on_sqlite.returncode != 0, f"a member on SQLite started:\n{out}"
    assert "PostgreSQL" in out, out


@pytest.mark.timeout(240)
async def test_children_and_external_signals_cross_members(cell) -> None:
    """Starting a child, signalling it as an external workflow and telling
    the parent it completed all act on a run whose shard may be another
    member's: each reaches that member."""
    worker_client, starter = await connect(cell[0]), await connect(cell[1])
    count = 12
    ids = [new_id(f"parent-{i}") for i in range(count)]
    async with run_worker(
        worker_client, workflows=[ParentOfChildren, ChildEcho], activities=[]
    ) as worker:
        handles = await asyncio.gather(
            *(
                starter.start_workflow(
                    ParentOfChildren.run, i, id=ids[i], task_queue=worker.task_queue
                )
                for i in range(count)
            )
        )
        try:
            results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 90)
        except asyncio.TimeoutError:
            pytest.fail(f"not every parent finished within 90 s\n{cell.log_tails()}")
    for i, result in enumerate(results):
        assert result == [f"child-{i * 10}:p0", f"child-{i * 10 + 1}:p1"], f"{ids[i]}: {result}"
    # The runs really were spread: parents and children on several members'
    # shards (8 shards over 3 members; 36 runs).
    owners = await asyncio.to_thread(cell.db.shard_owners)
    assert len({owner for owner in owners.values()}) == 3, owners
    for wf_id in ids:
        events = [e async for e in starter.get_workflow_handle(wf_id).fetch_history_events()]
        check_event_ids(wf_id, events)
        kinds = Counter(event_type_name(e) for e in events)
        assert kinds["CHILD_WORKFLOW_EXECUTION_STARTED"] == 2, kinds
        assert kinds["EXTERNAL_WORKFLOW_EXECUTION_SIGNALED"] == 2, kinds
        assert kinds["CHILD_WORKFLOW_EXECUTION_COMPLETED"] == 2, kinds


@workflow.defn
class ScheduledEcho:
    @workflow.run
    async def run(self, n: int) -> str:
        return f"scheduled-{n}"


@pytest.mark.timeout(240)
async def test_schedules_run_once_across_members(cell) -> None:
    """A schedule created through one member starts its runs on whichever
    member owns each run's shard, once per time: every member sees the
    same schedule, but only one runs it."""
    from temporalio.client import (
        Schedule,
        ScheduleActionStartWorkflow,
        ScheduleIntervalSpec,
        ScheduleSpec,
    )

    worker_client, creator, reader = [await connect(cell[i]) for i in range(3)]
    schedule_id = new_id("members-schedule")
    async with run_worker(worker_client, workflows=[ScheduledEcho], activities=[]) as worker:
        handle = await creator.create_schedule(
            schedule_id,
            Schedule(
                action=ScheduleActionStartWorkflow(
                    ScheduledEcho.run, 7, id=f"{schedule_id}-run", task_queue=worker.task_queue
                ),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=1))]),
            ),
        )

        async def enough_actions() -> bool:
            desc = await reader.get_schedule_handle(schedule_id).describe()
            return desc.info.num_actions >= 4

        await wait_for(enough_actions, timeout=60)
        await handle.pause()
        desc = await reader.get_schedule_handle(schedule_id).describe()
        started = [a.action.workflow_id for a in desc.info.recent_actions]
        assert len(started) == len(set(started)), f"a time started twice: {started}"
        for wf_id in started:
            result = await asyncio.wait_for(reader.get_workflow_handle(wf_id).result(), 30)
            assert result == "scheduled-7"
        # As many runs exist as the schedule counted actions: none twice.
        runs = [
            w.id
            async for w in reader.list_workflows(
                f'TemporalScheduledById = "{schedule_id}"'
            )
        ]
        assert len(runs) == desc.info.num_actions, (runs, desc.info.num_actions)
        await handle.delete()
