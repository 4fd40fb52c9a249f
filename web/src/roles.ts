// What each account role may use, as the API's roles decide it
// (control-plane/src/roles.rs): the nav shows a role only the pages it can
// load. A finance admin reads usage and invoices and nothing else of the
// account, but keeps its own API keys and password.
// control-plane/tests/console.rs checks these lists against the server's roles.
import type { AccountRole, Permission } from "./api/control-plane";

export const ROLES: AccountRole[] = ["owner", "admin", "developer", "read", "finance_admin"];
/** Cloud's Metrics Read-Only: a service account's role (users cannot hold it). */
export const SERVICE_ACCOUNT_ROLES: AccountRole[] = [...ROLES.filter((r) => r !== "owner"), "metrics_read"];
export const PERMISSIONS: Permission[] = ["read", "write", "admin"];

export const MANAGES_ACCOUNT: AccountRole[] = ["owner", "admin"];
export const READS_USAGE: AccountRole[] = ["owner", "admin", "finance_admin"];
export const READS_NO_ACCOUNT_DATA: AccountRole[] = ["finance_admin", "metrics_read"];

export const readsAccount = (role: AccountRole): boolean => !READS_NO_ACCOUNT_DATA.includes(role);
export const managesAccount = (role: AccountRole): boolean => MANAGES_ACCOUNT.includes(role);
export const readsUsage = (role: AccountRole): boolean => READS_USAGE.includes(role);
/** Who may create namespaces (control-plane/src/roles.rs, creates_namespaces). */
export const CREATES_NAMESPACES: AccountRole[] = ["owner", "admin", "developer"];
export const createsNamespaces = (role: AccountRole): boolean => CREATES_NAMESPACES.includes(role);

/** Where a signed-in caller lands: its first page. */
export function home(role: AccountRole): string {
  return readsAccount(role) ? "/namespaces" : "/usage";
}
