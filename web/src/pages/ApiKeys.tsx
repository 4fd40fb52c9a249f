import { useState, type ReactNode } from "react";
import { controlPlane } from "../api/control-plane";
import { Form } from "../components/Form";
import { ActionButton, DataTable, ErrorBox, Notice, Page, Secret, Section, Show, useLoad, when } from "../components/ui";
import { useMe } from "../session";

export function ApiKeysPage() {
  const me = useMe();
  const [state, reload] = useLoad(async () => {
    const [keys, accounts] = await Promise.all([
      controlPlane.request("GET", "/api/v1/api-keys"),
      // Only callers who may read service accounts can give them keys.
      controlPlane.request("GET", "/api/v1/service-accounts").catch(() => []),
    ]);
    return { keys, accounts };
  }, "api-keys");
  const [problem, setProblem] = useState<unknown>(null);
  const [created, setCreated] = useState<ReactNode>(null);
  const fail = (err: unknown): void => setProblem(err);
  async function act(action: () => Promise<unknown>): Promise<void> {
    setProblem(null);
    await action();
    await reload();
  }
  return (
    <Page title="API keys">
      {problem ? <ErrorBox error={problem} /> : null}
      <Show state={state} what="API keys">
        {({ keys, accounts }) => {
          const owners = new Map(accounts.map((sa) => [sa.principal, `${sa.name} (service account)`]));
          owners.set(me.principal, "me");
          return (
            <>
              <div data-testid="api-key-list">
                <DataTable
                  caption="API keys"
                  columns={["Name", "Owner", "State", "Expires", "Created", "Actions"]}
                  rows={keys.map((k) => {
                    const path = { id: k.id };
                    return {
                      key: k.id,
                      cells: [
                        k.name,
                        owners.get(k.owner) ?? k.owner,
                        <span data-testid={`key-state-${k.id}`}>{k.enabled ? "enabled" : "disabled"}</span>,
                        when(k.expires_at),
                        when(k.created_at),
                        <span className="actions">
                          {k.enabled ? (
                            <ActionButton
                              label="Disable"
                              action={() => act(() => controlPlane.request("POST", "/api/v1/api-keys/{id}/disable", { path }))}
                              onError={fail}
                            />
                          ) : (
                            <ActionButton
                              label="Enable"
                              action={() => act(() => controlPlane.request("POST", "/api/v1/api-keys/{id}/enable", { path }))}
                              onError={fail}
                            />
                          )}
                          <ActionButton
                            label="Delete"
                            confirm
                            action={() => act(() => controlPlane.request("DELETE", "/api/v1/api-keys/{id}", { path }))}
                            onError={fail}
                          />
                        </span>,
                      ],
                    };
                  })}
                  empty="No API keys yet."
                />
              </div>
              <Section title="Create an API key">
                <Form
                  id="create-api-key"
                  fields={[
                    { name: "name", label: "Name", required: true, placeholder: "ci" },
                    { name: "description", label: "Description (optional)" },
                    { name: "expiry_days", label: "Expires after (days)", type: "number", value: 30, min: 1, max: 90, hint: "1–90 days." },
                    {
                      name: "owner",
                      label: "Owner",
                      type: "select",
                      options: [["", "me"], ...accounts.map((sa): [string, string] => [sa.principal, `${sa.name} (service account)`])],
                    },
                  ]}
                  submitLabel="Create API key"
                  onSubmit={async (v, form) => {
                    const res = await controlPlane.request("POST", "/api/v1/api-keys", {
                      body: {
                        name: v.text("name"),
                        description: v.text("description"),
                        expiry_days: v.number("expiry_days") ?? Number.NaN,
                        owner: v.optional("owner"),
                      },
                    });
                    form.reset();
                    setCreated(
                      <>
                        <Notice>
                          API key {res.api_key.name} created; it expires {when(res.api_key.expires_at)}. Copy the secret now: it is shown only
                          once.
                        </Notice>
                        <Secret
                          label="Secret (send as authorization: Bearer …)"
                          text={res.token}
                          filename={`${res.api_key.name}.api-key`}
                          testid="api-key-secret"
                        />
                      </>,
                    );
                    await reload();
                  }}
                />
                {created}
              </Section>
            </>
          );
        }}
      </Show>
    </Page>
  );
}
