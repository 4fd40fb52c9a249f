"""Tenant metrics end to end: a control plane and a TLS cell as separate
processes, two accounts running workflows through the tenant endpoint with
the official SDK; `GET /api/v1/metrics` with a `metrics_read` service
account's API key answers Temporal Cloud's OpenMetrics (read here with the
official Prometheus client's OpenMetrics parser), with the caller's
account's series only, within a minute of the work; that key does nothing
else, on the REST API or the data plane. Orrery only.
"""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from prometheus_client.parser import text_string_to_metric_families as prometheus_text_families
from temporalio import workflow
from temporalio.api.common.v1 import WorkflowType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, StartWorkflowExecutionRequest
from temporalio.service import RPCError, RPCStatusCode

from conftest import e2e_target, free_port
from helpers import new_id, run_worker
from tenancy_stack import DOMAIN, ApiError, Rest, Stack, Tenant

pytestmark = [
    pytest.mark.skipif(e2e_target() != "orrery", reason="tenant metrics are Orrery's"),
    pytest.mark.timeout(300),
]

CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
# Sampling every 15 s: the figures of a minute's work must be there well
# within this.
ARRIVAL_S = 60.0


@workflow.defn
class Greet:
    @workflow.run
    async def run(self, name: str) -> str:
        return f"hello {name}"


@pytest.fixture(scope="module")
def stack():
    with Stack().running() as s:
        s.start_control_plane()
        s.accounts = [s.signup("metrics-a"), s.signup("metrics-b")]  # type: ignore[attr-defined]
        # The cell's operator metrics too (plain HTTP, loopback only).
        s.cell_metrics = f"http://127.0.0.1:{free_port()}/metrics"  # type: ignore[attr-defined]
        s.start_cell([f"*.{r.account['slug']}.{DOMAIN}" for r in s.accounts] + ["localhost"],  # type: ignore[attr-defined]
                     extra=["--metrics-addr", s.cell_metrics.removeprefix("http://").removesuffix("/metrics")])  # type: ignore[attr-defined]
        yield s


def scrape(stack: Stack, token: str) -> tuple[int, str, str]:
    req = urllib.request.Request(stack.api + "/api/v1/metrics")
    req.add_header("authorization", f"Bearer {token}")
    rest = stack.rest()
    try:
        with urllib.request.urlopen(req, timeout=30, context=rest.context) as resp:
            return resp.status, resp.headers.get("content-type", ""), resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("content-type", ""), err.read().decode(errors="replace")


def samples(body: str) -> list:
    """Every sample, through the official parser (which refuses anything
    that is not OpenMetrics, a missing `# EOF` included)."""
    out = []
    for family in text_string_to_metric_families(body):
        assert family.type == "gauge", family
        assert family.name.startswith("temporal_cloud_v1_"), family.name
        out.extend(family.samples)
    return out


def metrics_key(rest: Rest) -> tuple[str, str]:
    sa = rest.call("POST", "/api/v1/service-accounts",
                   {"name": new_id("scraper"), "role": "metrics_read"})
    key = rest.call("POST", "/api/v1/api-keys", {
        "name": "scrape", "owner": f"service-account:{sa['id']}", "expiry_days": 7,
    })
    return sa["id"], key["token"]


async def run_workflows(stack: Stack, tenant: Tenant, n: int) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while True:  # the cell learns of the namespace from its next snapshot
        try:
            client = await stack.connect(tenant.namespace, api_key=tenant.api_key)
            await client.count_workflows()
            break
        except Exception:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.3)
    async with run_worker(client, workflows=[Greet]) as worker:
        for i in range(n):
            result = await client.execute_workflow(
                Greet.run, f"n{i}", id=new_id("metrics"), task_queue=worker.task_queue,
                execution_timeout=timedelta(seconds=30))
            assert result == f"hello n{i}"


def series_of(stack: Stack, token: str, namespace: str, name: str) -> list:
    status, content_type, body = scrape(stack, token)
    assert status == 200, body
    assert content_type == CONTENT_TYPE
    return [s for s in samples(body) if s.name == name and s.labels["temporal_namespace"] == namespace]


