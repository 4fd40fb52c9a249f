"""Namespace settings kept at the cell, end to end: a tenant adds a custom
search attribute through the control plane's REST API and the official
Python SDK, connected to the namespace with the tenant's API key, starts a
workflow with it and lists by it; removed, it is gone at the cell. Archival
switched on and off through REST is what the cell's DescribeNamespace says
over gRPC. Orrery only (the real dev server has no control plane).
"""

from __future__ import annotations

import asyncio
import time

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import ArchivalState
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from conftest import e2e_target
from helpers import new_id, run_worker
from tenancy_stack import DOMAIN, ApiError, Stack, Tenant

pytestmark = pytest.mark.skipif(e2e_target() != "orrery", reason="the control plane is Orrery's")

CUSTOMER = SearchAttributeKey.for_keyword("CustomerId")


@workflow.defn
class Tagged:
    @workflow.run
    async def run(self) -> str:
        return "done"


@pytest.fixture(scope="module")
def stack():
    with Stack().running() as s:
        s.start_control_plane()
        tenant, other = s.signup("settings"), s.signup("outsider")
        slug = tenant.account["slug"]  # type: ignore[attr-defined]
        # The cell's default archive, which tenants' archival goes to.
        s.archive = s.tmp / "archive"  # type: ignore[attr-defined]
        s.archive.mkdir()  # type: ignore[attr-defined]
        s.start_cell([f"*.{slug}.{DOMAIN}", "localhost"],
                     extra=["--archive-uri", f"file://{s.archive}"])  # type: ignore[attr-defined]
        s.tenant = s.provision(tenant, "settings")  # type: ignore[attr-defined]
        s.other = other  # type: ignore[attr-defined]
        time.sleep(2.5)  # the cell polls the snapshot every second
        yield s


def status_of(call) -> int:
    with pytest.raises(ApiError) as err:
        call()
    return err.value.status


async def listed(client: Client, query: str, want: str, secs: float = 10) -> list[str]:
    """The ids `query` lists, once `want` is among them (visibility is
    written after the run's state) or the time is up."""
    deadline = time.monotonic() + secs
    while True:
        ids = [wf.id async for wf in client.list_workflows(query)]
        if want in ids or time.monotonic() > deadline:
            return ids
        await asyncio.sleep(0.2)


async def test_search_attribute_added_through_rest_is_used_by_the_sdk(stack):
    tenant: Tenant = stack.tenant
    path = f"/api/v1/namespaces/{tenant.namespace}/search-attributes"
    assert tenant.rest.call("GET", path) == []
    added = tenant.rest.call("POST", path, {"name": "CustomerId", "type": "Keyword"})
    assert added == {"name": "CustomerId", "type": "Keyword"}
    assert tenant.rest.call("GET", path) == [{"name": "CustomerId", "type": "Keyword"}]
    assert status_of(lambda: tenant.rest.call(
        "POST", path, {"name": "CustomerId", "type": "Int"})) == 409
    # The real cell's own refusal (a system attribute's name) is a 422 on name.
    with pytest.raises(ApiError) as err:
        tenant.rest.call("POST", path, {"name": "WorkflowId", "type": "Keyword"})
    assert err.value.status == 422
    assert [e["field"] for e in err.value.body["errors"]] == ["name"]  # type: ignore[index]
    # Another account learns nothing of it.
    outsider = stack.other
    assert status_of(lambda: outsider.call("GET", path)) == 404
    assert status_of(lambda: outsider.call("DELETE", f"{path}/CustomerId")) == 404

    client = await stack.connect(tenant.namespace, api_key=tenant.api_key)
    # The cell holds it, as its OperatorService says to the tenant's key.
    attrs = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=tenant.namespace))
    assert dict(attrs.custom_attributes) == {"CustomerId": 2}  # INDEXED_VALUE_TYPE_KEYWORD

    async with run_worker(client, workflows=[Tagged]) as worker:
        tagged = await client.start_workflow(
            Tagged.run, id=new_id(), task_queue=worker.task_queue,
            search_attributes=TypedSearchAttributes([SearchAttributePair(CUSTOMER, "cust-42")]),
        )
        untagged = await client.start_workflow(Tagged.run, id=new_id(), task_queue=worker.task_queue)
        assert await tagged.result() == "done"
        await untagged.result()
    ids = await listed(client, "CustomerId = 'cust-42'", tagged.id)
    assert ids == [tagged.id]
    described = await tagged.describe()
    assert described.typed_search_attributes.get(CUSTOMER) == "cust-42"

    # Removed through REST: gone at the cell, and the name means nothing there.
    assert tenant.rest.call("DELETE", f"{path}/CustomerId") == {}
    assert tenant.rest.call("GET", path) == []
    attrs = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=tenant.namespace))
    assert dict(attrs.custom_attributes) == {}
    with pytest.raises(RPCError) as refused:
        await client.start_workflow(
            Tagged.run, id=new_id(), task_queue="nobody-polls",
            search_attributes=TypedSearchAttributes([SearchAttributePair(CUSTOMER, "cust-43")]),
        )
    assert refused.value.status == RPCStatusCode.INVALID_ARGUMENT
    assert status_of(lambda: tenant.rest.call("DELETE", f"{path}/CustomerId")) == 404

    actions = [e["action"] for e in tenant.rest.call("GET", "/api/v1/audit-log")["entries"]]
    assert actions.count("namespace.search_attribute.add") == 3  # two refused
    assert actions.count("namespace.search_attribute.remove") == 2  # one refused


async def test_archival_switched_through_rest_is_what_the_cell_describes(stack):
    tenant: Tenant = stack.tenant
    path = f"/api/v1/namespaces/{tenant.namespace}/archival"
    client = await stack.connect(tenant.namespace, api_key=tenant.api_key)

    async def described():
        answer = await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=tenant.namespace))
        return answer.config

    enabled, disabled = ArchivalState.ARCHIVAL_STATE_ENABLED, ArchivalState.ARCHIVAL_STATE_DISABLED
    assert tenant.rest.call("GET", path) == {"history": False, "visibility": False}
    config = await described()
    assert config.history_archival_state != enabled
    assert config.visibility_archival_state != enabled

    on = {"history": True, "visibility": True}
    assert tenant.rest.call("PUT", path, on) == on
    assert tenant.rest.call("GET", path) == on
    config = await described()
    assert (config.history_archival_state, config.visibility_archival_state) == (enabled, enabled)
    # The cell's default archive, which the control plane never named.
    archive = f"file://{stack.archive}"
    assert config.history_archival_uri.startswith(archive), config.history_archival_uri
    assert config.visibility_archival_uri.startswith(archive), config.visibility_archival_uri
    retention = config.workflow_execution_retention_ttl.ToSeconds()
    assert retention == 86_400  # provisioned with 1 day, untouched

    half = {"history": True, "visibility": False}
    assert tenant.rest.call("PUT", path, half) == half
    config = await described()
    assert (config.history_archival_state, config.visibility_archival_state) == (enabled, disabled)

    off = {"history": False, "visibility": False}
    assert tenant.rest.call("PUT", path, off) == off
    assert tenant.rest.call("GET", path) == off
    config = await described()
    assert (config.history_archival_state, config.visibility_archival_state) == (disabled, disabled)

    assert status_of(lambda: stack.other.call("PUT", path, on)) == 404
    config = await described()
    assert config.history_archival_state == disabled
    details = [e["detail"] for e in tenant.rest.call("GET", "/api/v1/audit-log")["entries"]
               if e["action"] == "namespace.archival.update"]
    assert details == ["history off, visibility off", "history on, visibility off",
                       "history on, visibility on"]
