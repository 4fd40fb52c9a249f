// One workflow run, as Temporal's Web UI shows it: a summary (status,
// type, times, parent and children, history size, state transitions, the
// SDK), pending activities and timers, the stack trace query, actions with a
// confirmation, a timeline, and the history as an event list. While it runs,
// live mode long-polls the history (waitNewEvent, up to LONG_POLL with a
// `grpc-timeout`) and reads the run again when an event arrives; if the long
// poll fails, it falls back to reading it every 2 seconds.
import { useCallback, useEffect, useState } from "react";
import {
  attributesOf,
  decodePayloads,
  eventName,
  str,
  type Cell,
  type Describe,
  type HistoryEvent,
} from "../api/cell";
import { decodeWith, getCodec, type CodecSettings } from "../api/codec";
import { asProblem, type ApiProblem } from "../api/http";
import { duration, Json, StatusBadge, WithCell } from "../components/cell-ui";
import { HistoryList } from "../components/History";
import { Link } from "../components/Link";
import { Timeline } from "../components/Timeline";
import { WorkflowActions } from "../components/WorkflowActions";
import { DataTable, ErrorBox, Loading, Page, Section, when } from "../components/ui";
import { useSearch } from "../router";
import { taskQueueUrl } from "./TaskQueue";
import { workflowUrl } from "./Workflows";

const LIVE_MS = 2000;
/** How long one long poll waits for a new event (a gRPC timeout value). */
const LONG_POLL = "30S";

export interface Loaded {
  describe: Describe;
  events: HistoryEvent[];
  /** Why payloads are shown as stored ("" when the codec server decoded them, or none is set). */
  codecProblem?: string;
  /** How many payloads the codec server decoded. */
  codecCount?: number;
  /** Where a long poll for the next event continues (a running run only). */
  liveToken?: string;
}

async function loadRun(cell: Cell, workflowId: string, runId: string, codec: CodecSettings | null): Promise<Loaded> {
  const ns = cell.namespace;
  const describe = await cell.request("GET", "/api/v1/namespaces/{namespace}/workflows/{execution.workflow_id}", {
    path: { namespace: ns, "execution.workflow_id": workflowId },
    query: { "execution.runId": runId || undefined },
  });
  // The run the describe answered, so history and describe agree.
  const run = describe.workflowExecutionInfo?.execution?.runId ?? runId;
  const events: HistoryEvent[] = [];
  const running = describe.workflowExecutionInfo?.status === "WORKFLOW_EXECUTION_STATUS_RUNNING";
  // A running run is read with waitNewEvent, so its last page comes with the
  // token a long poll continues from; the read stops at the length the
  // describe gave (later pages would wait), and never waits long.
  const length = Number(describe.workflowExecutionInfo?.historyLength ?? 0);
  let token = "";
  let liveToken = "";
  for (let page = 0; page < 100; page++) {
    // With a codec server, payloads come in full form (`{metadata, data}`,
    // the gateway's own `noPayloadShorthand` parameter, which Temporal's
    // document does not list), as the codec-server protocol takes them.
    const query = {
      "execution.runId": run || undefined,
      nextPageToken: token || undefined,
      ...(codec?.endpoint ? { noPayloadShorthand: true } : {}),
      waitNewEvent: running || undefined,
    };
    const res = await cell.request("GET", "/api/v1/namespaces/{namespace}/workflows/{execution.workflow_id}/history", {
      path: { namespace: ns, "execution.workflow_id": workflowId },
      query,
      headers: running ? { "grpc-timeout": "5S" } : undefined,
    });
    const got = res.history?.events ?? [];
    events.push(...got);
    token = res.nextPageToken ?? "";
    if (!token) break;
    if (running && (events.length >= length || got.length === 0)) {
      liveToken = token;
      break;
    }
  }
  if (!codec?.endpoint) return { describe, events, liveToken };
  // The describe's payloads too (pending activities' heartbeat details and
  // failures, memo): other encodings than json/plain come in full form even
  // with shorthand, and all of them go to the codec server in one request.
  const decoded = await decodeWith(codec, ns, cell.token, { describe, events });
  return { ...decoded.value, codecProblem: decoded.problem, codecCount: decoded.count, liveToken };
}

function sdkOf(events: HistoryEvent[]): string {
  for (const e of events) {
    const [, a] = attributesOf(e);
    const meta = a.sdkMetadata as { sdkName?: string; sdkVersion?: string } | undefined;
    if (meta?.sdkName) return `${meta.sdkName} ${meta.sdkVersion ?? ""}`.trim();
  }
  return "";
}

interface Timer {
  id: string;
  fires: number;
  eventId: string;
}

