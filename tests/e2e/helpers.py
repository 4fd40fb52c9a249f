"""Helpers shared by the end-to-end tests (importable as `helpers`)."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any, AsyncIterator, Callable, Sequence

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import UnsandboxedWorkflowRunner, Worker


def new_id(prefix: str = "wf") -> str:
    return f"{prefix}-{uuid.uuid4()}"


@asynccontextmanager
async def run_worker(
    client: Client,
    *,
    workflows: Sequence[type] = (),
    activities: Sequence[Callable[..., Any]] = (),
    task_queue: str | None = None,
    **kwargs: Any,
) -> AsyncIterator[Worker]:
    """Run a Worker on a unique task queue (or the one given) for the block.

    Yields the Worker; its task queue is `worker.task_queue`. Workflows run
    unsandboxed (faster to start, and module-level state is shared with the
    tests, which some tests use to count attempts); the server cannot tell the
    difference.
    """
    kwargs.setdefault("workflow_runner", UnsandboxedWorkflowRunner())
    kwargs.setdefault("graceful_shutdown_timeout", timedelta(seconds=0))
    async with Worker(
        client,
        task_queue=task_queue or new_id("tq"),
        workflows=list(workflows),
        activities=list(activities),
        **kwargs,
    ) as worker:
        yield worker


def event_type_name(event: HistoryEvent) -> str:
    return EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")


async def history_events(handle: WorkflowHandle) -> list[HistoryEvent]:
    history = await handle.fetch_history()
    return list(history.events)


async def event_types(handle: WorkflowHandle) -> list[str]:
    return [event_type_name(e) for e in await history_events(handle)]


async def poll(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.1) -> Any:
    """Poll an (async or sync) predicate until it returns a truthy value or
    time runs out; gives back the last value either way (for callers that
    report what they saw)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value or loop.time() > deadline:
            return value
        await asyncio.sleep(interval)


async def wait_for(
    predicate: Callable[[], Any], *, timeout: float = 20.0, interval: float = 0.05
) -> Any:
    """Poll an (async or sync) predicate until it returns a truthy value."""
    value = await poll(predicate, timeout, interval)
    if not value:
        raise AssertionError(f"condition not met within {timeout}s")
    return value


async def ensure_search_attributes(client: Client, wanted: dict[str, int]) -> None:
    """Registers custom search attributes (name -> IndexedValueType) in the
    client's namespace and waits until they are listed: neither the real dev
    server nor Orrery pre-registers any, and both refuse values of unknown
    attributes."""
    from temporalio.api.operatorservice.v1 import (
        AddSearchAttributesRequest,
        ListSearchAttributesRequest,
    )

    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(namespace=client.namespace, search_attributes=wanted)
    )

    async def registered() -> bool:
        resp = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
        return all(resp.custom_attributes.get(k) == v for k, v in wanted.items())

    await wait_for(registered, timeout=10, interval=0.2)
