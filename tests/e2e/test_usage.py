"""Billing metrics end to end: a known workload (usage_workload.py) driven
with the official SDK through a tenant endpoint of a TLS cell run under a
control plane, as separate processes; the control plane's usage API then
gives, per kind of Action, exactly the counts the definition derives for it
(`usage_workload.EXPECTED_BY_STEP`), within 60 s, and `total_actions` is
their sum, and stay so over two more pulls. The same once more in another
account with the cell killed with SIGKILL twice between steps (each time
after the step's effect was acknowledged) and restarted on the same
database: the same table, nothing lost, nothing doubled. Queries are the one
kind a crash may lose (the last second's, counted in memory): each kill
comes more than 2 s after the last query. On SQLite, and PostgreSQL with
ORRERY_DATABASE_URL. Orrery only.
"""

from __future__ import annotations

import asyncio
import datetime
import sqlite3
import subprocess
import time
import urllib.parse

import pytest
from temporalio.api.enums.v1 import ArchivalState
from temporalio.api.namespace.v1 import NamespaceConfig
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, UpdateNamespaceRequest
from temporalio.client import Client

from conftest import e2e_target
from helpers import new_id, run_worker
from tenancy_stack import DOMAIN, ApiError, Rest, Stack, Tenant
from usage_workload import ACTIVITIES, WORKFLOWS, Workload, expected

pytestmark = [
    pytest.mark.skipif(e2e_target() != "orrery", reason="billing is Orrery's"),
    pytest.mark.timeout(300),
]

# The definition's promise: usage reaches the API within this.
ARRIVAL_S = 60.0
# The control plane's default pull interval (`usage_pull_interval`).
PULL_S = 10.0
# Storage metering shares the cell's usage table under this prefix; it is
# not an Action.
STORAGE_PREFIX = "storage."


@pytest.fixture(scope="module")
def stack():
    with Stack().running() as s:
        s.start_control_plane()
        s.accounts = [s.signup("steady"), s.signup("crashed")]  # type: ignore[attr-defined]
        s.archive = s.tmp / "archive"  # type: ignore[attr-defined]
        # A restart of the cell must find its own database again (the
        # harness makes a fresh PostgreSQL database on every start).
        s.cell_db = s._database("cell")  # type: ignore[attr-defined]
        fresh = s._database
        s._database = lambda name: s.cell_db if name == "cell" else fresh(name)  # type: ignore[method-assign]
        s.cell_args = (  # type: ignore[attr-defined]
            [f"*.{r.account['slug']}.{DOMAIN}" for r in s.accounts] + ["localhost"],  # type: ignore[attr-defined]
            ["--archive-uri", f"file://{s.archive}"],  # type: ignore[attr-defined]
        )
        s.start_cell(*s.cell_args)  # type: ignore[attr-defined]
        s.cell_proc = s.procs[-1]  # type: ignore[attr-defined]
        yield s


def restart_cell_after_sigkill(stack: Stack) -> None:
    """SIGKILL (no shutdown, no flush) and the same cell on the same
    database again."""
    proc = stack.cell_proc  # type: ignore[attr-defined]
    proc.kill()
    assert proc.wait(10) == -9, "the cell had exited before the kill"
    stack.start_cell(*stack.cell_args)  # type: ignore[attr-defined]
    stack.cell_proc = stack.procs[-1]  # type: ignore[attr-defined]


async def tenant_client(stack: Stack, rest: Rest) -> tuple[Tenant, Client, str]:
    """A namespace with archival enabled (to the cell's archive), its SDK
    client through the tenant endpoint, and the cell's id of it."""
    tenant = stack.provision(rest, "billing")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while True:  # the cell learns of the namespace from its next snapshot
        try:
            client = await stack.connect(tenant.namespace, api_key=tenant.api_key)
            desc = await client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace=tenant.namespace), retry=False)
            break
        except Exception:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.3)
    enabled = ArchivalState.ARCHIVAL_STATE_ENABLED
    await client.workflow_service.update_namespace(UpdateNamespaceRequest(
        namespace=tenant.namespace,
        config=NamespaceConfig(history_archival_state=enabled, visibility_archival_state=enabled),
    ), retry=False)
    return tenant, client, desc.namespace_info.id


