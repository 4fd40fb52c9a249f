import { useEffect, useState } from "react";
import { controlPlane } from "../api/control-plane";
import { Form } from "../components/Form";
import { Notice, Page, Section } from "../components/ui";
import { useMe, useSession } from "../session";

export function AccountPage() {
  const me = useMe();
  const { refresh } = useSession();
  // The role or email may have changed since the session began.
  useEffect(() => void refresh(), [refresh]);
  const [changed, setChanged] = useState(false);
  return (
    <Page title="Account">
      <dl className="details">
        <dt>Account</dt>
        <dd>{me.account.name}</dd>
        <dt>Slug</dt>
        <dd>
          <code>{me.account.slug}</code>
          <span className="muted">
            {" "}
            (namespace ids end in <code>.{me.account.slug}</code>)
          </span>
        </dd>
        <dt>Account id</dt>
        <dd>
          <code>{me.account.id}</code>
        </dd>
        <dt>You</dt>
        <dd>{me.email ?? me.principal}</dd>
        <dt>Role</dt>
        <dd>{me.role}</dd>
      </dl>
      {me.email ? (
        <Section title="Password">
          <Form
            id="password"
            fields={[
              { name: "current_password", label: "Current password", type: "password", required: true, autocomplete: "current-password" },
              {
                name: "new_password",
                label: "New password",
                type: "password",
                required: true,
                autocomplete: "new-password",
                hint: "At least 12 characters. Your other sessions end.",
              },
            ]}
            submitLabel="Change password"
            onSubmit={async (v, form) => {
              setChanged(false);
              await controlPlane.request("POST", "/api/v1/me/password", {
                body: { current_password: v.text("current_password"), new_password: v.text("new_password") },
              });
              form.reset();
              setChanged(true);
            }}
          />
          {changed ? <Notice>Password changed.</Notice> : null}
        </Section>
      ) : null}
    </Page>
  );
}
