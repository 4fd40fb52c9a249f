"""Update limits per workflow run, side by side: the same updates must be
refused the same way (gRPC status code, message, error-detail type and its
cause/scope) by the real server and by Orrery.

- `test_eleventh_concurrent_update_is_refused_alike`: both servers with their
  defaults (`history.maxInFlightUpdates` 10): 10 updates wait on a workflow
  nobody works on; the 11th is refused with RESOURCE_EXHAUSTED, a repeat of
  one of the 10 is not.
- `test_configured_update_limits_alike`: a pair of servers of their own with
  `history.maxInFlightUpdates=2` and `history.maxTotalUpdates=4`, and a
  worker: accepted-but-running updates count as in flight, a rejected update
  counts nowhere, completed ones count towards the total.
- `test_in_flight_update_payloads_alike`: a pair of servers of their own with
  `history.maxInFlightUpdatePayloads=10000`: two admitted updates of ~4 KB
  each fill it (a third is refused with RESOURCE_EXHAUSTED, a small one still
  fits); once the worker accepted them their requests no longer count.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from temporalio import workflow
from temporalio.api.common.v1 import Payload, Payloads, WorkflowExecution
from temporalio.api.enums.v1 import UpdateWorkflowExecutionLifecycleStage as Stage
from temporalio.api.errordetails.v1 import ResourceExhaustedFailure
from temporalio.api.update.v1 import Input, Meta, Request, UpdateRef, WaitPolicy
from temporalio.api.workflowservice.v1 import (
    PollWorkflowExecutionUpdateRequest,
    UpdateWorkflowExecutionRequest,
)
from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateStage
from temporalio.service import RPCError, RPCStatusCode

from conftest import SERVER_NAMES, SideBySideServer
from helpers import run_worker

ACCEPTED = Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ACCEPTED
ADMITTED = Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED
NOBODY_TQ = "sbs-update-limits-nobody-polls-this"


def _update(
    workflow_id: str, update_id: str, name: str = "hold", blob: str | None = None
) -> UpdateWorkflowExecutionRequest:
    args = None
    if blob is not None:
        args = Payloads(payloads=[Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(blob).encode())])
    return UpdateWorkflowExecutionRequest(
        namespace="default",
        workflow_execution=WorkflowExecution(workflow_id=workflow_id),
        wait_policy=WaitPolicy(lifecycle_stage=ACCEPTED),
        request=Request(meta=Meta(update_id=update_id, identity="sbs"), input=Input(name=name, args=args)),
    )


def _refusal(e: RPCError) -> dict[str, Any]:
    """What a refused call answered: code, message, detail types and, for
    a ResourceExhaustedFailure, its cause and scope."""
    out: dict[str, Any] = {"status": e.status.name, "message": e.message, "details": []}
    for detail in e.grpc_status.details:
        out["details"].append(detail.type_url.rsplit(".", 1)[-1])
        if detail.type_url.endswith("ResourceExhaustedFailure"):
            failure = ResourceExhaustedFailure()
            detail.Unpack(failure)
            out["cause"], out["scope"] = failure.cause, failure.scope
    return out


async def _send(
    client: Client,
    workflow_id: str,
    update_id: str,
    timeout: float = 5,
    name: str = "hold",
    blob: str | None = None,
) -> dict[str, Any]:
    """One UpdateWorkflowExecution, no client retries (the SDK would retry a
    RESOURCE_EXHAUSTED)."""
    try:
        response = await client.workflow_service.update_workflow_execution(
            _update(workflow_id, update_id, name, blob), retry=False, timeout=timedelta(seconds=timeout)
        )
        return {"stage": response.stage}
    except RPCError as e:
        return _refusal(e)


async def _wait_admitted(client: Client, workflow_id: str, update_id: str) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            await client.workflow_service.poll_workflow_execution_update(
                PollWorkflowExecutionUpdateRequest(
                    namespace="default",
                    update_ref=UpdateRef(
                        workflow_execution=WorkflowExecution(workflow_id=workflow_id),
                        update_id=update_id,
                    ),
                    identity="sbs",
                    wait_policy=WaitPolicy(lifecycle_stage=ADMITTED),
                ),
                retry=False,
                timeout=timedelta(seconds=2),
            )
            return
        except RPCError as e:
            if e.status != RPCStatusCode.NOT_FOUND or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def _eleven_concurrent_updates(client: Client) -> dict[str, Any]:
    workflow_id = f"sbs-update-limits-{uuid.uuid4()}"
    handle = await client.start_workflow("ParkedWorkflow", id=workflow_id, task_queue=NOBODY_TQ)
    # Nobody polls the queue: these wait (for acceptance) while in flight.
    waiting = [
        asyncio.create_task(_send(client, workflow_id, f"u{i}", timeout=60)) for i in range(10)
    ]
    try:
        for i in range(10):
            await _wait_admitted(client, workflow_id, f"u{i}")
        eleventh = await _send(client, workflow_id, "u10")
        # The same update id again is one of the ten, not an 11th: it waits
        # for acceptance like them (the short deadline ends the wait).
        again = await _send(client, workflow_id, "u3", timeout=2)
        return {"eleventh": eleventh, "repeat_refused": again.get("status") == "RESOURCE_EXHAUSTED"}
    finally:
        for task in waiting:
            task.cancel()
        await handle.terminate(reason="cleanup")


async def test_eleventh_concurrent_update_is_refused_alike(clients) -> None:
    got = dict(
        zip(
            SERVER_NAMES,
            await asyncio.gather(*(_eleven_concurrent_updates(clients[s]) for s in SERVER_NAMES)),
        )
    )
    assert got["real"] == {
        "eleventh": {
            "status": "RESOURCE_EXHAUSTED",
            "message": "limit on number of concurrent in-flight updates has been reached (10)",
            "details": ["ResourceExhaustedFailure"],
            "cause": 2,  # RESOURCE_EXHAUSTED_CAUSE_CONCURRENT_LIMIT
            "scope": 1,  # RESOURCE_EXHAUSTED_SCOPE_NAMESPACE
        },
        "repeat_refused": False,
    }, "the real server changed: update this test"
    assert got["orrery"] == got["real"]


@workflow.defn
class HoldingWorkflow:
    """Runs until closed; `hold` updates stay accepted until released."""

    def __init__(self) -> None:
        self.released = False
        self.closed = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self.closed)

    @workflow.update
    async def hold(self) -> str:
        await workflow.wait_condition(lambda: self.released)
        return "held"

    @hold.validator
    def validate_hold(self) -> None:
        if workflow.current_update_info().id.startswith("bad"):
            raise ValueError("refused by the validator")

    @workflow.signal
    def release(self) -> None:
        self.released = True

    @workflow.signal
    def close(self) -> None:
        self.closed = True


LIMITS = ("history.maxInFlightUpdates=2", "history.maxTotalUpdates=4")


class _ServerWithLimits(SideBySideServer):
    settings: tuple[str, ...] = LIMITS

    def command(self) -> list[str]:
        flag = "--dynamic-config-value" if self.target == "real" else "--dynamic-config"
        cmd = super().command()
        for setting in self.settings:
            cmd += [flag, setting]
        return cmd


async def _on_server_pair(server: type[_ServerWithLimits], scenario) -> dict[str, Any]:
    """Runs `scenario` on a real server and an Orrery of their own, both
    started with `server.settings`; returns each one's answer."""
    servers = {name: server(name) for name in SERVER_NAMES}
    try:
        await asyncio.gather(*(s.start() for s in servers.values()))
        clients = {
            name: await Client.connect(s.address, namespace="default") for name, s in servers.items()
        }
        return dict(zip(SERVER_NAMES, await asyncio.gather(*(scenario(clients[s]) for s in SERVER_NAMES))))
    finally:
        for s in servers.values():
            s.cleanup()


