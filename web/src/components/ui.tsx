// Small shared pieces of the console's pages: sections, notices, problems,
// tables with their empty state, loading states, secrets shown once, and
// buttons for actions (a destructive one asks once more).
import { useCallback, useEffect, useRef, useState, type ReactNode } from "react";
import { asProblem, type ApiProblem } from "../api/http";

export function Section({ title, children, testid }: { title: string; children: ReactNode; testid?: string }) {
  return (
    <section data-testid={testid} aria-label={title}>
      <h2>{title}</h2>
      {children}
    </section>
  );
}

export function Notice({ children, testid }: { children: ReactNode; testid?: string }) {
  return (
    <div className="notice" role="status" data-testid={testid}>
      {children}
    </div>
  );
}

export function ErrorBox({ error }: { error: unknown }) {
  return (
    <p className="error" role="alert">
      {asProblem(error).detail}
    </p>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="loading muted" role="status" aria-live="polite">
      Loading {what}…
    </p>
  );
}

/** A local date and time for an RFC 3339 instant ("" for none). */
export function when(iso: string | null | undefined): string {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

export interface Row {
  key: string;
  cells: ReactNode[];
}

/**
 * A table; with no rows, its header stays and one cell spanning it says
 * why it is empty. Wide tables scroll sideways on a phone.
 */
export function DataTable({
  columns,
  rows,
  empty,
  footer,
  className,
  testid,
  caption,
}: {
  columns: string[];
  rows: Row[];
  empty: string;
  footer?: ReactNode;
  className?: string;
  testid?: string;
  caption?: string;
}) {
  return (
    <div className="table-scroll">
      <table className={className} data-testid={testid}>
        {caption ? <caption className="visually-hidden">{caption}</caption> : null}
        <thead>
          <tr>
            {columns.map((c, i) => (
              <th key={i} scope="col">
                {c}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.length ? (
            rows.map((r) => (
              <tr key={r.key}>
                {r.cells.map((c, i) => (
                  <td key={i} data-label={columns[i]}>
                    {c}
                  </td>
                ))}
              </tr>
            ))
          ) : (
            <tr>
              <td colSpan={columns.length} className="muted empty">
                {empty}
              </td>
            </tr>
          )}
        </tbody>
        {footer ? <tfoot>{footer}</tfoot> : null}
      </table>
    </div>
  );
}

export type Loaded<T> =
  | { status: "loading" }
  | { status: "ok"; data: T }
  | { status: "error"; error: ApiProblem };

/**
 * Loads `load()` when `key` changes; `reload` loads again keeping what is
 * shown until the answer arrives. An answer to an older load is dropped.
 */
export function useLoad<T>(load: () => Promise<T>, key: string): [Loaded<T>, () => Promise<void>] {
  const [state, setState] = useState<Loaded<T>>({ status: "loading" });
  const seq = useRef(0);
  const loader = useRef(load);
  loader.current = load;
  const reload = useCallback(async () => {
    const mine = ++seq.current;
    try {
      const data = await loader.current();
      if (mine === seq.current) setState({ status: "ok", data });
    } catch (err) {
      if (mine === seq.current) setState({ status: "error", error: asProblem(err) });
    }
  }, []);
  useEffect(() => {
    setState({ status: "loading" });
    void reload();
  }, [key, reload]);
  return [state, reload];
}

/** What a load shows: a loading line, its problem, or `children(data)`. */
export function Show<T>({ state, what, children }: { state: Loaded<T>; what: string; children: (data: T) => ReactNode }) {
  if (state.status === "loading") return <Loading what={what} />;
  if (state.status === "error") return <ErrorBox error={state.error} />;
  return <>{children(state.data)}</>;
}

/** A button running `action`, disabled while it runs; a failure goes to `onError`. */
export function ActionButton({
  label,
  action,
  onError,
  danger,
  confirm,
}: {
  label: string;
  action: () => Promise<void>;
  onError: (err: unknown) => void;
  danger?: boolean;
  /** Ask once more ("Really delete?") before running. */
  confirm?: boolean;
}) {
  const [busy, setBusy] = useState(false);
  const [armed, setArmed] = useState(false);
  useEffect(() => {
    if (!armed) return;
    const timer = setTimeout(() => setArmed(false), 5000);
    return () => clearTimeout(timer);
  }, [armed]);
  async function click(): Promise<void> {
    if (confirm && !armed) {
      setArmed(true);
      return;
    }
    setArmed(false);
    setBusy(true);
    try {
      await action();
    } catch (err) {
      onError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <button
      type="button"
      className={danger || confirm ? "small danger" : "small"}
      disabled={busy}
      aria-busy={busy}
      onClick={() => void click()}
    >
      {armed ? `Really ${label.toLowerCase()}?` : label}
    </button>
  );
}

/** A secret shown once, with copy and download. */
export function Secret({ label, text, filename, testid }: { label: string; text: string; filename: string; testid: string }) {
  const [status, setStatus] = useState("");
  async function copy(): Promise<void> {
    try {
      await navigator.clipboard.writeText(text);
      setStatus("Copied.");
    } catch {
      setStatus("Copying is not allowed here; select the text instead.");
    }
  }
  function download(): void {
    const url = URL.createObjectURL(new Blob([text], { type: "application/octet-stream" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = filename;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }
  return (
    <div className="secret" data-testid={testid}>
      <strong>{label}</strong>
      <pre className="secret-value" tabIndex={0}>
        {text}
      </pre>
      <div className="actions">
        <button type="button" className="small" onClick={() => void copy()}>
          Copy
        </button>
        <button type="button" className="small" onClick={download}>
          Download
        </button>
        <span className="muted" role="status">
          {status}
        </span>
      </div>
    </div>
  );
}

/** A page's heading (focused after a navigation) and content. */
export function Page({ title, children, back }: { title: ReactNode; children: ReactNode; back?: ReactNode }) {
  return (
    <>
      {back ? <p className="back">{back}</p> : null}
      <h1 tabIndex={-1}>{title}</h1>
      {children}
    </>
  );
}
