// A namespace's payload codec server (Temporal's codec-server protocol): the
// browser posts the payloads it is about to show to `<endpoint>/decode` as
// `{"payloads": [<full-form payload>…]}` with `X-Namespace`, and shows what
// comes back. Orrery never sees the decoded values; when the codec server
// fails, the payloads are shown as stored, with a note saying why.
import { controlPlane, type Schemas } from "./control-plane";
import { asProblem, postJson } from "./http";

export type CodecSettings = Schemas["CodecServerView"];

/** A payload as the API writes it without shorthand (`?noPayloadShorthand`). */
export interface FullPayload {
  metadata: Record<string, string>;
  data?: string;
}

export function getCodec(namespace: string): Promise<CodecSettings> {
  return controlPlane.request("GET", "/api/v1/namespaces/{namespace}/codec-server", { path: { namespace } });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

export function isFullPayload(v: unknown): v is FullPayload {
  if (!isRecord(v) || !isRecord(v.metadata)) return false;
  if (Object.keys(v).some((k) => k !== "metadata" && k !== "data")) return false;
  return Object.values(v.metadata).every((m) => typeof m === "string") && (v.data === undefined || typeof v.data === "string");
}

/** Every full-form payload inside `value`, in a stable walk order. */
function collect(value: unknown, out: FullPayload[]): void {
  if (isFullPayload(value)) {
    out.push(value);
  } else if (Array.isArray(value)) {
    for (const v of value) collect(v, out);
  } else if (isRecord(value)) {
    for (const v of Object.values(value)) collect(v, out);
  }
}

/** `value` with its payloads replaced, in the order `collect` found them. */
function replace(value: unknown, next: () => unknown): unknown {
  if (isFullPayload(value)) return next();
  if (Array.isArray(value)) return value.map((v) => replace(v, next));
  if (isRecord(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = replace(v, next);
    return out;
  }
  return value;
}

export interface Decoded<T> {
  value: T;
  /** Empty when decoded (or nothing to decode); otherwise why the payloads are raw. */
  problem: string;
  /** How many payloads the codec server decoded. */
  count: number;
}

/**
 * Sends the payloads inside `value` to the codec server in one request and
 * returns `value` with the answers in their place (or unchanged, with the
 * problem, when the codec server fails or answers something else).
 */
export async function decodeWith<T>(
  codec: CodecSettings,
  namespace: string,
  token: () => Promise<string>,
  value: T,
): Promise<Decoded<T>> {
  const payloads: FullPayload[] = [];
  collect(value, payloads);
  if (!codec.endpoint || payloads.length === 0) return { value, problem: "", count: 0 };
  const url = `${codec.endpoint.replace(/\/+$/, "")}/decode`;
  try {
    const headers: Record<string, string> = { "x-namespace": namespace };
    if (codec.pass_access_token) headers.authorization = `Bearer ${await token()}`;
    const answer = await postJson(url, { payloads }, headers, codec.include_credentials ? "include" : "omit");
    const decoded = isRecord(answer) && Array.isArray(answer.payloads) ? answer.payloads : null;
    if (!decoded || decoded.length !== payloads.length || !decoded.every(isFullPayload)) {
      throw new Error(`it answered ${decoded ? `${decoded.length} payloads for ${payloads.length}` : "no payloads list"}`);
    }
    let i = 0;
    return { value: replace(value, () => decoded[i++]) as T, problem: "", count: payloads.length };
  } catch (err) {
    return { value, problem: `The codec server at ${url} failed (${asProblem(err).detail}): payloads are shown as stored.`, count: 0 };
  }
}
