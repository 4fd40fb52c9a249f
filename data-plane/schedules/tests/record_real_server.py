"""Records the real Temporal server's view of schedule specs (describe + matching times).

    /work/shared/tools/real-temporal start 7299 /tmp/sched-real.db
    /tmp/real-temporal-venv/bin/python tests/record_real_server.py 7299 tests/fixtures/real_server_specs.json
    /work/shared/tools/real-temporal stop 7299

Each spec is created as a paused schedule, described, asked for matching times, deleted.
"""
import asyncio, json, sys, uuid
from google.protobuf import json_format
from temporalio.client import Client
from temporalio.api.schedule.v1 import ScheduleSpec, Schedule, ScheduleAction, ScheduleState
from temporalio.api.workflow.v1 import NewWorkflowExecutionInfo
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.common.v1 import WorkflowType
from temporalio.api.workflowservice.v1 import (CreateScheduleRequest, DescribeScheduleRequest,
    ListScheduleMatchingTimesRequest, DeleteScheduleRequest, DescribeNamespaceRequest)
from google.protobuf.timestamp_pb2 import Timestamp

def R(s, e=None, st=None):
    d = {"start": s}
    if e is not None: d["end"] = e
    if st is not None: d["step"] = st
    return d

SDK_DEFAULTS = {"second": [R(0)], "minute": [R(0)], "hour": [R(0)], "dayOfMonth": [R(1, 31)],
                "month": [R(1, 12)], "dayOfWeek": [R(0, 6)]}
def sc(**kw):
    d = dict(SDK_DEFAULTS); d.update(kw); return d

