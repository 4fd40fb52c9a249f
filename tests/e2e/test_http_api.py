"""Temporal's HTTP API on a tenant cell: the same credentials as its gRPC
port, with the same answers. API keys go in `Authorization: Bearer`, client
certificates in the TLS handshake (the namespace named by SNI, or by the
route); the namespace a route names is the one checked. Orrery only (the
real dev server has no tenants); its HTTP behaviour against the real
server's is in tests/side_by_side/test_http_api.py.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import ssl
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest

from conftest import e2e_target
from tenancy_stack import DOMAIN, Pair, Stack, Tenant, _wait_port

pytestmark = pytest.mark.skipif(e2e_target() != "orrery", reason="tenancy is Orrery's")

NOBODY_TQ = "http-api-nobody-polls-this"


@pytest.fixture(scope="module")
def stack():
    with Stack().running() as s:
        s.start_control_plane()
        a, b = s.signup("alpha"), s.signup("beta")
        slugs = [r.account["slug"] for r in (a, b)]  # type: ignore[attr-defined]
        s.start_cell([f"*.{slug}.{DOMAIN}" for slug in slugs] + ["localhost"])
        _wait_port(s.http_api_port, s.procs[-1], s.tmp / "cell.log")
        s.tenants = [s.provision(a), s.provision(b)]  # type: ignore[attr-defined]
        time.sleep(2.5)  # the cell polls the snapshot every second
        yield s


@dataclass
class Resp:
    status: int
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw) if self.raw else None


def call(stack: Stack, method: str, path: str, body: Any = None, *, bearer: str | None = None,
         cert: Pair | None = None, sni: str = "localhost") -> Resp:
    """One HTTPS request to the cell's HTTP API, with the server name `sni`
    and, if given, the client certificate `cert`."""
    context = ssl.create_default_context(cadata=stack.server_ca.cert_pem.decode())
    if cert is not None:
        name = uuid.uuid4().hex
        (stack.tmp / f"{name}.pem").write_bytes(cert.cert_pem)
        (stack.tmp / f"{name}.key").write_bytes(cert.key_pem)
        context.load_cert_chain(stack.tmp / f"{name}.pem", stack.tmp / f"{name}.key")
    raw = socket.create_connection(("127.0.0.1", stack.http_api_port), timeout=30)
    conn = http.client.HTTPConnection("127.0.0.1", stack.http_api_port, timeout=30)
    conn.sock = context.wrap_socket(raw, server_hostname=sni)
    headers = {}
    data = None if body is None else json.dumps(body).encode()
    if data is not None:
        headers["Content-Type"] = "application/json"
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    try:
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        return Resp(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


async def acall(stack: Stack, *args: Any, **kw: Any) -> Resp:
    return await asyncio.to_thread(call, stack, *args, **kw)


def wf_path(namespace: str, workflow_id: str = "") -> str:
    base = f"/api/v1/namespaces/{namespace}/workflows"
    return f"{base}/{workflow_id}" if workflow_id else base


def start_body() -> dict:
    return {"workflowType": {"name": "Parked"}, "taskQueue": {"name": NOBODY_TQ}}


def assert_refused(resp: Resp, status: int, code: int, *secrets: str) -> None:
    """The gateway's error shape, the status and gRPC code wanted, and no
    trace of the other tenant's things in the answer."""
    assert (resp.status, resp.json and resp.json.get("code")) == (status, code), (resp.status, resp.raw)
    assert resp.headers.get("content-type") == "*", resp.headers
    for secret in secrets:
        assert secret.encode() not in resp.raw, (secret, resp.raw)


async def start(stack: Stack, tenant: Tenant, **credential: Any) -> str:
    wid = f"http-{uuid.uuid4()}"
    got = await acall(stack, "POST", wf_path(tenant.namespace, wid), start_body(), **credential)
    assert got.status == 200, got.raw
    assert got.json["started"] is True
    return wid


async def test_api_key_starts_describes_and_lists_in_its_namespace(stack):
    alpha: Tenant = stack.tenants[0]
    wid = await start(stack, alpha, bearer=alpha.api_key)
    described = await acall(stack, "GET", wf_path(alpha.namespace, wid), bearer=alpha.api_key)
    assert described.status == 200, described.raw
    info = described.json["workflowExecutionInfo"]
    assert info["execution"]["workflowId"] == wid
    assert info["status"] == "WORKFLOW_EXECUTION_STATUS_RUNNING"
    query = quote(f"WorkflowId='{wid}'")
    deadline = time.monotonic() + 10
    while True:
        listed = await acall(stack, "GET", f"{wf_path(alpha.namespace)}?query={query}", bearer=alpha.api_key)
        assert listed.status == 200, listed.raw
        if listed.json.get("executions"):
            break
        assert time.monotonic() < deadline, "the started workflow never showed in the list"
        await asyncio.sleep(0.2)
    assert [e["execution"]["workflowId"] for e in listed.json["executions"]] == [wid]
    counted = await acall(stack, "GET", f"/api/v1/namespaces/{alpha.namespace}/workflow-count?query={query}",
                          bearer=alpha.api_key)
    assert (counted.status, counted.json) == (200, {"count": "1"})
    # The namespace itself, by its /api/v1 and its /cluster route.
    for path in (f"/api/v1/namespaces/{alpha.namespace}", f"/cluster/namespaces/{alpha.namespace}"):
        ns = await acall(stack, "GET", path, bearer=alpha.api_key)
        assert ns.status == 200, (path, ns.raw)
        assert ns.json["namespaceInfo"]["name"] == alpha.namespace


