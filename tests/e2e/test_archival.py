"""Retention and archival against a real S3-compatible server (`moto_server`,
started here as its own process): closed histories land in the bucket as
`temporal.api.history.v1.History`, decode and replay with the official SDK,
stay readable through GetWorkflowExecutionHistory and `temporal workflow
show` after retention deleted the run, and survive an S3 outage and a
SIGKILL of the server in the middle of the uploads.

Orrery only: the real dev server runs with archival disabled cluster-wide
(it stores the namespace's archival settings as disabled), so there is no
reference behaviour to compare with.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio import activity, workflow
from temporalio.api.enums.v1 import ArchivalState
from temporalio.api.history.v1 import History
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    ListArchivedWorkflowExecutionsRequest,
    RegisterNamespaceRequest,
    UpdateNamespaceRequest,
)
from temporalio.api.namespace.v1 import NamespaceConfig
from temporalio.client import Client, WorkflowHistory
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from conftest import REPO_ROOT, Server, e2e_target, free_port
from helpers import event_types, new_id, run_worker, wait_for

pytestmark = pytest.mark.skipif(
    e2e_target() != "orrery", reason="the real dev server has archival disabled cluster-wide"
)

BUCKET = "orrery-archive"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}


class Moto:
    """A moto_server process on a fixed port; stop() and start() again
    simulate an S3 outage (its state is in memory, so the bucket is made
    again after a restart)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = Path(sys.executable).parent / "moto_server"
        self.proc = subprocess.Popen(
            [str(binary), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("moto_server did not start")
        self.s3().create_bucket(Bucket=BUCKET)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def s3(self):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    def keys(self, prefix: str = "") -> list[str]:
        out: list[str] = []
        for page in self.s3().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
            out.extend(o["Key"] for o in page.get("Contents", []))
        return out


def _fresh_database_url() -> str | None:
    """A database of its own on the suite's PostgreSQL (a second cell on the
    suite's database would take its shards), or None for SQLite."""
    url = os.environ.get("ORRERY_DATABASE_URL")
    if not url:
        return None
    base, _ = url.rsplit("/", 1)
    name = f"orrery_archival_{uuid.uuid4().hex[:8]}"
    subprocess.run(["psql", f"{base}/postgres", "-qc", f"CREATE DATABASE {name}"], check=True)
    return f"{base}/{name}"


class ArchivingServer(Server):
    """An Orrery server that reaches moto for S3."""

    def __init__(self, moto: Moto, database_url: str | None) -> None:
        super().__init__("orrery")
        self.moto = moto
        self.database_url = database_url

    def command(self) -> list[str]:
        s3 = ["--s3-endpoint", self.moto.endpoint, "--s3-region", "us-east-1", "--s3-path-style"]
        if self.database_url:
            binary = os.environ.get("ORRERY_BIN") or str(REPO_ROOT / "target" / "debug" / "orrery")
            return [binary, "cell", "--database-url", self.database_url, "--grpc-addr", self.address, "--namespace", "default", *s3]
        return [*super().command(), *s3]


@pytest.fixture(scope="module")
def moto():
    m = Moto()
    m.start()
    yield m
    m.stop()


@pytest.fixture(scope="module")
async def archiving(moto):
    saved = {k: os.environ.get(k) for k in CREDENTIALS}
    os.environ.update(CREDENTIALS)
    database_url = _fresh_database_url()
    server = ArchivingServer(moto, database_url)
    try:
        await server.start()
        yield server
    finally:
        server.cleanup()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if database_url:
            base, name = database_url.rsplit("/", 1)
            subprocess.run(["psql", f"{base}/postgres", "-qc", f"DROP DATABASE IF EXISTS {name}"], check=False)


async def _namespace(server: Server, *, retention_s: int, prefix: str | None = None) -> tuple[Client, str]:
    """Registers a namespace archiving history and visibility to the bucket."""
    name = new_id("arch")
    uri = f"s3://{BUCKET}/{prefix or name}"
    client = await Client.connect(server.address, namespace=name)
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=name,
            workflow_execution_retention_period=Duration(seconds=retention_s),
            history_archival_state=ArchivalState.ARCHIVAL_STATE_ENABLED,
            history_archival_uri=uri,
            visibility_archival_state=ArchivalState.ARCHIVAL_STATE_ENABLED,
            visibility_archival_uri=uri,
        )
    )
    return client, uri


def _namespace_id(desc) -> str:
    return desc.namespace_info.id


async def _gone(handle) -> bool:
    try:
        await handle.describe()
        return False
    except RPCError as e:
        return e.status == RPCStatusCode.NOT_FOUND


@activity.defn
async def greet(name: str) -> str:
    return f"hello {name}"


@workflow.defn
class ArchivedWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        await workflow.sleep(timedelta(milliseconds=50))
        return await workflow.execute_activity(greet, name, start_to_close_timeout=timedelta(seconds=10))


@workflow.defn
class QuickWorkflow:
    @workflow.run
    async def run(self, n: int) -> int:
        return n


