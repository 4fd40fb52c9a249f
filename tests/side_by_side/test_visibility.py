"""Visibility side by side: the list-filter language and custom search attributes.

The same corpus of workflows (CORPUS: 18 runs of three workflow types, every
closed status plus Running, custom attributes of every type set at start,
upserted, unset or missing, a child, a continue-as-new chain, a delayed
start) is built on both servers, one run after the other so that start and
close times are strictly ordered. Then every query of QUERIES runs on both,
through ListWorkflowExecutions (all pages) and CountWorkflowExecutions, and
the answers are compared:

- the matching runs (as aliases: `a1`, `bcan/1`, ...; a multiset, or the
  exact order where the query has ORDER BY or is marked `ordered`: the
  default order is CloseTime DESC with running ones first, then StartTime
  DESC);
- the count, and the groups of `GROUP BY`;
- for errors, the gRPC status code only (never the message).

Every query is scoped to this session's corpus: QUERY_SCOPE (`SbsRun =
'<session>'`) is ANDed in front of the query's filter (`raw` queries are
sent as written; only invalid ones are). Placeholders in the filters are
filled per server: `{wid:ALIAS}`, `{run:ALIAS}` (that server's run id),
`{start:ALIAS}` / `{close:ALIAS}` (its start / close time, RFC 3339 with
nanoseconds), `{mark:ALIAS}` (a time between the end of ALIAS's setup and the
start of the next run), `{now}`, `{prefix}`, `{tq_a}`, `{tq_b}`, `{session}`.

Each query also documents what the real server answers (`expect`); the
real server is the arbiter of the comparison, the expectations only check
that the corpus was built as intended (test_real_server_semantics) and
document the semantics for whoever implements them. Where Orrery answers
differently on purpose, the query is listed in KNOWN_DIFFERENCES (strict
xfail) and Orrery's intended answer in ORRERY_INTENDED (asserted by
test_orrery_intended).

The corpus can also be built and queried on one server alone, printing each
query's answer and any difference from the documented expectation:

    cd tests/side_by_side && ../../.venv/bin/python test_visibility.py HOST:PORT
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable

_HERE = Path(__file__).resolve().parent
for _p in (str(_HERE), str(_HERE.parent / "e2e")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import pytest  # noqa: E402
import pytest_asyncio  # noqa: E402
from temporalio import workflow  # noqa: E402
from temporalio.api.common.v1 import SearchAttributes as SearchAttributesProto  # noqa: E402
from temporalio.api.enums.v1 import EventType, IndexedValueType, WorkflowExecutionStatus  # noqa: E402
from temporalio.api.operatorservice.v1 import (  # noqa: E402
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
    RemoveSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import (  # noqa: E402
    CountWorkflowExecutionsRequest,
    ListWorkflowExecutionsRequest,
)
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle  # noqa: E402
from temporalio.common import (  # noqa: E402
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
)
from temporalio.converter import default as default_converter  # noqa: E402
from temporalio.exceptions import ApplicationError  # noqa: E402
from temporalio.service import RPCError, RPCStatusCode  # noqa: E402

from helpers import poll, run_worker  # noqa: E402

# --------------------------------------------------------------------------- #
# Session identity (the same ids on both servers: they are separate servers)
# --------------------------------------------------------------------------- #
SESSION = uuid.uuid4().hex[:12]
PREFIX = f"vis-{SESSION}"
TQ = {"a": f"vis-a-{SESSION}", "b": f"vis-b-{SESSION}"}
QUERY_SCOPE = f"SbsRun = '{SESSION}'"
RPC_TIMEOUT = timedelta(seconds=20)

# Custom search attributes registered on both servers. SbsRemoved is only
# used by test_remove_search_attribute (registered, queried, removed).
CUSTOM_TYPES: dict[str, int] = {
    "SbsBool": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
    "SbsDatetime": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    "SbsDouble": IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
    "SbsInt": IndexedValueType.INDEXED_VALUE_TYPE_INT,
    "SbsKeyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "SbsKeywordList": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
    "SbsText": IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
    "SbsRun": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "SbsRemoved": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
}
KEYS: dict[str, SearchAttributeKey] = {
    "SbsBool": SearchAttributeKey.for_bool("SbsBool"),
    "SbsDatetime": SearchAttributeKey.for_datetime("SbsDatetime"),
    "SbsDouble": SearchAttributeKey.for_float("SbsDouble"),
    "SbsInt": SearchAttributeKey.for_int("SbsInt"),
    "SbsKeyword": SearchAttributeKey.for_keyword("SbsKeyword"),
    "SbsKeywordList": SearchAttributeKey.for_keyword_list("SbsKeywordList"),
    "SbsText": SearchAttributeKey.for_text("SbsText"),
    "SbsRun": SearchAttributeKey.for_keyword("SbsRun"),
    "SbsRemoved": SearchAttributeKey.for_keyword("SbsRemoved"),
}


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --------------------------------------------------------------------------- #
# The corpus
# --------------------------------------------------------------------------- #
@dataclass
class Spec:
    """One workflow of the corpus (alias = WorkflowId suffix)."""

    alias: str
    wf_type: str  # VisAlpha | VisBeta | VisParent
    tq: str  # "a" | "b"
    outcome: str  # complete | fail | terminate | cancel | timeout | running | delayed
    attrs: dict[str, Any] = field(default_factory=dict)  # at start (SbsRun is added)
    upsert: dict[str, Any] = field(default_factory=dict)  # None = unset
    sleep: float = 0.0
    can_attrs: dict[str, Any] | None = None  # continue-as-new once, with these attributes
    child: "Spec | None" = None


CHILD = Spec(
    "child", "VisAlpha", "b", "complete",
    attrs={"SbsKeyword": "child", "SbsInt": 60, "SbsKeywordList": ["x", "child"]},
)

CORPUS: list[Spec] = [
    Spec("a1", "VisAlpha", "a", "complete", attrs={
        "SbsKeyword": "red", "SbsInt": 10, "SbsDouble": 1.5, "SbsBool": True,
        "SbsDatetime": _dt("2024-01-01T00:00:00Z"), "SbsKeywordList": ["x", "y"],
        "SbsText": "the quick brown fox"}),
    Spec("a2", "VisAlpha", "a", "complete", attrs={
        "SbsKeyword": "blue", "SbsInt": 20, "SbsDouble": 2.5, "SbsBool": False,
        "SbsDatetime": _dt("2024-02-01T12:00:00Z"), "SbsKeywordList": ["y", "z"],
        "SbsText": "lazy dog sleeps all day"}),
    Spec("afail", "VisAlpha", "b", "fail", attrs={
        "SbsKeyword": "red", "SbsInt": 30, "SbsDouble": -0.5, "SbsBool": True,
        "SbsDatetime": _dt("2024-03-01T00:00:00+02:00"), "SbsKeywordList": ["x"],
        "SbsText": "quick failure"}),
    Spec("bup", "VisBeta", "a", "complete",
         attrs={"SbsKeyword": "green", "SbsInt": 5},
         upsert={"SbsInt": 40, "SbsDouble": 3.25, "SbsText": "upserted words here",
                 "SbsKeywordList": ["u1", "u2", "u3"], "SbsBool": False}),
    Spec("bterm", "VisBeta", "b", "terminate", attrs={"SbsKeyword": "blue"}),
    Spec("bcancel", "VisBeta", "a", "cancel", attrs={"SbsInt": 0, "SbsBool": False, "SbsDouble": 0.0}),
    Spec("atimeout", "VisAlpha", "a", "timeout", attrs={"SbsKeyword": "Red", "SbsDouble": 100.0}),
    Spec("bcan", "VisBeta", "a", "complete",
         attrs={"SbsKeyword": "cyan", "SbsInt": 50},
         can_attrs={"SbsKeyword": "magenta", "SbsInt": 51}),
    Spec("parent", "VisParent", "a", "complete",
         attrs={"SbsKeyword": "parent", "SbsText": "parent of one child"}, child=CHILD),
    Spec("arun", "VisAlpha", "a", "running", attrs={
        "SbsKeyword": "red", "SbsInt": 70, "SbsDouble": 7.0, "SbsBool": True,
        "SbsDatetime": _dt("2025-06-15T08:30:00Z"), "SbsKeywordList": ["x", "z"],
        "SbsText": "still running fox"}),
    Spec("brun", "VisBeta", "b", "running",
         attrs={"SbsKeyword": "blue", "SbsText": "to be replaced"},
         upsert={"SbsKeyword": None, "SbsInt": 80,
                 "SbsDatetime": _dt("2025-12-31T23:59:59.500000Z"),
                 "SbsText": "running and upserted"}),
    Spec("abare", "VisAlpha", "a", "complete"),
    Spec("adelay", "VisAlpha", "a", "delayed", attrs={"SbsKeyword": "late", "SbsInt": 90}),
    Spec("asleep", "VisAlpha", "a", "complete", sleep=3.0, attrs={
        "SbsKeyword": "slow", "SbsInt": -5, "SbsDouble": 1e10,
        "SbsDatetime": _dt("1999-12-31T23:59:59Z")}),
    Spec("bquote", "VisBeta", "b", "complete", attrs={
        "SbsKeyword": "it's", "SbsText": "O'Reilly's book", "SbsKeywordList": ["a b", "c'd"]}),
    Spec("bspace", "VisBeta", "a", "complete",
         attrs={"SbsKeyword": "two words", "SbsInt": 100, "SbsDouble": 1.25}),
]
SPECS: dict[str, Spec] = {s.alias: s for s in CORPUS} | {CHILD.alias: CHILD}


def _final_status(spec: Spec) -> str:
    return {
        "complete": "Completed", "fail": "Failed", "terminate": "Terminated",
        "cancel": "Canceled", "timeout": "TimedOut", "running": "Running", "delayed": "Running",
    }[spec.outcome]


def planned_rows() -> dict[str, dict[str, Any]]:
    """alias -> {"status", "attrs"} as the corpus intends them (SbsRun included)."""
    rows: dict[str, dict[str, Any]] = {}
    for spec in CORPUS + [CHILD]:
        attrs = {**spec.attrs, "SbsRun": SESSION}
        if spec.can_attrs is not None:
            rows[f"{spec.alias}/1"] = {"status": "ContinuedAsNew", "attrs": attrs}
            final = {**spec.can_attrs, "SbsRun": SESSION}
            rows[f"{spec.alias}/2"] = {"status": _final_status(spec), "attrs": final}
            continue
        for k, v in spec.upsert.items():
            if v is None:
                attrs.pop(k, None)
            else:
                attrs[k] = v
        rows[spec.alias] = {"status": _final_status(spec), "attrs": attrs}
    return rows


def _typed(attrs: dict[str, Any]) -> TypedSearchAttributes:
    return TypedSearchAttributes([SearchAttributePair(KEYS[k], v) for k, v in attrs.items()])


def _wid(alias: str) -> str:
    return f"{PREFIX}-{alias}"


# --------------------------------------------------------------------------- #
# Workflows (their behaviour is looked up in SPECS by alias; unsandboxed)
# --------------------------------------------------------------------------- #
class _State:
    def __init__(self) -> None:
        self.released = False
        self.stage = "started"


async def _body(state: _State, alias: str, run_no: int) -> str:
    spec = SPECS[alias]
    if spec.can_attrs is not None and run_no == 1:
        workflow.continue_as_new(
            args=[alias, 2], search_attributes=_typed({**spec.can_attrs, "SbsRun": SESSION})
        )
    if spec.upsert:
        workflow.upsert_search_attributes([
            KEYS[k].value_unset() if v is None else KEYS[k].value_set(v)
            for k, v in spec.upsert.items()
        ])
    if spec.sleep:
        await workflow.sleep(spec.sleep)
    if spec.child is not None:
        child = spec.child
        await workflow.execute_child_workflow(
            child.wf_type,
            args=[child.alias, 1],
            id=_wid(child.alias),
            task_queue=TQ[child.tq],
            search_attributes=_typed({**child.attrs, "SbsRun": SESSION}),
        )
    if spec.outcome in ("running", "terminate", "cancel", "timeout"):
        state.stage = "waiting"
        await workflow.wait_condition(lambda: state.released)
    if spec.outcome == "fail":
        raise ApplicationError("planned failure", type="PlannedFailure", non_retryable=True)
    return alias


class _CorpusWorkflow:
    """What the corpus' workflow types share (they differ in name only)."""

    def __init__(self) -> None:
        self.state = _State()

    @workflow.signal
    def release(self) -> None:
        self.state.released = True

    @workflow.query
    def stage(self) -> str:
        return self.state.stage


