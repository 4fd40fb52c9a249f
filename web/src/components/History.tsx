// A workflow's history as a list of events: id, time, type and a one-line
// summary, each expandable to its attributes with payloads decoded.
import { useState } from "react";
import { attributesOf, decodeMessage, decodePayloads, eventName, type HistoryEvent } from "../api/cell";
import { Json } from "./cell-ui";
import { when } from "./ui";

function text(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "string") return v;
  if (typeof v === "object" && typeof (v as { name?: unknown }).name === "string") return (v as { name: string }).name;
  return JSON.stringify(v);
}

function short(v: unknown): string {
  const s = JSON.stringify(v) ?? "";
  return s.length > 80 ? `${s.slice(0, 79)}…` : s;
}

/** The one line an event list shows for an event. */
export function summary(event: HistoryEvent): string {
  const [, a] = attributesOf(event);
  const parts: string[] = [];
  const add = (label: string, v: unknown): void => {
    if (v !== undefined && v !== null && v !== "") parts.push(`${label} ${text(v)}`);
  };
  add("type", a.workflowType ?? a.activityType);
  add("activity", a.activityId);
  add("timer", a.timerId);
  add("signal", a.signalName);
  add("workflow", a.workflowId ?? (a.workflowExecution as { workflowId?: string } | undefined)?.workflowId);
  add("after", a.startToFireTimeout);
  add("attempt", a.attempt !== undefined && a.attempt !== 1 ? a.attempt : undefined);
  const failure = a.failure as { message?: string } | undefined;
  add("failure", failure?.message);
  add("reason", a.reason);
  for (const key of ["input", "result"]) {
    if (a[key] !== undefined) parts.push(`${key} ${short(decodePayloads(a[key]))}`);
  }
  return parts.join(" · ");
}

export function HistoryList({ events }: { events: HistoryEvent[] }) {
  const [open, setOpen] = useState<Set<string>>(new Set());
  const [newestFirst, setNewestFirst] = useState(false);
  const list = newestFirst ? [...events].reverse() : events;
  const allOpen = open.size === events.length && events.length > 0;
  return (
    <div className="history" data-testid="history">
      <div className="actions">
        <button type="button" className="small" onClick={() => setNewestFirst(!newestFirst)}>
          {newestFirst ? "Oldest first" : "Newest first"}
        </button>
        <button
          type="button"
          className="small"
          onClick={() => setOpen(allOpen ? new Set() : new Set(events.map((e) => e.eventId ?? "")))}
        >
          {allOpen ? "Collapse all" : "Expand all"}
        </button>
      </div>
      <ol className="events">
        {list.map((e) => {
          const id = e.eventId ?? "";
          const isOpen = open.has(id);
          const [key, attrs] = attributesOf(e);
          const type = eventName(e.eventType);
          return (
            <li key={id} className={`event event-${type}`} data-testid="event" data-event-type={type}>
              <button
                type="button"
                className="event-head"
                aria-expanded={isOpen}
                aria-controls={`event-${id}`}
                onClick={() => {
                  const next = new Set(open);
                  if (isOpen) next.delete(id);
                  else next.add(id);
                  setOpen(next);
                }}
              >
                <span className="event-id">{id}</span>
                <span className="event-type">{type}</span>
                <span className="event-time muted">{when(e.eventTime)}</span>
                <span className="event-summary muted">{summary(e)}</span>
              </button>
              {isOpen ? (
                <div id={`event-${id}`} className="event-body">
                  <Json value={{ [key || "attributes"]: decodeMessage(attrs) }} testid="event-attributes" />
                </div>
              ) : null}
            </li>
          );
        })}
      </ol>
    </div>
  );
}
