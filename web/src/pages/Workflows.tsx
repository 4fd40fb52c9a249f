// A namespace's workflows, as Temporal's Web UI lists them: a query in the
// visibility list-filter language, status chips that edit it, counts by
// status, pages by nextPageToken, and saved queries kept in this browser.
import { useEffect, useState, type FormEvent } from "react";
import { type Cell, type WorkflowInfo } from "../api/cell";
import { asProblem, type ApiProblem } from "../api/http";
import { StatusBadge, WithCell } from "../components/cell-ui";
import { Link } from "../components/Link";
import { DataTable, Loading, Page, when } from "../components/ui";
import { navigate, useSearch } from "../router";
import { ArchivedList, archivedUrl } from "./ArchivedWorkflows";

export const STATUSES = ["Running", "Completed", "Failed", "Canceled", "Terminated", "ContinuedAsNew", "TimedOut"] as const;

const PAGE_SIZES = [10, 20, 50, 100];
const STATUS_CLAUSE = /ExecutionStatus\s*=\s*(["'])([A-Za-z]+)\1/;

/** The status a query filters on with `ExecutionStatus = "X"`, if any. */
export function statusOf(query: string): string {
  return STATUS_CLAUSE.exec(query)?.[2] ?? "";
}

/** The query without its status clause (and the AND that joined it). */
export function withoutStatus(query: string): string {
  return query
    .replace(new RegExp(`\\s*\\bAND\\s+${STATUS_CLAUSE.source}`, "i"), "")
    .replace(new RegExp(`${STATUS_CLAUSE.source}\\s*\\bAND\\s+`, "i"), "")
    .replace(STATUS_CLAUSE, "")
    .trim();
}

/** `query` filtered on `status` instead (none: all statuses). */
export function withStatus(query: string, status: string): string {
  const rest = withoutStatus(query);
  if (!status) return rest;
  const clause = `ExecutionStatus = "${status}"`;
  return rest ? `${clause} AND ${rest}` : clause;
}

interface Saved {
  name: string;
  query: string;
}

const EXAMPLES: Saved[] = [
  { name: "Running", query: 'ExecutionStatus = "Running"' },
  { name: "Failed or timed out", query: 'ExecutionStatus = "Failed" OR ExecutionStatus = "TimedOut"' },
  { name: "Closed in the last day", query: "CloseTime > '" + "{{yesterday}}" + "'" },
];

function savedKey(namespace: string): string {
  return `orrery.savedQueries.${namespace}`;
}

function loadSaved(namespace: string): Saved[] {
  try {
    const raw = localStorage.getItem(savedKey(namespace));
    if (raw === null) return EXAMPLES;
    const list = JSON.parse(raw) as unknown;
    return Array.isArray(list)
      ? list.filter((s): s is Saved => typeof (s as Saved).name === "string" && typeof (s as Saved).query === "string")
      : EXAMPLES;
  } catch {
    return EXAMPLES;
  }
}

/** `{{yesterday}}` in a saved query is the instant a day ago. */
function expand(query: string): string {
  return query.replace("{{yesterday}}", new Date(Date.now() - 86_400_000).toISOString());
}

function listUrl(namespace: string, query: string): string {
  const base = `/namespaces/${encodeURIComponent(namespace)}/workflows`;
  return query ? `${base}?query=${encodeURIComponent(query)}` : base;
}

export function workflowUrl(namespace: string, workflowId: string, runId?: string): string {
  const base = `/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  return runId ? `${base}?run=${encodeURIComponent(runId)}` : base;
}

type ListState =
  | { status: "loading" }
  | { status: "ok"; rows: WorkflowInfo[]; next: string }
  | { status: "error"; error: ApiProblem };

function WorkflowList({ cell, query }: { cell: Cell; query: string }) {
  const ns = cell.namespace;
  const [draft, setDraft] = useState(query);
  const [list, setList] = useState<ListState>({ status: "loading" });
  // The tokens of the pages before this one (the first is "").
  const [pages, setPages] = useState<string[]>([""]);
  const [counts, setCounts] = useState<{ total: number; by: Record<string, number> } | null>(null);
  const [saved, setSaved] = useState<Saved[]>(() => loadSaved(ns));
  const [saveName, setSaveName] = useState("");
  const [pageSize, setPageSize] = useState(20);
  const token = pages[pages.length - 1] ?? "";

  useEffect(() => setDraft(query), [query]);
  useEffect(() => setPages([""]), [query, pageSize]);

  useEffect(() => {
    let live = true;
    setList({ status: "loading" });
    cell
      .request("GET", "/api/v1/namespaces/{namespace}/workflows", {
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

  useEffect(() => {
    let live = true;
    const base = withoutStatus(query);
    cell
      .request("GET", "/api/v1/namespaces/{namespace}/workflow-count", {
        path: { namespace: ns },
        query: { query: `${base ? `${base} ` : ""}GROUP BY ExecutionStatus` },
      })
      .then(
        (res) => {
          const by: Record<string, number> = {};
          for (const g of res.groups ?? []) {
            const value = (g.groupValues ?? [])[0];
            if (typeof value === "string") by[value] = Number(g.count ?? 0);
          }
          if (live) setCounts({ total: Number(res.count ?? 0), by });
        },
        () => live && setCounts(null),
      );
    return () => {
      live = false;
    };
  }, [cell, ns, query]);

  function search(event: FormEvent<HTMLFormElement>): void {
    event.preventDefault();
    navigate(listUrl(ns, draft.trim()));
  }

  function store(next: Saved[]): void {
    setSaved(next);
    localStorage.setItem(savedKey(ns), JSON.stringify(next));
  }

  const active = statusOf(query);
  const error = list.status === "error" ? list.error : null;
  return (
    <>
      <form className="query-box" onSubmit={search} role="search" aria-label="Workflows">
        <label htmlFor="workflow-query">List filter</label>
        <div className="query-row">
          <input
            id="workflow-query"
            name="query"
            value={draft}
            onChange={(e) => setDraft(e.target.value)}
            placeholder='WorkflowType = "Order" AND ExecutionStatus = "Running"'
            spellCheck={false}
            autoComplete="off"
            aria-invalid={error ? true : undefined}
            aria-describedby={error ? "query-error" : "query-hint"}
          />
          <button type="submit">Search</button>
        </div>
        <span id="query-hint" className="muted hint">
          Temporal's list filter: WorkflowId, WorkflowType, ExecutionStatus, StartTime, CloseTime, TaskQueue and search
          attributes, with =, !=, &gt;, &lt;, STARTS_WITH, IN, AND, OR.
        </span>
        {error ? (
          <p className="error" role="alert" id="query-error" data-testid="query-error">
            {error.detail}
          </p>
        ) : null}
      </form>

      <div className="chips" role="group" aria-label="Status">
        <button type="button" className="chip" aria-pressed={!active} onClick={() => navigate(listUrl(ns, withStatus(query, "")))}>
          All{counts ? <span className="count">{counts.total}</span> : null}
        </button>
        {STATUSES.map((s) => (
          <button
            key={s}
            type="button"
            className={`chip chip-${s.toLowerCase()}`}
            aria-pressed={active === s}
            data-testid={`chip-${s}`}
            onClick={() => navigate(listUrl(ns, withStatus(query, active === s ? "" : s)))}
          >
            {s}
            {counts ? <span className="count">{counts.by[s] ?? 0}</span> : null}
          </button>
        ))}
      </div>

      <details className="saved-queries">
        <summary>Saved queries</summary>
        <ul>
          {saved.map((s, i) => (
            <li key={`${s.name}-${i}`}>
              <Link href={listUrl(ns, expand(s.query))}>{s.name}</Link> <code className="muted">{s.query}</code>{" "}
              <button type="button" className="small" aria-label={`Forget ${s.name}`} onClick={() => store(saved.filter((_, j) => j !== i))}>
                Forget
              </button>
            </li>
          ))}
        </ul>
        <form
          className="inline"
          onSubmit={(e) => {
            e.preventDefault();
            if (!saveName.trim() || !query) return;
            store([...saved, { name: saveName.trim(), query }]);
            setSaveName("");
          }}
        >
          <label htmlFor="save-name">Save the current query as</label>
          <input id="save-name" value={saveName} onChange={(e) => setSaveName(e.target.value)} autoComplete="off" />
          <button type="submit" className="small" disabled={!query || !saveName.trim()}>
            Save
          </button>
        </form>
      </details>

      {list.status === "loading" ? <Loading what="workflows" /> : null}
      {list.status === "ok" ? (
        <>
          <DataTable
            testid="workflows"
            caption="Workflows"
            columns={["Status", "Workflow ID", "Type", "Started", "Closed", "Task queue"]}
            empty={query ? "No workflow matches this query." : "No workflows yet: start one with an SDK or the temporal CLI."}
            rows={list.rows.map((w) => {
              const id = w.execution?.workflowId ?? "";
              const run = w.execution?.runId ?? "";
              return {
                key: `${id}/${run}`,
                cells: [
                  <StatusBadge status={w.status} />,
                  <Link href={workflowUrl(ns, id, run)}>{id}</Link>,
                  w.type?.name ?? "",
                  when(w.startTime),
                  when(w.closeTime),
                  w.taskQueue ?? "",
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

export function WorkflowsPage({ namespace }: { namespace: string }) {
  const search = useSearch();
  const query = search.get("query") ?? "";
  const archived = search.get("view") === "archived";
  const base = `/namespaces/${encodeURIComponent(namespace)}`;
  const back = <Link href={base}>← {namespace}</Link>;
  return (
    <Page title="Workflows" back={back}>
      <p className="muted">
        Namespace <code>{namespace}</code> · <Link href={`${base}/schedules`}>Schedules</Link> ·{" "}
        <Link href={`${base}/activities`}>Standalone activities</Link>
      </p>
      <nav className="chips" aria-label="Which runs" data-testid="workflow-tabs">
        <Link href={listUrl(namespace, "")} className="chip" aria-current={archived ? undefined : "page"}>
          Current
        </Link>
        <Link href={archivedUrl(namespace, "")} className="chip" aria-current={archived ? "page" : undefined} data-testid="tab-archived">
          Archived
        </Link>
      </nav>
      <WithCell namespace={namespace}>
        {(cell) => (archived ? <ArchivedList cell={cell} query={query} /> : <WorkflowList cell={cell} query={query} />)}
      </WithCell>
    </Page>
  );
}
