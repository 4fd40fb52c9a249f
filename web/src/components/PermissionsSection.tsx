// Who may use a namespace beyond the account roles: explicit grants to
// users and service accounts.
import { useState } from "react";
import { controlPlane } from "../api/control-plane";
import { PERMISSIONS } from "../roles";
import { Form, type FieldSpec } from "./Form";
import { ActionButton, DataTable, ErrorBox, Section, Show, useLoad } from "./ui";

/** Names for principals, where the caller may read them (a reader may not list users). */
async function principalNames(): Promise<Map<string, string>> {
  const [users, accounts] = await Promise.all([
    controlPlane.request("GET", "/api/v1/users").catch(() => []),
    controlPlane.request("GET", "/api/v1/service-accounts").catch(() => []),
  ]);
  const names = new Map<string, string>();
  for (const u of users) names.set(`user:${u.id}`, u.email);
  for (const sa of accounts) names.set(sa.principal, `${sa.name} (service account)`);
  return names;
}

/** `admin`: the caller administers the namespace; only then are grants
 * changed here (the API refuses the others). */
export function PermissionsSection({ namespace, admin }: { namespace: string; admin: boolean }) {
  const [state, reload] = useLoad(async () => {
    const [names, grants] = await Promise.all([
      principalNames(),
      controlPlane.request("GET", "/api/v1/namespaces/{namespace}/permissions", { path: { namespace } }),
    ]);
    return { names, grants };
  }, namespace);
  const [problem, setProblem] = useState<unknown>(null);
  return (
    <Section title="Permissions">
      <Show state={state} what="permissions">
        {({ names, grants }) => {
          const principal: FieldSpec = names.size
            ? { name: "principal", label: "User or service account", type: "select", options: [...names] }
            : { name: "principal", label: "Principal", required: true, placeholder: "user:<id> or service-account:<id>" };
          return (
            <>
              <DataTable
                caption="Namespace permissions"
                columns={admin ? ["Principal", "Permission", ""] : ["Principal", "Permission"]}
                rows={grants.map((g) => ({
                  key: g.principal,
                  cells: [
                    names.get(g.principal) ?? g.principal,
                    g.permission,
                    ...(admin ? [<ActionButton
                      label="Remove"
                      confirm
                      action={async () => {
                        setProblem(null);
                        await controlPlane.request("DELETE", "/api/v1/namespaces/{namespace}/permissions/{principal}", {
                          path: { namespace, principal: g.principal },
                        });
                        await reload();
                      }}
                      onError={setProblem}
                    />] : []),
                  ],
                }))}
                empty="No explicit permissions. Owners and admins are namespace admins everywhere."
              />
              {problem ? <ErrorBox error={problem} /> : null}
              {admin ? <Form
                id="grant"
                fields={[principal, { name: "permission", label: "Permission", type: "select", options: PERMISSIONS, value: "write" }]}
                submitLabel="Grant"
                onSubmit={async (v) => {
                  await controlPlane.request("PUT", "/api/v1/namespaces/{namespace}/permissions/{principal}", {
                    path: { namespace, principal: v.text("principal") },
                    body: { permission: v.text("permission") as (typeof PERMISSIONS)[number] },
                  });
                  await reload();
                }}
              /> : null}
            </>
          );
        }}
      </Show>
    </Section>
  );
}
