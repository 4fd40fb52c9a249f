// A namespace's standalone activities (started by a client, not by a
// workflow), as Temporal's Web UI shows them: a list by the visibility
// query (ListActivityExecutions) with pages, and one activity's page
// (DescribeActivityExecution with its input, outcome, heartbeat details and
// last failure) with cancel and terminate behind a confirmation.
import { Fragment, useEffect, useState, type FormEvent } from "react";
import { decodeMessage, decodePayloads, str, type ActivityDescribe, type ActivityListInfo, type Cell } from "../api/cell";
import { asProblem, type ApiProblem } from "../api/http";
import { ActionDialog, Json, StatusBadge, WithCell, type DialogField } from "../components/cell-ui";
import { Link } from "../components/Link";
import { DataTable, ErrorBox, Loading, Notice, Page, Section, when } from "../components/ui";
import { navigate, useSearch } from "../router";
import { taskQueueUrl } from "./TaskQueue";

const PAGE_SIZES = [10, 20, 50, 100];

function listUrl(namespace: string, query: string): string {
  const base = `/namespaces/${encodeURIComponent(namespace)}/activities`;
  return query ? `${base}?query=${encodeURIComponent(query)}` : base;
}

export function activityUrl(namespace: string, activityId: string): string {
  return `/namespaces/${encodeURIComponent(namespace)}/activities/${encodeURIComponent(activityId)}`;
}

type ListState =
  | { status: "loading" }
  | { status: "ok"; rows: ActivityListInfo[]; next: string }
  | { status: "error"; error: ApiProblem };

function ActivityList({ cell, query }: { cell: Cell; query: string }) {
  const ns = cell.namespace;
  const [draft, setDraft] = useState(query);
  const [list, setList] = useState<ListState>({ status: "loading" });
  // The tokens of the pages before this one (the first is "").
  const [pages, setPages] = useState<string[]>([""]);
  const [pageSize, setPageSize] = useState(20);
  const token = pages[pages.length - 1] ?? "";

  useEffect(() => setDraft(query), [query]);
  useEffect(() => setPages([""]), [query, pageSize]);

  useEffect(() => {
    let live = true;
    setList({ status: "loading" });
    cell
      .request("GET", "/api/v1/namespaces/{namespace}/activities", {
        path: { namespace: ns },
        query: { query, pageSize, nextPageToken: token || undefined },
      })
      .then(
        (res) => live && setList({ status: "ok", rows: res.executions ?? [], next: res.nextPageToken ?? "" }),
        (err: unknown) => live && setList({ status: "error", error: asProblem(err) }),
      );
    return () => {
      live = false;
    };
  }, [cell, ns, query, token, pageSize]);

  function search(event: FormEvent<HTMLFormElement>): void {
    event.preventDefault();
    navigate(listUrl(ns, draft.trim()));
  }

  const error = list.status === "error" ? list.error : null;
  return (
    <>
      <form className="query-box" onSubmit={search} role="search" aria-label="Activities">
        <label htmlFor="activity-query">List filter</label>
        <div className="query-row">
          <input
            id="activity-query"
            name="query"
            value={draft}
            onChange={(e) => setDraft(e.target.value)}
            placeholder={'ActivityType = "charge" AND ExecutionStatus = "Running"'}
            spellCheck={false}
            autoComplete="off"
            aria-invalid={error ? true : undefined}
            aria-describedby={error ? "query-error" : "query-hint"}
          />
          <button type="submit">Search</button>
        </div>
        <span id="query-hint" className="muted hint">
          Temporal's list filter: ActivityId, ActivityType, ExecutionStatus, TaskQueue, StartTime, CloseTime and search
          attributes.
        </span>
        {error ? (
          <p className="error" role="alert" id="query-error" data-testid="query-error">
            {error.detail}
          </p>
        ) : null}
      </form>
      {list.status === "loading" ? <Loading what="activities" /> : null}
      {list.status === "ok" ? (
        <>
          <DataTable
            testid="activities"
            caption="Standalone activities"
            columns={["Status", "Activity ID", "Type", "Task queue", "Scheduled", "Closed"]}
            empty={
              query
                ? "No activity matches this query."
                : "No standalone activities yet: start one with an SDK's start_activity or the temporal CLI."
            }
            rows={list.rows.map((a) => {
              const id = a.activityId ?? "";
              return {
                key: `${id}/${a.runId ?? ""}`,
                cells: [
                  <StatusBadge status={a.status} />,
                  <Link href={activityUrl(ns, id)}>{id}</Link>,
                  a.activityType?.name ?? "",
                  a.taskQueue ?? "",
                  when(a.scheduleTime),
                  when(a.closeTime),
                ],
              };
            })}
          />
          <nav className="pager" aria-label="Pages">
            <button type="button" className="small" disabled={pages.length < 2} onClick={() => setPages(pages.slice(0, -1))}>
              Previous page
            </button>
            <span className="muted">Page {pages.length}</span>
            <label htmlFor="page-size">Per page</label>
            <select id="page-size" value={pageSize} onChange={(e) => setPageSize(Number(e.target.value))}>
              {PAGE_SIZES.map((n) => (
                <option key={n} value={n}>
                  {n}
                </option>
              ))}
            </select>
            <button type="button" className="small" disabled={!list.next} onClick={() => setPages([...pages, list.next])}>
              Next page
            </button>
          </nav>
        </>
      ) : null}
    </>
  );
}

