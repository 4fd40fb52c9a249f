"""Client-facing errors: the same calls must fail (or succeed) the same way on
both servers: same exception types along the SDK's cause chain, same gRPC
status code and same Temporal error-detail types. Messages are not compared
(wording is free)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any, Awaitable, Callable

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.common.v1 import WorkflowExecution, WorkflowType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    GetWorkflowExecutionHistoryRequest,
    RegisterNamespaceRequest,
    RespondActivityTaskCompletedRequest,
    SignalWorkflowExecutionRequest,
    StartWorkflowExecutionRequest,
)
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

NOBODY_TQ = "sbs-errors-nobody-polls-this"
ONE_DAY = Duration(seconds=86400)

Probe = Callable[[Client, str], Awaitable[Any]]
PROBES: dict[str, Probe] = {}

# Genuine Orrery differences (probe -> precise difference); strict xfails.
KNOWN_DIFFERENCES: dict[str, str] = {}


def probe(name: str) -> Callable[[Probe], Probe]:
    def register(fn: Probe) -> Probe:
        PROBES[name] = fn
        return fn

    return register


def _wid() -> str:
    return f"sbs-err-{uuid.uuid4()}"


def _raw_start(workflow_id: str, request_id: str | None = None) -> StartWorkflowExecutionRequest:
    return StartWorkflowExecutionRequest(
        namespace="default",
        workflow_id=workflow_id,
        workflow_type=WorkflowType(name="ParkedWorkflow"),
        task_queue=TaskQueue(name=NOBODY_TQ),
        request_id=request_id or str(uuid.uuid4()),
        identity="side-by-side",
    )


async def _park(client: Client, wid: str):
    return await client.start_workflow("ParkedWorkflow", id=wid, task_queue=NOBODY_TQ)


async def _terminate_quietly(client: Client, wid: str) -> None:
    try:
        await client.get_workflow_handle(wid).terminate(reason="cleanup")
    except Exception:  # noqa: BLE001
        pass


# --------------------------------------------------------------------------- #
# Probes (each returns a value on success, or raises)
# --------------------------------------------------------------------------- #
@probe("duplicate_start")
async def _duplicate_start(client: Client, server_address: str) -> Any:
    wid = _wid()
    first = await _park(client, wid)
    try:
        await _park(client, wid)
    except WorkflowAlreadyStartedError as e:
        # What the SDK tells the caller about the running workflow.
        return {
            "raised": "WorkflowAlreadyStartedError",
            "workflow_id is the running one": e.workflow_id == wid,
            "run_id is the running one": e.run_id == first.result_run_id,
        }
    finally:
        await _terminate_quietly(client, wid)


@probe("duplicate_start_raw")
async def _duplicate_start_raw(client: Client, server_address: str) -> Any:
    wid = _wid()
    await client.workflow_service.start_workflow_execution(_raw_start(wid))
    try:
        await client.workflow_service.start_workflow_execution(_raw_start(wid))
    finally:
        await _terminate_quietly(client, wid)


@probe("reject_duplicate_after_close")
async def _reject_duplicate(client: Client, server_address: str) -> Any:
    wid = _wid()
    await _park(client, wid)
    await client.get_workflow_handle(wid).terminate(reason="closed")
    await client.start_workflow(
        "ParkedWorkflow",
        id=wid,
        task_queue=NOBODY_TQ,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )


@probe("allow_duplicate_failed_only_after_terminated")
async def _allow_dup_failed_only(client: Client, server_address: str) -> Any:
    wid = _wid()
    first = await _park(client, wid)
    await client.get_workflow_handle(wid).terminate(reason="closed")
    second = await client.start_workflow(
        "ParkedWorkflow",
        id=wid,
        task_queue=NOBODY_TQ,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
    )
    await _terminate_quietly(client, wid)
    return {"new run": second.result_run_id != first.result_run_id}


@probe("conflict_use_existing")
async def _use_existing(client: Client, server_address: str) -> Any:
    wid = _wid()
    first = await client.workflow_service.start_workflow_execution(_raw_start(wid))
    try:
        req = _raw_start(wid)
        req.workflow_id_conflict_policy = WorkflowIDConflictPolicy.USE_EXISTING.value
        second = await client.workflow_service.start_workflow_execution(req)
        return {"same run": second.run_id == first.run_id, "started": second.started}
    finally:
        await _terminate_quietly(client, wid)


@probe("same_request_id_is_idempotent")
async def _same_request_id(client: Client, server_address: str) -> Any:
    wid = _wid()
    request_id = str(uuid.uuid4())
    first = await client.workflow_service.start_workflow_execution(_raw_start(wid, request_id))
    try:
        second = await client.workflow_service.start_workflow_execution(_raw_start(wid, request_id))
        return {"same run": second.run_id == first.run_id, "started": second.started}
    finally:
        await _terminate_quietly(client, wid)


@probe("signal_closed_workflow")
async def _signal_closed(client: Client, server_address: str) -> Any:
    wid = _wid()
    await _park(client, wid)
    await client.get_workflow_handle(wid).terminate(reason="closed")
    await client.get_workflow_handle(wid).signal("deliver", "x")


@probe("terminate_closed_workflow")
async def _terminate_closed(client: Client, server_address: str) -> Any:
    wid = _wid()
    await _park(client, wid)
    await client.get_workflow_handle(wid).terminate(reason="closed")
    await client.get_workflow_handle(wid).terminate(reason="again")


@probe("cancel_closed_workflow")
async def _cancel_closed(client: Client, server_address: str) -> Any:
    wid = _wid()
    await _park(client, wid)
    await client.get_workflow_handle(wid).terminate(reason="closed")
    await client.get_workflow_handle(wid).cancel()


@probe("terminate_if_running_with_conflict_policy")
async def _bad_policy_combo(client: Client, server_address: str) -> Any:
    await client.start_workflow(
        "ParkedWorkflow",
        id=_wid(),
        task_queue=NOBODY_TQ,
        id_reuse_policy=WorkflowIDReusePolicy.TERMINATE_IF_RUNNING,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
    )


@probe("invalid_cron_schedule")
async def _invalid_cron(client: Client, server_address: str) -> Any:
    await client.start_workflow("ParkedWorkflow", id=_wid(), task_queue=NOBODY_TQ, cron_schedule="every day")


@probe("cron_with_start_delay")
async def _cron_with_delay(client: Client, server_address: str) -> Any:
    await client.start_workflow(
        "ParkedWorkflow",
        id=_wid(),
        task_queue=NOBODY_TQ,
        cron_schedule="* * * * *",
        start_delay=timedelta(seconds=5),
    )


@probe("unknown_namespace_start")
async def _unknown_namespace(client: Client, server_address: str) -> Any:
    other = await Client.connect(server_address, namespace=f"sbs-no-such-ns-{uuid.uuid4().hex[:8]}")
    await other.start_workflow("ParkedWorkflow", id=_wid(), task_queue=NOBODY_TQ)


@probe("describe_unknown_namespace")
async def _describe_unknown_namespace(client: Client, server_address: str) -> Any:
    await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=f"sbs-no-such-ns-{uuid.uuid4().hex[:8]}")
    )


@probe("describe_unknown_workflow")
async def _describe_unknown(client: Client, server_address: str) -> Any:
    await client.get_workflow_handle(_wid()).describe()


@probe("history_unknown_workflow")
async def _history_unknown(client: Client, server_address: str) -> Any:
    await client.workflow_service.get_workflow_execution_history(
        GetWorkflowExecutionHistoryRequest(
            namespace="default", execution=WorkflowExecution(workflow_id=_wid())
        )
    )


@probe("signal_unknown_workflow")
async def _signal_unknown(client: Client, server_address: str) -> Any:
    await client.get_workflow_handle(_wid()).signal("deliver", "x")


@probe("signal_unknown_workflow_raw")
async def _signal_unknown_raw(client: Client, server_address: str) -> Any:
    await client.workflow_service.signal_workflow_execution(
        SignalWorkflowExecutionRequest(
            namespace="default",
            workflow_execution=WorkflowExecution(workflow_id=_wid()),
            signal_name="deliver",
            request_id=str(uuid.uuid4()),
        )
    )


@probe("terminate_unknown_workflow")
async def _terminate_unknown(client: Client, server_address: str) -> Any:
    await client.get_workflow_handle(_wid()).terminate(reason="x")


@probe("cancel_unknown_workflow")
async def _cancel_unknown(client: Client, server_address: str) -> Any:
    await client.get_workflow_handle(_wid()).cancel()


@probe("query_unknown_workflow")
async def _query_unknown(client: Client, server_address: str) -> Any:
    await client.get_workflow_handle(_wid()).query("current_state")


@probe("workflow_id_1001_chars")
async def _id_too_long(client: Client, server_address: str) -> Any:
    await client.start_workflow("ParkedWorkflow", id="x" * 1001, task_queue=NOBODY_TQ)


@probe("workflow_id_1000_chars")
async def _id_max_len(client: Client, server_address: str) -> Any:
    wid = (_wid() + "x" * 1000)[:1000]
    await _park(client, wid)
    await _terminate_quietly(client, wid)
    return "started"


@probe("empty_workflow_id")
async def _empty_id(client: Client, server_address: str) -> Any:
    await client.workflow_service.start_workflow_execution(_raw_start(""))


@probe("missing_task_queue")
async def _missing_tq(client: Client, server_address: str) -> Any:
    req = _raw_start(_wid())
    req.ClearField("task_queue")
    await client.workflow_service.start_workflow_execution(req)


@probe("register_namespace_without_retention")
async def _register_no_retention(client: Client, server_address: str) -> Any:
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace=f"sbs-ns-{uuid.uuid4().hex[:12]}")
    )


@probe("register_namespace_duplicate")
async def _register_duplicate(client: Client, server_address: str) -> Any:
    name = f"sbs-ns-{uuid.uuid4().hex[:12]}"
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace=name, workflow_execution_retention_period=ONE_DAY)
    )
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace=name, workflow_execution_retention_period=ONE_DAY)
    )


@probe("register_default_namespace")
async def _register_default(client: Client, server_address: str) -> Any:
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace="default", workflow_execution_retention_period=ONE_DAY)
    )


@probe("complete_activity_garbage_token")
async def _garbage_token(client: Client, server_address: str) -> Any:
    await client.workflow_service.respond_activity_task_completed(
        RespondActivityTaskCompletedRequest(namespace="default", task_token=b"not a task token")
    )


# --------------------------------------------------------------------------- #
# Harness
# --------------------------------------------------------------------------- #
def describe(e: BaseException) -> list[dict]:
    """The exception chain: types, and for gRPC errors status and details."""
    chain: list[dict] = []
    while e is not None and len(chain) < 10:
        d: dict[str, Any] = {"type": type(e).__name__}
        if isinstance(e, RPCError):
            d["status"] = e.status.name
            d["details"] = [a.type_url.rsplit("/", 1)[-1] for a in e.grpc_status.details]
        chain.append(d)
        e = e.__cause__
    return chain


async def run_probe(fn: Probe, client: Client, address: str) -> dict:
    try:
        return {"ok": await asyncio.wait_for(fn(client, address), 30)}
    except RPCError as e:
        return {"error": describe(e), "message": e.message}
    except Exception as e:  # noqa: BLE001
        return {"error": describe(e), "message": str(e)}


def _params():
    for name in PROBES:
        reason = KNOWN_DIFFERENCES.get(name)
        marks = [pytest.mark.xfail(reason=f"orrery: {reason}", strict=True)] if reason else []
        yield pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("probe_name", list(_params()))
async def test_client_error(probe_name: str, servers, clients) -> None:
    fn = PROBES[probe_name]
    real, orrery = await asyncio.gather(
        run_probe(fn, clients["real"], servers["real"].address),
        run_probe(fn, clients["orrery"], servers["orrery"].address),
    )
    rkey = {k: v for k, v in real.items() if k != "message"}
    okey = {k: v for k, v in orrery.items() if k != "message"}
    assert rkey == okey, (
        f"{probe_name}: Orrery answers differently from the real server\n"
        f"    real:   {real}\n"
        f"    orrery: {orrery}"
    )