# (name, spec as proto JSON, matching window [start, end] or None)
VALID = [
  ("structured_noon_monday", {"structuredCalendar": [sc(hour=[R(12)], dayOfWeek=[R(1)])]}, None),
  ("cron_noon_monday", {"cronString": ["0 12 * * MON"]}, None),
  ("cron_hourly", {"cronString": ["@hourly"]}, ["2027-01-01T00:00:00Z", "2027-01-01T05:00:00Z"]),
  ("cron_descriptors", {"cronString": ["@daily", "@weekly", "@monthly", "@yearly", "@annually", "@midnight"]}, None),
  ("cron_every_phase", {"cronString": ["@every 90m/10m"]}, ["2027-01-01T00:00:00Z", "2027-01-01T12:00:00Z"]),
  ("cron_every_days", {"cronString": ["@every 1.5d", "@every 36h30m"]}, None),
  ("cron_tz_ny_spring_gap", {"cronString": ["CRON_TZ=America/New_York 30 2 * * *"], "startTime": "2027-03-10T00:00:00Z"},
      ["2027-03-12T00:00:00Z", "2027-03-17T00:00:00Z"]),
  ("tz_ny_fall_back_hourly", {"cronString": ["15 * * * *"], "timezoneName": "America/New_York", "startTime": "2027-11-07T03:00:00Z"}, None),
  ("tz_ny_fall_back_0130", {"cronString": ["30 1 * * *"], "timezoneName": "America/New_York", "startTime": "2027-11-05T00:00:00Z"}, None),
  ("tz_london_fall_back_hourly", {"cronString": ["TZ=Europe/London 0 * * * *"], "startTime": "2027-10-30T21:30:00Z"}, None),
  ("tz_london_spring_hourly", {"cronString": ["TZ=Europe/London 30 * * * *"], "startTime": "2027-03-27T22:00:00Z"}, None),
  ("tz_santiago_midnight_gap", {"cronString": ["0 0 * * *"], "timezoneName": "America/Santiago", "startTime": "2027-09-02T00:00:00Z"}, None),
  ("tz_lord_howe_half_hour", {"cronString": ["0,30 * * * *"], "timezoneName": "Australia/Lord_Howe", "startTime": "2027-10-02T13:00:00Z"}, None),
  ("calendar_strings", {"calendar": [{"second": "", "minute": "1,3-5/2", "hour": "*/6", "dayOfWeek": "mon-fri",
      "month": "jan,Jul", "comment": "legacy"}]}, None),
  ("calendar_sunday_seven", {"calendar": [{"hour": "10", "dayOfWeek": "7"}, {"hour": "11", "dayOfWeek": "3-7"},
      {"hour": "12", "dayOfWeek": "1-7/2"}, {"hour": "13", "dayOfWeek": "0-7"}, {"hour": "14", "dayOfWeek": "3-7/3"},
      {"hour": "15", "dayOfWeek": "su,Sat"}]}, None),
  ("calendar_step_forms", {"calendar": [{"second": "5/20", "minute": "*/15", "hour": "2-20/9", "dayOfMonth": "1,15-16",
      "month": "feb-Apr/2", "year": "2027-2030"}]}, None),
  ("cron_seven_fields", {"cronString": ["15 */20 3 * * * 2027"]}, None),
  ("cron_six_fields_feb29_monday", {"cronString": ["0 0 29 2 MON *"]}, None),
  ("cron_comment", {"cronString": ["0 5 * * * # daily at five", "0 6 * * *#six", "@every 2h # every two hours"]}, None),
  ("cron_after_structured", {"structuredCalendar": [sc(hour=[R(3)])], "cronString": ["0 4 * * *"],
      "calendar": [{"hour": "5"}]}, None),
  ("interval_offset_excl_bounds", {"interval": [{"interval": "25200s", "phase": "1800s"}],
      "excludeStructuredCalendar": [sc(hour=[R(7, 9)], minute=[R(0, 59)], second=[R(0, 59)])],
      "startTime": "2027-02-01T00:00:00Z", "endTime": "2027-02-03T12:00:00Z"},
      ["2027-02-01T00:00:00Z", "2027-02-05T00:00:00Z"]),
  ("interval_excl_weekend_strings", {"interval": [{"interval": "3600s"}],
      "excludeCalendar": [{"second": "*", "minute": "*", "hour": "*", "dayOfWeek": "sat,sun"}],
      "startTime": "2027-01-08T20:00:00Z"}, ["2027-01-08T20:00:00Z", "2027-01-11T03:00:00Z"]),
  ("structured_empty_fields", {"structuredCalendar": [{"hour": [R(12)]}]}, None),
  ("structured_defaults_ranges", {"structuredCalendar": [sc(minute=[R(1, None, 1)], hour=[R(2, 2, 0)], dayOfMonth=[R(1, 31, 0)])]}, None),
  ("structured_year_2080", {"structuredCalendar": [sc(year=[R(2080)], month=[R(2)], dayOfMonth=[R(29)], hour=[R(6)])]}, None),
  ("jitter_hourly", {"cronString": ["@hourly"], "jitter": "1800s"}, ["2027-01-01T00:00:00Z", "2027-01-01T10:00:00Z"]),
  ("jitter_interval", {"interval": [{"interval": "600s", "phase": "7s"}], "jitter": "3600s", "startTime": "2027-05-05T05:05:05.500Z"}, None),
  ("start_subsecond", {"cronString": ["* * * * *"], "startTime": "2027-01-01T00:00:00.500Z"}, ["2027-01-01T00:00:00.500Z", "2027-01-01T00:03:00Z"]),
  ("end_before_start", {"cronString": ["@daily"], "startTime": "2027-01-10T00:00:00Z", "endTime": "2027-01-05T00:00:00Z"}, None),
  ("tz_kolkata_calendar", {"calendar": [{"minute": "0,45", "hour": "9"}], "timezoneName": "Asia/Kolkata"}, None),
  ("exclude_structured_out_of_range", {"cronString": ["0 * * * *"], "excludeStructuredCalendar": [{"second": [R(0, 100)], "minute": [R(0, 59)], "hour": [R(1, 30)], "dayOfMonth": [R(1, 31)], "month": [R(1, 12)], "dayOfWeek": [R(0, 6)]}]}, None),
  ("cron_mixed_case_names", {"cronString": ["0 9 1-7 jAn,MARCH Tue", "0\t10  */10 dec sat,Sunday"]}, None),
  ("tz_local", {"cronString": ["@daily"], "timezoneName": "Local"}, None),
  ("tz_utc_explicit", {"cronString": ["CRON_TZ=UTC 0 6 * * *"], "timezoneName": "UTC"}, None),
  ("tz_cron_and_spec_same", {"cronString": ["CRON_TZ=America/New_York 0 6 * * *"], "timezoneName": "America/New_York"}, None),
  ("tz_etc_gmt_plus5", {"cronString": ["0 6 * * *"], "timezoneName": "Etc/GMT+5"}, None),
  ("tz_us_eastern_alias", {"cronString": ["0 6 * * *"], "timezoneName": "US/Eastern"}, None),
  ("interval_fractional_seconds", {"interval": [{"interval": "1.500s", "phase": "0.250s"}], "startTime": "2027-01-01T00:00:00Z"},
      ["2027-01-01T00:00:00Z", "2027-01-01T00:00:05Z"]),
  ("jitter_capped_by_gap", {"cronString": ["@every 60s"], "jitter": "3600s", "startTime": "2027-01-01T00:00:00Z"}, None),
  ("jitter_with_end", {"cronString": ["@every 1h"], "jitter": "7200s", "startTime": "2027-01-01T00:00:00Z", "endTime": "2027-01-01T03:00:00Z"},
      ["2026-12-31T00:00:00Z", "2027-01-02T00:00:00Z"]),
  ("exclude_structured_year", {"cronString": ["0 0 1 * *"], "excludeStructuredCalendar": [dict(sc(hour=[R(0, 23)]), year=[R(2027)])], "startTime": "2026-11-01T00:00:00Z"}, None),
  ("interval_and_calendar_union", {"interval": [{"interval": "7200s", "phase": "1800s"}], "cronString": ["0 */3 * * *"], "startTime": "2027-06-01T00:00:00Z"},
      ["2027-06-01T00:00:00Z", "2027-06-01T12:00:00Z"]),
]

