"""Normalisation and comparison of what a scenario recorded on two servers.

Three things are compared per scenario (see `compare_scenario`):

1. the event-type sequence of every collected history;
2. the client-side results (workflow result values, or the error the SDK
   raised with its cause chain);
3. for every event, the attributes whitelisted for its type in `WHITELIST`.

Normalisation: workflow ids, run ids and task queue names are replaced by the
aliases the scenario gave them (`<wf>`, `<run:parent>`, `<tq>`), any other
UUID by `<uuid>`; payloads are decoded (JSON); durations are compared as
seconds with unset == 0 (configuration values, e.g. timeouts, never measured
times); timestamps never. Failures are compared as their cause chain (message,
source, failure-info kind and its fields).

Attributes outside the whitelist are diffed too, but only reported (in the
terminal summary, via `OFF_WHITELIST`), never asserted; known, accepted
differences (`IGNORED_FIELDS`) are left out of that report.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

UUIDISH = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

# Attributes asserted equal, per event type (paths into the event's
# attributes message, proto field names). Event types not listed are compared
# by type only.
_WFT_REFS = ["scheduled_event_id", "started_event_id"]
_CHILD = ["namespace", "workflow_execution", "workflow_type.name", "initiated_event_id"]
WHITELIST: dict[str, list[str]] = {
    "WORKFLOW_EXECUTION_STARTED": [
        "workflow_type.name",
        "task_queue.name",
        "task_queue.kind",
        "input",
        "attempt",
        "initiator",
        "continued_execution_run_id",
        "original_execution_run_id",
        "first_execution_run_id",
        "continued_failure",
        "last_completion_result",
        "parent_workflow_namespace",
        "parent_workflow_execution",
        "parent_initiated_event_id",
        "workflow_execution_timeout",
        "workflow_run_timeout",
        "workflow_task_timeout",
        "retry_policy",
        "cron_schedule",
        "memo",
        "eager_execution_accepted",
    ],
    "WORKFLOW_TASK_SCHEDULED": [
        "task_queue.kind",
        "task_queue.normal_name",
        "start_to_close_timeout",
        "attempt",
    ],
    "WORKFLOW_TASK_STARTED": ["scheduled_event_id", "worker_version"],
    "WORKFLOW_TASK_COMPLETED": [*_WFT_REFS, "worker_version", "binary_checksum"],
    "WORKFLOW_TASK_FAILED": [*_WFT_REFS, "cause", "failure", "base_run_id", "new_run_id"],
    "WORKFLOW_TASK_TIMED_OUT": [*_WFT_REFS, "timeout_type"],
    "ACTIVITY_TASK_SCHEDULED": [
        "activity_id",
        "activity_type.name",
        "task_queue.name",
        "task_queue.kind",
        "input",
        "schedule_to_close_timeout",
        "schedule_to_start_timeout",
        "start_to_close_timeout",
        "heartbeat_timeout",
        "retry_policy",
        "workflow_task_completed_event_id",
    ],
    "ACTIVITY_TASK_STARTED": ["scheduled_event_id", "attempt", "last_failure"],
    "ACTIVITY_TASK_COMPLETED": [*_WFT_REFS, "result"],
    "ACTIVITY_TASK_FAILED": [*_WFT_REFS, "failure", "retry_state"],
    "ACTIVITY_TASK_TIMED_OUT": [*_WFT_REFS, "failure", "retry_state"],
    "ACTIVITY_TASK_CANCEL_REQUESTED": ["scheduled_event_id", "workflow_task_completed_event_id"],
    "ACTIVITY_TASK_CANCELED": [*_WFT_REFS, "latest_cancel_requested_event_id", "details"],
    "TIMER_STARTED": ["timer_id", "start_to_fire_timeout", "workflow_task_completed_event_id"],
    "TIMER_FIRED": ["timer_id", "started_event_id"],
    "TIMER_CANCELED": ["timer_id", "started_event_id", "workflow_task_completed_event_id"],
    "MARKER_RECORDED": ["marker_name", "workflow_task_completed_event_id", "failure"],
    "WORKFLOW_EXECUTION_SIGNALED": ["signal_name", "input", "external_workflow_execution"],
    "WORKFLOW_EXECUTION_COMPLETED": ["result", "workflow_task_completed_event_id", "new_execution_run_id"],
    "WORKFLOW_EXECUTION_FAILED": [
        "failure",
        "retry_state",
        "workflow_task_completed_event_id",
        "new_execution_run_id",
    ],
    "WORKFLOW_EXECUTION_TIMED_OUT": ["retry_state", "new_execution_run_id"],
    "WORKFLOW_EXECUTION_CANCEL_REQUESTED": [
        "cause",
        "external_initiated_event_id",
        "external_workflow_execution",
    ],
    "WORKFLOW_EXECUTION_CANCELED": ["workflow_task_completed_event_id", "details"],
    "WORKFLOW_EXECUTION_TERMINATED": ["reason", "details", "identity"],
    "WORKFLOW_EXECUTION_CONTINUED_AS_NEW": [
        "new_execution_run_id",
        "workflow_type.name",
        "task_queue.name",
        "task_queue.kind",
        "input",
        "workflow_run_timeout",
        "workflow_task_timeout",
        "workflow_task_completed_event_id",
        "initiator",
        "failure",
        "last_completion_result",
    ],
    "START_CHILD_WORKFLOW_EXECUTION_INITIATED": [
        "namespace",
        "workflow_id",
        "workflow_type.name",
        "task_queue.name",
        "task_queue.kind",
        "input",
        "workflow_execution_timeout",
        "workflow_run_timeout",
        "parent_close_policy",
        "workflow_id_reuse_policy",
        "workflow_task_completed_event_id",
        "retry_policy",
        "cron_schedule",
        "memo",
    ],
    "START_CHILD_WORKFLOW_EXECUTION_FAILED": [
        "namespace",
        "workflow_id",
        "workflow_type.name",
        "cause",
        "initiated_event_id",
        "workflow_task_completed_event_id",
    ],
    "CHILD_WORKFLOW_EXECUTION_STARTED": _CHILD,
    "CHILD_WORKFLOW_EXECUTION_COMPLETED": [*_CHILD, "started_event_id", "result"],
    "CHILD_WORKFLOW_EXECUTION_FAILED": [*_CHILD, "started_event_id", "failure", "retry_state"],
    "CHILD_WORKFLOW_EXECUTION_CANCELED": [*_CHILD, "started_event_id", "details"],
    "CHILD_WORKFLOW_EXECUTION_TIMED_OUT": [*_CHILD, "started_event_id", "retry_state"],
    "CHILD_WORKFLOW_EXECUTION_TERMINATED": [*_CHILD, "started_event_id"],
    "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED": [
        "namespace",
        "workflow_execution",
        "signal_name",
        "input",
        "child_workflow_only",
        "workflow_task_completed_event_id",
    ],
    "EXTERNAL_WORKFLOW_EXECUTION_SIGNALED": ["namespace", "workflow_execution", "initiated_event_id"],
    "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED": [
        "namespace",
        "workflow_execution",
        "initiated_event_id",
        "cause",
        "workflow_task_completed_event_id",
    ],
    "REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED": [
        "namespace",
        "workflow_execution",
        "child_workflow_only",
        "reason",
        "workflow_task_completed_event_id",
    ],
    "EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED": ["namespace", "workflow_execution", "initiated_event_id"],
    "REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED": [
        "namespace",
        "workflow_execution",
        "initiated_event_id",
        "cause",
        "workflow_task_completed_event_id",
    ],
    "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES": ["workflow_task_completed_event_id", "search_attributes"],
    "WORKFLOW_PROPERTIES_MODIFIED": ["workflow_task_completed_event_id", "upserted_memo"],
}

# Never compared, not even in the informational report: noise by nature
# (identities, SDK/worker metadata), times, or accepted differences.
IGNORED_FIELDS = {
    "identity",
    "header",
    "request_id",
    "worker_version",
    "worker_version_stamp",
    "source_version_stamp",
    "sdk_metadata",
    "metering_metadata",
    "binary_checksum",
    "build_id_redirect_counter",
    "inherit_build_id",
    "use_workflow_build_id",
    "suggest_continue_as_new",
    "suggest_continue_as_new_reasons",
    "history_size_bytes",
    "prev_auto_reset_points",
    "worker_deployment_name",
    "worker_deployment_version",
    "deployment",
    "versioning_behavior",
    "versioning_override",
    "versioning_info",
    "stack_trace",
    "encoded_attributes",
    # times and timing-derived durations
    "first_workflow_task_backoff",
    "backoff_start_interval",
    "workflow_execution_expiration_time",
    "expiration_time",
    "event_time",
    "last_heartbeat_time",
}

# The informational report of differences outside the whitelist:
# (scenario, event type, attribute path, real value, orrery value).
OFF_WHITELIST: list[tuple[str, str, str, Any, Any]] = []


# --------------------------------------------------------------------------- #
# Normalisation
# --------------------------------------------------------------------------- #
class Normalizer:
    def __init__(self, aliases: dict[str, str]) -> None:
        # Longest first: a child id contains its parent's id.
        self._aliases = sorted(aliases.items(), key=lambda kv: -len(kv[0]))

    def text(self, s: str) -> str:
        for actual, alias in self._aliases:
            if actual and actual in s:
                s = s.replace(actual, alias)
        return UUIDISH.sub("<uuid>", s)

    def value(self, v: Any) -> Any:
        if isinstance(v, str):
            return self.text(v)
        if isinstance(v, dict):
            if set(v) == {"seconds", "nanos"}:
                return "<time>"  # a timestamp inside a payload (e.g. a local activity marker)
            return {self.value(k): self.value(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [self.value(x) for x in v]
        return v

    # -- protobuf ------------------------------------------------------------
    def payload(self, p: Message) -> Any:
        encoding = p.metadata.get("encoding", b"").decode(errors="replace")
        if encoding == "binary/null":
            return None
        try:
            return self.value(json.loads(p.data))
        except Exception:  # noqa: BLE001
            return f"<payload {encoding} {base64.b64encode(p.data).decode()[:40]}>"

    def failure(self, f: Message) -> list[dict]:
        chain: list[dict] = []
        while f is not None and f.ListFields():
            d: dict[str, Any] = {"message": self.text(f.message), "source": f.source}
            kind = f.WhichOneof("failure_info")
            d["info"] = kind
            if kind:
                d.update(self.message(getattr(f, kind)))
            chain.append(d)
            f = f.cause if f.HasField("cause") else None
        return chain

    def message(self, m: Message) -> Any:
        name = m.DESCRIPTOR.full_name
        if name == "google.protobuf.Duration":
            return m.ToTimedelta().total_seconds()
        if name == "google.protobuf.Timestamp":
            return "<time>"
        if name == "temporal.api.common.v1.Payloads":
            return [self.payload(p) for p in m.payloads]
        if name == "temporal.api.common.v1.Payload":
            return self.payload(m)
        if name == "temporal.api.failure.v1.Failure":
            return self.failure(m)
        out: dict[str, Any] = {}
        for fd, val in m.ListFields():
            if fd.name in IGNORED_FIELDS:
                continue
            rendered = self.field(fd, val)
            if rendered in (0.0, {}, [], None) and not isinstance(rendered, bool):
                continue  # unset and explicit zero/empty are the same
            out[fd.name] = rendered
        if name == "temporal.api.taskqueue.v1.TaskQueue" and out.get("kind") == "TASK_QUEUE_KIND_STICKY":
            out.pop("name", None)  # sticky queue names are per worker process
        return out

    def field(self, fd: FieldDescriptor, val: Any) -> Any:
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            value_fd = fd.message_type.fields_by_name["value"]
            return {self.text(str(k)): self._single(value_fd, v) for k, v in val.items()}
        if _is_repeated(fd):
            return [self._single(fd, v) for v in val]
        return self._single(fd, val)

    def _single(self, fd: FieldDescriptor, val: Any) -> Any:
        if fd.type == FieldDescriptor.TYPE_ENUM:
            ev = fd.enum_type.values_by_number.get(val)
            return ev.name if ev else val
        if fd.type == FieldDescriptor.TYPE_MESSAGE:
            return self.message(val)
        if isinstance(val, str):
            return self.text(val)
        if isinstance(val, bytes):
            return "<bytes>"
        return val

    def path(self, m: Message, path: str) -> Any:
        obj: Any = m
        fd: FieldDescriptor | None = None
        for part in path.split("."):
            fd = obj.DESCRIPTOR.fields_by_name[part]
            obj = getattr(obj, part)
        assert fd is not None
        value = self.field(fd, obj)
        return value


def _is_repeated(fd: FieldDescriptor) -> bool:
    flag = getattr(fd, "is_repeated", None)
    if flag is not None:
        return bool(flag)
    return fd.label == FieldDescriptor.LABEL_REPEATED


def attributes(e: HistoryEvent) -> Message | None:
    which = e.WhichOneof("attributes")
    return getattr(e, which) if which else None


def type_name(e: HistoryEvent) -> str:
    return EventType.Name(e.event_type).removeprefix("EVENT_TYPE_")


def flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: d}


# --------------------------------------------------------------------------- #
# Comparison
# --------------------------------------------------------------------------- #
def _fmt(v: Any) -> str:
    return json.dumps(v, sort_keys=True, default=str)


def _sequence_table(real: list[str], orrery: list[str]) -> str:
    rows = [f"    {'#':>3}  {'real':<48} orrery"]
    for i in range(max(len(real), len(orrery))):
        r = real[i] if i < len(real) else "-"
        o = orrery[i] if i < len(orrery) else "-"
        mark = "  " if r == o else "!="
        rows.append(f"{mark}  {i + 1:>3}  {r:<48} {o}")
    return "\n".join(rows)


def compare_scenario(scenario: str, real, orrery) -> list[str]:
    """Differences between the two recordings, as readable paragraphs."""
    problems: list[str] = []
    nr, no = Normalizer(real.aliases), Normalizer(orrery.aliases)

    # 2. results (first: the most user-visible)
    rres, ores = nr.value(real.results), no.value(orrery.results)
    for key in sorted(set(rres) | set(ores)):
        if rres.get(key) != ores.get(key):
            problems.append(
                f"result {key!r} differs:\n    real:   {_fmt(rres.get(key))}\n    orrery: {_fmt(ores.get(key))}"
            )

    rtitles = [h[0] for h in real.histories]
    otitles = [h[0] for h in orrery.histories]
    if rtitles != otitles:
        problems.append(f"collected histories differ: real {rtitles}, orrery {otitles}")
        return problems

    for (title, _, _, revents), (_, _, _, oevents) in zip(real.histories, orrery.histories):
        # 1. event types
        rtypes = [type_name(e) for e in revents]
        otypes = [type_name(e) for e in oevents]
        if rtypes != otypes:
            problems.append(f"history {title!r}: event types differ\n{_sequence_table(rtypes, otypes)}")
            continue
        # 3. whitelisted attributes (and the informational rest)
        for re_, oe in zip(revents, oevents):
            et = type_name(re_)
            ra, oa = attributes(re_), attributes(oe)
            if ra is None or oa is None:
                continue
            paths = WHITELIST.get(et, [])
            for path in paths:
                rv, ov = nr.path(ra, path), no.path(oa, path)
                if rv != ov:
                    problems.append(
                        f"history {title!r} event {re_.event_id} {et}.{path} differs:\n"
                        f"    real:   {_fmt(rv)}\n    orrery: {_fmt(ov)}"
                    )
            _note_off_whitelist(scenario, et, paths, nr.message(ra), no.message(oa))
    return problems


def _note_off_whitelist(scenario: str, et: str, paths: list[str], rfull: Any, ofull: Any) -> None:
    rflat, oflat = flatten(rfull), flatten(ofull)
    for key in sorted(set(rflat) | set(oflat)):
        if any(key == p or key.startswith(p + ".") for p in paths):
            continue
        rv, ov = rflat.get(key), oflat.get(key)
        if rv != ov:
            OFF_WHITELIST.append((scenario, et, key, rv, ov))


def normalized_recording(ctx) -> dict:
    """Everything a scenario recorded on one server, normalised (for dumps)."""
    n = Normalizer(ctx.aliases)
    return {
        "error": ctx.error,
        "results": n.value(ctx.results),
        "histories": [
            {
                "title": title,
                "events": [
                    {
                        "id": e.event_id,
                        "type": type_name(e),
                        # not compared: for reading dumps only
                        "t_ms": round(
                            (e.event_time.ToDatetime() - events[0].event_time.ToDatetime()).total_seconds()
                            * 1000
                        ),
                        "attrs": n.message(a) if (a := attributes(e)) is not None else {},
                    }
                    for e in events
                ],
            }
            for title, _, _, events in ctx.histories
        ],
    }
