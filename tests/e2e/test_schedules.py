"""Schedules: CreateSchedule, DescribeSchedule, UpdateSchedule, PatchSchedule
(trigger, pause/unpause, backfill), DeleteSchedule, ListSchedules and
ListScheduleMatchingTimes, driven through the Python SDK's schedule client.

Everything asserted here is what the real server (CLI 1.9 / server 1.32) does;
surprising behaviours are asserted as observed and say so in a comment.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import zoneinfo
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from typing import Any, AsyncIterator, Callable

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import IndexedValueType, WorkflowExecutionStatus
from temporalio.api.history.v1 import HistoryEvent

from temporalio.api.schedule.v1 import IntervalSpec
from temporalio.api.schedule.v1 import Schedule as ProtoSchedule
from temporalio.api.schedule.v1 import ScheduleSpec as ProtoScheduleSpec
from temporalio.api.workflowservice.v1 import (
    CreateScheduleRequest,
    DeleteScheduleRequest,
    DescribeScheduleRequest,
    ListScheduleMatchingTimesRequest,
    ListSchedulesRequest,
)
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleBackfill,
    ScheduleCalendarSpec,
    ScheduleDescription,
    ScheduleHandle,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import (
    RetryPolicy,
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
)
from temporalio.converter import decode_search_attributes
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from helpers import ensure_search_attributes, new_id, run_worker, wait_for

KW = SearchAttributeKey.for_keyword("OrreryScheduleKeyword")
NY = zoneinfo.ZoneInfo("America/New_York")
RUNNING = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING
COMPLETED = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED
FAILED = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_FAILED
CANCELED = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_CANCELED
TERMINATED = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TERMINATED


# -- workflows ---------------------------------------------------------------


@workflow.defn
class ScheduledEcho:
    @workflow.run
    async def run(self, text: str) -> str:
        return f"echo:{text}"


@workflow.defn
class Blocker:
    """Runs until signalled; a cancellation ends it as CANCELED."""

    def __init__(self) -> None:
        self._released = False

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self._released)
        return "released"

    @workflow.signal
    def release(self) -> None:
        self._released = True


@workflow.defn
class AlwaysFails:
    @workflow.run
    async def run(self) -> None:
        raise ApplicationError("boom", non_retryable=True)


@workflow.defn
class Counter:
    @workflow.run
    async def run(self) -> int:
        previous = workflow.get_last_completion_result(type_hint=int)
        return (previous or 0) + 1


# -- helpers -----------------------------------------------------------------

_registered = False


async def _ensure_keyword_attribute(client: Client) -> None:
    """Registers OrreryScheduleKeyword once per session."""
    global _registered
    if not _registered:
        await ensure_search_attributes(client, {KW.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD})
        _registered = True


@asynccontextmanager
async def created(client: Client, sid: str, schedule: Schedule, **kwargs: Any) -> AsyncIterator[ScheduleHandle]:
    """Creates a schedule for the block and deletes it afterwards."""
    handle = await client.create_schedule(sid, schedule, **kwargs)
    try:
        yield handle
    finally:
        with contextlib.suppress(RPCError):
            await handle.delete()


async def describe_until(
    handle: ScheduleHandle, pred: Callable[[ScheduleDescription], Any], *, timeout: float = 10.0
) -> ScheduleDescription:
    last: list[ScheduleDescription] = []

    async def check() -> ScheduleDescription | None:
        desc = await handle.describe()
        last[:] = [desc]
        return desc if pred(desc) else None

    try:
        return await wait_for(check, timeout=timeout, interval=0.1)
    except AssertionError:
        d = last[0] if last else None
        raise AssertionError(
            f"schedule {handle.id}: condition not met in {timeout}s; last info="
            f"{d.raw_description.info if d else None} state={d.schedule.state if d else None}"
        ) from None


def rfc3339(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def ts(dt: datetime) -> Timestamp:
    t = Timestamp()
    t.FromDatetime(dt)
    return t


def decode(client: Client, payload: Payload) -> Any:
    return client.data_converter.payload_converter.from_payload(payload)


def statuses(desc: ScheduleDescription) -> list[int]:
    return [a.start_workflow_status for a in desc.raw_description.info.recent_actions]


async def started_event(client: Client, workflow_id: str) -> HistoryEvent:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    first = history.events[0]
    assert first.HasField("workflow_execution_started_event_attributes")
    return first


async def next_wall_second() -> None:
    """Waits until the wall-clock second changes: triggers in different seconds
    get different workflow ids (ids carry the trigger time in whole seconds)."""
    start = int(time.time())
    await wait_for(lambda: int(time.time()) > start, timeout=2, interval=0.01)


async def release_all(client: Client, workflow_ids: list[str]) -> None:
    for wid in workflow_ids:
        with contextlib.suppress(RPCError):
            await client.get_workflow_handle(wid).signal(Blocker.release)


async def terminate_all(client: Client, workflow_ids: list[str]) -> None:
    for wid in workflow_ids:
        with contextlib.suppress(RPCError):
            await client.get_workflow_handle(wid).terminate(reason="test cleanup")


def cal(
    second=((0, 0, 1),),
    minute=((0, 0, 1),),
    hour=((0, 0, 1),),
    day_of_month=((1, 31, 1),),
    month=((1, 12, 1),),
    year=(),
    day_of_week=((0, 6, 1),),
    comment: str | None = None,
) -> ScheduleCalendarSpec:
    """A calendar as the SDK decodes DescribeSchedule (tuples of full ranges)."""
    r = lambda spans: tuple(ScheduleRange(*s) for s in spans)  # noqa: E731
    return ScheduleCalendarSpec(
        second=r(second),
        minute=r(minute),
        hour=r(hour),
        day_of_month=r(day_of_month),
        month=r(month),
        year=r(year),
        day_of_week=r(day_of_week),
        comment=comment,
    )


def hourly_paused(action: ScheduleActionStartWorkflow, **policy: Any) -> Schedule:
    return Schedule(
        action=action,
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))]),
        policy=SchedulePolicy(**policy),
        state=ScheduleState(paused=True),
    )


def every(seconds: float, action: ScheduleActionStartWorkflow, **kwargs: Any) -> Schedule:
    return Schedule(
        action=action,
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=seconds))]),
        **kwargs,
    )


# -- create / describe -------------------------------------------------------

# Tuesdays 09:10:30 and 09:50:30, Mondays 12:00 (cron), every 6 h at :05 UTC,
# never on the 1st of a month, all in New York time, jittered by < 2 s.
FULL_SPEC_CALENDAR = ScheduleCalendarSpec(
    second=[ScheduleRange(30)],
    minute=[ScheduleRange(10, 50, 40)],
    hour=[ScheduleRange(9)],
    day_of_month=[ScheduleRange(1, 31)],
    month=[ScheduleRange(1, 12)],
    year=[ScheduleRange(2000, 2099)],
    day_of_week=[ScheduleRange(2)],
    comment="tuesday mornings",
)
FULL_SPEC_SKIP = ScheduleCalendarSpec(
    second=[ScheduleRange(0, 59)],
    minute=[ScheduleRange(0, 59)],
    hour=[ScheduleRange(0, 23)],
    day_of_month=[ScheduleRange(1)],
)
JITTER = timedelta(seconds=2)


def _full_spec_nominal_times(after: datetime, count: int) -> list[datetime]:
    """The full spec's nominal (unjittered) times after `after`, computed here."""
    out: set[datetime] = set()
    base = after.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    for h in range(0, 24 * 6, 6):  # every 6 h at :05 UTC, phase 5 min
        out.add(base - timedelta(days=1) + timedelta(hours=h, minutes=5))
    for day in range(-1, 6):
        local = (base + timedelta(days=day)).astimezone(NY).date()
        if local.weekday() == 0:  # Monday 12:00 NY (cron "0 12 * * MON")
            out.add(datetime(local.year, local.month, local.day, 12, 0, tzinfo=NY).astimezone(timezone.utc))
        if local.weekday() == 1:  # Tuesday 09:10:30 and 09:50:30 NY
            for minute in (10, 50):
                out.add(datetime(local.year, local.month, local.day, 9, minute, 30, tzinfo=NY).astimezone(timezone.utc))
    wanted = sorted(t for t in out if t > after and t.astimezone(NY).day != 1)
    return wanted[:count]