@workflow.defn(name="VisAlpha")
class VisAlpha(_CorpusWorkflow):
    @workflow.run
    async def run(self, alias: str, run_no: int) -> str:
        return await _body(self.state, alias, run_no)


@workflow.defn(name="VisBeta")
class VisBeta(_CorpusWorkflow):
    @workflow.run
    async def run(self, alias: str, run_no: int) -> str:
        return await _body(self.state, alias, run_no)


@workflow.defn(name="VisParent")
class VisParent(_CorpusWorkflow):
    @workflow.run
    async def run(self, alias: str, run_no: int) -> str:
        return await _body(self.state, alias, run_no)


WORKFLOWS = [VisAlpha, VisBeta, VisParent]


# --------------------------------------------------------------------------- #
# Building the corpus on one server
# --------------------------------------------------------------------------- #
@dataclass
class Built:
    """What one server's corpus looks like, client-side."""

    server: str
    subst: dict[str, str] = field(default_factory=dict)
    alias_of_run: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    settle_s: float = 0.0
    build_s: float = 0.0

    def alias(self, workflow_id: str, run_id: str) -> str:
        return self.alias_of_run.get(run_id) or f"?{workflow_id.removeprefix(PREFIX + '-')}"


def _rfc3339(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _ts_literal(ts) -> str:
    """A protobuf Timestamp as an RFC 3339 literal with all nine digits."""
    whole = datetime.fromtimestamp(ts.seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{whole}.{ts.nanos:09d}Z"


async def register_attributes(client: Client, names: Iterable[str], errors: list[str]) -> None:
    wanted = {n: CUSTOM_TYPES[n] for n in names}
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace="default", search_attributes=wanted),
            timeout=RPC_TIMEOUT,
        )
    except RPCError as e:
        errors.append(f"add_search_attributes: {e.status.name} {e.message}")
        return

    async def registered() -> bool:
        try:
            resp = await client.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace="default"), timeout=RPC_TIMEOUT
            )
        except RPCError:
            return False
        return all(resp.custom_attributes.get(k) == v for k, v in wanted.items())

    if not await poll(registered, 30, 0.2):
        errors.append("added search attributes not listed after 30 s")
        return

    # Newly added attributes may take a moment to be usable in queries.
    probe = " AND ".join(f"{n} IS NULL" for n in wanted)

    async def usable() -> bool:
        try:
            await _count(client, probe)
            return True
        except RPCError:
            return False

    if not await poll(usable, 30, 0.2):
        errors.append("added search attributes not usable in a query after 30 s")


async def _settled(handle: WorkflowHandle) -> bool:
    """No workflow task outstanding (the last one's commands are recorded)."""
    history = await handle.fetch_history()
    scheduled = done = 0
    for e in history.events:
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            scheduled += 1
        elif e.event_type in (
            EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
            EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
            EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
        ):
            done += 1
    return scheduled > 0 and scheduled == done


async def _wait_waiting(handle: WorkflowHandle) -> None:
    async def waiting() -> bool:
        try:
            return await handle.query("stage") == "waiting" and await _settled(handle)
        except RPCError:
            return False

    if not await poll(waiting, 30):
        raise AssertionError(f"{handle.id} never reached its waiting point")


async def _wait_closed(handle: WorkflowHandle) -> None:
    async def closed() -> bool:
        return (await handle.describe()).status != WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING

    if not await poll(closed, 30):
        raise AssertionError(f"{handle.id} did not close")


async def _drive(client: Client, spec: Spec) -> WorkflowHandle:
    handle = await client.start_workflow(
        spec.wf_type,
        args=[spec.alias, 1],
        id=_wid(spec.alias),
        task_queue=TQ[spec.tq],
        search_attributes=_typed({**spec.attrs, "SbsRun": SESSION}),
        execution_timeout=timedelta(seconds=1) if spec.outcome == "timeout" else None,
        start_delay=timedelta(hours=1) if spec.outcome == "delayed" else None,
    )
    if spec.outcome == "complete":
        await handle.result()
    elif spec.outcome == "fail":
        try:
            await handle.result()
            raise AssertionError(f"{spec.alias} should have failed")
        except WorkflowFailureError:
            pass
    elif spec.outcome == "running":
        await _wait_waiting(handle)
    elif spec.outcome == "terminate":
        await _wait_waiting(handle)
        await handle.terminate(reason="corpus")
        await _wait_closed(handle)
    elif spec.outcome == "cancel":
        await _wait_waiting(handle)
        await handle.cancel()
        await _wait_closed(handle)
    elif spec.outcome == "timeout":
        await _wait_closed(handle)
    return handle


async def _rpc(call, request):
    """One visibility RPC, not retried by the SDK (it retries INTERNAL and
    UNAVAILABLE for ~10 s), except on RESOURCE_EXHAUSTED (a rate limit, not
    an answer)."""
    delay = 0.1
    deadline = time.monotonic() + 30
    while True:
        try:
            return await call(request, retry=False, timeout=RPC_TIMEOUT)
        except RPCError as e:
            if e.status != RPCStatusCode.RESOURCE_EXHAUSTED or time.monotonic() > deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, 2.0)


async def _count(client: Client, query: str):
    return await _rpc(
        client.workflow_service.count_workflow_executions,
        CountWorkflowExecutionsRequest(namespace="default", query=query),
    )


async def _list_all(client: Client, query: str, page_size: int = 1000) -> tuple[list, int]:
    rows: list = []
    token = b""
    pages = 0
    while True:
        resp = await _rpc(
            client.workflow_service.list_workflow_executions,
            ListWorkflowExecutionsRequest(
                namespace="default", query=query, page_size=page_size, next_page_token=token
            ),
        )
        pages += 1
        rows.extend(resp.executions)
        token = resp.next_page_token
        if not token or pages > 200:
            return rows, pages


def attr_snapshot(proto: SearchAttributesProto) -> dict[str, Any]:
    """The Sbs* attributes of a row: {name: [type metadata, decoded value]}."""
    conv = default_converter().payload_converter
    out: dict[str, Any] = {}
    for name, payload in proto.indexed_fields.items():
        if not name.startswith("Sbs"):
            continue
        meta = payload.metadata.get("type", b"").decode() or None
        try:
            value = conv.from_payload(payload)
        except Exception as e:  # noqa: BLE001
            value = f"<undecodable: {type(e).__name__}>"
        out[name] = [meta, _norm_value(name, value)]
    return out


