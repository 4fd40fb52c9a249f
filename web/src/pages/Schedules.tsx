// A namespace's schedules: the list (with each one's next runs), and one
// schedule's spec, action, recent and upcoming runs, with pause/unpause and
// trigger for a caller who may write.
import { useState } from "react";
import { str, type Cell, type CellSchemas, type ScheduleEntry } from "../api/cell";
import { ActionDialog, Json, StatusBadge, WithCell } from "../components/cell-ui";
import { Link } from "../components/Link";
import { DataTable, Notice, Page, Section, Show, useLoad, when } from "../components/ui";
import { workflowUrl } from "./Workflows";

function scheduleUrl(namespace: string, id: string): string {
  return `/namespaces/${encodeURIComponent(namespace)}/schedules/${encodeURIComponent(id)}`;
}

/** A schedule's spec in a line: its intervals, cron strings and calendars. */
function specLine(spec: CellSchemas["ScheduleSpec"] | undefined): string {
  if (!spec) return "";
  const parts: string[] = [];
  for (const i of spec.interval ?? []) parts.push(`every ${i.interval ?? "?"}${i.phase && i.phase !== "0s" ? ` (offset ${i.phase})` : ""}`);
  for (const c of spec.cronString ?? []) parts.push(`cron ${c}`);
  if (spec.calendar?.length || spec.structuredCalendar?.length) {
    parts.push(`${(spec.calendar?.length ?? 0) + (spec.structuredCalendar?.length ?? 0)} calendar rule(s)`);
  }
  return parts.join(", ");
}

function ScheduleList({ cell }: { cell: Cell }) {
  const ns = cell.namespace;
  const [state] = useLoad(async () => {
    const all: ScheduleEntry[] = [];
    let token = "";
    for (let page = 0; page < 20; page++) {
      const res = await cell.request("GET", "/api/v1/namespaces/{namespace}/schedules", {
        path: { namespace: ns },
        query: { maximumPageSize: 100, nextPageToken: token || undefined },
      });
      all.push(...(res.schedules ?? []));
      token = res.nextPageToken ?? "";
      if (!token) break;
    }
    return all;
  }, ns);
  return (
    <Show state={state} what="schedules">
      {(list) => (
        <DataTable
          testid="schedules"
          caption="Schedules"
          columns={["Schedule ID", "Workflow type", "Spec", "State", "Next run"]}
          empty="No schedules in this namespace."
          rows={list.map((s) => ({
            key: s.scheduleId ?? "",
            cells: [
              <Link href={scheduleUrl(ns, s.scheduleId ?? "")}>{s.scheduleId}</Link>,
              s.info?.workflowType?.name ?? "",
              specLine(s.info?.spec),
              s.info?.paused ? "paused" : "active",
              when(s.info?.futureActionTimes?.[0]),
            ],
          }))}
        />
      )}
    </Show>
  );
}

export function SchedulesPage({ namespace }: { namespace: string }) {
  const back = <Link href={`/namespaces/${encodeURIComponent(namespace)}/workflows`}>← Workflows of {namespace}</Link>;
  return (
    <Page title="Schedules" back={back}>
      <WithCell namespace={namespace}>{(cell) => <ScheduleList cell={cell} />}</WithCell>
    </Page>
  );
}

type Patch = "pause" | "unpause" | "trigger";