def cell_usage(stack: Stack, cell_namespace_id: str) -> dict[str, int]:
    """What the cell's own usage table holds for the namespace (a diagnostic
    shown next to the API's answer: tells a cell's miscount from a lost or
    doubled pull)."""
    sql = ("SELECT action, SUM(count) FROM usage WHERE namespace_id = '%s' GROUP BY action"
           % cell_namespace_id.replace("'", "''"))
    url: str = stack.cell_db  # type: ignore[attr-defined]
    if url.startswith("sqlite://"):
        conn = sqlite3.connect(url.removeprefix("sqlite://"), timeout=10)
        try:
            rows = conn.execute(sql).fetchall()
        finally:
            conn.close()
    else:
        out = subprocess.run(["psql", url, "-AtF", "\t", "-c", sql], check=True,
                             capture_output=True, text=True).stdout
        rows = [line.split("\t") for line in out.splitlines() if line]
    return {kind: int(n) for kind, n in rows if not kind.startswith(STORAGE_PREFIX) and int(n) != 0}


def api_usage(stack: Stack, tenant: Tenant, since: datetime.datetime) -> tuple[dict[str, int], int, bool]:
    """The usage API's per-kind totals over every row since `since`, its
    summed total_actions, and whether it says it is incomplete."""
    rest = stack.rest()
    rest.bearer = tenant.api_key
    # Both ends on hour boundaries (the API's rule), an hour wider each side.
    start = since.replace(minute=0, second=0, microsecond=0) - datetime.timedelta(hours=1)
    now = datetime.datetime.now(datetime.timezone.utc)
    end = now.replace(minute=0, second=0, microsecond=0) + datetime.timedelta(hours=2)
    query = urllib.parse.urlencode({
        "namespace": tenant.namespace,
        "from": start.isoformat().replace("+00:00", "Z"),
        "to": end.isoformat().replace("+00:00", "Z"),
        "granularity": "hour",
    })
    body = rest.call("GET", f"/api/v1/usage?{query}")
    kinds: dict[str, int] = {}
    total = 0
    for row in body["rows"]:
        assert row["namespace"] == tenant.namespace, row
        total += row["total_actions"]
        for kind, n in row["actions"].items():
            kinds[kind] = kinds.get(kind, 0) + n
    return {k: n for k, n in kinds.items() if n != 0}, total, body["incomplete"]


async def assert_usage_arrives(stack: Stack, tenant: Tenant, cell_ns: str, since: datetime.datetime,
                               done_at: float) -> None:
    """The API's counts equal the table within ARRIVAL_S of the workload's
    end, and stay equal over a few more pulls (nothing arrives twice)."""
    want = expected()
    seen: tuple = ({}, 0, True)
    while True:
        try:
            seen = api_usage(stack, tenant, since)
        except ApiError as err:
            if err.status < 500:
                raise
            seen = (f"HTTP {err.status}: {err.body}", 0, True)
        kinds, total, incomplete = seen
        if kinds == want and not incomplete:
            break
        if time.monotonic() > done_at + ARRIVAL_S:
            raise AssertionError(
                f"usage API after {ARRIVAL_S:.0f}s: {seen}\n"
                f"expected:  {want}\ncell holds: {cell_usage(stack, cell_ns)}")
        await asyncio.sleep(1)
    assert total == sum(want.values()), (total, want)
    await asyncio.sleep(2 * PULL_S + 1)  # two pulls more
    assert api_usage(stack, tenant, since) == (want, sum(want.values()), False)


async def run_workload(stack: Stack, rest: Rest, *, kill_after: tuple[str, ...] = ()) -> None:
    since = datetime.datetime.now(datetime.timezone.utc)
    tenant, client, cell_ns = await tenant_client(stack, rest)
    workload = Workload(client, new_id("usage-tq"))
    await workload.prepare()
    names = [name for name, _ in workload.steps()]
    assert set(kill_after) <= set(names[:-1]), kill_after
    last_query = 0.0
    async with run_worker(client, workflows=WORKFLOWS, activities=ACTIVITIES,
                          task_queue=workload.task_queue):
        for name, step in workload.steps():
            await step()
            if name == "queries":
                last_query = time.monotonic()
            if name in kill_after:
                # Queries are counted in memory and flushed every second; a
                # crash may lose the last second's. The kill comes more than
                # 2 s after the last query, so none may be missing.
                await asyncio.sleep(max(0.0, last_query + 2.5 - time.monotonic()))
                restart_cell_after_sigkill(stack)
    done_at = time.monotonic()
    await assert_usage_arrives(stack, tenant, cell_ns, since, done_at)


async def test_a_known_workload_is_billed_exactly_as_defined(stack):
    await run_workload(stack, stack.accounts[0])


async def test_the_same_workload_across_a_sigkill_of_the_cell(stack):
    # In the middle: after the queries (acknowledged, and flushed by the
    # time of the kill), before the updates; and again once Main and Waiter
    # closed, while their runs may be being archived.
    await run_workload(stack, stack.accounts[1], kill_after=("queries", "finish_waiter"))
