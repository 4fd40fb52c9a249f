"""Cron workflows: each run waits for its slot, gets the chain's input again
and the previous run's result; termination ends the chain."""

from __future__ import annotations

import asyncio

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import ContinueAsNewInitiator, WorkflowExecutionStatus
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from helpers import new_id, run_worker


@workflow.defn
class CronTally:
    @workflow.run
    async def run(self, label: str) -> str:
        previous = workflow.get_last_completion_result(type_hint=str)
        count = int(previous.split(":")[1]) if previous else 0
        assert workflow.info().cron_schedule == "@every 1s"
        return f"{label}:{count + 1}"


async def _closed_runs(client: Client, workflow_id: str, first_run: str, want: int) -> list:
    """Follows the chain from its first run until `want` runs have closed."""
    runs, run_id = [], first_run
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while len(runs) < want:
        assert loop.time() < deadline, f"only {len(runs)} cron runs closed"
        events = list((await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()).events)
        last = events[-1]
        if not last.HasField("workflow_execution_completed_event_attributes"):
            await asyncio.sleep(0.1)
            continue
        runs.append((events[0], last))
        run_id = last.workflow_execution_completed_event_attributes.new_execution_run_id
    return runs


async def test_cron_chain_carries_input_and_last_result(client: Client) -> None:
    async with run_worker(client, workflows=[CronTally]) as worker:
        wid = new_id("cron")
        handle = await client.start_workflow(
            CronTally.run, "tally", id=wid, task_queue=worker.task_queue, cron_schedule="@every 1s"
        )
        runs = await _closed_runs(client, wid, handle.result_run_id, 3)
        results = [
            client.data_converter.payload_converter.from_payloads(
                last.workflow_execution_completed_event_attributes.result.payloads
            )[0]
            for _, last in runs
        ]
        assert results == ["tally:1", "tally:2", "tally:3"]
        for started, _ in runs:
            attrs = started.workflow_execution_started_event_attributes
            assert attrs.initiator == ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_CRON_SCHEDULE
            assert attrs.first_execution_run_id == handle.result_run_id
            assert attrs.first_workflow_task_backoff.ToMilliseconds() > 0
        await handle.terminate(reason="enough")
        latest = await client.get_workflow_handle(wid).describe()
        assert latest.raw_description.workflow_execution_info.status == (
            WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TERMINATED
        )


async def test_invalid_cron_schedule_is_rejected(client: Client) -> None:
    with pytest.raises(RPCError) as err:
        await client.start_workflow(
            CronTally.run, "x", id=new_id("cron"), task_queue=new_id("nobody"), cron_schedule="61 * * * *"
        )
    assert err.value.status == RPCStatusCode.INVALID_ARGUMENT
    assert "CronSchedule" in err.value.message
