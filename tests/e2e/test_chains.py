"""Requests bound to a chain of runs (first_execution_run_id) do not reach
a later, unrelated run of the same workflow id."""

from __future__ import annotations

import pytest
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from helpers import new_id
from test_limits import TwoStepWorkflow


async def test_terminate_and_cancel_respect_first_execution_run_id(client: Client) -> None:
    wid = new_id()
    nobody = new_id("nobody")
    first = await client.start_workflow(TwoStepWorkflow.run, id=wid, task_queue=nobody)
    await first.terminate(reason="make room")
    second = await client.start_workflow(TwoStepWorkflow.run, id=wid, task_queue=nobody)
    stale = client.get_workflow_handle(wid, first_execution_run_id=first.result_run_id)
    with pytest.raises(RPCError) as err:
        await stale.terminate(reason="aimed at the first chain")
    assert err.value.status == RPCStatusCode.NOT_FOUND
    with pytest.raises(RPCError) as err:
        await stale.cancel()
    assert err.value.status == RPCStatusCode.NOT_FOUND
    described = await second.describe()
    assert described.raw_description.workflow_execution_info.status == (
        WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING
    )
    # The right chain is reached.
    fresh = client.get_workflow_handle(wid, first_execution_run_id=second.result_run_id)
    await fresh.terminate(reason="done")
