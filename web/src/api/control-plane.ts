// The control plane's REST API (/api/v1, described by web/openapi.json, a
// copy of /api/v1/openapi.json that control-plane/tests/console.rs keeps
// current; `npm run generate-api` turns it into control-plane.gen.ts).
//
// Sessions: POST /api/v1/login sets the HttpOnly `orrery_session` cookie and
// the script-readable `orrery_csrf` cookie and returns the same CSRF token;
// every non-GET request made with the cookie sends it as `x-csrf-token`.
import type { components, paths } from "./control-plane.gen";
import { createClient, type HttpMethod } from "./http";

export type Schemas = components["schemas"];
export type Me = Schemas["MeResponse"];
export type AccountRole = Schemas["AccountRole"];
export type Namespace = Schemas["NamespaceView"];
export type MtlsView = Schemas["MtlsView"];
export type ApiKey = Schemas["ApiKeyView"];
export type User = Schemas["UserView"];
export type ServiceAccount = Schemas["ServiceAccountView"];
export type AuditEntry = Schemas["AuditEntryView"];
export type UsageView = Schemas["UsageView"];
export type UsageRow = Schemas["UsageRowView"];
export type InvoicePreview = Schemas["InvoicePreview"];
export type InvoiceLine = Schemas["InvoiceLine"];
export type Permission = Schemas["Permission"];

const CSRF_COOKIE = "orrery_csrf";
const CSRF_HEADER = "x-csrf-token";

let csrf = "";

function readCookie(name: string): string {
  for (const pair of document.cookie.split(";")) {
    const [key, ...rest] = pair.trim().split("=");
    if (key === name) return rest.join("=");
  }
  return "";
}

/** Keeps the token a login answered (the cookie holds it after a reload). */
export function setCsrfToken(token: string): void {
  csrf = token;
}

let unauthorized: () => void = () => {};

/** What to do when an answer says the session ended (expired, logged out elsewhere). */
export function onSessionEnded(handler: () => void): void {
  unauthorized = handler;
}

export const controlPlane = createClient<paths>({
  baseUrl: "",
  headers: (method: HttpMethod): Record<string, string> => {
    if (method === "GET") return {};
    const token = csrf || readCookie(CSRF_COOKIE);
    return token ? { [CSRF_HEADER]: token } : {};
  },
  onUnauthorized: (_method, path) => {
    // A wrong password on the login form is not the end of a session.
    if (path !== "/api/v1/login") unauthorized();
  },
});