async def test_each_account_scrapes_its_own_namespaces_only(stack):
    rest_a, rest_b = stack.accounts
    tenant_a = stack.provision(rest_a, "orders")
    tenant_b = stack.provision(rest_b, "orders")
    _, token_a = metrics_key(rest_a)
    _, token_b = metrics_key(rest_b)
    await asyncio.gather(run_workflows(stack, tenant_a, 5), run_workflows(stack, tenant_b, 3))
    done = time.monotonic()

    # Both namespaces' completions show, each to its own account.
    for tenant, token in ((tenant_a, token_a), (tenant_b, token_b)):
        while not series_of(stack, token, tenant.namespace, "temporal_cloud_v1_workflow_success_count"):
            assert time.monotonic() < done + ARRIVAL_S, scrape(stack, token)[2]
            await asyncio.sleep(1)

    for tenant, token, other in ((tenant_a, token_a, tenant_b), (tenant_b, token_b, tenant_a)):
        status, _, body = scrape(stack, token)
        assert status == 200
        got = samples(body)
        names = {s.name for s in got}
        for s in got:
            assert s.labels["temporal_namespace"] == tenant.namespace, s
            assert s.labels["temporal_account"] == tenant.account["id"], s
        assert other.namespace not in body and other.account["id"] not in body
        assert {"temporal_cloud_v1_service_request_count", "temporal_cloud_v1_total_action_count",
                "temporal_cloud_v1_service_latency_p99"} <= names, names
        starts = [s for s in got if s.name == "temporal_cloud_v1_service_request_count"
                  and s.labels["operation"] == "StartWorkflowExecution"]
        assert starts and starts[0].value > 0, starts
        for s in got:
            if s.name.startswith("temporal_cloud_v1_service_latency_p"):
                assert 0 <= s.value < 10, s


async def test_a_metrics_read_key_does_nothing_else(stack):
    rest = stack.accounts[0]
    tenant = stack.provision(rest, "billing")
    _, token = metrics_key(rest)
    assert scrape(stack, token)[0] == 200
    scraper = stack.rest()
    scraper.bearer = token
    for method, path, body in (
        ("GET", "/api/v1/namespaces", None),
        ("GET", "/api/v1/users", None),
        ("GET", "/api/v1/api-keys", None),
        ("GET", f"/api/v1/namespaces/{tenant.namespace}", None),
        ("POST", "/api/v1/api-keys", {"name": "more", "expiry_days": 7}),
    ):
        with pytest.raises(ApiError) as err:
            scraper.call(method, path, body)
        assert err.value.status == 403, (path, err.value.body)
    # On the data plane the key names a principal with no permission. A
    # key made after it working tells the cell's snapshot has both.
    later = rest.call("POST", "/api/v1/api-keys", {"name": new_id("later"), "expiry_days": 7})
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while await stack.describe_status(tenant.namespace, api_key=later["token"]) != "ok":
        assert loop.time() < deadline, "the cell never learned of the newer key"
        await asyncio.sleep(0.3)
    assert await stack.describe_status(tenant.namespace, api_key=token) == "PERMISSION_DENIED"
    # The owner's own key scrapes too (other roles' 403: the Rust tests).
    assert scrape(stack, tenant.api_key)[0] == 200


