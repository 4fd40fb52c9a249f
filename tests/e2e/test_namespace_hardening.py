"""What a tenant may do to its namespaces through the gRPC API, against a
control plane and a TLS cell run as separate processes (tenancy_stack):
archival goes where the operator configured the cell to archive, never where
a tenant points it; retention stays within the control plane's 1-90 days;
namespace data, description, owner e-mail and search attribute aliases are
bounded; DescribeNamespace by id tells a tenant nothing
about namespaces that are not its own; ListNamespaces pages. Orrery only.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio import workflow
from temporalio.api.enums.v1 import ArchivalState
from temporalio.api.namespace.v1 import NamespaceConfig, UpdateNamespaceInfo
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    ListNamespacesRequest,
    UpdateNamespaceRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from conftest import e2e_target
from helpers import new_id, run_worker
from tenancy_stack import DOMAIN, Stack, Tenant

pytestmark = pytest.mark.skipif(e2e_target() != "orrery", reason="tenancy is Orrery's")

DAY = 24 * 3600
EXTRA_NAMESPACES = ["orders", "billing"]


@workflow.defn
class Quick:
    @workflow.run
    async def run(self) -> str:
        return "done"


@pytest.fixture(scope="module")
def stack():
    with Stack().running() as s:
        s.start_control_plane()
        alpha, beta = s.signup("alpha"), s.signup("beta")
        slugs = [r.account["slug"] for r in (alpha, beta)]  # type: ignore[attr-defined]
        s.archive = s.tmp / "archive"  # type: ignore[attr-defined]
        s.start_cell(
            [f"*.{slug}.{DOMAIN}" for slug in slugs] + ["localhost"],
            extra=["--archive-uri", f"file://{s.archive}"],  # type: ignore[attr-defined]
        )
        s.tenants = [s.provision(alpha), s.provision(beta)]  # type: ignore[attr-defined]
        s.alpha_extra = [  # type: ignore[attr-defined]
            alpha.call("POST", "/api/v1/namespaces", {"name": name, "retention_days": 1})["id"]
            for name in EXTRA_NAMESPACES
        ]
        time.sleep(2.5)  # the cell polls the snapshot every second
        yield s


async def connect(stack: Stack, tenant: Tenant, namespace: str | None = None) -> Client:
    """The tenant's API key, for `namespace` (its first one by default)."""
    return await stack.connect(namespace or tenant.namespace, api_key=tenant.api_key)


async def describe(client: Client, **by):
    return await client.workflow_service.describe_namespace(DescribeNamespaceRequest(**by), retry=False)


async def update(client: Client, **fields):
    return await client.workflow_service.update_namespace(
        UpdateNamespaceRequest(namespace=client.namespace, **fields), retry=False
    )


async def refused(call) -> RPCError:
    with pytest.raises(RPCError) as err:
        await call
    return err.value


async def test_a_tenant_cannot_point_archival_anywhere_and_nothing_is_written(stack):
    alpha, beta = stack.tenants
    client = await connect(stack, alpha)
    beta_id = (await describe(await connect(stack, beta), namespace=beta.namespace)).namespace_info.id
    probe = stack.tmp / f"probe-{uuid.uuid4().hex[:8]}"
    elsewhere = [
        ("HistoryArchivalUri", f"file://{probe}"),
        ("VisibilityArchivalUri", f"file://{probe}"),
        # Inside another namespace's prefix of the cell's own archive.
        ("VisibilityArchivalUri", f"file://{stack.archive}/{beta_id}/visibility"),
        ("HistoryArchivalUri", "s3://someone-elses-bucket/x"),
    ]
    for field, uri in elsewhere:
        kind = "history" if field.startswith("History") else "visibility"
        config = NamespaceConfig(
            **{f"{kind}_archival_state": ArchivalState.ARCHIVAL_STATE_ENABLED, f"{kind}_archival_uri": uri}
        )
        err = await refused(update(client, config=config))
        assert err.status == RPCStatusCode.INVALID_ARGUMENT, (uri, err)
        assert field in err.message and "set by the operator" in err.message, err.message
        assert str(stack.tmp) not in err.message and "someone-elses-bucket" not in err.message, err.message
    assert not probe.exists()
    assert not (stack.archive / beta_id / "visibility").exists()
    # Nothing changed either.
    desc = await describe(client, namespace=alpha.namespace)
    assert desc.config.history_archival_state == ArchivalState.ARCHIVAL_STATE_DISABLED
    assert desc.config.visibility_archival_state == ArchivalState.ARCHIVAL_STATE_DISABLED
    assert desc.config.history_archival_uri == desc.config.visibility_archival_uri == ""


