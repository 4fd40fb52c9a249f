"""A query buffered for one run is answered only by a workflow task of that
run: a worker completing another run's task with `query_results` naming the
query's id is ignored, as on the real server (which finds the id in no
registry of the run it completes)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from temporalio.api.common.v1 import Payload, Payloads, WorkflowExecution, WorkflowType
from temporalio.api.enums.v1 import QueryResultType
from temporalio.api.query.v1 import WorkflowQuery, WorkflowQueryResult
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    PollWorkflowTaskQueueRequest,
    QueryWorkflowRequest,
    RespondWorkflowTaskCompletedRequest,
    SignalWorkflowExecutionRequest,
    StartWorkflowExecutionRequest,
)
from temporalio.client import Client

from helpers import new_id


def _answer(text: str) -> WorkflowQueryResult:
    return WorkflowQueryResult(
        result_type=QueryResultType.QUERY_RESULT_TYPE_ANSWERED,
        answer=Payloads(payloads=[Payload(metadata={"encoding": b"json/plain"}, data=f'"{text}"'.encode())]),
    )


async def _start(client: Client, task_queue: str) -> str:
    workflow_id = new_id()
    await client.workflow_service.start_workflow_execution(
        StartWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_id=workflow_id,
            workflow_type=WorkflowType(name="RawWorkflow"),
            task_queue=TaskQueue(name=task_queue),
            request_id=str(uuid.uuid4()),
            identity="e2e",
        )
    )
    return workflow_id


async def _poll(client: Client, task_queue: str):
    task = await client.workflow_service.poll_workflow_task_queue(
        PollWorkflowTaskQueueRequest(
            namespace=client.namespace, task_queue=TaskQueue(name=task_queue), identity="e2e"
        ),
        timeout=timedelta(seconds=30),
    )
    assert task.task_token, f"no workflow task on {task_queue}"
    return task


async def _complete(client: Client, task, **query_results: WorkflowQueryResult) -> None:
    await client.workflow_service.respond_workflow_task_completed(
        RespondWorkflowTaskCompletedRequest(
            namespace=client.namespace,
            task_token=task.task_token,
            identity="e2e",
            query_results=query_results,
        )
    )


async def test_another_runs_task_cannot_answer_a_buffered_query(client: Client) -> None:
    queue_a, queue_b = new_id("tq-a"), new_id("tq-b")
    workflow_a = await _start(client, queue_a)
    await _start(client, queue_b)
    # A's first task done; a signal schedules A's next task, so a query
    # asked now is buffered until that task.
    await _complete(client, await _poll(client, queue_a))
    await client.workflow_service.signal_workflow_execution(
        SignalWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_a),
            signal_name="go",
            identity="e2e",
            request_id=str(uuid.uuid4()),
        )
    )
    query = asyncio.create_task(
        client.workflow_service.query_workflow(
            QueryWorkflowRequest(
                namespace=client.namespace,
                execution=WorkflowExecution(workflow_id=workflow_a),
                query=WorkflowQuery(query_type="state"),
            ),
            retry=False,
            timeout=timedelta(seconds=30),
        )
    )
    await asyncio.sleep(1)
    task_a = await _poll(client, queue_a)
    [query_id] = list(task_a.queries)
    # B's worker answers A's query with B's task: ignored.
    await _complete(client, await _poll(client, queue_b), **{query_id: _answer("forged")})
    await asyncio.sleep(0.5)
    assert not query.done(), "a task of another run answered the query"
    # A's own task answers it.
    await _complete(client, task_a, **{query_id: _answer("genuine")})
    response = await asyncio.wait_for(query, 30)
    assert response.query_result.payloads[0].data == b'"genuine"'
