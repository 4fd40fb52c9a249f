"""RPCs and commands not covered elsewhere: GetClusterInfo, operator
DeleteNamespace, reverse history paging, Count/ListWorkflowExecutions paging,
DescribeTaskQueue pollers, UpsertWorkflowSearchAttributes, activity
cancellation and heartbeats reported by id, workflow run/execution timeouts
and workflow retry policies."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from datetime import timedelta

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio import activity, workflow
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import RetryState as ApiRetryState
from temporalio.api.enums.v1 import IndexedValueType, TaskQueueType
from temporalio.api.operatorservice.v1 import (
    DeleteNamespaceRequest,
)
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    CountWorkflowExecutionsRequest,
    DescribeNamespaceRequest,
    DescribeTaskQueueRequest,
    GetClusterInfoRequest,
    GetWorkflowExecutionHistoryReverseRequest,
    ListNamespacesRequest,
    ListWorkflowExecutionsRequest,
    RegisterNamespaceRequest,
)
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    TimeoutError,
)
from temporalio.service import RPCError, RPCStatusCode
from temporalio.workflow import ActivityCancellationType

from helpers import (
    ensure_search_attributes,
    event_type_name,
    event_types,
    history_events,
    new_id,
    run_worker,
    wait_for,
)

ONE_DAY = Duration(seconds=86400)

# Shared between activities/workflows (run in this process) and tests, keyed
# by workflow id.
activity_started: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
workflow_attempts: dict[str, list[int]] = defaultdict(list)

# Custom attributes (registered by the test where the server requires it).
KEYWORD_ATTR = SearchAttributeKey.for_keyword("CustomKeywordField")
INT_ATTR = SearchAttributeKey.for_int("CustomIntField")


# --------------------------------------------------------------------------- #
# Activities
# --------------------------------------------------------------------------- #
@activity.defn(name="rpcs_greet")
async def rpcs_greet(name: str) -> str:
    return f"Hello, {name}!"


@activity.defn(name="rpcs_complete_async")
async def rpcs_complete_async() -> str:
    activity_started[activity.info().workflow_id or ""].set()
    activity.raise_complete_async()


ALL_ACTIVITIES = [rpcs_greet, rpcs_complete_async]


# --------------------------------------------------------------------------- #
# Workflows
# --------------------------------------------------------------------------- #
@workflow.defn(name="RpcsOneActivity")
class OneActivityWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            rpcs_greet, name, start_to_close_timeout=timedelta(seconds=10)
        )


@workflow.defn(name="RpcsSleep")
class SleepWorkflow:
    @workflow.run
    async def run(self, seconds: float) -> str:
        await workflow.sleep(seconds)
        return "slept"


@workflow.defn(name="RpcsUpsertSearchAttributes")
class UpsertSearchAttributesWorkflow:
    @workflow.run
    async def run(self, keyword: str) -> str:
        workflow.upsert_search_attributes(
            [KEYWORD_ATTR.value_set(keyword), INT_ATTR.value_set(42)]
        )
        # A timer so the upsert lands in its own workflow task, before the end.
        await workflow.sleep(0.1)
        return "upserted"


@workflow.defn(name="RpcsAsyncActivity")
class AsyncActivityWorkflow:
    """Runs `rpcs_complete_async` as activity "async-act"; on the `cancel`
    signal requests its cancellation and waits for the cancel to complete."""

    def __init__(self) -> None:
        self.cancel_now = False

    @workflow.signal
    def cancel(self) -> None:
        self.cancel_now = True

    @workflow.run
    async def run(self) -> str:
        handle = workflow.start_activity(
            rpcs_complete_async,
            activity_id="async-act",
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=1),
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        await workflow.wait_condition(lambda: self.cancel_now or handle.done())
        if handle.done():
            return await handle
        handle.cancel()
        try:
            await handle
        except ActivityError as e:
            if isinstance(e.cause, CancelledError):
                return f"cancelled with {list(e.cause.details)}"
            raise
        return "activity was not cancelled"


@workflow.defn(name="RpcsRetryingWorkflow")
class RetryingWorkflow:
    """Fails its first two attempts (workflow failure, not task failure)."""

    @workflow.run
    async def run(self) -> int:
        info = workflow.info()
        if not workflow.unsafe.is_replaying():
            workflow_attempts[info.workflow_id].append(info.attempt)
        if info.attempt < 3:
            raise ApplicationError(f"attempt {info.attempt} fails")
        return info.attempt


# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #
async def _register_namespace(client: Client, prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace=name, workflow_execution_retention_period=ONE_DAY)
    )
    return name


async def _not_found(coro) -> bool:
    try:
        await coro
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            return True
        raise
    return False


# --------------------------------------------------------------------------- #
# Tests
# --------------------------------------------------------------------------- #
async def test_get_cluster_info(client: Client) -> None:
    info = await client.workflow_service.get_cluster_info(GetClusterInfoRequest())
    assert info.server_version
    assert info.history_shard_count > 0
    assert len(info.supported_clients) > 0


async def test_operator_delete_namespace(client: Client) -> None:
    name = await _register_namespace(client, "e2e-del")
    svc = client.workflow_service
    desc = await svc.describe_namespace(DescribeNamespaceRequest(namespace=name))
    assert desc.namespace_info.name == name

    resp = await client.operator_service.delete_namespace(DeleteNamespaceRequest(namespace=name))
    assert resp.deleted_namespace

    # The namespace is gone under its name (the real server renames it to
    # "<name>-deleted-<suffix>" and deletes it asynchronously).
    await wait_for(
        lambda: _not_found(svc.describe_namespace(DescribeNamespaceRequest(namespace=name))),
        timeout=10,
    )
    listed = await svc.list_namespaces(ListNamespacesRequest(page_size=1000))
    assert name not in [ns.namespace_info.name for ns in listed.namespaces]

    # Deleting a namespace that does not exist is NOT_FOUND.
    with pytest.raises(RPCError) as err:
        await client.operator_service.delete_namespace(
            DeleteNamespaceRequest(namespace=f"no-such-ns-{uuid.uuid4().hex[:8]}")
        )
    assert err.value.status == RPCStatusCode.NOT_FOUND


async def test_get_workflow_execution_history_reverse(client: Client) -> None:
    async with run_worker(client, workflows=[OneActivityWorkflow], activities=ALL_ACTIVITIES) as w:
        handle = await client.start_workflow(
            OneActivityWorkflow.run, "reverse", id=new_id(), task_queue=w.task_queue
        )
        assert await handle.result() == "Hello, reverse!"
    forward = await history_events(handle)
    assert len(forward) > 6

    execution = WorkflowExecution(workflow_id=handle.id, run_id=handle.result_run_id or "")

    # Unpaged: newest first, starting with the completion.
    whole = await client.workflow_service.get_workflow_execution_history_reverse(
        GetWorkflowExecutionHistoryReverseRequest(namespace="default", execution=execution)
    )
    assert event_type_name(whole.history.events[0]) == "WORKFLOW_EXECUTION_COMPLETED"

    # Paged by 3: every page newest first, all pages together = forward reversed.
    events = []
    pages = 0
    token = b""
    while True:
        page = await client.workflow_service.get_workflow_execution_history_reverse(
            GetWorkflowExecutionHistoryReverseRequest(
                namespace="default",
                execution=execution,
                maximum_page_size=3,
                next_page_token=token,
            )
        )
        pages += 1
        page_ids = [e.event_id for e in page.history.events]
        # The real server pages by stored event batches, so a page may hold
        # more than maximum_page_size events; it is never empty.
        assert page_ids, f"empty page {pages}"
        assert page_ids == sorted(page_ids, reverse=True), page_ids
        events.extend(page.history.events)
        token = page.next_page_token
        if not token:
            break
        assert pages < 50, "reverse history does not terminate"
    assert pages >= 2
    assert event_type_name(events[0]) == "WORKFLOW_EXECUTION_COMPLETED"
    ids = [e.event_id for e in events]
    assert ids == sorted(ids, reverse=True)
    assert ids == list(range(len(forward), 0, -1))
    assert events == list(reversed(forward)), "reverse pages differ from forward history"


async def test_count_and_list_workflow_executions(server, client: Client) -> None:
    ns = await _register_namespace(client, "e2e-count")
    ns_client = await Client.connect(server.address, namespace=ns)
    tq = new_id("tq")
    n = 3
    wids = [new_id("count") for _ in range(n)]

    async def start(wid: str) -> bool:
        # A just-registered namespace may take a moment to be usable.
        try:
            await ns_client.start_workflow("NobodyRunsThis", id=wid, task_queue=tq)
        except RPCError as e:
            if e.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.UNAVAILABLE):
                return False
            raise
        return True

    for wid in wids:
        await wait_for(lambda: start(wid), timeout=15, interval=0.2)

    svc = ns_client.workflow_service

    async def count() -> int:
        resp = await svc.count_workflow_executions(
            CountWorkflowExecutionsRequest(namespace=ns, query="")
        )
        return resp.count

    # Visibility is eventually consistent on the real server.
    await wait_for(lambda: _eq(count(), n), timeout=15, interval=0.2)
    assert await count() == n

    async def list_all() -> list[str]:
        seen: list[str] = []
        token = b""
        for _ in range(20):
            page = await svc.list_workflow_executions(
                ListWorkflowExecutionsRequest(
                    namespace=ns, page_size=2, next_page_token=token, query=""
                )
            )
            assert len(page.executions) <= 2
            seen.extend(e.execution.workflow_id for e in page.executions)
            token = page.next_page_token
            if not token:
                return seen
        raise AssertionError("ListWorkflowExecutions paging does not terminate")

    listed = await wait_for(
        lambda: _sorted_if_len(list_all(), n), timeout=15, interval=0.2
    )
    assert listed == sorted(wids)  # all of them, no duplicates


async def _eq(coro, expected) -> bool:
    return (await coro) == expected


async def _sorted_if_len(coro, n: int):
    items = await coro
    return sorted(items) if len(items) >= n else None


async def test_describe_task_queue_lists_worker_poller(client: Client) -> None:
    async with run_worker(client, workflows=[SleepWorkflow], activities=ALL_ACTIVITIES) as w:

        async def poller_identities() -> list[str]:
            resp = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace="default",
                    task_queue=TaskQueue(name=w.task_queue),
                    task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
                )
            )
            return [p.identity for p in resp.pollers]

        identities = await wait_for(
            lambda: _truthy_if(poller_identities(), lambda ids: client.identity in ids),
            timeout=15,
            interval=0.2,
        )
        assert client.identity in identities
        assert client.identity  # the SDK's default "pid@host"


async def test_describe_task_queue_reports_backlog(client: Client) -> None:
    queue = new_id("backlog")
    handles = [await client.start_workflow("Backlogged", id=new_id(), task_queue=queue) for _ in range(3)]

    async def stats():
        resp = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace="default",
                task_queue=TaskQueue(name=queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
                report_stats=True,
            )
        )
        return resp.stats if resp.stats.approximate_backlog_count == 3 else None

    found = await wait_for(stats, timeout=15, interval=0.2)
    assert found.approximate_backlog_count == 3
    assert found.approximate_backlog_age.ToMilliseconds() >= 0
    for handle in handles:
        await handle.terminate(reason="done")


async def _truthy_if(coro, cond):
    value = await coro
    return value if cond(value) else None


async def _ensure_search_attributes(client: Client) -> None:
    await ensure_search_attributes(
        client,
        {
            KEYWORD_ATTR.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
            INT_ATTR.name: IndexedValueType.INDEXED_VALUE_TYPE_INT,
        },
    )


async def test_upsert_search_attributes(client: Client) -> None:
    await _ensure_search_attributes(client)
    async with run_worker(
        client, workflows=[UpsertSearchAttributesWorkflow], activities=ALL_ACTIVITIES
    ) as w:
        handle = await client.start_workflow(
            UpsertSearchAttributesWorkflow.run, "blue", id=new_id(), task_queue=w.task_queue
        )
        assert await handle.result() == "upserted"
    events = await history_events(handle)
    upserts = [
        e for e in events if e.HasField("upsert_workflow_search_attributes_event_attributes")
    ]
    assert len(upserts) == 1
    fields = upserts[0].upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
    assert set(fields) >= {"CustomKeywordField", "CustomIntField"}
    types = [event_type_name(e) for e in events]
    assert types.index("UPSERT_WORKFLOW_SEARCH_ATTRIBUTES") < types.index("TIMER_STARTED")

    desc = await handle.describe()
    assert desc.typed_search_attributes.get(KEYWORD_ATTR) == "blue"
    assert desc.typed_search_attributes.get(INT_ATTR) == 42


async def test_report_cancellation_by_id(client: Client) -> None:
    wid = new_id()
    async with run_worker(client, workflows=[AsyncActivityWorkflow], activities=ALL_ACTIVITIES) as w:
        handle = await client.start_workflow(
            AsyncActivityWorkflow.run, id=wid, task_queue=w.task_queue
        )
        await asyncio.wait_for(activity_started[wid].wait(), 20)
        await handle.signal(AsyncActivityWorkflow.cancel)
        await wait_for(
            lambda: _contains(event_types(handle), "ACTIVITY_TASK_CANCEL_REQUESTED"),
            timeout=15,
            interval=0.1,
        )
        act = client.get_async_activity_handle(
            workflow_id=wid, run_id=handle.result_run_id, activity_id="async-act"
        )
        await act.report_cancellation("gave up")
        assert await handle.result() == "cancelled with ['gave up']"
    types = await event_types(handle)
    assert "ACTIVITY_TASK_CANCELED" in types
    assert types.index("ACTIVITY_TASK_CANCEL_REQUESTED") < types.index("ACTIVITY_TASK_CANCELED")
    assert types[-1] == "WORKFLOW_EXECUTION_COMPLETED"
    events = await history_events(handle)
    canceled = next(e for e in events if e.HasField("activity_task_canceled_event_attributes"))
    attrs = canceled.activity_task_canceled_event_attributes
    assert attrs.scheduled_event_id == 5
    assert await client.data_converter.decode(attrs.details.payloads) == ["gave up"]

    # The activity is closed: reporting again is NOT_FOUND.
    with pytest.raises(RPCError) as err:
        await act.report_cancellation("again")
    assert err.value.status == RPCStatusCode.NOT_FOUND


async def _contains(coro, item) -> bool:
    return item in await coro


async def test_heartbeat_by_id_shows_in_describe(client: Client) -> None:
    wid = new_id()
    async with run_worker(client, workflows=[AsyncActivityWorkflow], activities=ALL_ACTIVITIES) as w:
        handle = await client.start_workflow(
            AsyncActivityWorkflow.run, id=wid, task_queue=w.task_queue
        )
        await asyncio.wait_for(activity_started[wid].wait(), 20)
        act = client.get_async_activity_handle(
            workflow_id=wid, run_id=handle.result_run_id, activity_id="async-act"
        )
        await act.heartbeat("progress", 7)

        desc = await handle.describe()
        pending = list(desc.raw_description.pending_activities)
        assert len(pending) == 1
        assert pending[0].activity_id == "async-act"
        assert pending[0].HasField("last_heartbeat_time")
        details = await client.data_converter.decode(pending[0].heartbeat_details.payloads)
        assert details == ["progress", 7]

        await act.heartbeat("progress", 8)
        desc = await handle.describe()
        details = await client.data_converter.decode(
            desc.raw_description.pending_activities[0].heartbeat_details.payloads
        )
        assert details == ["progress", 8]

        await act.complete("done")
        assert await handle.result() == "done"
    assert not (await handle.describe()).raw_description.pending_activities


@pytest.mark.parametrize("which", ["run", "execution"])
async def test_workflow_timeout(client: Client, which: str) -> None:
    timeout = {f"{which}_timeout": timedelta(seconds=1)}
    async with run_worker(client, workflows=[SleepWorkflow], activities=ALL_ACTIVITIES) as w:
        handle = await client.start_workflow(
            SleepWorkflow.run, 30.0, id=new_id(), task_queue=w.task_queue, **timeout
        )
        with pytest.raises(WorkflowFailureError) as err:
            await asyncio.wait_for(handle.result(), 15)
    assert isinstance(err.value.cause, TimeoutError)
    events = await history_events(handle)
    assert event_type_name(events[-1]) == "WORKFLOW_EXECUTION_TIMED_OUT"
    timed_out = events[-1].workflow_execution_timed_out_event_attributes
    # A run timeout without a retry policy: "no policy"; the execution
    # timeout (the whole chain's deadline) reports itself.
    expected = {
        "run": ApiRetryState.RETRY_STATE_RETRY_POLICY_NOT_SET,
        "execution": ApiRetryState.RETRY_STATE_TIMEOUT,
    }[which]
    assert timed_out.retry_state == expected, ApiRetryState.Name(timed_out.retry_state)
    assert "TIMER_STARTED" in [event_type_name(e) for e in events]
    assert "TIMER_FIRED" not in [event_type_name(e) for e in events]
    desc = await handle.describe()
    assert desc.status == WorkflowExecutionStatus.TIMED_OUT


async def test_workflow_retry_policy(client: Client) -> None:
    wid = new_id()
    async with run_worker(client, workflows=[RetryingWorkflow], activities=ALL_ACTIVITIES) as w:
        handle = await client.start_workflow(
            RetryingWorkflow.run,
            id=wid,
            task_queue=w.task_queue,
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=100),
                backoff_coefficient=1.0,
                maximum_attempts=5,
            ),
        )
        assert await handle.result() == 3
    assert workflow_attempts[wid] == [1, 2, 3]

    # The first run failed and points at its retry.
    first_run_id = handle.first_execution_run_id
    assert first_run_id
    first_run = client.get_workflow_handle(wid, run_id=first_run_id)
    first_events = await history_events(first_run)
    assert event_type_name(first_events[-1]) == "WORKFLOW_EXECUTION_FAILED"
    failed = first_events[-1].workflow_execution_failed_event_attributes
    assert failed.new_execution_run_id
    assert failed.retry_state == ApiRetryState.RETRY_STATE_IN_PROGRESS
    assert failed.failure.message == "attempt 1 fails"

    # The last run is attempt 3, completed, and belongs to the same chain.
    last_run = client.get_workflow_handle(wid)
    last_events = await history_events(last_run)
    started = last_events[0].workflow_execution_started_event_attributes
    assert started.attempt == 3
    assert started.first_execution_run_id == first_run_id
    assert event_type_name(last_events[-1]) == "WORKFLOW_EXECUTION_COMPLETED"
    desc = await last_run.describe()
    assert desc.status == WorkflowExecutionStatus.COMPLETED
    assert desc.run_id not in (first_run_id, failed.new_execution_run_id)
