// Arithmetic of the Usage page, kept apart from its markup.
import type { UsageRow } from "./api/control-plane";

/** How many Action kinds a day's row names before "+N more". */
const TOP_KINDS = 3;

/** `YYYY-MM` of the UTC month holding `date`. */
export function monthOf(date: Date): string {
  return `${date.getUTCFullYear()}-${String(date.getUTCMonth() + 1).padStart(2, "0")}`;
}

/**
 * `[from, to)` of a `YYYY-MM` month as RFC 3339 UTC instants on day
 * boundaries (what `granularity=day` requires), or null for text that is
 * not a month.
 */
export function monthRange(month: string): { from: string; to: string; days: number } | null {
  const m = /^(\d{4})-(\d{2})$/.exec(month);
  const year = m ? Number(m[1]) : 0;
  const index = m ? Number(m[2]) - 1 : -1;
  // Before 1970 there is no usage (and Date.UTC reads years below 100 as 19xx).
  if (year < 1970 || index < 0 || index > 11) return null;
  const iso = (ms: number): string => new Date(ms).toISOString().replace(".000Z", "Z");
  // Date.UTC rolls month 12 over into January of the next year.
  const from = Date.UTC(year, index, 1);
  const to = Date.UTC(year, index + 1, 1);
  return { from: iso(from), to: iso(to), days: Math.round((to - from) / 86_400_000) };
}

/**
 * Integer cents as money, e.g. `12345` → `123.45 USD`. BigInt keeps this
 * integer arithmetic: amounts never pass through a float.
 */
export function money(cents: number, currency: string): string {
  let c = BigInt(cents);
  const sign = c < 0n ? "-" : "";
  if (c < 0n) c = -c;
  const whole = (c / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const fraction = (c % 100n).toString().padStart(2, "0");
  return `${sign}${whole}.${fraction} ${currency}`;
}

/** GB-hours as the API gives them (six decimals at most). */
export function gbh(value: number): string {
  return value.toLocaleString("en-US", { maximumFractionDigits: 6 });
}

/** The day's busiest Action kinds, most first: `workflow_started 12 · signal 3`. */
export function topKinds(actions: Record<string, number>): string {
  const kinds = Object.entries(actions).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const shown = kinds
    .slice(0, TOP_KINDS)
    .map(([kind, n]) => `${kind} ${n}`)
    .join(" · ");
  return kinds.length > TOP_KINDS ? `${shown} · +${kinds.length - TOP_KINDS} more` : shown;
}

/** Per day of the month (`YYYY-MM-DD`, every day, zero when none): `pick` summed over namespaces. */
export function perDay(rows: UsageRow[], month: string, days: number, pick: (r: UsageRow) => number): { label: string; value: number }[] {
  const sums = new Map<string, number>();
  for (const r of rows) {
    const day = r.start.slice(0, 10);
    sums.set(day, (sums.get(day) ?? 0) + pick(r));
  }
  return Array.from({ length: days }, (_, i) => {
    const label = `${month}-${String(i + 1).padStart(2, "0")}`;
    return { label, value: sums.get(label) ?? 0 };
  });
}
