"""A known workload for the billing test (test_usage.py): every kind of
billable Action Temporal Cloud defines, driven with the official SDK through
a tenant endpoint, as a list of steps that each wait until their effect was
acknowledged (so a test may kill the cell between any two of them), and the
Actions each step must leave, derived from the definition in `EXPECTED`.

Steps only observe the workflows through free calls (history, describe,
results): a query is an Action, so the queries are a step of their own.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Awaitable, Callable

from temporalio import activity, workflow
from temporalio.api.common.v1 import Payloads, WorkflowExecution, WorkflowType
from temporalio.api.enums.v1 import EventType, IndexedValueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    ResetWorkflowExecutionRequest,
    StartWorkflowExecutionRequest,
)
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleSpec,
    ScheduleState,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import RetryPolicy, SearchAttributeKey, WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from helpers import ensure_search_attributes, wait_for

TAG = SearchAttributeKey.for_keyword("UsageTag")
STEP_TIMEOUT = 30.0

# -- workflows and activities -------------------------------------------------


@activity.defn
async def flaky(tag: str) -> str:
    """Fails its first attempt after one heartbeat; the retry succeeds."""
    if activity.info().attempt == 1:
        activity.heartbeat("half way")
        # The SDK sends a first heartbeat at once but from a background
        # task: give it time to reach the server before the failure does.
        await asyncio.sleep(1.0)
        raise ApplicationError("first attempt fails")
    return f"ok {tag}"


@activity.defn
async def local_step(n: int) -> int:
    return n + 1


@workflow.defn
class Quick:
    """The schedule's action and the reset's target: one task, no Actions."""

    @workflow.run
    async def run(self) -> str:
        return "quick"


@workflow.defn
class Child:
    @workflow.run
    async def run(self) -> str:
        return "child"


@workflow.defn
class RetriedOnce:
    """Its first run fails; the workflow retry policy starts a second."""

    @workflow.run
    async def run(self) -> str:
        if workflow.info().attempt == 1:
            raise ApplicationError("first run fails")
        return "second run"


@workflow.defn
class Waiter:
    """Started by signal-with-start; done when signalled "done"."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    @workflow.signal
    def note(self, value: str) -> None:
        self.notes.append(value)

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: "done" in self.notes)
        return self.notes


@workflow.defn
class Main:
    def __init__(self) -> None:
        self.signals: list[str] = []
        self.total = 0
        self.finish = False

    @workflow.run
    async def run(self, waiter_id: str, generation: int) -> str:
        if generation > 0:
            return "continued"
        # Two local activities in the first task: their markers are recorded
        # by one workflow task completion.
        local = dict(start_to_close_timeout=timedelta(seconds=10))
        await asyncio.gather(
            workflow.execute_local_activity(local_step, 1, **local),
            workflow.execute_local_activity(local_step, 2, **local),
        )
        workflow.upsert_search_attributes([TAG.value_set("upserted")])
        # A patch: the SDK may upsert TemporalChangeVersion for it (free).
        workflow.patched("usage-v2")
        workflow.upsert_memo({"stage": "upserted"})
        await workflow.sleep(timedelta(milliseconds=200))
        await workflow.execute_activity(
            flaky,
            "main",
            start_to_close_timeout=timedelta(seconds=20),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=2),
        )
        await workflow.execute_child_workflow(Child.run, id=f"{workflow.info().workflow_id}-child")
        await workflow.get_external_workflow_handle(waiter_id).signal(Waiter.note, "from main")
        await workflow.wait_condition(lambda: self.finish)
        # One more local activity, alone in its task.
        await workflow.execute_local_activity(local_step, 3, **local)
        workflow.continue_as_new(args=[waiter_id, generation + 1])

    @workflow.signal
    def poke(self, value: str) -> None:
        self.signals.append(value)

    @workflow.signal
    def done(self) -> None:
        self.finish = True

    @workflow.query
    def state(self) -> dict:
        return {"signals": len(self.signals), "total": self.total}

    @workflow.update
    def add(self, n: int) -> int:
        self.total += n
        return self.total

    @add.validator
    def _positive(self, n: int) -> None:
        if n <= 0:
            raise ValueError("only positive amounts")


