"""The web console in a real browser (Debian's Chromium driven by Playwright):
a person signs up, logs in, creates a namespace and an API key and a client
certificate through the pages, and the official Python SDK then uses those
credentials against the tenant cell. Orrery only (the real dev server has no
console).

Chromium is required, not optional: the test fails if it is missing (CI
installs it, see scripts/test). ORRERY_CHROMIUM names another binary.
"""

from __future__ import annotations

import asyncio
import calendar
import os
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from temporalio import activity, workflow
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client, TLSConfig
from temporalio.service import RPCError

from conftest import Server, e2e_target
from helpers import new_id, run_worker
from tenancy_stack import DOMAIN, Stack

pytestmark = pytest.mark.skipif(e2e_target() != "orrery", reason="the console is Orrery's")

CHROMIUM = os.environ.get("ORRERY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "correct horse battery staple"
ARTIFACTS = Path(os.environ.get("ORRERY_ARTIFACTS", Path(__file__).parent / "artifacts"))


@activity.defn
async def greet(name: str) -> str:
    return f"hello {name}"


@workflow.defn
class ConsoleGreeter:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            greet, name, start_to_close_timeout=timedelta(seconds=30)
        )


@workflow.defn
class AwaitsGo:
    """Runs until signalled: live mode has something to follow."""

    def __init__(self) -> None:
        self.go = False

    @workflow.signal
    def proceed(self) -> None:
        self.go = True

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.go)
        return "went"


@pytest.fixture
async def page():
    """A fresh browser page; fails (never skips) without Chromium or Playwright."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: the console tests need it "
            "(apt-get install chromium; scripts/test installs it) or set ORRERY_CHROMIUM"
        )
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.fail("the playwright package is missing: pip install -r tests/e2e/requirements.txt")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # The control plane serves HTTPS with a certificate from the
            # tests' own CA, which this browser does not know.
            context = await browser.new_context(ignore_https_errors=True)
            context.set_default_timeout(30_000)
            page = await context.new_page()
            problems: list[str] = []

            def on_console(message) -> None:
                # A policy violation means the console does something its CSP forbids.
                if "Content Security Policy" in message.text:
                    problems.append(f"console: {message.text}")

            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("console", on_console)
            yield page
            assert not problems, problems
        finally:
            await browser.close()


async def submit(page, form: str, success: str) -> None:
    """Submits form `#form` and waits for `success`; a problem the form shows
    instead fails the test with its text."""
    await page.click(f"#{form} button[type=submit]")
    done = page.locator(success).first
    problem = page.locator(f"#{form} .form-error:not([hidden])")
    await done.or_(problem).first.wait_for()
    if await problem.count() and await problem.is_visible():
        pytest.fail(f"#{form} answered: {await problem.inner_text()}")


async def shot(page, name: str) -> None:
    """A full-page screenshot of what the page shows now, as a test artifact
    (tests/e2e/artifacts/console-<name>.png; ORRERY_ARTIFACTS moves them)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # Nothing still loading in the picture.
    await page.locator("#view .loading").first.wait_for(state="detached")
    await page.screenshot(path=str(ARTIFACTS / f"console-{name}.png"), full_page=True)


