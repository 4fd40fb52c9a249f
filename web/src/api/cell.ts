// A cell's Temporal HTTP API (the routes and JSON of the real server's
// `--http-port`), typed by cell.gen.ts, which scripts/cell-api-types.mjs
// generates from the OpenAPI document in the `temporalio-protos` crate.
//
// The browser calls the cell directly with a short-lived bearer token that
// the control plane issues per namespace (POST …/console-token, ~5 minutes),
// renewed when less than a minute is left. The answer also names the
// caller's permission on the namespace, which decides the buttons shown.
import type { components, paths } from "./cell.gen";
import { controlPlane, type Permission, type Schemas } from "./control-plane";
import { createClient, type Client } from "./http";

export type CellSchemas = components["schemas"];
export type WorkflowInfo = CellSchemas["WorkflowExecutionInfo"];
export type HistoryEvent = CellSchemas["HistoryEvent"];
export type Describe = CellSchemas["DescribeWorkflowExecutionResponse"];
export type PendingActivity = CellSchemas["PendingActivityInfo"];
export type ScheduleEntry = CellSchemas["ScheduleListEntry"];
export type ScheduleDescription = CellSchemas["DescribeScheduleResponse"];
export type Payloads = CellSchemas["Payloads"];
export type ActivityListInfo = CellSchemas["ActivityExecutionListInfo"];
export type ActivityDescribe = CellSchemas["DescribeActivityExecutionResponse"];

type ConsoleToken = Schemas["ConsoleToken"];

export interface Cell {
  /** The Temporal namespace name (the control plane's namespace id). */
  namespace: string;
  endpoint: string;
  permission: Permission;
  /** May signal, cancel, terminate, reset, update, pause and trigger. */
  canWrite: boolean;
  request: Client<paths>["request"];
  /** The current console token (renewed first when it is about to expire). */
  token: () => Promise<string>;
}

/** Renew a token when less than this is left. */
const RENEW_MS = 60_000;

function grant(namespace: string): Promise<ConsoleToken> {
  return controlPlane.request("POST", "/api/v1/namespaces/{namespace}/console-token", { path: { namespace } });
}

const cells = new Map<string, Promise<Cell>>();

/** The cell client of a namespace (one per namespace per page load). */
export function openCell(namespaceId: string): Promise<Cell> {
  let cell = cells.get(namespaceId);
  if (!cell) {
    cell = makeCell(namespaceId);
    cells.set(namespaceId, cell);
    cell.catch(() => cells.delete(namespaceId));
  }
  return cell;
}

async function makeCell(namespaceId: string): Promise<Cell> {
  // One cell client per namespace: its base URL is fixed by the first grant.
  let current = await grant(namespaceId);
  let renewing: Promise<void> | null = null;
  const expiry = (): number => (current.expires_at ? Date.parse(current.expires_at) : Number.POSITIVE_INFINITY);
  async function fresh(): Promise<void> {
    if (expiry() - Date.now() > RENEW_MS) return;
    renewing ??= grant(namespaceId)
      .then((g) => {
        current = g;
      })
      .finally(() => {
        renewing = null;
      });
    await renewing;
  }
  const client = createClient<paths>({
    baseUrl: current.http_endpoint.replace(/\/+$/, ""),
    headers: (): Record<string, string> => (current.token ? { authorization: `Bearer ${current.token}` } : {}),
  });
  const request = (async (...args: Parameters<Client<paths>["request"]>) => {
    await fresh();
    return client.request(...args);
  }) as Client<paths>["request"];
  return {
    namespace: current.namespace,
    endpoint: current.http_endpoint,
    permission: current.permission,
    canWrite: current.permission !== "read",
    request,
    token: async () => {
      await fresh();
      return current.token;
    },
  };
}

/** A scalar of a loosely typed message as text ("" for anything else). */
export function str(v: unknown): string {
  return typeof v === "string" ? v : typeof v === "number" || typeof v === "boolean" ? String(v) : "";
}

// -- payloads ---------------------------------------------------------------

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function fromBase64(b64: string): string {
  try {
    const bin = atob(b64);
    const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    return new TextDecoder().decode(bytes);
  } catch {
    return "";
  }
}

