"""The control plane's limits, against `orrery control-plane` and `orrery
cell` run as separate processes: a burst of signups from one address is
answered 429 with `Retry-After`, and an account's 11th namespace is refused
with a problem naming the quota. Orrery only (the real server has no
control plane).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import e2e_target
from tenancy_stack import ApiError, Stack

pytestmark = pytest.mark.skipif(e2e_target() != "orrery", reason="the control plane is Orrery's")

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def stack():
    with Stack().running() as s:
        s.start_control_plane()
        # Signed up before the burst spends this address's signup budget.
        s.quota_account = s.signup("quota")  # type: ignore[attr-defined]
        s.start_cell(["localhost"])
        yield s


def _signup(stack: Stack, i: int) -> tuple[int, dict, str | None]:
    """One signup; its status, body and Retry-After header."""
    rest = stack.rest()
    body = json.dumps({
        "account_name": f"burst {i}",
        "email": f"burst-{i}-{uuid.uuid4().hex[:6]}@example.com",
        "password": PASSWORD,
    }).encode()
    req = urllib.request.Request(stack.api + "/api/v1/signup", data=body, method="POST",
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60, context=rest.context) as resp:
            return resp.status, json.loads(resp.read()), resp.headers.get("retry-after")
    except urllib.error.HTTPError as err:
        assert err.headers.get("content-type") == "application/problem+json"
        return err.code, json.loads(err.read()), err.headers.get("retry-after")


def test_a_signup_burst_from_one_address_is_answered_429_with_retry_after(stack):
    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda i: _signup(stack, i), range(40)))
    statuses = sorted(status for status, _, _ in answers)
    assert set(statuses) <= {201, 429, 503}, statuses
    limited = [(body, retry) for status, body, retry in answers if status == 429]
    # The default is 5 a minute per address, one of which the fixture spent.
    assert len(limited) >= 35 - 1, statuses
    assert statuses.count(201) <= 4, statuses
    for body, retry in limited:
        assert body["type"] == "urn:orrery:problem:rate-limited", body
        assert retry is not None and int(retry) >= 1, retry


def test_the_eleventh_namespace_is_refused_by_the_quota(stack):
    rest = stack.quota_account
    for i in range(10):
        rest.call("POST", "/api/v1/namespaces", {"name": f"ns-{i}", "retention_days": 1})
    with pytest.raises(ApiError) as refused:
        rest.call("POST", "/api/v1/namespaces", {"name": "ns-10", "retention_days": 1})
    assert refused.value.status == 422
    problem = refused.value.body
    assert isinstance(problem, dict), problem
    assert problem["type"] == "urn:orrery:problem:quota-exceeded", problem
    assert problem["detail"] == "the account has reached its namespace quota (10)", problem
    assert [e["field"] for e in problem["errors"]] == ["name"], problem
    listed = rest.call("GET", "/api/v1/namespaces")
    assert len(listed) == 10  # type: ignore[arg-type]