def _norm_value(name: str, value: Any) -> Any:
    """JSON-ish normal form; Datetime strings become UTC instants, whole Doubles floats."""
    if isinstance(value, list) and CUSTOM_TYPES.get(name) != IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST:
        if len(value) == 1:
            value = value[0]
    if CUSTOM_TYPES.get(name) == IndexedValueType.INDEXED_VALUE_TYPE_DATETIME and isinstance(value, str):
        try:
            return _rfc3339(_dt(value))
        except ValueError:
            return value
    if isinstance(value, datetime):
        return _rfc3339(value)
    if CUSTOM_TYPES.get(name) == IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE and type(value) is int:
        return float(value)
    return value


def planned_snapshot() -> dict[str, dict[str, Any]]:
    type_names = {
        IndexedValueType.INDEXED_VALUE_TYPE_BOOL: "Bool",
        IndexedValueType.INDEXED_VALUE_TYPE_DATETIME: "Datetime",
        IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE: "Double",
        IndexedValueType.INDEXED_VALUE_TYPE_INT: "Int",
        IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD: "Keyword",
        IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST: "KeywordList",
        IndexedValueType.INDEXED_VALUE_TYPE_TEXT: "Text",
    }
    return {
        alias: {
            "status": row["status"],
            "attrs": {
                k: [type_names[CUSTOM_TYPES[k]], _norm_value(k, v)] for k, v in row["attrs"].items()
            },
        }
        for alias, row in planned_rows().items()
    }


def _status_name(status: int) -> str:
    names = {
        1: "Running", 2: "Completed", 3: "Failed", 4: "Canceled",
        5: "Terminated", 6: "ContinuedAsNew", 7: "TimedOut",
    }
    return names.get(status, f"status {status}")


async def observed_snapshot(client: Client, built: Built) -> dict[str, dict[str, Any]]:
    rows, _ = await _list_all(client, QUERY_SCOPE)
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        alias = built.alias(r.execution.workflow_id, r.execution.run_id)
        if alias in out:
            alias += "+dup"
        out[alias] = {"status": _status_name(r.status), "attrs": attr_snapshot(r.search_attributes)}
    return out


async def build_corpus(client: Client, server: str) -> Built:
    """Register the attributes, run the corpus one workflow at a time, record
    ids, run ids, marks, and wait until visibility shows the planned state."""
    built = Built(server)
    t0 = time.monotonic()
    await register_attributes(client, CUSTOM_TYPES, built.errors)
    handles: dict[str, WorkflowHandle] = {}
    try:
        async with run_worker(client, workflows=WORKFLOWS, task_queue=TQ["a"]), run_worker(
            client, workflows=WORKFLOWS, task_queue=TQ["b"]
        ):
            for spec in CORPUS:
                handles[spec.alias] = await asyncio.wait_for(_drive(client, spec), 60)
                # Strictly after this run's (and its child's) start/close, and
                # before the next run's start.
                await asyncio.sleep(0.02)
                built.subst[f"mark:{spec.alias}"] = _rfc3339(datetime.now(timezone.utc))
                await asyncio.sleep(0.02)
    except Exception as e:  # noqa: BLE001 - reported by every test
        built.errors.append(f"building the corpus: {type(e).__name__}: {e}")
    built.subst.update(
        {"now": _rfc3339(datetime.now(timezone.utc)), "prefix": PREFIX, "session": SESSION,
         "tq_a": TQ["a"], "tq_b": TQ["b"]}
    )
    for alias in SPECS:
        built.subst[f"wid:{alias}"] = _wid(alias)
    # Run ids (client-side: describe), so aliases do not depend on visibility.
    for spec in CORPUS + [CHILD]:
        try:
            desc = await client.get_workflow_handle(_wid(spec.alias)).describe()
        except RPCError as e:
            built.errors.append(f"describe {spec.alias}: {e.status.name}")
            continue
        runs = {spec.alias: desc}
        if spec.can_attrs is not None and spec.alias in handles:
            first = handles[spec.alias].first_execution_run_id or handles[spec.alias].result_run_id
            runs = {
                f"{spec.alias}/1": await client.get_workflow_handle(_wid(spec.alias), run_id=first).describe(),
                f"{spec.alias}/2": desc,
            }
        for alias, d in runs.items():
            info = d.raw_description.workflow_execution_info
            built.alias_of_run[d.run_id] = alias
            built.subst[f"run:{alias}"] = d.run_id
            built.subst[f"start:{alias}"] = _ts_literal(info.start_time)
            if info.HasField("close_time"):
                built.subst[f"close:{alias}"] = _ts_literal(info.close_time)
    built.build_s = time.monotonic() - t0

    # Visibility may lag (the real server indexes asynchronously): wait until
    # the listing shows every run in its final state with its attributes.
    t1 = time.monotonic()
    want = planned_snapshot()
    last: Any = None

    async def matches() -> bool:
        nonlocal last
        try:
            last = await observed_snapshot(client, built)
        except RPCError as e:
            last = f"{e.status.name}: {e.message}"
            return True  # not transient: give up waiting
        return last == want

    await poll(matches, 30, 0.25)
    built.settle_s = time.monotonic() - t1
    if last != want:
        built.errors.append(f"visibility never showed the planned corpus; last listing: {last}")
    return built


# --------------------------------------------------------------------------- #
# Queries
# --------------------------------------------------------------------------- #
ALL = frozenset(planned_rows())
STATUS = {s: frozenset(a for a, r in planned_rows().items() if r["status"] == s)
          for s in ("Running", "Completed", "Failed", "Canceled", "Terminated", "ContinuedAsNew", "TimedOut")}
CLOSED = ALL - STATUS["Running"]


def having(name: str) -> frozenset[str]:
    return frozenset(a for a, r in planned_rows().items() if name in r["attrs"])


def where(pred) -> frozenset[str]:
    return frozenset(a for a, r in planned_rows().items() if pred(r["attrs"]))


# Default order: running first (start time descending), then by close time
# descending. Setup order: CORPUS order; child starts after its parent and
# closes before it; bcan/1 closes when bcan/2 starts.
START_ORDER = ["a1", "a2", "afail", "bup", "bterm", "bcancel", "atimeout", "bcan/1", "bcan/2",
               "parent", "child", "arun", "brun", "abare", "adelay", "asleep", "bquote", "bspace"]
CLOSE_ORDER = ["a1", "a2", "afail", "bup", "bterm", "bcancel", "atimeout", "bcan/1", "bcan/2",
               "child", "parent", "abare", "asleep", "bquote", "bspace"]
DEFAULT_ORDER = ["adelay", "brun", "arun"] + CLOSE_ORDER[::-1]


@dataclass
class Q:
    name: str
    filter: str | None  # ANDed with QUERY_SCOPE (None: the scope alone)
    expect: Any = None  # aliases (set, or list when ordered), or "ERROR_CODE"
    tail: str = ""  # after the filter: ORDER BY / GROUP BY / junk
    raw: bool = False  # send `filter` as written, no scope
    ordered: bool = False  # compare the exact order of the listing
    page_size: int = 1000
    expect_count: Any = None  # count answer if it differs from the listing's
    expect_groups: Any = None  # [[values, count], ...] of a GROUP BY count

    def text(self, subst: dict[str, str]) -> str:
        if self.raw:
            body = self.filter or ""
        elif self.filter is None:
            body = QUERY_SCOPE
        else:
            body = f"{QUERY_SCOPE} AND ({self.filter})"
        if self.tail:
            body = f"{body} {self.tail}"

        def fill(m: re.Match) -> str:
            key = m.group(1)
            if key not in subst:
                return f"<missing {key}>"
            return subst[key]

        return re.sub(r"\{([a-z_]+(?::[A-Za-z0-9/_-]+)?)\}", fill, body)


E = "INVALID_ARGUMENT"
RED = {"a1", "afail", "arun"}
BETA = frozenset(a for a in ALL if a.startswith("b"))
ALPHA = frozenset(a for a in ALL if a.startswith("a")) | {"child"}
INT_DESC = sorted(having("SbsInt"), key=lambda a: -planned_rows()[a]["attrs"]["SbsInt"])

