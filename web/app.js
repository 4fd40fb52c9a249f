// The Orrery web console: a client of the public REST API (/api/v1, described
// by /api/v1/openapi.json) and nothing else. Plain JavaScript, no build step.
//
// Every request goes through the one `api` function below (the only fetch),
// called with the method and the path written out literally, here and in
// the page modules it passes `api` to (usage.js): control-plane/tests/console.rs
// extracts each call from every web/*.js file and checks it against the
// OpenAPI document. Shared DOM helpers live in dom.js, which makes no
// requests.
//
// Sessions: POST /api/v1/login sets the HttpOnly `orrery_session` cookie and
// the script-readable `orrery_csrf` cookie and returns the same CSRF token;
// every non-GET request made with the cookie sends it as `x-csrf-token`.
// Pages are built with DOM calls (textContent), never from HTML strings.

import { ApiProblem, actionButton, confirmButton, errorBox, form, h, notice, put, secret, section, table, when } from "./dom.js";
import { usagePage } from "./usage.js";

const CSRF_COOKIE = "orrery_csrf";
const ROLES = ["owner", "admin", "developer", "read", "finance_admin"];
// Cloud's Metrics Read-Only: a service account's role (users cannot hold it).
const SERVICE_ACCOUNT_ROLES = [...ROLES.filter((r) => r !== "owner"), "metrics_read"];
const PERMISSIONS = ["read", "write", "admin"];

const session = { me: null, csrf: null };

// -- the API --------------------------------------------------------------

function readCookie(name) {
  for (const pair of document.cookie.split(";")) {
    const [key, ...rest] = pair.trim().split("=");
    if (key === name) return rest.join("=");
  }
  return "";
}

function csrfToken() {
  return session.csrf || readCookie(CSRF_COOKIE);
}

async function api(method, path, body) {
  const headers = { accept: "application/json, application/problem+json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET") {
    const token = csrfToken();
    if (token) headers["x-csrf-token"] = token;
  }
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch (err) {
    throw new ApiProblem(0, { detail: `the control plane cannot be reached: ${err.message}` });
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { detail: text.slice(0, 300) };
    }
  }
  if (!res.ok) {
    const problem = new ApiProblem(res.status, data);
    if (res.status === 401 && path !== "/api/v1/login" && session.me) {
      // The session ended (expired, logged out elsewhere, password changed).
      session.me = null;
      session.csrf = null;
      showChrome();
      go("#/login");
    }
    throw problem;
  }
  return data;
}

const enc = encodeURIComponent;

// -- chrome and routing ---------------------------------------------------

// What each account role may use, as the API's roles decide it
// (control-plane/src/roles.rs): the nav shows a role only the pages it can
// load. A finance admin reads usage and invoices and nothing else of the
// account, but keeps its own API keys and password. control-plane/tests/console.rs
// checks these lists against the server's roles.
const MANAGES_ACCOUNT = ["owner", "admin"];
const READS_USAGE = ["owner", "admin", "finance_admin"];
const READS_NO_ACCOUNT_DATA = ["finance_admin", "metrics_read"];
const readsAccount = (role) => !READS_NO_ACCOUNT_DATA.includes(role);
const NAV = {
  "#/namespaces": readsAccount,
  "#/api-keys": () => true,
  "#/users": readsAccount,
  "#/service-accounts": readsAccount,
  "#/audit": (role) => MANAGES_ACCOUNT.includes(role),
  "#/usage": (role) => READS_USAGE.includes(role),
  "#/account": () => true,
};

/** Where a signed-in caller lands: its first page. */
function home() {
  const role = session.me ? session.me.role : "";
  return readsAccount(role) ? "#/namespaces" : "#/usage";
}

