// The account's usage per UTC day and namespace (GET /api/v1/usage), the
// month's invoice preview (GET /api/v1/invoices/preview) and the hourly CSV
// (GET /api/v1/usage/export.csv, a plain link: the session cookie
// authenticates GETs). Owners, admins and finance admins only.
import { useEffect, useState } from "react";
import { controlPlane, type InvoiceLine, type InvoicePreview, type UsageView } from "../api/control-plane";
import { asProblem } from "../api/http";
import { BarChart } from "../components/BarChart";
import { DataTable, ErrorBox, Loading, Notice, Page, Section } from "../components/ui";
import { readsAccount } from "../roles";
import { useMe } from "../session";
import { gbh, money, monthOf, monthRange, perDay, topKinds } from "../usage";

const INCOMPLETE = "Usage of the last minute may still be arriving: these figures can still grow.";

const ITEMS: Record<string, string> = {
  actions: "Actions",
  active_storage: "Active storage",
  retained_storage: "Retained storage",
  plan_minimum: "Plan minimum",
};

function lineItem(line: InvoiceLine): string {
  const name = ITEMS[line.item] ?? line.item;
  return line.tier ? `${name}, tier ${line.tier}` : name;
}

type Result<T> = { ok: true; value: T } | { ok: false; error: unknown } | null;

function UsageTable({ view, month }: { view: UsageView; month: string }) {
  const total = view.rows.reduce((sum, r) => sum + r.total_actions, 0);
  const days = monthRange(month)?.days ?? 0;
  return (
    <>
      {view.incomplete ? <Notice testid="usage-incomplete">{INCOMPLETE}</Notice> : null}
      <div className="charts">
        <BarChart testid="actions-chart" title="Actions per day" unit="Actions" bars={perDay(view.rows, month, days, (r) => r.total_actions)} />
        <BarChart
          testid="storage-chart"
          title="Active storage per day"
          unit="GB-h"
          bars={perDay(view.rows, month, days, (r) => r.active_storage_gbh)}
        />
      </div>
      <DataTable
        testid="usage-table"
        caption="Usage per day and namespace"
        columns={["Day (UTC)", "Namespace", "Actions", "Top Action kinds", "Active storage (GB-h)", "Retained storage (GB-h)"]}
        rows={view.rows.map((r) => ({
          key: `${r.start}/${r.namespace}`,
          cells: [
            r.start.slice(0, 10),
            <code>{r.namespace}</code>,
            String(r.total_actions),
            topKinds(r.actions),
            gbh(r.active_storage_gbh),
            gbh(r.retained_storage_gbh),
          ],
        }))}
        empty="No usage in this month yet."
        footer={
          view.rows.length ? (
            <tr>
              <th colSpan={2} scope="row">
                Month so far
              </th>
              <th>{String(total)}</th>
              <th colSpan={3} />
            </tr>
          ) : null
        }
      />
    </>
  );
}

function InvoiceTable({ invoice }: { invoice: InvoicePreview }) {
  const cur = invoice.currency;
  const sum = (label: string, cents: number, testid: string) => (
    <tr>
      <th colSpan={4} scope="row">
        {label}
      </th>
      <th data-testid={testid}>{money(cents, cur)}</th>
    </tr>
  );
  return (
    <>
      {invoice.incomplete ? <Notice testid="invoice-incomplete">{INCOMPLETE}</Notice> : null}
      <DataTable
        testid="invoice-lines"
        className="money"
        caption="Invoice preview"
        columns={["Item", "Namespace", "Quantity", "Unit price", "Amount"]}
        rows={invoice.lines.map((line, i) => ({
          key: `${i}`,
          cells: [
            lineItem(line),
            line.namespace ? <code>{line.namespace}</code> : "",
            `${line.quantity} ${line.item === "actions" ? "actions" : line.unit}`,
            `${line.unit_price} ${cur} per ${line.unit}`,
            money(line.amount_cents, cur),
          ],
        }))}
        empty="Nothing to bill yet."
        footer={
          <>
            {sum("Usage", invoice.usage_cents, "invoice-usage")}
            {sum("Plan minimum", invoice.plan_minimum_cents, "invoice-minimum")}
            {sum("Total", invoice.total_cents, "invoice-total")}
          </>
        }
      />
      <p className="muted">{invoice.total_actions} Actions this month. A preview of the month so far, not an issued invoice.</p>
    </>
  );
}