INVALID = [
  ("cron_last_day_l", {"cronString": ["0 10 L * *"]}),
  ("cron_comment_only", {"cronString": ["# nothing"]}),
  ("cron_wrapping_ranges", {"cronString": ["0 10 * dec-feb sat-Sunday"]}),
  ("tz_lowercase_utc", {"cronString": ["@daily"], "timezoneName": "utc"}),
  ("cron_question_mark", {"cronString": ["0 0 ? * *"]}),
  ("cron_negative_value", {"cronString": ["-1 0 * * *"]}),
  ("cron_every_no_unit", {"cronString": ["@every 10"]}),
  ("interval_invalid_duration", {"interval": [{"interval": "3600s", "phase": "-0.500s"}]}),
  ("structured_hour_24", {"structuredCalendar": [sc(hour=[R(24)])]}),
  ("structured_dow_7", {"structuredCalendar": [sc(dayOfWeek=[R(7)])]}),
  ("structured_step_negative", {"structuredCalendar": [sc(minute=[R(0, 59, -1)])]}),
  ("structured_end_before_start", {"structuredCalendar": [sc(minute=[R(30, 10)])]}),
  ("structured_year_1999", {"structuredCalendar": [sc(year=[R(1999)])]}),
  ("structured_multiple_errors", {"structuredCalendar": [sc(second=[R(60)], month=[R(0)], dayOfMonth=[R(1, 32)])]}),
  ("structured_comment_too_long", {"structuredCalendar": [dict(sc(), comment="x" * 201)]}),
  ("cron_three_fields", {"cronString": ["* * *"]}),
  ("cron_eight_fields", {"cronString": ["* * * * * * * *"]}),
  ("cron_bad_dow_name", {"cronString": ["0 12 * * FOO"]}),
  ("cron_month_13", {"cronString": ["0 0 1 13 *"]}),
  ("cron_bad_tz", {"cronString": ["CRON_TZ=Mars/Olympus 0 * * * *"]}),
  ("cron_tz_no_fields", {"cronString": ["CRON_TZ=UTC"]}),
  ("cron_conflicting_tz", {"cronString": ["CRON_TZ=UTC 0 * * * *", "CRON_TZ=Europe/Paris 0 * * * *"]}),
  ("cron_tz_vs_spec_tz", {"cronString": ["CRON_TZ=Europe/Paris 0 * * * *"], "timezoneName": "UTC"}),
  ("cron_tz_and_no_tz", {"cronString": ["CRON_TZ=Europe/Paris 0 * * * *", "0 1 * * *"]}),
  ("cron_every_missing", {"cronString": ["@every"]}),
  ("cron_every_bad_unit", {"cronString": ["@every 1x"]}),
  ("cron_every_negative", {"cronString": ["@every -1h"]}),
  ("cron_every_phase_too_big", {"cronString": ["@every 1h/2h"]}),
  ("cron_unknown_descriptor", {"cronString": ["@fortnightly"]}),
  ("cron_step_zero", {"cronString": ["*/0 * * * *"]}),
  ("bad_timezone_name", {"cronString": ["@daily"], "timezoneName": "Not/AZone"}),
  ("interval_zero", {"interval": [{"interval": "0s"}]}),
  ("interval_missing", {"interval": [{}]}),
  ("interval_subsecond", {"interval": [{"interval": "0.500s"}]}),
  ("interval_phase_equal", {"interval": [{"interval": "3600s", "phase": "3600s"}]}),
  ("interval_phase_negative", {"interval": [{"interval": "3600s", "phase": "-1s"}]}),
  ("calendar_range_backwards", {"calendar": [{"minute": "5-3"}]}),
  ("calendar_too_many_slashes", {"calendar": [{"minute": "1/2/3"}]}),
  ("calendar_missing_step", {"calendar": [{"minute": "5/"}]}),
  ("calendar_step_zero", {"calendar": [{"minute": "5/0"}]}),
  ("calendar_too_many_dashes", {"calendar": [{"minute": "1-2-3"}]}),
  ("calendar_not_number", {"calendar": [{"hour": "noon"}]}),
  ("calendar_two_bad_fields", {"calendar": [{"hour": "25", "dayOfMonth": "0"}]}),
  ("exclude_calendar_bad", {"cronString": ["@daily"], "excludeCalendar": [{"hour": "x"}]}),
  ("calendar_year_2101", {"calendar": [{"year": "2101"}]}),
  ("calendar_dow_8", {"calendar": [{"dayOfWeek": "8"}]}),
]