WORKFLOWS = [Main, Child, Quick, RetriedOnce, Waiter]
ACTIVITIES = [flaky, local_step]

# -- the Actions each step leaves ----------------------------------------------
#
# (step, kind as stored, count already weighted, why). Derived from the
# definition (Temporal Cloud's, docs/operations.md): a run started by a client,
# signal-with-start, continue-as-new, retry or schedule is 1 (a deduplicated
# start is free); each timer; each UpsertWorkflowSearchAttributes and
# ModifyWorkflowProperties command (patching is free); each signal, a
# signal-with-start being 1 in all; each query; each update accepted or
# rejected (a deduplicated one is free); a child is 2 (the command and its
# run); each activity attempt started; the local activities of one workflow
# task are 1; each heartbeat that reaches the server; a schedule action is 3
# (2 and its run's start); each archived run is 1. Terminating a run, a
# workflow task and scheduling an activity are no Actions. Not driven here:
# WorkflowExecutionOptionsUpdated, whose RPC (UpdateWorkflowExecutionOptions)
# the cell does not serve yet; the exact comparison checks none is counted.
EXPECTED_BY_STEP: list[tuple[str, str, int, str]] = [
    ("signal_with_start", "workflow_started", 1, "signal-with-start starting Waiter: 1 in all"),
    ("signal_with_start", "signal", 1, "signal-with-start again, Waiter running: a signal"),
    ("start", "workflow_started", 1, "Main started by the client"),
    # The same start again with USE_EXISTING, and Quick's raw start retried
    # with its request id: deduplicated, free; with the default policy it is
    # refused (already started), free too.
    ("start", "workflow_started", 1, "Quick started by a raw request"),
    ("main_runs", "local_activities", 1, "two local activities in Main's first task"),
    ("main_runs", "search_attributes_upserted", 1, "UsageTag upserted (the patch's upsert is free)"),
    ("main_runs", "workflow_properties_modified", 1, "the memo upserted"),
    ("main_runs", "timer_started", 1, "the 200 ms sleep"),
    ("main_runs", "activity_started", 1, "flaky's first attempt"),
    ("main_runs", "heartbeat", 1, "flaky's one heartbeat"),
    ("main_runs", "activity_retried", 1, "flaky's second attempt"),
    ("main_runs", "child_workflow_started", 1, "the child: the command..."),
    ("main_runs", "workflow_started", 1, "...and its run: 2 in all"),
    ("main_runs", "signal", 1, "Main signals Waiter (counted at the sender)"),
    ("signals", "signal", 2, "two client signals to Main (one to no workflow is refused, free)"),
    ("queries", "query", 3, "three queries of Main"),
    ("updates", "update_accepted", 1, "u1 accepted (its second request is deduplicated, free)"),
    ("updates", "update_rejected", 1, "u2 rejected by the validator"),
    ("finish_main", "signal", 1, "the signal that lets Main finish"),
    ("finish_main", "local_activities", 1, "Main's last local activity, alone in its task"),
    ("finish_main", "workflow_started", 1, "Main's continue-as-new run"),
    ("finish_waiter", "signal", 1, "the signal that lets Waiter finish"),
    ("retried_run", "workflow_started", 2, "RetriedOnce's first run and its retry run"),
    ("cron", "workflow_started", 3, "a cron chain's 3 runs (the third terminated while waiting)"),
    ("reset", "workflow_reset", 1, "Quick reset to its first workflow task"),
    ("schedule", "workflow_started", 3, "the schedule's 3 runs..."),
    ("schedule", "schedule_action", 6, "...and 2 more for each: 3 x 3 in all"),
    # Archival is enabled for the whole namespace: every closed run is
    # archived once. Closed: Waiter; Main's first run (continued as new) and
    # its second; the child; Quick and its reset run; RetriedOnce's 2 runs;
    # the cron chain's 3 runs; the schedule's 3 runs.
    ("archived", "workflow_archived", 14, "14 closed runs, each archived once"),
]


def expected() -> dict[str, int]:
    table: Counter[str] = Counter()
    for _, kind, count, _ in EXPECTED_BY_STEP:
        table[kind] += count
    return dict(table)


# -- the steps -----------------------------------------------------------------