async def test_api_key_of_one_namespace_is_denied_another(stack):
    alpha, beta = stack.tenants
    b_wid = await start(stack, beta, bearer=beta.api_key)
    a = {"bearer": alpha.api_key}
    refused = [
        await acall(stack, "GET", wf_path(beta.namespace, b_wid), **a),
        await acall(stack, "GET", f"{wf_path(beta.namespace, b_wid)}/history", **a),
        await acall(stack, "GET", wf_path(beta.namespace), **a),
        await acall(stack, "GET", f"/api/v1/namespaces/{beta.namespace}/workflow-count", **a),
        await acall(stack, "GET", f"/api/v1/namespaces/{beta.namespace}", **a),
        await acall(stack, "POST", wf_path(beta.namespace, f"http-{uuid.uuid4()}"), start_body(), **a),
        await acall(stack, "POST", f"{wf_path(beta.namespace, b_wid)}/signal/s", {}, **a),
        await acall(stack, "POST", f"{wf_path(beta.namespace, b_wid)}/terminate", {}, **a),
    ]
    for resp in refused:
        assert_refused(resp, 403, 7, b_wid)
    # A's own list of namespaces shows none of B's.
    listed = await acall(stack, "GET", "/api/v1/namespaces", **a)
    assert listed.status == 200, listed.raw
    names = {n["namespaceInfo"]["name"] for n in listed.json.get("namespaces", [])}
    assert alpha.namespace in names and beta.namespace not in names
    # B's workflow is untouched: still running, and nothing of A's reached it.
    mine = await acall(stack, "GET", wf_path(beta.namespace, b_wid), bearer=beta.api_key)
    assert mine.json["workflowExecutionInfo"]["status"] == "WORKFLOW_EXECUTION_STATUS_RUNNING"
    assert mine.json["workflowExecutionInfo"]["historyLength"] == "2"


async def test_no_credential_or_a_bad_one_is_unauthenticated(stack):
    alpha: Tenant = stack.tenants[0]
    for bearer in (None, "not-a-jwt"):
        for method, path, body in (
            ("GET", f"/api/v1/namespaces/{alpha.namespace}", None),
            ("GET", wf_path(alpha.namespace), None),
            ("POST", wf_path(alpha.namespace, f"http-{uuid.uuid4()}"), start_body()),
        ):
            resp = await acall(stack, method, path, body, bearer=bearer)
            assert_refused(resp, 401, 16)
            assert "www-authenticate" not in resp.headers  # as the real server's gateway


async def test_read_only_key_reads_but_cannot_terminate(stack):
    alpha: Tenant = stack.tenants[0]
    rest = alpha.rest
    sa = rest.call("POST", "/api/v1/service-accounts", {"name": f"reader-{uuid.uuid4().hex[:6]}",
                                                         "role": "read"})
    rest.call("PUT", f"/api/v1/namespaces/{alpha.namespace}/permissions/service-account:{sa['id']}",
              {"permission": "read"})
    key = rest.call("POST", "/api/v1/api-keys", {"name": "reader", "owner": f"service-account:{sa['id']}",
                                                  "expiry_days": 1})["token"]
    wid = await start(stack, alpha, bearer=alpha.api_key)
    deadline = time.monotonic() + 10
    while (described := await acall(stack, "GET", wf_path(alpha.namespace, wid), bearer=key)).status != 200:
        assert time.monotonic() < deadline, described.raw  # until the cell has the new key
        await asyncio.sleep(0.2)
    terminated = await acall(stack, "POST", f"{wf_path(alpha.namespace, wid)}/terminate", {}, bearer=key)
    assert_refused(terminated, 403, 7)
    started = await acall(stack, "POST", wf_path(alpha.namespace, f"http-{uuid.uuid4()}"), start_body(),
                          bearer=key)
    assert_refused(started, 403, 7)
    after = await acall(stack, "GET", wf_path(alpha.namespace, wid), bearer=key)
    assert after.json["workflowExecutionInfo"]["status"] == "WORKFLOW_EXECUTION_STATUS_RUNNING"