async def _configured_scenario(client: Client) -> list[Any]:
    seen: list[Any] = []
    async with run_worker(client, workflows=[HoldingWorkflow]) as worker:
        handle = await client.start_workflow(
            HoldingWorkflow.run, id=f"sbs-update-limits-{uuid.uuid4()}", task_queue=worker.task_queue
        )
        # Rejected by the validator: counted neither in flight nor in total.
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(HoldingWorkflow.hold, id="bad-1")
        # Two accepted, still running: both in flight, so a third is refused.
        held = [
            await handle.start_update(HoldingWorkflow.hold, id=f"h{i}", wait_for_stage=WorkflowUpdateStage.ACCEPTED)
            for i in range(2)
        ]
        seen.append(await _send(client, handle.id, "h2"))
        await handle.signal(HoldingWorkflow.release)
        seen.append([await h.result() for h in held])
        # Two completed: two more fit the total of 4, then no more.
        seen.append(await handle.execute_update(HoldingWorkflow.hold, id="h3"))
        seen.append(await handle.execute_update(HoldingWorkflow.hold, id="h4"))
        seen.append(await _send(client, handle.id, "h5"))
        # A completed update asked again answers its result.
        seen.append(await handle.execute_update(HoldingWorkflow.hold, id="h3"))
        await handle.signal(HoldingWorkflow.close)
        await handle.result()
    return seen