export function ActivitiesPage({ namespace }: { namespace: string }) {
  const query = useSearch().get("query") ?? "";
  const back = <Link href={`/namespaces/${encodeURIComponent(namespace)}`}>← {namespace}</Link>;
  return (
    <Page title="Standalone activities" back={back}>
      <p className="muted">
        Namespace <code>{namespace}</code> · <Link href={`/namespaces/${encodeURIComponent(namespace)}/workflows`}>Workflows</Link>
      </p>
      <WithCell namespace={namespace}>{(cell) => <ActivityList cell={cell} query={query} />}</WithCell>
    </Page>
  );
}

// -- one activity -------------------------------------------------------------

type Kind = "cancel" | "terminate";

function ActivityActions({
  cell,
  activityId,
  runId,
  onDone,
}: {
  cell: Cell;
  activityId: string;
  runId: string;
  onDone: () => Promise<void>;
}) {
  const [open, setOpen] = useState<Kind | null>(null);
  const [done, setDone] = useState("");
  if (!cell.canWrite) {
    return (
      <p className="muted" data-testid="read-only">
        Your permission on this namespace is {cell.permission}: you can look but not cancel or terminate.
      </p>
    );
  }
  const path = { namespace: cell.namespace, activityId };
  const dialogs: Record<Kind, { title: string; description: string; fields: DialogField[]; run: (v: Record<string, unknown>) => Promise<string> }> = {
    cancel: {
      title: "Request cancellation",
      description: `Asks ${activityId} to cancel; the worker learns of it on its next heartbeat.`,
      fields: [{ name: "reason", label: "Reason" }],
      run: async (v) => {
        await cell.request("POST", "/api/v1/namespaces/{namespace}/activities/{activityId}/cancel", {
          path,
          body: { activityId, runId, reason: str(v.reason), requestId: crypto.randomUUID() },
        });
        return "Cancellation requested.";
      },
    },
    terminate: {
      title: "Terminate",
      description: `Ends ${activityId} at once; a running attempt is not told.`,
      fields: [{ name: "reason", label: "Reason", required: true }],
      run: async (v) => {
        await cell.request("POST", "/api/v1/namespaces/{namespace}/activities/{activityId}/terminate", {
          path,
          body: { activityId, runId, reason: str(v.reason), requestId: crypto.randomUUID() },
        });
        return "Activity terminated.";
      },
    },
  };
  const dialog = open ? dialogs[open] : null;
  return (
    <div className="workflow-actions" data-testid="activity-actions">
      <div className="actions">
        {(["cancel", "terminate"] as const).map((k) => (
          <button
            key={k}
            type="button"
            className="small danger"
            data-testid={`action-${k}`}
            onClick={() => {
              setDone("");
              setOpen(k);
            }}
          >
            {dialogs[k].title}
          </button>
        ))}
      </div>
      {done ? <Notice testid="action-done">{done}</Notice> : null}
      {dialog && open ? (
        <ActionDialog
          key={open}
          title={dialog.title}
          description={dialog.description}
          fields={dialog.fields}
          confirmLabel={dialog.title}
          danger
          onClose={() => setOpen(null)}
          onConfirm={async (v) => {
            setDone(await dialog.run(v));
            await onDone();
          }}
        />
      ) : null}
    </div>
  );
}

function Timeouts({ info }: { info: NonNullable<ActivityDescribe["info"]> }) {
  const rows: [string, string | undefined][] = [
    ["Schedule to close", info.scheduleToCloseTimeout],
    ["Schedule to start", info.scheduleToStartTimeout],
    ["Start to close", info.startToCloseTimeout],
    ["Heartbeat", info.heartbeatTimeout],
  ];
  return (
    <dl className="details" data-testid="activity-timeouts">
      {rows.map(([label, v]) => (
        <Fragment key={label}>
          <dt>{label}</dt>
          <dd>{v && v !== "0s" ? v : "none"}</dd>
        </Fragment>
      ))}
    </dl>
  );
}

