"""What one account sees of another's in the console, in a real browser
(Debian's Chromium driven by Playwright) against the tenancy stack, plus the
two console views the other browser tests leave out:

1. Account A signs up, creates a namespace and an API key, and an official
   Python SDK worker runs a workflow there. Account B, in a browser context of
   its own, sees none of it: its namespace list holds only its own namespace
   (of the same name), and opening A's namespace page, A's workflow list and
   A's workflow detail by URL shows the API's refusal, never A's data, and the
   console stays up (nav present, no uncaught error). B's session asking the
   control plane for a console token of A's namespace gets 404, while the same
   request for its own namespace gets one. B's Usage page has no row of A's.
2. A's Usage page shows the workflow's Actions for A's namespace once the
   control plane has pulled the cell's usage (every 10 s by default).
3. A user invited with account role `read`, granted `read` on A's namespace,
   sees A's workflow list and detail but no Signal/Cancel/Terminate/Reset/
   Update buttons, and none of the controls the API refuses a reader
   (namespace deletion, retention, mTLS, grants, creating a namespace); the
   API-key form it is shown works, since the API lets anyone make their own.

Screenshots land in tests/e2e/artifacts/console-isolation-*.png.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio import activity, workflow

from conftest import e2e_target
from helpers import new_id, run_worker
from tenancy_stack import DOMAIN, Stack
from test_console import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    PASSWORD,
    becomes,
    create_namespace,
    shot,
    sign_up_and_log_in,
    status_with,
    submit,
)
from test_console_workflows import api_key, load_when_granted, start_stack

pytestmark = pytest.mark.skipif(e2e_target() != "orrery", reason="the console is Orrery's")

# Things only account A's workflow has; none may show on another account's page.
SECRET_INPUT = f"ledger-secret-{uuid.uuid4().hex[:10]}"


@activity.defn
async def post_entry(entry: str) -> str:
    return f"posted {entry}"


@workflow.defn
class IsolatedLedger:
    @workflow.run
    async def run(self, entry: str) -> str:
        return await workflow.execute_activity(
            post_entry, entry, start_to_close_timeout=timedelta(seconds=30)
        )


@dataclass
class World:
    """The stack, account A's page and what A made; B's and the reader's
    contexts are made by the tests that need them."""

    stack: Stack
    browser: object
    page: object  # account A's
    slug: str
    email: str
    ns_id: str
    workflow_id: str
    run_id: str
    task_queue: str
    other: object  # account B's page, signed in
    other_email: str
    other_slug: str
    errors: list[str] = field(default_factory=list)


async def new_page(world_or_browser, errors: list[str]):
    """A page in a fresh browser context (its own cookies), whose calls to a
    namespace's HTTP API host are forwarded to the cell, and whose uncaught
    errors and CSP violations go to `errors`."""
    browser = getattr(world_or_browser, "browser", world_or_browser)
    context = await browser.new_context(ignore_https_errors=True)
    context.set_default_timeout(30_000)
    page = await context.new_page()
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    return page


async def forward_to_cell(page, stack: Stack) -> None:
    """As start_stack does for A: `https://<namespace>.<domain>:7243` is the
    cell's HTTP API on a free port of 127.0.0.1 here."""
    cell = f"127.0.0.1:{stack.http_api_port}"

    async def forward(route) -> None:
        url = re.sub(r"^https://[^/]+", f"https://{cell}", route.request.url)
        await route.fulfill(response=await route.fetch(url=url))

    await page.context.route(re.compile(rf"^https://[^/]+\.{re.escape(DOMAIN)}:7243/"), forward)


async def isolation_shot(page, name: str) -> None:
    await shot(page, f"isolation-{name}")