async def test_configured_update_limits_alike() -> None:
    got = await _on_server_pair(_ServerWithLimits, _configured_scenario)
    total_message = (
        "The limit on the total number of distinct updates in this workflow has been reached (4). "
        "Make sure any duplicate updates share an Update ID so the server can deduplicate them, "
        "and consider rejecting updates that you aren't going to process. You can also "
        "Continue-as-New to avoid this; we recommend you check Continue-as-New Suggested in your Workflow."
    )
    assert got["real"] == [
        {
            "status": "RESOURCE_EXHAUSTED",
            "message": "limit on number of concurrent in-flight updates has been reached (2)",
            "details": ["ResourceExhaustedFailure"],
            "cause": 2,
            "scope": 1,
        },
        ["held", "held"],
        "held",
        "held",
        {"status": "FAILED_PRECONDITION", "message": total_message, "details": []},
        "held",
    ], "the real server changed: update this test"
    assert got["orrery"] == got["real"]


@workflow.defn
class CarryingWorkflow:
    """Runs until closed; `carry` updates stay accepted until released and
    answer the length of what they carried."""

    def __init__(self) -> None:
        self.released = False
        self.closed = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self.closed)

    @workflow.update
    async def carry(self, blob: str) -> int:
        await workflow.wait_condition(lambda: self.released)
        return len(blob)

    @workflow.signal
    def release(self) -> None:
        self.released = True

    @workflow.signal
    def close(self) -> None:
        self.closed = True


class _ServerWithPayloadLimit(_ServerWithLimits):
    settings = ("history.maxInFlightUpdatePayloads=10000",)


BLOB = "x" * 4000


async def _payload_scenario(client: Client) -> list[Any]:
    seen: list[Any] = []
    task_queue = f"sbs-update-payloads-{uuid.uuid4()}"
    handle = await client.start_workflow(
        CarryingWorkflow.run, id=f"sbs-update-payloads-{uuid.uuid4()}", task_queue=task_queue
    )

    def send(update_id: str, blob: str, timeout: float = 5):
        return _send(client, handle.id, update_id, timeout, name="carry", blob=blob)

    # No worker yet: the updates stay admitted, their requests held.
    waiting = [asyncio.create_task(send(f"u{i}", BLOB, timeout=60)) for i in range(2)]
    try:
        for i in range(2):
            await _wait_admitted(client, handle.id, f"u{i}")
        seen.append(await send("u2", BLOB))
        waiting.append(asyncio.create_task(send("small", "", timeout=60)))
        await _wait_admitted(client, handle.id, "small")
        async with run_worker(client, workflows=[CarryingWorkflow], task_queue=task_queue):
            # Accepted, the three hold no request: two more of ~4 KB fit.
            seen.append([(await t)["stage"] for t in waiting])
            more = [
                await handle.start_update(
                    CarryingWorkflow.carry, BLOB, id=f"u{i}", wait_for_stage=WorkflowUpdateStage.ACCEPTED
                )
                for i in (3, 4)
            ]
            await handle.signal(CarryingWorkflow.release)
            seen.append([await h.result() for h in more])
            await handle.signal(CarryingWorkflow.close)
            await handle.result()
    finally:
        for task in waiting:
            task.cancel()
    return seen


async def test_in_flight_update_payloads_alike() -> None:
    got = await _on_server_pair(_ServerWithPayloadLimit, _payload_scenario)
    assert got["real"] == [
        {
            "status": "RESOURCE_EXHAUSTED",
            "message": "limit on total payload size of in-flight updates has been reached (10000 bytes)",
            "details": ["ResourceExhaustedFailure"],
            "cause": 2,  # RESOURCE_EXHAUSTED_CAUSE_CONCURRENT_LIMIT
            "scope": 1,  # RESOURCE_EXHAUSTED_SCOPE_NAMESPACE
        },
        [ACCEPTED, ACCEPTED, ACCEPTED],
        [4000, 4000],
    ], "the real server changed: update this test"
    assert got["orrery"] == got["real"]
