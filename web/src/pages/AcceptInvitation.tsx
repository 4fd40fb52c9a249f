import { controlPlane } from "../api/control-plane";
import { Form } from "../components/Form";
import { Link } from "../components/Link";
import { useSession } from "../session";

export function AcceptInvitationPage() {
  const { logIn } = useSession();
  return (
    <div className="narrow">
      <h1 tabIndex={-1}>Accept an invitation</h1>
      <Form
        id="accept"
        fields={[
          { name: "token", label: "Invitation token", required: true, autocomplete: "off" },
          {
            name: "password",
            label: "Choose a password",
            type: "password",
            required: true,
            autocomplete: "new-password",
            hint: "At least 12 characters.",
          },
        ]}
        submitLabel="Accept"
        onSubmit={async (v) => {
          const password = v.text("password");
          const user = await controlPlane.request("POST", "/api/v1/invitations/accept", {
            body: { token: v.text("token").trim(), password },
          });
          await logIn(user.email, password, `Welcome, ${user.email}. You are signed in.`);
        }}
      />
      <p>
        Already accepted? <Link href="/login">Log in</Link>
      </p>
    </div>
  );
}