function ActivityView({ cell, activityId }: { cell: Cell; activityId: string }) {
  const ns = cell.namespace;
  const [state, setState] = useState<{ status: "loading" } | { status: "ok"; data: ActivityDescribe } | { status: "error"; error: ApiProblem }>({
    status: "loading",
  });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    cell
      .request("GET", "/api/v1/namespaces/{namespace}/activities/{activityId}", {
        path: { namespace: ns, activityId },
        query: { includeInput: true, includeOutcome: true, includeHeartbeatDetails: true, includeLastFailure: true },
      })
      .then(
        (data) => live && setState({ status: "ok", data }),
        (err: unknown) => live && setState({ status: "error", error: asProblem(err) }),
      );
    return () => {
      live = false;
    };
  }, [cell, ns, activityId, tick]);
  const running = state.status === "ok" && state.data.info?.status === "ACTIVITY_EXECUTION_STATUS_RUNNING";
  // While it runs, read it again every 2 seconds (status, attempt, heartbeats).
  useEffect(() => {
    if (!running) return;
    const timer = setInterval(() => setTick((t) => t + 1), 2000);
    return () => clearInterval(timer);
  }, [running]);

  if (state.status === "loading") return <Loading what="the activity" />;
  if (state.status === "error") return <ErrorBox error={state.error} />;
  const data = state.data;
  const info = data.info ?? {};
  const input = decodePayloads(data.input);
  const result = data.outcome?.result !== undefined ? decodePayloads(data.outcome.result) : undefined;
  const failure = data.outcome?.failure ?? info.lastFailure;
  const heartbeat = info.heartbeatDetails !== undefined ? decodePayloads(info.heartbeatDetails) : undefined;
  return (
    <>
      <dl className="details" data-testid="activity-summary">
        <dt>Status</dt>
        <dd>
          <StatusBadge status={info.status} />
          {info.runState && info.status === "ACTIVITY_EXECUTION_STATUS_RUNNING" ? (
            <span className="muted"> ({info.runState.replace(/^PENDING_ACTIVITY_STATE_/, "").toLowerCase().replace(/_/g, " ")})</span>
          ) : null}
        </dd>
        <dt>Activity type</dt>
        <dd data-testid="activity-type">{info.activityType?.name}</dd>
        <dt>Run ID</dt>
        <dd>
          <code>{data.runId ?? info.runId}</code>
        </dd>
        <dt>Task queue</dt>
        <dd>{info.taskQueue ? <Link href={taskQueueUrl(ns, info.taskQueue)}>{info.taskQueue}</Link> : null}</dd>
        <dt>Attempt</dt>
        <dd data-testid="activity-attempt">{info.attempt ?? ""}</dd>
        <dt>Scheduled</dt>
        <dd>{when(info.scheduleTime)}</dd>
        <dt>Last started</dt>
        <dd>{when(info.lastStartedTime)}</dd>
        <dt>Closed</dt>
        <dd>{info.closeTime ? when(info.closeTime) : "still running"}</dd>
        {info.lastHeartbeatTime ? (
          <>
            <dt>Last heartbeat</dt>
            <dd>{when(info.lastHeartbeatTime)}</dd>
          </>
        ) : null}
        {info.lastWorkerIdentity ? (
          <>
            <dt>Last worker</dt>
            <dd>{info.lastWorkerIdentity}</dd>
          </>
        ) : null}
        {info.canceledReason ? (
          <>
            <dt>Cancel reason</dt>
            <dd>{info.canceledReason}</dd>
          </>
        ) : null}
      </dl>
      {running ? (
        <ActivityActions cell={cell} activityId={activityId} runId={data.runId ?? info.runId ?? ""} onDone={() => {
            setTick((t) => t + 1);
            return Promise.resolve();
          }}
        />
      ) : null}
      <Section title="Input">
        <Json value={input} testid="activity-input" />
      </Section>
      {result !== undefined ? (
        <Section title="Result">
          <Json value={result} testid="activity-result" />
        </Section>
      ) : null}
      {failure ? (
        <Section title={data.outcome?.failure ? "Failure" : "Last failure"}>
          <Json value={decodeMessage(failure)} testid="activity-failure" />
        </Section>
      ) : null}
      {heartbeat !== undefined ? (
        <Section title="Heartbeat details">
          <Json value={heartbeat} testid="activity-heartbeat" />
        </Section>
      ) : null}
      <Section title="Timeouts and retries">
        <Timeouts info={info} />
        {info.retryPolicy ? <Json value={info.retryPolicy} testid="activity-retry-policy" /> : null}
      </Section>
    </>
  );
}

export function ActivityPage({ namespace, activityId }: { namespace: string; activityId: string }) {
  const back = <Link href={listUrl(namespace, "")}>← Standalone activities</Link>;
  return (
    <Page title={activityId} back={back}>
      <WithCell namespace={namespace}>{(cell) => <ActivityView cell={cell} activityId={activityId} />}</WithCell>
    </Page>
  );
}