/** Timers started and neither fired nor canceled. */
function pendingTimers(events: HistoryEvent[]): Timer[] {
  const open = new Map<string, Timer>();
  for (const e of events) {
    const type = eventName(e.eventType);
    const [, a] = attributesOf(e);
    if (type === "TimerStarted") {
      const secs = Number.parseFloat(str(a.startToFireTimeout) || "0");
      open.set(str(a.timerId), { id: str(a.timerId), fires: Date.parse(e.eventTime ?? "") + secs * 1000, eventId: e.eventId ?? "" });
    } else if (type === "TimerFired" || type === "TimerCanceled") {
      open.delete(str(a.timerId));
    }
  }
  return [...open.values()];
}

interface Child {
  workflowId: string;
  runId: string;
  type: string;
  state: string;
}

/** Children started by this run, with how each ended (from the history). */
function childrenOf(events: HistoryEvent[]): Child[] {
  const byInitiated = new Map<string, Child>();
  for (const e of events) {
    const type = eventName(e.eventType);
    const [, a] = attributesOf(e);
    const exec = a.workflowExecution as { workflowId?: string; runId?: string } | undefined;
    if (type === "StartChildWorkflowExecutionInitiated") {
      byInitiated.set(e.eventId ?? "", {
        workflowId: str(a.workflowId),
        runId: "",
        type: (a.workflowType as { name?: string } | undefined)?.name ?? "",
        state: "initiated",
      });
    } else if (type.startsWith("ChildWorkflowExecution") || type === "StartChildWorkflowExecutionFailed") {
      const child = byInitiated.get(str(a.initiatedEventId));
      if (!child) continue;
      if (exec?.runId) child.runId = exec.runId;
      child.state = type.replace(/^ChildWorkflowExecution/, "").replace(/^StartChildWorkflowExecution/, "start ").toLowerCase();
    }
  }
  return [...byInitiated.values()];
}

function Summary({ data, namespace }: { data: Loaded; namespace: string }) {
  const info = data.describe.workflowExecutionInfo ?? {};
  const start = Date.parse(info.startTime ?? "");
  const close = Date.parse(info.closeTime ?? "");
  const parent = info.parentExecution;
  const children = childrenOf(data.events);
  const sdk = sdkOf(data.events);
  const last = data.events[data.events.length - 1];
  const closing = last && /WorkflowExecution(Completed|Failed|TimedOut|Terminated|Canceled|ContinuedAsNew)$/.test(eventName(last.eventType));
  const [, closeAttrs] = last ? attributesOf(last) : ["", {}];
  return (
    <>
      <dl className="details" data-testid="summary">
        <dt>Status</dt>
        <dd>
          <StatusBadge status={info.status} />
        </dd>
        <dt>Workflow type</dt>
        <dd data-testid="workflow-type">{info.type?.name}</dd>
        <dt>Run ID</dt>
        <dd>
          <code>{info.execution?.runId}</code>
        </dd>
        <dt>Task queue</dt>
        <dd>
          {info.taskQueue ? (
            <Link href={taskQueueUrl(namespace, info.taskQueue)} data-testid="task-queue">
              {info.taskQueue}
            </Link>
          ) : null}
        </dd>
        <dt>Started</dt>
        <dd>{when(info.startTime)}</dd>
        {info.executionTime && info.executionTime !== info.startTime ? (
          <>
            <dt>Execution time</dt>
            <dd>{when(info.executionTime)}</dd>
          </>
        ) : null}
        <dt>Closed</dt>
        <dd>{info.closeTime ? `${when(info.closeTime)} (after ${duration(close - start)})` : "still running"}</dd>
        {parent?.workflowId ? (
          <>
            <dt>Parent</dt>
            <dd>
              <Link href={workflowUrl(namespace, parent.workflowId, parent.runId)}>{parent.workflowId}</Link>
            </dd>
          </>
        ) : null}
        <dt>History</dt>
        <dd data-testid="history-length">
          {info.historyLength ?? data.events.length} events, {Number(info.historySizeBytes ?? 0).toLocaleString()} bytes
        </dd>
        <dt>State transitions</dt>
        <dd>{info.stateTransitionCount ?? "0"}</dd>
        {sdk ? (
          <>
            <dt>SDK</dt>
            <dd data-testid="sdk">{sdk}</dd>
          </>
        ) : null}
      </dl>
      {closing ? (
        <Section title={eventName(last.eventType).replace(/^WorkflowExecution/, "") === "Completed" ? "Result" : "Outcome"}>
          <Json
            value={closeAttrs.result !== undefined ? decodePayloads(closeAttrs.result) : closeAttrs}
            testid="result"
          />
        </Section>
      ) : null}
      {children.length ? (
        <Section title="Child workflows" testid="children">
          <DataTable
            columns={["Workflow ID", "Type", "State"]}
            empty=""
            rows={children.map((c) => ({
              key: `${c.workflowId}-${c.runId}`,
              cells: [<Link href={workflowUrl(namespace, c.workflowId, c.runId)}>{c.workflowId}</Link>, c.type, c.state],
            }))}
          />
        </Section>
      ) : null}
    </>
  );
}