async def sign_up_and_log_in(page, base: str, email: str, screenshots: bool = False) -> str:
    """Through the forms; returns the account's slug as the header shows it."""
    response = await page.goto(base + "/")
    assert response is not None and response.ok
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    await page.wait_for_selector("#login")  # no session yet: the login page
    assert page.url == base + "/login"
    if screenshots:
        await shot(page, "login")
    await page.click("text=Sign up")
    await page.wait_for_selector("#signup")
    # The first field has the keyboard focus.
    assert await page.evaluate("document.activeElement.id") == "signup-account_name"
    await page.fill("#signup-account_name", "Console Inc")
    await page.fill("#signup-email", email)
    # A problem+json answer: its detail above the button, its errors[] by the fields.
    await page.fill("#signup-password", "short")
    await page.click("#signup button[type=submit]")
    field_error = page.locator("[data-field=password] .field-error")
    await field_error.wait_for()
    assert "12" in await field_error.inner_text()
    assert "validation" in await page.inner_text("#signup .form-error")
    # The field to fix has the focus and says why (aria-describedby).
    assert await page.evaluate("document.activeElement.id") == "signup-password"
    assert await page.get_attribute("#signup-password", "aria-invalid") == "true"
    described = await page.get_attribute("#signup-password", "aria-describedby")
    assert "signup-password-error" in described.split(), described
    if screenshots:
        await shot(page, "signup-problem")
    await page.fill("#signup-password", PASSWORD)
    # Signed in at once: the new owner lands on Namespaces, told so.
    await submit(page, "signup", "#create-namespace")
    assert email in await page.inner_text("[data-testid=flash]")
    assert email in await page.inner_text("#user-label")
    # Log out, then in again; a wrong password first: the API's detail is shown.
    await page.click("#logout")
    await page.wait_for_selector("#login")
    await page.fill("#login-email", email)
    await page.fill("#login-password", "not the password at all")
    await page.click("#login button[type=submit]")
    await page.locator("#login .form-error").wait_for()
    assert "wrong" in await page.inner_text("#login .form-error")
    await page.fill("#login-password", PASSWORD)
    await submit(page, "login", "#create-namespace")
    assert email in await page.inner_text("#user-label")
    slug = await page.get_attribute("#account-label", "data-slug")
    assert slug
    return slug


async def create_namespace(page, name: str, retention: int) -> tuple[str, str]:
    await page.fill("#create-namespace-name", name)
    await page.fill("#create-namespace-retention_days", str(retention))
    await submit(page, "create-namespace", "[data-testid=namespace-created]")
    created = page.locator("[data-testid=namespace-created]")
    ns_id = await created.locator("[data-testid=namespace-id]").inner_text()
    endpoint = await created.locator("[data-testid=namespace-endpoint]").inner_text()
    listed = page.locator("[data-testid=namespace-list] tr", has_text=ns_id)
    await listed.wait_for()
    assert endpoint in await listed.inner_text()
    assert f"{retention} days" in await listed.inner_text()
    return ns_id, endpoint


async def status_with(address: str, namespace: str, tls: TLSConfig, api_key: str | None) -> str:
    """DescribeNamespace through the tenant endpoint: "ok" or why not."""
    try:
        client = await Client.connect(address, namespace=namespace, api_key=api_key, tls=tls)
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace), retry=False)
        return "ok"
    except RPCError as err:
        return err.status.name
    except RuntimeError as err:  # the connect's own GetSystemInfo
        for code, name in (("Unauthenticated", "UNAUTHENTICATED"),
                           ("PermissionDenied", "PERMISSION_DENIED")):
            if f"code: {code}" in str(err):
                return name
        return f"connect: {err}"


async def becomes(wanted: str, probe, within: float = 10) -> None:
    deadline = time.monotonic() + within
    while (status := await probe()) != wanted:
        assert time.monotonic() < deadline, f"still {status!r} after {within} s, wanted {wanted!r}"
        await asyncio.sleep(0.3)


