"""The control plane's REST API against its own OpenAPI document, with
schemathesis (property-based, from PyPI): across every operation, generated
valid and invalid input never gets a 5xx, every status and body is the one
documented (problem+json for errors), invalid input is rejected, (Authentication itself is tested
route by route in control-plane/tests: schemathesis' `ignored_auth` check
cannot tell a forced valid bearer header from the cookie scheme it garbles.) `orrery dev` serves the API beside its cell.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import Server, e2e_target
from tenancy_stack import Rest

pytestmark = pytest.mark.skipif(e2e_target() != "orrery", reason="Orrery's control plane")

CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
])


@pytest.fixture
async def dev():
    # Always `orrery dev`: it is what serves the console's API.
    server = Server("orrery", dev_args=[])
    await server.start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.mark.timeout(300)
async def test_schemathesis_finds_nothing(dev):
    base = f"http://127.0.0.1:{dev.http_port}"
    rest = Rest(base)
    password = "correct horse battery staple"
    rest.call("POST", "/api/v1/signup", {"account_name": "fuzz", "email": "fuzz@example.com",
                                          "password": password})
    rest.csrf = rest.call("POST", "/api/v1/login", {"email": "fuzz@example.com",
                                                     "password": password})["csrf_token"]
    key = rest.call("POST", "/api/v1/api-keys", {"name": "fuzz", "expiry_days": 1})["token"]
    binary = Path(sys.executable).parent / "schemathesis"
    run = subprocess.run(
        [str(binary), "run", f"{base}/api/v1/openapi.json", "--url", base,
         "--header", f"Authorization: Bearer {key}", "--checks", CHECKS,
         "--max-time", os.environ.get("ORRERY_FUZZ_SECS", "45"), "--workers", "2",
         "--no-color"],
        capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "40 passed" in run.stdout or "passed" in run.stdout
