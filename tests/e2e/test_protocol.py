"""Protocol edges: what the server answers to RPCs it does not serve, to
oversized requests, and to task tokens it did not issue (or issued for
another namespace). Expectations follow the real server where it defines
them; where Orrery is deliberately stricter the test says so."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload, Payloads, WorkflowExecution, WorkflowType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    RegisterNamespaceRequest,
    RespondActivityTaskCompletedRequest,
    RespondWorkflowTaskCompletedRequest,
    SignalWorkflowExecutionRequest,
    StartWorkflowExecutionRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from helpers import new_id, run_worker, wait_for


def _start(workflow_id: str, task_queue: str, payload_bytes: int = 0) -> StartWorkflowExecutionRequest:
    req = StartWorkflowExecutionRequest(
        namespace="default",
        workflow_id=workflow_id,
        workflow_type=WorkflowType(name="Nobody"),
        task_queue=TaskQueue(name=task_queue),
        request_id=str(uuid.uuid4()),
    )
    if payload_bytes:
        req.input.CopyFrom(Payloads(payloads=[Payload(data=b"x" * payload_bytes)]))
    return req


async def test_payload_over_2mib_is_invalid_argument(client: Client) -> None:
    with pytest.raises(RPCError) as err:
        await client.workflow_service.start_workflow_execution(
            _start(new_id(), new_id("tq"), 2 * 1024 * 1024 + 100)
        )
    assert err.value.status == RPCStatusCode.INVALID_ARGUMENT
    # Nothing was started.
    with pytest.raises(RPCError):
        await client.get_workflow_handle(new_id()).describe()


async def test_message_over_4mib_is_resource_exhausted(client: Client) -> None:
    wid = new_id()
    with pytest.raises(RPCError) as err:
        await client.workflow_service.start_workflow_execution(
            _start(wid, new_id("tq"), 5 * 1024 * 1024)
        )
    assert err.value.status == RPCStatusCode.RESOURCE_EXHAUSTED
    with pytest.raises(RPCError) as missing:
        await client.get_workflow_handle(wid).describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND


async def test_forged_task_token_is_invalid_argument(client: Client) -> None:
    with pytest.raises(RPCError) as err:
        await client.workflow_service.respond_activity_task_completed(
            RespondActivityTaskCompletedRequest(namespace="default", task_token=b"\x0a\x03abc" + b"\x00" * 32)
        )
    assert err.value.status == RPCStatusCode.INVALID_ARGUMENT
    with pytest.raises(RPCError) as err:
        await client.workflow_service.respond_workflow_task_completed(
            RespondWorkflowTaskCompletedRequest(namespace="default", task_token=b"")
        )
    assert err.value.status == RPCStatusCode.INVALID_ARGUMENT


async def test_unserved_rpc_is_unimplemented_and_named(client: Client) -> None:
    from temporalio.api.workflowservice.v1 import ListBatchOperationsRequest

    from conftest import e2e_target

    if e2e_target() == "real":
        pytest.skip("the real server serves batch operations")
    with pytest.raises(RPCError) as err:
        await client.workflow_service.list_batch_operations(
            ListBatchOperationsRequest(namespace="default")
        )
    assert err.value.status == RPCStatusCode.UNIMPLEMENTED
    assert "ListBatchOperations" in err.value.message


async def test_signal_to_unknown_workflow_is_not_found_and_bad_run_id_invalid(client: Client) -> None:
    with pytest.raises(RPCError) as err:
        await client.workflow_service.signal_workflow_execution(
            SignalWorkflowExecutionRequest(
                namespace="default",
                workflow_execution=WorkflowExecution(workflow_id=new_id()),
                signal_name="s",
            )
        )
    assert err.value.status == RPCStatusCode.NOT_FOUND
    with pytest.raises(RPCError) as err:
        await client.workflow_service.signal_workflow_execution(
            SignalWorkflowExecutionRequest(
                namespace="default",
                workflow_execution=WorkflowExecution(workflow_id=new_id(), run_id="not-a-uuid"),
                signal_name="s",
            )
        )
    assert err.value.status == RPCStatusCode.INVALID_ARGUMENT


_tokens: list[bytes] = []


@activity.defn(name="capture_token")
async def capture_token() -> str:
    _tokens.append(activity.info().task_token)
    activity.raise_complete_async()


@workflow.defn(name="IsolationWorkflow")
class IsolationWorkflow:
    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_activity(
            capture_token, start_to_close_timeout=timedelta(seconds=30)
        )


async def test_task_token_of_another_namespace_is_refused(client: Client) -> None:
    """A worker of namespace B cannot complete an activity of namespace A,
    even holding A's genuine token."""
    other = f"e2e-iso-{uuid.uuid4().hex[:10]}"
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace=other, workflow_execution_retention_period=Duration(seconds=86400))
    )
    _tokens.clear()
    tokens = _tokens
    async with run_worker(client, workflows=[IsolationWorkflow], activities=[capture_token]) as w:
        handle = await client.start_workflow(IsolationWorkflow.run, id=new_id(), task_queue=w.task_queue)
        await wait_for(lambda: tokens)
        with pytest.raises(RPCError) as err:
            await client.workflow_service.respond_activity_task_completed(
                RespondActivityTaskCompletedRequest(namespace=other, task_token=tokens[0])
            )
        assert err.value.status in (RPCStatusCode.INVALID_ARGUMENT, RPCStatusCode.NOT_FOUND)
        # The rightful namespace can still complete it.
        await client.get_async_activity_handle(task_token=tokens[0]).complete("done")
        assert await handle.result() == "done"