async def test_history_is_archived_readable_and_replayable_after_retention(archiving, moto) -> None:
    client, _ = await _namespace(archiving, retention_s=2)
    ns_id = _namespace_id(
        await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=client.namespace))
    )
    async with run_worker(client, workflows=[ArchivedWorkflow], activities=[greet]) as w:
        handle = await client.start_workflow(ArchivedWorkflow.run, "archive", id=new_id(), task_queue=w.task_queue)
        assert await handle.result() == "hello archive"
    live = await handle.fetch_history()

    # Retention (2 s) deletes the run, only after it was archived.
    await wait_for(lambda: _gone(handle), timeout=30, interval=0.2)
    keys = moto.keys()
    history_keys = [k for k in keys if f"/{ns_id}/history/" in k and k.endswith(".history")]
    assert len(history_keys) == 1, keys
    assert any(f"/{ns_id}/visibility/" in k for k in keys), keys

    # The object is a History the official SDK decodes and replays.
    body = moto.s3().get_object(Bucket=BUCKET, Key=history_keys[0])["Body"].read()
    archived = History.FromString(body)
    assert [e.event_type for e in archived.events] == [e.event_type for e in live.events]
    assert archived.events == live.events
    await Replayer(workflows=[ArchivedWorkflow], workflow_runner=UnsandboxedWorkflowRunner()).replay_workflow(WorkflowHistory(handle.id, list(archived.events)))

    # GetWorkflowExecutionHistory reads it back from the archive, with and
    # without the run id, in pages.
    by_run = client.get_workflow_handle(handle.id, run_id=handle.result_run_id)
    assert (await by_run.fetch_history()).events == live.events
    assert (await client.get_workflow_handle(handle.id).fetch_history()).events == live.events
    paged = [e async for e in by_run.fetch_history_events(page_size=3)]
    assert paged == list(live.events)


async def test_temporal_workflow_show_reads_an_archived_workflow(archiving) -> None:
    client, _ = await _namespace(archiving, retention_s=1)
    async with run_worker(client, workflows=[QuickWorkflow]) as w:
        handle = await client.start_workflow(QuickWorkflow.run, 7, id=new_id(), task_queue=w.task_queue)
        assert await handle.result() == 7
    await wait_for(lambda: _gone(handle), timeout=30, interval=0.2)
    out = subprocess.run(
        [
            os.environ.get("TEMPORAL_CLI", "temporal"),
            "workflow",
            "show",
            "--workflow-id",
            handle.id,
            "--namespace",
            client.namespace,
            "--address",
            archiving.address,
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    events = json.loads(out.stdout)["events"]
    assert events[0]["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"
    assert events[-1]["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"


async def test_list_archived_workflow_executions_filters(archiving) -> None:
    client, _ = await _namespace(archiving, retention_s=1)
    ids = [new_id("quick") for _ in range(3)]
    async with run_worker(client, workflows=[QuickWorkflow, ArchivedWorkflow], activities=[greet]) as w:
        for i, wid in enumerate(ids):
            await client.execute_workflow(QuickWorkflow.run, i, id=wid, task_queue=w.task_queue)
        other = await client.start_workflow(ArchivedWorkflow.run, "x", id=new_id("other"), task_queue=w.task_queue)
        await other.result()
        for wid in ids:
            await wait_for(lambda wid=wid: _gone(client.get_workflow_handle(wid)), timeout=30, interval=0.2)
        await wait_for(lambda: _gone(other), timeout=30, interval=0.2)

    async def archived(query: str, page_size: int = 0) -> list[str]:
        seen: list[str] = []
        token = b""
        while True:
            resp = await client.workflow_service.list_archived_workflow_executions(
                ListArchivedWorkflowExecutionsRequest(
                    namespace=client.namespace, query=query, page_size=page_size, next_page_token=token
                )
            )
            seen.extend(e.execution.workflow_id for e in resp.executions)
            token = resp.next_page_token
            if not token:
                return seen

    assert sorted(await archived("")) == sorted([*ids, other.id])
    assert await archived(f"WorkflowId = '{ids[1]}'") == [ids[1]]
    assert sorted(await archived("WorkflowType = 'QuickWorkflow'")) == sorted(ids)
    assert await archived("WorkflowType = 'ArchivedWorkflow' AND ExecutionStatus = 'Completed'") == [other.id]
    assert await archived("ExecutionStatus = 'Failed'") == []
    assert len(await archived("StartTime > '2020-01-01T00:00:00Z' AND CloseTime > '2020-01-01T00:00:00Z'")) == 4
    assert await archived("CloseTime < '2020-01-01T00:00:00Z'") == []
    # Newest first, in pages of one.
    assert await archived("", page_size=1) == await archived("")
    with pytest.raises(RPCError) as bad:
        await archived("WorkflowId = ")
    assert bad.value.status == RPCStatusCode.INVALID_ARGUMENT


async def test_unusable_archives_are_refused_when_configured(archiving) -> None:
    client = await Client.connect(archiving.address)
    cases = [
        ("ftp://bucket/x", "scheme"),
        ("s3://no-such-bucket-for-orrery/x", "cannot be used"),
        ("file://relative/path", "absolute"),
    ]
    for uri, words in cases:
        name = new_id("bad")
        with pytest.raises(RPCError) as err:
            await client.workflow_service.register_namespace(
                RegisterNamespaceRequest(
                    namespace=name,
                    workflow_execution_retention_period=Duration(seconds=3600),
                    history_archival_state=ArchivalState.ARCHIVAL_STATE_ENABLED,
                    history_archival_uri=uri,
                )
            )
        assert err.value.status == RPCStatusCode.INVALID_ARGUMENT, uri
        assert "HistoryArchivalUri" in err.value.message and words in err.value.message, err.value.message
        # Nothing was created.
        with pytest.raises(RPCError) as missing:
            await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=name))
        assert missing.value.status == RPCStatusCode.NOT_FOUND

    # Enabling archival later on a bucket that does not exist is refused and
    # changes nothing.
    name = new_id("later")
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace=name, workflow_execution_retention_period=Duration(seconds=3600))
    )
    with pytest.raises(RPCError) as err:
        await client.workflow_service.update_namespace(
            UpdateNamespaceRequest(
                namespace=name,
                config=NamespaceConfig(
                    visibility_archival_state=ArchivalState.ARCHIVAL_STATE_ENABLED,
                    visibility_archival_uri="s3://no-such-bucket-for-orrery/v",
                ),
            )
        )
    assert err.value.status == RPCStatusCode.INVALID_ARGUMENT
    assert "VisibilityArchivalUri" in err.value.message
    desc = await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=name))
    assert desc.config.visibility_archival_state == ArchivalState.ARCHIVAL_STATE_DISABLED
    assert desc.config.visibility_archival_uri == ""
    # Without an archive, ListArchivedWorkflowExecutions says so.
    with pytest.raises(RPCError) as err:
        await client.workflow_service.list_archived_workflow_executions(
            ListArchivedWorkflowExecutionsRequest(namespace=name)
        )
    assert err.value.status == RPCStatusCode.INVALID_ARGUMENT


