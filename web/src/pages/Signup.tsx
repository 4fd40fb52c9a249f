import { controlPlane } from "../api/control-plane";
import { Form } from "../components/Form";
import { Link } from "../components/Link";
import { useSession } from "../session";

export function SignupPage() {
  const { logIn } = useSession();
  return (
    <div className="narrow">
      <h1 tabIndex={-1}>Sign up</h1>
      <Form
        id="signup"
        fields={[
          { name: "account_name", label: "Account name", required: true, placeholder: "Acme Inc", autocomplete: "organization" },
          { name: "email", label: "Email", type: "email", required: true, autocomplete: "username" },
          {
            name: "password",
            label: "Password",
            type: "password",
            required: true,
            autocomplete: "new-password",
            hint: "At least 12 characters.",
          },
        ]}
        submitLabel="Create account"
        onSubmit={async (v) => {
          const body = { account_name: v.text("account_name"), email: v.text("email"), password: v.text("password") };
          const res = await controlPlane.request("POST", "/api/v1/signup", { body });
          // Signup answers no session: the new owner is signed in with the
          // credentials just chosen, as they would at the login form.
          await logIn(body.email, body.password, `Account ${res.account.name} created. You are signed in as ${res.user.email}.`);
        }}
      />
      <p>
        Have an account? <Link href="/login">Log in</Link>
      </p>
    </div>
  );
}
