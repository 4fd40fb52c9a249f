"""The calls that name no namespace (GetSystemInfo, ListNamespaces, …, and
DescribeNamespace by id) are held to a per-caller rate,
`frontend.namespacelessRPSPerCaller`: one tenant flooding them is answered
RESOURCE_EXHAUSTED (`service rate limit exceeded`, RPS_LIMIT, scope SYSTEM, as
the real server's host limit) while another tenant's calls go on. A control
plane and a TLS cell as separate processes; Orrery only.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from temporalio.api.enums.v1 import ResourceExhaustedCause, ResourceExhaustedScope
from temporalio.api.errordetails.v1 import ResourceExhaustedFailure
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    GetSystemInfoRequest,
    ListNamespacesRequest,
)
from temporalio.service import RPCError, RPCStatusCode

from conftest import e2e_target
from tenancy_stack import DOMAIN, Stack

pytestmark = pytest.mark.skipif(e2e_target() != "orrery", reason="tenancy is Orrery's")

RPS = 5  # per caller; the burst is twice that


@pytest.fixture(scope="module")
def stack():
    with Stack().running() as s:
        s.start_control_plane()
        a, b = s.signup("alpha"), s.signup("beta")
        slugs = [r.account["slug"] for r in (a, b)]  # type: ignore[attr-defined]
        s.start_cell(
            [f"*.{slug}.{DOMAIN}" for slug in slugs] + ["localhost"],
            ["--dynamic-config", f"frontend.namespacelessRPSPerCaller={RPS}"],
        )
        s.tenants = [s.provision(a), s.provision(b)]  # type: ignore[attr-defined]
        time.sleep(2.5)  # the cell polls the snapshot every second
        yield s


async def outcome(call) -> RPCError | None:
    try:
        await call
        return None
    except RPCError as err:
        return err


def assert_service_limit(err: RPCError) -> None:
    assert err.status == RPCStatusCode.RESOURCE_EXHAUSTED, err
    assert err.message == "service rate limit exceeded"
    failure = ResourceExhaustedFailure()
    assert err.grpc_status.details and err.grpc_status.details[0].Unpack(failure)
    assert failure.cause == ResourceExhaustedCause.RESOURCE_EXHAUSTED_CAUSE_RPS_LIMIT
    assert failure.scope == ResourceExhaustedScope.RESOURCE_EXHAUSTED_SCOPE_SYSTEM


async def test_a_caller_flooding_namespaceless_calls_is_exhausted_and_another_is_not(stack):
    alpha, beta = stack.tenants
    flooder = await stack.connect(alpha.namespace, api_key=alpha.api_key)
    other = await stack.connect(beta.namespace, api_key=beta.api_key)
    described = await other.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=beta.namespace), retry=False)
    beta_id = described.namespace_info.id
    await asyncio.sleep(2.5)  # both budgets full again after connecting
    service = flooder.workflow_service
    calls = [service.get_system_info(GetSystemInfoRequest(), retry=False) for _ in range(6 * RPS)]
    calls += [service.list_namespaces(ListNamespacesRequest(), retry=False) for _ in range(2 * RPS)]
    results = await asyncio.gather(*(outcome(c) for c in calls))
    refused = [r for r in results if r is not None]
    answered = len(results) - len(refused)
    # The burst (2 × RPS) and what refilled while the calls ran, no more.
    assert 2 * RPS <= answered <= 3 * RPS, f"{answered} of {len(results)} answered"
    for err in refused:
        assert_service_limit(err)
    # DescribeNamespace by id spends the same budget, before the lookup.
    by_id = await outcome(service.describe_namespace(DescribeNamespaceRequest(id=beta_id),
                                                     retry=False))
    assert by_id is not None
    assert_service_limit(by_id)
    # The other tenant is untouched by the flood, right after it.
    for _ in range(RPS):
        await other.workflow_service.get_system_info(GetSystemInfoRequest(), retry=False)
    listed = await other.workflow_service.list_namespaces(ListNamespacesRequest(), retry=False)
    assert [ns.namespace_info.name for ns in listed.namespaces] == [beta.namespace]
    # Namespaced calls do not spend the caller's budget.
    await service.describe_namespace(DescribeNamespaceRequest(namespace=alpha.namespace),
                                     retry=False)
    # And the flooder recovers once its bucket refills.
    await asyncio.sleep(1.0)
    await service.get_system_info(GetSystemInfoRequest(), retry=False)
