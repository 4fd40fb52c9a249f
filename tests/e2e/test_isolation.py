"""The isolation matrix: every RPC of WorkflowService and OperatorService,
called by every kind of credential of account A (or none, or a dead one)
against account B's namespace, is refused — UNAUTHENTICATED or
PERMISSION_DENIED, never data, never an error from behind the door. An RPC
the cell does not serve at all (UNIMPLEMENTED for A in its own namespace)
may stay UNIMPLEMENTED for authenticated callers; an unauthenticated one is
refused before any RPC is looked at. Orrery only.
"""

from __future__ import annotations

import base64
import inspect
import json
import typing
from datetime import timedelta

import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from conftest import e2e_target
from test_tenancy import DENIALS, connect, stack  # noqa: F401  (the module's stack fixture)

pytestmark = pytest.mark.skipif(e2e_target() != "orrery", reason="tenancy is Orrery's")

TIMEOUT = timedelta(seconds=15)


def rpcs(service) -> list[tuple[str, type]]:
    """(method, request type) for every RPC the SDK's service stub offers."""
    out = []
    for name, method in inspect.getmembers(type(service), inspect.iscoroutinefunction):
        if name.startswith("_"):
            continue
        req_type = typing.get_type_hints(method).get("req")
        if req_type is not None:
            out.append((name, req_type))
    return out


def request(req_type: type, namespace: str):
    req = req_type()
    if "namespace" in req_type.DESCRIPTOR.fields_by_name:
        req.namespace = namespace
    return req


def namespaced(req_type: type) -> bool:
    return "namespace" in req_type.DESCRIPTOR.fields_by_name


async def outcome(client: Client, service_name: str, rpc: str, req) -> RPCStatusCode | str:
    service = getattr(client, service_name)
    try:
        await getattr(service, rpc)(req, retry=False, timeout=TIMEOUT)
        return "OK"
    except RPCError as err:
        return err.status


def forged_token() -> str:
    def b64(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return b64({"alg": "none", "typ": "JWT", "kid": "k"}) + "." + b64(
        {"iss": "orrery-control-plane", "aud": "orrery-cell", "sub": "user:x", "jti": "x",
         "account": "x", "iat": 0, "exp": 99999999999}) + "."


async def test_no_credential_of_a_reaches_b(stack):  # noqa: F811
    alpha, beta = stack.tenants
    owner = await connect(stack, alpha.namespace, api_key=alpha.api_key)
    services = {name: rpcs(getattr(owner, name)) for name in ("workflow_service", "operator_service")}
    assert len(services["workflow_service"]) > 100

    # What A's own namespace answers tells which RPCs the cell serves.
    unserved = set()
    for service_name, calls in services.items():
        for rpc, req_type in calls:
            if await outcome(owner, service_name, rpc, request(req_type, alpha.namespace)) == RPCStatusCode.UNIMPLEMENTED:
                unserved.add(rpc)

    dead = alpha.rest.call("POST", "/api/v1/api-keys", {"name": "dead", "expiry_days": 1})
    alpha.rest.call("DELETE", f"/api/v1/api-keys/{dead['api_key']['id']}")
    kinds: dict[str, tuple[Client, bool]] = {
        "A's API key": (owner, True),
        "A's certificate (SNI)": (await connect(stack, alpha.namespace, cert=alpha.client), True),
        "A's certificate (header)": (
            await connect(stack, alpha.namespace, cert=alpha.client, server_name="localhost"), True),
    }
    # Dead and absent credentials, on connections that were let in once.
    for label, key in (("a deleted API key", dead["token"]), ("a forged unsigned key", forged_token()),
                       ("no credential", None)):
        client = await connect(stack, alpha.namespace, api_key=alpha.api_key)
        client.api_key = key
        kinds[label] = (client, False)

    leaks = []
    calls = 0
    for label, (client, authenticated) in kinds.items():
        for service_name, rpc_list in services.items():
            for rpc, req_type in rpc_list:
                if authenticated and not namespaced(req_type):
                    continue  # system info and the like: no namespace to reach
                got = await outcome(client, service_name, rpc, request(req_type, beta.namespace))
                calls += 1
                if got in DENIALS:
                    continue
                if authenticated and got == RPCStatusCode.UNIMPLEMENTED and rpc in unserved:
                    continue
                leaks.append((label, rpc, got))
    assert calls > 500
    assert leaks == [], f"{len(leaks)} non-denials, e.g. {leaks[:10]}"
