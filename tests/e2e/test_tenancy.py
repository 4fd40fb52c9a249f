"""Tenants end to end: accounts sign up on the control plane's REST API,
create namespaces (placed into a TLS cell), get API keys and client
certificates, and run workflows with the official Python SDK and the
`temporal` CLI — and no credential of one account reaches another's
namespace. Orrery only (the real dev server has no tenants).
"""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    ListNamespacesRequest,
    ListWorkflowExecutionsRequest,
    RegisterNamespaceRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from conftest import _temporal_cli, e2e_target
from helpers import new_id, run_worker
from tenancy_stack import DOMAIN, Stack, Tenant, issue, make_ca

pytestmark = pytest.mark.skipif(e2e_target() != "orrery", reason="tenancy is Orrery's")

DENIALS = {RPCStatusCode.UNAUTHENTICATED, RPCStatusCode.PERMISSION_DENIED}


@activity.defn
async def greet(name: str) -> str:
    return f"hello {name}"


@workflow.defn
class Greeter:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            greet, name, start_to_close_timeout=timedelta(seconds=30)
        )


@pytest.fixture(scope="module")
def stack():
    with Stack().running() as s:
        s.start_control_plane()
        a, b = s.signup("alpha"), s.signup("beta")
        slugs = [r.account["slug"] for r in (a, b)]  # type: ignore[attr-defined]
        s.start_cell([f"*.{slug}.{DOMAIN}" for slug in slugs] + ["localhost"])
        s.tenants = [s.provision(a), s.provision(b)]  # type: ignore[attr-defined]
        time.sleep(2.5)  # the cell polls the snapshot every second
        yield s


async def run_greeter(client: Client) -> str:
    async with run_worker(client, workflows=[Greeter], activities=[greet]) as worker:
        return await client.execute_workflow(
            Greeter.run, "tenant", id=new_id(), task_queue=worker.task_queue,
            execution_timeout=timedelta(seconds=60),
        )


async def test_api_key_runs_a_workflow_in_its_namespace(stack):
    alpha: Tenant = stack.tenants[0]
    client = await stack.connect(alpha.namespace, api_key=alpha.api_key)
    assert await run_greeter(client) == "hello tenant"


async def test_client_certificate_by_sni_runs_a_workflow(stack):
    alpha: Tenant = stack.tenants[0]
    client = await stack.connect(alpha.namespace, cert=alpha.client)
    assert await run_greeter(client) == "hello tenant"


async def test_client_certificate_by_namespace_header_runs_a_workflow(stack):
    beta: Tenant = stack.tenants[1]
    client = await stack.connect(beta.namespace, cert=beta.client, server_name="localhost")
    assert await run_greeter(client) == "hello tenant"


async def test_no_credential_is_unauthenticated(stack):
    alpha: Tenant = stack.tenants[0]
    assert await stack.describe_status(alpha.namespace) == "UNAUTHENTICATED"
    assert await stack.describe_status(alpha.namespace, api_key="not-a-jwt") == "UNAUTHENTICATED"


async def test_a_certificate_from_another_ca_or_for_another_namespace_is_refused(stack):
    alpha, beta = stack.tenants
    rogue = issue(make_ca("rogue CA"), "worker-1")
    # A chain the handshake cannot verify: the connection itself fails.
    with pytest.raises(Exception):
        client = await stack.connect(alpha.namespace, cert=rogue)
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=alpha.namespace), retry=False)
    # B's valid certificate, presented for A's namespace by header: refused per call.
    client = await stack.connect(alpha.namespace, cert=beta.client, server_name="localhost")
    with pytest.raises(RPCError) as err:
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=alpha.namespace), retry=False)
    assert err.value.status == RPCStatusCode.UNAUTHENTICATED


async def test_list_namespaces_shows_only_the_callers(stack):
    alpha, beta = stack.tenants
    client = await stack.connect(alpha.namespace, api_key=alpha.api_key)
    listed = await client.workflow_service.list_namespaces(ListNamespacesRequest())
    names = {n.namespace_info.name for n in listed.namespaces}
    assert alpha.namespace in names and beta.namespace not in names


async def test_tenants_cannot_create_namespaces(stack):
    alpha: Tenant = stack.tenants[0]
    client = await stack.connect(alpha.namespace, api_key=alpha.api_key)
    with pytest.raises(RPCError) as err:
        await client.workflow_service.register_namespace(
            RegisterNamespaceRequest(namespace=f"sneaky.{alpha.account['slug']}"), retry=False)
    assert err.value.status == RPCStatusCode.PERMISSION_DENIED