/** A payload in full form (`{metadata: {encoding: b64}, data: b64}`), or null. */
function fullForm(v: unknown): { metadata: Record<string, string>; data: string } | null {
  if (!isRecord(v) || !isRecord(v.metadata)) return null;
  if (Object.keys(v).some((k) => k !== "metadata" && k !== "data")) return null;
  const metadata: Record<string, string> = {};
  for (const [k, m] of Object.entries(v.metadata)) {
    if (typeof m !== "string") return null;
    metadata[k] = fromBase64(m);
  }
  return { metadata, data: typeof v.data === "string" ? v.data : "" };
}

/**
 * One payload as a value to show: the API already writes json/plain
 * payloads as their JSON (shorthand); a full-form one is decoded when it is
 * JSON, and otherwise described (an encrypted payload stays unreadable).
 */
export function decodePayload(v: unknown): unknown {
  const full = fullForm(v);
  if (!full) return v;
  const encoding = full.metadata.encoding ?? "";
  if (encoding === "binary/null") return null;
  if (encoding === "json/plain") {
    try {
      return JSON.parse(fromBase64(full.data)) as unknown;
    } catch {
      /* shown as undecoded below */
    }
  }
  return { encoding: encoding || "(none)", bytes: Math.floor((full.data.length * 3) / 4), base64: full.data };
}

/** Payloads (a shorthand array, or `{payloads: [...]}`) as a list of values. */
export function decodePayloads(v: unknown): unknown[] {
  if (Array.isArray(v)) return v.map(decodePayload);
  if (isRecord(v) && Array.isArray(v.payloads)) return v.payloads.map(decodePayload);
  if (v === null || v === undefined) return [];
  return [decodePayload(v)];
}

/** JSON values to send as Payloads, in the API's shorthand (each one json/plain). */
export function toPayloads(values: unknown[]): Payloads {
  return values as unknown as Payloads;
}

/** Keys whose values are Payloads or a Payload in Temporal's messages. */
const PAYLOAD_KEYS = new Set([
  "input",
  "result",
  "details",
  "heartbeatDetails",
  "lastHeartbeatDetails",
  "lastCompletionResult",
  "queryResult",
  "encodedAttributes",
]);

/** A message with its payloads decoded, for showing as JSON. */
export function decodeMessage(v: unknown, key = ""): unknown {
  if (PAYLOAD_KEYS.has(key)) {
    const values = decodePayloads(v);
    return values.length === 1 && !Array.isArray(v) && !(isRecord(v) && "payloads" in v) ? values[0] : values;
  }
  if (Array.isArray(v)) return v.map((x) => decodeMessage(x));
  if (!isRecord(v)) return v;
  if (fullForm(v)) return decodePayload(v);
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = decodeMessage(x, k);
  return out;
}

/** `WORKFLOW_EXECUTION_STATUS_RUNNING` (or `ACTIVITY_EXECUTION_STATUS_RUNNING`) → `Running`. */
export function statusName(status: string | undefined): string {
  const s = (status ?? "").replace(/^(WORKFLOW|ACTIVITY)_EXECUTION_STATUS_/, "");
  if (!s || s === "UNSPECIFIED") return "Unknown";
  if (s === "CONTINUED_AS_NEW") return "ContinuedAsNew";
  if (s === "TIMED_OUT") return "TimedOut";
  return s.charAt(0) + s.slice(1).toLowerCase();
}

/** `EVENT_TYPE_ACTIVITY_TASK_SCHEDULED` → `ActivityTaskScheduled`. */
export function eventName(type: string | undefined): string {
  return (type ?? "")
    .replace(/^EVENT_TYPE_/, "")
    .toLowerCase()
    .replace(/(^|_)([a-z])/g, (_, __: string, c: string) => c.toUpperCase());
}

/** The event's `…EventAttributes` field and its value. */
export function attributesOf(event: HistoryEvent): [string, Record<string, unknown>] {
  for (const [k, v] of Object.entries(event)) {
    if (k.endsWith("EventAttributes") && isRecord(v)) return [k, v];
  }
  return ["", {}];
}