QUERIES: list[Q] = [
    # -- scope, paging, default order ------------------------------------
    Q("scope_only_default_order", None, DEFAULT_ORDER, ordered=True),
    Q("scope_only_paged_by_4", None, DEFAULT_ORDER, ordered=True, page_size=4),
    Q("scope_only_paged_by_1", None, DEFAULT_ORDER, ordered=True, page_size=1),
    Q("workflow_id_prefix_scope", "WorkflowId STARTS_WITH '{prefix}-'", ALL, raw=True),
    # -- Keyword ----------------------------------------------------------
    Q("keyword_eq", "SbsKeyword = 'red'", RED),
    Q("keyword_eq_double_quoted", 'SbsKeyword = "red"', RED),
    Q("keyword_backquoted_name", "`SbsKeyword` = 'red'", RED),
    Q("keyword_eq_is_case_sensitive", "SbsKeyword = 'Red'", {"atimeout"}),
    Q("keyword_upper_case_no_match", "SbsKeyword = 'RED'", set()),
    Q("keyword_empty_string", "SbsKeyword = ''", set()),
    # != and NOT IN on a Keyword leave out the runs without the attribute.
    Q("keyword_ne", "SbsKeyword != 'red'", having("SbsKeyword") - RED),
    Q("keyword_ne_ltgt", "SbsKeyword <> 'red'", having("SbsKeyword") - RED),
    Q("keyword_in", "SbsKeyword IN ('red', 'blue')", RED | {"a2", "bterm"}),
    Q("keyword_in_single", "SbsKeyword IN ('green')", {"bup"}),
    Q("keyword_not_in", "SbsKeyword NOT IN ('red', 'blue')", having("SbsKeyword") - RED - {"a2", "bterm"}),
    # Comparisons are binary (upper case sorts first).
    Q("keyword_lt", "SbsKeyword < 'c'", {"a2", "bterm", "atimeout"}),
    Q("keyword_ge", "SbsKeyword >= 'red'", RED | {"asleep", "bspace"}),
    Q("keyword_between", "SbsKeyword BETWEEN 'blue' AND 'cyan'", {"a2", "bterm", "child", "bcan/1"}),
    Q("keyword_between_reversed_bounds", "SbsKeyword BETWEEN 'cyan' AND 'blue'", set()),
    Q("keyword_not_between", "SbsKeyword NOT BETWEEN 'blue' AND 'cyan'",
      having("SbsKeyword") - {"a2", "bterm", "child", "bcan/1"}),
    # STARTS_WITH ignores ASCII case on the real server (SQLite LIKE), and
    # its argument's % and _ are literal characters.
    Q("keyword_starts_with", "SbsKeyword STARTS_WITH 're'", RED | {"atimeout"}),
    Q("keyword_starts_with_upper_case", "SbsKeyword STARTS_WITH 'RE'", RED | {"atimeout"}),
    Q("keyword_not_starts_with", "SbsKeyword NOT STARTS_WITH 're'", having("SbsKeyword") - RED - {"atimeout"}),
    Q("keyword_starts_with_whole_value", "SbsKeyword STARTS_WITH 'two words'", {"bspace"}),
    Q("keyword_starts_with_percent", "SbsKeyword STARTS_WITH '%'", set()),
    Q("keyword_starts_with_underscore", "SbsKeyword STARTS_WITH '_ed'", set()),
    Q("keyword_starts_with_quote", "SbsKeyword STARTS_WITH 'it'", {"bquote"}),
    Q("keyword_is_null", "SbsKeyword IS NULL", ALL - having("SbsKeyword")),
    Q("keyword_is_not_null", "SbsKeyword IS NOT NULL", having("SbsKeyword")),
    Q("keyword_in_or_is_null", "SbsKeyword IN ('red') OR SbsKeyword IS NULL",
      RED | (ALL - having("SbsKeyword"))),
    Q("keyword_with_space", "SbsKeyword = 'two words'", {"bspace"}),
    Q("keyword_partial_value_no_match", "SbsKeyword = 'two'", set()),
    Q("keyword_backslash_escaped_quote", r"SbsKeyword = 'it\'s'", {"bquote"}),
    Q("keyword_single_quote_in_double_quotes", "SbsKeyword = \"it's\"", {"bquote"}),
    Q("keyword_doubled_quote", "SbsKeyword = 'it''s'", {"bquote"}),
    Q("keyword_unset_by_upsert", "SbsKeyword = 'blue'", {"a2", "bterm"}),
    Q("keyword_like", "SbsKeyword LIKE 're%'", E),
    Q("keyword_vs_int_literal", "SbsKeyword = 10", E),
    Q("keyword_in_mixed_types", "SbsKeyword IN ('red', 10)", E),
    # -- Int --------------------------------------------------------------
    Q("int_eq", "SbsInt = 10", {"a1"}),
    Q("int_eq_zero", "SbsInt = 0", {"bcancel"}),
    Q("int_eq_negative_zero", "SbsInt = -0", {"bcancel"}),
    Q("int_ne", "SbsInt != 10", having("SbsInt") - {"a1"}),
    Q("int_gt", "SbsInt > 50", {"bcan/2", "child", "arun", "brun", "adelay", "bspace"}),
    Q("int_ge", "SbsInt >= 50", {"bcan/1", "bcan/2", "child", "arun", "brun", "adelay", "bspace"}),
    Q("int_lt", "SbsInt < 10", {"bcancel", "asleep"}),
    Q("int_le_negative", "SbsInt <= -5", {"asleep"}),
    Q("int_between", "SbsInt BETWEEN 20 AND 50", {"a2", "afail", "bup", "bcan/1"}),
    Q("int_between_reversed_bounds", "SbsInt BETWEEN 50 AND 20", set()),
    Q("int_not_between", "SbsInt NOT BETWEEN 20 AND 50", having("SbsInt") - {"a2", "afail", "bup", "bcan/1"}),
    Q("int_in", "SbsInt IN (10, 30, 51)", {"a1", "afail", "bcan/2"}),
    Q("int_in_single", "SbsInt IN (10)", {"a1"}),
    Q("int_not_in", "SbsInt NOT IN (0, 10)", having("SbsInt") - {"bcancel", "a1"}),
    Q("int_upserted_value", "SbsInt = 40", {"bup"}),
    Q("int_value_before_upsert", "SbsInt = 5", set()),
    Q("int_is_null", "SbsInt IS NULL", ALL - having("SbsInt")),
    # Numbers of any form compare numerically; strings are refused.
    Q("int_vs_float_literal", "SbsInt > 9.5", having("SbsInt") - {"bcancel", "asleep"}),
    Q("int_eq_float_literal", "SbsInt = 10.0", {"a1"}),
    Q("int_vs_scientific_literal", "SbsInt > 1e1", having("SbsInt") - {"bcancel", "asleep", "a1"}),
    Q("int_quoted_number", "SbsInt = '10'", E),
    Q("int_vs_word", "SbsInt = 'ten'", E),
    Q("int_in_mixed_types", "SbsInt IN (10, 'x')", E),
    Q("int_starts_with", "SbsInt STARTS_WITH '1'", E),
    # -- Double -----------------------------------------------------------
    Q("double_gt", "SbsDouble > 2", {"a2", "bup", "atimeout", "arun", "asleep"}),
    Q("double_le", "SbsDouble <= 1.5", {"a1", "afail", "bcancel", "bspace"}),
    Q("double_eq_fraction", "SbsDouble = 3.25", {"bup"}),
    Q("double_eq_int_literal", "SbsDouble = 7", {"arun"}),
    Q("double_eq_zero", "SbsDouble = 0", {"bcancel"}),
    Q("double_negative", "SbsDouble < 0", {"afail"}),
    Q("double_between", "SbsDouble BETWEEN 1 AND 3", {"a1", "a2", "bspace"}),
    Q("double_scientific_literal", "SbsDouble >= 1e9", {"asleep"}),
    Q("double_ne", "SbsDouble != 1.5", having("SbsDouble") - {"a1"}),
    Q("double_is_null", "SbsDouble IS NULL", ALL - having("SbsDouble")),
    Q("double_quoted_number", "SbsDouble = '1.5'", E),
    Q("double_vs_word", "SbsDouble = 'abc'", E),
    # -- Bool -------------------------------------------------------------
    Q("bool_true", "SbsBool = true", RED),
    Q("bool_false", "SbsBool = false", {"a2", "bup", "bcancel"}),
    Q("bool_upper_case_literal", "SbsBool = TRUE", RED),
    Q("bool_ne_true", "SbsBool != true", {"a2", "bup", "bcancel"}),
    Q("bool_in", "SbsBool IN (true)", RED),
    Q("bool_lt_true", "SbsBool < true", {"a2", "bup", "bcancel"}),
    Q("bool_is_null", "SbsBool IS NULL", ALL - having("SbsBool")),
    Q("bool_quoted_literal", "SbsBool = 'true'", E),
    Q("bool_vs_word", "SbsBool = 'maybe'", E),
    Q("bool_vs_int", "SbsBool = 1", E),
    # -- Datetime ---------------------------------------------------------
    # The real server (SQLite) stores custom Datetimes as text with
    # milliseconds and compares them as text with a literal formatted
    # without them: = / IN / != / an inclusive upper bound never hit the
    # exact stored instant (KNOWN_DIFFERENCES). Range comparisons work.
    Q("datetime_eq", "SbsDatetime = '2024-01-01T00:00:00Z'", set()),
    Q("datetime_eq_other_offset", "SbsDatetime = '2024-02-29T22:00:00Z'", set()),
    Q("datetime_eq_offset_literal", "SbsDatetime = '2024-03-01T00:00:00+02:00'", set()),
    Q("datetime_eq_fraction", "SbsDatetime = '2025-12-31T23:59:59.5Z'", set()),
    Q("datetime_in", "SbsDatetime IN ('2024-01-01T00:00:00Z', '2025-06-15T08:30:00Z')", set()),
    Q("datetime_ne", "SbsDatetime != '2024-01-01T00:00:00Z'", having("SbsDatetime")),
    Q("datetime_le_exact", "SbsDatetime <= '2024-01-01T00:00:00Z'", {"asleep"}),
    Q("datetime_between_inclusive",
      "SbsDatetime BETWEEN '2024-01-01T00:00:00Z' AND '2024-02-29T22:00:00Z'", {"a1", "a2"}),
    Q("datetime_gt", "SbsDatetime > '2024-06-01T00:00:00Z'", {"arun", "brun"}),
    Q("datetime_gt_offset_literal", "SbsDatetime > '2024-02-29T23:00:00+02:00'", {"afail", "arun", "brun"}),
    Q("datetime_lt", "SbsDatetime < '2000-01-01T00:00:00Z'", {"asleep"}),
    Q("datetime_gt_millisecond", "SbsDatetime > '2024-01-01T00:00:00.001Z'", {"a2", "afail", "arun", "brun"}),
    Q("datetime_is_null", "SbsDatetime IS NULL", ALL - having("SbsDatetime")),
    Q("datetime_date_only", "SbsDatetime > '2025-01-01'", E),
    Q("datetime_space_separated", "SbsDatetime = '2024-01-01 00:00:00'", E),
    Q("datetime_bad_literal", "SbsDatetime > 'yesterday'", E),
    Q("datetime_bad_month", "SbsDatetime > '2024-13-01T00:00:00Z'", E),
    # -- KeywordList ------------------------------------------------------
    # = / IN: some element equals the value (whole element, ASCII case
    # ignored). != / NOT IN: no element equals it, including runs WITHOUT
    # the attribute (unlike Keyword).
    Q("keyword_list_contains", "SbsKeywordList = 'x'", {"a1", "afail", "child", "arun"}),
    Q("keyword_list_contains_upper_case", "SbsKeywordList = 'X'", {"a1", "afail", "child", "arun"}),
    Q("keyword_list_in", "SbsKeywordList IN ('z', 'u2')", {"a2", "arun", "bup"}),
    Q("keyword_list_ne", "SbsKeywordList != 'x'", ALL - {"a1", "afail", "child", "arun"}),
    Q("keyword_list_ne_not_null", "SbsKeywordList != 'x' AND SbsKeywordList IS NOT NULL", {"a2", "bup", "bquote"}),
    Q("keyword_list_ne_or_eq", "SbsKeywordList != 'x' OR SbsKeywordList = 'x'", ALL),
    Q("keyword_list_not_in", "SbsKeywordList NOT IN ('x', 'y')", ALL - {"a1", "a2", "afail", "child", "arun"}),
    Q("keyword_list_both_elements", "SbsKeywordList = 'x' AND SbsKeywordList = 'y'", {"a1"}),
    Q("keyword_list_two_elements_as_one_value", "SbsKeywordList = 'x y'", set()),
    Q("keyword_list_element_with_space", "SbsKeywordList = 'a b'", {"bquote"}),
    Q("keyword_list_element_with_space_upper", "SbsKeywordList = 'A B'", {"bquote"}),
    Q("keyword_list_part_of_element", "SbsKeywordList = 'a'", set()),
    Q("keyword_list_element_with_quote", "SbsKeywordList = \"c'd\"", {"bquote"}),
    Q("keyword_list_is_null", "SbsKeywordList IS NULL", ALL - having("SbsKeywordList")),
    Q("keyword_list_is_not_null", "SbsKeywordList IS NOT NULL", having("SbsKeywordList")),
    Q("keyword_list_starts_with", "SbsKeywordList STARTS_WITH 'u'", E),
    Q("keyword_list_lt", "SbsKeywordList < 'z'", E),
    Q("keyword_list_between", "SbsKeywordList BETWEEN 'a' AND 'z'", E),
    # -- Text -------------------------------------------------------------
    # = matches runs having ANY of the value's whitespace-separated terms as
    # a word (ASCII case ignored, punctuation separates words; a term with
    # inner punctuation is a phrase). != is its complement, NULLs included.
    Q("text_one_word", "SbsText = 'quick'", {"a1", "afail"}),
    Q("text_two_words_any", "SbsText = 'quick fox'", {"a1", "afail", "arun"}),
    Q("text_two_words_reordered", "SbsText = 'fox quick'", {"a1", "afail", "arun"}),
    Q("text_and_is_a_word", "SbsText = 'quick AND fox'", {"a1", "afail", "arun", "brun"}),
    Q("text_upper_case", "SbsText = 'QUICK'", {"a1", "afail"}),
    Q("text_trailing_punctuation", "SbsText = 'Fox.'", {"a1", "arun"}),
    Q("text_punctuated_term_is_a_phrase", "SbsText = 'brown,fox'", {"a1"}),
    Q("text_punctuated_term_wrong_order", "SbsText = 'fox,quick'", set()),
    Q("text_apostrophe_separates_words", "SbsText = 'reilly'", {"bquote"}),
    Q("text_word_with_quote", "SbsText = \"O'Reilly's\"", {"bquote"}),
    Q("text_word_prefix_no_match", "SbsText = 'qui'", set()),
    Q("text_both_words_via_and", "SbsText = 'brown' AND SbsText = 'fox'", {"a1"}),
    Q("text_ne", "SbsText != 'fox'", ALL - {"a1", "arun"}),
    Q("text_ne_two_words", "SbsText != 'quick fox'", ALL - {"a1", "afail", "arun"}),
    Q("text_replaced_by_upsert", "SbsText = 'replaced'", set()),
    Q("text_is_null", "SbsText IS NULL", ALL - having("SbsText")),
    Q("text_is_not_null", "SbsText IS NOT NULL", having("SbsText")),
    Q("text_empty", "SbsText = ''", E),
    Q("text_lt", "SbsText < 'm'", E),
    Q("text_between", "SbsText BETWEEN 'a' AND 'z'", E),
    Q("text_starts_with", "SbsText STARTS_WITH 'qu'", E),
    Q("text_not_starts_with", "SbsText NOT STARTS_WITH 'qu'", E),
    Q("text_in", "SbsText IN ('quick', 'lazy')", E),
    Q("text_not_in", "SbsText NOT IN ('fox')", E),
    Q("text_double_quoted_phrase", "SbsText = '\"quick brown\"'", "UNAVAILABLE"),
    # -- standard attributes ----------------------------------------------
    Q("workflow_id_eq", "WorkflowId = '{wid:a1}'", {"a1"}),
    Q("workflow_id_backquoted", "`WorkflowId` = '{wid:a1}'", {"a1"}),
    Q("workflow_id_in_with_chain", "WorkflowId IN ('{wid:a1}', '{wid:bcan}')", {"a1", "bcan/1", "bcan/2"}),
    Q("workflow_id_starts_with", "WorkflowId STARTS_WITH '{prefix}-b'", BETA),
    Q("workflow_id_not_starts_with", "WorkflowId NOT STARTS_WITH '{prefix}-b'", ALL - BETA),
    Q("workflow_id_ne", "WorkflowId != '{wid:bcan}'", ALL - {"bcan/1", "bcan/2"}),
    Q("workflow_id_lower_case_name", "workflowid = '{wid:a1}'", E),
    Q("run_id_eq", "RunId = '{run:bcan/1}'", {"bcan/1"}),
    Q("run_id_in", "RunId IN ('{run:a1}', '{run:bcan/2}')", {"a1", "bcan/2"}),
    Q("workflow_type_eq", "WorkflowType = 'VisBeta'", BETA),
    Q("workflow_type_in", "WorkflowType IN ('VisParent', 'VisBeta')", BETA | {"parent"}),
    Q("workflow_type_ne", "WorkflowType != 'VisAlpha'", BETA | {"parent"}),
    Q("workflow_type_starts_with", "WorkflowType STARTS_WITH 'VisB'", BETA),
    Q("status_running", "ExecutionStatus = 'Running'", ["adelay", "brun", "arun"], ordered=True),
    Q("status_completed_paged", "ExecutionStatus = 'Completed'",
      [a for a in DEFAULT_ORDER if a in STATUS["Completed"]], ordered=True, page_size=3),
    Q("status_in_unsuccessful", "ExecutionStatus IN ('Failed', 'Terminated', 'Canceled', 'TimedOut')",
      {"afail", "bterm", "bcancel", "atimeout"}),
    Q("status_continued_as_new", "ExecutionStatus = 'ContinuedAsNew'", {"bcan/1"}),
    Q("status_ne_completed", "ExecutionStatus != 'Completed'", ALL - STATUS["Completed"]),
    Q("status_not_in", "ExecutionStatus NOT IN ('Completed', 'Running')",
      ALL - STATUS["Completed"] - STATUS["Running"]),
    Q("status_as_number", "ExecutionStatus = 2", STATUS["Completed"]),
    Q("status_as_number_timed_out", "ExecutionStatus = 7", {"atimeout"}),
    Q("status_unknown_number", "ExecutionStatus = 99", E),
    Q("status_lower_case", "ExecutionStatus = 'completed'", E),
    Q("status_upper_case", "ExecutionStatus = 'RUNNING'", E),
    Q("status_unknown", "ExecutionStatus = 'Sleeping'", E),
    Q("status_starts_with", "ExecutionStatus STARTS_WITH 'Run'", E),
    Q("task_queue_eq", "TaskQueue = '{tq_b}'", {"afail", "bterm", "child", "brun", "bquote"}),
    Q("task_queue_starts_with", "TaskQueue STARTS_WITH 'vis-b-'", {"afail", "bterm", "child", "brun", "bquote"}),
    Q("parent_workflow_id", "ParentWorkflowId = '{wid:parent}'", {"child"}),
    Q("parent_run_id", "ParentRunId = '{run:parent}'", {"child"}),
    Q("parent_workflow_id_is_null", "ParentWorkflowId IS NULL", ALL - {"child"}),
    Q("parent_workflow_id_is_not_null", "ParentWorkflowId IS NOT NULL", {"child"}),
    Q("parent_workflow_id_empty_string", "ParentWorkflowId = ''", set()),
    Q("root_workflow_id", "RootWorkflowId = '{wid:parent}'", {"parent", "child"}),
    Q("root_workflow_id_of_top_level", "RootWorkflowId = '{wid:a1}'", {"a1"}),
    Q("root_run_id", "RootRunId = '{run:parent}'", {"parent", "child"}),
    Q("start_time_eq_exact", "StartTime = '{start:a2}'", {"a2"}),
    Q("start_time_le_exact", "StartTime <= '{start:a2}'", {"a1", "a2"}),
    Q("start_time_gt_mark", "StartTime > '{mark:parent}'",
      {"arun", "brun", "abare", "adelay", "asleep", "bquote", "bspace"}),
    Q("start_time_between_marks", "StartTime BETWEEN '{mark:a2}' AND '{mark:bcancel}'",
      {"afail", "bup", "bterm", "bcancel"}),
    Q("start_time_and_status", "StartTime < '{mark:bcan}' AND ExecutionStatus = 'Completed'",
      {"a1", "a2", "bup", "bcan/2"}),
    Q("start_time_vs_int", "StartTime > 5", ALL),
    Q("start_time_bad_literal", "StartTime > 'notatime'", E),
    Q("close_time_eq_exact", "CloseTime = '{close:a2}'", {"a2"}),
    Q("close_time_lt_mark", "CloseTime < '{mark:afail}'", {"a1", "a2", "afail"}),
    Q("close_time_gt_mark", "CloseTime > '{mark:abare}'", {"asleep", "bquote", "bspace"}),
    Q("close_time_is_null", "CloseTime IS NULL", STATUS["Running"]),
    Q("close_time_is_not_null", "CloseTime IS NOT NULL", CLOSED),
    Q("close_time_is_null_or", "CloseTime IS NULL OR SbsInt = 10", STATUS["Running"] | {"a1"}),
    Q("execution_time_future", "ExecutionTime > '{now}'", {"adelay"}),
    Q("execution_time_eq_start", "ExecutionTime = '{start:a2}'", {"a2"}),
    Q("execution_time_le_mark", "ExecutionTime <= '{mark:a2}'", {"a1", "a2"}),
    Q("execution_duration_gt_string", "ExecutionDuration > '2s'", {"asleep"}),
    Q("execution_duration_gt_millis_string", "ExecutionDuration > '2000ms'", {"asleep"}),
    Q("execution_duration_gt_clock_string", "ExecutionDuration > '00:00:02'", {"asleep"}),
    Q("execution_duration_gt_nanos", "ExecutionDuration > 2000000000", {"asleep"}),
    Q("execution_duration_lt_string", "ExecutionDuration < '2s'", CLOSED - {"asleep"}),
    Q("execution_duration_is_null", "ExecutionDuration IS NULL", STATUS["Running"]),
    Q("execution_duration_float", "ExecutionDuration > 2.5", E),
    Q("execution_duration_bad", "ExecutionDuration > 'long'", E),
    # History length (and size) are recorded at close: NULL while running.
    Q("history_length_simple", "HistoryLength = 5",
      {"a1", "a2", "abare", "afail", "atimeout", "bcan/1", "bcan/2", "bquote", "bspace", "bterm", "child"}),
    Q("history_length_ge", "HistoryLength >= 11", {"parent"}),
    Q("history_length_is_null", "HistoryLength IS NULL", STATUS["Running"]),
    Q("history_length_quoted", "HistoryLength > '5'", E),
    Q("history_size_bytes_positive", "HistorySizeBytes > 0", CLOSED),
    # -- logic ------------------------------------------------------------
    Q("and_binds_tighter_than_or", "SbsKeyword = 'red' OR SbsKeyword = 'blue' AND SbsInt > 20", RED),
    Q("parentheses", "(SbsKeyword = 'red' OR SbsKeyword = 'blue') AND SbsInt > 20", {"afail", "arun"}),
    Q("nested_parentheses", "((SbsInt > 10) AND ((SbsInt < 60)))", {"a2", "afail", "bup", "bcan/1", "bcan/2"}),
    Q("lower_case_keywords", "SbsKeyword = 'red' and SbsInt between 5 and 15 or SbsKeyword is null",
      {"a1"} | (ALL - having("SbsKeyword"))),
    Q("or_across_types", "SbsBool = true OR SbsDouble > 50", RED | {"atimeout", "asleep"}),
    Q("null_and_not_null", "SbsKeyword IS NULL AND SbsInt IS NOT NULL", {"bcancel", "brun"}),
    # NOT follows SQL three-valued logic: unknown stays unknown.
    Q("not_comparison", "NOT SbsKeyword = 'red'", having("SbsKeyword") - RED),
    Q("not_parenthesised_or", "NOT (SbsKeyword = 'red' OR SbsInt > 50)", {"a2", "asleep", "bcan/1", "bup"}),
    Q("not_is_null", "NOT SbsInt IS NULL", having("SbsInt")),
    Q("three_way_or", "WorkflowType = 'VisParent' OR TaskQueue = '{tq_b}' OR SbsBool = false",
      {"parent", "afail", "bterm", "child", "brun", "bquote", "a2", "bup", "bcancel"}),
    # -- ORDER BY (the real server on SQLite accepts none) ---------------
    Q("order_by_start_time_asc", None, E, tail="ORDER BY StartTime ASC", ordered=True),
    Q("order_by_start_time_desc", None, E, tail="ORDER BY StartTime DESC", ordered=True, page_size=5),
    Q("order_by_close_time", "CloseTime IS NOT NULL", E, tail="ORDER BY CloseTime", ordered=True),
    Q("order_by_workflow_id", "WorkflowType = 'VisAlpha'", E, tail="ORDER BY WorkflowId", ordered=True),
    Q("order_by_custom_int_desc", "SbsInt IS NOT NULL", E, tail="ORDER BY SbsInt DESC", ordered=True),
    Q("order_by_custom_keyword", "SbsKeyword IN ('green', 'cyan', 'magenta', 'parent', 'child', 'slow')", E,
      tail="ORDER BY SbsKeyword", ordered=True),
    Q("order_by_two_columns", None, E, tail="ORDER BY WorkflowType, StartTime DESC", ordered=True),
    Q("order_by_text", None, E, tail="ORDER BY SbsText"),
    Q("order_by_unknown_attribute", None, E, tail="ORDER BY NoSuchAttribute"),
    # -- GROUP BY (count; a listing ignores it) ---------------------------
    Q("group_by_status", None, ALL, tail="GROUP BY ExecutionStatus",
      expect_groups=[[[s], len(v)] for s, v in STATUS.items()]),
    Q("group_by_status_filtered", "SbsKeyword = 'red'", RED, tail="GROUP BY ExecutionStatus",
      expect_groups=[[["Completed"], 1], [["Failed"], 1], [["Running"], 1]]),
    Q("group_by_status_backquoted", "SbsInt > 50", {"bcan/2", "child", "arun", "brun", "adelay", "bspace"},
      tail="GROUP BY `ExecutionStatus`", expect_groups=[[["Completed"], 3], [["Running"], 3]]),
    Q("group_by_status_no_match", "SbsKeyword = 'nothing'", set(), tail="GROUP BY ExecutionStatus"),
    Q("group_by_workflow_type", None, E, tail="GROUP BY WorkflowType"),
    Q("group_by_custom_keyword", None, E, tail="GROUP BY SbsKeyword"),
    Q("group_by_two_columns", None, E, tail="GROUP BY ExecutionStatus, WorkflowType"),
    # -- invalid ----------------------------------------------------------
    Q("union_select", "WorkflowId = 'x'", "INTERNAL", tail="UNION SELECT * FROM executions_visibility"),
    Q("semicolon_second_statement", "WorkflowId = 'x'; DROP TABLE executions_visibility", E),
    Q("trailing_semicolon", "SbsKeyword = 'green'", {"bup"}, tail=";"),
    Q("function_call", "lower(SbsKeyword) = 'red'", E),
    Q("count_star_function", "COUNT(*) > 0", E),
    Q("unknown_attribute", "NoSuchAttribute = 'x'", E),
    Q("unknown_attribute_is_null", "NoSuchAttribute IS NULL", E),
    Q("attribute_name_wrong_case", "sbskeyword = 'red'", E),
    Q("backquoted_name_with_space", "`Sbs Keyword` = 'x'", E),
    Q("internal_column_namespace_id", "namespace_id = 'x'", E),
    Q("internal_column_workflow_id", "workflow_id = '{wid:a1}'", E),
    Q("internal_column_keyword01", "Keyword01 IS NULL OR Keyword01 IS NOT NULL", ALL),
    Q("or_one_equals_one", "WorkflowId = 'x' OR 1=1", E),
    Q("literal_comparison", "'a' = 'a'", E),
    Q("attribute_vs_attribute", "SbsKeyword = WorkflowId", E),
    Q("time_vs_time_attribute", "ExecutionTime = StartTime", E),
    Q("backquoted_value", "SbsKeyword = `red`", E),
    Q("subquery", "WorkflowId IN (SELECT WorkflowId FROM executions_visibility)", E),
    Q("unterminated_string", "SbsKeyword = 'red", E),
    Q("unbalanced_parenthesis", "(SbsKeyword = 'red'", E),
    Q("double_equals", "SbsKeyword == 'red'", E),
    Q("dangling_and", "SbsKeyword = 'red' AND", E),
    Q("bare_attribute_name", "SbsBool", E),
    Q("empty_in_list", "SbsKeyword IN ()", E),
    Q("limit_clause", None, E, tail="LIMIT 1"),
    Q("order_by_before_filter", "SbsKeyword = 'red' ORDER BY StartTime", E),
    Q("select_statement", "SELECT * FROM executions_visibility WHERE WorkflowId = 'x'", E, raw=True),
    Q("where_keyword", "WHERE WorkflowId = 'x'", E, raw=True),
]

