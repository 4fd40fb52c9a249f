// A compact timeline of a workflow's history: one bar per activity, timer
// and child workflow from when it was scheduled (started, initiated) to when
// it closed, or to now while it is open. SVG with classes only (the CSP
// forbids inline styles).
import { attributesOf, eventName, str, type HistoryEvent } from "../api/cell";
import { duration } from "./cell-ui";

export interface Bar {
  kind: "activity" | "timer" | "child";
  label: string;
  start: number;
  end: number;
  /** completed, failed, timedout, canceled, terminated, fired, running. */
  outcome: string;
  /** The event that opened it (for the list). */
  eventId: string;
}

const CLOSERS: Record<string, { kind: Bar["kind"]; key: string; outcome: string }> = {
  ActivityTaskCompleted: { kind: "activity", key: "scheduledEventId", outcome: "completed" },
  ActivityTaskFailed: { kind: "activity", key: "scheduledEventId", outcome: "failed" },
  ActivityTaskTimedOut: { kind: "activity", key: "scheduledEventId", outcome: "timedout" },
  ActivityTaskCanceled: { kind: "activity", key: "scheduledEventId", outcome: "canceled" },
  TimerFired: { kind: "timer", key: "startedEventId", outcome: "fired" },
  TimerCanceled: { kind: "timer", key: "startedEventId", outcome: "canceled" },
  ChildWorkflowExecutionCompleted: { kind: "child", key: "initiatedEventId", outcome: "completed" },
  ChildWorkflowExecutionFailed: { kind: "child", key: "initiatedEventId", outcome: "failed" },
  ChildWorkflowExecutionTimedOut: { kind: "child", key: "initiatedEventId", outcome: "timedout" },
  ChildWorkflowExecutionCanceled: { kind: "child", key: "initiatedEventId", outcome: "canceled" },
  ChildWorkflowExecutionTerminated: { kind: "child", key: "initiatedEventId", outcome: "terminated" },
  StartChildWorkflowExecutionFailed: { kind: "child", key: "initiatedEventId", outcome: "failed" },
};

function name(v: unknown): string {
  return v !== null && typeof v === "object" && typeof (v as { name?: unknown }).name === "string"
    ? (v as { name: string }).name
    : "";
}

/** The bars of a history; open ones end at `now`. */
export function barsOf(events: HistoryEvent[], now: number): Bar[] {
  const open = new Map<string, Bar>();
  const bars: Bar[] = [];
  for (const e of events) {
    const type = eventName(e.eventType);
    const [, a] = attributesOf(e);
    const t = Date.parse(e.eventTime ?? "");
    const id = e.eventId ?? "";
    let bar: Bar | null = null;
    if (type === "ActivityTaskScheduled") {
      bar = { kind: "activity", label: `${name(a.activityType)} (activity ${str(a.activityId)})`, start: t, end: now, outcome: "running", eventId: id };
    } else if (type === "TimerStarted") {
      bar = { kind: "timer", label: `timer ${str(a.timerId)} (${str(a.startToFireTimeout)})`, start: t, end: now, outcome: "running", eventId: id };
    } else if (type === "StartChildWorkflowExecutionInitiated") {
      bar = { kind: "child", label: `${name(a.workflowType)} ${str(a.workflowId)}`, start: t, end: now, outcome: "running", eventId: id };
    }
    if (bar) {
      open.set(`${bar.kind}:${id}`, bar);
      bars.push(bar);
      continue;
    }
    const closer = CLOSERS[type];
    if (closer) {
      const opened = open.get(`${closer.kind}:${str(a[closer.key])}`);
      if (opened) {
        opened.end = t;
        opened.outcome = closer.outcome;
      }
    }
  }
  return bars;
}

const ROW = 22;
const LABEL = 260;
const WIDTH = 900;

export function Timeline({ events, closed }: { events: HistoryEvent[]; closed: boolean }) {
  const first = Date.parse(events[0]?.eventTime ?? "");
  const lastEvent = Date.parse(events[events.length - 1]?.eventTime ?? "");
  const now = closed ? lastEvent : Math.max(Date.now(), lastEvent);
  const bars = barsOf(events, now);
  if (!bars.length || !Number.isFinite(first)) {
    return <p className="muted">No activities, timers or child workflows yet.</p>;
  }
  const span = Math.max(now - first, 1);
  const scale = (t: number): number => LABEL + ((t - first) / span) * (WIDTH - LABEL - 10);
  const height = bars.length * ROW + 24;
  return (
    <figure className="timeline" data-testid="timeline">
      <svg viewBox={`0 0 ${WIDTH} ${height}`} role="img" aria-label={`Timeline of ${bars.length} activities, timers and child workflows`}>
        <line className="axis" x1={LABEL} y1={height - 18} x2={WIDTH - 10} y2={height - 18} />
        <text className="tick" x={LABEL} y={height - 4}>
          0s
        </text>
        <text className="tick end" x={WIDTH - 10} y={height - 4}>
          {duration(span)}
        </text>
        {bars.map((b, i) => {
          const x = scale(b.start);
          const w = Math.max(scale(b.end) - x, 3);
          const y = i * ROW + 2;
          return (
            <g key={`${b.kind}-${b.eventId}`} className={`bar bar-${b.kind} outcome-${b.outcome}`} data-testid={`bar-${b.kind}`}>
              <title>{`${b.label}: ${b.outcome}, ${duration(b.end - b.start)}`}</title>
              <text className="label" x={4} y={y + 14}>
                {b.label.length > 38 ? `${b.label.slice(0, 37)}…` : b.label}
              </text>
              <rect x={x} y={y + 3} width={w} height={ROW - 8} rx={3} />
            </g>
          );
        })}
      </svg>
      <figcaption className="muted">
        <span className="key key-activity">activity</span> <span className="key key-timer">timer</span>{" "}
        <span className="key key-child">child workflow</span> · hatched: still open · red: failed or timed out
      </figcaption>
    </figure>
  );
}
