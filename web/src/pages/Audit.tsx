import { useState } from "react";
import { controlPlane, type AuditEntry } from "../api/control-plane";
import { ActionButton, DataTable, ErrorBox, Page, Show, useLoad, when } from "../components/ui";

const PAGE_SIZE = 50;

function load(before?: number) {
  return controlPlane.request("GET", "/api/v1/audit-log", { query: { limit: PAGE_SIZE, before } });
}

export function AuditPage() {
  const [first] = useLoad(() => load(), "audit");
  // Older pages appended after the first; `next` is where the log goes on.
  const [older, setOlder] = useState<AuditEntry[]>([]);
  const [next, setNext] = useState<number | null | undefined>(undefined);
  const [problem, setProblem] = useState<unknown>(null);
  return (
    <Page title="Audit log">
      <Show state={first} what="the audit log">
        {(page) => {
          const entries = [...page.entries, ...older];
          const cursor = next === undefined ? page.next_before : next;
          return (
            <>
              <div data-testid="audit-log">
                <DataTable
                  caption="Audit log"
                  columns={["When", "Actor", "Action", "Target", "Outcome", "From", "Detail"]}
                  rows={entries.map((e) => ({
                    key: String(e.id),
                    cells: [
                      when(e.at),
                      e.actor,
                      e.action,
                      e.target,
                      <span className={e.outcome === "success" ? undefined : "error"}>{e.outcome}</span>,
                      e.source_ip,
                      e.detail,
                    ],
                  }))}
                  empty="Nothing recorded yet."
                />
              </div>
              {cursor != null ? (
                <ActionButton
                  label="Older entries"
                  action={async () => {
                    setProblem(null);
                    const more = await load(cursor);
                    setOlder((rows) => [...rows, ...more.entries]);
                    setNext(more.next_before ?? null);
                  }}
                  onError={setProblem}
                />
              ) : (
                <p className="muted">End of the log.</p>
              )}
              {problem ? <ErrorBox error={problem} /> : null}
            </>
          );
        }}
      </Show>
    </Page>
  );
}