async def wait_until_served(stack: Stack, tenant: Tenant) -> None:
    """Until the cell knows the namespace and its key (from its next
    snapshot): one CountWorkflowExecutions call that succeeds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while True:
        try:
            client = await stack.connect(tenant.namespace, api_key=tenant.api_key)
            await client.count_workflows()
            return
        except Exception:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.3)


def operator_samples(stack: Stack) -> list:
    with urllib.request.urlopen(stack.cell_metrics, timeout=10) as resp:  # type: ignore[attr-defined]
        body = resp.read().decode()
    return [s for family in prometheus_text_families(body) for s in family.samples]


async def test_calls_refused_for_another_accounts_namespace_count_for_no_one(stack):
    """Account A's key naming B's namespace is refused; those calls add
    nothing to B's requests or errors, in B's scrape or the cell's operator
    metrics (else anyone could fake another tenant's load and errors)."""
    rest_a, rest_b = stack.accounts
    intruder = stack.provision(rest_a, "intruder")
    target = stack.provision(rest_b, "target")
    _, token_b = metrics_key(rest_b)
    # B's own traffic is CountWorkflowExecutions only; A's refused calls are
    # of other operations, so any of those under B's namespace are A's.
    await wait_until_served(stack, intruder)
    await wait_until_served(stack, target)
    refused_ops = {"DescribeNamespace", "StartWorkflowExecution"}
    # A reading with B's namespace before A's calls, so that the rates B
    # scrapes afterwards are measured across them.
    # B keeps calling meanwhile: the cell counts a namespace's calls under
    # it only once its periodic refresh has seen the namespace.
    own_client = await stack.connect(target.namespace, api_key=target.api_key)
    deadline = time.monotonic() + ARRIVAL_S
    while not series_of(stack, token_b, target.namespace, "temporal_cloud_v1_service_request_count"):
        assert time.monotonic() < deadline, scrape(stack, token_b)[2]
        await own_client.count_workflows()
        await asyncio.sleep(1)

    client = await stack.connect(intruder.namespace, api_key=intruder.api_key)
    service = client.workflow_service
    calls_at = time.monotonic()
    for _ in range(30):
        with pytest.raises(RPCError) as err:
            await service.describe_namespace(
                DescribeNamespaceRequest(namespace=target.namespace), retry=False)
        assert err.value.status == RPCStatusCode.PERMISSION_DENIED, err.value
        with pytest.raises(RPCError) as err:
            await service.start_workflow_execution(StartWorkflowExecutionRequest(
                namespace=target.namespace, workflow_id=new_id("forged"),
                workflow_type=WorkflowType(name="Greet"), task_queue=TaskQueue(name="forged"),
                request_id=new_id("req")), retry=False)
        assert err.value.status == RPCStatusCode.PERMISSION_DENIED, err.value
    refused_at = time.monotonic()

    # The cell's operator metrics: B's namespace has its own calls (so the
    # label is the one looked for) and none of A's.
    got = operator_samples(stack)
    own = [s for s in got if s.labels.get("namespace") == target.namespace
           and s.name == "service_requests_total" and s.labels.get("operation") == "CountWorkflowExecutions"]
    assert own and own[0].value >= 1, own
    # (The control plane's one lookup of the namespace's name is a
    # DescribeNamespace of B's namespace too; A made 30.)
    forged = [s for s in got if s.labels.get("namespace") == target.namespace
              and s.labels.get("operation") in refused_ops
              and (("error" in s.name and s.value > 0)
                   or (s.name == "service_requests_total"
                       and s.value > (1 if s.labels["operation"] == "DescribeNamespace" else 0)))]
    assert not forged, forged

    # B's scrape, from a reading taken after A's calls (15 s sampling) and
    # measured from one before them (within a minute of them): A's 30 calls
    # of each would be at least 0.5/s. The control plane's own lookup of
    # the namespace's name (one DescribeNamespace, when the namespace first
    # appeared) may fall in the interval too, at most 1/15 s.
    while time.monotonic() < refused_at + 20:
        await own_client.count_workflows()
        await asyncio.sleep(1)
    series = [s for s in samples(scrape(stack, token_b)[2])
              if s.labels["temporal_namespace"] == target.namespace]
    assert time.monotonic() < calls_at + 55, "too slow to measure across the calls"
    assert any(s.name == "temporal_cloud_v1_service_request_count" for s in series), series
    forged = [s for s in series
              if s.name in ("temporal_cloud_v1_service_request_count", "temporal_cloud_v1_service_error_count")
              and s.labels.get("operation") in refused_ops
              and s.value > (0.1 if s.labels.get("operation") == "DescribeNamespace"
                             and s.name == "temporal_cloud_v1_service_request_count" else 0)]
    assert not forged, forged
