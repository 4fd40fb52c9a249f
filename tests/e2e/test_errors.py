"""Start-time conflicts, id reuse/conflict policies, request-id idempotency,
validation errors, and namespace administration RPCs."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio import workflow
from temporalio.api.common.v1 import WorkflowType
from temporalio.api.enums.v1 import NamespaceState
from temporalio.api.namespace.v1 import NamespaceConfig, UpdateNamespaceInfo
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    ListNamespacesRequest,
    RegisterNamespaceRequest,
    StartWorkflowExecutionRequest,
    UpdateNamespaceRequest,
)
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from helpers import event_types, new_id, run_worker


@workflow.defn
class EchoWorkflow:
    @workflow.run
    async def run(self, value: str) -> str:
        return value


@workflow.defn
class ParkedWorkflow:
    """Runs until cancelled or terminated."""

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)


NOBODY_TQ = "tq-e2e-nobody-polls-this"


# --------------------------------------------------------------------------- #
# Id reuse / conflict
# --------------------------------------------------------------------------- #
async def test_start_with_running_id_is_already_started(client: Client) -> None:
    wid = new_id()
    first = await client.start_workflow("ParkedWorkflow", id=wid, task_queue=NOBODY_TQ)
    try:
        with pytest.raises(WorkflowAlreadyStartedError) as err:
            await client.start_workflow("ParkedWorkflow", id=wid, task_queue=NOBODY_TQ)
        assert err.value.workflow_id == wid
        assert err.value.run_id == first.result_run_id
    finally:
        await first.terminate(reason="cleanup")


async def test_reject_duplicate_on_completed(client: Client) -> None:
    wid = new_id()
    async with run_worker(client, workflows=[EchoWorkflow]) as w:
        assert await client.execute_workflow(EchoWorkflow.run, "a", id=wid, task_queue=w.task_queue) == "a"
        with pytest.raises(WorkflowAlreadyStartedError):
            await client.start_workflow(
                EchoWorkflow.run,
                "b",
                id=wid,
                task_queue=w.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )


async def test_allow_duplicate_failed_only_rejects_completed(client: Client) -> None:
    wid = new_id()
    async with run_worker(client, workflows=[EchoWorkflow]) as w:
        await client.execute_workflow(EchoWorkflow.run, "a", id=wid, task_queue=w.task_queue)
        with pytest.raises(WorkflowAlreadyStartedError):
            await client.start_workflow(
                EchoWorkflow.run,
                "b",
                id=wid,
                task_queue=w.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            )


async def test_allow_duplicate_on_completed_starts_new_run(client: Client) -> None:
    wid = new_id()
    async with run_worker(client, workflows=[EchoWorkflow]) as w:
        first = await client.start_workflow(EchoWorkflow.run, "a", id=wid, task_queue=w.task_queue)
        assert await first.result() == "a"
        second = await client.start_workflow(
            EchoWorkflow.run,
            "b",
            id=wid,
            task_queue=w.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )
        assert second.result_run_id != first.result_run_id
        assert await second.result() == "b"
    # The handle without run id now points at the newest run.
    desc = await client.get_workflow_handle(wid).describe()
    assert desc.run_id == second.result_run_id


async def test_conflict_use_existing_returns_running_run(client: Client) -> None:
    wid = new_id()
    first = await client.start_workflow("ParkedWorkflow", id=wid, task_queue=NOBODY_TQ)
    try:
        second = await client.start_workflow(
            "ParkedWorkflow",
            id=wid,
            task_queue=NOBODY_TQ,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        assert second.result_run_id == first.result_run_id
        assert (await first.describe()).status == WorkflowExecutionStatus.RUNNING
    finally:
        await first.terminate(reason="cleanup")


async def test_conflict_terminate_existing(client: Client) -> None:
    wid = new_id()
    first = await client.start_workflow("ParkedWorkflow", id=wid, task_queue=NOBODY_TQ)
    second = await client.start_workflow(
        "ParkedWorkflow",
        id=wid,
        task_queue=NOBODY_TQ,
        id_conflict_policy=WorkflowIDConflictPolicy.TERMINATE_EXISTING,
    )
    try:
        assert second.result_run_id != first.result_run_id
        old = client.get_workflow_handle(wid, run_id=first.result_run_id)
        assert (await old.describe()).status == WorkflowExecutionStatus.TERMINATED
        assert (await event_types(old))[-1] == "WORKFLOW_EXECUTION_TERMINATED"
        assert (await second.describe()).status == WorkflowExecutionStatus.RUNNING
    finally:
        await second.terminate(reason="cleanup")


# --------------------------------------------------------------------------- #
# Not found / invalid argument
# --------------------------------------------------------------------------- #
async def test_unknown_namespace_is_not_found(server) -> None:
    other = await Client.connect(server.address, namespace="does-not-exist-xyz")
    with pytest.raises(RPCError) as err:
        await other.start_workflow("EchoWorkflow", "x", id=new_id(), task_queue=NOBODY_TQ)
    assert err.value.status == RPCStatusCode.NOT_FOUND


async def test_describe_unknown_workflow_is_not_found(client: Client) -> None:
    with pytest.raises(RPCError) as err:
        await client.get_workflow_handle(new_id("never-started")).describe()
    assert err.value.status == RPCStatusCode.NOT_FOUND


async def test_workflow_id_too_long_is_invalid(client: Client) -> None:
    with pytest.raises(RPCError) as err:
        await client.start_workflow("EchoWorkflow", "x", id="x" * 1001, task_queue=NOBODY_TQ)
    assert err.value.status == RPCStatusCode.INVALID_ARGUMENT


async def test_workflow_id_of_1000_chars_is_accepted(client: Client) -> None:
    wid = (new_id() + "x" * 1000)[:1000]
    handle = await client.start_workflow("EchoWorkflow", "x", id=wid, task_queue=NOBODY_TQ)
    await handle.terminate(reason="cleanup")


def _raw_start(workflow_id: str, request_id: str | None = None) -> StartWorkflowExecutionRequest:
    return StartWorkflowExecutionRequest(
        namespace="default",
        workflow_id=workflow_id,
        workflow_type=WorkflowType(name="EchoWorkflow"),
        task_queue=TaskQueue(name=NOBODY_TQ),
        request_id=request_id or str(uuid.uuid4()),
        identity="orrery-e2e",
    )


async def test_empty_workflow_id_is_invalid(client: Client) -> None:
    with pytest.raises(RPCError) as err:
        await client.workflow_service.start_workflow_execution(_raw_start(""))
    assert err.value.status == RPCStatusCode.INVALID_ARGUMENT


async def test_missing_task_queue_is_invalid(client: Client) -> None:
    req = _raw_start(new_id())
    req.ClearField("task_queue")
    with pytest.raises(RPCError) as err:
        await client.workflow_service.start_workflow_execution(req)
    assert err.value.status == RPCStatusCode.INVALID_ARGUMENT


async def test_same_request_id_is_idempotent(client: Client) -> None:
    wid = new_id()
    request_id = str(uuid.uuid4())
    first = await client.workflow_service.start_workflow_execution(_raw_start(wid, request_id))
    second = await client.workflow_service.start_workflow_execution(_raw_start(wid, request_id))
    try:
        assert first.run_id
        assert second.run_id == first.run_id
        # A different request id for the running id is a conflict.
        with pytest.raises(RPCError) as err:
            await client.workflow_service.start_workflow_execution(_raw_start(wid))
        assert err.value.status == RPCStatusCode.ALREADY_EXISTS
    finally:
        await client.get_workflow_handle(wid).terminate(reason="cleanup")


# --------------------------------------------------------------------------- #
# Namespaces
# --------------------------------------------------------------------------- #
async def test_namespace_register_describe_list_update(client: Client) -> None:
    svc = client.workflow_service
    name = f"e2e-ns-{uuid.uuid4().hex[:12]}"
    one_day = Duration(seconds=86400)
    await svc.register_namespace(
        RegisterNamespaceRequest(
            namespace=name,
            description="made by the e2e suite",
            owner_email="e2e@example.com",
            workflow_execution_retention_period=one_day,
        )
    )

    desc = await svc.describe_namespace(DescribeNamespaceRequest(namespace=name))
    assert desc.namespace_info.name == name
    assert desc.namespace_info.description == "made by the e2e suite"
    assert desc.namespace_info.owner_email == "e2e@example.com"
    assert desc.namespace_info.state == NamespaceState.NAMESPACE_STATE_REGISTERED
    assert desc.namespace_info.id  # a server-assigned id
    assert desc.config.workflow_execution_retention_ttl.ToTimedelta() == timedelta(days=1)

    # Duplicate registration.
    with pytest.raises(RPCError) as err:
        await svc.register_namespace(
            RegisterNamespaceRequest(namespace=name, workflow_execution_retention_period=one_day)
        )
    assert err.value.status == RPCStatusCode.ALREADY_EXISTS

    # List (paginated) contains it and `default`.
    names: list[str] = []
    token = b""
    while True:
        page = await svc.list_namespaces(
            ListNamespacesRequest(page_size=100, next_page_token=token)
        )
        names.extend(ns.namespace_info.name for ns in page.namespaces)
        token = page.next_page_token
        if not token:
            break
    assert name in names
    assert "default" in names

    # Update description and retention.
    await svc.update_namespace(
        UpdateNamespaceRequest(
            namespace=name,
            update_info=UpdateNamespaceInfo(description="updated"),
            config=NamespaceConfig(workflow_execution_retention_ttl=Duration(seconds=2 * 86400)),
        )
    )
    desc2 = await svc.describe_namespace(DescribeNamespaceRequest(namespace=name))
    assert desc2.namespace_info.description == "updated"
    assert desc2.namespace_info.owner_email == "e2e@example.com"  # untouched
    assert desc2.namespace_info.id == desc.namespace_info.id
    assert desc2.config.workflow_execution_retention_ttl.ToTimedelta() == timedelta(days=2)


async def test_describe_unknown_namespace_is_not_found(client: Client) -> None:
    with pytest.raises(RPCError) as err:
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=f"no-such-ns-{uuid.uuid4().hex[:8]}")
        )
    assert err.value.status == RPCStatusCode.NOT_FOUND


async def test_update_unknown_namespace_is_not_found(client: Client) -> None:
    with pytest.raises(RPCError) as err:
        await client.workflow_service.update_namespace(
            UpdateNamespaceRequest(
                namespace=f"no-such-ns-{uuid.uuid4().hex[:8]}",
                update_info=UpdateNamespaceInfo(description="x"),
            )
        )
    assert err.value.status == RPCStatusCode.NOT_FOUND
