import { useState } from "react";
import { controlPlane, type Namespace } from "../api/control-plane";
import { Form } from "../components/Form";
import { Link } from "../components/Link";
import { DataTable, Notice, Page, Section, Show, useLoad, when } from "../components/ui";
import { createsNamespaces } from "../roles";
import { useSession } from "../session";

export const namespacePath = (id: string): string => `/namespaces/${encodeURIComponent(id)}`;

export function NamespacesPage() {
  const [list, reload] = useLoad(() => controlPlane.request("GET", "/api/v1/namespaces"), "namespaces");
  const [created, setCreated] = useState<Namespace | null>(null);
  const { me } = useSession();
  const mayCreate = me ? createsNamespaces(me.role) : false;
  return (
    <Page title="Namespaces">
      <div data-testid="namespace-list">
        <Show state={list} what="namespaces">
          {(namespaces) => (
            <DataTable
              caption="Namespaces"
              columns={["Namespace", "State", "Retention", "gRPC endpoint", "Created", "Workflows"]}
              rows={namespaces.map((ns) => ({
                key: ns.id,
                cells: [
                  <Link href={namespacePath(ns.id)}>{ns.id}</Link>,
                  ns.state,
                  `${ns.retention_days} days`,
                  <code>{ns.grpc_endpoint}</code>,
                  when(ns.created_at),
                  <Link href={`${namespacePath(ns.id)}/workflows`} aria-label={`Workflows of ${ns.id}`}>
                    Workflows
                  </Link>,
                ],
              }))}
              empty={mayCreate ? "No namespaces yet: create one below." : "No namespaces yet."}
            />
          )}
        </Show>
      </div>
      {mayCreate ? <Section title="Create a namespace">
        <Form
          id="create-namespace"
          fields={[
            {
              name: "name",
              label: "Name",
              required: true,
              placeholder: "orders",
              hint: "Lower-case letters, digits and dashes; 2–39 characters.",
            },
            { name: "retention_days", label: "Retention (days)", type: "number", value: 30, min: 1, max: 90 },
          ]}
          submitLabel="Create namespace"
          onSubmit={async (v, form) => {
            const ns = await controlPlane.request("POST", "/api/v1/namespaces", {
              body: { name: v.text("name"), retention_days: v.number("retention_days") },
            });
            form.reset();
            setCreated(ns);
            await reload();
          }}
        />
        {created ? (
          <Notice testid="namespace-created">
            <p>
              Created namespace{" "}
              <Link href={namespacePath(created.id)}>
                <code data-testid="namespace-id">{created.id}</code>
              </Link>
              .
            </p>
            <p>
              gRPC endpoint: <code data-testid="namespace-endpoint">{created.grpc_endpoint}</code>
            </p>
            <p className="muted">Connect an SDK with this namespace id and endpoint, using an API key or a client certificate.</p>
          </Notice>
        ) : null}
      </Section> : null}
    </Page>
  );
}
