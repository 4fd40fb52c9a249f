// The console's Usage page: the account's usage per UTC day and namespace
// (GET /api/v1/usage), the month's invoice preview
// (GET /api/v1/invoices/preview) and the hourly CSV
// (GET /api/v1/usage/export.csv). Owners, admins and finance admins only;
// app.js shows the page to those roles.
//
// Requests go through the `api` function app.js passes in (its one fetch),
// with the method and path written out literally, as everywhere in the
// console: control-plane/tests/console.rs checks these calls too.

import { errorBox, h, put, section } from "./dom.js";

const enc = encodeURIComponent;

/** How many Action kinds a day's row names before "+N more". */
const TOP_KINDS = 3;

/** `YYYY-MM` of the UTC month holding `date`. */
function monthOf(date) {
  return `${date.getUTCFullYear()}-${String(date.getUTCMonth() + 1).padStart(2, "0")}`;
}

/**
 * `[from, to)` of a `YYYY-MM` month as RFC 3339 UTC instants on day
 * boundaries (what `granularity=day` requires), or null for text that is
 * not a month.
 */
function monthRange(month) {
  const m = /^(\d{4})-(\d{2})$/.exec(month);
  const [year, index] = m ? [Number(m[1]), Number(m[2]) - 1] : [0, -1];
  // Before 1970 there is no usage (and Date.UTC reads years below 100 as 19xx).
  if (year < 1970 || index < 0 || index > 11) return null;
  const iso = (ms) => new Date(ms).toISOString().replace(".000Z", "Z");
  // Date.UTC rolls month 12 over into January of the next year.
  return { from: iso(Date.UTC(year, index, 1)), to: iso(Date.UTC(year, index + 1, 1)) };
}

/**
 * Integer cents as money, e.g. `12345` → `123.45 USD`. BigInt keeps this
 * integer arithmetic: amounts never pass through a float.
 */
