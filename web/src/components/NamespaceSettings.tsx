// A namespace's settings beyond retention: its payload codec server, its
// custom search attributes and archival. Everyone who reads the namespace
// sees them; only its admins get the buttons that change them (the API
// refuses the others anyway).
import { useEffect, useState } from "react";
import { openCell } from "../api/cell";
import { getCodec } from "../api/codec";
import { controlPlane, type Permission, type Schemas } from "../api/control-plane";
import { useSession } from "../session";
import { Form } from "./Form";
import { ActionButton, DataTable, ErrorBox, Section, Show, useLoad, when } from "./ui";

const TYPES: Schemas["SearchAttributeType"][] = ["Keyword", "Text", "Int", "Double", "Bool", "Datetime", "KeywordList"];

/**
 * The caller's permission on the namespace: account owners and admins
 * administer every namespace; anyone else holds what the console token
 * names (null while it is asked for; "read" when it cannot be).
 */
export function useNamespacePermission(namespace: string): Permission | null {
  const { me } = useSession();
  const accountAdmin = me?.role === "owner" || me?.role === "admin";
  const [permission, setPermission] = useState<Permission | null>(accountAdmin ? "admin" : null);
  useEffect(() => {
    if (accountAdmin) return;
    openCell(namespace).then(
      (cell) => setPermission(cell.permission),
      () => setPermission("read"),
    );
  }, [namespace, accountAdmin]);
  return permission;
}

export function CodecSection({ namespace, admin }: { namespace: string; admin: boolean }) {
  const path = { namespace };
  const [state, reload] = useLoad(() => getCodec(namespace), namespace);
  const [problem, setProblem] = useState<unknown>(null);
  return (
    <Section title="Codec server" testid="codec-server">
      <p className="muted">
        Your browser sends the payloads it shows to <code>&lt;endpoint&gt;/decode</code> (Temporal&apos;s codec-server protocol),
        so payloads you encrypt stay unreadable to Orrery. The codec server must allow this console&apos;s origin (CORS).
      </p>
      <Show state={state} what="the codec server setting">
        {(codec) => (
          <>
            <p data-testid="codec-state">
              {codec.endpoint ? (
                <>
                  Payloads are decoded by <code>{codec.endpoint}</code>
                  {codec.pass_access_token ? ", sending your console token" : ""}
                  {codec.include_credentials ? ", with your browser's cookies for it" : ""}
                  {codec.updated_at ? ` (set ${when(codec.updated_at)})` : ""}.
                </>
              ) : (
                "No codec server: payloads are shown as the API returns them."
              )}
            </p>
            {admin ? (
              <>
                <Form
                  id="codec"
                  fields={[
                    {
                      name: "endpoint",
                      label: "Codec server endpoint",
                      value: codec.endpoint,
                      placeholder: "https://codec.example.com",
                      hint: "https://, or http:// on localhost or 127.0.0.1",
                      autocomplete: "url",
                      required: true,
                    },
                    { name: "pass_access_token", label: "Pass the user's access token", type: "checkbox", checked: codec.pass_access_token },
                    {
                      name: "include_credentials",
                      label: "Include cross-origin credentials (cookies)",
                      type: "checkbox",
                      checked: codec.include_credentials,
                    },
                  ]}
                  submitLabel="Save codec server"
                  onSubmit={async (v) => {
                    await controlPlane.request("PUT", "/api/v1/namespaces/{namespace}/codec-server", {
                      path,
                      body: {
                        endpoint: v.text("endpoint").trim(),
                        pass_access_token: v.bool("pass_access_token"),
                        include_credentials: v.bool("include_credentials"),
                      },
                    });
                    await reload();
                  }}
                />
                {codec.endpoint ? (
                  <div className="actions">
                    <ActionButton
                      label="Remove codec server"
                      confirm
                      onError={setProblem}
                      action={async () => {
                        setProblem(null);
                        await controlPlane.request("DELETE", "/api/v1/namespaces/{namespace}/codec-server", { path });
                        await reload();
                      }}
                    />
                  </div>
                ) : null}
                {problem ? <ErrorBox error={problem} /> : null}
              </>
            ) : null}
          </>
        )}
      </Show>
    </Section>
  );
}

export function SearchAttributesSection({ namespace, admin }: { namespace: string; admin: boolean }) {
  const path = { namespace };
  const [state, reload] = useLoad(
    () => controlPlane.request("GET", "/api/v1/namespaces/{namespace}/search-attributes", { path }),
    namespace,
  );
  const [problem, setProblem] = useState<unknown>(null);
  return (
    <Section title="Custom search attributes" testid="search-attributes">
      <Show state={state} what="the search attributes">
        {(list) => (
          <DataTable
            testid="search-attribute-table"
            caption="Custom search attributes"
            columns={admin ? ["Name", "Type", ""] : ["Name", "Type"]}
            empty="No custom search attributes: list filters can use the system ones only."
            rows={list.map((a) => ({
              key: a.name,
              cells: [
                <code>{a.name}</code>,
                a.type,
                ...(admin
                  ? [
                      <ActionButton
                        label="Remove"
                        confirm
                        onError={setProblem}
                        action={async () => {
                          setProblem(null);
                          await controlPlane.request("DELETE", "/api/v1/namespaces/{namespace}/search-attributes/{name}", {
                            path: { namespace, name: a.name },
                          });
                          await reload();
                        }}
                      />,
                    ]
                  : []),
              ],
            }))}
          />
        )}
      </Show>
      {problem ? <ErrorBox error={problem} /> : null}
      {admin ? (
        <Form
          id="add-search-attribute"
          intro={<p className="muted">Removing one drops the values runs hold for it.</p>}
          fields={[
            { name: "name", label: "Name", required: true, autocomplete: "off", placeholder: "CustomerId" },
            { name: "type", label: "Type", type: "select", options: TYPES },
          ]}
          submitLabel="Add search attribute"
          onSubmit={async (v, form) => {
            await controlPlane.request("POST", "/api/v1/namespaces/{namespace}/search-attributes", {
              path,
              body: { name: v.text("name").trim(), type: v.text("type") as Schemas["SearchAttributeType"] },
            });
            form.reset();
            await reload();
          }}
        />
      ) : null}
    </Section>
  );
}

export function ArchivalSection({ namespace, admin }: { namespace: string; admin: boolean }) {
  const path = { namespace };
  const [state, reload] = useLoad(() => controlPlane.request("GET", "/api/v1/namespaces/{namespace}/archival", { path }), namespace);
  const onOff = (b: boolean): string => (b ? "on" : "off");
  return (
    <Section title="Archival" testid="archival">
      <Show state={state} what="the archival setting">
        {(archival) => (
          <>
            <p data-testid="archival-state">
              History archival is {onOff(archival.history)}; visibility archival is {onOff(archival.visibility)}. Closed runs
              are archived to the cell&apos;s archive.
            </p>
            {admin ? (
              <Form
                id="archival"
                fields={[
                  { name: "history", label: "Archive closed runs' histories", type: "checkbox", checked: archival.history },
                  { name: "visibility", label: "Archive closed runs' visibility records", type: "checkbox", checked: archival.visibility },
                ]}
                submitLabel="Save archival"
                onSubmit={async (v) => {
                  await controlPlane.request("PUT", "/api/v1/namespaces/{namespace}/archival", {
                    path,
                    body: { history: v.bool("history"), visibility: v.bool("visibility") },
                  });
                  await reload();
                }}
              />
            ) : null}
          </>
        )}
      </Show>
    </Section>
  );
}