function showChrome() {
  const me = session.me;
  document.getElementById("nav").hidden = !me;
  document.getElementById("whoami").hidden = !me;
  if (me) {
    const account = document.getElementById("account-label");
    account.textContent = `${me.account.name} (${me.account.slug})`;
    account.dataset.slug = me.account.slug;
    document.getElementById("user-label").textContent = `${me.email || me.principal} · ${me.role}`;
  }
  for (const a of document.querySelectorAll("#nav a")) {
    const href = a.getAttribute("href");
    const allowed = NAV[href];
    a.hidden = !me || (allowed !== undefined && !allowed(me.role));
    a.classList.toggle("current", location.hash.startsWith(href));
  }
  document.querySelector("#top .brand").setAttribute("href", me ? home() : "#/login");
}

function go(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

const PUBLIC = {
  "#/login": loginPage,
  "#/signup": signupPage,
  "#/accept-invitation": acceptInvitationPage,
};

const PAGES = [
  [/^#\/namespaces$/, namespacesPage],
  [/^#\/namespaces\/([^/]+)$/, namespacePage],
  [/^#\/api-keys$/, apiKeysPage],
  [/^#\/users$/, usersPage],
  [/^#\/service-accounts$/, serviceAccountsPage],
  [/^#\/audit$/, auditPage],
  [/^#\/usage$/, () => usagePage(api, { listNamespaces: readsAccount(session.me.role) })],
  [/^#\/account$/, accountPage],
];

let renderSeq = 0;

async function render() {
  const seq = ++renderSeq;
  const view = document.getElementById("view");
  const hash = location.hash;
  let page;
  let args = [];
  if (PUBLIC[hash]) {
    page = PUBLIC[hash];
  } else {
    if (!session.me) {
      try {
        session.me = await api("GET", "/api/v1/me");
      } catch (err) {
        if (seq !== renderSeq) return;
        if (err.status === 401) {
          go("#/login");
        } else {
          put(view, errorBox(err));
        }
        return;
      }
    }
    const found = PAGES.find(([re]) => re.test(hash));
    if (!found) {
      go(home());
      return;
    }
    page = found[1];
    args = hash.match(found[0]).slice(1).map(decodeURIComponent);
  }
  showChrome();
  let content;
  try {
    content = await page(...args);
  } catch (err) {
    content = errorBox(err);
  }
  if (seq !== renderSeq) return;
  put(view, content);
  const focus = view.querySelector("input, select, textarea");
  if (focus && PUBLIC[hash]) focus.focus();
}

// -- public pages ----------------------------------------------------------

function loginPage() {
  const flash = sessionStorage.getItem("orrery-flash");
  sessionStorage.removeItem("orrery-flash");
  const email = sessionStorage.getItem("orrery-email") || "";
  return h(
    "div",
    { class: "narrow" },
    h("h1", {}, "Log in"),
    flash ? notice(flash) : null,
    form(
      "login",
      [
        { name: "email", label: "Email", type: "email", required: true, value: email, autocomplete: "username" },
        { name: "password", label: "Password", type: "password", required: true, autocomplete: "current-password" },
      ],
      "Log in",
      async (v) => {
        const res = await api("POST", "/api/v1/login", { email: v.email, password: v.password });
        session.csrf = res.csrf_token;
        session.me = await api("GET", "/api/v1/me");
        sessionStorage.removeItem("orrery-email");
        go(home());
      },
    ),
    h("p", {}, "No account yet? ", h("a", { href: "#/signup" }, "Sign up"), " · ",
      h("a", { href: "#/accept-invitation" }, "Accept an invitation")),
  );
}

function signupPage() {
  return h(
    "div",
    { class: "narrow" },
    h("h1", {}, "Sign up"),
    form(
      "signup",
      [
        { name: "account_name", label: "Account name", required: true, placeholder: "Acme Inc" },
        { name: "email", label: "Email", type: "email", required: true, autocomplete: "username" },
        { name: "password", label: "Password", type: "password", required: true, autocomplete: "new-password", hint: "At least 12 characters." },
      ],
      "Create account",
      async (v) => {
        const res = await api("POST", "/api/v1/signup", v);
        sessionStorage.setItem("orrery-flash", `Account ${res.account.name} created. Log in as ${res.user.email}.`);
        sessionStorage.setItem("orrery-email", res.user.email);
        go("#/login");
      },
    ),
    h("p", {}, "Have an account? ", h("a", { href: "#/login" }, "Log in")),
  );
}

function acceptInvitationPage() {
  return h(
    "div",
    { class: "narrow" },
    h("h1", {}, "Accept an invitation"),
    form(
      "accept",
      [
        { name: "token", label: "Invitation token", required: true },
        { name: "password", label: "Choose a password", type: "password", required: true, autocomplete: "new-password", hint: "At least 12 characters." },
      ],
      "Accept",
      async (v) => {
        const user = await api("POST", "/api/v1/invitations/accept", v);
        sessionStorage.setItem("orrery-flash", `Welcome, ${user.email}. Log in now.`);
        sessionStorage.setItem("orrery-email", user.email);
        go("#/login");
      },
    ),
  );
}

async function logout() {
  try {
    await api("POST", "/api/v1/logout");
  } catch (err) {
    if (err.status !== 401) {
      alertBar(err);
      return;
    }
  }
  session.me = null;
  session.csrf = null;
  showChrome();
  go("#/login");
}

function alertBar(err) {
  const view = document.getElementById("view");
  view.prepend(errorBox(err));
}

// -- namespaces -----------------------------------------------------------

async function namespacesPage() {
  const list = h("div", { testid: "namespace-list" });
  const result = h("div");
  async function refresh() {
    const namespaces = await api("GET", "/api/v1/namespaces");
    put(list,
      table(
        ["Namespace", "State", "Retention", "gRPC endpoint", "Created"],
        namespaces.map((ns) => [
          h("a", { href: `#/namespaces/${enc(ns.id)}` }, ns.id),
          ns.state,
          `${ns.retention_days} days`,
          h("code", {}, ns.grpc_endpoint),
          when(ns.created_at),
        ]),
        "No namespaces yet.",
      ),
    );
  }
  await refresh();
  const create = form(
    "create-namespace",
    [
      { name: "name", label: "Name", required: true, placeholder: "orders", hint: "Lower-case letters, digits and dashes; 2–39 characters." },
      { name: "retention_days", label: "Retention (days)", type: "number", value: 30, min: 1, max: 90 },
    ],
    "Create namespace",
    async (v, el) => {
      const ns = await api("POST", "/api/v1/namespaces", v);
      el.reset();
      put(result,
        h(
          "div",
          { class: "notice", testid: "namespace-created" },
          h("p", {}, "Created namespace ", h("a", { href: `#/namespaces/${enc(ns.id)}` }, h("code", { testid: "namespace-id" }, ns.id)), "."),
          h("p", {}, "gRPC endpoint: ", h("code", { testid: "namespace-endpoint" }, ns.grpc_endpoint)),
          h("p", { class: "muted" }, "Connect an SDK with this namespace id and endpoint, using an API key or a client certificate."),
        ),
      );
      await refresh();
    },
  );
  return h("div", {}, h("h1", {}, "Namespaces"), list, section("Create a namespace", create, result));
}

async function namespacePage(id) {
  const ns = await api("GET", `/api/v1/namespaces/${enc(id)}`);
  const details = h("div");
  function showDetails(ns) {
    put(details,
      h(
        "dl",
        { class: "details" },
        h("dt", {}, "Namespace id"), h("dd", {}, h("code", {}, ns.id)),
        h("dt", {}, "State"), h("dd", {}, ns.state),
        h("dt", {}, "gRPC endpoint"), h("dd", {}, h("code", { testid: "endpoint" }, ns.grpc_endpoint)),
        h("dt", {}, "Retention"), h("dd", { testid: "retention" }, `${ns.retention_days} days`),
        h("dt", {}, "Created"), h("dd", {}, when(ns.created_at)),
        h("dt", {}, "Updated"), h("dd", {}, when(ns.updated_at)),
      ),
    );
  }
  showDetails(ns);
  const retention = form(
    "retention",
    [{ name: "retention_days", label: "Retention (days)", type: "number", value: ns.retention_days, min: 1, max: 90 }],
    "Save retention",
    async (v) => {
      showDetails(await api("PATCH", `/api/v1/namespaces/${enc(id)}`, v));
    },
  );

  const confirmInput = h("input", { id: "delete-confirm", placeholder: ns.id, autocomplete: "off" });
  const deleteForm = form("delete-namespace", [], "Delete namespace", async () => {
    if (confirmInput.value !== ns.id) {
      throw new ApiProblem(0, { detail: `type ${ns.id} to confirm` });
    }
    await api("DELETE", `/api/v1/namespaces/${enc(id)}`);
    go("#/namespaces");
  });
  deleteForm.querySelector("button").classList.add("danger");
  deleteForm.prepend(
    h("div", { class: "field" }, h("label", { for: "delete-confirm" }, `Type ${ns.id} to confirm`), confirmInput),
  );

  return h(
    "div",
    {},
    h("p", {}, h("a", { href: "#/namespaces" }, "← Namespaces")),
    h("h1", {}, ns.id),
    details,
    section("Retention", retention),
    await mtlsSection(id),
    await permissionsSection(id),
    section("Delete", h("p", { class: "muted" }, "Deletes the namespace and its workflows on the cell."), deleteForm),
  );
}

async function mtlsSection(id) {
  const status = h("div");
  const issued = h("div");
  let current;
  async function refresh(view) {
    current = view || (await api("GET", `/api/v1/namespaces/${enc(id)}/mtls`));
    put(status,
      h("p", { testid: "mtls-state" }, current.enabled
        ? `Client certificates accepted from ${current.ca_certificates.length} CA certificate(s)${current.generated_ca ? ", one generated here" : ""}.`
        : "No CA bundle: this namespace takes API keys only."),
      table(
        ["Subject", "Valid until", "SHA-256 fingerprint"],
        current.ca_certificates.map((c) => [c.subject, when(c.not_after), h("code", { class: "fingerprint" }, c.fingerprint_sha256)]),
        "",
      ),
      current.filters.length
        ? h("p", {}, "Filters: ", current.filters.map((f) => JSON.stringify(f)).join(", "))
        : null,
      current.enabled
        ? confirmButton("Remove mTLS", async () => {
          await api("DELETE", `/api/v1/namespaces/${enc(id)}/mtls`);
          put(issued);
          await refresh();
        }, (err) => status.append(errorBox(err)))
        : null,
    );
  }
  await refresh();

  const upload = form(
    "mtls-upload",
    [
      { name: "ca_pem", label: "CA bundle (PEM)", type: "textarea", required: true, placeholder: "-----BEGIN CERTIFICATE-----", hint: "Replaces the bundle: include the old CA with the new one to rotate." },
      { name: "common_name", label: "Only certificates with common name (optional)", placeholder: "worker-*" },
    ],
    "Upload CA bundle",
    async (v, el) => {
      const filters = v.common_name ? [{ common_name: v.common_name }] : [];
      await refresh(await api("PUT", `/api/v1/namespaces/${enc(id)}/mtls`, { ca_pem: v.ca_pem, filters }));
      el.reset();
    },
  );
  const generate = form(
    "mtls-generate",
    [{ name: "validity_days", label: "CA validity (days)", type: "number", value: 365, min: 1, max: 3650 }],
    "Generate CA",
    async (v) => {
      const res = await api("POST", `/api/v1/namespaces/${enc(id)}/mtls/generated-ca`, v);
      await refresh(res.mtls);
      put(issued, secret("Generated CA certificate", res.ca_pem, `${id}-ca.pem`, "generated-ca"));
    },
  );
  const issue = form(
    "mtls-issue",
    [
      { name: "common_name", label: "Common name", required: true, placeholder: "worker-1" },
      { name: "organizational_unit", label: "Organizational unit (optional)" },
      { name: "validity_days", label: "Validity (days)", type: "number", value: 30, min: 1, max: 365 },
    ],
    "Issue client certificate",
    async (v) => {
      const body = { common_name: v.common_name, validity_days: v.validity_days };
      if (v.organizational_unit) body.organizational_unit = v.organizational_unit;
      const res = await api("POST", `/api/v1/namespaces/${enc(id)}/mtls/client-certificates`, body);
      const name = v.common_name.replace(/[^A-Za-z0-9._-]/g, "_");
      put(issued,
        notice(`Certificate for ${v.common_name}, valid until ${when(res.expires_at)}. The private key is shown only now: it is stored nowhere.`),
        secret("Private key (PKCS#8)", res.private_key_pem, `${name}.key`, "client-key"),
        secret("Certificate", res.certificate_pem, `${name}.pem`, "client-cert"),
        secret("CA certificate", res.ca_pem, `${id}-ca.pem`, "client-ca"),
      );
    },
  );
  return section(
    "mTLS",
    status,
    h("div", { class: "columns" },
      h("div", {}, h("h3", {}, "Generate a CA here"), generate, h("h3", {}, "Issue a client certificate"), h("p", { class: "muted" }, "From the CA generated here."), issue),
      h("div", {}, h("h3", {}, "Or upload your own CA bundle"), upload)),
    issued,
  );
}

async function permissionsSection(id) {
  const list = h("div");
  const principals = new Map();
  // Names for principals, where the caller may read them.
  const [users, accounts] = await Promise.all([
    api("GET", "/api/v1/users").catch(() => []),
    api("GET", "/api/v1/service-accounts").catch(() => []),
  ]);
  for (const u of users) principals.set(`user:${u.id}`, u.email);
  for (const sa of accounts) principals.set(sa.principal, `${sa.name} (service account)`);
  const label = (p) => principals.get(p) || p;
  async function refresh() {
    const grants = await api("GET", `/api/v1/namespaces/${enc(id)}/permissions`);
    put(list,
      table(
        ["Principal", "Permission", ""],
        grants.map((g) => [
          label(g.principal),
          g.permission,
          confirmButton("Remove", async () => {
            await api("DELETE", `/api/v1/namespaces/${enc(id)}/permissions/${enc(g.principal)}`);
            await refresh();
          }, (err) => list.append(errorBox(err))),
        ]),
        "No explicit permissions. Owners and admins are namespace admins everywhere.",
      ),
    );
  }
  await refresh();
  const options = [...principals].map(([p, name]) => [p, name]);
  const grant = form(
    "grant",
    [
      options.length
        ? { name: "principal", label: "User or service account", type: "select", options }
        : { name: "principal", label: "Principal", required: true, placeholder: "user:<id> or service-account:<id>" },
      { name: "permission", label: "Permission", type: "select", options: PERMISSIONS, value: "write" },
    ],
    "Grant",
    async (v) => {
      await api("PUT", `/api/v1/namespaces/${enc(id)}/permissions/${enc(v.principal)}`, { permission: v.permission });
      await refresh();
    },
  );
  return section("Permissions", list, grant);
}

// -- API keys -------------------------------------------------------------

async function apiKeysPage() {
  const me = session.me;
  const accounts = await api("GET", "/api/v1/service-accounts").catch(() => []);
  const owners = new Map(accounts.map((sa) => [sa.principal, `${sa.name} (service account)`]));
  owners.set(me.principal, "me");
  const list = h("div", { testid: "api-key-list" });
  const errors = h("div");
  const fail = (err) => put(errors, errorBox(err));
  async function refresh() {
    const keys = await api("GET", "/api/v1/api-keys");
    put(list,
      table(
        ["Name", "Owner", "State", "Expires", "Created", ""],
        keys.map((k) => [
          k.name,
          owners.get(k.owner) || k.owner,
          h("span", { testid: `key-state-${k.id}` }, k.enabled ? "enabled" : "disabled"),
          when(k.expires_at),
          when(k.created_at),
          h(
            "span",
            { class: "actions" },
            k.enabled
              ? actionButton("Disable", async () => {
                await api("POST", `/api/v1/api-keys/${enc(k.id)}/disable`);
                await refresh();
              }, fail)
              : actionButton("Enable", async () => {
                await api("POST", `/api/v1/api-keys/${enc(k.id)}/enable`);
                await refresh();
              }, fail),
            confirmButton("Delete", async () => {
              await api("DELETE", `/api/v1/api-keys/${enc(k.id)}`);
              await refresh();
            }, fail),
          ),
        ]),
        "No API keys yet.",
      ),
    );
  }
  await refresh();
  const result = h("div");
  const create = form(
    "create-api-key",
    [
      { name: "name", label: "Name", required: true, placeholder: "ci" },
      { name: "description", label: "Description (optional)" },
      { name: "expiry_days", label: "Expires after (days)", type: "number", value: 30, min: 1, max: 90, hint: "1–90 days." },
      { name: "owner", label: "Owner", type: "select", options: [["", "me"], ...accounts.map((sa) => [sa.principal, `${sa.name} (service account)`])] },
    ],
    "Create API key",
    async (v, el) => {
      const body = { name: v.name, description: v.description, expiry_days: v.expiry_days };
      if (v.owner) body.owner = v.owner;
      const res = await api("POST", "/api/v1/api-keys", body);
      el.reset();
      put(result,
        notice(`API key ${res.api_key.name} created; it expires ${when(res.api_key.expires_at)}. Copy the secret now: it is shown only once.`),
        secret("Secret (send as authorization: Bearer …)", res.token, `${res.api_key.name}.api-key`, "api-key-secret"),
      );
      await refresh();
    },
  );
  return h("div", {}, h("h1", {}, "API keys"), errors, list, section("Create an API key", create, result));
}

// -- users and service accounts ---------------------------------------------

function roleSelect(current, roles, onChange) {
  const select = h("select", {}, roles.map((r) => h("option", { value: r, selected: r === current }, r)));
  select.addEventListener("change", async () => {
    select.disabled = true;
    try {
      await onChange(select.value);
    } catch (err) {
      select.value = current;
      alertBar(err);
    } finally {
      select.disabled = false;
    }
  });
  return select;
}

async function usersPage() {
  const list = h("div");
  const errors = h("div");
  const fail = (err) => put(errors, errorBox(err));
  async function refresh() {
    const users = await api("GET", "/api/v1/users");
    put(list,
      table(
        ["Email", "Role", "State", "Created", ""],
        users.map((u) => [
          u.email,
          roleSelect(u.role, ROLES, async (role) => {
            await api("PATCH", `/api/v1/users/${enc(u.id)}`, { role });
            await refresh();
          }),
          u.state,
          when(u.created_at),
          `user:${u.id}` === session.me.principal
            ? h("span", { class: "muted" }, "you")
            : confirmButton("Remove", async () => {
              await api("DELETE", `/api/v1/users/${enc(u.id)}`);
              await refresh();
            }, fail),
        ]),
        "No users.",
      ),
    );
  }
  await refresh();
  const result = h("div");
  const invite = form(
    "invite",
    [
      { name: "email", label: "Email", type: "email", required: true },
      { name: "role", label: "Role", type: "select", options: ROLES, value: "developer" },
    ],
    "Invite",
    async (v, el) => {
      const res = await api("POST", "/api/v1/users", v);
      el.reset();
      put(result,
        notice(`Invited ${res.user.email}. Give them this token (shown once, valid until ${when(res.invite_expires_at)}); they accept it under “Accept an invitation” on the login page.`),
        secret("Invitation token", res.invite_token, "invitation.txt", "invite-token"),
      );
      await refresh();
    },
  );
  return h("div", {}, h("h1", {}, "Users"), errors, list, section("Invite a user", invite, result));
}

async function serviceAccountsPage() {
  const list = h("div");
  const errors = h("div");
  const fail = (err) => put(errors, errorBox(err));
  const roles = SERVICE_ACCOUNT_ROLES;
  async function refresh() {
    const accounts = await api("GET", "/api/v1/service-accounts");
    put(list,
      table(
        ["Name", "Description", "Role", "Principal", "Created", ""],
        accounts.map((sa) => [
          sa.name,
          sa.description,
          roleSelect(sa.role, roles, async (role) => {
            await api("PATCH", `/api/v1/service-accounts/${enc(sa.id)}`, { role });
            await refresh();
          }),
          h("code", {}, sa.principal),
          when(sa.created_at),
          confirmButton("Delete", async () => {
            await api("DELETE", `/api/v1/service-accounts/${enc(sa.id)}`);
            await refresh();
          }, fail),
        ]),
        "No service accounts yet.",
      ),
    );
  }
  await refresh();
  const create = form(
    "create-service-account",
    [
      { name: "name", label: "Name", required: true, placeholder: "deployer" },
      { name: "description", label: "Description (optional)" },
      { name: "role", label: "Role", type: "select", options: roles, value: "read" },
    ],
    "Create service account",
    async (v, el) => {
      await api("POST", "/api/v1/service-accounts", v);
      el.reset();
      await refresh();
    },
  );
  return h(
    "div",
    {},
    h("h1", {}, "Service accounts"),
    h("p", { class: "muted" }, "Service accounts authenticate with API keys (create them under API keys, owner: the service account)."),
    errors,
    list,
    section("Create a service account", create),
  );
}

// -- audit log and account --------------------------------------------------

async function auditPage() {
  const rows = [];
  const list = h("div", { testid: "audit-log" });
  const more = h("div");
  async function load(before) {
    const query = before === undefined ? "" : `&before=${enc(before)}`;
    const page = await api("GET", `/api/v1/audit-log?limit=50${query}`);
    rows.push(...page.entries);
    put(list,
      table(
        ["When", "Actor", "Action", "Target", "Outcome", "From", "Detail"],
        rows.map((e) => [when(e.at), e.actor, e.action, e.target,
          h("span", { class: e.outcome === "success" ? "" : "error" }, e.outcome), e.source_ip, e.detail]),
        "Nothing recorded yet.",
      ),
    );
    put(more,
      page.next_before != null
        ? actionButton("Older entries", () => load(page.next_before), (err) => more.append(errorBox(err)))
        : h("p", { class: "muted" }, "End of the log."),
    );
  }
  await load();
  return h("div", {}, h("h1", {}, "Audit log"), list, more);
}

async function accountPage() {
  const me = await api("GET", "/api/v1/me");
  session.me = me;
  const done = h("div");
  const password = form(
    "password",
    [
      { name: "current_password", label: "Current password", type: "password", required: true, autocomplete: "current-password" },
      { name: "new_password", label: "New password", type: "password", required: true, autocomplete: "new-password", hint: "At least 12 characters. Your other sessions end." },
    ],
    "Change password",
    async (v, el) => {
      await api("POST", "/api/v1/me/password", v);
      el.reset();
      put(done, notice("Password changed."));
    },
  );
  return h(
    "div",
    {},
    h("h1", {}, "Account"),
    h(
      "dl",
      { class: "details" },
      h("dt", {}, "Account"), h("dd", {}, me.account.name),
      h("dt", {}, "Slug"), h("dd", {}, h("code", {}, me.account.slug), h("span", { class: "muted" }, " (namespace ids end in ", h("code", {}, `.${me.account.slug}`), ")")),
      h("dt", {}, "Account id"), h("dd", {}, h("code", {}, me.account.id)),
      h("dt", {}, "You"), h("dd", {}, me.email || me.principal),
      h("dt", {}, "Role"), h("dd", {}, me.role),
    ),
    me.email ? section("Password", password, done) : null,
  );
}

// -- start ----------------------------------------------------------------

document.getElementById("logout").addEventListener("click", logout);
window.addEventListener("hashchange", render);
render();
