"""Temporal's HTTP API (JSON over HTTP/1.1), side by side: the same requests
against the real dev server's `--http-port` and Orrery's `--http-api-addr`
must give the same status codes, Content-Types and equivalent JSON.

Both servers are this module's own (the session's shared pair starts the real
server without an HTTP port). Workflow ids and task queues are the same on
both servers, so only server-made values need normalising: UUIDs (run ids,
request ids), times, task ids, identities and page tokens (`_norm`). A field
only one server fills is a difference unless the test names it in
`one_sided`, with the reason beside it.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from temporalio import workflow
from temporalio.client import Client
from temporalio.common import RawValue

from conftest import SERVER_NAMES, SideBySideServer, harness
from helpers import run_worker

TYPES = "type.googleapis.com/temporal.api.errordetails.v1."
NS = "/api/v1/namespaces/default"
WF = f"{NS}/workflows"
SUFFIX = uuid.uuid4().hex[:8]
TQ = f"sbs-http-{SUFFIX}"
NOBODY_TQ = f"sbs-http-nobody-{SUFFIX}"


def wid(name: str) -> str:
    return f"http-{name}-{SUFFIX}"


@workflow.defn(dynamic=True)
class HttpEcho:
    """Waits for a `finish` signal, then returns how many arguments it got;
    the query `q` answers with its arguments' count, any other query fails."""

    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self, args: Sequence[RawValue]) -> Any:
        await workflow.wait_condition(lambda: self.done)
        return {"echo": len(args)}

    @workflow.signal(dynamic=True)
    def sig(self, name: str, args: Sequence[RawValue]) -> None:
        if name == "finish":
            self.done = True

    @workflow.query(dynamic=True)
    def q(self, name: str, args: Sequence[RawValue]) -> Any:
        if name != "q":
            raise RuntimeError(f"unknown query {name}")
        return {"nargs": len(args), "x": 1}


class HttpServer(SideBySideServer):
    """A server of the shared kind with its HTTP API on a port of its own."""

    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.api_port = harness.free_port()
        # Orrery's command line names it (see the e2e harness).
        self.http_api_port = self.api_port
        self.base = ("127.0.0.1", self.api_port)

    def command(self) -> list[str]:
        if self.target == "real":
            return super().command() + ["--http-port", str(self.api_port)]
        return super().command()


@dataclass
class Resp:
    status: int
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw)

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")


def _request(base: tuple[str, int], method: str, path: str, body: bytes | None,
             headers: dict[str, str]) -> Resp:
    conn = http.client.HTTPConnection(*base, timeout=60)
    try:
        # http.client sends the path as given: `//` and `..` reach the server.
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        return Resp(resp.status, {k.lower(): v for k, v in resp.getheaders()}, raw)
    finally:
        conn.close()


@dataclass
class Side:
    name: str
    server: HttpServer
    client: Client

    async def call(self, method: str, path: str, body: Any = None, *,
                   raw: bytes | None = None, headers: dict[str, str] | None = None) -> Resp:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        hdrs = dict(headers or {})
        if data is not None:
            hdrs.setdefault("Content-Type", "application/json")
        return await asyncio.to_thread(_request, self.server.base, method, path, data, hdrs)


@pytest_asyncio.fixture(scope="module")
async def sides():
    servers = {name: HttpServer(name) for name in SERVER_NAMES}
    try:
        await asyncio.gather(*(s.start() for s in servers.values()))
        clients = {n: await Client.connect(s.address, namespace="default") for n, s in servers.items()}
        result = {n: Side(n, servers[n], clients[n]) for n in SERVER_NAMES}
        workers = [run_worker(clients[n], workflows=[HttpEcho], task_queue=TQ) for n in SERVER_NAMES]
        for w in workers:
            await w.__aenter__()
        try:
            yield result
        finally:
            for w in workers:
                await w.__aexit__(None, None, None)
    finally:
        for s in servers.values():
            s.cleanup()


async def both(sides: dict[str, Side], method: str, path: str, body: Any = None,
               **kw: Any) -> dict[str, Resp]:
    got = await asyncio.gather(*(sides[n].call(method, path, body, **kw) for n in SERVER_NAMES))
    return dict(zip(SERVER_NAMES, got))


