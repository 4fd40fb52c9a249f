"""The scenarios run side by side, and the runner.

A scenario is an async function taking a `Ctx` (one per scenario per server):
it starts workflows on `ctx.tq` (polled by this process' worker for that
server), drives them, records client-side outcomes with `ctx.outcome(...)` /
`ctx.results[...]` and names the histories to compare with `ctx.collect(...)`.
The same function runs against both servers; `compare.py` then checks that
what was recorded is the same.

They are the reference scenarios of tests/e2e/dump_histories.py (reusing its
workflows and activities), made deterministic where the original depends on
timing (signals, cancels and terminations wait until the workflow's history
has settled; child workflows are gated by a signal so the child cannot finish
while the parent's workflow task is in flight), plus a few more.

Workflow ids are aliased (`<wf>`, `<target>`, ...) and run ids named after the
history they belong to (`<run:wf>`), so references between runs (parent,
continued-as-new, retry, external sender) are compared structurally.
"""

from __future__ import annotations

import asyncio
import os
import traceback
import uuid
from datetime import timedelta
from typing import Any, Awaitable, Callable

from temporalio import workflow
from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.api.enums.v1 import ParentClosePolicy as ParentClosePolicyEnum
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import RetryPolicy, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
    TerminatedError,
    WorkflowAlreadyStartedError,
)
from temporalio.exceptions import TimeoutError as TemporalTimeoutError
from temporalio.service import RPCError
from temporalio.workflow import ChildWorkflowCancellationType, ParentClosePolicy

import dump_histories as dh
import test_activities as ta
import test_basic as tb
import test_updates as tu
import test_children_and_external as tc
import test_errors as te
from helpers import run_worker

SCENARIO_TIMEOUT_S = 90.0


# --------------------------------------------------------------------------- #
# Extra workflows (deterministic variants and additional scenarios)
# --------------------------------------------------------------------------- #
@workflow.defn
class GatedChildWorkflow:
    """Waits for `release`, then returns x * 10 or fails."""

    def __init__(self) -> None:
        self.released = False

    @workflow.signal
    def release(self) -> None:
        self.released = True

    @workflow.run
    async def run(self, x: int, fail: bool) -> int:
        await workflow.wait_condition(lambda: self.released)
        if fail:
            raise ApplicationError("child blew up", type="ChildError")
        return x * 10


@workflow.defn
class GatedParentWorkflow:
    @workflow.run
    async def run(self, x: int, fail: bool) -> int:
        result = await workflow.execute_child_workflow(
            GatedChildWorkflow.run, args=[x, fail], id=f"{workflow.info().workflow_id}-child"
        )
        return result + 1


@workflow.defn
class CancelTimerWorkflow:
    """Starts a 60 s timer and cancels it when signalled."""

    def __init__(self) -> None:
        self.cancel_now = False

    @workflow.signal
    def cancel_timer(self) -> None:
        self.cancel_now = True

    @workflow.run
    async def run(self) -> str:
        timer = asyncio.ensure_future(workflow.sleep(60))
        await workflow.wait_condition(lambda: self.cancel_now)
        timer.cancel()
        try:
            await timer
        except asyncio.CancelledError:
            return "timer cancelled"
        return "timer fired"


@workflow.defn
class LocalActivityWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_local_activity(
            tb.greet, name, start_to_close_timeout=timedelta(seconds=10)
        )


@workflow.defn
class CancellableChildWorkflow:
    """Runs until cancelled; then waits for `finish` before ending cancelled,
    so the test decides when the cancellation completes."""

    def __init__(self) -> None:
        self.finish = False

    @workflow.signal
    def finish_cancel(self) -> None:
        self.finish = True

    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.wait_condition(lambda: False)
        except asyncio.CancelledError:
            await workflow.wait_condition(lambda: self.finish)
            raise
        return "not cancelled"


