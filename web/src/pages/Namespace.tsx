import { controlPlane, type Namespace } from "../api/control-plane";
import { ApiProblem } from "../api/http";
import { Form } from "../components/Form";
import { ConnectWorker } from "../components/ConnectWorker";
import { Link } from "../components/Link";
import { MtlsSection } from "../components/MtlsSection";
import { ArchivalSection, CodecSection, SearchAttributesSection, useNamespacePermission } from "../components/NamespaceSettings";
import { PermissionsSection } from "../components/PermissionsSection";
import { Page, Section, Show, useLoad, when } from "../components/ui";
import { navigate } from "../router";

function Details({ ns }: { ns: Namespace }) {
  return (
    <dl className="details">
      <dt>Namespace id</dt>
      <dd>
        <code>{ns.id}</code>
      </dd>
      <dt>State</dt>
      <dd>{ns.state}</dd>
      <dt>gRPC endpoint</dt>
      <dd>
        <code data-testid="endpoint">{ns.grpc_endpoint}</code>
      </dd>
      <dt>Retention</dt>
      <dd data-testid="retention">{ns.retention_days} days</dd>
      <dt>Created</dt>
      <dd>{when(ns.created_at)}</dd>
      <dt>Updated</dt>
      <dd>{when(ns.updated_at)}</dd>
    </dl>
  );
}

export function NamespacePage({ id }: { id: string }) {
  const [state, reload] = useLoad(
    () => controlPlane.request("GET", "/api/v1/namespaces/{namespace}", { path: { namespace: id } }),
    id,
  );
  const back = <Link href="/namespaces">← Namespaces</Link>;
  const admin = useNamespacePermission(id) === "admin";
  return (
    <Page title={id} back={back}>
      <Show state={state} what="the namespace">
        {(ns) => (
          <>
            <Details ns={ns} />
            <p className="actions" data-testid="namespace-links">
              <Link href={`/namespaces/${encodeURIComponent(ns.id)}/workflows`}>Workflows</Link>
              <Link href={`/namespaces/${encodeURIComponent(ns.id)}/schedules`}>Schedules</Link>
              <Link href={`/namespaces/${encodeURIComponent(ns.id)}/activities`}>Standalone activities</Link>
              <Link href={`/namespaces/${encodeURIComponent(ns.id)}/workflows?view=archived`}>Archived workflows</Link>
            </p>
            <ConnectWorker ns={ns} />
            {admin ? <Section title="Retention">
              <Form
                id="retention"
                fields={[
                  { name: "retention_days", label: "Retention (days)", type: "number", value: ns.retention_days, min: 1, max: 90 },
                ]}
                submitLabel="Save retention"
                onSubmit={async (v) => {
                  await controlPlane.request("PATCH", "/api/v1/namespaces/{namespace}", {
                    path: { namespace: id },
                    body: { retention_days: v.number("retention_days") ?? Number.NaN },
                  });
                  await reload();
                }}
              />
            </Section> : null}
            <MtlsSection namespace={id} admin={admin} />
            <CodecSection namespace={id} admin={admin} />
            <SearchAttributesSection namespace={id} admin={admin} />
            <ArchivalSection namespace={id} admin={admin} />
            <PermissionsSection namespace={id} admin={admin} />
            {admin ? <Section title="Delete">
              <p className="muted">Deletes the namespace and its workflows on the cell.</p>
              <Form
                id="delete-namespace"
                danger
                fields={[{ name: "confirm", label: `Type ${ns.id} to confirm`, placeholder: ns.id, autocomplete: "off", required: true }]}
                submitLabel="Delete namespace"
                onSubmit={async (v) => {
                  if (v.text("confirm") !== ns.id) {
                    throw new ApiProblem(0, {
                      detail: "the namespace was not deleted",
                      errors: [{ field: "confirm", message: `type ${ns.id} to confirm` }],
                    });
                  }
                  await controlPlane.request("DELETE", "/api/v1/namespaces/{namespace}", { path: { namespace: id } });
                  navigate("/namespaces");
                }}
              />
            </Section> : null}
          </>
        )}
      </Show>
    </Page>
  );
}
