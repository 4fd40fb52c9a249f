// Client-side routes on the History API: `/namespaces/orders.acme` is a
// page of the console; the control plane answers index.html for every GET
// outside /api/, /internal/ and /assets/ (control-plane/src/console.rs), so
// a reload or a shared link lands on the same page.
import { useSyncExternalStore } from "react";

const listeners = new Set<() => void>();

function notify(): void {
  for (const listener of listeners) listener();
}

window.addEventListener("popstate", notify);

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** The current path (`/namespaces`), re-rendering on navigation. */
export function usePath(): string {
  return useSyncExternalStore(subscribe, () => location.pathname);
}

/** The query string (`?run=…`), re-rendering when it changes. */
export function useSearch(): URLSearchParams {
  const search = useSyncExternalStore(subscribe, () => location.search);
  return new URLSearchParams(search);
}

/** Goes to `path`; `replace` keeps the history entry (redirects). */
export function navigate(path: string, replace = false): void {
  if (path === location.pathname + location.search) {
    notify();
    return;
  }
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  window.scrollTo(0, 0);
  notify();
}

/** Links of the fragment-routed console (`/#/namespaces`) still work. */
export function upgradeHashRoute(): void {
  if (location.hash.startsWith("#/")) history.replaceState(null, "", location.hash.slice(1));
}

/**
 * Matches `path` against `pattern` (`/namespaces/:id`): the decoded
 * parameters, or null.
 */
export function match(pattern: string, path: string): Record<string, string> | null {
  const want = pattern.split("/");
  const got = path.replace(/\/+$/, "").split("/");
  if (want.length !== got.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i] ?? "";
    const g = got[i] ?? "";
    if (w.startsWith(":")) {
      if (!g) return null;
      try {
        params[w.slice(1)] = decodeURIComponent(g);
      } catch {
        return null;
      }
    } else if (w !== g) {
      return null;
    }
  }
  return params;
}