@workflow.defn
class CancelChildWorkflow:
    """Starts a child and cancels it (WAIT_CANCELLATION_COMPLETED) when
    signalled."""

    def __init__(self) -> None:
        self.go = False

    @workflow.signal
    def cancel_child(self) -> None:
        self.go = True

    @workflow.run
    async def run(self) -> str:
        child = await workflow.start_child_workflow(
            CancellableChildWorkflow.run,
            id=f"{workflow.info().workflow_id}-child",
            cancellation_type=ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        await workflow.wait_condition(lambda: self.go)
        child.cancel()
        try:
            await child
        except ChildWorkflowError as e:
            return f"ChildWorkflowError/{type(e.cause).__name__}"
        return "child not cancelled"


@workflow.defn
class ParentOfForeverChildWorkflow:
    """Runs a child that never ends, with the given parent close policy."""

    @workflow.run
    async def run(self, policy: str) -> None:
        await workflow.execute_child_workflow(
            tb.ForeverWorkflow.run,
            id=f"{workflow.info().workflow_id}-child",
            parent_close_policy=ParentClosePolicy[policy],
        )


@workflow.defn
class StartExistingChildWorkflow:
    """Starts a child with the id of a workflow that is already running."""

    @workflow.run
    async def run(self, child_id: str) -> str:
        try:
            await workflow.start_child_workflow(tb.ForeverWorkflow.run, id=child_id)
        except WorkflowAlreadyStartedError as e:
            return f"WorkflowAlreadyStartedError {e.workflow_id} {e.workflow_type}"
        return "child started"


@workflow.defn
class ScheduleToStartWorkflow:
    """An activity on a task queue nobody polls, schedule-to-start 1 s."""

    @workflow.run
    async def run(self, task_queue: str) -> str:
        return await workflow.execute_activity(
            "greet",
            "x",
            task_queue=task_queue,
            schedule_to_start_timeout=timedelta(seconds=1),
            start_to_close_timeout=timedelta(seconds=5),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )


@workflow.defn
class LongActivityWorkflow:
    """Runs an activity that heartbeats until cancelled (default TRY_CANCEL)."""

    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_activity(
            ta.heartbeat_until_cancelled,
            start_to_close_timeout=timedelta(seconds=30),
            heartbeat_timeout=timedelta(seconds=2),
        )


@workflow.defn
class UpsertMemoWorkflow:
    @workflow.run
    async def run(self) -> str:
        workflow.upsert_memo({"added": "yes", "count": 2})
        await workflow.sleep(0.1)
        workflow.upsert_memo({"added": None, "other": [1, 2]})
        return "memo upserted"


@workflow.defn
class LocalActivityFailureWorkflow:
    @workflow.run
    async def run(self) -> None:
        await workflow.execute_local_activity(
            ta.fail_with_type,
            "LocalBoom",
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )


@workflow.defn
class CronCounterWorkflow:
    """Counts its cron runs through the last completion result; fails every
    run when asked to (a failed run keeps the last result)."""

    @workflow.run
    async def run(self, fail: bool) -> int:
        previous = workflow.get_last_completion_result(type_hint=int) or 0
        if fail:
            raise ApplicationError(f"cron run after {previous}", non_retryable=True)
        return previous + 1


@workflow.defn
class ResetTargetWorkflow:
    """An activity, then waits for two signals; reset replays the part
    before the reset point and reapplies the signals received after it."""

    def __init__(self) -> None:
        self.signals: list[str] = []

    @workflow.signal
    def deliver(self, value: str) -> None:
        self.signals.append(value)

    @workflow.run
    async def run(self) -> list[str]:
        first = await workflow.execute_activity(
            tb.greet, "reset", start_to_close_timeout=timedelta(seconds=10)
        )
        await workflow.wait_condition(lambda: len(self.signals) >= 2)
        return [first, *self.signals]


@workflow.defn
class PatchedWorkflow:
    """Versioning markers: a patch, a deprecated patch, a local activity."""

    @workflow.run
    async def run(self) -> str:
        first = "new" if workflow.patched("my-change") else "old"
        workflow.deprecate_patch("old-change")
        greeting = await workflow.execute_local_activity(
            tb.greet, "patch", start_to_close_timeout=timedelta(seconds=10)
        )
        await workflow.sleep(0.05)
        return f"{first}:{greeting}"


WORKFLOWS = [
    *dh.WORKFLOWS,
    PatchedWorkflow,
    ResetTargetWorkflow,
    CronCounterWorkflow,
    tu.Cart,
    te.EchoWorkflow,
    GatedChildWorkflow,
    GatedParentWorkflow,
    CancelTimerWorkflow,
    LocalActivityWorkflow,
    CancellableChildWorkflow,
    CancelChildWorkflow,
    ParentOfForeverChildWorkflow,
    StartExistingChildWorkflow,
    ScheduleToStartWorkflow,
    LongActivityWorkflow,
    UpsertMemoWorkflow,
    LocalActivityFailureWorkflow,
]
ACTIVITIES = list(dh.ACTIVITIES)


# --------------------------------------------------------------------------- #
# Per-scenario context
# --------------------------------------------------------------------------- #
class Ctx:
    def __init__(self, scenario: str, server: str, client: Client, tq: str) -> None:
        self.scenario = scenario
        self.server = server
        self.client = client
        self.tq = tq
        # A queue nobody polls (workflows that must never run).
        self.nobody_tq = f"sbs-nobody-{uuid.uuid4()}"
        self.aliases: dict[str, str] = {tq: "<tq>", self.nobody_tq: "<nobody-tq>"}
        self.results: dict[str, Any] = {}
        self.histories: list[tuple[str, str, str, list[HistoryEvent]]] = []
        self.error: str | None = None
        self._to_collect: list[tuple[str, str, str | None]] = []

    # -- ids -----------------------------------------------------------------
    def new_id(self, label: str = "wf") -> str:
        wid = f"sbs-{self.scenario}-{label}-{uuid.uuid4()}"
        self.aliases[wid] = f"<{label}>"
        return wid

    async def start(self, wf: Any, *args: Any, label: str = "wf", **kwargs: Any) -> WorkflowHandle:
        kwargs.setdefault("id", self.new_id(label))
        kwargs.setdefault("task_queue", self.tq)
        return await self.client.start_workflow(wf, *args, **kwargs)

    # -- outcomes --------------------------------------------------------------
    async def outcome(self, key: str, handle: WorkflowHandle, *, follow_runs: bool = True) -> None:
        """Record the workflow's result, or the error the client raises."""
        try:
            self.results[key] = {"value": await handle.result(follow_runs=follow_runs)}
        except Exception as e:  # noqa: BLE001
            self.results[key] = {"error": error_chain(e)}

    async def capture(self, key: str, coro: Awaitable[Any]) -> None:
        try:
            self.results[key] = {"value": await coro}
        except Exception as e:  # noqa: BLE001
            self.results[key] = {"error": error_chain(e)}

    def collect(self, title: str, workflow_id: str, run_id: str | None = None) -> None:
        """Compare this run's history (run_id None: the latest run)."""
        self._to_collect.append((title, workflow_id, run_id))

    async def fetch_histories(self) -> None:
        for title, wid, run_id in self._to_collect:
            if run_id is None:
                run_id = (await self.client.get_workflow_handle(wid).describe()).run_id
            self.aliases[run_id] = f"<run:{title}>"
            handle = self.client.get_workflow_handle(wid, run_id=run_id)
            events = list((await handle.fetch_history()).events)
            self.histories.append((title, wid, run_id, events))
            desc = await handle.describe()
            self.results[f"describe {title}"] = {
                "status": desc.status.name if desc.status else None,
                "history_length": desc.history_length,
                "workflow_type": desc.workflow_type,
                "task_queue": desc.task_queue,
                "parent_id": desc.parent_id,
                "parent_run_id": desc.parent_run_id,
                "closed": desc.close_time is not None,
            }


async def describe_pending(handle: WorkflowHandle) -> dict:
    """What DescribeWorkflowExecution says is pending (ids are aliased when
    compared; times are left out)."""
    raw = (await handle.describe()).raw_description
    return {
        "activities": [
            {
                "activity_id": a.activity_id,
                "activity_type": a.activity_type.name,
                "state": PendingActivityState.Name(a.state),
                "attempt": a.attempt,
            }
            for a in raw.pending_activities
        ],
        "children": [
            {
                "workflow_id": c.workflow_id,
                "run_id": c.run_id,
                "workflow_type_name": c.workflow_type_name,
                "initiated_id": c.initiated_id,
                "parent_close_policy": ParentClosePolicyEnum.Name(c.parent_close_policy),
            }
            for c in raw.pending_children
        ],
    }


def error_chain(e: BaseException | None) -> list[dict]:
    """The exception and its causes, as the SDK presents them to callers."""
    chain: list[dict] = []
    seen: set[int] = set()
    while e is not None and id(e) not in seen and len(chain) < 10:
        seen.add(id(e))
        d: dict[str, Any] = {"type": type(e).__name__, "message": str(getattr(e, "message", e))}
        if isinstance(e, ApplicationError):
            d.update(app_type=e.type, non_retryable=e.non_retryable, details=list(e.details))
        if isinstance(e, ActivityError):
            d.update(
                activity_type=e.activity_type,
                activity_id=e.activity_id,
                retry_state=e.retry_state.name if e.retry_state is not None else None,
            )
        if isinstance(e, ChildWorkflowError):
            d.update(
                workflow_type=e.workflow_type,
                workflow_id=e.workflow_id,
                retry_state=e.retry_state.name if e.retry_state is not None else None,
            )
        if isinstance(e, TemporalTimeoutError):
            d.update(
                timeout_type=e.type.name if e.type is not None else None,
                last_heartbeat_details=list(e.last_heartbeat_details),
            )
        if isinstance(e, CancelledError):
            d.update(details=list(e.details))
        if isinstance(e, TerminatedError):
            d.update(details=list(getattr(e, "details", ())))
        if isinstance(e, WorkflowAlreadyStartedError):
            d.update(workflow_id=e.workflow_id, workflow_type=e.workflow_type)
        if isinstance(e, RPCError):
            d.update(status=e.status.name)
        if isinstance(e, WorkflowFailureError):
            d["message"] = "Workflow execution failed"
        chain.append(d)
        e = e.__cause__
    return chain


# --------------------------------------------------------------------------- #
# Waiting without sleeping
# --------------------------------------------------------------------------- #
WFT_COMPLETED = EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
WFT_SCHEDULED = EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED


async def settled(handle: WorkflowHandle, completed_tasks: int = 1, timeout: float = 30.0) -> None:
    """Wait until `completed_tasks` workflow tasks have completed and no new
    one is scheduled: an external event sent now lands after the last
    completed task (and its commands' events) on every server."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        events = list((await handle.fetch_history()).events)
        types = [e.event_type for e in events]
        if types.count(WFT_COMPLETED) >= completed_tasks:
            last = len(types) - 1 - types[::-1].index(WFT_COMPLETED)
            if WFT_SCHEDULED not in types[last:]:
                return
        if loop.time() > deadline:
            raise AssertionError(
                f"{handle.id}: history did not settle after {completed_tasks} workflow task(s) "
                f"within {timeout}s: {[EventType.Name(t) for t in types]}"
            )
        await asyncio.sleep(0.1)


async def wait_value(get: Callable[[], Any], timeout: float = 30.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = get()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"value not available within {timeout}s")
        await asyncio.sleep(0.05)


# --------------------------------------------------------------------------- #
# Scenarios
# --------------------------------------------------------------------------- #
ScenarioFn = Callable[[Ctx], Awaitable[None]]
SCENARIOS: dict[str, tuple[str, ScenarioFn]] = {}


def scenario(name: str, description: str) -> Callable[[ScenarioFn], ScenarioFn]:
    def register(fn: ScenarioFn) -> ScenarioFn:
        assert name not in SCENARIOS, name
        SCENARIOS[name] = (description, fn)
        return fn

    return register


async def _simple(ctx: Ctx, wf: Any, *args: Any, **kwargs: Any) -> WorkflowHandle:
    h = await ctx.start(wf, *args, **kwargs)
    await ctx.outcome("wf", h)
    ctx.collect("wf", h.id, h.result_run_id)
    return h


def _call(name: str, args: list | None = None, **kw: Any) -> ta.ActivityCall:
    return ta.ActivityCall(name, args or [], **kw)


@scenario("one_activity", "one activity returning a value")
async def _one_activity(ctx: Ctx) -> None:
    await _simple(ctx, tb.OneActivityWorkflow.run, "x")


@scenario("timer", "a 1 s timer")
async def _timer(ctx: Ctx) -> None:
    await _simple(ctx, tb.TimerWorkflow.run, 1.0)


@scenario("timer_cancel", "a timer cancelled by the workflow after a signal")
async def _timer_cancel(ctx: Ctx) -> None:
    h = await ctx.start(CancelTimerWorkflow.run)
    await settled(h)
    await h.signal(CancelTimerWorkflow.cancel_timer)
    await ctx.outcome("wf", h)
    ctx.collect("wf", h.id, h.result_run_id)


@scenario("local_activity", "a local activity (marker)")
async def _local_activity(ctx: Ctx) -> None:
    await _simple(ctx, LocalActivityWorkflow.run, "local")


@scenario("activity_retry", "activity fails twice, succeeds on attempt 3")
async def _activity_retry(ctx: Ctx) -> None:
    await _simple(ctx, ta.CallActivityWorkflow.run, _call("fail_twice", max_attempts=5))


@scenario("activity_max_attempts", "activity fails, maximum_attempts=2 exhausted")
async def _activity_max_attempts(ctx: Ctx) -> None:
    await _simple(ctx, ta.CallActivityWorkflow.run, _call("fail_with_type", ["Flaky"], max_attempts=2))


@scenario("activity_non_retryable", "activity fails with a non-retryable error type")
async def _activity_non_retryable(ctx: Ctx) -> None:
    await _simple(
        ctx,
        ta.CallActivityWorkflow.run,
        _call("fail_with_type", ["Fatal"], max_attempts=5, non_retryable_types=["Fatal"]),
    )


@scenario("activity_start_to_close", "activity start-to-close timeout 1 s, 1 attempt")
async def _activity_start_to_close(ctx: Ctx) -> None:
    await _simple(
        ctx, ta.CallActivityWorkflow.run, _call("sleep_for", [10.0], start_to_close_s=1.0, max_attempts=1)
    )


@scenario("activity_start_to_close_retry", "activity start-to-close timeout 1 s, 2 attempts")
async def _activity_start_to_close_retry(ctx: Ctx) -> None:
    await _simple(
        ctx, ta.CallActivityWorkflow.run, _call("sleep_for", [10.0], start_to_close_s=1.0, max_attempts=2)
    )


@scenario("activity_heartbeat_timeout", "activity heartbeats once, then heartbeat timeout 1 s")
async def _activity_heartbeat_timeout(ctx: Ctx) -> None:
    await _simple(
        ctx,
        ta.CallActivityWorkflow.run,
        _call("heartbeat_once_then_stall", start_to_close_s=30.0, heartbeat_s=1.0, max_attempts=1),
    )


@scenario("activity_cancel_wait", "activity cancellation, WAIT_CANCELLATION_COMPLETED")
async def _activity_cancel_wait(ctx: Ctx) -> None:
    h = await ctx.start(ta.CancelActivityWorkflow.run)
    await asyncio.wait_for(ta.activity_started[h.id].wait(), 30)
    await h.signal(ta.CancelActivityWorkflow.cancel_activity)
    await ctx.outcome("wf", h)
    ctx.collect("wf", h.id, h.result_run_id)


@scenario("activity_cancel_try", "activity cancellation, TRY_CANCEL")
async def _activity_cancel_try(ctx: Ctx) -> None:
    h = await ctx.start(dh.TryCancelActivityWorkflow.run)
    await asyncio.wait_for(ta.activity_started[h.id].wait(), 30)
    await h.signal(dh.TryCancelActivityWorkflow.cancel_activity)
    await ctx.outcome("wf", h)
    ctx.collect("wf", h.id, h.result_run_id)


@scenario("heartbeat_details", "heartbeat details carried to attempt 2")
async def _heartbeat_details(ctx: Ctx) -> None:
    await _simple(
        ctx, ta.CallActivityWorkflow.run, _call("resume_from_heartbeat", heartbeat_s=10.0, max_attempts=3)
    )


@scenario("async_completion", "activity completed asynchronously by task token")
async def _async_completion(ctx: Ctx) -> None:
    h = await ctx.start(
        ta.CallActivityWorkflow.run, _call("complete_me_later", activity_id="async-act", max_attempts=1)
    )
    token = await wait_value(lambda: ta.task_tokens.get(h.id))
    await ctx.client.get_async_activity_handle(task_token=token).complete("done")
    await ctx.outcome("wf", h)
    ctx.collect("wf", h.id, h.result_run_id)


@scenario("async_fail_by_id", "activity heartbeated and failed asynchronously by activity id")
async def _async_fail_by_id(ctx: Ctx) -> None:
    h = await ctx.start(
        ta.CallActivityWorkflow.run, _call("complete_me_later", activity_id="async-act", max_attempts=1)
    )
    await wait_value(lambda: ta.task_tokens.get(h.id))
    act = ctx.client.get_async_activity_handle(
        workflow_id=h.id, run_id=h.result_run_id, activity_id="async-act"
    )
    await act.heartbeat("still working")
    await act.fail(ApplicationError("async failure", "d1", type="AsyncError"))
    await ctx.outcome("wf", h)
    ctx.collect("wf", h.id, h.result_run_id)


@scenario("child", "child workflow returns a value")
async def _child(ctx: Ctx) -> None:
    await _gated_child(ctx, fail=False)


@scenario("child_failure", "child workflow fails, parent fails with ChildWorkflowError")
async def _child_failure(ctx: Ctx) -> None:
    await _gated_child(ctx, fail=True)


async def _gated_child(ctx: Ctx, *, fail: bool) -> None:
    parent = await ctx.start(GatedParentWorkflow.run, args=[4, fail], label="parent")
    child = ctx.client.get_workflow_handle(f"{parent.id}-child")
    # Parent: initiated, child started, and the task for that completed.
    await settled(parent, 2)
    await settled(child, 1)
    ctx.results["describe parent while child runs"] = {"value": await describe_pending(parent)}
    await child.signal(GatedChildWorkflow.release)
    await ctx.outcome("parent", parent)
    await ctx.outcome("child", child)
    ctx.collect("parent", parent.id, parent.result_run_id)
    ctx.collect("child", child.id)


@scenario("signal_external", "a workflow signals another")
async def _signal_external(ctx: Ctx) -> None:
    target = await ctx.start(tc.TargetWorkflow.run, label="target")
    await settled(target)
    sender = await ctx.start(tc.SignalExternalWorkflow.run, args=[target.id, "hi"], label="sender")
    await ctx.outcome("sender", sender)
    await ctx.outcome("target", target)
    ctx.collect("sender", sender.id, sender.result_run_id)
    ctx.collect("target", target.id, target.result_run_id)


@scenario("signal_external_unknown", "a workflow signals a workflow that does not exist")
async def _signal_external_unknown(ctx: Ctx) -> None:
    await _simple(ctx, tc.SignalExternalWorkflow.run, args=[ctx.new_id("nobody"), "lost"])


@scenario("cancel_external", "a workflow requests cancellation of another")
async def _cancel_external(ctx: Ctx) -> None:
    target = await ctx.start(tc.TargetWorkflow.run, label="target")
    await settled(target)
    canceller = await ctx.start(tc.CancelExternalWorkflow.run, target.id, label="canceller")
    await ctx.outcome("canceller", canceller)
    await ctx.outcome("target", target)
    ctx.collect("canceller", canceller.id, canceller.result_run_id)
    ctx.collect("target", target.id, target.result_run_id)


@scenario("cancel_external_unknown", "a workflow cancels a workflow that does not exist")
async def _cancel_external_unknown(ctx: Ctx) -> None:
    await _simple(ctx, tc.CancelExternalWorkflow.run, ctx.new_id("nobody"))


@scenario("continue_as_new", "continue-as-new twice, then complete")
async def _continue_as_new(ctx: Ctx) -> None:
    h = await ctx.start(tb.ContinueAsNewWorkflow.run, args=[2, 0])
    await ctx.outcome("wf", h)
    run_id: str | None = h.result_run_id
    n = 1
    while run_id and n <= 5:
        ctx.collect(f"run {n}", h.id, run_id)
        events = list((await ctx.client.get_workflow_handle(h.id, run_id=run_id).fetch_history()).events)
        last = events[-1]
        run_id = (
            last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
            if last.HasField("workflow_execution_continued_as_new_event_attributes")
            else None
        )
        n += 1


@scenario("workflow_retry", "workflow with a retry policy fails attempt 1, completes attempt 2")
async def _workflow_retry(ctx: Ctx) -> None:
    h = await ctx.start(
        dh.RetryingWorkflow.run,
        retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=3),
    )
    await ctx.outcome("wf", h)
    ctx.collect("attempt 1", h.id, h.result_run_id)
    ctx.collect("attempt 2", h.id)


async def _cron_chain(ctx: Ctx, fail: bool) -> None:
    """Two cron runs close; the third, waiting for its slot, is terminated."""
    h = await ctx.start(CronCounterWorkflow.run, fail, cron_schedule="@every 2s")
    runs = [h.result_run_id]

    async def next_run() -> str | None:
        events = list((await ctx.client.get_workflow_handle(h.id, run_id=runs[-1]).fetch_history()).events)
        last = events[-1]
        for attrs in ("workflow_execution_completed_event_attributes", "workflow_execution_failed_event_attributes"):
            if last.HasField(attrs):
                return getattr(last, attrs).new_execution_run_id or None
        return None

    deadline = asyncio.get_running_loop().time() + 30
    while len(runs) < 3:
        assert asyncio.get_running_loop().time() < deadline, f"cron runs so far: {len(runs)}"
        run_id = await next_run()
        if run_id:
            runs.append(run_id)
        else:
            await asyncio.sleep(0.1)
    await h.terminate(reason="end of the chain")
    for n, run_id in enumerate(runs, 1):
        ctx.collect(f"run {n}", h.id, run_id)
    await ctx.outcome("last run", ctx.client.get_workflow_handle(h.id, run_id=runs[-1]), follow_runs=False)


@scenario("cron", "a cron workflow (@every 2s) completes twice, carrying its last result")
async def _cron(ctx: Ctx) -> None:
    await _cron_chain(ctx, fail=False)


@scenario("cron_failing", "a cron workflow fails twice; the chain goes on with the failure carried")
async def _cron_failing(ctx: Ctx) -> None:
    await _cron_chain(ctx, fail=True)


@scenario("start_delay_signal_cancel", "a signal waits for the start delay; a cancel request does not")
async def _start_delay_signal_cancel(ctx: Ctx) -> None:
    for label, kwargs in (
        ("delayed", dict(start_delay=timedelta(seconds=30))),
        ("cron", dict(cron_schedule="@every 30s")),
    ):
        h = await ctx.start("ForeverWorkflow", label=label, task_queue=ctx.nobody_tq, **kwargs)
        await h.signal("deliver", "early")
        await h.cancel()
        await h.terminate(reason="done")
        ctx.collect(label, h.id, h.result_run_id)


@scenario("reset", "reset to the first workflow task: the running run is terminated, signals after the point reapplied")
async def _reset(ctx: Ctx) -> None:
    h = await ctx.start(ResetTargetWorkflow.run)
    await settled(h, completed_tasks=2)
    await h.signal(ResetTargetWorkflow.deliver, "before reset")
    await settled(h, completed_tasks=3)
    first_task_completed = next(
        e.event_id
        for e in (await h.fetch_history()).events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    )
    response = await ctx.client.workflow_service.reset_workflow_execution(
        ResetWorkflowExecutionRequest(
            namespace=ctx.client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=h.id, run_id=h.result_run_id),
            reason="side-by-side reset",
            workflow_task_finish_event_id=first_task_completed,
            request_id=str(uuid.uuid4()),
        )
    )
    new_run = ctx.client.get_workflow_handle(h.id, run_id=response.run_id)
    await settled(new_run, completed_tasks=2)
    await new_run.signal(ResetTargetWorkflow.deliver, "after reset")
    await ctx.outcome("new run", new_run, follow_runs=False)
    await ctx.outcome("old run", h, follow_runs=False)
    ctx.collect("old run", h.id, h.result_run_id)
    ctx.collect("new run", h.id, response.run_id)
    await ctx.capture(
        "reset to a non-boundary event",
        ctx.client.workflow_service.reset_workflow_execution(
            ResetWorkflowExecutionRequest(
                namespace=ctx.client.namespace,
                workflow_execution=WorkflowExecution(workflow_id=h.id, run_id=response.run_id),
                reason="bad point",
                workflow_task_finish_event_id=999,
                request_id=str(uuid.uuid4()),
            )
        ),
    )


@scenario("eager_start", "eager workflow start: the first task comes back with the start response")
async def _eager_start(ctx: Ctx) -> None:
    h = await _simple(ctx, tb.OneActivityWorkflow.run, "eager", request_eager_start=True)
    ctx.results["eagerly started"] = {"value": getattr(h, "__temporal_eagerly_started", None)}


@scenario("patched", "patch markers and the TemporalChangeVersion search attribute, a local activity")
async def _patched(ctx: Ctx) -> None:
    await _simple(ctx, PatchedWorkflow.run)


@scenario("reset_reapplies_updates", "reset to the first workflow task: an update after the point is admitted again and rerun")
async def _reset_reapplies_updates(ctx: Ctx) -> None:
    h = await ctx.start(tu.Cart.run)
    await settled(h)
    await ctx.capture("update", h.execute_update(tu.Cart.add, "apple", id="u-apple"))
    first_task_completed = next(
        e.event_id
        for e in (await h.fetch_history()).events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    )
    response = await ctx.client.workflow_service.reset_workflow_execution(
        ResetWorkflowExecutionRequest(
            namespace=ctx.client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=h.id, run_id=h.result_run_id),
            reason="reapply updates",
            workflow_task_finish_event_id=first_task_completed,
            request_id=str(uuid.uuid4()),
        )
    )
    new_run = ctx.client.get_workflow_handle(h.id, run_id=response.run_id)
    await settled(new_run, completed_tasks=1)
    await ctx.capture("close", new_run.execute_update(tu.Cart.close, id="u-close"))
    await ctx.outcome("new run", new_run, follow_runs=False)
    ctx.collect("old run", h.id, h.result_run_id)
    ctx.collect("new run", h.id, response.run_id)


@scenario("workflow_cancel", "client cancels a running workflow")
async def _workflow_cancel(ctx: Ctx) -> None:
    h = await ctx.start(tb.ForeverWorkflow.run)
    await settled(h)
    await h.cancel()
    await ctx.outcome("wf", h)
    ctx.collect("wf", h.id, h.result_run_id)


@scenario("terminate", "client terminates a running workflow")
async def _terminate(ctx: Ctx) -> None:
    h = await ctx.start(tb.ForeverWorkflow.run)
    await settled(h)
    await h.terminate("detail", reason="bye")
    await ctx.outcome("wf", h)
    ctx.collect("wf", h.id, h.result_run_id)


@scenario("terminate_no_worker", "terminate a workflow no worker ever picked up")
async def _terminate_no_worker(ctx: Ctx) -> None:
    h = await ctx.start("NoSuchWorkflowType", task_queue=ctx.nobody_tq)
    await h.terminate(reason="no worker")
    await ctx.outcome("wf", h)
    ctx.collect("wf", h.id, h.result_run_id)


@scenario("run_timeout", "workflow run timeout 1 s (no worker: the timeout cannot race a task)")
async def _run_timeout(ctx: Ctx) -> None:
    await _simple(ctx, "ForeverWorkflow", task_queue=ctx.nobody_tq, run_timeout=timedelta(seconds=1))


@scenario("signal", "signal a waiting workflow")
async def _signal(ctx: Ctx) -> None:
    h = await ctx.start(tb.WaitSignalWorkflow.run)
    await settled(h)
    await h.signal(tb.WaitSignalWorkflow.deliver, "v")
    await ctx.outcome("wf", h)
    ctx.collect("wf", h.id, h.result_run_id)


@scenario("query", "query a running and a completed workflow")
async def _query(ctx: Ctx) -> None:
    h = await ctx.start(tb.WaitSignalWorkflow.run)
    await settled(h)
    await ctx.capture("query running", h.query(tb.WaitSignalWorkflow.current_state))
    await ctx.capture("unknown query", h.query("no_such_query"))
    await h.signal(tb.WaitSignalWorkflow.deliver, "x")
    await ctx.outcome("wf", h)
    await ctx.capture("query completed", h.query(tb.WaitSignalWorkflow.current_state))
    ctx.collect("wf", h.id, h.result_run_id)


@scenario("updates", "an accepted update, a rejected one (no events), then one that closes the workflow")
async def _updates(ctx: Ctx) -> None:
    h = await ctx.start(tu.Cart.run)
    await settled(h)
    await ctx.capture("accepted", h.execute_update(tu.Cart.add, "apple", id="u-accepted"))
    await ctx.capture("rejected", h.execute_update(tu.Cart.add, "forbidden", id="u-rejected"))
    await ctx.capture("again", h.execute_update(tu.Cart.add, "apple", id="u-accepted"))
    await ctx.capture("close", h.execute_update(tu.Cart.close, id="u-close"))
    await ctx.outcome("wf", h)
    ctx.collect("wf", h.id, h.result_run_id)


@scenario("signal_with_start", "signal-with-start of a new workflow")
async def _signal_with_start(ctx: Ctx) -> None:
    await _simple(ctx, tb.WaitSignalWorkflow.run, start_signal="deliver", start_signal_args=["v"])


@scenario("signal_with_start_running", "signal-with-start of a running workflow signals it")
async def _signal_with_start_running(ctx: Ctx) -> None:
    first = await ctx.start(tb.WaitSignalWorkflow.run)
    await settled(first)
    second = await ctx.client.start_workflow(
        tb.WaitSignalWorkflow.run,
        id=first.id,
        task_queue=ctx.tq,
        start_signal="deliver",
        start_signal_args=["to the running one"],
    )
    ctx.results["same run"] = {"value": second.result_run_id == first.result_run_id}
    await ctx.outcome("wf", first)
    ctx.collect("wf", first.id, first.result_run_id)


@scenario("workflow_task_failure", "first workflow task fails (RuntimeError), retry succeeds")
async def _workflow_task_failure(ctx: Ctx) -> None:
    await _simple(ctx, tb.FlakyTaskWorkflow.run)


@scenario("workflow_failure", "workflow fails with an ApplicationError")
async def _workflow_failure(ctx: Ctx) -> None:
    await _simple(ctx, tb.FailingWorkflow.run)


@scenario("id_reuse_allow_duplicate", "a second run with the id of a completed one")
async def _id_reuse_allow_duplicate(ctx: Ctx) -> None:
    first = await ctx.start(te.EchoWorkflow.run, "a")
    await ctx.outcome("first", first)
    second = await ctx.client.start_workflow(
        te.EchoWorkflow.run,
        "b",
        id=first.id,
        task_queue=ctx.tq,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    )
    await ctx.outcome("second", second)
    ctx.collect("first", first.id, first.result_run_id)
    ctx.collect("second", second.id, second.result_run_id)


@scenario("id_conflict_terminate_existing", "start with TERMINATE_EXISTING over a running run")
async def _id_conflict_terminate_existing(ctx: Ctx) -> None:
    first = await ctx.start("ParkedWorkflow", task_queue=ctx.nobody_tq)
    second = await ctx.client.start_workflow(
        "ParkedWorkflow",
        id=first.id,
        task_queue=ctx.nobody_tq,
        id_conflict_policy=WorkflowIDConflictPolicy.TERMINATE_EXISTING,
    )
    await second.terminate(reason="cleanup")
    await ctx.outcome("first", ctx.client.get_workflow_handle(first.id, run_id=first.result_run_id))
    await ctx.outcome("second", second)
    ctx.collect("first", first.id, first.result_run_id)
    ctx.collect("second", second.id, second.result_run_id)


@scenario("start_options", "start with memo, timeouts and a retry policy")
async def _start_options(ctx: Ctx) -> None:
    await _simple(
        ctx,
        te.EchoWorkflow.run,
        "opts",
        memo={"note": "hello", "n": 3},
        execution_timeout=timedelta(hours=2),
        run_timeout=timedelta(hours=1),
        task_timeout=timedelta(seconds=5),
        retry_policy=RetryPolicy(
            initial_interval=timedelta(seconds=2),
            backoff_coefficient=3.0,
            maximum_interval=timedelta(seconds=30),
            maximum_attempts=4,
            non_retryable_error_types=["Nope"],
        ),
    )


@scenario("start_delay", "start with a 1 s start delay")
async def _start_delay(ctx: Ctx) -> None:
    await _simple(ctx, te.EchoWorkflow.run, "late", start_delay=timedelta(seconds=1))


@scenario("child_cancel", "parent cancels its child (WAIT_CANCELLATION_COMPLETED)")
async def _child_cancel(ctx: Ctx) -> None:
    parent = await ctx.start(CancelChildWorkflow.run, label="parent")
    child = ctx.client.get_workflow_handle(f"{parent.id}-child")
    await settled(parent, 2)  # child initiated, started, task completed
    await settled(child, 1)
    await parent.signal(CancelChildWorkflow.cancel_child)
    await settled(parent, 4)  # signal task (cancel request), cancel-requested task
    await settled(child, 2)  # cancel request seen, child waits for finish_cancel
    await child.signal(CancellableChildWorkflow.finish_cancel)
    await ctx.outcome("parent", parent)
    await ctx.outcome("child", child)
    ctx.collect("parent", parent.id, parent.result_run_id)
    ctx.collect("child", child.id)


async def _parent_close(ctx: Ctx, policy: str) -> None:
    parent = await ctx.start(ParentOfForeverChildWorkflow.run, policy, label="parent")
    child = ctx.client.get_workflow_handle(f"{parent.id}-child")
    await settled(parent, 2)
    await settled(child, 1)
    await parent.terminate(reason="parent goes")
    await ctx.outcome("parent", parent)
    await ctx.outcome("child", child)
    ctx.collect("parent", parent.id, parent.result_run_id)
    ctx.collect("child", child.id)


@scenario("parent_close_terminate", "parent terminated: child terminated by the close policy")
async def _parent_close_terminate(ctx: Ctx) -> None:
    await _parent_close(ctx, "TERMINATE")


@scenario("parent_close_request_cancel", "parent terminated: child cancelled by the close policy")
async def _parent_close_request_cancel(ctx: Ctx) -> None:
    await _parent_close(ctx, "REQUEST_CANCEL")


@scenario("child_already_started", "starting a child whose id is already running fails")
async def _child_already_started(ctx: Ctx) -> None:
    existing = await ctx.start(tb.ForeverWorkflow.run, label="existing", task_queue=ctx.nobody_tq)
    await _simple(ctx, StartExistingChildWorkflow.run, existing.id)
    await existing.terminate(reason="cleanup")


@scenario("activity_schedule_to_start", "activity on an unpolled queue: schedule-to-start timeout")
async def _activity_schedule_to_start(ctx: Ctx) -> None:
    await _simple(ctx, ScheduleToStartWorkflow.run, ctx.nobody_tq)


@scenario("workflow_cancel_with_activity", "client cancels a workflow while its activity runs")
async def _workflow_cancel_with_activity(ctx: Ctx) -> None:
    h = await ctx.start(LongActivityWorkflow.run)
    await asyncio.wait_for(ta.activity_started[h.id].wait(), 30)
    ctx.results["describe while activity runs"] = {"value": await describe_pending(h)}
    await h.cancel()
    await ctx.outcome("wf", h)
    ctx.collect("wf", h.id, h.result_run_id)


@scenario("list_workflows", "visibility: a completed workflow in the (unfiltered) list")
async def _list_workflows(ctx: Ctx) -> None:
    # Unfiltered: Orrery does not implement list queries yet (UNIMPLEMENTED).
    h = await _simple(ctx, te.EchoWorkflow.run, "listed")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    rows: list = []
    while loop.time() < deadline:
        rows = [w async for w in ctx.client.list_workflows() if w.id == h.id]
        if rows and all(w.status and w.close_time for w in rows):
            break
        await asyncio.sleep(0.2)
    ctx.results["list"] = {
        "value": [
            {"id": w.id, "type": w.workflow_type, "status": w.status.name if w.status else None,
             "task_queue": w.task_queue}
            for w in rows
        ]
    }


@scenario("signal_with_start_closed", "signal-with-start on a closed workflow starts a new run")
async def _signal_with_start_closed(ctx: Ctx) -> None:
    first = await ctx.start(tb.WaitSignalWorkflow.run, start_signal="deliver", start_signal_args=["a"])
    await ctx.outcome("first", first)
    second = await ctx.client.start_workflow(
        tb.WaitSignalWorkflow.run,
        id=first.id,
        task_queue=ctx.tq,
        start_signal="deliver",
        start_signal_args=["b"],
    )
    ctx.results["new run"] = {"value": second.result_run_id != first.result_run_id}
    await ctx.outcome("second", second)
    ctx.collect("first", first.id, first.result_run_id)
    ctx.collect("second", second.id, second.result_run_id)


@scenario("execution_timeout", "workflow execution timeout 1 s (no worker)")
async def _execution_timeout(ctx: Ctx) -> None:
    await _simple(ctx, "ForeverWorkflow", task_queue=ctx.nobody_tq, execution_timeout=timedelta(seconds=1))


@scenario("workflow_retry_exhausted", "workflow fails on every attempt, maximum_attempts=2")
async def _workflow_retry_exhausted(ctx: Ctx) -> None:
    h = await ctx.start(
        tb.FailingWorkflow.run,
        retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=2),
    )
    await ctx.outcome("wf", h)
    ctx.collect("attempt 1", h.id, h.result_run_id)
    ctx.collect("attempt 2", h.id)


@scenario("workflow_retry_non_retryable", "workflow fails with a non-retryable error type")
async def _workflow_retry_non_retryable(ctx: Ctx) -> None:
    await _simple(
        ctx,
        tb.FailingWorkflow.run,
        retry_policy=RetryPolicy(
            initial_interval=timedelta(milliseconds=100),
            maximum_attempts=5,
            non_retryable_error_types=["MyBusinessError"],
        ),
    )


@scenario("upsert_memo", "workflow upserts its memo twice")
async def _upsert_memo(ctx: Ctx) -> None:
    h = await _simple(ctx, UpsertMemoWorkflow.run, memo={"initial": 1})
    desc = await h.describe()
    ctx.results["memo after"] = {"value": await desc.memo()}


@scenario("local_activity_failure", "a local activity fails, 1 attempt")
async def _local_activity_failure(ctx: Ctx) -> None:
    await _simple(ctx, LocalActivityFailureWorkflow.run)


NAMES = list(SCENARIOS)


# --------------------------------------------------------------------------- #
# Runner
# --------------------------------------------------------------------------- #
async def _run_one(name: str, server: str, client: Client, tq: str) -> Ctx:
    ctx = Ctx(name, server, client, tq)
    _, fn = SCENARIOS[name]
    try:
        await asyncio.wait_for(fn(ctx), SCENARIO_TIMEOUT_S)
        await ctx.fetch_histories()
    except BaseException as e:  # noqa: BLE001 - reported by the test
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        ctx.error = "".join(traceback.format_exception(e))
    return ctx


async def _run_server(server: str, client: Client, names: list[str]) -> dict[str, Ctx]:
    # Bounded concurrency: a burst of ~50 first workflow tasks at once makes
    # the (shared, 2-core) machine slow enough for workflow tasks to time out.
    limit = asyncio.Semaphore(int(os.environ.get("SBS_CONCURRENCY", "12")))

    async def one(name: str, tq: str) -> Ctx:
        async with limit:
            return await _run_one(name, server, client, tq)

    async with run_worker(client, workflows=WORKFLOWS, activities=ACTIVITIES) as worker:
        ctxs = await asyncio.gather(*(one(n, worker.task_queue) for n in names))
    return dict(zip(names, ctxs))


async def run_all(clients: dict[str, Client], names: list[str]) -> dict[str, dict[str, Ctx]]:
    """Run the scenarios on every server at once; {scenario: {server: Ctx}}."""
    servers = list(clients)
    per_server = await asyncio.gather(*(_run_server(s, clients[s], names) for s in servers))
    return {n: {s: per_server[i][n] for i, s in enumerate(servers)} for n in names}
