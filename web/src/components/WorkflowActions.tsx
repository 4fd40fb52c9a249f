// What a caller with write permission on the namespace may do to a run:
// signal, update, cancel, terminate, reset. Each asks in a dialog first.
// A reader sees none of these buttons (the cell would refuse them anyway).
import { useState } from "react";
import { decodePayloads, eventName, str, toPayloads, type Cell } from "../api/cell";
import type { Loaded } from "../pages/Workflow";
import { ActionDialog, Json, type DialogField } from "./cell-ui";
import { Notice } from "./ui";

type Kind = "signal" | "update" | "cancel" | "terminate" | "reset";

function args(v: unknown): unknown[] {
  return v === undefined ? [] : [v];
}

function requestId(): string {
  return crypto.randomUUID();
}

export function WorkflowActions({
  cell,
  workflowId,
  runId,
  data,
  running,
  onDone,
}: {
  cell: Cell;
  workflowId: string;
  runId: string;
  data: Loaded;
  running: boolean;
  onDone: () => Promise<void>;
}) {
  const [open, setOpen] = useState<Kind | null>(null);
  const [done, setDone] = useState<{ text: string; value?: unknown } | null>(null);
  if (!cell.canWrite) {
    return (
      <p className="muted" data-testid="read-only">
        Your permission on this namespace is {cell.permission}: you can look but not signal, cancel, terminate, reset or update.
      </p>
    );
  }
  const ns = cell.namespace;
  const execution = { workflowId, runId };
  const path = { namespace: ns, "workflow_execution.workflow_id": workflowId };
  const resetPoints = data.events
    .filter((e) => eventName(e.eventType) === "WorkflowTaskCompleted")
    .map((e) => e.eventId ?? "")
    .reverse();

  const dialogs: Record<Kind, { title: string; description: string; fields: DialogField[]; confirm: string; danger?: boolean; run: (v: Record<string, unknown>) => Promise<string | { text: string; value: unknown }> }> = {
    signal: {
      title: "Send a signal",
      description: `Delivers a signal to ${workflowId}.`,
      fields: [
        { name: "name", label: "Signal name", required: true },
        { name: "input", label: "Input (JSON, optional)", json: true, hint: 'One argument, e.g. "alice" or {"ok": true}' },
      ],
      confirm: "Send signal",
      run: async (v) => {
        const name = str(v.name);
        await cell.request("POST", "/api/v1/namespaces/{namespace}/workflows/{workflow_execution.workflow_id}/signal/{signalName}", {
          path: { ...path, signalName: name },
          body: { workflowExecution: execution, signalName: name, input: toPayloads(args(v.input)), requestId: requestId() },
        });
        return `Signal ${name} sent.`;
      },
    },
    update: {
      title: "Send an update",
      description: `Runs an update handler of ${workflowId} and waits for its result.`,
      fields: [
        { name: "name", label: "Update name", required: true },
        { name: "input", label: "Input (JSON, optional)", json: true },
      ],
      confirm: "Send update",
      run: async (v) => {
        const name = str(v.name);
        const res = await cell.request(
          "POST",
          "/api/v1/namespaces/{namespace}/workflows/{workflow_execution.workflow_id}/update/{request.input.name}",
          {
            path: { ...path, "request.input.name": name },
            body: {
              workflowExecution: execution,
              request: { meta: { updateId: requestId() }, input: { name, args: toPayloads(args(v.input)) } },
              waitPolicy: { lifecycleStage: "UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED" },
            },
          },
        );
        const outcome = res.outcome;
        if (outcome?.failure) throw new Error(`the update failed: ${outcome.failure.message ?? ""}`);
        return { text: `Update ${name} completed.`, value: decodePayloads(outcome?.success) };
      },
    },
    cancel: {
      title: "Request cancellation",
      description: `Asks ${workflowId} to cancel; its code decides how to wind down.`,
      fields: [{ name: "reason", label: "Reason" }],
      confirm: "Request cancellation",
      danger: true,
      run: async (v) => {
        await cell.request("POST", "/api/v1/namespaces/{namespace}/workflows/{workflow_execution.workflow_id}/cancel", {
          path,
          body: { workflowExecution: execution, reason: str(v.reason), requestId: requestId() },
        });
        return "Cancellation requested.";
      },
    },
    terminate: {
      title: "Terminate",
      description: `Ends ${workflowId} at once, without running any more of its code.`,
      fields: [{ name: "reason", label: "Reason", required: true }],
      confirm: "Terminate",
      danger: true,
      run: async (v) => {
        await cell.request("POST", "/api/v1/namespaces/{namespace}/workflows/{workflow_execution.workflow_id}/terminate", {
          path,
          body: { workflowExecution: execution, reason: str(v.reason) },
        });
        return "Workflow terminated.";
      },
    },
    reset: {
      title: "Reset",
      description: `Starts a new run of ${workflowId} from a completed workflow task (this run is terminated); signals after that point are re-applied.`,
      fields: [
        { name: "event", label: "Reset to the workflow task completed at event", options: resetPoints },
        { name: "reason", label: "Reason", required: true },
      ],
      confirm: "Reset",
      danger: true,
      run: async (v) => {
        const res = await cell.request("POST", "/api/v1/namespaces/{namespace}/workflows/{workflow_execution.workflow_id}/reset", {
          path,
          body: {
            workflowExecution: execution,
            reason: str(v.reason),
            workflowTaskFinishEventId: str(v.event),
            requestId: requestId(),
          },
        });
        return `Reset: the new run is ${res.runId ?? ""}.`;
      },
    },
  };

  const kinds: Kind[] = running ? ["signal", "update", "cancel", "terminate", "reset"] : ["reset"];
  const dialog = open ? dialogs[open] : null;
  return (
    <div className="workflow-actions" data-testid="workflow-actions">
      <div className="actions">
        {kinds
          .filter((k) => k !== "reset" || resetPoints.length)
          .map((k) => (
            <button
              key={k}
              type="button"
              className={dialogs[k].danger ? "small danger" : "small"}
              data-testid={`action-${k}`}
              onClick={() => {
                setDone(null);
                setOpen(k);
              }}
            >
              {dialogs[k].title}
            </button>
          ))}
      </div>
      {done ? (
        <Notice testid="action-done">
          {done.text}
          {done.value !== undefined ? <Json value={done.value} /> : null}
        </Notice>
      ) : null}
      {dialog && open ? (
        <ActionDialog
          key={open}
          title={dialog.title}
          description={dialog.description}
          fields={dialog.fields}
          confirmLabel={dialog.confirm}
          danger={dialog.danger}
          onClose={() => setOpen(null)}
          onConfirm={async (v) => {
            const out = await dialog.run(v);
            setDone(typeof out === "string" ? { text: out } : out);
            await onDone();
          }}
        />
      ) : null}
    </div>
  );
}

