"""Per-namespace rate limits: over `frontend.namespaceRPS` (burst twice the
rate, as Temporal) a namespace's calls answer RESOURCE_EXHAUSTED with
Temporal's `ResourceExhaustedFailure{cause: RPS_LIMIT, scope: NAMESPACE}`,
which SDKs read; another namespace on the same cell is not slowed down.
"""

from __future__ import annotations

import asyncio

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import ResourceExhaustedCause, ResourceExhaustedScope
from temporalio.api.errordetails.v1 import ResourceExhaustedFailure
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from conftest import Server, e2e_target

pytestmark = pytest.mark.skipif(e2e_target() != "orrery", reason="Orrery's own dev server flags")

RPS = 20


@pytest.fixture
async def limited():
    server = Server("orrery", dev_args=["--dynamic-config", f"frontend.namespaceRPS={RPS}"])
    await server.start()
    try:
        yield server
    finally:
        server.cleanup()


async def describe(client: Client, namespace: str) -> RPCError | None:
    try:
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace), retry=False)
        return None
    except RPCError as err:
        return err


async def test_a_flooded_namespace_is_exhausted_and_another_is_not(limited):
    client = await Client.connect(limited.address, namespace="default")
    await client.workflow_service.register_namespace(RegisterNamespaceRequest(
        namespace="quiet", workflow_execution_retention_period=Duration(seconds=86400)))
    await asyncio.sleep(1.5)  # let the buckets refill after setup
    results = await asyncio.gather(*(describe(client, "default") for _ in range(6 * RPS)))
    refused = [r for r in results if r is not None]
    assert len(refused) >= 2 * RPS, f"only {len(refused)} of {6 * RPS} calls refused"
    answered = len(results) - len(refused)
    assert answered <= 3 * RPS  # at most the burst plus what refilled
    # The whole burst, so each call was charged once (the header's gate in
    # front of the services and the handler's check do not both count it).
    assert answered >= 2 * RPS, f"only {answered} answered: charged twice?"
    err = refused[0]
    assert err.status == RPCStatusCode.RESOURCE_EXHAUSTED
    assert err.grpc_status.details, "no error details"
    failure = ResourceExhaustedFailure()
    assert err.grpc_status.details[0].Unpack(failure)
    assert failure.cause == ResourceExhaustedCause.RESOURCE_EXHAUSTED_CAUSE_RPS_LIMIT
    assert failure.scope == ResourceExhaustedScope.RESOURCE_EXHAUSTED_SCOPE_NAMESPACE
    # The other namespace, right after: untouched by the flood.
    assert await describe(client, "quiet") is None
    # And the flooded one recovers once its bucket refills.
    await asyncio.sleep(1.0)
    assert await describe(client, "default") is None


async def test_a_namespace_held_to_its_own_rate_in_temporals_constrained_form():
    # Namespace "default" gets 5 calls/s of its own; every other namespace is
    # unlimited (0).
    server = Server("orrery", dev_args=[
        "--dynamic-config",
        'frontend.namespaceRPS=[{"value": 5, "constraints": {"namespace": "default"}},'
        ' {"value": 0}]'])
    await server.start()
    try:
        client = await Client.connect(server.address, namespace="default")
        await client.workflow_service.register_namespace(RegisterNamespaceRequest(
            namespace="free", workflow_execution_retention_period=Duration(seconds=86400)))
        await asyncio.sleep(2.5)  # let the bucket refill after setup
        results = await asyncio.gather(*(describe(client, "default") for _ in range(40)))
        answered = sum(r is None for r in results)
        assert 10 <= answered <= 20, f"{answered} of 40 answered: not its own burst of 10"
        assert all(r.status == RPCStatusCode.RESOURCE_EXHAUSTED for r in results if r)
        free = await asyncio.gather(*(describe(client, "free") for _ in range(200)))
        assert [r for r in free if r] == [], "the unlimited namespace was refused"
    finally:
        server.cleanup()
