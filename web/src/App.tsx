// The console's frame: the header (account, user, log out), the nav a role
// is shown, and the page the path names. Public pages (login, signup,
// accepting an invitation) need no session; every other page does.
import { useEffect, useRef, useState, type ReactNode } from "react";
import type { AccountRole } from "./api/control-plane";
import { Link } from "./components/Link";
import { ErrorBox, Loading, Notice } from "./components/ui";
import { AcceptInvitationPage } from "./pages/AcceptInvitation";
import { AccountPage } from "./pages/Account";
import { ActivitiesPage, ActivityPage } from "./pages/Activities";
import { ApiKeysPage } from "./pages/ApiKeys";
import { AuditPage } from "./pages/Audit";
import { LoginPage } from "./pages/Login";
import { NamespacePage } from "./pages/Namespace";
import { NamespacesPage } from "./pages/Namespaces";
import { SchedulePage, SchedulesPage } from "./pages/Schedules";
import { ServiceAccountsPage } from "./pages/ServiceAccounts";
import { SignupPage } from "./pages/Signup";
import { TaskQueuePage } from "./pages/TaskQueue";
import { UsagePage } from "./pages/Usage";
import { UsersPage } from "./pages/Users";
import { WorkflowPage } from "./pages/Workflow";
import { WorkflowsPage } from "./pages/Workflows";
import { home, managesAccount, readsAccount, readsUsage } from "./roles";
import { match, navigate, usePath } from "./router";
import { useSession } from "./session";

interface Route {
  pattern: string;
  title: string;
  /** The nav's label; pages without one are reached by links. */
  nav?: string;
  allowed: (role: AccountRole) => boolean;
  render: (params: Record<string, string>) => ReactNode;
}

const always = (): boolean => true;

/** Pages behind a session, in nav order. */
export const ROUTES: Route[] = [
  { pattern: "/namespaces", title: "Namespaces", nav: "Namespaces", allowed: readsAccount, render: () => <NamespacesPage /> },
  {
    pattern: "/namespaces/:id",
    title: "Namespace",
    allowed: readsAccount,
    render: ({ id }) => <NamespacePage key={id} id={id ?? ""} />,
  },
  {
    pattern: "/namespaces/:id/workflows",
    title: "Workflows",
    allowed: readsAccount,
    render: ({ id }) => <WorkflowsPage key={id} namespace={id ?? ""} />,
  },
  {
    pattern: "/namespaces/:id/workflows/:workflow",
    title: "Workflow",
    allowed: readsAccount,
    render: ({ id, workflow }) => <WorkflowPage key={`${id}/${workflow}`} namespace={id ?? ""} workflowId={workflow ?? ""} />,
  },
  {
    pattern: "/namespaces/:id/schedules",
    title: "Schedules",
    allowed: readsAccount,
    render: ({ id }) => <SchedulesPage key={id} namespace={id ?? ""} />,
  },
  {
    pattern: "/namespaces/:id/schedules/:schedule",
    title: "Schedule",
    allowed: readsAccount,
    render: ({ id, schedule }) => <SchedulePage key={`${id}/${schedule}`} namespace={id ?? ""} id={schedule ?? ""} />,
  },
  {
    pattern: "/namespaces/:id/activities",
    title: "Standalone activities",
    allowed: readsAccount,
    render: ({ id }) => <ActivitiesPage key={id} namespace={id ?? ""} />,
  },
  {
    pattern: "/namespaces/:id/activities/:activity",
    title: "Activity",
    allowed: readsAccount,
    render: ({ id, activity }) => <ActivityPage key={`${id}/${activity}`} namespace={id ?? ""} activityId={activity ?? ""} />,
  },
  {
    pattern: "/namespaces/:id/task-queues/:queue",
    title: "Task queue",
    allowed: readsAccount,
    render: ({ id, queue }) => <TaskQueuePage key={`${id}/${queue}`} namespace={id ?? ""} queue={queue ?? ""} />,
  },
  { pattern: "/api-keys", title: "API keys", nav: "API keys", allowed: always, render: () => <ApiKeysPage /> },
  { pattern: "/users", title: "Users", nav: "Users", allowed: readsAccount, render: () => <UsersPage /> },
  {
    pattern: "/service-accounts",
    title: "Service accounts",
    nav: "Service accounts",
    allowed: readsAccount,
    render: () => <ServiceAccountsPage />,
  },
  { pattern: "/audit", title: "Audit log", nav: "Audit log", allowed: managesAccount, render: () => <AuditPage /> },
  { pattern: "/usage", title: "Usage", nav: "Usage", allowed: readsUsage, render: () => <UsagePage /> },
  { pattern: "/account", title: "Account", nav: "Account", allowed: always, render: () => <AccountPage /> },
];