# --------------------------------------------------------------------------- #
# Normalising and comparing
# --------------------------------------------------------------------------- #
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
# The SDK worker's sticky task queue: `<pid>@<host>-<uuid hex>`, one per worker.
STICKY_RE = re.compile(r"^\d+@.+-[0-9a-f]{32}$")
# Server-made values, compared by presence only.
VOLATILE = {"taskId", "identity", "nextPageToken", "requestId", "eventTime", "startTime",
            "closeTime", "executionTime", "historySizeBytes", "stateTransitionCount",
            "executionDuration", "lastUpdateTime", "stackTrace",
            # Made by the SDK worker (flags in its own order, its build id).
            "sdkMetadata", "workerVersion"}


def _norm(value: Any, key: str = "") -> Any:
    if key in VOLATILE:
        return "<v>"
    if isinstance(value, dict):
        return {k: _norm(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_norm(v) for v in value]
    if isinstance(value, str):
        if TIME_RE.match(value):
            return "<time>"
        if STICKY_RE.match(value):
            return "<sticky>"
        return UUID_RE.sub("<uuid>", value)
    return value


def differences(real: Any, orrery: Any, one_sided: set[str], path: str = "") -> list[str]:
    """Every place the normalised documents differ. An entry of `one_sided`
    (a key, or the end of a dotted path such as `workflowExecutionInfo.memo`)
    may be missing on either side; it is compared where both have it."""
    out: list[str] = []
    if isinstance(real, dict) and isinstance(orrery, dict):
        for k in sorted(set(real) | set(orrery)):
            here = f"{path}.{k}"
            if k in real and k in orrery:
                out += differences(real[k], orrery[k], one_sided, here)
            elif not any(here.endswith("." + entry) for entry in one_sided):
                side = "real" if k in real else "orrery"
                out.append(f"{path}.{k}: only {side} has it: {(real if k in real else orrery)[k]!r}")
    elif isinstance(real, list) and isinstance(orrery, list):
        if len(real) != len(orrery):
            out.append(f"{path}: {len(real)} items (real) vs {len(orrery)} (orrery)")
        for i, (r, o) in enumerate(zip(real, orrery)):
            out += differences(r, o, one_sided, f"{path}[{i}]")
    elif real != orrery:
        out.append(f"{path}: real={real!r} orrery={orrery!r}")
    return out


def assert_same(got: dict[str, Resp], *, one_sided: Sequence[str] = (), status: int | None = None,
                content_type: str | None = "*") -> None:
    real, orrery = got["real"], got["orrery"]
    context = f"\nreal: {real.status} {real.raw[:600]!r}\norrery: {orrery.status} {orrery.raw[:600]!r}"
    assert real.status == orrery.status, context
    if status is not None:
        assert real.status == status, context
    if content_type is not None:
        assert (real.content_type, orrery.content_type) == (content_type, content_type), context
    diffs = differences(_norm(real.json), _norm(orrery.json), set(one_sided))
    assert not diffs, "\n".join(diffs) + context


def assert_error(got: dict[str, Resp], status: int, code: int, detail: str | None = None,
                 message: str | None = None, one_sided: Sequence[str] = ()) -> None:
    """Same status, gRPC code and error-detail type (with the detail's fields
    normalised); messages only where the gateway itself writes them."""
    for name, resp in got.items():
        body = resp.json
        assert (resp.status, body.get("code")) == (status, code), (name, resp.status, resp.raw)
        types = [d.get("@type") for d in body.get("details", [])]
        assert types == ([TYPES + detail] if detail else []), (name, resp.raw)
        if message is not None:
            assert body["message"] == message, (name, resp.raw)
        assert resp.content_type == "*", (name, resp.headers)
    real_details = _norm(got["real"].json.get("details", []))
    orrery_details = _norm(got["orrery"].json.get("details", []))
    diffs = differences(real_details, orrery_details, set(one_sided))
    assert not diffs, (diffs, got["real"].raw, got["orrery"].raw)


# Fields of gRPC answers Orrery does not fill (yet); they are compared where
# both servers write them.
START_ONE_SIDED = (
    "link",  # StartWorkflowExecution/Signal `link` (Nexus links): Orrery leaves it unset
    "firstExecutionRunId",  # StartWorkflowExecutionResponse.first_execution_run_id: unset in Orrery
)
HISTORY_ONE_SIDED = (
    "workerVersion",  # the SDK's build id, the real server records it from the poll
    "priority",  # Orrery writes the empty Priority message as `{}`; the real server leaves it unset
    "sdkMetadata", "meteringMetadata",  # SDK/billing data outside the HTTP mapping under test
)


def start_body(workflow_type: str = "HttpEcho", tq: str = NOBODY_TQ, **extra: Any) -> dict:
    """Nobody polls NOBODY_TQ: such a history stays at its first 2 events on
    both servers; TQ has the SDK worker."""
    return {"workflowType": {"name": workflow_type}, "taskQueue": {"name": tq}, **extra}


SHORTHAND_INPUT = [
    {"a": 1, "b": [], "c": {"d": [[], {}], "e": None}},
    "x",
    None,
    1.5,
    True,
    [],
    {"_protoMessageType": "temporal.api.common.v1.WorkflowType", "name": "n"},
]


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


FULL_FORM_INPUT = {"payloads": [
    {"metadata": {"encoding": _b64("binary/plain")}, "data": _b64("hi")},
    {"metadata": {"encoding": _b64("json/plain"), "foo": _b64("bar")}, "data": _b64('{"z":1}')},
    {"metadata": {"encoding": _b64("json/protobuf"),
                  "messageType": _b64("temporal.api.common.v1.WorkflowType")},
     "data": _b64('{"name":"n"}')},
    {"metadata": {"encoding": _b64("binary/null")}},
    {"k": "shorthand-inside-payloads"},
]}


async def start_both(sides: dict[str, Side], name: str, body: dict | None = None) -> dict[str, Resp]:
    got = await both(sides, "POST", f"{WF}/{wid(name)}", body or start_body())
    assert_same(got, status=200, one_sided=START_ONE_SIDED)
    return got


async def history(sides, name: str, query: str = "", **kw) -> dict[str, Resp]:
    return await both(sides, "GET", f"{WF}/{wid(name)}/history{query}", **kw)


async def settled_history(sides, name: str, event_count: int) -> dict[str, Resp]:
    """The history once both servers have at least `event_count` events."""
    for _ in range(100):
        got = await history(sides, name)
        if all(len(r.json["history"].get("events", [])) >= event_count for r in got.values()):
            return got
        await asyncio.sleep(0.1)
    raise AssertionError(f"history of {name} never reached {event_count} events: {got}")


# --------------------------------------------------------------------------- #
# Start, history and payload shorthand
# --------------------------------------------------------------------------- #
async def test_start_with_shorthand_input_and_history(sides):
    body = start_body(input=SHORTHAND_INPUT, memo={"fields": {"m1": {"k": []}}},
                      header={"fields": {"h1": "hv"}}, workflowRunTimeout="100s")
    await start_both(sides, "short", body)
    got = await settled_history(sides, "short", 2)
    assert_same(got, one_sided=HISTORY_ONE_SIDED)
    attrs = got["real"].json["history"]["events"][0]["workflowExecutionStartedEventAttributes"]
    # What the real server makes of the shorthand (so both are checked against it):
    # empty arrays become null (a top-level [] is stored as json/plain `null`, so
    # written back like binary/null), null becomes binary/null, _protoMessageType is kept.
    binary_null = {"metadata": {"encoding": _b64("binary/null")}}
    assert attrs["input"] == [
        {"a": 1, "b": None, "c": {"d": [None, {}], "e": None}}, "x",
        binary_null, 1.5, True, binary_null,
        {"_protoMessageType": "temporal.api.common.v1.WorkflowType", "name": "n"},
    ]
    assert attrs["memo"] == {"fields": {"m1": {"k": None}}}


async def test_start_with_null_input(sides):
    await start_both(sides, "null-input", start_body(input=None))
    got = await settled_history(sides, "null-input", 2)
    assert_same(got, one_sided=HISTORY_ONE_SIDED)
    attrs = got["real"].json["history"]["events"][0]["workflowExecutionStartedEventAttributes"]
    assert "input" not in attrs


async def test_start_with_full_form_payloads(sides):
    await start_both(sides, "full", start_body(input=FULL_FORM_INPUT))
    shorthand = await settled_history(sides, "full", 2)
    assert_same(shorthand, one_sided=HISTORY_ONE_SIDED)
    started = shorthand["real"].json["history"]["events"][0]
    payloads = started["workflowExecutionStartedEventAttributes"]["input"]["payloads"]
    assert payloads[2] == {"_protoMessageType": "temporal.api.common.v1.WorkflowType", "name": "n"}
    assert payloads[4] == {"k": "shorthand-inside-payloads"}
    full = await history(sides, "full", "?noPayloadShorthand")
    assert_same(full, content_type="application/json+no-payload-shorthand",
                one_sided=HISTORY_ONE_SIDED)


async def test_history_content_types(sides):
    await start_both(sides, "ctype")
    await settled_history(sides, "ctype", 2)
    plain = await history(sides, "ctype")
    assert_same(plain, one_sided=HISTORY_ONE_SIDED, content_type="*")
    accept = await history(sides, "ctype", "",
                           headers={"Accept": "application/json+no-payload-shorthand"})
    assert_same(accept, one_sided=HISTORY_ONE_SIDED,
                content_type="application/json+no-payload-shorthand")
    pretty = await history(sides, "ctype", "?pretty")
    assert_same(pretty, one_sided=HISTORY_ONE_SIDED, content_type="application/json+pretty")
    pretty_full = await history(sides, "ctype", "?pretty&noPayloadShorthand")
    assert_same(pretty_full, one_sided=HISTORY_ONE_SIDED,
                content_type="application/json+pretty+no-payload-shorthand")
    for name in SERVER_NAMES:
        assert pretty[name].raw.startswith(b'{\n  "history": {\n    "events": [\n'), name
        assert not plain[name].raw.endswith(b"\n") and b"\n" not in plain[name].raw, name


# --------------------------------------------------------------------------- #
# Signal, query, describe, list, count, terminate
# --------------------------------------------------------------------------- #
async def test_signal_query_describe_and_complete(sides):
    await start_both(sides, "life", start_body(input=["one"], tq=TQ))
    # Started, task scheduled, started, completed: then it waits for `finish`.
    await settled_history(sides, "life", 4)
    query = await both(sides, "POST", f"{WF}/{wid('life')}/query/q",
                       {"query": {"queryType": "q", "queryArgs": ["a", "b"]}})
    assert_same(query, status=200)
    assert query["real"].json == {"queryResult": [{"nargs": 2, "x": 1}]}
    full = await both(sides, "POST", f"{WF}/{wid('life')}/query/q?noPayloadShorthand",
                      {"query": {"queryType": "q"}})
    assert_same(full, status=200, content_type="application/json+no-payload-shorthand")
    failed = await both(sides, "POST", f"{WF}/{wid('life')}/query/nope", {"query": {"queryType": "nope"}})
    assert_error(failed, 400, 3, "QueryFailedFailure")

    described = await both(sides, "GET", f"{WF}/{wid('life')}")
    assert_same(described, status=200, one_sided=DESCRIBE_ONE_SIDED)
    info = described["real"].json["workflowExecutionInfo"]
    assert info["status"] == "WORKFLOW_EXECUTION_STATUS_RUNNING"

    signal = await both(sides, "POST", f"{WF}/{wid('life')}/signal/note", {"input": ["hi"]})
    assert_same(signal, status=200, one_sided=START_ONE_SIDED)
    done = await both(sides, "POST", f"{WF}/{wid('life')}/signal/finish", {"input": ["bye"]})
    assert_same(done, status=200, one_sided=START_ONE_SIDED)
    close = None
    for _ in range(100):
        close = await history(sides, "life",
                              "?historyEventFilterType=HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT",
                              headers={"Grpc-Timeout": "10S"})
        if all(r.json["history"].get("events") for r in close.values()):
            break
    assert_same(close, status=200)
    event = close["real"].json["history"]["events"][0]
    assert event["workflowExecutionCompletedEventAttributes"]["result"] == [{"echo": 1}]
    whole = await history(sides, "life")
    assert_same(whole, one_sided=HISTORY_ONE_SIDED)
    described = await both(sides, "GET", f"{WF}/{wid('life')}")
    # WorkflowExecutionInfo.execution_duration of a closed run: unset in Orrery.
    assert_same(described, status=200,
                one_sided=[*DESCRIBE_ONE_SIDED, "workflowExecutionInfo.executionDuration"])
    closed = described["orrery"].json["workflowExecutionInfo"]
    assert closed["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED"


# DescribeWorkflowExecution fields the gRPC answers fill differently (not the
# HTTP mapping: the same holds over gRPC).
DESCRIBE_ONE_SIDED = (
    *HISTORY_ONE_SIDED,
    "mostRecentWorkerVersionStamp",  # build-id versioning data (the SDK's build id)
    "assignedBuildId", "inheritedBuildId",
    # The real server writes these as set-but-empty messages ({}); Orrery leaves them unset.
    # (Its searchAttributes also hold the BuildIds versioning attribute.)
    "workflowExecutionInfo.memo", "workflowExecutionInfo.searchAttributes",
    "workflowExecutionInfo.autoResetPoints",
    # WorkflowExecutionExtendedInfo.request_id_infos / run_expiration_time: unset in Orrery.
    "workflowExtendedInfo.requestIdInfos", "workflowExtendedInfo.runExpirationTime",
)


async def test_list_and_count_with_a_query(sides):
    await start_both(sides, "listed")  # running, nobody polls its task queue
    query = f"WorkflowId='{wid('listed')}'"
    from urllib.parse import quote

    listed = counted = None
    for _ in range(100):
        listed = await both(sides, "GET", f"{WF}?query={quote(query)}&pageSize=5")
        counted = await both(sides, "GET", f"{NS}/workflow-count?query={quote(query)}")
        if all(r.json.get("executions") for r in listed.values()) and all(
                r.json.get("count") == "1" for r in counted.values()):
            break
        await asyncio.sleep(0.1)
    assert_same(listed, status=200, one_sided=LIST_ONE_SIDED)
    assert_same(counted, status=200)
    assert counted["real"].json == {"count": "1"}
    nothing = await both(sides, "GET", f"{WF}?query={quote(query + ' AND WorkflowType=' + repr('Nope'))}")
    assert_same(nothing, status=200)
    assert nothing["real"].json == {}
    bad = await both(sides, "GET", f"{WF}?query=foo%20%3D%3D")
    assert_error(bad, 400, 3)


# Visibility records: for a running execution the real server leaves the
# history length/size and transition count unset, Orrery fills them; the real
# server writes an empty memo as {}, Orrery leaves it unset.
LIST_ONE_SIDED = (
    "executions[0].historyLength", "executions[0].historySizeBytes",
    "executions[0].stateTransitionCount", "executions[0].memo",
    # Orrery's records carry firstRunId, the real one's do not; the real server
    # writes empty searchAttributes as {}.
    "executions[0].firstRunId", "executions[0].searchAttributes",
)


async def test_terminate(sides):
    await start_both(sides, "term")
    got = await both(sides, "POST", f"{WF}/{wid('term')}/terminate", {"reason": "http"})
    assert_same(got, status=200)
    assert got["real"].json == {}
    close = await history(sides, "term", "?historyEventFilterType=2")
    # The real server records identity "frontend-service" for a request that
    # names none (its handler does, over gRPC too); Orrery records none.
    assert_same(close, status=200, one_sided=["workflowExecutionTerminatedEventAttributes.identity"])
    event = close["real"].json["history"]["events"][0]
    assert event["workflowExecutionTerminatedEventAttributes"]["reason"] == "http"
    again = await both(sides, "POST", f"{WF}/{wid('term')}/terminate", {"reason": "again"})
    assert_error(again, 404, 5, "NotFoundFailure")


# --------------------------------------------------------------------------- #
# Errors
# --------------------------------------------------------------------------- #
async def test_unknown_workflow(sides):
    got = await both(sides, "GET", f"{WF}/nope-{SUFFIX}")
    assert_error(got, 404, 5, "NotFoundFailure")
    signal = await both(sides, "POST", f"{WF}/nope-{SUFFIX}/signal/s", {})
    assert_error(signal, 404, 5, "NotFoundFailure")


async def test_start_twice(sides):
    await start_both(sides, "twice")
    got = await both(sides, "POST", f"{WF}/{wid('twice')}", start_body(requestId=str(uuid.uuid4())))
    # Orrery's detail carries the running run's id only: its gRPC error leaves
    # startRequestId and firstExecutionRunId empty (data-plane/core error.rs).
    assert_error(got, 409, 6, "WorkflowExecutionAlreadyStartedFailure",
                 one_sided=["startRequestId", "firstExecutionRunId"])
    for name, resp in got.items():
        assert resp.json["details"][0]["runId"] == got[name].json["details"][0]["runId"]
    assert "runId" in got["orrery"].json["details"][0]


async def test_enum_shorthand_and_bad_enum(sides):
    await start_both(sides, "enum")
    for value in ("UseExisting", "use_existing", "WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING", 2):
        got = await both(sides, "POST", f"{WF}/{wid('enum')}",
                         start_body(workflowIdConflictPolicy=value, requestId=str(uuid.uuid4())))
        assert_same(got, status=200, one_sided=START_ONE_SIDED)
        # The running execution is used: `started` is false, so omitted.
        assert "started" not in got["real"].json, got["real"].raw
    bad = await both(sides, "POST", f"{WF}/{wid('enum')}", start_body(workflowIdConflictPolicy="Bogus"))
    assert_error(bad, 400, 3)


async def test_unknown_namespace(sides):
    got = await both(sides, "GET", f"/api/v1/namespaces/nope-ns-{SUFFIX}/workflows/x")
    assert_error(got, 404, 5, "NamespaceNotFoundFailure")
    assert got["orrery"].json["details"][0]["namespace"] == f"nope-ns-{SUFFIX}"


@pytest.mark.parametrize("name,raw", [
    ("unknown_field", b'{"workflowType":{"name":"HttpEcho"},"bogusField":1}'),
    ("duplicate_field", b'{"workflowType":{"name":"HttpEcho"},"workflowType":{"name":"HttpEcho"}}'),
    ("invalid_json", b'{"workflowType":'),
    ("not_an_object", b"[1]"),
    ("bad_duration", b'{"workflowType":{"name":"HttpEcho"},"workflowRunTimeout":"10"}'),
    ("string_as_payloads", b'{"workflowType":{"name":"HttpEcho"},"input":"x"}'),
])
async def test_rejected_bodies(sides, name, raw):
    got = await both(sides, "POST", f"{WF}/{wid('bad-' + name)}", raw=raw)
    assert_error(got, 400, 3)


async def test_body_over_four_mib(sides):
    raw = b'{"identity":"' + b"a" * (4 * 1024 * 1024 + 100) + b'"}'
    got = await both(sides, "POST", f"{WF}/{wid('big')}", raw=raw)
    assert_error(got, 400, 3)


async def test_invalid_grpc_timeout(sides):
    got = await both(sides, "GET", f"{WF}/nope-{SUFFIX}", headers={"Grpc-Timeout": "abc"})
    assert_error(got, 400, 3, message="invalid grpc-timeout: abc")


# --------------------------------------------------------------------------- #
# Routing
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("path", ["/api/v1/nope", "/", f"{NS}/", f"{WF}/a%2Fb"])
async def test_unknown_route(sides, path):
    got = await both(sides, "GET", path)
    for name, resp in got.items():
        assert (resp.status, resp.json, resp.content_type) == (404, {"code": 5, "message": "Not Found"}, "*"), name


@pytest.mark.parametrize("method,path,body", [
    ("DELETE", f"{WF}/nope", None),
    ("PUT", NS, None),
    ("POST", f"{WF}/nope/history", b"{}"),
])
async def test_wrong_method(sides, method, path, body):
    got = await both(sides, method, path, raw=body)
    for name, resp in got.items():
        assert (resp.status, resp.json) == (501, {"code": 12, "message": "Method Not Allowed"}), name


async def test_unclean_paths_redirect(sides):
    for path, location in (("/api//v1/namespaces/default", "/api/v1/namespaces/default"),
                           (f"{WF}/x/../y", f"{WF}/y")):
        got = await both(sides, "GET", path)
        for name, resp in got.items():
            assert resp.status == 301, (name, path, resp.status, resp.raw)
            assert resp.headers.get("location") == location, (name, resp.headers)
            assert resp.raw == b"", name


async def test_form_post_to_a_get_route_is_the_get(sides):
    await start_both(sides, "form")
    await both(sides, "POST", f"{WF}/{wid('form')}/terminate", {"reason": "form"})
    got = await both(sides, "POST", f"{WF}/{wid('form')}/history",
                     raw=b"historyEventFilterType=HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT",
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_same(got, status=200, one_sided=["workflowExecutionTerminatedEventAttributes.identity"])
    # The form's value was applied: only the close event.
    events = got["real"].json["history"]["events"]
    assert [e["eventType"] for e in events] == ["EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED"]


async def test_query_parameters(sides):
    started = await start_both(sides, "params")
    await settled_history(sides, "params", 2)
    await both(sides, "POST", f"{WF}/{wid('params')}/terminate", {"reason": "params"})
    # (No maximumPageSize=1 below: the real server pages by event batch, so its
    # first page of 1 holds events 1-2; Orrery's holds event 1 only. That is
    # GetWorkflowExecutionHistory's paging, the same over gRPC.)
    by_run = await asyncio.gather(*(
        sides[n].call("GET", f"{WF}/{wid('params')}/history?execution.runId="
                      f"{started[n].json['runId']}&maximum_page_size=100")
        for n in SERVER_NAMES))
    assert_same(dict(zip(SERVER_NAMES, by_run)), status=200,
                one_sided=[*HISTORY_ONE_SIDED, "workflowExecutionTerminatedEventAttributes.identity"])
    unknown_run = await both(sides, "GET", f"{WF}/{wid('params')}?execution.runId={uuid.uuid4()}")
    assert_error(unknown_run, 404, 5, "NotFoundFailure")
    repeated = await history(sides, "params", "?maximumPageSize=1&maximumPageSize=2")
    assert_error(repeated, 400, 3)
    by_number = await history(sides, "params", "?historyEventFilterType=2")
    assert_same(by_number, status=200, one_sided=["workflowExecutionTerminatedEventAttributes.identity"])
    assert by_number["real"].json["history"]["events"][0]["eventType"] == \
        "EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED"
    # In the query string only the full enum name or a number is accepted.
    shorthand = await history(sides, "params", "?historyEventFilterType=CloseEvent")
    assert_error(shorthand, 400, 3)
    bad_int = await history(sides, "params", "?maximumPageSize=abc")
    assert_error(bad_int, 400, 3)
    ignored = await history(sides, "params", "?maximumPageSize=100&bogus=1")
    assert_same(ignored, status=200,
                one_sided=[*HISTORY_ONE_SIDED, "workflowExecutionTerminatedEventAttributes.identity"])


@pytest.mark.parametrize("path,marker", [("/swagger.json", b'"swagger"'), ("/openapi.yaml", b"openapi:")])
async def test_api_documents(sides, path, marker):
    got = await both(sides, "GET", path)
    for name, resp in got.items():
        assert resp.status == 200, (name, resp.status)
        assert marker in resp.raw[:400], (name, resp.raw[:200])


async def test_options_preflight_without_cors(sides):
    """The real server has no CORS: a preflight is a wrong method (501 code 12).
    `orrery dev` allows its console's origin, so a CORS layer answers every
    OPTIONS itself: 200, empty body, Access-Control-Allow-Methods/-Headers/
    -Max-Age, but no Access-Control-Allow-Origin for an origin nobody allowed.
    Asserted is what a browser acts on, the same on both: no
    Access-Control-Allow-Origin, so the cross-origin call is refused. (A cell
    without allowed origins answers 501 as the real server:
    tests/e2e/test_http_api.py.)"""
    headers = {"Origin": "http://unrelated.example", "Access-Control-Request-Method": "POST"}
    got = await both(sides, "OPTIONS", f"{WF}/x", headers=headers)
    real = got["real"]
    assert (real.status, real.json) == (501, {"code": 12, "message": "Method Not Allowed"})
    for name, resp in got.items():
        assert "access-control-allow-origin" not in resp.headers, (name, resp.headers)
    # A plain GET from that origin is served, without ACAO, on both.
    simple = await both(sides, "GET", "/api/v1/system-info", headers={"Origin": "http://unrelated.example"})
    for name, resp in simple.items():
        assert resp.status == 200 and "access-control-allow-origin" not in resp.headers, (name, resp.headers)


async def test_alternative_binding_and_snake_case(sides):
    await start_both(sides, "alt", {"workflow_type": {"name": "HttpEcho"}, "task_queue": {"name": NOBODY_TQ}})
    got = await both(sides, "GET", f"/namespaces/default/workflows/{wid('alt')}")
    assert_same(got, status=200, one_sided=DESCRIBE_ONE_SIDED)