@pytest_asyncio.fixture(scope="module")
async def world():
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium or set ORRERY_CHROMIUM")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        errors: list[str] = []
        page = await new_page(browser, errors)
        stack: Stack | None = None
        try:
            # Signs A up (through the forms) and starts the cell for A's slug.
            stack, slug = await start_stack(page)
            email = await page.inner_text("#user-label")
            ns_id, endpoint = await create_namespace(page, "ledger", 2)
            token = await api_key(page)
            tls = stack.tls(endpoint.rsplit(":", 1)[0])
            await becomes("ok", lambda: status_with(stack.address, ns_id, tls, token))
            client = await stack.connect(ns_id, api_key=token)
            async with run_worker(client, workflows=[IsolatedLedger], activities=[post_entry]) as worker:
                handle = await client.start_workflow(
                    IsolatedLedger.run, SECRET_INPUT, id=new_id("ledger"),
                    task_queue=worker.task_queue, execution_timeout=timedelta(seconds=60))
                assert await handle.result() == f"posted {SECRET_INPUT}"
            desc = await handle.describe()
            # Account B, signed up in a browser context of its own (here: the
            # control plane allows only a few signups from one address).
            other = await new_page(browser, errors)
            await forward_to_cell(other, stack)
            other_email = f"other-{uuid.uuid4().hex[:6]}@example.com"
            other_slug = await sign_up_and_log_in(other, stack.api, other_email)
            yield World(stack, browser, page, slug, email.split(" ·")[0].strip(), ns_id,
                        handle.id, desc.run_id, worker.task_queue, other, other_email,
                        other_slug, errors)
        except Exception:
            if stack is not None:
                print("control plane:", stack.log("control-plane"), "\ncell:", stack.log("cell"))
            raise
        finally:
            await browser.close()
            if stack is not None:
                stack.stop()


async def view_text_beyond_the_address(page) -> str:
    """The page's main text without the parts that only repeat the address
    bar's path (the heading, the back link, and the workflow list's
    "Namespace <id>" line under the heading)."""
    return await page.evaluate("""() => {
        const view = document.querySelector('#view').cloneNode(true);
        view.querySelectorAll('h1, p.back, h1 + p.muted').forEach((e) => e.remove());
        return view.innerText;
    }""")


async def console_token_status(page, namespace: str) -> int:
    """POST …/console-token from the page, with its session cookie and CSRF
    token, as the console sends it."""
    return await page.evaluate("""async (ns) => {
        const csrf = (document.cookie.match(/(?:^|; )orrery_csrf=([^;]*)/) || [])[1] || '';
        const res = await fetch('/api/v1/namespaces/' + encodeURIComponent(ns) + '/console-token', {
            method: 'POST', credentials: 'same-origin',
            headers: {'x-csrf-token': decodeURIComponent(csrf)},
        });
        return res.status;
    }""", namespace)


@pytest.mark.timeout(300)
async def test_a_second_account_sees_none_of_the_first(world: World):
    stack, a = world.stack, world
    base_a = f"{stack.api}/namespaces/{a.ns_id}"
    # First, A itself sees its workflow at the URLs B will try.
    await load_when_granted(a.page, f"{base_a}/workflows/{a.workflow_id}", "[data-testid=summary]")
    assert await a.page.inner_text("[data-testid=workflow-type]") == "IsolatedLedger"
    await a.page.locator("[data-testid=summary] [data-testid=status]", has_text="Completed").wait_for()
    await isolation_shot(a.page, "owner-detail")

    b, b_email, b_slug = world.other, world.other_email, world.other_slug
    try:
        assert b_slug != a.slug
        # The same namespace name in B's account: B's own, listed alone.
        b_ns, _ = await create_namespace(b, "ledger", 1)
        assert b_ns == f"ledger.{b_slug}" != a.ns_id
        rows = await b.locator("[data-testid=namespace-list] tbody tr").all_inner_texts()
        assert len(rows) == 1 and b_ns in rows[0], rows
        listed = await b.inner_text("[data-testid=namespace-list]")
        assert a.ns_id not in listed and a.slug not in listed, listed
        await isolation_shot(b, "other-namespaces")
        # B's own workflow list loads (empty): the refusals below are A's alone.
        await load_when_granted(b, f"{stack.api}/namespaces/{b_ns}/workflows", "[data-testid=workflows]")
        assert a.workflow_id not in await b.inner_text("#view")

        # A's things, by URL, in B's browser.
        never = {  # known only to A's account
            "A's run id": a.run_id,
            "A's task queue": a.task_queue,
            "A's workflow type": "IsolatedLedger",
            "A's workflow input": SECRET_INPUT,
            "A's email": a.email,
        }
        ids = {"A's namespace id": a.ns_id, "A's workflow id": a.workflow_id}
        for name, path in (
            ("namespace", ""),
            ("workflows", "/workflows"),
            ("workflow", f"/workflows/{a.workflow_id}"),
            ("schedules", "/schedules"),
        ):
            url = base_a + path
            res = await b.goto(url)
            assert res is not None and res.ok  # the console's page; its API calls are refused
            problem = b.locator("#view p.error")
            await problem.wait_for()
            await b.locator("#view .loading").first.wait_for(state="detached")
            said = await problem.first.inner_text()
            assert "not found" in said.lower(), f"{name}: {said!r}"
            # Still the console: the nav and B's own session, not a blank page.
            assert await b.locator("#nav").is_visible(), name
            assert b_email in await b.inner_text("#user-label"), name
            assert b.url == url
            body = await b.inner_text("body")
            for what, value in never.items():
                assert value not in body, f"{name} page shows {what}: {body!r}"
            beyond = await view_text_beyond_the_address(b)
            for what, value in ids.items():
                assert value not in beyond, f"{name} page shows {what} beyond the address: {beyond!r}"
            # Nothing of A's in a table or a form either.
            assert not await b.locator("[data-testid=summary], [data-testid=history]").count(), name
            assert not await b.locator("#view table").count(), name
            await isolation_shot(b, f"other-{name}")

        # The control plane refuses B a console token for A's namespace (as if
        # it did not exist), and gives B one for its own.
        assert await console_token_status(b, a.ns_id) == 404
        assert await console_token_status(b, b_ns) == 201
        # And the API answers A's namespace to B's session as unknown.
        res = await b.request.get(f"{stack.api}/api/v1/namespaces/{a.ns_id}")
        assert res.status == 404, await res.text()
        assert a.ns_id not in [n["id"] for n in await (await b.request.get(
            f"{stack.api}/api/v1/namespaces")).json()]
        assert not world.errors, world.errors
    except Exception:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await b.screenshot(path=str(ARTIFACTS / "console-isolation-failure.png"), full_page=True)
        print("B's page:", await b.inner_text("body"))
        raise