def _assert_jittered(actual: list[datetime], nominal: list[datetime]) -> None:
    assert len(actual) == len(nominal), (actual, nominal)
    for got, want in zip(actual, nominal):
        assert timedelta(0) <= got - want < JITTER, (got, want)


def _full_spec(now: datetime) -> ScheduleSpec:
    """Every spec form at once: a calendar, an interval with an offset, a cron
    string, a skip, start and end, jitter and a time zone."""
    return ScheduleSpec(
        calendars=[FULL_SPEC_CALENDAR],
        intervals=[ScheduleIntervalSpec(every=timedelta(hours=6), offset=timedelta(minutes=5))],
        cron_expressions=["0 12 * * MON"],
        skip=[FULL_SPEC_SKIP],
        start_at=now,
        end_at=now + timedelta(days=3650),
        jitter=JITTER,
        time_zone_name="America/New_York",
    )


async def test_create_with_full_spec_describes_canonical_form(client: Client) -> None:
    await _ensure_keyword_attribute(client)
    sid = new_id("sched-full")
    now = datetime.now(timezone.utc).replace(microsecond=0)
    action = ScheduleActionStartWorkflow(
        "ScheduledEcho",
        "arg1",
        id=f"{sid}-wf",
        task_queue=new_id("tq-none"),
        execution_timeout=timedelta(hours=1),
        run_timeout=timedelta(minutes=30),
        task_timeout=timedelta(seconds=7),
        retry_policy=RetryPolicy(maximum_attempts=3),
        memo={"m1": "v1"},
        typed_search_attributes=TypedSearchAttributes([SearchAttributePair(KW, "action-value")]),
        headers={"hk": Payload(data=b"hv")},
        static_summary="a summary",
    )
    schedule = Schedule(
        action=action,
        spec=_full_spec(now),
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.BUFFER_ALL,
            catchup_window=timedelta(minutes=5),
            pause_on_failure=True,
        ),
        state=ScheduleState(note="created paused", paused=True, limited_actions=True, remaining_actions=30),
    )
    before = datetime.now(timezone.utc)
    async with created(
        client,
        sid,
        schedule,
        memo={"owner": "e2e", "n": 7},
        search_attributes=TypedSearchAttributes([SearchAttributePair(KW, "schedule-value")]),
    ) as handle:
        after = datetime.now(timezone.utc)
        desc = await handle.describe()
        assert desc.id == sid

        spec = desc.schedule.spec
        # The real server folds cron strings into structured calendars (after
        # the given calendars) and returns every range as start/end/step.
        assert spec.cron_expressions == []
        assert spec.calendars == [
            cal(
                second=[(30, 30, 1)],
                minute=[(10, 50, 40)],
                hour=[(9, 9, 1)],
                year=[(2000, 2099, 1)],
                day_of_week=[(2, 2, 1)],
                comment="tuesday mornings",
            ),
            cal(hour=[(12, 12, 1)], day_of_week=[(1, 1, 1)]),
        ]
        assert spec.skip == [cal(second=[(0, 59, 1)], minute=[(0, 59, 1)], hour=[(0, 23, 1)], day_of_month=[(1, 1, 1)])]
        assert spec.intervals == [ScheduleIntervalSpec(every=timedelta(hours=6), offset=timedelta(minutes=5))]
        assert spec.start_at == now
        assert spec.end_at == now + timedelta(days=3650)
        assert spec.jitter == JITTER
        assert spec.time_zone_name == "America/New_York"

        assert desc.schedule.policy == SchedulePolicy(
            overlap=ScheduleOverlapPolicy.BUFFER_ALL,
            catchup_window=timedelta(minutes=5),
            pause_on_failure=True,
        )
        assert desc.schedule.state == ScheduleState(
            note="created paused", paused=True, limited_actions=True, remaining_actions=30
        )

        got = desc.schedule.action
        assert isinstance(got, ScheduleActionStartWorkflow)
        assert got.workflow == "ScheduledEcho"
        assert got.id == f"{sid}-wf"
        assert got.task_queue == action.task_queue
        assert [decode(client, p) for p in got.args] == ["arg1"]
        assert got.execution_timeout == timedelta(hours=1)
        assert got.run_timeout == timedelta(minutes=30)
        assert got.task_timeout == timedelta(seconds=7)
        assert got.retry_policy is not None and got.retry_policy.maximum_attempts == 3
        assert got.memo is not None and {k: decode(client, v) for k, v in got.memo.items()} == {"m1": "v1"}
        assert got.typed_search_attributes.get(KW) == "action-value"
        assert got.headers is not None and {k: v.data for k, v in got.headers.items()} == {"hk": b"hv"}
        raw_action = desc.raw_description.schedule.action.start_workflow
        assert decode(client, raw_action.user_metadata.summary) == "a summary"

        assert await desc.memo() == {"owner": "e2e", "n": 7}
        assert desc.typed_search_attributes.get(KW) == "schedule-value"
        # Internal attributes (TemporalSchedulePaused, TemporalNamespaceDivision)
        # are not returned.
        assert set(desc.raw_description.search_attributes.indexed_fields) == {KW.name}

        info = desc.info
        assert info.num_actions == 0
        assert info.num_actions_missed_catchup_window == 0
        assert info.num_actions_skipped_overlap == 0
        assert info.running_actions == []
        assert info.recent_actions == []
        assert before - timedelta(seconds=1) <= info.created_at <= after + timedelta(seconds=1)
        assert info.last_updated_at is None
        # Ten future times even while paused, each its nominal time plus a
        # jitter in [0, 2 s); skip and time zone applied.
        _assert_jittered(info.next_action_times, _full_spec_nominal_times(info.created_at, 10))
        # ...and the same times (same jitter) from ListScheduleMatchingTimes.
        resp = await client.workflow_service.list_schedule_matching_times(
            ListScheduleMatchingTimesRequest(
                namespace="default",
                schedule_id=sid,
                start_time=ts(info.created_at),
                end_time=ts(info.next_action_times[-1]),
            )
        )
        matching = [t.ToDatetime(tzinfo=timezone.utc) for t in resp.start_time]
        assert matching == info.next_action_times


