"""Run reference scenarios against a server and print their histories.

    python dump_histories.py HOST:PORT [SCENARIO ...] [--json]

Use it side by side: once against the real Temporal server, once against
Orrery, and diff the output (timestamps are shown relative to the workflow's
first event, ids and tokens are elided so the two outputs are comparable).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from google.protobuf.json_format import MessageToDict  # noqa: E402
from temporalio import workflow  # noqa: E402
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle  # noqa: E402
from temporalio.common import RetryPolicy  # noqa: E402
from temporalio.workflow import ActivityCancellationType  # noqa: E402

import test_activities as ta  # noqa: E402
import test_basic as tb  # noqa: E402
import test_children_and_external as tc  # noqa: E402
from helpers import event_type_name, new_id, run_worker  # noqa: E402


@workflow.defn
class TryCancelActivityWorkflow:
    """Like CancelActivityWorkflow but with the default TRY_CANCEL type."""

    def __init__(self) -> None:
        self.cancel_now = False

    @workflow.signal
    def cancel_activity(self) -> None:
        self.cancel_now = True

    @workflow.run
    async def run(self) -> str:
        handle = workflow.start_activity(
            ta.heartbeat_until_cancelled,
            start_to_close_timeout=timedelta(seconds=30),
            heartbeat_timeout=timedelta(seconds=2),
            cancellation_type=ActivityCancellationType.TRY_CANCEL,
        )
        await workflow.wait_condition(lambda: self.cancel_now)
        handle.cancel()
        try:
            await handle
        except Exception as e:  # noqa: BLE001
            return f"{type(e).__name__}/{type(e.__cause__ or e.cause).__name__}"
        return "not cancelled"


@workflow.defn
class RetryingWorkflow:
    """The workflow itself has a retry policy; attempt 1 fails."""

    @workflow.run
    async def run(self) -> int:
        if workflow.info().attempt < 2:
            from temporalio.exceptions import ApplicationError

            raise ApplicationError("fail run attempt 1")
        return workflow.info().attempt


WORKFLOWS = [
    tb.OneActivityWorkflow,
    tb.TimerWorkflow,
    tb.WaitSignalWorkflow,
    tb.FailingWorkflow,
    tb.ForeverWorkflow,
    tb.ContinueAsNewWorkflow,
    tb.FlakyTaskWorkflow,
    ta.CallActivityWorkflow,
    ta.CancelActivityWorkflow,
    TryCancelActivityWorkflow,
    RetryingWorkflow,
    *tc.ALL,
]
ACTIVITIES = [tb.greet, *ta.ALL_ACTIVITIES]

NOISE_KEYS = {
    "identity",
    "header",
    "workerVersion",
    "sdkMetadata",
    "meteringMetadata",
    "binaryChecksum",
    "workerVersionStamp",
    "suggestContinueAsNew",
    "historySizeBytes",
    "workerDeploymentName",
    "workerDeploymentVersion",
    "versioningOverride",
    "stackTrace",
}
UUIDISH = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _clean(obj):
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k in NOISE_KEYS:
                continue
            if k in ("payloads",) and isinstance(v, list):
                out[k] = [_payload(p) for p in v]
                continue
            out[k] = _clean(v)
        return out
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    if isinstance(obj, str):
        return UUIDISH.sub("<uuid>", obj)
    return obj


def _payload(p: dict):
    import base64

    try:
        return json.loads(base64.b64decode(p.get("data", "")))
    except Exception:  # noqa: BLE001
        return "<payload>"


def describe_event(e, t0) -> dict:
    attrs_field = e.WhichOneof("attributes")
    attrs = MessageToDict(getattr(e, attrs_field)) if attrs_field else {}
    d = {
        "id": e.event_id,
        "type": event_type_name(e),
        "t_ms": int((e.event_time.ToDatetime() - t0).total_seconds() * 1000),
    }
    if e.worker_may_ignore:
        d["worker_may_ignore"] = True
    d["attrs"] = _clean(attrs)
    return d


async def dump(handle: WorkflowHandle, title: str, as_json: bool) -> list[dict]:
    events = list((await handle.fetch_history()).events)
    t0 = events[0].event_time.ToDatetime()
    described = [describe_event(e, t0) for e in events]
    if as_json:
        print(json.dumps({"scenario": title, "events": described}))
    else:
        print(f"\n### {title}")
        for d in described:
            print(f"  {d['id']:>3} {d['type']:<48} +{d['t_ms']}ms  {json.dumps(d['attrs'], sort_keys=True)}")
    return described


async def _result(handle):
    try:
        return await handle.result(follow_runs=False)
    except WorkflowFailureError as e:
        return f"WorkflowFailureError({type(e.cause).__name__})"
    except Exception as e:  # noqa: BLE001
        return f"{type(e).__name__}"


async def main(address: str, only: list[str], as_json: bool) -> None:
    client = await Client.connect(address, namespace="default")
    tq = new_id("tq-dump")

    async def start(wf, *args, **kw):
        return await client.start_workflow(wf, *args, id=kw.pop("id", None) or new_id(), task_queue=tq, **kw)

    async def one_activity():
        h = await start(tb.OneActivityWorkflow.run, "x")
        await _result(h)
        return [(h, "one activity")]

    async def timer():
        h = await start(tb.TimerWorkflow.run, 1.0)
        await _result(h)
        return [(h, "timer 1s")]

    async def activity_retry():
        h = await start(ta.CallActivityWorkflow.run, ta.ActivityCall("fail_twice", max_attempts=5))
        await _result(h)
        return [(h, "activity retry: succeeds on attempt 3 (initial_interval 100ms, coeff 1.0)")]

    async def activity_max_attempts():
        h = await start(ta.CallActivityWorkflow.run, ta.ActivityCall("fail_with_type", ["Flaky"], max_attempts=2))
        await _result(h)
        return [(h, "activity fails, maximum_attempts=2 exhausted")]

    async def activity_non_retryable():
        h = await start(
            ta.CallActivityWorkflow.run,
            ta.ActivityCall("fail_with_type", ["Fatal"], max_attempts=5, non_retryable_types=["Fatal"]),
        )
        await _result(h)
        return [(h, "activity non-retryable error type")]

    async def activity_start_to_close():
        h = await start(
            ta.CallActivityWorkflow.run, ta.ActivityCall("sleep_for", [10.0], start_to_close_s=1.0, max_attempts=1)
        )
        await _result(h)
        return [(h, "activity start_to_close timeout 1s, max attempts 1")]

    async def activity_start_to_close_retry():
        h = await start(
            ta.CallActivityWorkflow.run, ta.ActivityCall("sleep_for", [10.0], start_to_close_s=1.0, max_attempts=2)
        )
        await _result(h)
        return [(h, "activity start_to_close timeout 1s, max attempts 2")]

    async def activity_heartbeat_timeout():
        h = await start(
            ta.CallActivityWorkflow.run,
            ta.ActivityCall("heartbeat_once_then_stall", start_to_close_s=30.0, heartbeat_s=1.0, max_attempts=1),
        )
        await _result(h)
        return [(h, "activity heartbeat timeout 1s, max attempts 1")]

    async def activity_cancel():
        out = []
        for wf, title in (
            (ta.CancelActivityWorkflow, "activity cancellation (WAIT_CANCELLATION_COMPLETED)"),
            (TryCancelActivityWorkflow, "activity cancellation (TRY_CANCEL)"),
        ):
            wid = new_id()
            h = await start(wf.run, id=wid)
            await asyncio.wait_for(ta.activity_started[wid].wait(), 20)
            await h.signal("cancel_activity")
            await _result(h)
            await asyncio.sleep(0.5)  # let a TRY_CANCEL activity report its cancellation
            out.append((h, title))
        return out

    async def heartbeat_details():
        h = await start(ta.CallActivityWorkflow.run, ta.ActivityCall("resume_from_heartbeat", heartbeat_s=10.0, max_attempts=3))
        await _result(h)
        return [(h, "heartbeat details carried to attempt 2")]

    async def async_completion():
        wid = new_id()
        h = await start(ta.CallActivityWorkflow.run, ta.ActivityCall("complete_me_later", activity_id="async-act", max_attempts=1), id=wid)
        while wid not in ta.task_tokens:
            await asyncio.sleep(0.05)
        await client.get_async_activity_handle(task_token=ta.task_tokens[wid]).complete("done")
        await _result(h)
        return [(h, "async activity completion by token")]

    async def child():
        wid = new_id()
        h = await start(tc.ParentWorkflow.run, 4, id=wid)
        await _result(h)
        return [(h, "child workflow: parent"), (client.get_workflow_handle(f"{wid}-child"), "child workflow: child")]

    async def child_failure():
        wid = new_id()
        h = await start(tc.ParentOfFailingChildWorkflow.run, id=wid)
        await _result(h)
        return [(h, "child failure: parent"), (client.get_workflow_handle(f"{wid}-child"), "child failure: child")]

    async def signal_external():
        target = await start(tc.TargetWorkflow.run)
        sender = await start(tc.SignalExternalWorkflow.run, args=[target.id, "hi"])
        await _result(sender)
        await _result(target)
        return [(sender, "signal external: sender"), (target, "signal external: target")]

    async def cancel_external():
        target = await start(tc.TargetWorkflow.run)
        canceller = await start(tc.CancelExternalWorkflow.run, target.id)
        await _result(canceller)
        await _result(target)
        return [(canceller, "cancel external: canceller"), (target, "cancel external: target")]

    async def continue_as_new():
        h = await start(tb.ContinueAsNewWorkflow.run, args=[2, 0])
        await h.result()
        out = []
        run_id = h.result_run_id
        n = 1
        while run_id:
            rh = client.get_workflow_handle(h.id, run_id=run_id)
            events = list((await rh.fetch_history()).events)
            out.append((rh, f"continue-as-new: run {n}"))
            last = events[-1]
            run_id = (
                last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
                if last.HasField("workflow_execution_continued_as_new_event_attributes")
                else None
            )
            n += 1
        return out

    async def workflow_cancel():
        h = await start(tb.ForeverWorkflow.run)
        await asyncio.sleep(0.3)
        await h.cancel()
        await _result(h)
        return [(h, "workflow cancel (client handle.cancel())")]

    async def terminate():
        h = await start(tb.ForeverWorkflow.run)
        await asyncio.sleep(0.3)
        await h.terminate("detail", reason="bye")
        await _result(h)
        return [(h, "terminate (running, first task completed)")]

    async def signal():
        h = await start(tb.WaitSignalWorkflow.run)
        await asyncio.sleep(0.3)
        await h.signal("deliver", "v")
        await _result(h)
        return [(h, "signal a waiting workflow")]

    async def signal_with_start():
        h = await start(tb.WaitSignalWorkflow.run, start_signal="deliver", start_signal_args=["v"])
        await _result(h)
        return [(h, "signal-with-start")]

    async def workflow_task_failure():
        h = await start(tb.FlakyTaskWorkflow.run)
        await _result(h)
        return [(h, "workflow task failure (RuntimeError on first task), then success")]

    async def workflow_failure():
        h = await start(tb.FailingWorkflow.run)
        await _result(h)
        return [(h, "workflow fails with ApplicationError")]

    async def workflow_retry():
        h = await start(
            RetryingWorkflow.run,
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=3),
        )
        r = await h.result()
        assert r == 2, r
        first = client.get_workflow_handle(h.id, run_id=h.result_run_id)
        return [(first, "workflow retry policy: run attempt 1 (fails)"), (client.get_workflow_handle(h.id), "workflow retry policy: run attempt 2")]

    scenarios = {name: fn for name, fn in locals().items() if callable(fn) and name not in ("start",)}
    selected = only or list(scenarios)
    async with run_worker(client, workflows=WORKFLOWS, activities=ACTIVITIES, task_queue=tq):
        for name in selected:
            t = time.monotonic()
            for handle, title in await scenarios[name]():
                await dump(handle, f"{name}: {title}", as_json)
            if not as_json:
                print(f"  ({time.monotonic() - t:.2f}s)")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if not args:
        sys.exit(__doc__)
    asyncio.run(main(args[0], args[1:], "--json" in sys.argv))
    sys.stdout.flush()
    # Skip interpreter finalization: the SDK's native threads can abort it
    # ("PyGILState_Release ... must be current") after all the output is out.
    os._exit(0)
