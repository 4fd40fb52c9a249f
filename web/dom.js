// Shared pieces of the Orrery web console's pages: DOM building (text is
// always set as text, never parsed as HTML), forms that show an API
// problem next to the fields it names, and buttons. No requests here: every
// request goes through `api` in app.js (see its header comment).

/** An RFC 9457 problem (or a failure that is not one, shaped like one). */
export class ApiProblem extends Error {
  constructor(status, body) {
    const problem = body && typeof body === "object" ? body : {};
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.detail = problem.detail || problem.title || `the server answered HTTP ${status}`;
    this.errors = Array.isArray(problem.errors) ? problem.errors : [];
    this.type = problem.type || "";
  }
}

/** `h("a", {href: "#/x", onclick: f}, "text", child)`; text is never parsed as HTML. */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key === "testid") {
      el.dataset.testid = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** `el.replaceChildren`, skipping the null and false of conditional children. */
export function put(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== undefined && c !== null && c !== false));
}

export function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

export function table(columns, rows, empty) {
  if (!rows.length) return h("p", { class: "muted" }, empty);
  return h(
    "table",
    {},
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", {}, c)))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c) => h("td", {}, c))))),
  );
}

export function errorBox(problem) {
  return h("p", { class: "error", role: "alert" }, problem instanceof ApiProblem ? problem.detail : String(problem));
}

export function notice(text) {
  return h("p", { class: "notice", role: "status" }, text);
}

/**
 * A form. `fields`: [{name, label, type, value, required, min, max, options,
 * placeholder, hint}]; `onSubmit(values, form)` may throw an ApiProblem,
 * whose `detail` is shown above the button and whose `errors[]` are shown
 * next to the fields they name.
 */
export function form(id, fields, submitLabel, onSubmit) {
  const general = h("p", { class: "error form-error", role: "alert", hidden: true });
  const button = h("button", { type: "submit" }, submitLabel);
  const rows = fields.map((f) => {
    const attrs = {
      id: `${id}-${f.name}`,
      name: f.name,
      required: f.required,
      placeholder: f.placeholder,
      min: f.min,
      max: f.max,
      autocomplete: f.autocomplete,
    };
    let input;
    if (f.type === "select") {
      input = h(
        "select",
        attrs,
        f.options.map((o) => {
          const [value, label] = Array.isArray(o) ? o : [o, o];
          return h("option", { value, selected: value === f.value }, label);
        }),
      );
    } else if (f.type === "textarea") {
      input = h("textarea", { ...attrs, rows: f.rows || 8, spellcheck: "false" }, f.value || "");
    } else {
      input = h("input", { ...attrs, type: f.type || "text", value: f.value });
    }
    return h(
      "div",
      { class: "field", "data-field": f.name },
      h("label", { for: `${id}-${f.name}` }, f.label),
      input,
      f.hint ? h("small", { class: "muted" }, f.hint) : null,
      h("span", { class: "field-error", role: "alert" }),
    );
  });
  const el = h("form", { id, class: "form", novalidate: true }, rows, general, h("div", { class: "actions" }, button));
  el.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(el);
    const values = {};
    for (const f of fields) {
      const raw = el.elements[f.name].value;
      values[f.name] = f.type === "number" ? (raw === "" ? undefined : Number(raw)) : raw;
    }
    button.disabled = true;
    try {
      await onSubmit(values, el);
    } catch (err) {
      showProblem(el, err);
    } finally {
      button.disabled = false;
    }
  });
  return el;
}

function clearErrors(formEl) {
  for (const span of formEl.querySelectorAll(".field-error")) span.textContent = "";
  for (const field of formEl.querySelectorAll(".field")) field.classList.remove("invalid");
  const general = formEl.querySelector(".form-error");
  general.textContent = "";
  general.hidden = true;
}

function showProblem(formEl, err) {
  const general = formEl.querySelector(".form-error");
  const problem = err instanceof ApiProblem ? err : new ApiProblem(0, { detail: String(err) });
  const unplaced = [];
  for (const e of problem.errors) {
    const field = [...formEl.querySelectorAll(".field")].find((f) => f.dataset.field === e.field);
    if (field) {
      field.classList.add("invalid");
      field.querySelector(".field-error").textContent = e.message;
    } else {
      unplaced.push(`${e.field}: ${e.message}`);
    }
  }
  general.textContent = [problem.detail, ...unplaced].join(" — ");
  general.hidden = false;
}

/** A secret shown once, with copy and download. */
export function secret(label, text, filename, testid) {
  const status = h("span", { class: "muted", role: "status" });
  const copy = h("button", { type: "button" }, "Copy");
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
      status.textContent = "Copied.";
    } catch {
      status.textContent = "Copying is not allowed here; select the text instead.";
    }
  });
  const download = h("button", { type: "button" }, "Download");
  download.addEventListener("click", () => {
    const url = URL.createObjectURL(new Blob([text], { type: "application/octet-stream" }));
    const a = h("a", { href: url, download: filename });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  });
  return h(
    "div",
    { class: "secret", testid },
    h("strong", {}, label),
    h("pre", { class: "secret-value" }, text),
    h("div", { class: "actions" }, copy, download, status),
  );
}

/** A button that asks once more before `action` runs. */
export function confirmButton(label, action, onError) {
  const button = h("button", { type: "button", class: "danger" }, label);
  let armed = false;
  button.addEventListener("click", async () => {
    if (!armed) {
      armed = true;
      button.textContent = `Really ${label.toLowerCase()}?`;
      setTimeout(() => {
        armed = false;
        button.textContent = label;
      }, 5000);
      return;
    }
    button.disabled = true;
    try {
      await action();
    } catch (err) {
      onError(err);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

export function actionButton(label, action, onError) {
  const button = h("button", { type: "button" }, label);
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await action();
    } catch (err) {
      onError(err);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

export function section(title, ...children) {
  return h("section", {}, h("h2", {}, title), ...children);
}