async def test_list_schedule_matching_times(client: Client) -> None:
    sid = new_id("sched-match")
    now = datetime.now(timezone.utc).replace(microsecond=0)
    schedule = Schedule(
        action=ScheduleActionStartWorkflow("ScheduledEcho", "x", id=sid, task_queue=new_id("tq-none")),
        spec=_full_spec(now),
        state=ScheduleState(paused=True),
    )
    async with created(client, sid, schedule):

        async def matching(schedule_id: str, start: datetime, end: datetime) -> list[datetime]:
            resp = await client.workflow_service.list_schedule_matching_times(
                ListScheduleMatchingTimesRequest(
                    namespace="default", schedule_id=schedule_id, start_time=ts(start), end_time=ts(end)
                )
            )
            return [t.ToDatetime(tzinfo=timezone.utc) for t in resp.start_time]

        start = datetime(2030, 11, 30, tzinfo=timezone.utc)  # a Saturday
        end = datetime(2030, 12, 4, tzinfo=timezone.utc)
        got = await matching(sid, start, end)
        u = lambda d, h, m, s=0: datetime(2030, *d, h, m, s, tzinfo=timezone.utc)  # noqa: E731
        expected = [
            u((11, 30), 0, 5), u((11, 30), 6, 5), u((11, 30), 12, 5), u((11, 30), 18, 5),
            u((12, 1), 0, 5),  # still Nov 30 in New York
            # Dec 1 in New York (05:00Z Dec 1 .. 05:00Z Dec 2) is skipped
            u((12, 2), 6, 5), u((12, 2), 12, 5),
            u((12, 2), 17, 0),  # Monday 12:00 EST (cron)
            u((12, 2), 18, 5), u((12, 3), 0, 5), u((12, 3), 6, 5), u((12, 3), 12, 5),
            u((12, 3), 14, 10, 30), u((12, 3), 14, 50, 30),  # Tuesday 09:10:30 / 09:50:30 EST
            u((12, 3), 18, 5),
        ]
        assert expected == _full_spec_nominal_times(start, 100)[: len(expected)]
        _assert_jittered(got, expected)
        # Jitter is deterministic: asking again gives the very same times.
        assert await matching(sid, start, end) == got

    # Window bounds: start exclusive, end inclusive.
    sid2 = new_id("sched-match3")
    async with created(
        client,
        sid2,
        every(3, ScheduleActionStartWorkflow("ScheduledEcho", "x", id=sid2, task_queue=new_id("tq-none")), state=ScheduleState(paused=True)),
    ):
        t0 = datetime(2030, 1, 1, tzinfo=timezone.utc)  # a multiple of 3 s since the epoch
        assert int(t0.timestamp()) % 3 == 0
        assert await matching(sid2, t0, t0 + timedelta(seconds=9)) == [
            t0 + timedelta(seconds=3),
            t0 + timedelta(seconds=6),
            t0 + timedelta(seconds=9),
        ]
        assert await matching(sid2, t0, t0 + timedelta(seconds=2)) == []

    with pytest.raises(RPCError) as err:
        await matching(new_id("sched-nope"), start, end)
    assert err.value.status == RPCStatusCode.NOT_FOUND


CRON_CASES = [
    ("0 12 * * MON", [cal(hour=[(12, 12, 1)], day_of_week=[(1, 1, 1)])], [], None),
    (
        "*/15 2-4 1,15 * *",
        [cal(minute=[(0, 59, 15)], hour=[(2, 4, 1)], day_of_month=[(1, 1, 1), (15, 15, 1)])],
        [],
        None,
    ),
    (
        "30 9 * JAN,JUL 1-5",
        [cal(minute=[(30, 30, 1)], hour=[(9, 9, 1)], month=[(1, 1, 1), (7, 7, 1)], day_of_week=[(1, 5, 1)])],
        [],
        None,
    ),
    # A sixth field is the year.
    ("15 10 * * * 2031", [cal(minute=[(15, 15, 1)], hour=[(10, 10, 1)], year=[(2031, 2031, 1)])], [], None),
    ("@daily", [cal()], [], None),
    # Day of week 7 is Sunday (0).
    ("0 12 * * 7", [cal(hour=[(12, 12, 1)], day_of_week=[(0, 0, 1)])], [], None),
    # "@every" becomes an interval, CRON_TZ the spec's time zone.
    ("@every 90m", [], [ScheduleIntervalSpec(every=timedelta(minutes=90))], None),
    ("CRON_TZ=Asia/Tokyo 0 9 * * *", [cal(hour=[(9, 9, 1)])], [], "Asia/Tokyo"),
]


async def test_cron_strings_are_described_as_calendars(client: Client) -> None:
    prefix = new_id("sched-cron")
    for i, (cron, calendars, intervals, tz) in enumerate(CRON_CASES):
        sid = f"{prefix}-{i}"
        async with created(
            client,
            sid,
            Schedule(
                action=ScheduleActionStartWorkflow("ScheduledEcho", "x", id=sid, task_queue=new_id("tq-none")),
                spec=ScheduleSpec(cron_expressions=[cron]),
                state=ScheduleState(paused=True),
            ),
        ) as handle:
            spec = (await handle.describe()).schedule.spec
            assert (spec.calendars, spec.intervals, spec.cron_expressions, spec.time_zone_name) == (
                calendars,
                intervals,
                [],
                tz,
            ), cron


async def test_duplicate_create_and_unknown_schedule_errors(client: Client) -> None:
    sid = new_id("sched-dup")
    action = ScheduleActionStartWorkflow("ScheduledEcho", "x", id=sid, task_queue=new_id("tq-none"))
    async with created(client, sid, hourly_paused(action)) as handle:
        with pytest.raises(ScheduleAlreadyRunningError):
            await client.create_schedule(sid, every(5, action))
        # The first schedule is untouched.
        desc = await handle.describe()
        assert desc.schedule.spec.intervals == [ScheduleIntervalSpec(every=timedelta(hours=1))]
        assert desc.schedule.state.paused

    unknown = client.get_schedule_handle(new_id("sched-unknown"))
    now = datetime.now(timezone.utc)
    calls: dict[str, Callable[[], Any]] = {
        "describe": lambda: unknown.describe(),
        "delete": lambda: unknown.delete(),
        "pause": lambda: unknown.pause(),
        "unpause": lambda: unknown.unpause(),
        "trigger": lambda: unknown.trigger(),
        "backfill": lambda: unknown.backfill(ScheduleBackfill(start_at=now - timedelta(minutes=2), end_at=now)),
        "update": lambda: unknown.update(lambda i: ScheduleUpdate(schedule=i.description.schedule)),
    }
    for name, call in calls.items():
        with pytest.raises(RPCError) as err:
            await call()
        assert err.value.status == RPCStatusCode.NOT_FOUND, name


# -- actions -----------------------------------------------------------------


