import { useState } from "react";
import { controlPlane } from "../api/control-plane";
import { Form } from "../components/Form";
import { Link } from "../components/Link";
import { RoleSelect } from "../components/RoleSelect";
import { ActionButton, DataTable, ErrorBox, Page, Section, Show, useLoad, when } from "../components/ui";
import { SERVICE_ACCOUNT_ROLES } from "../roles";

export function ServiceAccountsPage() {
  const [state, reload] = useLoad(() => controlPlane.request("GET", "/api/v1/service-accounts"), "service-accounts");
  const [problem, setProblem] = useState<unknown>(null);
  return (
    <Page title="Service accounts">
      <p className="muted">
        Service accounts authenticate with API keys (create them under <Link href="/api-keys">API keys</Link>, owner: the service
        account).
      </p>
      {problem ? <ErrorBox error={problem} /> : null}
      <Show state={state} what="service accounts">
        {(accounts) => (
          <DataTable
            caption="Service accounts"
            columns={["Name", "Description", "Role", "Principal", "Created", "Actions"]}
            rows={accounts.map((sa) => ({
              key: sa.id,
              cells: [
                sa.name,
                sa.description,
                <RoleSelect
                  current={sa.role}
                  roles={SERVICE_ACCOUNT_ROLES}
                  label={`Role of ${sa.name}`}
                  onChange={async (role) => {
                    setProblem(null);
                    await controlPlane.request("PATCH", "/api/v1/service-accounts/{id}", { path: { id: sa.id }, body: { role } });
                    await reload();
                  }}
                  onError={setProblem}
                />,
                <code>{sa.principal}</code>,
                when(sa.created_at),
                <ActionButton
                  label="Delete"
                  confirm
                  action={async () => {
                    setProblem(null);
                    await controlPlane.request("DELETE", "/api/v1/service-accounts/{id}", { path: { id: sa.id } });
                    await reload();
                  }}
                  onError={setProblem}
                />,
              ],
            }))}
            empty="No service accounts yet."
          />
        )}
      </Show>
      <Section title="Create a service account">
        <Form
          id="create-service-account"
          fields={[
            { name: "name", label: "Name", required: true, placeholder: "deployer" },
            { name: "description", label: "Description (optional)" },
            { name: "role", label: "Role", type: "select", options: SERVICE_ACCOUNT_ROLES, value: "read" },
          ]}
          submitLabel="Create service account"
          onSubmit={async (v, form) => {
            await controlPlane.request("POST", "/api/v1/service-accounts", {
              body: {
                name: v.text("name"),
                description: v.text("description"),
                role: v.text("role") as (typeof SERVICE_ACCOUNT_ROLES)[number],
              },
            });
            form.reset();
            await reload();
          }}
        />
      </Section>
    </Page>
  );
}
