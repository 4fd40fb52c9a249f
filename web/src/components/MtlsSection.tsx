// A namespace's mTLS: the CA bundle client certificates must chain to
// (uploaded, or generated here), and client certificates issued from the
// generated CA, whose private key is shown once.
import { useState, type ReactNode } from "react";
import { controlPlane, type MtlsView } from "../api/control-plane";
import { Form } from "./Form";
import { ActionButton, DataTable, ErrorBox, Notice, Secret, Section, Show, useLoad, when } from "./ui";

function describe(view: MtlsView): string {
  if (!view.enabled) return "No CA bundle: this namespace takes API keys only.";
  const generated = view.generated_ca ? ", one generated here" : "";
  return `Client certificates accepted from ${view.ca_certificates.length} CA certificate(s)${generated}.`;
}

/** `admin`: the caller administers the namespace; only then are the
 * buttons and forms that change mTLS shown (the API refuses the others). */
export function MtlsSection({ namespace, admin }: { namespace: string; admin: boolean }) {
  const path = { namespace };
  const [state, reload] = useLoad(() => controlPlane.request("GET", "/api/v1/namespaces/{namespace}/mtls", { path }), namespace);
  const [issued, setIssued] = useState<ReactNode>(null);
  const [problem, setProblem] = useState<unknown>(null);
  return (
    <Section title="mTLS">
      <Show state={state} what="the mTLS settings">
        {(view) => (
          <>
            <p data-testid="mtls-state">{describe(view)}</p>
            {view.ca_certificates.length ? (
              <DataTable
                caption="CA certificates"
                columns={["Subject", "Valid until", "SHA-256 fingerprint"]}
                rows={view.ca_certificates.map((c) => ({
                  key: c.fingerprint_sha256,
                  cells: [c.subject, when(c.not_after), <code className="fingerprint">{c.fingerprint_sha256}</code>],
                }))}
                empty=""
              />
            ) : null}
            {view.filters.length ? <p>Filters: {view.filters.map((f) => JSON.stringify(f)).join(", ")}</p> : null}
            {view.enabled && admin ? (
              <ActionButton
                label="Remove mTLS"
                confirm
                action={async () => {
                  setProblem(null);
                  await controlPlane.request("DELETE", "/api/v1/namespaces/{namespace}/mtls", { path });
                  setIssued(null);
                  await reload();
                }}
                onError={setProblem}
              />
            ) : null}
            {problem ? <ErrorBox error={problem} /> : null}
          </>
        )}
      </Show>
      {admin ? (
      <div className="columns">
        <div>
          <h3>Generate a CA here</h3>
          <Form
            id="mtls-generate"
            fields={[{ name: "validity_days", label: "CA validity (days)", type: "number", value: 365, min: 1, max: 3650 }]}
            submitLabel="Generate CA"
            onSubmit={async (v) => {
              const res = await controlPlane.request("POST", "/api/v1/namespaces/{namespace}/mtls/generated-ca", {
                path,
                body: { validity_days: v.number("validity_days") },
              });
              await reload();
              setIssued(<Secret label="Generated CA certificate" text={res.ca_pem} filename={`${namespace}-ca.pem`} testid="generated-ca" />);
            }}
          />
          <h3>Issue a client certificate</h3>
          <p className="muted">From the CA generated here.</p>
          <Form
            id="mtls-issue"
            fields={[
              { name: "common_name", label: "Common name", required: true, placeholder: "worker-1" },
              { name: "organizational_unit", label: "Organizational unit (optional)" },
              { name: "validity_days", label: "Validity (days)", type: "number", value: 30, min: 1, max: 365 },
            ]}
            submitLabel="Issue client certificate"
            onSubmit={async (v) => {
              const commonName = v.text("common_name");
              const res = await controlPlane.request("POST", "/api/v1/namespaces/{namespace}/mtls/client-certificates", {
                path,
                body: {
                  common_name: commonName,
                  organizational_unit: v.optional("organizational_unit"),
                  validity_days: v.number("validity_days"),
                },
              });
              const file = commonName.replace(/[^A-Za-z0-9._-]/g, "_");
              setIssued(
                <>
                  <Notice>
                    Certificate for {commonName}, valid until {when(res.expires_at)}. The private key is shown only now: it is stored
                    nowhere.
                  </Notice>
                  <Secret label="Private key (PKCS#8)" text={res.private_key_pem} filename={`${file}.key`} testid="client-key" />
                  <Secret label="Certificate" text={res.certificate_pem} filename={`${file}.pem`} testid="client-cert" />
                  <Secret label="CA certificate" text={res.ca_pem} filename={`${namespace}-ca.pem`} testid="client-ca" />
                </>,
              );
            }}
          />
        </div>
        <div>
          <h3>Or upload your own CA bundle</h3>
          <Form
            id="mtls-upload"
            fields={[
              {
                name: "ca_pem",
                label: "CA bundle (PEM)",
                type: "textarea",
                required: true,
                placeholder: "-----BEGIN CERTIFICATE-----",
                hint: "Replaces the bundle: include the old CA with the new one to rotate.",
              },
              { name: "common_name", label: "Only certificates with common name (optional)", placeholder: "worker-*" },
            ]}
            submitLabel="Upload CA bundle"
            onSubmit={async (v, form) => {
              const commonName = v.text("common_name");
              await controlPlane.request("PUT", "/api/v1/namespaces/{namespace}/mtls", {
                path,
                body: { ca_pem: v.text("ca_pem"), filters: commonName ? [{ common_name: commonName }] : [] },
              });
              form.reset();
              await reload();
            }}
          />
        </div>
      </div>
      ) : null}
      {issued}
    </Section>
  );
}