async def test_interval_schedule_starts_workflows(client: Client) -> None:
    await _ensure_keyword_attribute(client)
    async with run_worker(client, workflows=[ScheduledEcho]) as worker:
        sid = new_id("sched-int")
        action_id = f"{sid}-wf"
        action = ScheduleActionStartWorkflow(
            ScheduledEcho.run,
            "tick",
            id=action_id,
            task_queue=worker.task_queue,
            execution_timeout=timedelta(minutes=2),
            run_timeout=timedelta(seconds=60),
            task_timeout=timedelta(seconds=9),
            retry_policy=RetryPolicy(maximum_attempts=2),
            memo={"from": "action"},
            typed_search_attributes=TypedSearchAttributes([SearchAttributePair(KW, "started-by-schedule")]),
            headers={"hk": Payload(data=b"hv")},
            static_summary="scheduled run",
        )
        async with created(client, sid, every(1, action), memo={"schedule": "memo"}) as handle:
            first = await handle.describe()
            created_at = first.info.created_at
            # Interval times are aligned to the epoch: the first slot is the
            # first whole second after creation, and nothing is missed.
            first_slot = datetime.fromtimestamp(int(created_at.timestamp()) + 1, timezone.utc)
            assert first.info.next_action_times[:3] == [first_slot + timedelta(seconds=k) for k in range(3)]

            desc = await describe_until(handle, lambda d: d.info.num_actions >= 2)
            recent = desc.info.recent_actions
            assert recent[0].scheduled_at == first_slot
            for a in recent:
                assert a.scheduled_at.microsecond == 0
                assert a.started_at >= a.scheduled_at
                assert a.action.workflow_id == f"{action_id}-{rfc3339(a.scheduled_at)}"
            assert recent[1].scheduled_at - recent[0].scheduled_at == timedelta(seconds=1)
            assert len({a.action.workflow_id for a in recent}) == len(recent)

            wid = recent[0].action.workflow_id
            assert await client.get_workflow_handle(wid).result() == "echo:tick"
            event = await started_event(client, wid)
            attrs = event.workflow_execution_started_event_attributes
            assert attrs.workflow_type.name == "ScheduledEcho"
            assert attrs.task_queue.name == worker.task_queue
            assert [decode(client, p) for p in attrs.input.payloads] == ["tick"]
            assert attrs.workflow_execution_timeout.ToTimedelta() == timedelta(minutes=2)
            assert attrs.workflow_run_timeout.ToTimedelta() == timedelta(seconds=60)
            assert attrs.workflow_task_timeout.ToTimedelta() == timedelta(seconds=9)
            assert attrs.retry_policy.maximum_attempts == 2
            assert attrs.first_execution_run_id == recent[0].action.first_execution_run_id
            assert attrs.identity == f"temporal-scheduler-default-{sid}"
            assert not attrs.HasField("parent_workflow_execution")
            # The action's memo (not the schedule's) and header.
            assert {k: decode(client, v) for k, v in attrs.memo.fields.items()} == {"from": "action"}
            assert {k: v.data for k, v in attrs.header.fields.items()} == {"hk": b"hv"}
            assert decode(client, event.user_metadata.summary) == "scheduled run"
            # The action's search attributes plus the scheduler's two.
            sa = decode_search_attributes(attrs.search_attributes)
            assert sa == {
                "TemporalScheduledStartTime": [recent[0].scheduled_at],
                "TemporalScheduledById": [sid],
                KW.name: ["started-by-schedule"],
            }

            # Started workflows are visible (also by TemporalScheduledById)...
            want = {a.action.workflow_id for a in recent}

            async def listed_by_schedule() -> bool:
                ids = {w.id async for w in client.list_workflows(f"TemporalScheduledById = '{sid}'")}
                return want <= ids

            await wait_for(listed_by_schedule, timeout=10, interval=0.2)

            async def listed_unfiltered() -> list:
                found = [w async for w in client.list_workflows() if sid in w.id]
                return found if want <= {w.id for w in found} else []

            everything = await wait_for(listed_unfiltered, timeout=10, interval=0.2)
            # ...but the schedule's own runner never is (the real server keeps
            # it in the TemporalScheduler namespace division).
            assert all(w.id.startswith(action_id) for w in everything), [w.id for w in everything]
            assert all(w.workflow_type == "ScheduledEcho" for w in everything)
            hidden = [w.id async for w in client.list_workflows(f"WorkflowId = 'temporal-sys-scheduler:{sid}'")]
            assert hidden == []
            listed = next(w for w in everything if w.id == wid)
            assert listed.typed_search_attributes.get(KW) == "started-by-schedule"
            await handle.pause()


async def test_skip_overlap_tracks_running_action(client: Client) -> None:
    async with run_worker(client, workflows=[Blocker]) as worker:
        sid = new_id("sched-skip")
        started: list[str] = []
        async with created(
            client, sid, every(1, ScheduleActionStartWorkflow(Blocker.run, id=sid, task_queue=worker.task_queue))
        ) as handle:
            try:
                # SKIP is the default: while the first run blocks, every later
                # slot is skipped and counted.
                desc = await describe_until(
                    handle, lambda d: d.info.running_actions and d.info.num_actions_skipped_overlap >= 2
                )
                assert desc.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
                assert desc.info.num_actions == 1
                first = desc.info.recent_actions[0].action
                started.append(first.workflow_id)
                running = desc.info.running_actions
                assert [(r.workflow_id, r.first_execution_run_id) for r in running] == [
                    (first.workflow_id, first.first_execution_run_id)
                ]
                assert statuses(desc) == [RUNNING]

                await client.get_workflow_handle(first.workflow_id).signal(Blocker.release)
                desc = await describe_until(handle, lambda d: d.info.num_actions >= 2)
                second = desc.info.recent_actions[1].action
                started.append(second.workflow_id)
                assert second.workflow_id != first.workflow_id
                assert [r.workflow_id for r in desc.info.running_actions] == [second.workflow_id]
                assert desc.info.recent_actions[1].scheduled_at > desc.info.recent_actions[0].scheduled_at
                # The first one's status in recent_actions follows its close.
                await describe_until(handle, lambda d: statuses(d)[:2] == [COMPLETED, RUNNING])
                await handle.pause()
            finally:
                await terminate_all(client, started)


async def test_allow_all_runs_concurrently(client: Client) -> None:
    async with run_worker(client, workflows=[Blocker]) as worker:
        sid = new_id("sched-allow")
        async with created(
            client,
            sid,
            every(
                1,
                ScheduleActionStartWorkflow(Blocker.run, id=sid, task_queue=worker.task_queue),
                policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL),
            ),
        ) as handle:
            try:
                desc = await describe_until(handle, lambda d: d.info.num_actions >= 3)
                await handle.pause()
                ids = [a.action.workflow_id for a in desc.info.recent_actions]
                for wid in ids:
                    assert (await client.get_workflow_handle(wid).describe()).status == RUNNING
                assert desc.info.num_actions_skipped_overlap == 0
                # Surprise: with ALLOW_ALL (and no pause_on_failure) the real
                # server does not watch its runs, so running_actions stays empty.
                assert desc.info.running_actions == []
            finally:
                await handle.pause()
                recent = (await handle.describe()).info.recent_actions
                await terminate_all(client, [a.action.workflow_id for a in recent])


@pytest.mark.parametrize(
    "policy", [ScheduleOverlapPolicy.BUFFER_ONE, ScheduleOverlapPolicy.BUFFER_ALL], ids=lambda p: p.name
)
async def test_buffered_starts_follow_the_running_one(client: Client, policy: ScheduleOverlapPolicy) -> None:
    async with run_worker(client, workflows=[Blocker]) as worker:
        sid = new_id(f"sched-{policy.name.lower()}")
        action = ScheduleActionStartWorkflow(Blocker.run, id=sid, task_queue=worker.task_queue)
        started: list[str] = []
        async with created(client, sid, hourly_paused(action, overlap=policy)) as handle:
            try:
                await handle.trigger()
                desc = await describe_until(handle, lambda d: len(d.info.running_actions) == 1)
                first = desc.info.running_actions[0].workflow_id
                started.append(first)

                await next_wall_second()
                await handle.trigger()
                desc = await describe_until(handle, lambda d: d.raw_description.info.buffer_size == 1)
                assert desc.info.num_actions == 1

                await next_wall_second()
                await handle.trigger()
                if policy == ScheduleOverlapPolicy.BUFFER_ONE:
                    # The buffer holds one start; the third is dropped and
                    # counted as skipped (not as buffer_dropped).
                    desc = await describe_until(handle, lambda d: d.info.num_actions_skipped_overlap == 1)
                    assert desc.raw_description.info.buffer_size == 1
                    assert desc.raw_description.info.buffer_dropped == 0
                else:
                    desc = await describe_until(handle, lambda d: d.raw_description.info.buffer_size == 2)
                    assert desc.info.num_actions_skipped_overlap == 0
                assert desc.info.num_actions == 1
                assert [r.workflow_id for r in desc.info.running_actions] == [first]

                # Closing the running one starts the buffered one.
                await client.get_workflow_handle(first).signal(Blocker.release)
                desc = await describe_until(handle, lambda d: d.info.num_actions == 2 and d.info.running_actions)
                second = desc.info.recent_actions[1]
                started.append(second.action.workflow_id)
                assert second.action.workflow_id != first
                # The buffered start keeps the time it was triggered at.
                assert second.action.workflow_id == f"{sid}-{rfc3339(second.scheduled_at)}"
                first_closed = (await client.get_workflow_handle(first).describe()).close_time
                assert first_closed is not None and second.started_at >= first_closed
                assert [r.workflow_id for r in desc.info.running_actions] == [second.action.workflow_id]
                assert statuses(desc) == [COMPLETED, RUNNING]

                await client.get_workflow_handle(second.action.workflow_id).signal(Blocker.release)
                if policy == ScheduleOverlapPolicy.BUFFER_ONE:
                    desc = await describe_until(handle, lambda d: statuses(d) == [COMPLETED, COMPLETED])
                    assert desc.info.num_actions == 2
                    assert desc.raw_description.info.buffer_size == 0
                else:
                    desc = await describe_until(handle, lambda d: d.info.num_actions == 3 and d.info.running_actions)
                    third = desc.info.recent_actions[2].action.workflow_id
                    started.append(third)
                    await client.get_workflow_handle(third).signal(Blocker.release)
                    desc = await describe_until(handle, lambda d: statuses(d) == [COMPLETED] * 3)
                    assert desc.raw_description.info.buffer_size == 0
                assert desc.info.running_actions == []
            finally:
                await terminate_all(client, started)