function Pending({ data }: { data: Loaded }) {
  const activities = data.describe.pendingActivities ?? [];
  const timers = pendingTimers(data.events);
  if (!activities.length && !timers.length) return null;
  return (
    <Section title="Pending" testid="pending">
      {activities.length ? (
        <DataTable
          testid="pending-activities"
          caption="Pending activities"
          columns={["Activity", "State", "Attempt", "Last failure", "Scheduled"]}
          empty=""
          rows={activities.map((a) => ({
            key: a.activityId ?? "",
            cells: [
              `${a.activityType?.name ?? ""} (${a.activityId ?? ""})`,
              (a.state ?? "").replace(/^PENDING_ACTIVITY_STATE_/, "").toLowerCase(),
              String(a.attempt ?? 1),
              a.lastFailure?.message ?? "",
              when(a.scheduledTime ?? a.lastStartedTime),
            ],
          }))}
        />
      ) : null}
      {timers.length ? (
        <DataTable
          testid="pending-timers"
          caption="Pending timers"
          columns={["Timer", "Fires at", "Started by event"]}
          empty=""
          rows={timers.map((t) => ({ key: t.id, cells: [t.id, when(new Date(t.fires).toISOString()), t.eventId] }))}
        />
      ) : null}
    </Section>
  );
}

function StackTrace({
  cell,
  workflowId,
  runId,
  codec,
}: {
  cell: Cell;
  workflowId: string;
  runId: string;
  codec: CodecSettings | null;
}) {
  const [state, setState] = useState<{ text: string; error: ApiProblem | null; busy: boolean }>({ text: "", error: null, busy: false });
  async function ask(): Promise<void> {
    setState({ text: "", error: null, busy: true });
    try {
      const res = await cell.request("POST", "/api/v1/namespaces/{namespace}/workflows/{execution.workflow_id}/query/{query.query_type}", {
        path: { namespace: cell.namespace, "execution.workflow_id": workflowId, "query.query_type": "__stack_trace" },
        body: { execution: { workflowId, runId }, query: { queryType: "__stack_trace" } },
      });
      // A worker with a payload codec encodes its answer too.
      const decoded = codec?.endpoint ? await decodeWith(codec, cell.namespace, cell.token, res.queryResult) : null;
      if (decoded?.problem) throw new Error(decoded.problem);
      const values = decodePayloads(decoded ? decoded.value : res.queryResult);
      setState({ text: values.map((v) => (typeof v === "string" ? v : JSON.stringify(v, null, 2))).join("\n"), error: null, busy: false });
    } catch (err) {
      setState({ text: "", error: asProblem(err), busy: false });
    }
  }
  return (
    <Section title="Stack trace" testid="stack-trace">
      <p className="muted">Asks a worker where the workflow's code is waiting (the __stack_trace query).</p>
      <button type="button" className="small" disabled={state.busy} aria-busy={state.busy} onClick={() => void ask()}>
        {state.busy ? "Asking a worker…" : "Get the stack trace"}
      </button>
      {state.error ? <ErrorBox error={state.error} /> : null}
      {state.text ? (
        <pre className="json" tabIndex={0} data-testid="stack-trace-text">
          {state.text}
        </pre>
      ) : null}
    </Section>
  );
}