_ORDER_BY_REAL = "the real server on SQLite rejects every ORDER BY (INVALID_ARGUMENT); Orrery sorts"
_DATETIME_REAL = (
    "the real server (SQLite) compares custom Datetime values as text, stored with milliseconds "
    "('2024-01-01 00:00:00.000+00:00') against a literal formatted without them, so {what}; "
    "Orrery compares instants"
)

# Real-server answers Orrery deliberately does not reproduce: query name ->
# the exact difference. Strict xfails of test_query: once Orrery answers as
# the real server, the test XPASSes (fails) and the entry must go.
_CASE_REAL = "the real server's SQLite visibility ignores case in {what}; Orrery is case-sensitive"

KNOWN_DIFFERENCES: dict[str, str] = {
    "union_select": "the real server answers INTERNAL (its SQL parser fails); Orrery: INVALID_ARGUMENT",
    "internal_column_keyword01": (
        "the real server accepts its own column names for custom attributes (Keyword01, Int01, ...); "
        "Orrery: INVALID_ARGUMENT (unknown search attribute)"
    ),
    "text_double_quoted_phrase": (
        "the real server answers UNAVAILABLE (the '\"' reaches SQLite FTS5 as syntax); "
        "Orrery must not answer a server error"
    ),
    "datetime_eq": _DATETIME_REAL.format(what="= never matches the stored instant"),
    "datetime_eq_other_offset": _DATETIME_REAL.format(what="= never matches the stored instant"),
    "datetime_eq_offset_literal": _DATETIME_REAL.format(what="= never matches the stored instant"),
    "datetime_eq_fraction": _DATETIME_REAL.format(what="= never matches the stored instant"),
    "datetime_in": _DATETIME_REAL.format(what="IN never matches the stored instant"),
    "datetime_ne": _DATETIME_REAL.format(what="!= matches the stored instant too"),
    "datetime_le_exact": _DATETIME_REAL.format(what="<= leaves out the stored instant"),
    "datetime_between_inclusive": _DATETIME_REAL.format(what="BETWEEN leaves out an upper bound equal to a value"),
    # SQLite's LIKE and FTS5 ignore case; the real server on PostgreSQL,
    # MySQL or Elasticsearch (Temporal Cloud) does not. Orrery answers the
    # same on both its databases: case-sensitive.
    "keyword_starts_with": _CASE_REAL.format(what="STARTS_WITH"),
    "keyword_starts_with_upper_case": _CASE_REAL.format(what="STARTS_WITH"),
    "keyword_not_starts_with": _CASE_REAL.format(what="NOT STARTS_WITH"),
    "keyword_list_contains_upper_case": _CASE_REAL.format(what="KeywordList ="),
    "keyword_list_element_with_space_upper": _CASE_REAL.format(what="KeywordList ="),
    "text_punctuated_term_wrong_order": (
        "the real server (SQLite FTS5) treats 'fox,quick' as a phrase (adjacent, in order); "
        "Orrery requires every word of the term, in any order"
    ),
    "trailing_semicolon": "the real server ignores a trailing ';'; Orrery refuses every ';' (INVALID_ARGUMENT)",
}
for _q in QUERIES:
    if _q.tail.startswith("ORDER BY") and _q.name not in ("order_by_text", "order_by_unknown_attribute"):
        KNOWN_DIFFERENCES[_q.name] = _ORDER_BY_REAL