@pytest.mark.parametrize(
    ("override", "closed_as"),
    [(ScheduleOverlapPolicy.TERMINATE_OTHER, TERMINATED), (ScheduleOverlapPolicy.CANCEL_OTHER, CANCELED)],
    ids=["TERMINATE_OTHER", "CANCEL_OTHER"],
)
async def test_trigger_overlap_override_replaces_running(
    client: Client, override: ScheduleOverlapPolicy, closed_as: int
) -> None:
    async with run_worker(client, workflows=[Blocker]) as worker:
        sid = new_id(f"sched-{override.name.lower()}")
        action = ScheduleActionStartWorkflow(Blocker.run, id=sid, task_queue=worker.task_queue)
        started: list[str] = []
        async with created(client, sid, hourly_paused(action)) as handle:
            try:
                await handle.trigger()
                desc = await describe_until(handle, lambda d: len(d.info.running_actions) == 1)
                first = desc.info.running_actions[0].workflow_id
                started.append(first)
                # A plain trigger follows the schedule's policy (SKIP).
                await handle.trigger()
                desc = await describe_until(handle, lambda d: d.info.num_actions_skipped_overlap == 1)
                assert desc.info.num_actions == 1

                await next_wall_second()
                await handle.trigger(overlap=override)
                desc = await describe_until(
                    handle, lambda d: d.info.num_actions == 2 and statuses(d) == [closed_as, RUNNING]
                )
                second = desc.info.recent_actions[1].action.workflow_id
                started.append(second)
                assert second != first
                assert (await client.get_workflow_handle(first).describe()).status == closed_as
                assert (await client.get_workflow_handle(second).describe()).status == RUNNING
                assert [r.workflow_id for r in desc.info.running_actions] == [second]
                assert desc.info.num_actions_skipped_overlap == 1
                # The override is for that trigger only.
                assert desc.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
            finally:
                await terminate_all(client, started)


async def test_trigger_pause_unpause_and_notes(client: Client) -> None:
    sid = new_id("sched-notes")
    task_queue = new_id("tq-none")  # no worker: started workflows just wait
    action = ScheduleActionStartWorkflow("ScheduledEcho", "x", id=sid, task_queue=task_queue)
    started: list[str] = []
    async with created(client, sid, hourly_paused(action)) as handle:
        try:
            desc = await handle.describe()
            assert desc.schedule.state.paused is True
            assert desc.schedule.state.note is None  # no note given: empty

            await handle.pause()
            desc = await handle.describe()
            assert (desc.schedule.state.paused, desc.schedule.state.note) == (True, "Paused via Python SDK")
            await handle.unpause()
            desc = await handle.describe()
            assert (desc.schedule.state.paused, desc.schedule.state.note) == (False, "Unpaused via Python SDK")
            await handle.pause(note="maintenance")
            desc = await handle.describe()
            assert (desc.schedule.state.paused, desc.schedule.state.note) == (True, "maintenance")
            # Patches are not updates: last_updated_at stays unset.
            assert desc.info.last_updated_at is None
            assert desc.info.num_actions == 0

            # A trigger runs even while paused, at once.
            before = datetime.now(timezone.utc)
            await handle.trigger()
            desc = await describe_until(handle, lambda d: d.info.num_actions == 1, timeout=5)
            action_result = desc.info.recent_actions[0]
            started.append(action_result.action.workflow_id)
            # The nominal time of a trigger is the trigger time (sub-second);
            # the workflow id and TemporalScheduledStartTime truncate it.
            scheduled = action_result.scheduled_at
            assert before - timedelta(seconds=1) <= scheduled <= datetime.now(timezone.utc)
            whole = scheduled.replace(microsecond=0)
            assert action_result.action.workflow_id == f"{sid}-{rfc3339(whole)}"
            attrs = (await started_event(client, action_result.action.workflow_id)).workflow_execution_started_event_attributes
            sa = decode_search_attributes(attrs.search_attributes)
            assert sa["TemporalScheduledStartTime"] == [whole]
            assert sa["TemporalScheduledById"] == [sid]
            assert desc.schedule.state.paused is True

            await handle.unpause(note="back")
            desc = await handle.describe()
            assert (desc.schedule.state.paused, desc.schedule.state.note) == (False, "back")
            # Unpausing an hourly schedule starts nothing by itself.
            assert desc.info.num_actions == 1
        finally:
            await terminate_all(client, started)

    # trigger_immediately on create.
    sid2 = new_id("sched-trigger-now")
    async with created(
        client,
        sid2,
        hourly_paused(ScheduleActionStartWorkflow("ScheduledEcho", "x", id=sid2, task_queue=task_queue)),
        trigger_immediately=True,
    ) as handle2:
        desc = await describe_until(handle2, lambda d: d.info.num_actions == 1, timeout=5)
        started2 = desc.info.recent_actions[0].action.workflow_id
        assert started2.startswith(f"{sid2}-")
        await terminate_all(client, [started2])