@pytest.mark.timeout(300)
async def test_usage_shows_the_workflows_actions(world: World):
    page = world.page
    # The control plane pulls the cell's usage every 10 s (its default):
    # the page shows it within about two pulls; reloads until then.
    await page.goto(f"{world.stack.api}/usage")
    row = page.locator("[data-testid=usage-table] tbody tr", has_text=world.ns_id)
    deadline = time.monotonic() + 60
    while True:
        await page.locator("[data-testid=usage-table]").wait_for()
        await page.locator("#view .loading").first.wait_for(state="detached")
        if await row.count():
            cells = await row.first.locator("td").all_inner_texts()
            if int(cells[2]) > 0:
                break
        assert time.monotonic() < deadline, (
            "no Actions for the namespace on the Usage page after 60 s: "
            + await page.inner_text("[data-testid=usage-table]"))
        await asyncio.sleep(2)
        await page.reload()
    # A started workflow, a workflow task and an activity are Actions.
    assert cells[1] == world.ns_id, cells
    assert int(cells[2]) >= 2, cells
    assert "workflow_started" in cells[3], cells
    chart = page.locator("[data-testid=actions-chart] svg")
    assert "Actions per day" in await chart.get_attribute("aria-label")
    assert not await page.locator("#view p.error:visible").count()
    await isolation_shot(page, "usage")

    # Account B's Usage page has nothing of A's.
    b = world.other
    await b.goto(f"{world.stack.api}/usage")
    await b.locator("[data-testid=usage-table]").wait_for()
    await b.locator("#view .loading").first.wait_for(state="detached")
    text = await b.inner_text("#view")
    assert world.ns_id not in text and world.slug not in text, text
    assert world.ns_id not in await b.locator("#usage-namespace option").all_inner_texts()
    await isolation_shot(b, "other-usage")
    assert not world.errors, world.errors


async def refused_controls_on_namespace_page(page) -> list[str]:
    """Controls on a namespace page that need the namespace's admin
    permission (the API answers a reader 403), by what they are."""
    found = []
    for selector, what in (
        ("#delete-namespace", "the namespace deletion form"),
        ("#retention", "the retention form"),
        ("#mtls-generate", "the generate-a-CA form"),
        ("#mtls-issue", "the issue-a-client-certificate form"),
        ("#mtls-upload", "the upload-a-CA-bundle form"),
        ("#grant", "the grant-a-permission form"),
    ):
        if await page.locator(selector).count():
            found.append(f"{what} ({selector})")
    for name in ("Delete namespace", "Remove mTLS", "Remove", "Grant"):
        if await page.get_by_role("button", name=name, exact=True).count():
            found.append(f"a {name!r} button")
    return found