async def test_a_disabled_key_stops_within_five_seconds_and_works_again_when_enabled(stack):
    alpha: Tenant = stack.tenants[0]
    created = alpha.rest.call("POST", "/api/v1/api-keys", {"name": "short-lived", "expiry_days": 1})
    key_id, token = created["api_key"]["id"], created["token"]

    async def becomes(wanted: str, within: float) -> float:
        start = time.monotonic()
        while (status := await stack.describe_status(alpha.namespace, api_key=token)) != wanted:
            assert time.monotonic() - start < within, f"still {status} after {within} s"
            await asyncio.sleep(0.2)
        return time.monotonic() - start

    await becomes("ok", 5)  # a new key is in force once the cell polled
    alpha.rest.call("POST", f"/api/v1/api-keys/{key_id}/disable")
    assert await becomes("UNAUTHENTICATED", 5) < 5
    alpha.rest.call("POST", f"/api/v1/api-keys/{key_id}/enable")
    await becomes("ok", 5)
    alpha.rest.call("DELETE", f"/api/v1/api-keys/{key_id}")
    await becomes("UNAUTHENTICATED", 5)


async def test_cross_namespace_task_tokens_and_queries_are_refused(stack):
    alpha, beta = stack.tenants
    a_client = await stack.connect(alpha.namespace, api_key=alpha.api_key)
    b_client = await stack.connect(beta.namespace, api_key=beta.api_key)
    # B aims a list query at A's namespace.
    with pytest.raises(RPCError) as err:
        await b_client.workflow_service.list_workflow_executions(
            ListWorkflowExecutionsRequest(namespace=alpha.namespace, query="WorkflowId = 'x'"),
            retry=False)
    assert err.value.status in DENIALS
    # B replays a task token of A's, naming either namespace.
    handle = await a_client.start_workflow(
        Greeter.run, "x", id=new_id(), task_queue=f"tq-{uuid.uuid4()}")
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import (
        PollWorkflowTaskQueueRequest,
        RespondWorkflowTaskCompletedRequest,
    )
    desc = await handle.describe()
    polled = await a_client.workflow_service.poll_workflow_task_queue(
        PollWorkflowTaskQueueRequest(namespace=alpha.namespace,
                                     task_queue=TaskQueue(name=desc.task_queue), identity="a"))
    assert polled.task_token
    for namespace, allowed in ((alpha.namespace, DENIALS),
                               (beta.namespace, {RPCStatusCode.INVALID_ARGUMENT})):
        with pytest.raises(RPCError) as err:
            await b_client.workflow_service.respond_workflow_task_completed(
                RespondWorkflowTaskCompletedRequest(namespace=namespace, task_token=polled.task_token,
                                                    identity="b"), retry=False)
        assert err.value.status in allowed, (namespace, err.value)
    await handle.terminate()


async def test_cli_with_client_certificate_and_with_api_key(stack, tmp_path):
    """The CLI starts a workflow with a client certificate and reads its result
    with an API key; an SDK worker (API key) runs it."""
    alpha: Tenant = stack.tenants[0]
    (tmp_path / "ca.pem").write_bytes(stack.server_ca.cert_pem)
    (tmp_path / "client.pem").write_bytes(alpha.client.cert_pem)
    (tmp_path / "client.key").write_bytes(alpha.client.key_pem)
    tls_flags = ["--tls-ca-path", str(tmp_path / "ca.pem"), "--tls-server-name", alpha.host]

    def cli(namespace: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [_temporal_cli(), *args, "--address", stack.address, "--namespace", namespace, *tls_flags],
            capture_output=True, text=True, timeout=60)

    wid = new_id("cli")
    client = await stack.connect(alpha.namespace, api_key=alpha.api_key)
    async with run_worker(client, workflows=[Greeter], activities=[greet]) as worker:
        started = await asyncio.to_thread(
            cli, alpha.namespace, "workflow", "start", "--type", "Greeter",
            "--task-queue", worker.task_queue, "--workflow-id", wid, "--input", '"cli"',
            "--tls-cert-path", str(tmp_path / "client.pem"),
            "--tls-key-path", str(tmp_path / "client.key"))
        assert started.returncode == 0, started.stderr
        result = await asyncio.to_thread(
            cli, alpha.namespace, "workflow", "result", "--workflow-id", wid,
            "--api-key", alpha.api_key)
        assert result.returncode == 0, result.stderr
        assert "hello cli" in result.stdout
    beta: Tenant = stack.tenants[1]
    denied = await asyncio.to_thread(cli, beta.namespace, "workflow", "list",
                                     "--api-key", alpha.api_key)
    assert denied.returncode != 0
    assert "PermissionDenied" in denied.stderr or "unauthorized" in denied.stderr.lower()


