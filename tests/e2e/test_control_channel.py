"""The channel between a cell and its control plane, attacked from the middle
and from tenants: `orrery control-plane` and `orrery cell` as separate
processes, with an HTTPS relay between the cell and the control plane that
the test controls (a proxy on the path, with a certificate the cell trusts:
the worst case TLS alone would not stop). What the cell installs must be
signed by the control plane for that cell, newer than what it has; what
opens the admin listener is the control plane's signed token alone; no
operator credential works on the tenant endpoint. Orrery only.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client, TLSConfig
from temporalio.service import RPCError, RPCStatusCode

from conftest import e2e_target, free_port
from tenancy_stack import DOMAIN, Stack, Tenant, issue

pytestmark = pytest.mark.skipif(e2e_target() != "orrery", reason="the control channel is Orrery's")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jws(key: Ed25519PrivateKey, kid: str, claims: dict) -> str:
    header = b64url(json.dumps({"alg": "EdDSA", "typ": "JWT", "kid": kid}).encode())
    payload = b64url(json.dumps(claims).encode())
    signature = key.sign(f"{header}.{payload}".encode())
    return f"{header}.{payload}.{b64url(signature)}"


class Relay:
    """An HTTPS relay in front of the control plane. Modes:
    `pass` relays; `forge` re-signs the snapshot with the attacker's key after
    adding the attacker's signing key and API key; `unsigned` serves that
    forged snapshot as plain JSON (what cells accepted before); `replay`
    serves the first signed snapshot it relayed."""

    def __init__(self, stack: Stack, attacker: Ed25519PrivateKey, victim: str) -> None:
        self.mode = "pass"
        self.recorded: str | None = None
        self.attacker = attacker
        self.victim = victim
        upstream = ssl.create_default_context(cadata=stack.server_ca.cert_pem.decode())
        cert = issue(stack.server_ca, "relay", server_names=["localhost"], client=False)
        (stack.tmp / "relay.pem").write_bytes(cert.cert_pem)
        (stack.tmp / "relay.key").write_bytes(cert.key_pem)
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                path = self.path
                if relay.mode != "pass":
                    path = path.split("?", 1)[0]  # always a full snapshot
                req = urllib.request.Request(stack.api + path)
                if self.headers.get("authorization"):
                    req.add_header("authorization", self.headers["authorization"])
                try:
                    with urllib.request.urlopen(req, timeout=10, context=upstream) as resp:
                        status, body = resp.status, resp.read()
                        kind = resp.headers.get("content-type", "")
                except urllib.error.HTTPError as err:
                    status, body, kind = err.code, err.read(), err.headers.get("content-type", "")
                if status == 200 and path.startswith("/internal/v1/auth-snapshot"):
                    status, body, kind = relay.rewrite(body.decode())
                self.send_response(status)
                if kind:
                    self.send_header("content-type", kind)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(stack.tmp / "relay.pem", stack.tmp / "relay.key")
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def forged(self, signed: str) -> dict:
        claims = json.loads(unb64url(signed.split(".")[1]))
        snapshot = claims["snapshot"]
        snapshot["version"] += 1000
        public = self.attacker.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()
        snapshot["signing_keys"].append({"kid": "evil", "alg": "EdDSA", "public_key": public})
        snapshot["active_api_keys"].append({"id": "evil-key", "principal": self.victim})
        claims["snapshot"] = snapshot
        claims["version"] = snapshot["version"]
        return claims

    def rewrite(self, signed: str) -> tuple[int, bytes, str]:
        if self.mode == "pass":
            whole = "snapshot" in json.loads(unb64url(signed.split(".")[1]))
            if self.recorded is None and whole:
                self.recorded = signed
            return 200, signed.encode(), "application/jwt"
        if self.mode == "replay":
            return 200, (self.recorded or signed).encode(), "application/jwt"
        claims = self.forged(signed)
        if self.mode == "unsigned":
            return 200, json.dumps(claims["snapshot"]).encode(), "application/json"
        return 200, jws(self.attacker, "control-evil", claims).encode(), "application/jwt"

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture(scope="module")
def channel():
    with Stack().running() as stack:
        stack.start_control_plane()
        alpha_rest = stack.signup("alpha")
        slug = alpha_rest.account["slug"]  # type: ignore[attr-defined]
        me = alpha_rest.call("GET", "/api/v1/me")
        victim = me.get("principal") or f"user:{(me.get('user') or me)['id']}"
        attacker = Ed25519PrivateKey.generate()
        relay = Relay(stack, attacker, victim)
        # The cell is told the control plane's key, so the relay cannot
        # swap it at start either.
        key = stack.rest().call("GET", "/internal/v1/control-key")
        (stack.tmp / "control.pub").write_text(key["public_key"])
        stack.start_cell(
            [f"*.{slug}.{DOMAIN}", "localhost"],
            extra=["--control-plane-public-key", str(stack.tmp / "control.pub")],
            control_plane_url=relay.url,
        )
        alpha = stack.provision(alpha_rest)
        time.sleep(2.5)  # the cell polls every second
        try:
            yield stack, relay, alpha, attacker, victim
        finally:
            relay.close()


def forged_api_key(attacker: Ed25519PrivateKey, victim: str, account: str) -> str:
    now = int(time.time())
    return jws(attacker, "evil", {
        "iss": "orrery-control-plane", "aud": "orrery-cell", "sub": victim,
        "jti": "evil-key", "account": account, "iat": now, "exp": now + 3600,
    })


async def test_a_snapshot_the_control_plane_did_not_sign_is_refused(channel):
    stack, relay, alpha, attacker, victim = channel
    alpha: Tenant
    forged = forged_api_key(attacker, victim, alpha.account["id"])
    assert await stack.describe_status(alpha.namespace, api_key=alpha.api_key) == "ok"
    assert await stack.describe_status(alpha.namespace, api_key=forged) == "UNAUTHENTICATED"
    for mode in ("forge", "unsigned"):
        relay.mode = mode
        await asyncio.sleep(2.5)
        # Had the cell installed it, the attacker's key would now act as
        # alpha's owner; the last good snapshot stays in force instead.
        assert await stack.describe_status(alpha.namespace, api_key=forged) == "UNAUTHENTICATED", mode
        assert await stack.describe_status(alpha.namespace, api_key=alpha.api_key) == "ok", mode
    assert "refused a snapshot" in stack.log("cell")
    relay.mode = "pass"


async def test_an_older_signed_snapshot_is_not_installed_again(channel):
    stack, relay, alpha, _, _ = channel
    relay.mode = "pass"
    await asyncio.sleep(1.5)
    assert relay.recorded is not None  # alpha's key active in it
    # A real change: alpha disables its key; the cell follows.
    alpha.rest.call("POST", f"/api/v1/api-keys/{alpha.api_key_id}/disable", {})
    deadline = time.monotonic() + 10
    while await stack.describe_status(alpha.namespace, api_key=alpha.api_key) == "ok":
        assert time.monotonic() < deadline, "the disabled key still works"
        await asyncio.sleep(0.3)
    # Replaying the older (genuinely signed) snapshot does not bring it back.
    relay.mode = "replay"
    await asyncio.sleep(2.5)
    assert await stack.describe_status(alpha.namespace, api_key=alpha.api_key) == "UNAUTHENTICATED"
    assert "older than the one in force" in stack.log("cell")
    relay.mode = "pass"
    alpha.rest.call("POST", f"/api/v1/api-keys/{alpha.api_key_id}/enable", {})
    deadline = time.monotonic() + 10
    while await stack.describe_status(alpha.namespace, api_key=alpha.api_key) != "ok":
        assert time.monotonic() < deadline, "the re-enabled key does not work"
        await asyncio.sleep(0.3)


async def test_no_operator_credential_opens_the_tenant_endpoint(channel):
    stack, _, alpha, _, _ = channel
    # The cell's own credential and the operator's bootstrap token are not
    # API keys; neither is anything shaped like the old shared admin token.
    for credential in (stack.cell_credential, stack.bootstrap_token, stack.admin_token):
        assert await stack.describe_status(alpha.namespace, api_key=credential) == "UNAUTHENTICATED"


async def test_the_admin_listener_takes_only_the_control_planes_signed_token(channel):
    stack, _, alpha, _, _ = channel
    admin = f"127.0.0.1:{stack.admin_port}"
    tls = TLSConfig(server_root_ca_cert=stack.server_ca.cert_pem, domain="localhost")
    # A tenant's API key (admin of its namespace) is not the operator.
    for credential in (alpha.api_key, stack.cell_credential, stack.bootstrap_token):
        try:
            client = await Client.connect(admin, namespace=alpha.namespace, api_key=credential, tls=tls)
            await client.workflow_service.register_namespace(
                RegisterNamespaceRequest(namespace="planted"), retry=False)
            pytest.fail("the admin listener took a credential that is not the control plane's")
        except RPCError as err:
            assert err.status == RPCStatusCode.UNAUTHENTICATED
        except RuntimeError as err:
            assert "Unauthenticated" in str(err)
    # It speaks TLS only: a plaintext client gets nowhere.
    with pytest.raises(Exception):
        await asyncio.wait_for(Client.connect(admin, namespace=alpha.namespace), 10)
    # And the control plane itself still reaches it (namespace creation).
    created = alpha.rest.call("POST", "/api/v1/namespaces", {"name": "second", "retention_days": 1})
    assert created["id"].startswith("second.")
