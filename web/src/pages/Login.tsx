import { Form } from "../components/Form";
import { Link } from "../components/Link";
import { useSession } from "../session";

export function LoginPage() {
  const { logIn } = useSession();
  return (
    <div className="narrow">
      <h1 tabIndex={-1}>Log in</h1>
      <Form
        id="login"
        fields={[
          { name: "email", label: "Email", type: "email", required: true, autocomplete: "username" },
          { name: "password", label: "Password", type: "password", required: true, autocomplete: "current-password" },
        ]}
        submitLabel="Log in"
        onSubmit={(v) => logIn(v.text("email"), v.text("password"))}
      />
      <p>
        No account yet? <Link href="/signup">Sign up</Link> · <Link href="/accept-invitation">Accept an invitation</Link>
      </p>
    </div>
  );
}
