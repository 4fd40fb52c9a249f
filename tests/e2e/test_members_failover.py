"""A cell of three members as three hosts (network namespaces, each its own
address, mutual TLS between members; netns_hosts.py) on one PostgreSQL,
under faults while the official Python SDK drives workflows through it.

- test_kill_and_freeze_lose_nothing: workflows with a retried activity, a
  1-8 s timer, a signal, an update and (every 10th) a child run while one
  member is SIGKILLed and another frozen with SIGSTOP for 20 s. Every
  workflow completes with the right result; no history repeats an event id
  or fires a timer twice; the frozen member drops its shards when it wakes
  (so its late writes are fenced). The takeover times are measured from
  the `shards` table and a JSON summary is printed and written to a file
  (its path is printed).
- test_rolling_restart: all three members restarted one at a time (SIGTERM,
  exit 0, start again with the same id, /readyz) while workflows loop over
  activities and timers and a client keeps signalling through whichever
  members are up: no call fails with anything but a retryable error
  (UNAVAILABLE, DEADLINE_EXCEEDED), no acknowledged signal is lost, and
  every history is consistent.

ORRERY_FAILOVER_WORKFLOWS sets the first test's workflow count: 200 by
default (CI), 1000 for the acceptance run. Orrery only; needs root (network
namespaces: the tests fail, not skip, without it), openssl, and PostgreSQL
at 127.0.0.1:5432 (user postgres, trust auth), where each test makes its
own database.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import re
import signal
import subprocess
import tempfile
import time
from collections import Counter, defaultdict
from datetime import timedelta
from typing import Any, Awaitable, Callable, TypeVar

import pytest
import pytest_asyncio
from temporalio import activity, workflow
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import SignalWorkflowExecutionRequest
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from conftest import e2e_target
from helpers import event_type_name, new_id, run_worker
from netns_hosts import HostCell

pytestmark = pytest.mark.skipif(
    e2e_target() != "orrery", reason="a cell of several members is Orrery's"
)

WORKFLOWS = int(os.environ.get("ORRERY_FAILOVER_WORKFLOWS", "200"))
FREEZE_S = 20.0
TTL_MS = 5000
RPC_TIMEOUT = timedelta(seconds=5)
RETRYABLE = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED}
T = TypeVar("T")


@pytest_asyncio.fixture
async def cell():
    """Three members, each in its own namespace, 16 shards, TTL 5 s. The log
    tails are printed at teardown (pytest shows them for a failed test)."""
    c = HostCell(3, shards=16, ttl_ms=TTL_MS)
    # The activity's planned first failures would each print a traceback.
    activity_log = logging.getLogger("temporalio.activity")
    level = activity_log.level
    activity_log.setLevel(logging.ERROR)
    try:
        await c.start()
        await c.wait_shard_owners({m.member_id for m in c.members})
        yield c
    finally:
        print(c.log_tails(60))
        c.close()
        activity_log.setLevel(level)


@pytest_asyncio.fixture
async def background():
    """Tasks a test runs beside its body: cancelled when it ends, however
    it ends (before the cell goes)."""
    tasks: list[asyncio.Task[Any]] = []
    yield tasks
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def connect(member) -> Client:
    return await asyncio.wait_for(Client.connect(member.address, namespace="default"), 20)


# -- calls that may meet a moving shard ---------------------------------------


class CallLog:
    """What the calls met: retryable errors are counted (and the call tried
    again), any other error is kept and fails the test."""

    def __init__(self) -> None:
        self.retryable: Counter[str] = Counter()
        self.fatal: list[str] = []


def _retryable(err: BaseException) -> str | None:
    if isinstance(err, RPCError) and err.status in RETRYABLE:
        return err.status.name
    # The SDK's own deadline (`timeout=` on the call) passing reads as
    # CANCELLED "Timeout expired": the server never answered, which is
    # DEADLINE_EXCEEDED seen from the client.
    if (
        isinstance(err, RPCError)
        and err.status == RPCStatusCode.CANCELLED
        and "Timeout expired" in err.message
    ):
        return "CLIENT_DEADLINE"
    # An update's RPC deadline passing before the update completed: the
    # same update id is sent again, and the server deduplicates it.
    if isinstance(err, WorkflowUpdateRPCTimeoutOrCancelledError):
        return "UPDATE_RPC_TIMEOUT"
    if isinstance(err, asyncio.TimeoutError):
        return "UPDATE_OUTCOME_WAIT"
    return None


async def with_retries(
    what: str,
    call: Callable[[Client], Awaitable[T]],
    clients: Callable[[], list[Client]],
    log: CallLog,
    *,
    give_up_s: float = 90.0,
) -> T:
    """`call` on the clients in turn until it succeeds. Every call must be
    idempotent (a stable request or update id) since a timed-out one may
    have landed."""
    deadline = time.monotonic() + give_up_s
    turn = 0
    while True:
        available = clients()
        client = available[turn % len(available)]
        turn += 1
        try:
            return await call(client)
        except Exception as err:  # noqa: BLE001 - classified right here
            kind = _retryable(err)
            if kind is None:
                log.fatal.append(f"{what}: {type(err).__name__}: {err}")
                raise
            log.retryable[kind] += 1
            if time.monotonic() > deadline:
                log.fatal.append(f"{what}: still {kind} after {give_up_s}s")
                raise
            await asyncio.sleep(0.3)


async def signal_once(client: Client, wf_id: str, name: str, arg: Any, request_id: str) -> None:
    """SignalWorkflowExecution with a request id of ours, so a signal sent
    again after a timeout is recorded once (the server dedupes on it)."""
    req = SignalWorkflowExecutionRequest(
        namespace="default",
        workflow_execution=WorkflowExecution(workflow_id=wf_id),
        signal_name=name,
        identity="failover-test",
        request_id=request_id,
    )
    if arg is not None:
        req.input.payloads.extend(await client.data_converter.encode([arg]))
    await client.workflow_service.signal_workflow_execution(req, retry=True, timeout=RPC_TIMEOUT)


# -- workflows ------------------------------------------------------------------

flaky_attempts: dict[str, list[int]] = defaultdict(list)


@activity.defn
async def failover_flaky(n: int) -> str:
    info = activity.info()
    flaky_attempts[info.workflow_id or ""].append(info.attempt)
    if info.attempt == 1:
        raise ApplicationError(f"attempt 1 for {n} fails on purpose")
    return f"act-{n}"


@workflow.defn
class FailoverChild:
    @workflow.run
    async def run(self, n: int) -> str:
        await workflow.sleep(1)
        return f"child-{n}"


@workflow.defn
class FailoverWorkflow:
    def __init__(self) -> None:
        self.signalled: str | None = None
        self.note: str | None = None

    @workflow.signal
    def go(self, value: str) -> None:
        self.signalled = value

    @workflow.update
    def set_note(self, value: str) -> str:
        self.note = value
        return f"ack-{value}"

    @workflow.run
    async def run(self, n: int, timer_s: int) -> str:
        act = await workflow.execute_activity(
            failover_flaky,
            n,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=200),
                backoff_coefficient=1.0,
                maximum_attempts=20,
            ),
        )
        child = ""
        if n % 10 == 0:
            child = await workflow.execute_child_workflow(
                FailoverChild.run, n, id=f"{workflow.info().workflow_id}-child"
            )
        await workflow.sleep(timer_s)
        await workflow.wait_condition(lambda: self.signalled is not None and self.note is not None)
        return f"{n}:{act}:{child}:{self.signalled}:{self.note}"


@activity.defn
async def rolling_echo(n: int) -> int:
    return n


@workflow.defn
class RollingWorkflow:
    """Activity then timer, over and over, until told to finish; keeps every
    tick signal it got."""

    def __init__(self) -> None:
        self.ticks: set[str] = set()
        self.finished = False

    @workflow.signal
    def tick(self, value: str) -> None:
        self.ticks.add(value)

    @workflow.signal
    def finish(self) -> None:
        self.finished = True

    @workflow.run
    async def run(self, n: int, timer_s: int) -> dict[str, Any]:
        rounds = 0
        while not self.finished:
            await workflow.execute_activity(
                rolling_echo,
                rounds,
                start_to_close_timeout=timedelta(seconds=5),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(milliseconds=200), backoff_coefficient=1.0
                ),
            )
            await workflow.sleep(timer_s)
            rounds += 1
        return {"rounds": rounds, "ticks": sorted(self.ticks)}


# -- history checks -------------------------------------------------------------


class HistoryReport:
    def __init__(self) -> None:
        self.duplicate_event_ids: list[str] = []
        self.double_fired_timers: list[str] = []
        self.problems: list[str] = []

    def check(self, wf_id: str, events: list[HistoryEvent]) -> Counter[str]:
        """Event ids 1..n once each, each timer started fired exactly once,
        closed as completed; gives the counts of event types."""
        ids = [e.event_id for e in events]
        dupes = sorted(i for i, k in Counter(ids).items() if k > 1)
        if dupes:
            self.duplicate_event_ids.append(f"{wf_id}: {dupes}")
        elif ids != list(range(1, len(ids) + 1)):
            self.problems.append(f"{wf_id}: event ids not 1..n: {ids}")
        types = [event_type_name(e) for e in events]
        started = [e.event_id for e in events if event_type_name(e) == "TIMER_STARTED"]
        fired = Counter(
            e.timer_fired_event_attributes.started_event_id
            for e in events
            if event_type_name(e) == "TIMER_FIRED"
        )
        if any(fired[s] > 1 for s in started) or set(fired) - set(started):
            self.double_fired_timers.append(f"{wf_id}: started {started}, fired {dict(fired)}")
        elif sorted(fired) != started:
            self.problems.append(f"{wf_id}: timers started {started}, fired {dict(fired)}")
        if not types or types[-1] != "WORKFLOW_EXECUTION_COMPLETED":
            self.problems.append(f"{wf_id}: does not end completed: {types[-3:]}")
        return Counter(types)

    def expect(self, wf_id: str, what: str, got: Any, wanted: Any) -> None:
        if got != wanted:
            self.problems.append(f"{wf_id}: {what} {got}, wanted {wanted}")


async def histories(client: Client, wf_ids: list[str]) -> dict[str, list[HistoryEvent]]:
    gate = asyncio.Semaphore(20)

    async def one(wf_id: str) -> list[HistoryEvent]:
        async with gate:
            return [e async for e in client.get_workflow_handle(wf_id).fetch_history_events()]

    got = await asyncio.gather(*(one(w) for w in wf_ids))
    return dict(zip(wf_ids, got))


def longest_stall(wf_id: str, events: list[HistoryEvent]) -> tuple[float, str, str]:
    """The longest time between two consecutive events of a history and
    what came before and after it (a report: where a restart held a run)."""
    best = (0.0, wf_id, "")
    for a, b in zip(events, events[1:]):
        gap = b.event_time.ToMilliseconds() - a.event_time.ToMilliseconds()
        if gap / 1000 > best[0]:
            best = (gap / 1000, wf_id, f"{event_type_name(a)} -> {event_type_name(b)}")
    return best


async def bounded(tasks: list[Callable[[], Awaitable[T]]], limit: int = 50) -> list[T]:
    """Runs the tasks, `limit` at a time; the first failure cancels the
    rest (nothing keeps calling a cell the test has given up on)."""
    gate = asyncio.Semaphore(limit)

    async def run(task: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await task()

    async with asyncio.TaskGroup() as group:
        running = [group.create_task(run(t)) for t in tasks]
    return [t.result() for t in running]


async def unfinished(client: Client, wf_ids: list[str], show: int = 5) -> str:
    """Which workflows are still running, and where each one stands."""
    gate = asyncio.Semaphore(20)

    async def status(wf_id: str) -> tuple[str, Any]:
        async with gate:
            return wf_id, (await client.get_workflow_handle(wf_id).describe()).status

    running = [w for w, st in await asyncio.gather(*map(status, wf_ids)) if st == WorkflowExecutionStatus.RUNNING]
    lines = [f"{len(running)} of {len(wf_ids)} still running"]
    for wf_id, events in (await histories(client, running[:show])).items():
        t0 = events[0].event_time.ToMilliseconds() if events else 0
        tail = [
            f"{e.event_id}:{event_type_name(e)}@{(e.event_time.ToMilliseconds() - t0) / 1000:.1f}s"
            for e in events[-10:]
        ]
        lines.append(f"{wf_id}: {tail}")
    return "\n".join(lines)


async def seconds_until_gone(cell: HostCell, member_id: str, since: float) -> float:
    """Seconds from `since` (monotonic) until the `shards` table shows no
    shard held by `member_id`."""
    while True:
        owners = await asyncio.to_thread(cell.shard_owners)
        if member_id not in owners.values():
            return round(time.monotonic() - since, 2)
        if time.monotonic() - since > 60:
            raise AssertionError(f"{member_id} still holds shards 60 s on: {owners}")
        await asyncio.sleep(0.1)


# -- tests -----------------------------------------------------------------------


@pytest.mark.timeout(150 + WORKFLOWS // 2)
async def test_kill_and_freeze_lose_nothing(cell: HostCell, background: list) -> None:
    # Member 0 survives everything: the worker polls it, and signals go
    # through it while the others are down. Starts go through members 1
    # and 2 before the faults; updates through member 1 once it woke.
    c0, c1, c2 = [await connect(cell[i]) for i in range(3)]
    rng = random.Random(int(os.environ.get("ORRERY_FAILOVER_SEED", "20261207")))
    timers = [rng.randint(1, 8) for _ in range(WORKFLOWS)]
    ids = [new_id(f"failover-{n}") for n in range(WORKFLOWS)]
    calls = CallLog()
    summary: dict[str, Any] = {"workflows": WORKFLOWS, "timers_s": dict(Counter(timers))}

    async with run_worker(
        c0,
        workflows=[FailoverWorkflow, FailoverChild],
        activities=[failover_flaky],
        max_concurrent_workflow_tasks=100,
    ) as worker:
        handles: list[WorkflowHandle] = await bounded(
            [
                lambda n=n: (c1 if n % 2 else c2).start_workflow(
                    FailoverWorkflow.run, args=[n, timers[n]], id=ids[n], task_queue=worker.task_queue
                )
                for n in range(WORKFLOWS)
            ]
        )
        # Activities retrying, children and timers under way when the
        # members go.
        await asyncio.sleep(2)
        killed_at = time.monotonic()
        await asyncio.to_thread(cell[2].signal, signal.SIGKILL)
        await asyncio.to_thread(cell[2].proc.wait, 10)
        killed_takeover = asyncio.create_task(seconds_until_gone(cell, "member-2", killed_at))
        background.append(killed_takeover)
        await asyncio.sleep(1)
        frozen_at = time.monotonic()
        cell[1].signal(signal.SIGSTOP)
        frozen_takeover = asyncio.create_task(seconds_until_gone(cell, "member-1", frozen_at))
        background.append(frozen_takeover)

        # While member 1 sleeps: signals through member 0, which forwards
        # to member 1's shards until member 0 takes them (DEADLINE_EXCEEDED
        # meanwhile: the same request id is sent again).
        signals = asyncio.create_task(
            bounded(
                [
                    lambda n=n: with_retries(
                        f"signal {ids[n]}",
                        lambda c, n=n: signal_once(c, ids[n], "go", f"sig-{n}", f"go-{ids[n]}"),
                        lambda: [c0],
                        calls,
                    )
                    for n in range(WORKFLOWS)
                ]
            )
        )
        background.append(signals)
        await asyncio.sleep(max(0.0, frozen_at + FREEZE_S - time.monotonic()))
        assert cell[1].running(), "member-1 died while frozen"
        log_before_wake = len(cell[1].log_text())
        cell[1].signal(signal.SIGCONT)
        woke_at = time.monotonic()
        summary["takeover_s"] = {
            "killed member-2": await killed_takeover,
            "frozen member-1": await frozen_takeover,
        }
        await signals

        # The woken member drops what it held and joins again: then
        # updates go through it.
        await cell[1].wait_ready()
        await cell.wait_shard_owners({"member-0", "member-1"}, timeout=30)
        summary["member-1 rejoined after wake s"] = round(time.monotonic() - woke_at, 2)
        # The SDK waits for an update's outcome without end: each wait is
        # bounded here, and the same update id sent again.
        try:
            acks = await bounded(
                [
                    lambda n=n: with_retries(
                        f"update {ids[n]}",
                        lambda c, n=n: asyncio.wait_for(
                            c.get_workflow_handle(ids[n]).execute_update(
                                FailoverWorkflow.set_note, f"note-{n}", id=f"note-{ids[n]}",
                                rpc_timeout=timedelta(seconds=10),
                            ),
                            20,
                        ),
                        lambda: [c1],
                        calls,
                        give_up_s=60,
                    )
                    for n in range(WORKFLOWS)
                ]
            )
        except Exception as err:  # noqa: BLE001 - reported with what is stuck
            pytest.fail(
                f"updates did not all complete ({type(err).__name__}): {calls.fatal[:5]}\n"
                f"{await unfinished(c0, ids)}\n{cell.log_tails()}"
            )
        try:
            results = await asyncio.wait_for(
                # Through member 0: member 2 started half of them and is gone.
                asyncio.gather(*(c0.get_workflow_handle(h.id).result() for h in handles)),
                60 + WORKFLOWS * 0.05,
            )
        except Exception as err:  # noqa: BLE001 - reported with what is stuck
            pytest.fail(
                f"not every workflow finished after the faults ({type(err).__name__}: {err})\n"
                f"{await unfinished(c0, ids)}\n{cell.log_tails()}"
            )

    wanted = [
        f"{n}:act-{n}:{f'child-{n}' if n % 10 == 0 else ''}:sig-{n}:note-{n}"
        for n in range(WORKFLOWS)
    ]
    completed = sum(r == w for r, w in zip(results, wanted))
    wrong = [(ids[n], results[n]) for n in range(WORKFLOWS) if results[n] != wanted[n]]
    wrong_acks = [(ids[n], a) for n, a in enumerate(acks) if a != f"ack-note-{n}"]

    children = [f"{ids[n]}-child" for n in range(0, WORKFLOWS, 10)]
    report = HistoryReport()
    for wf_id, events in (await histories(c0, ids + children)).items():
        counts = report.check(wf_id, events)
        if wf_id.endswith("-child"):
            report.expect(wf_id, "timers", counts["TIMER_STARTED"], 1)
            continue
        n = ids.index(wf_id)
        report.expect(wf_id, "signals", counts["WORKFLOW_EXECUTION_SIGNALED"], 1)
        report.expect(wf_id, "updates accepted", counts["WORKFLOW_EXECUTION_UPDATE_ACCEPTED"], 1)
        report.expect(wf_id, "updates completed", counts["WORKFLOW_EXECUTION_UPDATE_COMPLETED"], 1)
        report.expect(wf_id, "activities completed", counts["ACTIVITY_TASK_COMPLETED"], 1)
        report.expect(wf_id, "timers", counts["TIMER_STARTED"], 1)
        report.expect(wf_id, "children", counts["CHILD_WORKFLOW_EXECUTION_COMPLETED"], int(n % 10 == 0))
        # The first attempt failed (or, if its task was lost with a member,
        # timed out) and the server retried it.
        attempts = [
            e.activity_task_started_event_attributes.attempt
            for e in events
            if event_type_name(e) == "ACTIVITY_TASK_STARTED"
        ]
        if len(attempts) != 1 or attempts[0] < 2 or flaky_attempts[wf_id][-1:] != attempts:
            report.problems.append(
                f"{wf_id}: attempt started {attempts}, the worker ran {flaky_attempts[wf_id]}"
            )

    # Woken past its lease, member 1 found its shards taken (a fenced
    # commit) or released them at its first heartbeat: it never carried on
    # writing with them.
    after_wake = cell[1].log_text()[log_before_wake:]
    dropped = re.findall(r"shard taken by another member|shard released", after_wake)
    # Each of member 1's shards got a new range from its new holder.
    summary.update(
        {
            "completed": completed,
            "total": WORKFLOWS,
            "wrong_results": wrong[:10],
            "wrong_update_results": wrong_acks[:10],
            "duplicate_event_ids": len(report.duplicate_event_ids),
            "double_fired_timers": len(report.double_fired_timers),
            "other_history_problems": len(report.problems),
            "frozen member drop lines after wake": len(dropped),
            "retryable errors": dict(calls.retryable),
            "non-retryable errors": calls.fatal[:10],
        }
    )
    out = tempfile.NamedTemporaryFile(
        "w", prefix="orrery-failover-summary-", suffix=".json", delete=False
    )
    with out:
        json.dump(summary, out, indent=2)
    print(f"\n[failover] summary ({out.name}):\n{json.dumps(summary, indent=2)}")

    assert not calls.fatal, calls.fatal
    assert completed == WORKFLOWS, wrong[:10]
    assert not wrong_acks, wrong_acks[:10]
    assert not report.duplicate_event_ids, report.duplicate_event_ids[:10]
    assert not report.double_fired_timers, report.double_fired_timers[:10]
    assert not report.problems, report.problems[:20]
    assert dropped, f"member-1 did not drop its shards after waking\n{after_wake[-4000:]}"
    # Member 2 stays dead; the others hold every shard.
    await cell.wait_shard_owners({"member-0", "member-1"}, timeout=10)


@pytest.mark.timeout(240)
async def test_rolling_restart(cell: HostCell, background: list) -> None:
    count = 100
    rng = random.Random(7)
    timers = [rng.randint(1, 4) for _ in range(count)]
    ids = [new_id(f"rolling-{n}") for n in range(count)]
    clients = [await connect(cell[i]) for i in range(3)]
    up = {0, 1, 2}
    calls = CallLog()
    acked: dict[str, set[str]] = defaultdict(set)
    sent: dict[str, set[str]] = defaultdict(set)
    task_queue = new_id("rolling-tq")

    def up_clients() -> list[Client]:
        return [clients[i] for i in sorted(up)] or clients

    # One worker per member, one task queue: while a member restarts the
    # other two serve its polls.
    async with (
        run_worker(clients[0], workflows=[RollingWorkflow], activities=[rolling_echo], task_queue=task_queue),
        run_worker(clients[1], workflows=[RollingWorkflow], activities=[rolling_echo], task_queue=task_queue),
        run_worker(clients[2], workflows=[RollingWorkflow], activities=[rolling_echo], task_queue=task_queue),
    ):  # fmt: skip
        handles = await bounded(
            [
                lambda n=n: clients[n % 3].start_workflow(
                    RollingWorkflow.run, args=[n, timers[n]], id=ids[n], task_queue=task_queue
                )
                for n in range(count)
            ]
        )
        rolling = True

        async def ticker(k: int) -> None:
            tick = 0
            while rolling:
                n = (tick * 4 + k) % count
                value = f"k{k}-t{tick}"
                sent[ids[n]].add(value)
                await with_retries(
                    f"tick {ids[n]}",
                    lambda c: signal_once(c, ids[n], "tick", value, f"tick-{value}-{ids[n]}"),
                    up_clients,
                    calls,
                )
                acked[ids[n]].add(value)
                tick += 1

        # Four signal streams, each spread over the members that are up.
        tickers = [asyncio.create_task(ticker(k)) for k in range(4)]
        background.extend(tickers)
        restarts: dict[str, float] = {}
        for i in range(3):
            await asyncio.sleep(2)
            up.discard(i)
            began = time.monotonic()
            cell[i].signal(signal.SIGTERM)
            try:
                code = await asyncio.to_thread(cell[i].proc.wait, 10)
            except subprocess.TimeoutExpired:
                pytest.fail(f"member-{i} still running 10 s after SIGTERM\n{cell[i].log_tail()}")
            assert code == 0, f"member-{i} exited {code} after SIGTERM\n{cell[i].log_tail()}"
            cell[i].start()
            await cell[i].wait_ready()
            up.add(i)
            await cell.wait_shard_owners({"member-0", "member-1", "member-2"}, timeout=30)
            restarts[f"member-{i}"] = round(time.monotonic() - began, 2)
        await asyncio.sleep(2)
        rolling = False
        await asyncio.gather(*tickers)

        await bounded(
            [
                lambda n=n: with_retries(
                    f"finish {ids[n]}",
                    lambda c, n=n: signal_once(c, ids[n], "finish", None, f"finish-{ids[n]}"),
                    up_clients,
                    calls,
                )
                for n in range(count)
            ]
        )
        try:
            results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 90)
        except asyncio.TimeoutError:
            pytest.fail(f"not every workflow finished after the roll\n{cell.log_tails()}")

    history = await histories(clients[0], ids)
    stalls = sorted((longest_stall(w, history[w]) for w in ids), reverse=True)
    print(
        f"\n[rolling] restart seconds {restarts}; ticks acknowledged "
        f"{sum(len(v) for v in acked.values())}; retryable errors {dict(calls.retryable)}; "
        f"rounds {sorted(Counter(r['rounds'] for r in results).items())}; "
        f"longest stalls {stalls[:3]}"
    )
    assert not calls.fatal, calls.fatal
    report = HistoryReport()
    for wf_id, events in history.items():
        counts = report.check(wf_id, events)
        result = results[ids.index(wf_id)]
        ticks = set(result["ticks"])
        report.expect(wf_id, "lost ticks", sorted(acked[wf_id] - ticks), [])
        report.expect(wf_id, "ticks never sent", sorted(ticks - sent[wf_id]), [])
        report.expect(wf_id, "timers fired", counts["TIMER_FIRED"], result["rounds"])
        report.expect(wf_id, "activities completed", counts["ACTIVITY_TASK_COMPLETED"], result["rounds"])
        report.expect(wf_id, "finish signals", counts["WORKFLOW_EXECUTION_SIGNALED"], len(ticks) + 1)
    assert not report.duplicate_event_ids, report.duplicate_event_ids[:10]
    assert not report.double_fired_timers, report.double_fired_timers[:10]
    assert not report.problems, report.problems[:20]
    # The roll really spanned the workflows' life: their timers and
    # activities kept going round through it.
    assert sum(r["rounds"] for r in results) >= 2 * count, [r["rounds"] for r in results]
