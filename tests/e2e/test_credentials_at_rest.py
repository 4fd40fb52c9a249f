"""Credentials at rest, against `orrery control-plane` and `orrery cell` as
separate processes: a copy of the control plane's database holds no usable
private key; and even with the API-key signing key in hand (a database
kept without a key-encryption key), a token pairing one's own live key id
with someone else's subject is refused by the cell. Orrery only.
"""

from __future__ import annotations

import base64
import json
import re
import time

import pytest
from cryptography.hazmat.primitives import serialization

from conftest import e2e_target
from tenancy_stack import DOMAIN, Stack

pytestmark = pytest.mark.skipif(e2e_target() != "orrery", reason="the control plane is Orrery's")

PEM_PRIVATE = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(private_pem: str, kid: str, claims: dict) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    header = b64url(json.dumps({"alg": "EdDSA", "typ": "JWT", "kid": kid}).encode())
    payload = b64url(json.dumps(claims).encode())
    return f"{header}.{payload}.{b64url(key.sign(f'{header}.{payload}'.encode()))}"


def provisioned(stack: Stack, sealed: bool):
    """Two users of one account (the victim, its owner, and the attacker, an
    admin) and a namespace; the attacker holds an API key of its own."""
    stack.start_control_plane(sealed=sealed)
    victim = stack.signup("acme")
    slug = victim.account["slug"]  # type: ignore[attr-defined]
    stack.start_cell([f"*.{slug}.{DOMAIN}", "localhost"])
    tenant = stack.provision(victim)
    invited = victim.call("POST", "/api/v1/users", {"email": f"dev-{slug}@example.com", "role": "admin"})
    attacker = stack.rest()
    attacker.call("POST", "/api/v1/invitations/accept",
                  {"token": invited["invite_token"], "password": "correct horse battery staple"})
    login = attacker.call("POST", "/api/v1/login", {"email": f"dev-{slug}@example.com",
                                                   "password": "correct horse battery staple"})
    attacker.csrf = login["csrf_token"]
    key = attacker.call("POST", "/api/v1/api-keys", {"name": "mine", "expiry_days": 1})
    time.sleep(2.5)  # the cell polls the snapshot every second
    return tenant, attacker, key


async def test_a_copy_of_the_database_holds_no_usable_private_key():
    with Stack().running() as stack:
        tenant, _, _ = provisioned(stack, sealed=True)
        # A generated CA's key, an API-key signing key and the control key
        # all exist by now: each is sealed.
        dump = stack.dump_control_plane_db()
    assert dump.count("orrery-sealed:v1:") >= 3
    assert not PEM_PRIVATE.search(dump), "a PEM private key in the database"
    # Nor one in base64 DER form (PKCS#8 Ed25519 and EC keys start so).
    for der_prefix in (b"\x30\x2e\x02\x01\x00\x30\x05\x06\x03\x2b\x65\x70", b"\x30\x81\x87\x02\x01\x00"):
        assert base64.b64encode(der_prefix).decode()[:12] not in dump
    # And the API key's secret is stored only as a hash.
    assert tenant.api_key not in dump


async def test_a_stolen_signing_key_cannot_speak_for_another_principal():
    """The attacker holds the signing key (a database kept in plaintext) and
    an API key of its own: the signature verifies, but the key id belongs
    to the attacker, so the victim's subject is refused."""
    import sqlite3
    import subprocess

    with Stack().running() as stack:
        tenant, attacker, key = provisioned(stack, sealed=False)
        url = stack.control_plane_db
        query = "SELECT kid, private_key_sealed FROM signing_keys WHERE purpose = 'api_key' AND retired_ms IS NULL"
        if url.startswith("sqlite://"):
            conn = sqlite3.connect(url.removeprefix("sqlite://"))
            kid, private_pem = conn.execute(query).fetchone()
            conn.close()
        else:
            out = subprocess.run(["psql", url, "-qAt", "-F", "\t", "-c", query], check=True,
                                 capture_output=True, text=True).stdout
            kid, private_pem = out.split("\t", 1)
            private_pem = private_pem.strip()
        assert PEM_PRIVATE.search(private_pem), "the plaintext database holds the key"
        me = attacker.call("GET", "/api/v1/me")
        victim = tenant.rest.call("GET", "/api/v1/me")
        now = int(time.time())

        def token(sub: str) -> str:
            return sign(private_pem, kid, {
                "iss": "orrery-control-plane", "aud": "orrery-cell", "sub": sub,
                "jti": key["api_key"]["id"], "account": me["account"]["id"],
                "iat": now, "exp": now + 3600,
            })

        # The stolen key is the real one: for the attacker's own subject the
        # forged token works (read permission, as the attacker's role).
        assert await stack.describe_status(tenant.namespace, api_key=token(me["principal"])) == "ok"
        # For the victim's subject it does not.
        forged = token(victim["principal"])
        assert await stack.describe_status(tenant.namespace, api_key=forged) == "UNAUTHENTICATED"