def _start_sorted(aliases: Iterable[str], reverse: bool = False) -> list[str]:
    order = [a for a in START_ORDER if a in set(aliases)]
    return order[::-1] if reverse else order


_INVALID = {"list": f"ERROR {E}", "count": f"ERROR {E}"}

# What Orrery answers instead, for KNOWN_DIFFERENCES entries (asserted by
# test_orrery_intended): query name -> the parts of the answer that are fixed
# ("list": aliases in order, or "ERROR <CODE>"; "count"). An entry without
# intended answer (text_double_quoted_phrase) is only checked by its xfail.
ORRERY_INTENDED: dict[str, dict[str, Any]] = {
    "union_select": _INVALID,
    "internal_column_keyword01": _INVALID,
    "datetime_eq": {"list": ["a1"], "count": 1},
    "datetime_eq_other_offset": {"list": ["afail"], "count": 1},
    "datetime_eq_offset_literal": {"list": ["afail"], "count": 1},
    "datetime_eq_fraction": {"list": ["brun"], "count": 1},
    "datetime_in": {"list": ["a1", "arun"], "count": 2},
    "datetime_ne": {"list": sorted(having("SbsDatetime") - {"a1"}), "count": len(having("SbsDatetime")) - 1},
    "datetime_le_exact": {"list": ["a1", "asleep"], "count": 2},
    "datetime_between_inclusive": {"list": ["a1", "a2", "afail"], "count": 3},
    "keyword_starts_with": {"list": sorted(RED), "count": len(RED)},
    "keyword_starts_with_upper_case": {"list": [], "count": 0},
    "keyword_not_starts_with": {"list": sorted(having("SbsKeyword") - RED), "count": len(having("SbsKeyword") - RED)},
    "keyword_list_contains_upper_case": {"list": [], "count": 0},
    "keyword_list_element_with_space_upper": {"list": [], "count": 0},
    "text_punctuated_term_wrong_order": {"list": ["a1"], "count": 1},
    "trailing_semicolon": _INVALID,
    # ORDER BY: the listing in exactly this order (the count is not fixed).
    "order_by_start_time_asc": {"list": START_ORDER},
    "order_by_start_time_desc": {"list": START_ORDER[::-1]},
    "order_by_close_time": {"list": CLOSE_ORDER},
    "order_by_workflow_id": {"list": sorted(ALPHA)},
    "order_by_custom_int_desc": {"list": INT_DESC},
    "order_by_custom_keyword": {"list": ["child", "bcan/1", "bup", "bcan/2", "parent", "asleep"]},
    "order_by_two_columns": {
        "list": _start_sorted(ALPHA, True) + _start_sorted(BETA, True) + ["parent"]
    },
}


