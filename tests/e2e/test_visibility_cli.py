"""Visibility through the real `temporal` CLI: custom search attributes
(`temporal operator search-attribute create / list / remove`), workflows
started with attributes (`temporal workflow start --search-attribute`),
`temporal workflow list --query ... --output json`, `temporal workflow count`
(with GROUP BY ExecutionStatus), `temporal workflow describe`.

The CLI binary: TEMPORAL_CLI (scripts/test sets it), else <repo>/.venv/bin/temporal,
else `temporal` on PATH. Attribute names and workflow ids are unique per run,
and every query is scoped to this run's workflow-id prefix.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio import workflow
from temporalio.client import Client
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from helpers import poll, run_worker

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
RUN = uuid.uuid4().hex[:8]
PREFIX = f"cli-vis-{RUN}-"
SCOPE = f"WorkflowId STARTS_WITH '{PREFIX}'"
NOBODY_TQ = f"cli-vis-nobody-{RUN}"

# One custom attribute of every type, named uniquely for this run.
ATTRS: dict[str, str] = {
    f"CliKw{RUN}": "Keyword",
    f"CliInt{RUN}": "Int",
    f"CliDouble{RUN}": "Double",
    f"CliBool{RUN}": "Bool",
    f"CliDatetime{RUN}": "Datetime",
    f"CliKwList{RUN}": "KeywordList",
    f"CliText{RUN}": "Text",
}
KW, INT, DBL, BOOL, DT, KWL, TXT = ATTRS
TYPE_ENUM = {
    "Keyword": "INDEXED_VALUE_TYPE_KEYWORD",
    "Int": "INDEXED_VALUE_TYPE_INT",
    "Double": "INDEXED_VALUE_TYPE_DOUBLE",
    "Bool": "INDEXED_VALUE_TYPE_BOOL",
    "Datetime": "INDEXED_VALUE_TYPE_DATETIME",
    "KeywordList": "INDEXED_VALUE_TYPE_KEYWORD_LIST",
    "Text": "INDEXED_VALUE_TYPE_TEXT",
}


def temporal_cli() -> str:
    env = os.environ.get("TEMPORAL_CLI")
    if env:
        return env
    venv = REPO_ROOT / ".venv" / "bin" / "temporal"
    if venv.exists():
        return str(venv)
    found = shutil.which("temporal")
    if not found:
        pytest.skip("no temporal CLI (set TEMPORAL_CLI)")
    return found


@dataclass
class CliResult:
    rc: int
    out: str
    err: str

    def json(self) -> Any:
        assert self.rc == 0, f"CLI failed (rc={self.rc}): {self.err or self.out}"
        return json.loads(self.out)


async def cli(address: str, *args: str, timeout: float = 30.0) -> CliResult:
    """Run `temporal ARGS --address ADDRESS`; retried while the server
    answers with a rate limit (the real dev server allows 10 visibility
    calls a second per namespace)."""
    deadline = time.monotonic() + timeout
    while True:
        proc = await asyncio.create_subprocess_exec(
            temporal_cli(), *args, "--address", address,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
        result = CliResult(proc.returncode or 0, out.decode(), err.decode())
        if result.rc != 0 and "rate limit" in result.err.lower() and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            continue
        return result


def decode_search_attributes(doc: dict) -> dict[str, tuple[str, Any]]:
    """protojson `searchAttributes` -> {name: (type metadata, JSON value)}."""
    out = {}
    for name, payload in (doc.get("searchAttributes") or {}).get("indexedFields", {}).items():
        meta = payload.get("metadata", {})
        type_ = base64.b64decode(meta["type"]).decode() if "type" in meta else None
        out[name] = (type_, json.loads(base64.b64decode(payload.get("data", ""))))
    return out


@workflow.defn(name="CliVisCompleting")
class CliVisCompleting:
    @workflow.run
    async def run(self) -> str:
        return "done"


# --------------------------------------------------------------------------- #
# The run's attributes and workflows
# --------------------------------------------------------------------------- #
@dataclass
class Corpus:
    address: str
    ids: dict[str, str] = field(default_factory=dict)  # alias -> workflow id

    def alias(self, workflow_id: str) -> str:
        return workflow_id.removeprefix(PREFIX)


async def list_ids(address: str, query: str, *extra: str) -> list[str]:
    doc = (await cli(address, "workflow", "list", "--query", query, "--output", "json", *extra)).json()
    return [row["execution"]["workflowId"].removeprefix(PREFIX) for row in (doc or [])]


async def custom_attributes(address: str) -> dict[str, str]:
    doc = (await cli(address, "operator", "search-attribute", "list", "--output", "json")).json()
    return doc.get("customAttributes", {})


@pytest_asyncio.fixture(scope="module")
async def corpus(server):
    address = server.address
    client = await Client.connect(address, namespace="default")
    c = Corpus(address)
    try:
        for name, type_ in ATTRS.items():
            res = await cli(address, "operator", "search-attribute", "create", "--name", name, "--type", type_)
            assert res.rc == 0, f"create {name} {type_}: {res.err or res.out}"

        async def listed() -> bool:
            got = await custom_attributes(address)
            return all(got.get(n) == TYPE_ENUM[t] for n, t in ATTRS.items())

        assert await poll(listed), "the created attributes are not listed"

        starts = {
            # Running (nobody polls its task queue), every attribute type.
            "one": [f'{KW}="alpha"', f"{INT}=5", f"{DBL}=2.5", f"{BOOL}=true",
                    f'{DT}="2024-05-01T10:00:00Z"', f'{KWL}=["a","b"]', f'{TXT}="hello big world"'],
            # Terminated below.
            "two": [f'{KW}="beta"', f"{INT}=7", f'{KWL}=["b","c"]', f'{TXT}="goodbye world"',
                    f'{DT}="2025-01-01T00:00:00Z"'],
            # No custom attribute at all.
            "bare": [],
        }
        for alias, attrs in starts.items():
            wid = f"{PREFIX}{alias}"
            args = ["workflow", "start", "--type", "CliVisParked", "--task-queue", NOBODY_TQ, "--workflow-id", wid]
            for a in attrs:
                args += ["--search-attribute", a]
            res = await cli(address, *args)
            assert res.rc == 0, f"start {alias}: {res.err or res.out}"
            c.ids[alias] = wid
        res = await cli(address, "workflow", "terminate", "--workflow-id", f"{PREFIX}two", "--reason", "cli test")
        assert res.rc == 0, res.err

        # Completed, started through the SDK with typed attributes.
        async with run_worker(client, workflows=[CliVisCompleting]) as w:
            await client.execute_workflow(
                CliVisCompleting.run,
                id=f"{PREFIX}sdk",
                task_queue=w.task_queue,
                search_attributes=TypedSearchAttributes([
                    SearchAttributePair(SearchAttributeKey.for_keyword(KW), "gamma"),
                    SearchAttributePair(SearchAttributeKey.for_int(INT), 9),
                    SearchAttributePair(SearchAttributeKey.for_bool(BOOL), False),
                    SearchAttributePair(SearchAttributeKey.for_keyword_list(KWL), ["c"]),
                ]),
            )
        c.ids["sdk"] = f"{PREFIX}sdk"

        # Visibility may lag: wait until all four show in their final state.
        async def settled() -> bool:
            res = await cli(address, "workflow", "list", "--query", SCOPE, "--output", "json")
            if res.rc != 0:
                return False
            rows = {r["execution"]["workflowId"]: r["status"] for r in (json.loads(res.out) or [])}
            return rows == {
                f"{PREFIX}one": "WORKFLOW_EXECUTION_STATUS_RUNNING",
                f"{PREFIX}two": "WORKFLOW_EXECUTION_STATUS_TERMINATED",
                f"{PREFIX}bare": "WORKFLOW_EXECUTION_STATUS_RUNNING",
                f"{PREFIX}sdk": "WORKFLOW_EXECUTION_STATUS_COMPLETED",
            }

        assert await poll(settled), "visibility never showed the four workflows in their final state"
        yield c
    finally:
        for alias in ("one", "bare"):
            await cli(address, "workflow", "terminate", "--workflow-id", f"{PREFIX}{alias}", "--reason", "cleanup")
        try:
            listed_now = await custom_attributes(address)
        except AssertionError:
            listed_now = dict.fromkeys(ATTRS)
        for name in ATTRS:
            if name in listed_now:
                await cli(address, "operator", "search-attribute", "remove", "--name", name, "--yes")


# --------------------------------------------------------------------------- #
# Tests
# --------------------------------------------------------------------------- #
async def test_created_attributes_are_listed(corpus: Corpus) -> None:
    got = await custom_attributes(corpus.address)
    assert {n: got.get(n) for n in ATTRS} == {n: TYPE_ENUM[t] for n, t in ATTRS.items()}
    text = await cli(corpus.address, "operator", "search-attribute", "list")
    assert text.rc == 0, text.err
    for name, type_ in ATTRS.items():
        line = next((ln for ln in text.out.splitlines() if ln.split()[:1] == [name]), None)
        assert line is not None and line.split()[1] == type_, (name, text.out)


async def test_create_existing_with_other_type_fails(corpus: Corpus) -> None:
    res = await cli(corpus.address, "operator", "search-attribute", "create", "--name", KW, "--type", "Int")
    assert res.rc != 0
    assert (await custom_attributes(corpus.address))[KW] == TYPE_ENUM["Keyword"]


@pytest.mark.parametrize(
    "query, expected",
    [
        pytest.param(f"{KW} = 'alpha'", {"one"}, id="keyword_eq"),
        pytest.param(f"{KW} IN ('alpha', 'gamma')", {"one", "sdk"}, id="keyword_in"),
        pytest.param(f"{KW} != 'alpha'", {"two", "sdk"}, id="keyword_ne"),
        pytest.param(f"{KW} STARTS_WITH 'be'", {"two"}, id="keyword_starts_with"),
        pytest.param(f"{KW} IS NULL", {"bare"}, id="keyword_is_null"),
        pytest.param(f"{INT} > 5", {"two", "sdk"}, id="int_gt"),
        pytest.param(f"{INT} BETWEEN 5 AND 7", {"one", "two"}, id="int_between"),
        pytest.param(f"{DBL} >= 2.5", {"one"}, id="double_ge"),
        pytest.param(f"{BOOL} = true", {"one"}, id="bool_true"),
        pytest.param(f"{BOOL} = false", {"sdk"}, id="bool_false"),
        pytest.param(f"{DT} > '2024-12-31T00:00:00Z'", {"two"}, id="datetime_gt"),
        pytest.param(f"{DT} < '2024-12-31T00:00:00+01:00'", {"one"}, id="datetime_lt_offset"),
        pytest.param(f"{KWL} = 'b'", {"one", "two"}, id="keyword_list_contains"),
        pytest.param(f"{KWL} IN ('a', 'c')", {"one", "two", "sdk"}, id="keyword_list_in"),
        pytest.param(f"{TXT} = 'world'", {"one", "two"}, id="text_word"),
        pytest.param(f"{TXT} = 'big'", {"one"}, id="text_other_word"),
        pytest.param("ExecutionStatus = 'Running'", {"one", "bare"}, id="status_running"),
        pytest.param("ExecutionStatus IN ('Terminated', 'Completed')", {"two", "sdk"}, id="status_closed"),
        pytest.param("WorkflowType = 'CliVisCompleting'", {"sdk"}, id="workflow_type"),
        pytest.param(f"TaskQueue = '{NOBODY_TQ}'", {"one", "two", "bare"}, id="task_queue"),
        pytest.param("CloseTime IS NOT NULL", {"two", "sdk"}, id="close_time_not_null"),
        pytest.param(f"({KW} = 'alpha' OR {INT} = 9) AND {BOOL} IS NOT NULL", {"one", "sdk"}, id="logic"),
    ],
)
async def test_workflow_list_query(corpus: Corpus, query: str, expected: set[str]) -> None:
    ids = await list_ids(corpus.address, f"{SCOPE} AND ({query})")
    assert sorted(ids) == sorted(expected)


async def test_workflow_list_default_order_and_paging(corpus: Corpus) -> None:
    # Running ones first (newest start first), then by close time, newest first.
    whole = await list_ids(corpus.address, SCOPE)
    assert whole == ["bare", "one", "sdk", "two"]
    assert await list_ids(corpus.address, SCOPE, "--page-size", "1") == whole
    assert await list_ids(corpus.address, SCOPE, "--limit", "2") == whole[:2]


async def test_workflow_list_shows_search_attributes(corpus: Corpus) -> None:
    doc = (await cli(corpus.address, "workflow", "list", "--query", f"{SCOPE} AND {KW} = 'alpha'",
                     "--output", "json")).json()
    assert len(doc) == 1
    attrs = {k: v for k, v in decode_search_attributes(doc[0]).items() if k in ATTRS}
    assert attrs == {
        KW: ("Keyword", "alpha"),
        INT: ("Int", 5),
        DBL: ("Double", 2.5),
        BOOL: ("Bool", True),
        DT: ("Datetime", attrs.get(DT, (None, None))[1]),
        KWL: ("KeywordList", ["a", "b"]),
        TXT: ("Text", "hello big world"),
    }
    assert datetime.fromisoformat(attrs[DT][1].replace("Z", "+00:00")) == datetime.fromisoformat(
        "2024-05-01T10:00:00+00:00"
    )


async def test_workflow_describe_shows_search_attributes(corpus: Corpus) -> None:
    doc = (await cli(corpus.address, "workflow", "describe", "--workflow-id", f"{PREFIX}sdk",
                     "--output", "json")).json()
    attrs = {k: v for k, v in decode_search_attributes(doc["workflowExecutionInfo"]).items() if k in ATTRS}
    assert attrs == {
        KW: ("Keyword", "gamma"), INT: ("Int", 9), BOOL: ("Bool", False), KWL: ("KeywordList", ["c"]),
    }


async def test_workflow_count(corpus: Corpus) -> None:
    doc = (await cli(corpus.address, "workflow", "count", "--query", SCOPE, "--output", "json")).json()
    assert int(doc["count"]) == 4
    doc = (await cli(corpus.address, "workflow", "count", "--query", f"{SCOPE} AND {INT} >= 7",
                     "--output", "json")).json()
    assert int(doc["count"]) == 2
    text = await cli(corpus.address, "workflow", "count", "--query", SCOPE)
    assert text.rc == 0 and "Total: 4" in text.out, text.out


async def test_workflow_count_group_by_status(corpus: Corpus) -> None:
    doc = (await cli(corpus.address, "workflow", "count", "--query", f"{SCOPE} GROUP BY ExecutionStatus",
                     "--output", "json")).json()
    assert int(doc["count"]) == 4
    groups = sorted((g["groupValues"], int(g["count"])) for g in doc["groups"])
    assert groups == [(["Completed"], 1), (["Running"], 2), (["Terminated"], 1)]


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("NoSuchAttribute = 'x'", id="unknown_attribute"),
        pytest.param(f"{TXT} < 'm'", id="text_range"),
        pytest.param(f"{INT} = 'five'", id="int_vs_string"),
        pytest.param(f"{KW} = 'x' OR 1=1", id="tautology"),
        pytest.param(f"{KW} = 'unterminated", id="unterminated_string"),
    ],
)
async def test_invalid_query_fails(corpus: Corpus, query: str) -> None:
    for command in ("list", "count"):
        res = await cli(corpus.address, "workflow", command, "--query", f"{SCOPE} AND {query}")
        assert res.rc != 0, f"workflow {command} accepted {query!r}: {res.out}"


async def test_remove_search_attributes(corpus: Corpus) -> None:
    """Runs last: removes the run's attributes; they are no longer listed and
    a query on one of them fails."""
    assert (await cli(corpus.address, "workflow", "count", "--query", f"{SCOPE} AND {KW} = 'alpha'")).rc == 0
    for name in ATTRS:
        res = await cli(corpus.address, "operator", "search-attribute", "remove", "--name", name, "--yes")
        assert res.rc == 0, f"remove {name}: {res.err or res.out}"
    got = await custom_attributes(corpus.address)
    assert not set(ATTRS) & set(got), got
    text = await cli(corpus.address, "operator", "search-attribute", "list")
    assert text.rc == 0 and not any(name in text.out for name in ATTRS)

    async def rejected() -> bool:
        res = await cli(corpus.address, "workflow", "list", "--query", f"{SCOPE} AND {KW} = 'alpha'")
        return res.rc != 0

    assert await poll(rejected), "a query on a removed attribute still succeeds"