async def _history(client: Client, workflow_id: str, run_id: str | None = None) -> list:
    history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    return list(history.events)


async def _idle_after(client: Client, workflow_id: str, want: Callable[[list], bool]) -> None:
    """Waits until the run's history satisfies `want` and no workflow task
    is pending: the worker acted on everything it got."""
    handle = client.get_workflow_handle(workflow_id)

    async def settled() -> bool:
        if not want(await _history(client, workflow_id)):
            return False
        desc = await handle.describe()
        return not desc.raw_description.HasField("pending_workflow_task")

    await wait_for(settled, timeout=STEP_TIMEOUT, interval=0.2)


def _count(events: list, event_type: int) -> int:
    return sum(1 for e in events if e.event_type == event_type)


@dataclass
class Workload:
    client: Client
    task_queue: str
    prefix: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    # Filled in as the steps run.
    quick_run: str = ""

    def id(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    @property
    def main(self) -> WorkflowHandle:
        return self.client.get_workflow_handle(self.id("main"))

    async def prepare(self) -> None:
        """Free: the custom search attribute Main upserts."""
        await ensure_search_attributes(self.client, {TAG.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD})

    def steps(self) -> list[tuple[str, Callable[[], Awaitable[None]]]]:
        return [
            ("signal_with_start", self.signal_with_start),
            ("start", self.start),
            ("main_runs", self.main_runs),
            ("signals", self.signals),
            ("queries", self.queries),
            ("updates", self.updates),
            ("finish_main", self.finish_main),
            ("finish_waiter", self.finish_waiter),
            ("retried_run", self.retried_run),
            ("cron", self.cron),
            ("reset", self.reset),
            ("schedule", self.schedule),
        ]

    async def signal_with_start(self) -> None:
        for _ in range(2):
            await self.client.start_workflow(
                Waiter.run,
                id=self.id("waiter"),
                task_queue=self.task_queue,
                start_signal="note",
                start_signal_args=["with start"],
            )
        await _idle_after(
            self.client,
            self.id("waiter"),
            lambda ev: _count(ev, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED) == 2,
        )

    async def start(self) -> None:
        args = [self.id("waiter"), 0]
        first = await self.client.start_workflow(Main.run, args=args, id=self.id("main"), task_queue=self.task_queue)
        again = await self.client.start_workflow(
            Main.run,
            args=args,
            id=self.id("main"),
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        assert again.result_run_id == first.result_run_id
        # Refused (the id is in use): no run, nothing to bill.
        try:
            await self.client.start_workflow(Main.run, args=args, id=self.id("main"), task_queue=self.task_queue)
            raise AssertionError("a second start of a running id was accepted")
        except WorkflowAlreadyStartedError:
            pass
        # A client retrying its start sends the same request id: one run.
        request = StartWorkflowExecutionRequest(
            namespace=self.client.namespace,
            workflow_id=self.id("quick"),
            workflow_type=WorkflowType(name="Quick"),
            task_queue=TaskQueue(name=self.task_queue),
            input=Payloads(),
            request_id=str(uuid.uuid4()),
            identity="usage-test",
        )
        runs = {(await self.client.workflow_service.start_workflow_execution(request)).run_id for _ in range(2)}
        assert len(runs) == 1, runs
        self.quick_run = runs.pop()
        assert await self.client.get_workflow_handle(self.id("quick"), run_id=self.quick_run).result() == "quick"

    async def main_runs(self) -> None:
        await _idle_after(
            self.client,
            self.id("main"),
            lambda ev: _count(ev, EventType.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED) == 1,
        )
        await _idle_after(
            self.client,
            self.id("waiter"),
            lambda ev: _count(ev, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED) == 3,
        )
        # The history shows the free cases the table relies on really
        # happened: the patch's own upsert, and both local activities'
        # markers recorded by one workflow task.
        events = await _history(self.client, self.id("main"))
        upserted = sorted(
            sorted(e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields)
            for e in events
            if e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
        )
        assert upserted == [["TemporalChangeVersion"], [TAG.name]], upserted
        markers = [
            e.marker_recorded_event_attributes.workflow_task_completed_event_id
            for e in events
            if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
            and e.marker_recorded_event_attributes.marker_name == "core_local_activity"
        ]
        assert len(markers) == 2 and markers[0] == markers[1], markers

    async def signals(self) -> None:
        # A signal to no workflow is refused, and free.
        try:
            await self.client.get_workflow_handle(self.id("nobody")).signal(Main.poke, "lost")
            raise AssertionError("a signal to no workflow was accepted")
        except RPCError as err:
            assert err.status == RPCStatusCode.NOT_FOUND, err
        await self.main.signal(Main.poke, "one")
        await self.main.signal(Main.poke, "two")
        await _idle_after(
            self.client,
            self.id("main"),
            lambda ev: _count(ev, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED) == 2,
        )

    async def queries(self) -> None:
        for _ in range(3):
            assert (await self.main.query(Main.state))["signals"] == 2

    async def updates(self) -> None:
        assert await self.main.execute_update(Main.add, 5, id="u1") == 5
        # The same update id again: the first outcome, not a second update.
        assert await self.main.execute_update(Main.add, 5, id="u1") == 5
        try:
            await self.main.execute_update(Main.add, -1, id="u2")
            raise AssertionError("the validator accepted a negative amount")
        except WorkflowUpdateFailedError:
            pass
        await _idle_after(
            self.client,
            self.id("main"),
            lambda ev: _count(ev, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED) == 1,
        )

    async def finish_main(self) -> None:
        await self.main.signal(Main.done)
        assert await self.main.result() == "continued"

    async def finish_waiter(self) -> None:
        handle = self.client.get_workflow_handle(self.id("waiter"))
        await handle.signal(Waiter.note, "done")
        assert await handle.result() == ["with start", "with start", "from main", "done"]

    async def retried_run(self) -> None:
        result = await self.client.execute_workflow(
            RetriedOnce.run,
            id=self.id("retried"),
            task_queue=self.task_queue,
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=2),
        )
        assert result == "second run"

    async def cron(self) -> None:
        first = await self.client.start_workflow(
            Quick.run, id=self.id("cron"), task_queue=self.task_queue, cron_schedule="@every 3s"
        )

        async def next_run(run_id: str) -> str:
            events = await _history(self.client, self.id("cron"), run_id)
            last = events[-1]
            if last.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
                return ""
            return last.workflow_execution_completed_event_attributes.new_execution_run_id

        second = await wait_for(lambda: next_run(first.result_run_id or ""), timeout=STEP_TIMEOUT, interval=0.2)
        third = await wait_for(lambda: next_run(second), timeout=STEP_TIMEOUT, interval=0.2)
        # The third run waits up to 3 s for its time: ended before it runs.
        await self.client.get_workflow_handle(self.id("cron"), run_id=third).terminate("enough")

    async def reset(self) -> None:
        events = await _history(self.client, self.id("quick"), self.quick_run)
        first_task = next(e.event_id for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
        reset = await self.client.workflow_service.reset_workflow_execution(
            ResetWorkflowExecutionRequest(
                namespace=self.client.namespace,
                workflow_execution=WorkflowExecution(workflow_id=self.id("quick"), run_id=self.quick_run),
                reason="usage test",
                workflow_task_finish_event_id=first_task,
                request_id=str(uuid.uuid4()),
            )
        )
        assert await self.client.get_workflow_handle(self.id("quick"), run_id=reset.run_id).result() == "quick"

    async def schedule(self) -> None:
        handle = await self.client.create_schedule(
            self.id("schedule"),
            Schedule(
                action=ScheduleActionStartWorkflow(Quick.run, id=self.id("scheduled"), task_queue=self.task_queue),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=1))]),
                state=ScheduleState(limited_actions=True, remaining_actions=3),
            ),
        )

        async def three_done() -> bool:
            desc = await handle.describe()
            return desc.info.num_actions == 3 and not desc.info.running_actions

        await wait_for(three_done, timeout=STEP_TIMEOUT, interval=0.3)
        desc = await handle.describe()
        for action in desc.info.recent_actions:
            run = self.client.get_workflow_handle(
                action.action.workflow_id, run_id=action.action.first_execution_run_id
            )
            assert await run.result() == "quick"
        await handle.delete()