async def test_a_tenant_enabling_archival_archives_under_its_namespace_in_the_cells_archive(stack):
    alpha: Tenant = stack.tenants[0]
    namespace = stack.alpha_extra[0]
    client = await connect(stack, alpha, namespace)
    enabled = ArchivalState.ARCHIVAL_STATE_ENABLED
    resp = await update(
        client, config=NamespaceConfig(history_archival_state=enabled, visibility_archival_state=enabled)
    )
    root = f"file://{stack.archive}"
    assert resp.config.history_archival_uri == resp.config.visibility_archival_uri == root
    desc = await describe(client, namespace=namespace)
    assert desc.config.history_archival_state == enabled
    assert desc.config.history_archival_uri == desc.config.visibility_archival_uri == root
    # Sending back the URI in use (what DescribeNamespace shows) is fine.
    await update(client, config=NamespaceConfig(history_archival_state=enabled, history_archival_uri=root))

    async with run_worker(client, workflows=[Quick]) as worker:
        handle = await client.start_workflow(
            Quick.run, id=new_id(), task_queue=worker.task_queue, execution_timeout=timedelta(seconds=30)
        )
        assert await handle.result() == "done"
    ns_dir: Path = stack.archive / desc.namespace_info.id
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not list(ns_dir.glob("history/*/*.history")):
        await asyncio.sleep(0.2)
    assert len(list(ns_dir.glob("history/*/*.history"))) == 1, list(stack.archive.rglob("*"))
    # Nothing of it outside its own prefix (the cell's write check aside).
    outside = [
        p for p in stack.archive.iterdir() if p.name not in (desc.namespace_info.id, "orrery-archival-check")
    ]
    assert outside == []

    # Disabling is the tenant's too; the URI in use stays.
    disabled = ArchivalState.ARCHIVAL_STATE_DISABLED
    resp = await update(client, config=NamespaceConfig(history_archival_state=disabled))
    assert resp.config.history_archival_state == disabled
    assert resp.config.history_archival_uri == root


async def test_a_tenants_retention_stays_within_1_to_90_days(stack):
    alpha: Tenant = stack.tenants[0]
    client = await connect(stack, alpha)
    for days in (3650, 91):
        err = await refused(
            update(client, config=NamespaceConfig(workflow_execution_retention_ttl=Duration(seconds=days * DAY)))
        )
        assert err.status == RPCStatusCode.INVALID_ARGUMENT
        assert "WorkflowExecutionRetentionTtl" in err.message, err.message
    err = await refused(
        update(client, config=NamespaceConfig(workflow_execution_retention_ttl=Duration(seconds=3600)))
    )
    assert err.status == RPCStatusCode.INVALID_ARGUMENT
    desc = await describe(client, namespace=alpha.namespace)
    assert desc.config.workflow_execution_retention_ttl.seconds == DAY
    resp = await update(client, config=NamespaceConfig(workflow_execution_retention_ttl=Duration(seconds=90 * DAY)))
    assert resp.config.workflow_execution_retention_ttl.seconds == 90 * DAY
    await update(client, config=NamespaceConfig(workflow_execution_retention_ttl=Duration(seconds=DAY)))


async def test_namespace_data_is_bounded(stack):
    alpha: Tenant = stack.tenants[0]
    client = await connect(stack, alpha, stack.alpha_extra[1])
    too_many = {f"k{i}": "v" for i in range(65)}
    err = await refused(update(client, update_info=UpdateNamespaceInfo(data=too_many)))
    assert err.status == RPCStatusCode.INVALID_ARGUMENT and err.message.startswith("Data"), err.message
    err = await refused(update(client, update_info=UpdateNamespaceInfo(data={"big": "x" * 5000})))
    assert err.status == RPCStatusCode.INVALID_ARGUMENT and err.message.startswith("Data"), err.message
    # Growing it one update at a time ends at the same bound.
    await update(client, update_info=UpdateNamespaceInfo(data={f"k{i}": "v" for i in range(64)}))
    err = await refused(update(client, update_info=UpdateNamespaceInfo(data={"one-more": "v"})))
    assert err.status == RPCStatusCode.INVALID_ARGUMENT and err.message.startswith("Data"), err.message
    desc = await describe(client, namespace=client.namespace)
    assert len(desc.namespace_info.data) == 64 and "one-more" not in desc.namespace_info.data