async def test_an_s3_outage_delays_archival_and_loses_nothing(archiving, moto) -> None:
    prefix = new_id("outage")
    client, _ = await _namespace(archiving, retention_s=3600, prefix=prefix)
    count = 8
    moto.stop()
    try:
        async with run_worker(client, workflows=[QuickWorkflow]) as w:
            started = time.monotonic()
            for i in range(count):
                # Workflows run and complete while S3 is down.
                assert await client.execute_workflow(QuickWorkflow.run, i, id=new_id(), task_queue=w.task_queue) == i
            assert time.monotonic() - started < 20
        await asyncio.sleep(2)
    finally:
        moto.start()
    # Back up (empty: moto keeps its state in memory): the retried uploads land.
    await wait_for(
        lambda: len([k for k in moto.keys(prefix) if k.endswith(".history")]) == count,
        timeout=90,
        interval=0.5,
    )


@pytest.mark.durability
async def test_kill_9_during_uploads_archives_every_history_once(archiving, moto) -> None:
    prefix = new_id("kill")
    client, _ = await _namespace(archiving, retention_s=3600, prefix=prefix)
    count = 30
    async with run_worker(client, workflows=[QuickWorkflow]) as w:
        handles = [
            await client.start_workflow(QuickWorkflow.run, i, id=new_id(), task_queue=w.task_queue)
            for i in range(count)
        ]
        for h in handles:
            await h.result()
    # Uploads are under way (or some done): kill the server mid-stream.
    archiving.kill9()
    await archiving.start()
    await wait_for(
        lambda: len([k for k in moto.keys(prefix) if k.endswith(".history")]) == count,
        timeout=60,
        interval=0.5,
    )
    keys = [k for k in moto.keys(prefix) if k.endswith(".history")]
    assert len(set(keys)) == count
    for key in keys:
        events = History.FromString(moto.s3().get_object(Bucket=BUCKET, Key=key)["Body"].read()).events
        assert events[-1].event_type == 2  # EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    # Retention is an hour: the runs themselves are still there.
    assert (await event_types(handles[0]))[-1] == "WORKFLOW_EXECUTION_COMPLETED"


async def test_orrery_dev_archives_to_its_data_directory_by_default(archiving) -> None:
    client = await Client.connect(archiving.address)
    name = new_id("default-archive")
    request = RegisterNamespaceRequest(
        namespace=name,
        workflow_execution_retention_period=Duration(seconds=3600),
        history_archival_state=ArchivalState.ARCHIVAL_STATE_ENABLED,
    )
    if archiving.database_url:
        # `orrery cell` has no default archive unless given --archive-uri.
        with pytest.raises(RPCError) as err:
            await client.workflow_service.register_namespace(request)
        assert err.value.status == RPCStatusCode.INVALID_ARGUMENT
        assert "no default archive" in err.value.message
        return
    await client.workflow_service.register_namespace(request)
    desc = await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=name))
    assert desc.config.history_archival_state == ArchivalState.ARCHIVAL_STATE_ENABLED
    assert desc.config.history_archival_uri.startswith("file:///")
    assert desc.config.history_archival_uri.endswith("/data/archive")