async def test_limited_actions(client: Client) -> None:
    async with run_worker(client, workflows=[ScheduledEcho]) as worker:
        sid = new_id("sched-limited")
        action = ScheduleActionStartWorkflow(ScheduledEcho.run, "x", id=sid, task_queue=worker.task_queue)
        async with created(
            client, sid, every(1, action, state=ScheduleState(limited_actions=True, remaining_actions=2))
        ) as handle:
            desc = await handle.describe()
            # Only as many future times as remaining actions (on a loaded
            # machine the first may already be taken by now).
            assert desc.schedule.state.remaining_actions == 2 - desc.info.num_actions
            assert len(desc.info.next_action_times) == desc.schedule.state.remaining_actions

            desc = await describe_until(handle, lambda d: d.info.num_actions >= 1)
            assert desc.schedule.state.remaining_actions == 2 - desc.info.num_actions

            desc = await describe_until(handle, lambda d: d.schedule.state.remaining_actions == 0)
            assert desc.info.num_actions == 2
            assert desc.info.next_action_times == []
            assert desc.schedule.state.limited_actions is True
            # Running out does not pause the schedule.
            assert desc.schedule.state.paused is False
            last_slot = desc.info.recent_actions[-1].scheduled_at

            # A trigger is not limited and does not count against the limit.
            # (Once the runs are done: a trigger while one runs is skipped by
            # the default overlap policy, as on the real server.)
            await describe_until(handle, lambda d: not d.info.running_actions)
            await handle.trigger()
            desc = await describe_until(handle, lambda d: d.info.num_actions == 3)
            assert desc.schedule.state.remaining_actions == 0

            # No more scheduled starts: wait past two more slots.
            await wait_for(lambda: datetime.now(timezone.utc) > last_slot + timedelta(seconds=2.5), timeout=5)
            desc = await handle.describe()
            assert desc.info.num_actions == 3
            # Three distinct runs. (The trigger may fall in the same second as
            # the last slot: then it reuses that closed workflow's id, and the
            # real server starts a new run under it.)
            runs = {(a.action.workflow_id, a.action.first_execution_run_id) for a in desc.info.recent_actions}
            assert len(runs) == 3

            # The list entry catches up (it lags describe slightly on the real
            # server): the same recent actions, no future times left.
            async def list_entry() -> Any:
                async for entry in await client.list_schedules(f"ScheduleId = '{sid}'"):
                    if entry.info is not None and len(entry.info.recent_actions) == 3:
                        return entry
                return None

            entry = await wait_for(list_entry, timeout=10, interval=0.1)
            assert [a.action.workflow_id for a in entry.info.recent_actions] == [
                a.action.workflow_id for a in desc.info.recent_actions
            ]
            assert entry.info.next_action_times == []


async def test_pause_on_failure(client: Client) -> None:
    async with run_worker(client, workflows=[AlwaysFails]) as worker:
        sid = new_id("sched-pof")
        action = ScheduleActionStartWorkflow(AlwaysFails.run, id=sid, task_queue=worker.task_queue)
        async with created(
            client, sid, every(1, action, policy=SchedulePolicy(pause_on_failure=True))
        ) as handle:
            desc = await describe_until(handle, lambda d: d.schedule.state.paused)
            assert desc.info.num_actions == 1
            failed = desc.info.recent_actions[0].action.workflow_id
            assert statuses(desc) == [FAILED]
            assert desc.schedule.state.note == f"paused due to workflow failure: {failed}: boom"
            assert desc.info.running_actions == []


async def test_last_completion_result_is_handed_on(client: Client) -> None:
    async with run_worker(client, workflows=[Counter]) as worker:
        sid = new_id("sched-lcr")
        action = ScheduleActionStartWorkflow(Counter.run, id=sid, task_queue=worker.task_queue)
        async with created(client, sid, every(1, action)) as handle:
            desc = await describe_until(handle, lambda d: statuses(d)[:3] == [COMPLETED] * 3, timeout=15)
            await handle.pause()
            ids = [a.action.workflow_id for a in desc.info.recent_actions[:3]]
            results = [await client.get_workflow_handle(wid).result() for wid in ids]
            assert results == [1, 2, 3]
            attrs = (await started_event(client, ids[0])).workflow_execution_started_event_attributes
            assert not attrs.HasField("last_completion_result")
            attrs = (await started_event(client, ids[2])).workflow_execution_started_event_attributes
            assert [decode(client, p) for p in attrs.last_completion_result.payloads] == [2]


# -- update ------------------------------------------------------------------


async def test_update_action_and_spec(client: Client) -> None:
    await _ensure_keyword_attribute(client)
    sid = new_id("sched-update")
    task_queue = new_id("tq-none")
    action = ScheduleActionStartWorkflow(
        "ScheduledEcho", "x", id=sid, task_queue=task_queue, task_timeout=timedelta(seconds=5)
    )
    started: list[str] = []
    async with created(
        client,
        sid,
        hourly_paused(action),
        memo={"keep": "me"},
        search_attributes=TypedSearchAttributes([SearchAttributePair(KW, "kept")]),
    ) as handle:
        try:
            seen: list[ScheduleUpdateInput] = []

            def updater(inp: ScheduleUpdateInput) -> ScheduleUpdate:
                seen.append(inp)
                sched = inp.description.schedule
                assert isinstance(sched.action, ScheduleActionStartWorkflow)
                sched.action.task_timeout = timedelta(seconds=11)
                sched.spec = ScheduleSpec(cron_expressions=["30 4 * * *"])
                sched.state.note = "updated"
                return ScheduleUpdate(schedule=sched)

            await handle.update(updater)
            assert len(seen) == 1 and seen[0].description.id == sid
            assert seen[0].description.schedule.state.paused is True

            desc = await handle.describe()
            assert isinstance(desc.schedule.action, ScheduleActionStartWorkflow)
            assert desc.schedule.action.task_timeout == timedelta(seconds=11)
            assert desc.schedule.spec.calendars == [cal(minute=[(30, 30, 1)], hour=[(4, 4, 1)])]
            assert desc.schedule.spec.intervals == []
            assert desc.schedule.state.note == "updated"
            assert desc.schedule.state.paused is True
            updated_at = desc.info.last_updated_at
            assert updated_at is not None and updated_at >= desc.info.created_at
            for t in desc.info.next_action_times:
                assert (t.hour, t.minute, t.second) == (4, 30, 0)
            # Memo and search attributes are not part of the schedule body.
            assert await desc.memo() == {"keep": "me"}
            assert desc.typed_search_attributes.get(KW) == "kept"

            # An async updater that returns None sends no update.
            async def no_change(inp: ScheduleUpdateInput) -> None:
                return None

            await handle.update(no_change)
            assert (await handle.describe()).info.last_updated_at == updated_at

            # The next start uses the updated action.
            await handle.trigger()
            desc = await describe_until(handle, lambda d: d.info.num_actions == 1, timeout=5)
            wid = desc.info.recent_actions[0].action.workflow_id
            started.append(wid)
            attrs = (await started_event(client, wid)).workflow_execution_started_event_attributes
            assert attrs.workflow_task_timeout.ToTimedelta() == timedelta(seconds=11)
        finally:
            await terminate_all(client, started)


async def test_update_search_attributes(client: Client) -> None:
    await _ensure_keyword_attribute(client)
    sid = new_id("sched-update-sa")
    tag = new_id("tag")
    action = ScheduleActionStartWorkflow("ScheduledEcho", "x", id=sid, task_queue=new_id("tq-none"))
    async with created(
        client, sid, hourly_paused(action), search_attributes=TypedSearchAttributes([SearchAttributePair(KW, f"{tag}-1")])
    ) as handle:

        async def listed(query: str) -> bool:
            return sid in [s.id async for s in await client.list_schedules(query)]

        def with_note(note: str, sa: TypedSearchAttributes | None) -> Callable[[ScheduleUpdateInput], ScheduleUpdate]:
            def updater(inp: ScheduleUpdateInput) -> ScheduleUpdate:
                inp.description.schedule.state.note = note
                return ScheduleUpdate(schedule=inp.description.schedule, search_attributes=sa)

            return updater

        # None: search attributes untouched.
        await handle.update(with_note("n1", None))
        await describe_until(handle, lambda d: d.schedule.state.note == "n1")
        await asyncio.sleep(0.5)  # (the real server applies attribute changes asynchronously)
        desc = await handle.describe()
        assert desc.typed_search_attributes.get(KW) == f"{tag}-1"

        # New values replace the old ones (eventually, on the real server).
        await handle.update(with_note("n2", TypedSearchAttributes([SearchAttributePair(KW, f"{tag}-2")])))
        await describe_until(handle, lambda d: d.typed_search_attributes.get(KW) == f"{tag}-2")
        await wait_for(lambda: listed(f"{KW.name} = '{tag}-2'"), timeout=10, interval=0.1)
        assert not await listed(f"{KW.name} = '{tag}-1'")

        # Empty: all cleared.
        await handle.update(with_note("n3", TypedSearchAttributes.empty))
        desc = await describe_until(handle, lambda d: d.typed_search_attributes.get(KW) is None)
        assert len(desc.raw_description.search_attributes.indexed_fields) == 0
        assert desc.schedule.state.note == "n3"

        async def unlisted() -> bool:
            return not await listed(f"{KW.name} = '{tag}-2'")

        await wait_for(unlisted, timeout=10, interval=0.1)


