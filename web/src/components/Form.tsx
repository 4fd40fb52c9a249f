// A form whose fields come from a list: each gets a label, its hint and the
// API's complaint about it (a problem's `errors[]` entry naming the field)
// tied to it with aria-describedby; the problem's `detail` is shown above
// the button. Ids are `<form id>-<field name>`, stable for tests and labels.
import { useId, useState, type FormEvent, type ReactNode } from "react";
import { asProblem } from "../api/http";

export type FieldType = "text" | "email" | "password" | "number" | "select" | "textarea" | "checkbox";

export interface FieldSpec {
  name: string;
  label: string;
  type?: FieldType;
  value?: string | number;
  /** For checkboxes: whether it starts checked. */
  checked?: boolean;
  required?: boolean;
  min?: number;
  max?: number;
  placeholder?: string;
  hint?: string;
  autocomplete?: string;
  /** For selects: values, or [value, label] pairs. */
  options?: ReadonlyArray<string | readonly [string, string]>;
}

/** The submitted values, read by type. */
export class FormValues {
  constructor(private readonly data: FormData) {}

  /** The field's text ("" when empty). */
  text(name: string): string {
    const v = this.data.get(name);
    return typeof v === "string" ? v : "";
  }

  /** The field's text, or undefined when empty. */
  optional(name: string): string | undefined {
    return this.text(name) || undefined;
  }

  /** Whether a checkbox is checked. */
  bool(name: string): boolean {
    return this.data.get(name) !== null;
  }

  /** A number field; undefined when empty (NaN is sent as is: the API names it). */
  number(name: string): number | undefined {
    const raw = this.text(name);
    return raw === "" ? undefined : Number(raw);
  }
}

interface FormProps {
  id: string;
  fields: FieldSpec[];
  submitLabel: string;
  onSubmit: (values: FormValues, form: HTMLFormElement) => Promise<void>;
  /** A destructive action: the button is styled as one. */
  danger?: boolean;
  /** Shown above the fields. */
  intro?: ReactNode;
}

export function Form({ id, fields, submitLabel, onSubmit, danger, intro }: FormProps) {
  const [busy, setBusy] = useState(false);
  const [general, setGeneral] = useState("");
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const generalId = useId();

  async function submit(event: FormEvent<HTMLFormElement>): Promise<void> {
    event.preventDefault();
    const form = event.currentTarget;
    setGeneral("");
    setFieldErrors({});
    setBusy(true);
    try {
      await onSubmit(new FormValues(new FormData(form)), form);
    } catch (err) {
      const problem = asProblem(err);
      const placed: Record<string, string> = {};
      const unplaced: string[] = [];
      for (const e of problem.errors) {
        if (fields.some((f) => f.name === e.field)) placed[e.field] = e.message;
        else unplaced.push(`${e.field}: ${e.message}`);
      }
      setFieldErrors(placed);
      setGeneral([problem.detail, ...unplaced].join(" — "));
      // Keyboard and screen-reader users land on the first field to fix.
      const first = fields.find((f) => placed[f.name]);
      if (first) form.querySelector<HTMLElement>(`[name="${first.name}"]`)?.focus();
    } finally {
      setBusy(false);
    }
  }

  return (
    <form id={id} className="form" noValidate onSubmit={(e) => void submit(e)} aria-describedby={general ? generalId : undefined}>
      {intro}
      {fields.map((f) => (
        <Field key={f.name} formId={id} spec={f} error={fieldErrors[f.name]} />
      ))}
      <p id={generalId} className="error form-error" role="alert" hidden={!general}>
        {general}
      </p>
      <div className="actions">
        <button type="submit" className={danger ? "danger" : undefined} disabled={busy} aria-busy={busy}>
          {submitLabel}
        </button>
        {busy ? (
          <span className="muted" role="status">
            Working…
          </span>
        ) : null}
      </div>
    </form>
  );
}

function Field({ formId, spec, error }: { formId: string; spec: FieldSpec; error: string | undefined }) {
  const id = `${formId}-${spec.name}`;
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const described = [spec.hint ? hintId : "", error ? errorId : ""].filter(Boolean).join(" ") || undefined;
  const common = {
    id,
    name: spec.name,
    required: spec.required,
    placeholder: spec.placeholder,
    autoComplete: spec.autocomplete,
    "aria-invalid": error ? true : undefined,
    "aria-describedby": described,
  };
  let input: ReactNode;
  if (spec.type === "select") {
    input = (
      <select {...common} defaultValue={spec.value === undefined ? undefined : String(spec.value)}>
        {(spec.options ?? []).map((o) => {
          const [value, label] = typeof o === "string" ? [o, o] : o;
          return (
            <option key={value} value={value}>
              {label}
            </option>
          );
        })}
      </select>
    );
  } else if (spec.type === "checkbox") {
    input = <input {...common} type="checkbox" defaultChecked={spec.checked} />;
  } else if (spec.type === "textarea") {
    input = <textarea {...common} rows={8} spellCheck={false} defaultValue={spec.value} />;
  } else {
    input = <input {...common} type={spec.type ?? "text"} min={spec.min} max={spec.max} defaultValue={spec.value} />;
  }
  return (
    <div className={`${error ? "field invalid" : "field"}${spec.type === "checkbox" ? " check" : ""}`} data-field={spec.name}>
      <label htmlFor={id}>
        {spec.label}
        {spec.required ? <span className="required" aria-hidden="true"> *</span> : null}
      </label>
      {input}
      {spec.hint ? (
        <small id={hintId} className="muted">
          {spec.hint}
        </small>
      ) : null}
      {error ? (
        <span id={errorId} className="field-error">
          {error}
        </span>
      ) : null}
    </div>
  );
}