@pytest.mark.timeout(300)
async def test_a_reader_sees_workflows_but_no_controls_the_api_refuses(world: World):
    stack, owner = world.stack, world.page
    base = f"{stack.api}/namespaces/{world.ns_id}"
    reader = f"reader-{uuid.uuid4().hex[:6]}@example.com"
    await owner.goto(f"{stack.api}/users")
    await owner.fill("#invite-email", reader)
    await owner.select_option("#invite-role", "read")
    await submit(owner, "invite", "[data-testid=invite-token]")
    invitation = (await owner.inner_text("[data-testid=invite-token] pre")).strip()
    await owner.goto(base)
    await owner.wait_for_selector("#grant")
    label = next(o for o in await owner.locator("#grant-principal option").all_inner_texts() if reader in o)
    await owner.select_option("#grant-principal", label=label)
    await owner.select_option("#grant-permission", "read")
    await submit(owner, "grant", f"tr:has-text('{reader}')")

    page = await new_page(world, world.errors)
    await forward_to_cell(page, stack)
    try:
        await page.goto(f"{stack.api}/accept-invitation")
        await page.fill("#accept-token", invitation)
        await page.fill("#accept-password", PASSWORD)
        await submit(page, "accept", "[data-testid=flash]")
        assert "read" in await page.inner_text("#user-label")
        visible = [await x.inner_text() for x in await page.locator("#nav a:visible").all()]
        assert "Usage" not in visible and "Audit log" not in visible, visible

        # -- the workflow list and detail ------------------------------------
        await load_when_granted(page, base + "/workflows", "[data-testid=workflows]")
        await page.locator("[data-testid=workflows] a", has_text=world.workflow_id).wait_for()
        await isolation_shot(page, "reader-list")
        await page.locator("[data-testid=workflows] a", has_text=world.workflow_id).click()
        await page.locator("[data-testid=summary]").wait_for()
        assert await page.inner_text("[data-testid=workflow-type]") == "IsolatedLedger"
        await page.locator("[data-testid=history] [data-event-type=ActivityTaskCompleted]").wait_for()
        assert "read" in await page.inner_text("[data-testid=read-only]")
        assert await page.locator("[data-testid=workflow-actions]").count() == 0
        assert await page.locator("[data-testid^=action-]").count() == 0
        for name in ("Signal", "Cancel", "Terminate", "Reset", "Update"):
            buttons = page.get_by_role("button", name=re.compile(rf"^{name}", re.I))
            assert await buttons.count() == 0, f"a reader is shown a {name} button"
        await isolation_shot(page, "reader-detail")

        # -- no controls the API refuses a reader ---------------------------
        refused: list[str] = []
        await page.goto(base)
        await page.locator("[data-testid=endpoint]").wait_for()
        await page.locator("#view .loading").first.wait_for(state="detached")
        refused += [f"namespace page: {c}" for c in await refused_controls_on_namespace_page(page)]
        await isolation_shot(page, "reader-namespace")
        await page.click("#nav >> text=Namespaces")
        await page.locator("[data-testid=namespace-list] table").wait_for()
        assert world.ns_id in await page.inner_text("[data-testid=namespace-list]")
        if await page.locator("#create-namespace").count():
            refused.append("namespaces page: the create-namespace form (#create-namespace)")
        await isolation_shot(page, "reader-namespaces")
        # The API-key form it is shown works: anyone may make their own key.
        await page.click("#nav >> text=API keys")
        await page.wait_for_selector("#create-api-key")
        await page.fill("#create-api-key-name", "reader-own")
        await page.fill("#create-api-key-expiry_days", "1")
        await submit(page, "create-api-key", "[data-testid=api-key-secret]")
        await page.locator("[data-testid=api-key-list] tr", has_text="reader-own").wait_for()
        await isolation_shot(page, "reader-api-keys")
        # What the API answers this reader's session for those controls.
        csrf = next(c["value"] for c in await page.context.cookies() if c["name"] == "orrery_csrf")
        ns_url = f"{stack.api}/api/v1/namespaces/{world.ns_id}"
        for method, url, body in (
            ("PATCH", ns_url, {"retention_days": 5}),
            ("DELETE", ns_url, None),
            ("POST", f"{ns_url}/mtls/generated-ca", {"validity_days": 30}),
            ("POST", f"{stack.api}/api/v1/namespaces", {"name": "readers-own", "retention_days": 1}),
        ):
            res = await page.request.fetch(url, method=method, data=body,
                                           headers={"x-csrf-token": csrf})
            assert res.status == 403, f"{method} {url}: {res.status} {await res.text()}"
        assert not refused, (
            "a user with account role read and read permission is shown controls "
            f"the API refuses it (403): {refused}")
        assert not world.errors, world.errors
    except Exception:
        print("reader's page:", await page.inner_text("#view"))
        raise
    finally:
        await page.context.close()