@pytest.mark.timeout(300)
async def test_console_signs_up_and_provisions_credentials_that_work_on_the_cell(page):
    stack = Stack()
    try:
        await asyncio.to_thread(stack.start_control_plane)
        email = f"console-{uuid.uuid4().hex[:6]}@example.com"
        slug = await sign_up_and_log_in(page, stack.api, email)
        # The cell's server certificate names the account's namespaces.
        await asyncio.to_thread(stack.start_cell, [f"*.{slug}.{DOMAIN}"])

        # -- a namespace ------------------------------------------------------
        ns_id, endpoint = await create_namespace(page, "orders", 3)
        assert ns_id == f"orders.{slug}"
        assert endpoint == f"{ns_id}.{DOMAIN}:7233"
        # The same name again: the API's conflict, shown in the form.
        await page.fill("#create-namespace-name", "orders")
        await page.click("#create-namespace button[type=submit]")
        await page.locator("#create-namespace .form-error").wait_for()
        assert "exists" in await page.inner_text("#create-namespace .form-error")

        # -- an API key -------------------------------------------------------
        await page.click("#nav >> text=API keys")
        await page.wait_for_selector("#create-api-key")
        await page.fill("#create-api-key-name", "ci")
        await page.fill("#create-api-key-expiry_days", "91")
        await page.click("#create-api-key button[type=submit]")
        expiry_error = page.locator("[data-field=expiry_days] .field-error")
        await expiry_error.wait_for()
        assert "90" in await expiry_error.inner_text()
        await page.fill("#create-api-key-expiry_days", "7")
        await submit(page, "create-api-key", "[data-testid=api-key-secret]")
        secret = page.locator("[data-testid=api-key-secret] pre")
        token = (await secret.inner_text()).strip()
        assert token.count(".") == 2  # a JWT
        row = page.locator("[data-testid=api-key-list] tr", has_text="ci")
        assert "enabled" in await row.inner_text()

        # -- the key works with the official SDK, at the tenant endpoint -------
        host = endpoint.rsplit(":", 1)[0]
        tls = TLSConfig(server_root_ca_cert=stack.server_ca.cert_pem, domain=host)

        async def with_key() -> str:
            return await status_with(stack.address, ns_id, tls, token)

        await becomes("ok", with_key)  # once the cell polled the snapshot
        client = await Client.connect(stack.address, namespace=ns_id, api_key=token, tls=tls)
        async with run_worker(client, workflows=[ConsoleGreeter], activities=[greet]) as worker:
            result = await client.execute_workflow(
                ConsoleGreeter.run, "console", id=new_id(), task_queue=worker.task_queue,
                execution_timeout=timedelta(seconds=60),
            )
        assert result == "hello console"

        # Disabled in the console: refused; enabled again: accepted.
        await row.locator("button", has_text="Disable").click()
        await page.locator("[data-testid=api-key-list] tr", has_text="disabled").wait_for()
        await becomes("UNAUTHENTICATED", with_key)
        await page.locator("[data-testid=api-key-list] tr", has_text="ci").locator(
            "button", has_text="Enable").click()
        await page.locator("[data-testid=api-key-list] tr", has_text="enabled").wait_for()
        await becomes("ok", with_key)

        # -- a client certificate from a CA generated in the console -----------
        await page.click("#nav >> text=Namespaces")
        await page.click(f"[data-testid=namespace-list] >> text={ns_id}")
        await page.wait_for_selector("#mtls-generate")
        assert await page.inner_text("[data-testid=endpoint]") == endpoint
        await submit(page, "mtls-generate", "[data-testid=generated-ca]")
        assert "1 CA certificate" in await page.inner_text("[data-testid=mtls-state]")
        await page.fill("#mtls-issue-common_name", "worker-1")
        await submit(page, "mtls-issue", "[data-testid=client-key]")
        key_pem = (await page.inner_text("[data-testid=client-key] pre")).strip()
        cert_pem = (await page.inner_text("[data-testid=client-cert] pre")).strip()
        assert key_pem.startswith("-----BEGIN PRIVATE KEY-----")
        assert cert_pem.startswith("-----BEGIN CERTIFICATE-----")
        cert_tls = TLSConfig(server_root_ca_cert=stack.server_ca.cert_pem, domain=host,
                             client_cert=cert_pem.encode() + b"\n",
                             client_private_key=key_pem.encode() + b"\n")
        await becomes("ok", lambda: status_with(stack.address, ns_id, cert_tls, None))

        # Retention changed on the detail page.
        await page.fill("#retention-retention_days", "5")
        await submit(page, "retention", "[data-testid=retention] >> text=5 days")

        # -- log out: the session is gone, a reload lands on the login page ----
        await page.click("#logout")
        await page.wait_for_selector("#login")
        await page.reload()
        await page.wait_for_selector("#login")
        assert await page.is_hidden("#nav")
    except Exception:
        print("control plane:", stack.log("control-plane"), "\ncell:", stack.log("cell"))
        raise
    finally:
        stack.stop()