const PUBLIC: Record<string, { title: string; render: () => ReactNode }> = {
  "/login": { title: "Log in", render: () => <LoginPage /> },
  "/signup": { title: "Sign up", render: () => <SignupPage /> },
  "/accept-invitation": { title: "Accept an invitation", render: () => <AcceptInvitationPage /> },
};

function Header() {
  const { me, logOut } = useSession();
  const path = usePath();
  const [open, setOpen] = useState(false);
  const [problem, setProblem] = useState<unknown>(null);
  useEffect(() => setOpen(false), [path]);
  return (
    <header id="top">
      <a className="skip" href="#view">
        Skip to content
      </a>
      <Link className="brand" href={me ? home(me.role) : "/login"}>
        Orrery
      </Link>
      {me ? (
        <>
          <button
            type="button"
            className="menu-toggle"
            aria-expanded={open}
            aria-controls="nav"
            onClick={() => setOpen(!open)}
          >
            Menu
          </button>
          <nav id="nav" aria-label="Console" className={open ? "open" : undefined}>
            {ROUTES.filter((r) => r.nav && r.allowed(me.role)).map((r) => {
              const current = path === r.pattern || path.startsWith(`${r.pattern}/`);
              return (
                <Link key={r.pattern} href={r.pattern} className={current ? "current" : undefined} aria-current={current ? "page" : undefined}>
                  {r.nav}
                </Link>
              );
            })}
          </nav>
          <div id="whoami">
            <span id="account-label" data-slug={me.account.slug}>
              {me.account.name} ({me.account.slug})
            </span>
            <span id="user-label">
              {me.email ?? me.principal} · {me.role}
            </span>
            <button
              type="button"
              id="logout"
              onClick={() => {
                setProblem(null);
                logOut().catch(setProblem);
              }}
            >
              Log out
            </button>
          </div>
        </>
      ) : null}
      {problem ? <ErrorBox error={problem} /> : null}
    </header>
  );
}

/** What the path shows, with its document title. */
function useView(): { title: string; content: ReactNode; isPublic: boolean } {
  const { me, error } = useSession();
  const path = usePath();
  const pub = PUBLIC[path];
  // Signed in already: logging in or signing up again is not what is wanted.
  if (me && (path === "/login" || path === "/signup")) {
    return { title: "", content: <Redirect to={home(me.role)} />, isPublic: false };
  }
  if (pub) return { title: pub.title, content: pub.render(), isPublic: true };
  if (me === undefined) {
    return { title: "Loading", content: error ? <ErrorBox error={error} /> : <Loading what="your session" />, isPublic: false };
  }
  if (me === null) return { title: "Log in", content: <Redirect to="/login" />, isPublic: false };
  for (const route of ROUTES) {
    const params = match(route.pattern, path);
    if (!params) continue;
    if (!route.allowed(me.role)) {
      return {
        title: route.title,
        content: (
          <>
            <h1 tabIndex={-1}>{route.title}</h1>
            <p className="error" role="alert">
              Your role ({me.role}) cannot use this page. <Link href={home(me.role)}>Go to your first page</Link>.
            </p>
          </>
        ),
        isPublic: false,
      };
    }
    return { title: route.title, content: route.render(params), isPublic: false };
  }
  if (path === "/" || path === "") return { title: "", content: <Redirect to={home(me.role)} />, isPublic: false };
  return {
    title: "Not found",
    content: (
      <>
        <h1 tabIndex={-1}>Page not found</h1>
        <p>
          The console has no page at <code>{path}</code>. <Link href={home(me.role)}>Go to your first page</Link>.
        </p>
      </>
    ),
    isPublic: false,
  };
}

function Redirect({ to }: { to: string }) {
  useEffect(() => navigate(to, true), [to]);
  return null;
}

export function App() {
  const { flash, me } = useSession();
  const path = usePath();
  const { title, content, isPublic } = useView();
  const main = useRef<HTMLElement>(null);
  const first = useRef(true);

  useEffect(() => {
    document.title = title ? `${title} · Orrery console` : "Orrery console";
  }, [title]);

  // After a navigation, focus goes to the new page (its first field on the
  // public forms, its heading elsewhere) so keyboard and screen-reader users
  // start there; the first load leaves focus where the browser puts it.
  useEffect(() => {
    const initial = first.current;
    first.current = false;
    const view = main.current;
    if (!view) return;
    const target = isPublic
      ? view.querySelector<HTMLElement>("input, select, textarea")
      : initial
        ? null
        : view.querySelector<HTMLElement>("h1");
    target?.focus();
  }, [path, isPublic, me === null]);

  return (
    <>
      <Header />
      <main id="view" ref={main} tabIndex={-1}>
        {flash && flash.path === path ? <Notice testid="flash">{flash.text}</Notice> : null}
        {content}
      </main>
    </>
  );
}