function ScheduleDetail({ cell, id }: { cell: Cell; id: string }) {
  const ns = cell.namespace;
  const [state, reload] = useLoad(
    () => cell.request("GET", "/api/v1/namespaces/{namespace}/schedules/{scheduleId}", { path: { namespace: ns, scheduleId: id } }),
    `${ns}/${id}`,
  );
  const [open, setOpen] = useState<Patch | null>(null);
  const [done, setDone] = useState("");
  async function patch(kind: Patch, note: string): Promise<void> {
    const body =
      kind === "trigger"
        ? { patch: { triggerImmediately: {} } }
        : kind === "pause"
          ? { patch: { pause: note || "paused from the console" } }
          : { patch: { unpause: note || "unpaused from the console" } };
    await cell.request("POST", "/api/v1/namespaces/{namespace}/schedules/{scheduleId}/patch", {
      path: { namespace: ns, scheduleId: id },
      body: { ...body, requestId: crypto.randomUUID() },
    });
    setDone(kind === "trigger" ? "Triggered: a run starts now." : kind === "pause" ? "Paused." : "Unpaused.");
    await reload();
  }
  return (
    <Show state={state} what="the schedule">
      {(d) => {
        const paused = d.schedule?.state?.paused ?? false;
        const action = d.schedule?.action?.startWorkflow;
        return (
          <>
            <dl className="details" data-testid="schedule-summary">
              <dt>State</dt>
              <dd data-testid="schedule-state">{paused ? "paused" : "active"}</dd>
              {d.schedule?.state?.notes ? (
                <>
                  <dt>Notes</dt>
                  <dd>{d.schedule.state.notes}</dd>
                </>
              ) : null}
              <dt>Spec</dt>
              <dd>{specLine(d.schedule?.spec)}</dd>
              <dt>Starts</dt>
              <dd>
                {action?.workflowType?.name} on task queue {action?.taskQueue?.name} (workflow id {action?.workflowId}-…)
              </dd>
              <dt>Runs so far</dt>
              <dd>{d.info?.actionCount ?? "0"}</dd>
              <dt>Created</dt>
              <dd>{when(d.info?.createTime)}</dd>
            </dl>
            {cell.canWrite ? (
              <div className="actions">
                <button type="button" className="small" data-testid="schedule-pause" onClick={() => setOpen(paused ? "unpause" : "pause")}>
                  {paused ? "Unpause" : "Pause"}
                </button>
                <button type="button" className="small" data-testid="schedule-trigger" onClick={() => setOpen("trigger")}>
                  Trigger now
                </button>
              </div>
            ) : null}
            {done ? <Notice testid="schedule-done">{done}</Notice> : null}
            {open ? (
              <ActionDialog
                title={open === "trigger" ? "Trigger the schedule now" : open === "pause" ? "Pause the schedule" : "Unpause the schedule"}
                description={open === "trigger" ? "Starts one run now, under the schedule's overlap policy." : "Notes say why, for whoever looks next."}
                fields={open === "trigger" ? [] : [{ name: "note", label: "Note" }]}
                confirmLabel={open === "trigger" ? "Trigger" : open === "pause" ? "Pause" : "Unpause"}
                onClose={() => setOpen(null)}
                onConfirm={(v) => patch(open, str(v.note))}
              />
            ) : null}
            <Section title="Recent runs" testid="recent-runs">
              <DataTable
                columns={["Scheduled for", "Started", "Workflow", "Status"]}
                empty="No runs yet."
                rows={[...(d.info?.recentActions ?? [])].reverse().map((r, i) => ({
                  key: `${r.startWorkflowResult?.runId ?? i}`,
                  cells: [
                    when(r.scheduleTime),
                    when(r.actualTime),
                    r.startWorkflowResult?.workflowId ? (
                      <Link href={workflowUrl(ns, r.startWorkflowResult.workflowId, r.startWorkflowResult.runId)}>
                        {r.startWorkflowResult.workflowId}
                      </Link>
                    ) : (
                      ""
                    ),
                    r.startWorkflowStatus ? <StatusBadge status={r.startWorkflowStatus} /> : "",
                  ],
                }))}
              />
            </Section>
            <Section title="Upcoming runs" testid="upcoming-runs">
              <DataTable
                columns={["Scheduled for"]}
                empty={paused ? "None while paused." : "None."}
                rows={(d.info?.futureActionTimes ?? []).map((t) => ({ key: t, cells: [when(t)] }))}
              />
            </Section>
            <details>
              <summary>The schedule as the API describes it</summary>
              <Json value={d.schedule} />
            </details>
          </>
        );
      }}
    </Show>
  );
}

export function SchedulePage({ namespace, id }: { namespace: string; id: string }) {
  const back = <Link href={`/namespaces/${encodeURIComponent(namespace)}/schedules`}>← Schedules of {namespace}</Link>;
  return (
    <Page title={id} back={back}>
      <WithCell namespace={namespace}>{(cell) => <ScheduleDetail cell={cell} id={id} />}</WithCell>
    </Page>
  );
}