@pytest.mark.timeout(120)
async def test_orrery_dev_serves_the_console_beside_the_api(page):
    server = Server("orrery", dev_args=[])
    await server.start()
    try:
        base = f"http://127.0.0.1:{server.http_port}"
        await sign_up_and_log_in(page, base, f"dev-{uuid.uuid4().hex[:6]}@example.com",
                                 screenshots=True)
        ns_id, endpoint = await create_namespace(page, "sandbox", 1)
        await shot(page, "namespaces")
        assert endpoint == server.address  # the dev cell, no namespace domain
        # The API beside it is unchanged: an unknown route is still a problem.
        missing = await page.request.get(base + "/api/v1/nonexistent")
        assert missing.status == 404
        assert missing.headers["content-type"] == "application/problem+json"
        # The namespace is on the dev cell.
        client = await Client.connect(server.address, namespace=ns_id)
        await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=ns_id))

        # A service account, and an API key it owns.
        await page.click("#nav >> text=Service accounts")
        await page.fill("#create-service-account-name", "deployer")
        await page.select_option("#create-service-account-role", "developer")
        await submit(page, "create-service-account", "tr:has-text('deployer')")
        assert "developer" in await page.locator("tr", has_text="deployer").inner_text()
        await shot(page, "service-accounts")
        await page.click("#nav >> text=API keys")
        await page.fill("#create-api-key-name", "deploy")
        await page.select_option("#create-api-key-owner", label="deployer (service account)")
        await submit(page, "create-api-key", "[data-testid=api-key-secret]")
        row = page.locator("[data-testid=api-key-list] tr", has_text="deploy")
        assert "deployer (service account)" in await row.inner_text()
        await shot(page, "api-keys")
        # An invitation, whose token is shown once.
        await page.click("#nav >> text=Users")
        await page.fill("#invite-email", "reader@example.com")
        await page.select_option("#invite-role", "read")
        await submit(page, "invite", "[data-testid=invite-token]")
        assert "invited" in await page.locator("tr", has_text="reader@example.com").inner_text()
        await shot(page, "users")
        # Each of those is in the audit log.
        await page.click("#nav >> text=Audit log")
        # The page before it also has a table: wait for the audit log's own.
        await page.locator("[data-testid=audit-log] table").wait_for()
        log = await page.inner_text("[data-testid=audit-log] table")
        for action in ("account.signup", "namespace.create", "service_account.create",
                       "api_key.create", "user.invite"):
            assert action in log, log
        await shot(page, "audit")

        # The namespace's page, the account, and the pages before signing in.
        await page.click("#nav >> text=Namespaces")
        await page.click(f"[data-testid=namespace-list] >> text={ns_id}")
        await page.wait_for_selector("#mtls-generate")
        assert page.url == f"{base}/namespaces/{ns_id}"
        # "Connect your worker": snippets with this namespace's endpoint and id.
        snippet = page.locator("[data-testid=connect-worker] [data-testid=snippet]")
        text = await snippet.inner_text()
        assert f'"{server.address}"' in text and f'namespace="{ns_id}"' in text, text
        await page.locator("[data-testid=connect-worker]").get_by_role("button", name="TypeScript").click()
        assert f"namespace: '{ns_id}'" in await snippet.inner_text()
        # orrery dev takes no credential: the CLI line then has none.
        await page.locator("[data-testid=connect-worker]").get_by_label("None").check()
        await page.locator("[data-testid=connect-worker]").get_by_role("button", name="CLI").click()
        text = await snippet.inner_text()
        assert f"--address {server.address}" in text and "--tls" not in text and "--api-key" not in text, text
        await page.locator("[data-testid=connect-worker]").get_by_role("button", name="TypeScript").click()
        await shot(page, "namespace")
        # A reload of a console URL lands on the same page.
        await page.reload()
        await page.wait_for_selector("#mtls-generate")
        # A page the console does not have says so (no blank page).
        await page.goto(base + "/no/such/page")
        await page.wait_for_selector("h1:has-text('Page not found')")
        await page.click("#nav a[href='/account']")
        await page.wait_for_selector("#password")
        await shot(page, "account")

        # Live mode on orrery dev's plain-HTTP API: a long poll (waitNewEvent
        # with a grpc-timeout header) shows the signal as it arrives.
        async with run_worker(client, workflows=[AwaitsGo]) as worker:
            handle = await client.start_workflow(
                AwaitsGo.run, id=new_id("live"), task_queue=worker.task_queue)
            await page.goto(f"{base}/namespaces/{ns_id}/workflows/{handle.id}")
            history = page.locator("[data-testid=history]")
            await history.locator("[data-event-type=WorkflowTaskCompleted]").wait_for()
            await page.locator("[data-testid=live-mode][data-mode=long-poll]").wait_for()
            await handle.signal(AwaitsGo.proceed)
            await history.locator("[data-event-type=WorkflowExecutionSignaled]").wait_for(timeout=10_000)
            await page.locator("[data-testid=summary] [data-testid=status]", has_text="Completed").wait_for()
            assert await handle.result() == "went"

        # On a phone: the nav folds behind a button, nothing overflows sideways.
        await page.set_viewport_size({"width": 390, "height": 844})
        await page.goto(base + "/api-keys")
        await page.wait_for_selector("#create-api-key")
        assert await page.is_hidden("#nav")
        menu = page.locator("button.menu-toggle")
        assert await menu.get_attribute("aria-expanded") == "false"
        await menu.click()
        assert await menu.get_attribute("aria-expanded") == "true"
        await page.locator("#nav >> text=Namespaces").wait_for()
        await shot(page, "phone-menu")
        await page.click("#nav >> text=Namespaces")
        await page.locator("[data-testid=namespace-list] table").wait_for()
        assert await page.is_hidden("#nav")  # folded again after choosing
        assert await page.evaluate(
            "document.documentElement.scrollWidth <= window.innerWidth"), "wider than a phone"
        await shot(page, "phone-namespaces")
        # The namespace's settings and snippets fit a phone too (snippets scroll inside).
        await page.goto(f"{base}/namespaces/{ns_id}")
        await page.locator("[data-testid=connect-worker] [data-testid=snippet]").wait_for()
        await page.locator("[data-testid=archival-state]").wait_for()
        assert await page.evaluate(
            "document.documentElement.scrollWidth <= window.innerWidth"), "namespace page wider than a phone"
        await shot(page, "phone-namespace")
        await page.set_viewport_size({"width": 1280, "height": 800})

        await page.click("#logout")
        await page.wait_for_selector("#login")
        await page.click("text=Accept an invitation")
        await page.wait_for_selector("#accept")
        await shot(page, "accept-invitation")
        await page.click("text=Log in")
        await page.click("text=Sign up")
        await page.wait_for_selector("#signup")
        await shot(page, "signup")
    finally:
        server.cleanup()


