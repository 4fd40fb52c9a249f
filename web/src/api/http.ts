// A small typed client for a JSON API described by an OpenAPI document, as
// openapi-typescript renders it (`paths`). The console has one instance per
// API it talks to (control-plane.ts: the control plane's REST API; a cell's
// Temporal HTTP API gets a second instance over its own generated types).
//
// Every request of the console goes through `request` here (the only
// `fetch`), called with the method and the path template written out
// literally (`request("GET", "/api/v1/namespaces/{namespace}", …)`), so
// TypeScript checks each call against the document and
// control-plane/tests/console.rs can list them.

export type HttpMethod = "GET" | "PUT" | "POST" | "DELETE" | "PATCH";

/** One entry of a problem's `errors[]`: a field and what is wrong with it. */
export interface FieldProblem {
  field: string;
  message: string;
}

/** An RFC 9457 problem (or a failure that is not one, shaped like one). */
export class ApiProblem extends Error {
  readonly status: number;
  readonly detail: string;
  readonly errors: FieldProblem[];
  readonly type: string;

  constructor(status: number, body: unknown) {
    const problem = body !== null && typeof body === "object" ? (body as Record<string, unknown>) : {};
    const text = (v: unknown): string => (typeof v === "string" ? v : "");
    // A problem's `detail`, or the `message` of a Temporal HTTP API error
    // (`{"code": 3, "message": "invalid query: …"}`).
    const detail =
      text(problem.detail) || text(problem.message) || text(problem.title) || `the server answered HTTP ${status}`;
    super(detail);
    this.status = status;
    this.detail = detail;
    this.type = text(problem.type);
    this.errors = Array.isArray(problem.errors)
      ? problem.errors.flatMap((e: unknown) => {
          if (e === null || typeof e !== "object") return [];
          const { field, message } = e as Record<string, unknown>;
          return typeof field === "string" && typeof message === "string" ? [{ field, message }] : [];
        })
      : [];
  }
}

/** Any failure as a problem: what pages and forms show. */
export function asProblem(err: unknown): ApiProblem {
  if (err instanceof ApiProblem) return err;
  return new ApiProblem(0, { detail: err instanceof Error ? err.message : String(err) });
}

// -- types derived from openapi-typescript's `paths` ----------------------

type Lower<M extends HttpMethod> = Lowercase<M>;

/** The operation at `path` for `method`, or never. */
type OperationOf<Paths, K extends keyof Paths, M extends HttpMethod> = Paths[K] extends {
  [m in Lower<M>]: infer Op;
}
  ? Op
  : never;

/** The path templates that have an operation for `method`. */
export type PathsFor<Paths, M extends HttpMethod> = {
  [K in keyof Paths]: [OperationOf<Paths, K, M>] extends [never] ? never : K;
}[keyof Paths] &
  string;

type PathParams<Op> = Op extends { parameters: { path: infer X } } ? X : never;
type QueryParams<Op> = Op extends { parameters: { query?: infer Q } } ? Q : never;
type RequestBodyOf<Op> = Op extends { requestBody?: infer R } ? Exclude<R, undefined> : never;
type JsonBody<Op> = [RequestBodyOf<Op>] extends [never]
  ? never
  : RequestBodyOf<Op> extends { content: { "application/json": infer B } }
    ? Op extends { requestBody: unknown }
      ? B
      : B | undefined
    : never;

type SuccessStatus = 200 | 201 | 202 | 204;
type Responses<Op> = Op extends { responses: infer R } ? R : never;
/** The JSON a successful answer carries (undefined for 204). */
export type SuccessOf<Op> = {
  [S in Extract<keyof Responses<Op>, SuccessStatus>]: Responses<Op>[S] extends {
    content: { "application/json": infer T };
  }
    ? T
    : undefined;
}[Extract<keyof Responses<Op>, SuccessStatus>];

type Options<Op> = { headers?: Record<string, string>; signal?: AbortSignal } & ([PathParams<Op>] extends [never] | [undefined] ? { path?: undefined } : { path: PathParams<Op> }) &
  ([QueryParams<Op>] extends [never] | [undefined] ? { query?: undefined } : { query?: QueryParams<Op> }) &
  ([JsonBody<Op>] extends [never] ? { body?: undefined } : { body: JsonBody<Op> });

type NeedsOptions<O> = O extends { path: unknown } ? true : O extends { body: unknown } ? true : false;