# --------------------------------------------------------------------------- #
# Running one query on one server
# --------------------------------------------------------------------------- #
@dataclass
class Answer:
    query: str
    list: Any  # aliases (list) or "ERROR <CODE>"
    count: Any  # int or "ERROR <CODE>"
    groups: Any = None
    pages: int = 0
    messages: list[str] = field(default_factory=list)

    def key(self, ordered: bool) -> dict[str, Any]:
        listing = self.list
        if isinstance(listing, list) and not ordered:
            listing = sorted(listing)
        return {"list": listing, "count": self.count, "groups": self.groups}


def _err(e: BaseException, messages: list[str], what: str) -> str:
    if isinstance(e, RPCError):
        messages.append(f"{what}: {e.status.name}: {e.message}")
        return f"ERROR {e.status.name}"
    messages.append(f"{what}: {type(e).__name__}: {e}")
    return f"ERROR {type(e).__name__}"


def _group_key(values: Iterable[Any]) -> list[Any]:
    conv = default_converter().payload_converter
    out = []
    for v in values:
        try:
            out.append(_norm_value("", conv.from_payload(v)))
        except Exception as e:  # noqa: BLE001
            out.append(f"<undecodable: {type(e).__name__}>")
    return out


async def run_query(client: Client, built: Built, q: Q) -> Answer:
    text = q.text(built.subst)
    ans = Answer(text, None, None)
    try:
        rows, ans.pages = await _list_all(client, text, q.page_size)
        ans.list = [built.alias(r.execution.workflow_id, r.execution.run_id) for r in rows]
    except Exception as e:  # noqa: BLE001
        ans.list = _err(e, ans.messages, "list")
    try:
        resp = await _count(client, text)
        ans.count = resp.count
        if resp.groups:
            ans.groups = sorted([_group_key(g.group_values), g.count] for g in resp.groups)
    except Exception as e:  # noqa: BLE001
        ans.count = _err(e, ans.messages, "count")
    return ans


def expected_key(q: Q) -> dict[str, Any]:
    """The documented real-server answer, in Answer.key() form."""
    if isinstance(q.expect, str):
        err = f"ERROR {q.expect}"
        return {"list": err, "count": err, "groups": None}
    listing = list(q.expect) if q.ordered else sorted(q.expect)
    count = q.expect_count if q.expect_count is not None else len(listing)
    groups = sorted(q.expect_groups) if q.expect_groups is not None else None
    return {"list": listing, "count": count, "groups": groups}


# --------------------------------------------------------------------------- #
# Fixtures and tests
# --------------------------------------------------------------------------- #
@pytest_asyncio.fixture(scope="module")
async def corpus(clients) -> dict[str, Built]:
    names = list(clients)
    built = await asyncio.gather(*(build_corpus(clients[n], n) for n in names))
    return dict(zip(names, built))


@pytest_asyncio.fixture(scope="module")
async def answers(corpus, clients) -> dict[str, dict[str, Answer]]:
    """Every query, run once on each server (a few at a time)."""
    limit = asyncio.Semaphore(6)

    async def one(server: str, q: Q) -> Answer:
        async with limit:
            return await run_query(clients[server], corpus[server], q)

    result: dict[str, dict[str, Answer]] = {q.name: {} for q in QUERIES}
    for server in clients:
        got = await asyncio.gather(*(one(server, q) for q in QUERIES))
        for q, a in zip(QUERIES, got):
            result[q.name][server] = a
    return result


def _require_real_corpus(corpus: dict[str, Built]) -> None:
    if corpus["real"].errors:
        pytest.fail("corpus broken on the REAL server:\n" + "\n".join(corpus["real"].errors), pytrace=False)


def _setup_note(corpus: dict[str, Built]) -> str:
    if not corpus["orrery"].errors:
        return ""
    return "\n\n(corpus setup on Orrery reported: " + "\n".join(corpus["orrery"].errors)[:3000] + ")"


