"""Traces: with OTEL_EXPORTER_OTLP_ENDPOINT set, Orrery exports a span per RPC
(named for the RPC, with its namespace and workflow id) and per background task
over OTLP/HTTP, continuing the caller's W3C trace context; without it, nothing
is sent. A minimal OTLP/HTTP receiver here decodes what arrives with the
OpenTelemetry protobuf definitions.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from temporalio import workflow
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from conftest import Server, e2e_target
from helpers import new_id, run_worker

pytestmark = pytest.mark.skipif(
    e2e_target() != "orrery", reason="Orrery's own trace export: it starts its own server"
)

OTEL_VARS = [name for name in os.environ if name.startswith("OTEL_")]


class Receiver:
    """An OTLP/HTTP trace receiver: keeps every decoded export request."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self.paths: list[str] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                with receiver.lock:
                    receiver.paths.append(self.path)
                    receiver.requests.append(request)
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.http.server_address[1]}"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def spans(self) -> list[tuple[dict[str, str], Span]]:
        """Every span received, with its resource's attributes."""
        with self.lock:
            requests = list(self.requests)
        out = []
        for request in requests:
            for resource_spans in request.resource_spans:
                resource = attributes(resource_spans.resource.attributes)
                for scope_spans in resource_spans.scope_spans:
                    out.extend((resource, span) for span in scope_spans.spans)
        return out

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


def attributes(kvs) -> dict[str, str]:
    return {kv.key: kv.value.string_value for kv in kvs}


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def otel_env(monkeypatch):
    """A clean OTEL_* environment for the server this test starts (it
    inherits the test's environment)."""
    for name in OTEL_VARS:
        monkeypatch.delenv(name)
    return monkeypatch


@workflow.defn
class Napper:
    @workflow.run
    async def run(self, name: str) -> str:
        # A user timer: a background timer task for this workflow.
        await asyncio.sleep(0.3)
        return f"rested {name}"


async def run_traced_workflow(server: Server, traceparent: str | None) -> str:
    """Runs one workflow, its start carrying `traceparent` (a worker on its
    own client carries none), and asks after a workflow that does not exist.
    Returns the workflow id."""
    client = await Client.connect(server.address, namespace="default")
    workflow_id = new_id("traced")
    async with run_worker(client, workflows=[Napper]) as worker:
        metadata = {"traceparent": traceparent} if traceparent else {}
        handle = await client.start_workflow(
            Napper.run,
            "x",
            id=workflow_id,
            task_queue=worker.task_queue,
            rpc_metadata=metadata,
        )
        assert await handle.result() == "rested x"
    with pytest.raises(RPCError) as missing:
        await client.get_workflow_handle(new_id("missing")).describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND
    return workflow_id


async def test_rpc_and_background_spans_are_exported_in_the_callers_trace(receiver, otel_env):
    otel_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    otel_env.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    traceparent = f"00-{trace_id}-{parent_id}-01"
    server = Server("orrery", dev_args=[])
    try:
        await server.start()
        workflow_id = await run_traced_workflow(server, traceparent)

        def ours(name: str) -> list[tuple[dict[str, str], Span]]:
            return [
                (resource, span)
                for resource, span in receiver.spans()
                if span.name == name
                and attributes(span.attributes).get("workflow_id") == workflow_id
            ]

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (
            ours("StartWorkflowExecution")
            and ours("GetWorkflowExecutionHistory")
            and (ours("timer") or ours("transfer"))
            and any(s.name == "DescribeWorkflowExecution" for _, s in receiver.spans())
        ):
            await asyncio.sleep(0.1)
    finally:
        server.cleanup()

    assert all(path == "/v1/traces" for path in receiver.paths), receiver.paths
    [(resource, start)] = ours("StartWorkflowExecution")
    assert resource.get("service.name") == "orrery", resource
    assert attributes(start.attributes)["rpc"] == "StartWorkflowExecution"
    assert attributes(start.attributes)["namespace"] == "default"
    assert start.kind == Span.SPAN_KIND_SERVER
    # The caller's trace continues: same trace, the caller's span the parent.
    assert start.trace_id.hex() == trace_id
    assert start.parent_span_id.hex() == parent_id
    assert start.status.code != Status.STATUS_CODE_ERROR

    # The result's history reads: the same attributes, in traces of their own
    # (that call carried no traceparent).
    history = ours("GetWorkflowExecutionHistory")
    assert history, "no GetWorkflowExecutionHistory span for the workflow"
    for _, span in history:
        attrs = attributes(span.attributes)
        assert attrs["rpc"] == "GetWorkflowExecutionHistory"
        assert attrs["namespace"] == "default"
        assert span.trace_id.hex() != trace_id
        assert span.parent_span_id == b""

    # The worker's calls: a span each, with the namespace.
    polls = [s for _, s in receiver.spans() if s.name == "PollWorkflowTaskQueue"]
    assert polls and all(attributes(s.attributes)["namespace"] == "default" for s in polls)
    # A worker's call by task token: the token's workflow.
    assert ours("RespondWorkflowTaskCompleted")

    # A failed call's span says so, with the gRPC code.
    [describe] = [s for _, s in receiver.spans() if s.name == "DescribeWorkflowExecution"]
    assert describe.status.code == Status.STATUS_CODE_ERROR
    assert describe.status.message == "NotFound"

    # Background work on the workflow (its timer, its task dispatch).
    background = ours("timer") + ours("transfer")
    assert background, "no timer or transfer span for the workflow"
    # Each a trace of its own, not the child of a task loop's endless span.
    assert all(span.parent_span_id == b"" for _, span in background)


async def test_nothing_is_sent_without_an_endpoint(receiver, otel_env):
    # Everything else as above: only the endpoint is missing.
    otel_env.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
    otel_env.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1000")
    server = Server("orrery", dev_args=[])
    try:
        await server.start()
        await run_traced_workflow(server, f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01")
        # Well past the batch delay, then a graceful stop (which flushes
        # whatever an exporter would hold).
        await asyncio.sleep(1)
    finally:
        server.cleanup()
    assert receiver.requests == []


async def test_a_collector_that_is_down_costs_nothing(otel_env):
    # An endpoint where nothing listens: the calls are answered as usual.
    closed = Receiver()
    endpoint = closed.endpoint
    closed.close()
    otel_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    otel_env.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
    server = Server("orrery", dev_args=[])
    try:
        await server.start()
        started = time.monotonic()
        await run_traced_workflow(server, None)
        assert time.monotonic() - started < 20
        stopping = time.monotonic()
    finally:
        server.cleanup()
    # The shutdown flush gives up within its bound (5 s), well before the
    # harness's SIGKILL at 10 s.
    assert time.monotonic() - stopping < 8
