"""The isolation matrix: every RPC of WorkflowService and OperatorService,
called by every kind of credential of account A (or none, or a dead one)
against account B's namespace, is refused — UNAUTHENTICATED or
PERMISSION_DENIED, never data, never an error from behind the door. An RPC
the cell does not serve at all (UNIMPLEMENTED for A in its own namespace)
may stay UNIMPLEMENTED for authenticated callers; an unauthenticated one is
refused before any RPC is looked at. Orrery only.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import typing
from datetime import timedelta

import pytest
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from conftest import e2e_target
from test_tenancy import DENIALS, stack  # noqa: F401  (the module's stack fixture)

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
    owner = await stack.connect(alpha.namespace, api_key=alpha.api_key)
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
    # The cell learns of the deletion from its next snapshot (about a second).
    probe = await stack.connect(alpha.namespace, api_key=alpha.api_key)
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        probe.api_key = dead["token"]
        try:
            await probe.workflow_service.get_system_info(
                GetSystemInfoRequest(), retry=False, timeout=TIMEOUT)
        except RPCError as err:
            if err.status == RPCStatusCode.UNAUTHENTICATED:
                break
        assert asyncio.get_running_loop().time() < deadline, "the deleted key still works"
        await asyncio.sleep(0.3)
    kinds: dict[str, tuple[Client, bool]] = {
        "A's API key": (owner, True),
        "A's certificate (SNI)": (await stack.connect(alpha.namespace, cert=alpha.client), True),
        "A's certificate (header)": (
            await stack.connect(alpha.namespace, cert=alpha.client, server_name="localhost"), True),
    }
    # Dead and absent credentials, on connections that were let in once.
    # The operator's and the cell's own credentials are no tenant's.
    for label, key in (("a deleted API key", dead["token"]), ("a forged unsigned key", forged_token()),
                       ("the cell's credential", stack.cell_credential),
                       ("the bootstrap admin token", stack.bootstrap_token),
                       ("no credential", None)):
        client = await stack.connect(alpha.namespace, api_key=alpha.api_key)
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
    assert leaks == [], f"{len(leaks)} non-denials, e.g. {leaks[:10]}; labels {sorted({l[0] for l in leaks})}"


async def test_the_admin_listener_refuses_every_rpc_to_every_tenant_credential(stack):  # noqa: F811
    """The admin listener answers the control plane alone (a token it signs
    for this cell): every RPC of both services, with each credential a
    tenant or the network could hold, is UNAUTHENTICATED before any service
    looks at it. Raw gRPC calls (grpcio): the SDK would stop at its own
    GetSystemInfo on connect."""
    import grpc

    alpha, beta = stack.tenants
    owner = await stack.connect(alpha.namespace, api_key=alpha.api_key)
    services = {
        "temporal.api.workflowservice.v1.WorkflowService": rpcs(owner.workflow_service),
        "temporal.api.operatorservice.v1.OperatorService": rpcs(owner.operator_service),
    }
    credentials = {
        "A's API key": alpha.api_key,
        "B's API key": beta.api_key,
        "the cell's credential": stack.cell_credential,
        "the bootstrap admin token": stack.bootstrap_token,
        "a forged unsigned key": forged_token(),
        "no credential": None,
    }
    tls = grpc.ssl_channel_credentials(root_certificates=stack.server_ca.cert_pem)
    channel = grpc.aio.secure_channel(f"127.0.0.1:{stack.admin_port}", tls,
                                      options=[("grpc.ssl_target_name_override", "localhost")])
    leaks, calls = [], 0
    try:
        for label, key in credentials.items():
            metadata = [("authorization", f"Bearer {key}")] if key else []
            metadata.append(("temporal-namespace", beta.namespace))
            for service, rpc_list in services.items():
                for _, req_type in rpc_list:
                    method = req_type.DESCRIPTOR.name.removesuffix("Request")
                    call = channel.unary_unary(
                        f"/{service}/{method}",
                        request_serializer=lambda r: r.SerializeToString(),
                        response_deserializer=lambda b: b,
                    )
                    calls += 1
                    try:
                        await call(request(req_type, beta.namespace), metadata=metadata, timeout=15)
                        leaks.append((label, method, "OK"))
                    except grpc.aio.AioRpcError as err:
                        if err.code() != grpc.StatusCode.UNAUTHENTICATED:
                            leaks.append((label, method, err.code()))
    finally:
        await channel.close()
    assert calls > 600
    assert leaks == [], f"{len(leaks)} answers that were not UNAUTHENTICATED, e.g. {leaks[:10]}"


def test_tenant_credentials_reach_no_operator_or_cell_route(stack):  # noqa: F811
    """REST: the operator's routes and the cells' routes take neither a
    tenant's session nor its API key; the cell's credential opens only its
    own snapshot, never the tenant API or the operator's routes."""
    from tenancy_stack import ApiError

    alpha, _ = stack.tenants
    by_key = stack.rest()
    by_key.bearer = alpha.api_key
    by_cell = stack.rest()
    by_cell.bearer = stack.cell_credential
    routes = [("GET", "/api/v1/admin/cells", None), ("POST", "/api/v1/admin/cells",
              {"name": "rogue", "grpc_endpoint": "https://x:1", "capacity": 1}),
              ("GET", "/api/v1/admin/signing-keys", None),
              ("POST", "/api/v1/admin/signing-keys/rotate", None),
              ("GET", "/internal/v1/auth-snapshot", None)]
    for caller in (alpha.rest, by_key):
        for method, path, body in routes:
            with pytest.raises(ApiError) as err:
                caller.call(method, path, body)
            assert err.value.status in (401, 403, 404), (method, path, err.value.status)
    for method, path, body in routes[:4] + [("GET", "/api/v1/namespaces", None),
                                            ("GET", "/api/v1/me", None)]:
        with pytest.raises(ApiError) as err:
            by_cell.call(method, path, body)
        assert err.value.status in (401, 403, 404), (method, path, err.value.status)
