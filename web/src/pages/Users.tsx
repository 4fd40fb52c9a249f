import { useState, type ReactNode } from "react";
import { controlPlane } from "../api/control-plane";
import { Form } from "../components/Form";
import { RoleSelect } from "../components/RoleSelect";
import { ActionButton, DataTable, ErrorBox, Notice, Page, Secret, Section, Show, useLoad, when } from "../components/ui";
import { ROLES } from "../roles";
import { useMe } from "../session";

export function UsersPage() {
  const me = useMe();
  const [state, reload] = useLoad(() => controlPlane.request("GET", "/api/v1/users"), "users");
  const [problem, setProblem] = useState<unknown>(null);
  const [invited, setInvited] = useState<ReactNode>(null);
  return (
    <Page title="Users">
      {problem ? <ErrorBox error={problem} /> : null}
      <Show state={state} what="users">
        {(users) => (
          <DataTable
            caption="Users"
            columns={["Email", "Role", "State", "Created", "Actions"]}
            rows={users.map((u) => ({
              key: u.id,
              cells: [
                u.email,
                <RoleSelect
                  current={u.role}
                  roles={ROLES}
                  label={`Role of ${u.email}`}
                  onChange={async (role) => {
                    setProblem(null);
                    await controlPlane.request("PATCH", "/api/v1/users/{id}", { path: { id: u.id }, body: { role } });
                    await reload();
                  }}
                  onError={setProblem}
                />,
                u.state,
                when(u.created_at),
                `user:${u.id}` === me.principal ? (
                  <span className="muted">you</span>
                ) : (
                  <ActionButton
                    label="Remove"
                    confirm
                    action={async () => {
                      setProblem(null);
                      await controlPlane.request("DELETE", "/api/v1/users/{id}", { path: { id: u.id } });
                      await reload();
                    }}
                    onError={setProblem}
                  />
                ),
              ],
            }))}
            empty="No users."
          />
        )}
      </Show>
      <Section title="Invite a user">
        <Form
          id="invite"
          fields={[
            { name: "email", label: "Email", type: "email", required: true },
            { name: "role", label: "Role", type: "select", options: ROLES, value: "developer" },
          ]}
          submitLabel="Invite"
          onSubmit={async (v, form) => {
            const res = await controlPlane.request("POST", "/api/v1/users", {
              body: { email: v.text("email"), role: v.text("role") as (typeof ROLES)[number] },
            });
            form.reset();
            setInvited(
              <>
                <Notice>
                  Invited {res.user.email}. Give them this token (shown once, valid until {when(res.invite_expires_at)}); they accept it
                  under “Accept an invitation” on the login page.
                </Notice>
                <Secret label="Invitation token" text={res.invite_token} filename="invitation.txt" testid="invite-token" />
              </>,
            );
            await reload();
          }}
        />
        {invited}
      </Section>
    </Page>
  );
}