async def test_certificate_filters_admit_only_matching_certificates(stack):
    alpha: Tenant = stack.tenants[0]
    rest = alpha.rest
    ns = rest.call("POST", "/api/v1/namespaces", {"name": "filtered", "retention_days": 1})["id"]
    gen = rest.call("POST", f"/api/v1/namespaces/{ns}/mtls/generated-ca", {"validity_days": 30})

    allowed = stack.issue_client_cert(rest, ns, "allowed-worker")
    blocked = stack.issue_client_cert(rest, ns, "intruder")
    rest.call("PUT", f"/api/v1/namespaces/{ns}/mtls", {
        "ca_pem": gen["ca_pem"], "filters": [{"common_name": "allowed-worker"}]})
    deadline = time.monotonic() + 15

    async def admitted() -> bool:
        try:
            return await stack.describe_status(ns, cert=allowed) == "ok"
        except RuntimeError as err:
            # Until the cell has the new CA, the handshake (which offers the
            # CAs it knows for a name with none of its own) refuses the chain:
            # the client sees an unknown CA or its connection closed.
            if any(sign in str(err) for sign in ("UnknownCA", "transport error", "connection closed")):
                return False
            raise

    while not await admitted():
        assert time.monotonic() < deadline, "the filtered namespace never admitted its certificate"
        await asyncio.sleep(0.2)
    assert await stack.describe_status(ns, cert=blocked) == "UNAUTHENTICATED"
    # The admitted certificate reaches nothing else of the account.
    client = await stack.connect(ns, cert=allowed)
    with pytest.raises(RPCError) as err:
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=alpha.namespace), retry=False)
    assert err.value.status in DENIALS


def test_every_rest_route_with_another_accounts_ids_is_not_found(stack):
    """IDOR over the whole OpenAPI document: A's API key on every route that
    names a resource, with B's ids, answers 404 (or 403 where A's role
    already forbids the route) — and B's resources are unchanged after."""
    alpha, beta = stack.tenants
    doc = alpha.rest.call("GET", "/api/v1/openapi.json")
    b_users = beta.rest.call("GET", "/api/v1/users")
    b_user = b_users[0]["id"] if isinstance(b_users, list) else b_users["users"][0]["id"]
    b_sa = beta.rest.call("POST", "/api/v1/service-accounts", {"name": "robot"})
    b_sa_id = b_sa.get("id") or b_sa["service_account"]["id"]
    ids = {
        "namespaces": {"namespace": beta.namespace, "principal": f"user:{b_user}", "name": "CustomKeywordField"},
        "users": {"id": b_user},
        "api-keys": {"id": beta.api_key_id},
        "service-accounts": {"id": b_sa_id},
    }
    from tenancy_stack import ApiError
    a = stack.rest()
    a.bearer = alpha.api_key
    # A valid body for each route that takes one: validation answers before
    # ownership does, so an invalid body would hide an IDOR.
    def body(method: str, path: str) -> dict | None:
        if method == "patch":
            return {"namespaces": {"retention_days": 3}, "users": {"role": "read"},
                    "service-accounts": {"role": "read"}}[path.split("/")[3]]
        if path.endswith("/mtls") and method == "put":
            return {"ca_pem": alpha.ca_pem.decode(), "filters": []}
        if "/permissions/" in path and method == "put":
            return {"permission": "admin"}
        if path.endswith("/generated-ca"):
            return {"validity_days": 1}
        if path.endswith("/client-certificates"):
            return {"common_name": "x", "validity_days": 1}
        if path.endswith("/archival"):
            return {"history": False, "visibility": False}
        if path.endswith("/codec-server") and method == "put":
            return {"endpoint": "https://codec.example.com"}
        if path.endswith("/search-attributes") and method == "post":
            return {"name": "CustomerId", "type": "Keyword"}
        return None
    tried, not_found = 0, 0
    for path, item in doc["paths"].items():
        if "{" not in path or not path.startswith("/api/v1/") or "/admin/" in path:
            continue
        resource = path.split("/")[3]
        concrete = path
        for name, value in ids[resource].items():
            concrete = concrete.replace("{" + name + "}", value)
        assert "{" not in concrete, path
        for method in item:
            tried += 1
            try:
                got = a.call(method.upper(), concrete, body(method, path))
                pytest.fail(f"{method.upper()} {path} with B's ids answered 2xx: {got}")
            except ApiError as err:
                assert err.status in (403, 404), (method, path, err.status, err.body)
                not_found += err.status == 404
    assert tried >= 15
    # A is its account's owner: the answers are "no such thing", not "not allowed".
    assert not_found == tried
    # B's things are intact.
    assert beta.rest.call("GET", f"/api/v1/namespaces/{beta.namespace}")["retention_days"] == 1
    assert beta.rest.call("GET", f"/api/v1/api-keys/{beta.api_key_id}")["enabled"] is True
    beta.rest.call("GET", f"/api/v1/service-accounts/{b_sa_id}")
