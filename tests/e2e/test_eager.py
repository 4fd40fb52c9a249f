"""Eager dispatch: a start that asks for it returns the first workflow task
already started; a workflow task completion returns the activities it
scheduled eagerly, already started. Neither goes through a task queue."""

from __future__ import annotations

import uuid

from google.protobuf.duration_pb2 import Duration
from temporalio import workflow
from temporalio.api.command.v1 import (
    Command,
    CompleteWorkflowExecutionCommandAttributes,
    ScheduleActivityTaskCommandAttributes,
)
from temporalio.api.common.v1 import ActivityType, WorkflowType
from temporalio.api.enums.v1 import CommandType, EventType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    RespondActivityTaskCompletedRequest,
    RespondWorkflowTaskCompletedRequest,
    StartWorkflowExecutionRequest,
)
from temporalio.client import Client

from helpers import event_types, new_id, run_worker


def _schedule(activity_id: str, queue: str) -> Command:
    return Command(
        command_type=CommandType.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK,
        schedule_activity_task_command_attributes=ScheduleActivityTaskCommandAttributes(
            activity_id=activity_id,
            activity_type=ActivityType(name="Eager"),
            task_queue=TaskQueue(name=queue),
            start_to_close_timeout=Duration(seconds=30),
            request_eager_execution=True,
        ),
    )


async def test_eager_workflow_start_and_eager_activities(client: Client) -> None:
    svc = client.workflow_service
    queue = new_id("eager-tq")
    wid = new_id("eager")
    started = await svc.start_workflow_execution(
        StartWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_id=wid,
            workflow_type=WorkflowType(name="EagerWorkflow"),
            task_queue=TaskQueue(name=queue),
            request_id=str(uuid.uuid4()),
            identity="eager-starter",
            request_eager_execution=True,
        )
    )
    task = started.eager_workflow_task
    assert task.task_token, "no eager workflow task returned"
    assert [e.event_type for e in task.history.events] == [
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    ]
    assert task.history.events[2].workflow_task_started_event_attributes.identity == "eager-starter"
    assert task.workflow_execution.run_id == started.run_id

    completed = await svc.respond_workflow_task_completed(
        RespondWorkflowTaskCompletedRequest(
            namespace=client.namespace,
            task_token=task.task_token,
            identity="eager-worker",
            commands=[_schedule("a1", queue), _schedule("a2", queue)],
        )
    )
    assert sorted(a.activity_id for a in completed.activity_tasks) == ["a1", "a2"]
    for activity in completed.activity_tasks:
        assert activity.attempt == 1 and activity.workflow_type.name == "EagerWorkflow"
        await svc.respond_activity_task_completed(
            RespondActivityTaskCompletedRequest(
                namespace=client.namespace, task_token=activity.task_token, identity="eager-worker"
            )
        )
    handle = client.get_workflow_handle(wid)
    types = await event_types(handle)
    # Each activity was started by the completing worker, never polled.
    assert types.count("ACTIVITY_TASK_STARTED") == 2
    assert types.count("ACTIVITY_TASK_COMPLETED") == 2
    history = await handle.fetch_history()
    identities = {
        e.activity_task_started_event_attributes.identity
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    }
    assert identities == {"eager-worker"}
    await handle.terminate(reason="done")


@workflow.defn
class EagerHello:
    @workflow.run
    async def run(self, name: str) -> str:
        return f"Hello, {name}!"


async def test_sdk_eager_start(client: Client) -> None:
    async with run_worker(client, workflows=[EagerHello]) as worker:
        handle = await client.start_workflow(
            EagerHello.run, "eager", id=new_id(), task_queue=worker.task_queue, request_eager_start=True
        )
        assert getattr(handle, "__temporal_eagerly_started") is True
        assert await handle.result() == "Hello, eager!"


async def test_unused_completion_returns_no_activity(client: Client) -> None:
    svc = client.workflow_service
    queue = new_id("eager-tq")
    started = await svc.start_workflow_execution(
        StartWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_id=new_id("eager"),
            workflow_type=WorkflowType(name="EagerWorkflow"),
            task_queue=TaskQueue(name=queue),
            request_id=str(uuid.uuid4()),
            request_eager_execution=True,
        )
    )
    done = await svc.respond_workflow_task_completed(
        RespondWorkflowTaskCompletedRequest(
            namespace=client.namespace,
            task_token=started.eager_workflow_task.task_token,
            commands=[
                Command(
                    command_type=CommandType.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION,
                    complete_workflow_execution_command_attributes=CompleteWorkflowExecutionCommandAttributes(),
                )
            ],
        )
    )
    assert len(done.activity_tasks) == 0
