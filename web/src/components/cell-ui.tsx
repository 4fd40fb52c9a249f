// Pieces the workflow and schedule pages share: the cell client of a
// namespace as a load, a status badge, durations, a JSON value, and a
// confirmation dialog for actions.
import { useEffect, useRef, useState, type FormEvent, type ReactNode } from "react";
import { openCell, statusName, type Cell } from "../api/cell";
import { asProblem } from "../api/http";
import { Show, useLoad } from "./ui";

/** Renders `children(cell)` once the namespace's cell client is ready. */
export function WithCell({ namespace, children }: { namespace: string; children: (cell: Cell) => ReactNode }) {
  const [state] = useLoad(() => openCell(namespace), namespace);
  return (
    <Show state={state} what="the namespace's workflow service">
      {children}
    </Show>
  );
}

export function StatusBadge({ status }: { status: string | undefined }) {
  const name = statusName(status);
  return (
    <span className={`status status-${name.toLowerCase()}`} data-testid="status">
      {name}
    </span>
  );
}

/** Milliseconds as `1h 2m 3.4s`. */
export function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  const sec = rest >= 10 || h || m ? `${Math.round(rest)}s` : `${rest.toFixed(1)}s`;
  return [h ? `${h}h` : "", m ? `${m}m` : "", sec].filter(Boolean).join(" ");
}

/** A value as indented JSON. */
export function Json({ value, testid }: { value: unknown; testid?: string }) {
  return (
    <pre className="json" tabIndex={0} data-testid={testid}>
      {JSON.stringify(value, null, 2) ?? "undefined"}
    </pre>
  );
}

export interface DialogField {
  name: string;
  label: string;
  /** A JSON value (parsed before sending), or plain text. */
  json?: boolean;
  value?: string;
  required?: boolean;
  hint?: string;
  /** A choice among these values (the first one is chosen). */
  options?: string[];
}

/**
 * A modal form that asks before an action: its fields, a confirm button,
 * and the API's message when the action fails (the dialog stays open).
 */
export function ActionDialog({
  title,
  description,
  fields,
  confirmLabel,
  danger,
  onConfirm,
  onClose,
}: {
  title: string;
  description: ReactNode;
  fields: DialogField[];
  confirmLabel: string;
  danger?: boolean;
  onConfirm: (values: Record<string, unknown>) => Promise<void>;
  onClose: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const [problem, setProblem] = useState("");
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
  }, []);
  async function submit(event: FormEvent<HTMLFormElement>): Promise<void> {
    event.preventDefault();
    const data = new FormData(event.currentTarget);
    const values: Record<string, unknown> = {};
    for (const f of fields) {
      const entry = data.get(f.name);
      const raw = typeof entry === "string" ? entry : "";
      if (f.json) {
        if (raw.trim() === "") {
          values[f.name] = undefined;
          continue;
        }
        try {
          values[f.name] = JSON.parse(raw) as unknown;
        } catch (err) {
          setProblem(`${f.label}: not JSON (${err instanceof Error ? err.message : String(err)})`);
          return;
        }
      } else {
        values[f.name] = raw;
      }
    }
    setBusy(true);
    setProblem("");
    try {
      await onConfirm(values);
      ref.current?.close();
      onClose();
    } catch (err) {
      setProblem(asProblem(err).detail);
    } finally {
      setBusy(false);
    }
  }
  return (
    <dialog ref={ref} className="action-dialog" aria-labelledby="dialog-title" onClose={onClose} data-testid="action-dialog">
      <form method="dialog" onSubmit={(e) => void submit(e)}>
        <h2 id="dialog-title">{title}</h2>
        <div className="muted">{description}</div>
        {fields.map((f) => (
          <div className="field" key={f.name}>
            <label htmlFor={`dialog-${f.name}`}>{f.label}</label>
            {f.options ? (
              <select id={`dialog-${f.name}`} name={f.name} defaultValue={f.value ?? f.options[0]}>
                {f.options.map((o) => (
                  <option key={o} value={o}>
                    {o}
                  </option>
                ))}
              </select>
            ) : f.json ? (
              <textarea id={`dialog-${f.name}`} name={f.name} defaultValue={f.value} rows={3} spellCheck={false} />
            ) : (
              <input id={`dialog-${f.name}`} name={f.name} defaultValue={f.value} required={f.required} autoComplete="off" />
            )}
            {f.hint ? <span className="muted hint">{f.hint}</span> : null}
          </div>
        ))}
        {problem ? (
          <p className="error" role="alert" data-testid="dialog-error">
            {problem}
          </p>
        ) : null}
        <div className="actions">
          <button type="submit" className={danger ? "danger" : undefined} disabled={busy} aria-busy={busy}>
            {confirmLabel}
          </button>
          <button
            type="button"
            className="small"
            onClick={() => {
              ref.current?.close();
            }}
          >
            Cancel
          </button>
        </div>
      </form>
    </dialog>
  );
}