async def main(port, out):
    client = await Client.connect(f"127.0.0.1:{port}", namespace="default")
    svc = client.workflow_service
    ns = await svc.describe_namespace(DescribeNamespaceRequest(namespace="default"))
    ns_id = ns.namespace_info.id
    run = uuid.uuid4().hex[:8]
    def action(sid):
        return ScheduleAction(start_workflow=NewWorkflowExecutionInfo(
            workflow_id=f"wf-{sid}", workflow_type=WorkflowType(name="Nothing"), task_queue=TaskQueue(name="nowhere")))
    cases = []
    for name, spec_json in [(n, s) for n, s, _ in VALID] + INVALID:
        window = next((w for n, s, w in VALID if n == name), None)
        sid = f"{name}-{run}"
        spec = json_format.ParseDict(spec_json, ScheduleSpec())
        case = {"name": name, "schedule_id": sid, "spec": spec_json}
        try:
            await svc.create_schedule(CreateScheduleRequest(namespace="default", schedule_id=sid,
                schedule=Schedule(spec=spec, action=action(sid), state=ScheduleState(paused=True)),
                identity="recorder", request_id=str(uuid.uuid4())))
        except Exception as e:
            case["error"] = {"status": getattr(e, "status", None) and e.status.name, "message": getattr(e, "message", str(e))}
            cases.append(case); print(name, "ERR", case["error"]); continue
        d = await svc.describe_schedule(DescribeScheduleRequest(namespace="default", schedule_id=sid))
        case["jitter_seed"] = f"{ns_id}-{sid}"
        case["create_time"] = d.info.create_time.ToJsonString()
        case["described_spec"] = json_format.MessageToDict(d.schedule.spec)
        case["next_action_times"] = [t.ToJsonString() for t in d.info.future_action_times]
        if window:
            st, en = Timestamp(), Timestamp(); st.FromJsonString(window[0]); en.FromJsonString(window[1])
            m = await svc.list_schedule_matching_times(ListScheduleMatchingTimesRequest(
                namespace="default", schedule_id=sid, start_time=st, end_time=en))
            case["matching"] = {"start": window[0], "end": window[1], "times": [t.ToJsonString() for t in m.start_time]}
        await svc.delete_schedule(DeleteScheduleRequest(namespace="default", schedule_id=sid, identity="recorder"))
        cases.append(case); print(name, len(case["next_action_times"]), case["next_action_times"][:2])
    doc = {"comment": "Observations of the real Temporal server (CLI 1.9.1, server 1.32.0, dev server) recorded by "
           "tests/record_real_server.py: each spec sent to CreateSchedule (paused) and what DescribeSchedule and "
           "ListScheduleMatchingTimes answered.", "server_version": "1.32.0", "cases": cases}
    json.dump(doc, open(out, "w"), indent=1)

asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