/** The trailing argument: required when the operation has path parameters or a body. */
export type OptionsArg<Op> = NeedsOptions<Options<Op>> extends true ? [Options<Op>] : [Options<Op>?];

export type Response<Paths, M extends HttpMethod, K extends keyof Paths> = SuccessOf<OperationOf<Paths, K, M>>;

// -- the client ------------------------------------------------------------

export interface ClientOptions {
  /** Prefix of every path (empty: this origin). */
  baseUrl: string;
  /** Headers added to each request (e.g. a CSRF token on mutating ones). */
  headers?: (method: HttpMethod) => Record<string, string>;
  /** Called on a 401 answer (the session ended) before the problem is thrown. */
  onUnauthorized?: (method: HttpMethod, path: string) => void;
}

type Scalar = string | number | boolean;

/** `/a/{b}` with `{b: "x y"}` → `/a/x%20y`; query values appended in order. */
function buildUrl(
  base: string,
  template: string,
  path: Record<string, Scalar> | undefined,
  query: Record<string, Scalar | null | undefined> | undefined,
): string {
  const filled = template.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const value = path?.[name];
    if (value === undefined) throw new Error(`${template}: no value for {${name}}`);
    return encodeURIComponent(String(value));
  });
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== "") search.append(key, String(value));
  }
  const qs = search.toString();
  return `${base}${filled}${qs ? `?${qs}` : ""}`;
}

export interface Client<Paths> {
  request<M extends HttpMethod, K extends PathsFor<Paths, M>>(
    method: M,
    path: K,
    ...options: OptionsArg<OperationOf<Paths, K, M>>
  ): Promise<SuccessOf<OperationOf<Paths, K, M>>>;
  /** A URL the browser fetches itself (a download link): GETs only. */
  url<K extends PathsFor<Paths, "GET">>(
    method: "GET",
    path: K,
    ...options: OptionsArg<OperationOf<Paths, K, "GET">>
  ): string;
}

interface LooseOptions {
  /** Headers of this request only (e.g. `grpc-timeout` on a long poll). */
  headers?: Record<string, string>;
  /** Aborts the request (a long poll the page no longer waits for). */
  signal?: AbortSignal;
  path?: Record<string, Scalar>;
  query?: Record<string, Scalar | null | undefined>;
  body?: unknown;
}

/** The console's one network call: the answer's status and its JSON (or text as a problem). */
async function exchange(url: string, init: RequestInit): Promise<{ status: number; data: unknown }> {
  let res: globalThis.Response;
  try {
    res = await fetch(url, init);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new ApiProblem(0, { detail: `the server cannot be reached: ${why}` });
  }
  const text = await res.text();
  let data: unknown = undefined;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { detail: text.slice(0, 300) };
    }
  }
  return { status: res.status, data };
}

/**
 * POSTs JSON to an address outside the generated APIs: a namespace's codec
 * server (Temporal's codec-server protocol, web/src/api/codec.ts), whose
 * address, headers and credentials mode the namespace's settings decide.
 */
export async function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string>,
  credentials: RequestCredentials,
): Promise<unknown> {
  const { status, data } = await exchange(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json", ...headers },
    body: JSON.stringify(body),
    credentials,
    cache: "no-store",
  });
  if (status < 200 || status > 299) throw new ApiProblem(status, data);
  return data;
}

export function createClient<Paths>(config: ClientOptions): Client<Paths> {
  async function send(method: HttpMethod, template: string, options: LooseOptions = {}): Promise<unknown> {
    const url = buildUrl(config.baseUrl, template, options.path, options.query);
    const headers: Record<string, string> = {
      accept: "application/json, application/problem+json",
      ...config.headers?.(method),
      ...options.headers,
    };
    if (options.body !== undefined) headers["content-type"] = "application/json";
    const { status, data } = await exchange(url, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      credentials: "same-origin",
      cache: "no-store",
      signal: options.signal,
    });
    if (status < 200 || status > 299) {
      if (status === 401) config.onUnauthorized?.(method, template);
      throw new ApiProblem(status, data);
    }
    return data;
  }
  return {
    request: ((method: HttpMethod, path: string, options?: LooseOptions) =>
      send(method, path, options)) as Client<Paths>["request"],
    url: ((_method: "GET", path: string, options?: LooseOptions) =>
      buildUrl(config.baseUrl, path, options?.path, options?.query)) as Client<Paths>["url"],
  };
}