# -- backfill ----------------------------------------------------------------


async def test_backfill_starts_every_slot_in_the_window(client: Client) -> None:
    async with run_worker(client, workflows=[ScheduledEcho]) as worker:
        sid = new_id("sched-backfill")
        minute = datetime.now(timezone.utc).replace(second=0, microsecond=0)
        action = ScheduleActionStartWorkflow(ScheduledEcho.run, "bf", id=sid, task_queue=worker.task_queue)
        schedule = Schedule(
            action=action,
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(minutes=1))]),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL),
            state=ScheduleState(paused=True),
        )
        # A backfill on create: slots minute-3 .. minute-1.
        async with created(
            client,
            sid,
            schedule,
            backfill=[ScheduleBackfill(start_at=minute - timedelta(minutes=3, seconds=30), end_at=minute - timedelta(seconds=30))],
        ) as handle:
            desc = await describe_until(handle, lambda d: d.info.num_actions == 3)
            assert [a.scheduled_at for a in desc.info.recent_actions] == [minute - timedelta(minutes=k) for k in (3, 2, 1)]

            # Both ends of the window are inclusive: 10..5 minutes ago is 6 slots.
            await handle.backfill(
                ScheduleBackfill(start_at=minute - timedelta(minutes=10), end_at=minute - timedelta(minutes=5))
            )
            desc = await describe_until(handle, lambda d: d.info.num_actions == 9)
            slots = [minute - timedelta(minutes=k) for k in (10, 9, 8, 7, 6, 5)]
            assert [a.scheduled_at for a in desc.info.recent_actions[3:]] == slots
            assert [a.action.workflow_id for a in desc.info.recent_actions[3:]] == [f"{sid}-{rfc3339(s)}" for s in slots]
            assert desc.schedule.state.paused is True
            assert desc.info.num_actions_skipped_overlap == 0

            attrs = (await started_event(client, f"{sid}-{rfc3339(slots[0])}")).workflow_execution_started_event_attributes
            assert decode_search_attributes(attrs.search_attributes)["TemporalScheduledStartTime"] == [slots[0]]

            async def all_listed() -> bool:
                ids = [w.id async for w in client.list_workflows(f"TemporalScheduledById = '{sid}'")]
                return len(ids) == 9 and len(set(ids)) == 9

            await wait_for(all_listed, timeout=10, interval=0.2)


async def test_backfill_applies_overlap_policy(client: Client) -> None:
    async with run_worker(client, workflows=[Blocker]) as worker:
        sid = new_id("sched-backfill-skip")
        minute = datetime.now(timezone.utc).replace(second=0, microsecond=0)
        action = ScheduleActionStartWorkflow(Blocker.run, id=sid, task_queue=worker.task_queue)
        schedule = Schedule(
            action=action,
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(minutes=1))]),
            state=ScheduleState(paused=True),
        )
        started: list[str] = []
        async with created(client, sid, schedule) as handle:
            try:
                # The schedule's SKIP applies: the first slot's run blocks the
                # other three.
                await handle.backfill(
                    ScheduleBackfill(start_at=minute - timedelta(minutes=20), end_at=minute - timedelta(minutes=17))
                )
                desc = await describe_until(handle, lambda d: d.info.num_actions_skipped_overlap == 3)
                started.extend(a.action.workflow_id for a in desc.info.recent_actions)
                assert desc.info.num_actions == 1
                assert started == [f"{sid}-{rfc3339(minute - timedelta(minutes=20))}"]

                # A backfill's own overlap policy overrides the schedule's.
                await handle.backfill(
                    ScheduleBackfill(
                        start_at=minute - timedelta(minutes=10),
                        end_at=minute - timedelta(minutes=9),
                        overlap=ScheduleOverlapPolicy.ALLOW_ALL,
                    )
                )
                desc = await describe_until(handle, lambda d: d.info.num_actions == 3)
                started[:] = [a.action.workflow_id for a in desc.info.recent_actions]
                assert desc.info.num_actions_skipped_overlap == 3
                assert started[1:] == [f"{sid}-{rfc3339(minute - timedelta(minutes=k))}" for k in (10, 9)]
            finally:
                await terminate_all(client, started)


# -- list --------------------------------------------------------------------


async def test_list_schedules(client: Client) -> None:
    await _ensure_keyword_attribute(client)
    prefix = new_id("sched-list")
    ids = [f"{prefix}-{i}" for i in range(5)]
    async with contextlib.AsyncExitStack() as stack:
        for i, sid in enumerate(ids):
            await stack.enter_async_context(
                created(
                    client,
                    sid,
                    Schedule(
                        action=ScheduleActionStartWorkflow("ListedWorkflow", "x", id=sid, task_queue=new_id("tq-none")),
                        spec=ScheduleSpec(cron_expressions=["0 0 1 1 *"]),
                        state=ScheduleState(paused=i % 2 == 0, note=f"note {i}"),
                    ),
                    memo={"i": i},
                    search_attributes=TypedSearchAttributes(
                        [SearchAttributePair(KW, f"{prefix}-{'even' if i % 2 == 0 else 'odd'}")]
                    ),
                )
            )

        async def all_listed() -> dict:
            found = {s.id: s async for s in await client.list_schedules() if s.id.startswith(prefix)}
            return found if set(found) == set(ids) else {}

        listed = await wait_for(all_listed, timeout=10, interval=0.1)
        desc0 = await client.get_schedule_handle(ids[0]).describe()
        for i, sid in enumerate(ids):
            entry = listed[sid]
            assert entry.schedule is not None and entry.info is not None
            assert entry.schedule.action.workflow == "ListedWorkflow"
            assert entry.schedule.spec.calendars == [cal(day_of_month=[(1, 1, 1)], month=[(1, 1, 1)])]
            assert entry.schedule.spec.cron_expressions == []
            assert (entry.schedule.state.note, entry.schedule.state.paused) == (f"note {i}", i % 2 == 0)
            assert entry.info.recent_actions == []
            # Entries carry five future times (describe gives ten).
            assert len(entry.info.next_action_times) == 5
            assert await entry.memo() == {"i": i}
            assert entry.typed_search_attributes.get(KW) == f"{prefix}-{'even' if i % 2 == 0 else 'odd'}"
            assert set(entry.raw_entry.search_attributes.indexed_fields) == {KW.name}
        assert listed[ids[0]].info.next_action_times == desc0.info.next_action_times[:5]
        for t in listed[ids[0]].info.next_action_times:
            assert (t.month, t.day, t.hour, t.minute, t.second) == (1, 1, 0, 0, 0)

        # Paging: pages of two, and iterating over them sees each once.
        it = await client.list_schedules(page_size=2)
        await it.fetch_next_page()
        assert len(it.current_page or []) == 2
        assert it.next_page_token
        paged = [s.id async for s in await client.list_schedules(page_size=2)]
        assert len(paged) == len(set(paged))
        assert set(ids) <= set(paged)

        # Queries on the custom attribute, also paged and combined.
        async def query(q: str, **kwargs: Any) -> list[str]:
            return [s.id async for s in await client.list_schedules(q, **kwargs)]

        assert sorted(await query(f"{KW.name} = '{prefix}-even'", page_size=2)) == [ids[0], ids[2], ids[4]]
        assert sorted(await query(f"{KW.name} = '{prefix}-odd'")) == [ids[1], ids[3]]
        assert sorted(await query(f"{KW.name} = '{prefix}-even' AND TemporalSchedulePaused = true")) == [
            ids[0],
            ids[2],
            ids[4],
        ]
        assert await query(f"{KW.name} = '{prefix}-odd' AND TemporalSchedulePaused = true") == []
        assert await query(f"{KW.name} = '{prefix}-none'") == []

        # Workflow-only attributes and unknown attributes are rejected.
        for bad in ["WorkflowId = 'x'", "NoSuchAttribute = 'x'"]:
            with pytest.raises(RPCError) as err:
                await query(bad)
            assert err.value.status == RPCStatusCode.INVALID_ARGUMENT, bad