def _query_params():
    for q in QUERIES:
        reason = KNOWN_DIFFERENCES.get(q.name)
        marks = [pytest.mark.xfail(reason=f"orrery: {reason}", strict=True)] if reason else []
        yield pytest.param(q, marks=marks, id=q.name)


def test_query_names_unique() -> None:
    names = [q.name for q in QUERIES]
    assert len(names) == len(set(names))
    assert set(KNOWN_DIFFERENCES) <= set(names)
    assert set(ORRERY_INTENDED) <= set(KNOWN_DIFFERENCES)


@pytest.mark.parametrize("q", list(_query_params()))
async def test_query(q: Q, corpus, answers) -> None:
    _require_real_corpus(corpus)
    real, orrery = answers[q.name]["real"], answers[q.name]["orrery"]
    rkey, okey = real.key(q.ordered), orrery.key(q.ordered)
    if rkey != okey:
        lines = [f"{q.name}: Orrery answers differently from the real server", f"  query (real): {real.query}"]
        for part in ("list", "count", "groups"):
            if rkey[part] != okey[part]:
                lines.append(f"  {part}: real={rkey[part]!r}\n  {' ' * len(part)}  orrery={okey[part]!r}")
        if real.messages or orrery.messages:
            lines.append(f"  messages: real={real.messages} orrery={orrery.messages}")
        pytest.fail("\n".join(lines) + _setup_note(corpus), pytrace=False)


def test_real_server_semantics(corpus, answers) -> None:
    """The real server answers every query as documented in QUERIES: the
    corpus was built as intended and the documentation is current."""
    _require_real_corpus(corpus)
    wrong = []
    for q in QUERIES:
        got = answers[q.name]["real"].key(q.ordered)
        want = expected_key(q)
        if got != want:
            wrong.append(f"{q.name}: documented {want}\n    real answers {got} {answers[q.name]['real'].messages}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("name", sorted(ORRERY_INTENDED))
async def test_orrery_intended(name: str, corpus, answers) -> None:
    q = next(q for q in QUERIES if q.name == name)
    got = answers[name]["orrery"].key(q.ordered)
    want = ORRERY_INTENDED[name]
    assert {k: got[k] for k in want} == want, answers[name]["orrery"].messages


async def test_listed_search_attributes_decode_alike(corpus, clients) -> None:
    """ListWorkflowExecutions returns the same typed Sbs* attributes (type
    metadata and decoded value) and statuses for every run of the corpus."""
    _require_real_corpus(corpus)
    snaps = {}
    for server, client in clients.items():
        try:
            snaps[server] = await observed_snapshot(client, corpus[server])
        except RPCError as e:
            snaps[server] = f"{e.status.name}: {e.message}"
    assert snaps["real"] == planned_snapshot()
    if snaps["orrery"] != snaps["real"]:
        diff = []
        if not isinstance(snaps["orrery"], dict):
            diff.append(f"orrery: {snaps['orrery']}")
        else:
            for alias in sorted(set(snaps["real"]) | set(snaps["orrery"])):
                r, o = snaps["real"].get(alias), snaps["orrery"].get(alias)
                if r != o:
                    diff.append(f"{alias}:\n    real   {r}\n    orrery {o}")
        pytest.fail("listed search attributes differ\n" + "\n".join(diff) + _setup_note(corpus), pytrace=False)


async def test_typed_search_attributes_via_sdk(corpus, clients) -> None:
    """The SDK's list_workflows / describe decode the typed attributes alike."""
    _require_real_corpus(corpus)

    async def via_sdk(server: str) -> Any:
        client = clients[server]
        out: dict[str, Any] = {}
        try:
            async for w in client.list_workflows(QUERY_SCOPE):
                alias = corpus[server].alias(w.id, w.run_id)
                out[alias] = sorted(
                    (p.key.name, p.key.indexed_value_type.name, _norm_value(p.key.name, p.value))
                    for p in w.typed_search_attributes
                    if p.key.name.startswith("Sbs")
                )
            desc = await client.get_workflow_handle(_wid("a1")).describe()
            out["describe a1"] = sorted(
                (p.key.name, p.key.indexed_value_type.name, _norm_value(p.key.name, p.value))
                for p in desc.typed_search_attributes
                if p.key.name.startswith("Sbs")
            )
        except RPCError as e:
            return f"{e.status.name}: {e.message}"
        return out

    real, orrery = await asyncio.gather(via_sdk("real"), via_sdk("orrery"))
    assert isinstance(real, dict) and len(real) == len(ALL) + 1, real
    assert orrery == real, _setup_note(corpus)


async def _custom_attributes(client: Client) -> Any:
    try:
        resp = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace="default"), timeout=RPC_TIMEOUT
        )
    except RPCError as e:
        return f"ERROR {e.status.name}"
    return {k: IndexedValueType.Name(v) for k, v in resp.custom_attributes.items() if k.startswith("Sbs")}


async def test_list_search_attributes(corpus, clients) -> None:
    """The added custom attributes are listed with their types on both."""
    want = {k: IndexedValueType.Name(v) for k, v in CUSTOM_TYPES.items()}
    got = {s: await _custom_attributes(c) for s, c in clients.items()}
    assert got["real"] == want
    assert got["orrery"] == got["real"], _setup_note(corpus)


async def test_operator_edge_cases(corpus, clients) -> None:
    """AddSearchAttributes / RemoveSearchAttributes on names that exist, are
    reserved or unknown: the same outcome (ok or status code) on both, and
    the listed types stay as they were."""

    async def add(client: Client, name: str, type_: int) -> str:
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace="default", search_attributes={name: type_}),
                timeout=RPC_TIMEOUT,
            )
            return "ok"
        except RPCError as e:
            return f"ERROR {e.status.name}"

    async def remove(client: Client, name: str) -> str:
        try:
            await client.operator_service.remove_search_attributes(
                RemoveSearchAttributesRequest(namespace="default", search_attributes=[name]),
                timeout=RPC_TIMEOUT,
            )
            return "ok"
        except RPCError as e:
            return f"ERROR {e.status.name}"

    async def probes(client: Client) -> dict[str, Any]:
        return {
            "add existing, same type": await add(client, "SbsInt", IndexedValueType.INDEXED_VALUE_TYPE_INT),
            # The real server accepts this and keeps the old type.
            "add existing, other type": await add(client, "SbsInt", IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD),
            "add a system name": await add(client, "WorkflowId", IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD),
            "add without type": await add(client, "SbsNoType", IndexedValueType.INDEXED_VALUE_TYPE_UNSPECIFIED),
            "remove a system attribute": await remove(client, "WorkflowId"),
            "listed after": await _custom_attributes(client),
        }

    got = {s: await probes(c) for s, c in clients.items()}
    assert got["real"]["listed after"]["SbsInt"] == "INDEXED_VALUE_TYPE_INT", got["real"]
    assert got["orrery"] == got["real"], _setup_note(corpus)


async def test_remove_search_attribute(corpus, clients) -> None:
    """Remove SbsRemoved: it is no longer listed and querying it fails the
    same way on both; removing it again too."""
    query = f"{QUERY_SCOPE} AND SbsRemoved = 'x'"

    async def count(client: Client) -> str:
        try:
            resp = await _count(client, query)
            return f"count {resp.count}"
        except RPCError as e:
            return f"ERROR {e.status.name}"

    async def remove(client: Client) -> str:
        try:
            await client.operator_service.remove_search_attributes(
                RemoveSearchAttributesRequest(namespace="default", search_attributes=["SbsRemoved"]),
                timeout=RPC_TIMEOUT,
            )
            return "ok"
        except RPCError as e:
            return f"ERROR {e.status.name}"

    async def scenario(client: Client) -> dict[str, Any]:
        out: dict[str, Any] = {"before": await count(client), "remove": await remove(client)}
        listed = await _custom_attributes(client)
        out["listed after"] = "SbsRemoved" in listed if isinstance(listed, dict) else listed

        # The real server may take a moment to stop accepting the attribute.
        async def gone() -> bool:
            return (await count(client)).startswith("ERROR")

        await poll(gone, 15, 0.2)
        out["query after"] = await count(client)
        out["remove again"] = await remove(client)
        return out

    real, orrery = await asyncio.gather(scenario(clients["real"]), scenario(clients["orrery"]))
    assert real["before"] == "count 0" and real["remove"] == "ok" and real["listed after"] is False, real
    assert orrery == real, _setup_note(corpus)


# --------------------------------------------------------------------------- #
# One server alone: python test_visibility.py HOST:PORT
# --------------------------------------------------------------------------- #
async def _main(address: str) -> int:
    client = await Client.connect(address, namespace="default")
    built = await build_corpus(client, address)
    print(f"corpus built in {built.build_s:.1f}s, visibility settled in {built.settle_s:.1f}s")
    for e in built.errors:
        print("SETUP ERROR:", e)
    bad = 0
    for q in QUERIES:
        ans = await run_query(client, built, q)
        got, want = ans.key(q.ordered), expected_key(q)
        ok = got == want
        bad += not ok
        print(f"{'ok ' if ok else 'BAD'} {q.name}: {ans.query}")
        if not ok:
            print(f"      documented: {want}\n      answered:   {got}")
        for m in ans.messages:
            print(f"      {m}")
    print(f"{len(QUERIES)} queries, {bad} not as documented")
    return 1 if bad or built.errors else 0


if __name__ == "__main__":
    import os

    code = asyncio.run(_main(sys.argv[1]))
    sys.stdout.flush()
    os._exit(code)