async def test_namespace_description_owner_email_and_aliases_are_bounded(stack):
    alpha: Tenant = stack.tenants[0]
    client = await connect(stack, alpha, stack.alpha_extra[0])
    for info, field in [
        (UpdateNamespaceInfo(description="d" * 1025), "Description"),
        (UpdateNamespaceInfo(owner_email="e" * 310 + "@example.com"), "OwnerEmail"),
    ]:
        err = await refused(update(client, update_info=info))
        assert err.status == RPCStatusCode.INVALID_ARGUMENT and err.message.startswith(field), err.message
    await update(client, update_info=UpdateNamespaceInfo(description="d" * 1024, owner_email="ops@example.com"))
    desc = await describe(client, namespace=client.namespace)
    assert len(desc.namespace_info.description) == 1024

    def aliases(**m):
        return NamespaceConfig(custom_search_attribute_aliases=m)

    err = await refused(update(client, config=aliases(Keyword01="a" * 257)))
    assert err.status == RPCStatusCode.INVALID_ARGUMENT, err
    assert err.message.startswith("CustomSearchAttributeAliases"), err.message
    # As on the real server: a field's alias is set once, removed with "".
    await update(client, config=aliases(Keyword01="Customer"))
    err = await refused(update(client, config=aliases(Keyword01="Other")))
    assert err.status == RPCStatusCode.INVALID_ARGUMENT
    assert err.message == "Custom search attribute field name already allocated.", err.message
    await update(client, config=aliases(Keyword01=""))
    # Grown a batch at a time, the map ends at one alias per custom
    # attribute a namespace may have (130).
    for batch in range(13):
        await update(client, config=aliases(**{f"F{batch}_{i}": f"a{i}" for i in range(10)}))
    err = await refused(update(client, config=aliases(OneMore="x")))
    assert err.status == RPCStatusCode.INVALID_ARGUMENT, err
    assert err.message.startswith("CustomSearchAttributeAliases has 131 entries"), err.message
    desc = await describe(client, namespace=client.namespace)
    assert len(desc.config.custom_search_attribute_aliases) == 130
    assert "OneMore" not in desc.config.custom_search_attribute_aliases


async def test_describe_namespace_by_id_answers_alike_for_a_missing_id_and_another_tenants(stack):
    alpha, beta = stack.tenants
    client = await connect(stack, alpha)
    own = await describe(client, namespace=alpha.namespace)
    assert (await describe(client, id=own.namespace_info.id)).namespace_info.name == alpha.namespace
    beta_id = (await describe(await connect(stack, beta), namespace=beta.namespace)).namespace_info.id
    missing_id = str(uuid.uuid4())
    answers = []
    for ns_id in (missing_id, beta_id):
        err = await refused(describe(client, id=ns_id))
        answers.append((err.status, err.message.replace(ns_id, "<id>")))
    assert answers[0] == answers[1], answers
    assert answers[0][0] == RPCStatusCode.PERMISSION_DENIED
    assert beta.namespace not in answers[1][1]


async def test_list_namespaces_pages_through_the_tenants_own(stack):
    alpha: Tenant = stack.tenants[0]
    client = await connect(stack, alpha)
    mine = sorted([alpha.namespace, *stack.alpha_extra])
    whole = await client.workflow_service.list_namespaces(ListNamespacesRequest(), retry=False)
    assert [n.namespace_info.name for n in whole.namespaces] == mine
    assert whole.next_page_token == b""
    seen: list[str] = []
    pages = 0
    token = b""
    tokens: list[bytes] = []
    while True:
        page = await client.workflow_service.list_namespaces(
            ListNamespacesRequest(page_size=1, next_page_token=token), retry=False
        )
        assert len(page.namespaces) <= 1
        seen.extend(n.namespace_info.name for n in page.namespaces)
        pages += 1
        token = page.next_page_token
        if not token:
            break
        tokens.append(token)
        assert pages < 20
    assert seen == mine
    assert pages >= len(mine)
    # Tokens are sealed: they name no namespace, and one the client wrote
    # (the plain cursor `after = <name>`, field 1), altered or got for
    # another caller is refused.
    assert not any(name.encode() in t for t in tokens for name in mine)
    forged = b"\x0a" + bytes([len(mine[0])]) + mine[0].encode()
    altered = tokens[0][:-1] + bytes([tokens[0][-1] ^ 1])
    beta = await connect(stack, stack.tenants[1])
    for who, bad in [(client, b"\xff\xfe"), (client, forged), (client, altered), (beta, tokens[0])]:
        err = await refused(
            who.workflow_service.list_namespaces(ListNamespacesRequest(next_page_token=bad), retry=False)
        )
        assert err.status == RPCStatusCode.INVALID_ARGUMENT, err
        assert err.message == "Invalid NextPageToken.", err.message