def money(cents: int, currency: str) -> str:
    """Integer cents as the console shows them: `12,345.67 USD`."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole:,}.{frac:02d} {currency}"


@pytest.mark.timeout(120)
async def test_console_usage_page_for_owners_and_finance_admins(page):
    server = Server("orrery", dev_args=[])
    await server.start()
    try:
        base = f"http://127.0.0.1:{server.http_port}"
        await sign_up_and_log_in(page, base, f"usage-{uuid.uuid4().hex[:6]}@example.com")
        ns_id, _ = await create_namespace(page, "billing", 1)
        # Some Actions (a start and a signal), then wait until the control
        # plane has pulled them from the cell.
        client = await Client.connect(server.address, namespace=ns_id)
        await client.start_workflow("Unworked", id=new_id(), task_queue=new_id())
        today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        day, month = today.strftime("%Y-%m-%d"), today.strftime("%Y-%m")
        usage_url = (f"{base}/api/v1/usage?from={day}T00:00:00Z&granularity=day"
                     f"&to={(today + timedelta(days=1)).strftime('%Y-%m-%d')}T00:00:00Z")

        async def todays_actions() -> int:
            res = await page.request.get(usage_url)
            assert res.ok, await res.text()
            return sum(r["total_actions"] for r in (await res.json())["rows"]
                       if r["namespace"] == ns_id)

        deadline = time.monotonic() + 60
        while (actions := await todays_actions()) < 1:
            assert time.monotonic() < deadline, "the usage never arrived"
            await asyncio.sleep(1)

        # -- an owner's Usage page --------------------------------------------
        assert await page.is_visible("#nav >> text=Usage")
        await page.click("#nav >> text=Usage")
        total = page.locator("[data-testid=invoice-total]")
        await total.wait_for()
        # What the page shows is what the API answers, money from integer cents.
        preview = await page.request.get(f"{base}/api/v1/invoices/preview?month={month}")
        assert preview.ok, await preview.text()
        invoice = await preview.json()
        assert invoice["total_cents"] >= invoice["plan_minimum_cents"] > 0
        assert await total.inner_text() == money(invoice["total_cents"], invoice["currency"])
        # A new account is below the minimum: the plan-minimum line tops it up.
        minimum = page.locator("[data-testid=invoice-lines] tbody tr", has_text="Plan minimum")
        assert money(invoice["plan_minimum_cents"], invoice["currency"]) in await minimum.inner_text()
        # `incomplete` is a visible note exactly when the API says so.
        note = page.locator("[data-testid=invoice-incomplete]")
        if invoice["incomplete"]:
            assert "last minute" in await note.inner_text()
        else:
            assert not await note.count()
        # The daily usage table: a row for the day and namespace.
        header = await page.inner_text("[data-testid=usage-table] thead")
        for column in ("Day (UTC)", "Namespace", "Actions", "Top Action kinds",
                       "Active storage (GB-h)", "Retained storage (GB-h)"):
            assert column in header, header
        row = page.locator("[data-testid=usage-table] tbody tr", has_text=ns_id)
        cells = await row.locator("td").all_inner_texts()
        assert cells[:2] == [day, ns_id], cells
        assert int(cells[2]) >= actions
        assert "workflow_started" in cells[3], cells
        assert await page.input_value("#usage-month") == month
        # The namespace filter offers the account's namespaces; choosing one
        # filters the table and the CSV.
        await page.select_option("#usage-namespace", ns_id)
        csv_link = page.locator("[data-testid=usage-csv]")
        await page.wait_for_function(
            "id => document.querySelector('[data-testid=usage-csv]').getAttribute('href')"
            ".endsWith('&namespace=' + encodeURIComponent(id))", arg=ns_id)
        await page.select_option("#usage-namespace", "")
        await page.wait_for_function(
            "() => !document.querySelector('[data-testid=usage-csv]').getAttribute('href')"
            ".includes('namespace=')")
        assert await csv_link.get_attribute("href") == f"/api/v1/usage/export.csv?month={month}"
        # The CSV downloads with the session cookie alone (a plain link).
        async with page.expect_download() as info:
            await csv_link.click()
        download = await info.value
        assert download.suggested_filename == f"usage-{month}.csv"
        csv = Path(await download.path()).read_text()
        assert csv.startswith("namespace,start,end,total_actions,"), csv[:200]
        assert not await page.locator("#view p.error:visible").count()
        # The charts: one bar per day of the month, today's Actions among them.
        chart = page.locator("[data-testid=actions-chart] svg")
        assert await chart.get_attribute("role") == "img"
        days = calendar.monthrange(today.year, today.month)[1]
        assert await page.locator("[data-testid=actions-chart] rect.bar").count() == days
        assert "Actions per day" in await chart.get_attribute("aria-label")
        await shot(page, "usage")

        # -- a finance admin sees Usage and its own basics only ---------------
        await page.click("#nav >> text=Users")
        finance = f"finance-{uuid.uuid4().hex[:6]}@example.com"
        await page.fill("#invite-email", finance)
        await page.select_option("#invite-role", "finance_admin")
        await submit(page, "invite", "[data-testid=invite-token]")
        token = (await page.inner_text("[data-testid=invite-token] pre")).strip()
        await page.click("#logout")
        await page.wait_for_selector("#login")
        await page.click("text=Accept an invitation")
        await page.fill("#accept-token", token)
        await page.fill("#accept-password", PASSWORD)
        # Accepting signs the new user in; a finance admin lands on Usage
        # (it cannot list namespaces).
        await submit(page, "accept", "[data-testid=invoice-total]")
        assert finance in await page.inner_text("[data-testid=flash]")
        assert page.url == base + "/usage"
        assert "finance_admin" in await page.inner_text("#user-label")
        assert await page.inner_text("[data-testid=invoice-total]") == money(
            invoice["total_cents"], invoice["currency"])
        assert await page.locator("[data-testid=usage-table] thead").count() == 1
        await page.locator("[data-testid=usage-table] tbody tr", has_text=ns_id).wait_for()
        # It may not list namespaces: the filter offers those the usage names.
        assert ns_id in await page.locator("#usage-namespace option").all_inner_texts()
        assert not await page.locator("#view p.error:visible").count()
        visible = [await a.inner_text() for a in await page.locator("#nav a:visible").all()]
        assert visible == ["API keys", "Usage", "Account"], visible
        assert await page.is_hidden("#nav >> text=Namespaces")
        # The pages it is shown load without a problem.
        for href, ready in (("/api-keys", "#create-api-key"), ("/account", "#password")):
            await page.click(f"#nav a[href='{href}']")
            await page.wait_for_selector(ready)
            assert not await page.locator("#view p.error:visible").count(), href
    finally:
        server.cleanup()