# -- delete ------------------------------------------------------------------


async def test_delete_leaves_started_workflows_running(client: Client) -> None:
    async with run_worker(client, workflows=[Blocker]) as worker:
        sid = new_id("sched-delete")
        action = ScheduleActionStartWorkflow(Blocker.run, id=sid, task_queue=worker.task_queue)
        handle = await client.create_schedule(sid, hourly_paused(action))
        await handle.trigger()
        desc = await describe_until(handle, lambda d: len(d.info.running_actions) == 1)
        wid = desc.info.running_actions[0].workflow_id

        await handle.delete()
        with pytest.raises(RPCError) as err:
            await handle.describe()
        assert err.value.status == RPCStatusCode.NOT_FOUND
        with pytest.raises(RPCError) as err:
            await handle.delete()
        assert err.value.status == RPCStatusCode.NOT_FOUND

        async def unlisted() -> bool:
            return sid not in [s.id async for s in await client.list_schedules()]

        await wait_for(unlisted, timeout=10, interval=0.1)

        started = client.get_workflow_handle(wid)
        assert (await started.describe()).status == RUNNING
        await started.signal(Blocker.release)
        assert await started.result() == "released"

        # The id is free again: a new schedule starts from scratch.
        async with created(client, sid, hourly_paused(action)) as again:
            desc = await again.describe()
            assert desc.info.num_actions == 0
            assert desc.info.recent_actions == []


# -- bad input ---------------------------------------------------------------


def _bad(spec: ScheduleSpec | None = None, action: ScheduleActionStartWorkflow | None = None) -> Schedule:
    return Schedule(
        action=action or ScheduleActionStartWorkflow("ScheduledEcho", "x", id="bad", task_queue="tq-none"),
        spec=spec or ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))]),
        state=ScheduleState(paused=True),
    )


BAD_SCHEDULES = {
    "cron-minute-out-of-range": _bad(ScheduleSpec(cron_expressions=["61 * * * *"])),
    "cron-too-few-fields": _bad(ScheduleSpec(cron_expressions=["not a cron"])),
    "calendar-hour-25": _bad(ScheduleSpec(calendars=[ScheduleCalendarSpec(hour=[ScheduleRange(25)])])),
    "calendar-month-0": _bad(ScheduleSpec(calendars=[ScheduleCalendarSpec(month=[ScheduleRange(0)])])),
    "unknown-time-zone": _bad(
        ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))], time_zone_name="Mars/Olympus")
    ),
    "zero-interval": _bad(ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(0))])),
    "phase-beyond-interval": _bad(
        ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=3), offset=timedelta(seconds=5))])
    ),
    "missing-workflow-type": _bad(action=ScheduleActionStartWorkflow("", id="bad", task_queue="tq-none")),
}


@pytest.mark.parametrize("case", list(BAD_SCHEDULES))
async def test_invalid_schedule_is_rejected(client: Client, case: str) -> None:
    sid = new_id(f"sched-bad-{case}")
    with pytest.raises(RPCError) as err:
        await client.create_schedule(sid, BAD_SCHEDULES[case])
    assert err.value.status == RPCStatusCode.INVALID_ARGUMENT
    with pytest.raises(RPCError) as err:
        await client.get_schedule_handle(sid).describe()
    assert err.value.status == RPCStatusCode.NOT_FOUND


async def test_raw_create_validation(client: Client) -> None:
    """What the real server checks on a raw CreateScheduleRequest."""
    from temporalio.api.common.v1 import WorkflowType
    from temporalio.api.schedule.v1 import ScheduleAction
    from temporalio.api.workflow.v1 import NewWorkflowExecutionInfo

    from google.protobuf.duration_pb2 import Duration

    spec = ProtoScheduleSpec(interval=[IntervalSpec(interval=Duration(seconds=3600))])

    async def create(sid: str, schedule: ProtoSchedule) -> None:
        await client.workflow_service.create_schedule(
            CreateScheduleRequest(namespace="default", schedule_id=sid, schedule=schedule, request_id=new_id("req"))
        )

    # A start-workflow action without a task queue.
    with pytest.raises(RPCError) as err:
        await create(
            new_id("sched-raw-notq"),
            ProtoSchedule(
                spec=spec,
                action=ScheduleAction(
                    start_workflow=NewWorkflowExecutionInfo(workflow_id="w", workflow_type=WorkflowType(name="W"))
                ),
            ),
        )
    assert err.value.status == RPCStatusCode.INVALID_ARGUMENT

    # No schedule id.
    with pytest.raises(RPCError) as err:
        await create("", ProtoSchedule(spec=spec))
    assert err.value.status == RPCStatusCode.INVALID_ARGUMENT

    # Surprise: the real server accepts a schedule without any action and
    # describes it with an empty one (the SDK cannot decode it, and a list
    # containing it breaks the SDK's list iterator, so it is deleted at once).
    sid = new_id("sched-raw-noaction")
    await create(sid, ProtoSchedule(spec=spec))
    try:
        desc = await client.workflow_service.describe_schedule(
            DescribeScheduleRequest(namespace="default", schedule_id=sid)
        )
        assert not desc.schedule.action.HasField("start_workflow")
        assert [i.interval.seconds for i in desc.schedule.spec.interval] == [3600]
        assert len(desc.info.future_action_times) == 10
    finally:
        await client.workflow_service.delete_schedule(DeleteScheduleRequest(namespace="default", schedule_id=sid))

    async def gone() -> bool:
        resp = await client.workflow_service.list_schedules(
            ListSchedulesRequest(namespace="default", maximum_page_size=1000, query=f"ScheduleId = '{sid}'")
        )
        return not resp.schedules

    await wait_for(gone, timeout=10, interval=0.1)


@pytest.mark.parametrize(
    "query,allowed",
    [
        ("ScheduleId = 'x'", True),
        ("TemporalSchedulePaused = true", True),
        ("WorkflowType = 'x'", False),
        ("RunId = 'x'", False),
        ("StartTime > '2020-01-01T00:00:00Z'", False),
        ("TaskQueue = 'x'", False),
        ("CloseTime IS NULL", False),
        ("ExecutionStatus = 'Running'", False),
    ],
)
async def test_schedule_queries_name_schedules_not_runner_workflows(
    client: Client, query: str, allowed: bool
) -> None:
    from temporalio.api.workflowservice.v1 import ListSchedulesRequest

    request = ListSchedulesRequest(namespace="default", query=query)
    if allowed:
        await client.workflow_service.list_schedules(request)
        return
    with pytest.raises(RPCError) as err:
        await client.workflow_service.list_schedules(request)
    assert err.value.status == RPCStatusCode.INVALID_ARGUMENT