function money(cents, currency) {
  let c = BigInt(cents);
  const sign = c < 0n ? "-" : "";
  if (c < 0n) c = -c;
  const whole = (c / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const fraction = (c % 100n).toString().padStart(2, "0");
  return `${sign}${whole}.${fraction} ${currency}`;
}

/** GB-hours as the API gives them (six decimals at most). */
function gbh(value) {
  return Number(value).toLocaleString("en-US", { maximumFractionDigits: 6 });
}

/** The day's busiest Action kinds, most first: `workflow_started 12 · signal 3`. */
function topKinds(actions) {
  const kinds = Object.entries(actions || {}).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const shown = kinds.slice(0, TOP_KINDS).map(([kind, n]) => `${kind} ${n}`).join(" · ");
  return kinds.length > TOP_KINDS ? `${shown} · +${kinds.length - TOP_KINDS} more` : shown;
}

/** A table whose header is there even without rows (the empty text spans it). */
function fullTable(testid, columns, rows, empty, footer, className) {
  const body = rows.length
    ? rows.map((cells) => h("tr", {}, cells.map((c) => h("td", {}, c))))
    : h("tr", {}, h("td", { colspan: columns.length, class: "muted" }, empty));
  return h(
    "table",
    { testid, class: className },
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", {}, c)))),
    h("tbody", {}, body),
    footer ? h("tfoot", {}, footer) : null,
  );
}

const INCOMPLETE = "Usage of the last minute may still be arriving: these figures can still grow.";

function incompleteNote(testid) {
  return h("p", { class: "notice", role: "status", testid }, INCOMPLETE);
}

function usageTable(view) {
  const rows = view.rows.map((r) => [
    r.start.slice(0, 10),
    h("code", {}, r.namespace),
    String(r.total_actions),
    topKinds(r.actions),
    gbh(r.active_storage_gbh),
    gbh(r.retained_storage_gbh),
  ]);
  const total = view.rows.reduce((sum, r) => sum + r.total_actions, 0);
  return h(
    "div",
    {},
    view.incomplete ? incompleteNote("usage-incomplete") : null,
    fullTable(
      "usage-table",
      ["Day (UTC)", "Namespace", "Actions", "Top Action kinds", "Active storage (GB-h)", "Retained storage (GB-h)"],
      rows,
      "No usage in this month yet.",
      view.rows.length ? h("tr", {}, h("th", { colspan: 2 }, "Month so far"), h("th", {}, String(total)), h("th", { colspan: 3 })) : null,
    ),
  );
}

const ITEMS = {
  actions: "Actions",
  active_storage: "Active storage",
  retained_storage: "Retained storage",
  plan_minimum: "Plan minimum",
};

function lineItem(line) {
  const name = ITEMS[line.item] || line.item;
  return line.tier ? `${name}, tier ${line.tier}` : name;
}

function invoiceTable(invoice) {
  const cur = invoice.currency;
  const rows = invoice.lines.map((line) => [
    lineItem(line),
    line.namespace ? h("code", {}, line.namespace) : "",
    `${line.quantity} ${line.item === "actions" ? "actions" : line.unit}`,
    `${line.unit_price} ${cur} per ${line.unit}`,
    money(line.amount_cents, cur),
  ]);
  const sum = (label, cents, testid) =>
    h("tr", {}, h("th", { colspan: 4 }, label), h("th", { testid }, money(cents, cur)));
  return h(
    "div",
    {},
    invoice.incomplete ? incompleteNote("invoice-incomplete") : null,
    fullTable(
      "invoice-lines",
      ["Item", "Namespace", "Quantity", "Unit price", "Amount"],
      rows,
      "Nothing to bill yet.",
      [
        sum("Usage", invoice.usage_cents, "invoice-usage"),
        sum("Plan minimum", invoice.plan_minimum_cents, "invoice-minimum"),
        sum("Total", invoice.total_cents, "invoice-total"),
      ],
      "money",
    ),
    h("p", { class: "muted" }, `${invoice.total_actions} Actions this month. A preview of the month so far, not an issued invoice.`),
  );
}

/**
 * The page. `api` is app.js's request function; `listNamespaces` says
 * whether the caller may list namespaces (a finance admin may not: its
 * filter offers the namespaces the month's usage names, deleted ones too).
 */
export async function usagePage(api, { listNamespaces }) {
  const current = monthOf(new Date());
  const monthInput = h("input", { id: "usage-month", type: "month", value: current, max: current, required: true });
  const namespaceSelect = h("select", { id: "usage-namespace" }, h("option", { value: "" }, "All namespaces"));
  const download = h("a", { class: "button", testid: "usage-csv", download: true }, "Download hourly CSV");
  const usageBox = h("div", { testid: "usage" });
  const invoiceBox = h("div", { testid: "invoice" });
  const known = new Set();

  function offer(names) {
    for (const name of [...names].sort()) {
      if (known.has(name)) continue;
      known.add(name);
      namespaceSelect.append(h("option", { value: name }, name));
    }
  }
  if (listNamespaces) offer((await api("GET", "/api/v1/namespaces")).map((ns) => ns.id));

  let seq = 0;
  async function load() {
    const mine = ++seq;
    const month = monthInput.value;
    const namespace = namespaceSelect.value;
    const range = monthRange(month);
    if (!range) {
      put(usageBox, errorBox("Pick a month (YYYY-MM)."));
      put(invoiceBox);
      return;
    }
    const only = namespace ? `&namespace=${enc(namespace)}` : "";
    // The cookie authenticates GETs (no CSRF token needed), so the browser
    // downloads the CSV itself, with the file name the API gives it.
    download.setAttribute("href", `/api/v1/usage/export.csv?month=${enc(month)}${only}`);
    const [usage, invoice] = await Promise.allSettled([
      api("GET", `/api/v1/usage?from=${enc(range.from)}&to=${enc(range.to)}&granularity=day${only}`),
      api("GET", `/api/v1/invoices/preview?month=${enc(month)}`),
    ]);
    if (mine !== seq) return; // a later choice is loading
    if (usage.status === "fulfilled") {
      if (!namespace) offer(new Set(usage.value.rows.map((r) => r.namespace)));
      put(usageBox, usageTable(usage.value));
    } else {
      put(usageBox, errorBox(usage.reason));
    }
    put(invoiceBox, invoice.status === "fulfilled" ? invoiceTable(invoice.value) : errorBox(invoice.reason));
  }
  const reload = () => load().catch((err) => put(usageBox, errorBox(err)));
  monthInput.addEventListener("change", reload);
  namespaceSelect.addEventListener("change", reload);
  await load();

  return h(
    "div",
    {},
    h("h1", {}, "Usage"),
    h(
      "div",
      { class: "filters" },
      h("label", { for: "usage-month" }, "Month (UTC)"), monthInput,
      h("label", { for: "usage-namespace" }, "Namespace"), namespaceSelect,
      download,
    ),
    section("Usage per day", usageBox),
    section("Invoice preview", h("p", { class: "muted" }, "For the whole account, all namespaces."), invoiceBox),
  );
}
