// A namespace's archived runs (ListArchivedWorkflowExecutions), the
// Workflows page's "Archived" tab: runs past retention that visibility
// archival kept. A namespace without visibility archival gets the API's
// refusal, shown as such (not as an empty table).
import { useEffect, useState, type FormEvent } from "react";
import { type Cell, type WorkflowInfo } from "../api/cell";
import { asProblem, type ApiProblem } from "../api/http";
import { StatusBadge } from "../components/cell-ui";
import { DataTable, Loading, when } from "../components/ui";
import { navigate } from "../router";

const PAGE_SIZE = 20;

export function archivedUrl(namespace: string, query: string): string {
  const base = `/namespaces/${encodeURIComponent(namespace)}/workflows?view=archived`;
  return query ? `${base}&query=${encodeURIComponent(query)}` : base;
}

type ListState =
  | { status: "loading" }
  | { status: "ok"; rows: WorkflowInfo[]; next: string }
  | { status: "error"; error: ApiProblem };

export function ArchivedList({ cell, query }: { cell: Cell; query: string }) {
  const ns = cell.namespace;
  const [draft, setDraft] = useState(query);
  const [list, setList] = useState<ListState>({ status: "loading" });
  const [pages, setPages] = useState<string[]>([""]);
  const token = pages[pages.length - 1] ?? "";

  useEffect(() => setDraft(query), [query]);
  useEffect(() => setPages([""]), [query]);

  useEffect(() => {
    let live = true;
    setList({ status: "loading" });
    cell
      .request("GET", "/api/v1/namespaces/{namespace}/archived-workflows", {
        path: { namespace: ns },
        query: { query, pageSize: PAGE_SIZE, nextPageToken: token || undefined },
      })
      .then(
        (res) => live && setList({ status: "ok", rows: res.executions ?? [], next: res.nextPageToken ?? "" }),
        (err: unknown) => live && setList({ status: "error", error: asProblem(err) }),
      );
    return () => {
      live = false;
    };
  }, [cell, ns, query, token]);

  function search(event: FormEvent<HTMLFormElement>): void {
    event.preventDefault();
    navigate(archivedUrl(ns, draft.trim()));
  }

  const error = list.status === "error" ? list.error : null;
  return (
    <>
      <form className="query-box" onSubmit={search} role="search" aria-label="Archived workflows">
        <label htmlFor="archived-query">Archival query</label>
        <div className="query-row">
          <input
            id="archived-query"
            name="query"
            value={draft}
            onChange={(e) => setDraft(e.target.value)}
            placeholder={'WorkflowType = "Order" AND CloseTime > "2026-01-01T00:00:00Z"'}
            spellCheck={false}
            autoComplete="off"
            aria-invalid={error ? true : undefined}
            aria-describedby={error ? "archived-error" : "archived-hint"}
          />
          <button type="submit">Search</button>
        </div>
        <span id="archived-hint" className="muted hint">
          Runs that visibility archival kept after the namespace's retention, listed from the archive.
        </span>
      </form>
      {error ? (
        <div className="error" role="alert" id="archived-error" data-testid="archived-error">
          <p>The archive could not be listed: {error.detail}</p>
          <p className="muted">
            Archived runs are listed only when the namespace has visibility archival on (the namespace's Archival
            section).
          </p>
        </div>
      ) : null}
      {list.status === "loading" ? <Loading what="archived workflows" /> : null}
      {list.status === "ok" ? (
        <>
          <DataTable
            testid="archived-workflows"
            caption="Archived workflows"
            columns={["Status", "Workflow ID", "Run ID", "Type", "Started", "Closed"]}
            empty={query ? "No archived run matches this query." : "No archived runs."}
            rows={list.rows.map((w) => ({
              key: `${w.execution?.workflowId ?? ""}/${w.execution?.runId ?? ""}`,
              cells: [
                <StatusBadge status={w.status} />,
                w.execution?.workflowId ?? "",
                <code>{w.execution?.runId ?? ""}</code>,
                w.type?.name ?? "",
                when(w.startTime),
                when(w.closeTime),
              ],
            }))}
          />
          <nav className="pager" aria-label="Pages">
            <button type="button" className="small" disabled={pages.length < 2} onClick={() => setPages(pages.slice(0, -1))}>
              Previous page
            </button>
            <span className="muted">Page {pages.length}</span>
            <button type="button" className="small" disabled={!list.next} onClick={() => setPages([...pages, list.next])}>
              Next page
            </button>
          </nav>
        </>
      ) : null}
    </>
  );
}