function Run({ cell, workflowId, runId }: { cell: Cell; workflowId: string; runId: string }) {
  const [data, setData] = useState<Loaded | null>(null);
  const [error, setError] = useState<ApiProblem | null>(null);
  const [live, setLive] = useState(true);
  const [tab, setTab] = useState<"history" | "timeline">("history");
  const [codec, setCodec] = useState<{ settings: CodecSettings | null; problem: string } | null>(null);
  useEffect(() => {
    getCodec(cell.namespace).then(
      (settings) => setCodec({ settings, problem: "" }),
      (err: unknown) =>
        setCodec({ settings: null, problem: `The namespace's codec server setting cannot be read (${asProblem(err).detail}).` }),
    );
  }, [cell.namespace]);
  const reload = useCallback(async () => {
    if (!codec) return;
    try {
      setData(await loadRun(cell, workflowId, runId, codec.settings));
      setError(null);
    } catch (err) {
      setError(asProblem(err));
    }
  }, [cell, workflowId, runId, codec]);
  useEffect(() => {
    void reload();
  }, [reload]);
  const running = data?.describe.workflowExecutionInfo?.status === "WORKFLOW_EXECUTION_STATUS_RUNNING";
  // Live mode: one long poll at a time from the last read's token; a new
  // event reads the run again (describe and history agree), a poll that
  // timed out with nothing new polls again. Polling every LIVE_MS is the
  // fallback when the long poll fails (a proxy that cuts it, an old cell).
  const [polls, setPolls] = useState(0);
  const [longPoll, setLongPoll] = useState(true);
  const liveToken = data?.liveToken ?? "";
  const runOf = data?.describe.workflowExecutionInfo?.execution?.runId ?? runId;
  useEffect(() => {
    if (!live || !running || !longPoll || !liveToken) return;
    let stopped = false;
    const abort = new AbortController();
    cell
      .request("GET", "/api/v1/namespaces/{namespace}/workflows/{execution.workflow_id}/history", {
        path: { namespace: cell.namespace, "execution.workflow_id": workflowId },
        query: { "execution.runId": runOf || undefined, nextPageToken: liveToken, waitNewEvent: true },
        headers: { "grpc-timeout": LONG_POLL },
        signal: abort.signal,
      })
      .then(
        async (res) => {
          if (stopped) return;
          if (res.history?.events?.length) await reload();
          else setPolls((n) => n + 1);
        },
        () => {
          if (!stopped) setLongPoll(false);
        },
      );
    return () => {
      stopped = true;
      abort.abort();
    };
  }, [live, running, longPoll, liveToken, polls, cell, workflowId, runOf, reload]);
  useEffect(() => {
    if (!live || !running || (longPoll && liveToken)) return;
    const timer = setInterval(() => void reload(), LIVE_MS);
    return () => clearInterval(timer);
  }, [live, running, longPoll, liveToken, reload]);

  if (!data) return error ? <ErrorBox error={error} /> : <Loading what="the workflow" />;
  const run = data.describe.workflowExecutionInfo?.execution?.runId ?? runId;
  return (
    <>
      {error ? <ErrorBox error={error} /> : null}
      <div className="actions live">
        {running ? (
          <label className="inline-check">
            <input type="checkbox" checked={live} onChange={(e) => setLive(e.target.checked)} data-testid="live" /> Live: follow the
            workflow{" "}
            <span data-testid="live-mode" data-mode={longPoll && liveToken ? "long-poll" : "polling"}>
              {longPoll && liveToken ? "(as events arrive)" : `(every ${LIVE_MS / 1000} s)`}
            </span>
          </label>
        ) : null}
        <button type="button" className="small" onClick={() => void reload()}>
          Refresh
        </button>
      </div>
      {codec?.problem ? (
        <p className="error" role="alert" data-testid="codec-note">
          {codec.problem}
        </p>
      ) : null}
      {data.codecProblem ? (
        <p className="error" role="alert" data-testid="codec-note">
          {data.codecProblem}
        </p>
      ) : codec?.settings?.endpoint ? (
        <p className="muted" data-testid="codec-status">
          Payloads decoded in this browser by the codec server at <code>{codec.settings.endpoint}</code>
          {data.codecCount ? ` (${data.codecCount} payloads)` : ""}.
        </p>
      ) : null}
      <Summary data={data} namespace={cell.namespace} />
      <WorkflowActions cell={cell} workflowId={workflowId} runId={run} data={data} running={running} onDone={reload} />
      <Pending data={data} />
      {running ? <StackTrace cell={cell} workflowId={workflowId} runId={run} codec={codec?.settings ?? null} /> : null}
      <section aria-label="History">
        <h2>History</h2>
        <div className="tabs" role="group" aria-label="History view">
          <button type="button" className="chip" aria-pressed={tab === "history"} onClick={() => setTab("history")}>
            Event list
          </button>
          <button type="button" className="chip" aria-pressed={tab === "timeline"} onClick={() => setTab("timeline")}>
            Timeline
          </button>
        </div>
        {tab === "history" ? <HistoryList events={data.events} /> : <Timeline events={data.events} closed={!running} />}
      </section>
    </>
  );
}

export function WorkflowPage({ namespace, workflowId }: { namespace: string; workflowId: string }) {
  const runId = useSearch().get("run") ?? "";
  const back = <Link href={`/namespaces/${encodeURIComponent(namespace)}/workflows`}>← Workflows of {namespace}</Link>;
  return (
    <Page title={workflowId} back={back}>
      <WithCell namespace={namespace}>
        {(cell) => <Run key={`${workflowId}/${runId}`} cell={cell} workflowId={workflowId} runId={runId} />}
      </WithCell>
    </Page>
  );
}