export function UsagePage() {
  const me = useMe();
  const current = monthOf(new Date());
  const [month, setMonth] = useState(current);
  const [namespace, setNamespace] = useState("");
  // The filter offers the account's namespaces, and those the month's usage
  // names (deleted ones too; all a finance admin, who may not list
  // namespaces, is offered).
  const [known, setKnown] = useState<string[]>([]);
  const [usage, setUsage] = useState<Result<UsageView>>(null);
  const [invoice, setInvoice] = useState<Result<InvoicePreview>>(null);
  const offer = (names: Iterable<string>): void =>
    setKnown((old) => {
      const all = new Set([...old, ...names]);
      return all.size === old.length ? old : [...all].sort();
    });

  useEffect(() => {
    if (!readsAccount(me.role)) return;
    controlPlane
      .request("GET", "/api/v1/namespaces")
      .then((list) => offer(list.map((ns) => ns.id)))
      .catch(() => {});
  }, [me.role]);

  const range = monthRange(month);
  useEffect(() => {
    if (!range) return;
    let live = true;
    setUsage(null);
    setInvoice(null);
    const only = namespace || undefined;
    controlPlane
      .request("GET", "/api/v1/usage", { query: { from: range.from, to: range.to, granularity: "day", namespace: only } })
      .then(
        (value) => {
          if (!live) return;
          if (!only) offer(value.rows.map((r) => r.namespace));
          setUsage({ ok: true, value });
        },
        (error: unknown) => live && setUsage({ ok: false, error }),
      );
    controlPlane.request("GET", "/api/v1/invoices/preview", { query: { month } }).then(
      (value) => live && setInvoice({ ok: true, value }),
      (error: unknown) => live && setInvoice({ ok: false, error }),
    );
    return () => {
      live = false;
    };
  }, [month, namespace, range?.from]);

  const csv = controlPlane.url("GET", "/api/v1/usage/export.csv", { query: { month, namespace: namespace || undefined } });
  return (
    <Page title="Usage">
      <div className="filters">
        <label htmlFor="usage-month">Month (UTC)</label>
        <input id="usage-month" type="month" value={month} max={current} required onChange={(e) => setMonth(e.target.value)} />
        <label htmlFor="usage-namespace">Namespace</label>
        <select id="usage-namespace" value={namespace} onChange={(e) => setNamespace(e.target.value)}>
          <option value="">All namespaces</option>
          {known.map((name) => (
            <option key={name} value={name}>
              {name}
            </option>
          ))}
        </select>
        {range ? (
          <a className="button" data-testid="usage-csv" href={csv} download>
            Download hourly CSV
          </a>
        ) : null}
      </div>
      <Section title="Usage per day">
        <div data-testid="usage">
          {!range ? (
            <ErrorBox error="Pick a month (YYYY-MM)." />
          ) : usage === null ? (
            <Loading what="usage" />
          ) : usage.ok ? (
            <UsageTable view={usage.value} month={month} />
          ) : (
            <ErrorBox error={asProblem(usage.error)} />
          )}
        </div>
      </Section>
      <Section title="Invoice preview">
        <p className="muted">For the whole account, all namespaces.</p>
        <div data-testid="invoice">
          {!range ? null : invoice === null ? (
            <Loading what="the invoice preview" />
          ) : invoice.ok ? (
            <InvoiceTable invoice={invoice.value} />
          ) : (
            <ErrorBox error={asProblem(invoice.error)} />
          )}
        </div>
      </Section>
    </Page>
  );
}