async def test_a_revoked_key_is_unauthenticated(stack):
    alpha: Tenant = stack.tenants[0]
    created = alpha.rest.call("POST", "/api/v1/api-keys", {"name": "revoked", "expiry_days": 1})
    key_id, token = created["api_key"]["id"], created["token"]
    path = f"/api/v1/namespaces/{alpha.namespace}"

    async def becomes(status: int, within: float) -> Resp:
        deadline = time.monotonic() + within
        while (resp := await acall(stack, "GET", path, bearer=token)).status != status:
            assert time.monotonic() < deadline, (status, resp.status, resp.raw)
            await asyncio.sleep(0.2)
        return resp

    await becomes(200, 5)
    alpha.rest.call("DELETE", f"/api/v1/api-keys/{key_id}")
    assert_refused(await becomes(401, 5), 401, 16)


async def test_client_certificate_over_https(stack):
    alpha, beta = stack.tenants
    b_wid = await start(stack, beta, bearer=beta.api_key)
    for sni in (alpha.host, "localhost"):  # the namespace by SNI, or by the route
        wid = await start(stack, alpha, cert=alpha.client, sni=sni)
        described = await acall(stack, "GET", wf_path(alpha.namespace, wid), cert=alpha.client, sni=sni)
        assert described.status == 200, (sni, described.raw)
        # A's certificate on B's routes: refused, nothing of B's shown.
        for method, path, body in (
            ("GET", wf_path(beta.namespace, b_wid), None),
            ("GET", wf_path(beta.namespace), None),
            ("POST", wf_path(beta.namespace, f"http-{uuid.uuid4()}"), start_body()),
        ):
            resp = await acall(stack, method, path, body, cert=alpha.client, sni=sni)
            assert resp.status in (401, 403), (sni, path, resp.status, resp.raw)
            assert_refused(resp, resp.status, {401: 16, 403: 7}[resp.status], b_wid)
    # No certificate and no key on the namespace's own server name: refused.
    bare = await acall(stack, "GET", f"/api/v1/namespaces/{alpha.namespace}", sni=alpha.host)
    assert_refused(bare, 401, 16)


def test_plain_http_is_not_served(stack):
    """The HTTP API listens with the tenant endpoint's TLS only."""
    conn = http.client.HTTPConnection("127.0.0.1", stack.http_api_port, timeout=10)
    try:
        conn.request("GET", "/api/v1/system-info")
        status = conn.getresponse().status
    except (http.client.HTTPException, OSError):
        return
    finally:
        conn.close()
    pytest.fail(f"plain HTTP answered {status}")


async def test_no_cors_for_an_origin_not_allowed(stack):
    """The cell allows only the console's origin (--http-api-allowed-origin):
    from any other, like the real server (no CORS at all), a preflight is a
    wrong method, 501 code 12, and nothing allows the foreign origin."""
    alpha: Tenant = stack.tenants[0]

    def preflight() -> Resp:
        context = ssl.create_default_context(cadata=stack.server_ca.cert_pem.decode())
        conn = http.client.HTTPSConnection("127.0.0.1", stack.http_api_port, timeout=30,
                                           context=context)
        try:
            conn.request("OPTIONS", wf_path(alpha.namespace, "x"), headers={
                "Origin": "http://elsewhere.example", "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization"})
            resp = conn.getresponse()
            return Resp(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        finally:
            conn.close()

    got = await asyncio.to_thread(preflight)
    assert (got.status, got.json) == (501, {"code": 12, "message": "Method Not Allowed"}), got
    assert not any(k.startswith("access-control-") for k in got.headers), got.headers


async def test_a_console_token_acts_in_its_one_namespace(stack):
    """A console token (the signed-in user's, minted for one namespace) is
    taken for that namespace only: its user is the account's owner, admin
    of every namespace, yet the token is refused on the account's other
    namespace, and it is not an API key to the control plane either."""
    alpha: Tenant = stack.tenants[0]
    rest = alpha.rest
    other = rest.call("POST", "/api/v1/namespaces", {"name": "other", "retention_days": 1})["id"]
    minted = rest.call("POST", f"/api/v1/namespaces/{alpha.namespace}/console-token", {})
    assert minted["namespace"] == alpha.namespace
    assert minted["permission"] == "admin"
    token = minted["token"]
    deadline = time.monotonic() + 10
    while True:  # the cell learns the new namespace on its next poll
        mine = await acall(stack, "GET", wf_path(alpha.namespace), bearer=token)
        theirs = await acall(stack, "GET", wf_path(other), bearer=token)
        if theirs.status != 404 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.3)
    assert mine.status == 200, mine.raw
    assert_refused(theirs, 403, 7)
    wid = await start(stack, alpha, bearer=token)
    assert_refused(await acall(stack, "POST", wf_path(other, wid), start_body(), bearer=token), 403, 7)
    # The namespace list shows the one namespace the token is for.
    listed = await acall(stack, "GET", "/api/v1/namespaces", bearer=token)
    names = [n["namespaceInfo"]["name"] for n in listed.json.get("namespaces", [])]
    assert names == [alpha.namespace], names
