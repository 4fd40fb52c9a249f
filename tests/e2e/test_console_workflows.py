"""The console's workflow views in a real browser (Debian's Chromium driven by
Playwright) against the tenancy stack: a user signs up, creates a namespace
and an API key; an official Python SDK worker runs a workflow with an
activity, a timer and a signal there; the console lists it (status chips,
counts), shows its history and timeline, sends the signal, terminates
another run, pauses a schedule, and shows the API's message for a malformed
list query or an unknown workflow; a developer with read permission sees no
buttons that change anything. The browser calls the cell's Temporal HTTP API
itself, with the console token the control plane issues, under the page's
own Content-Security-Policy (no violation allowed).

Screenshots land in tests/e2e/artifacts/console-workflows-*.png.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from temporalio import activity, workflow
from temporalio.client import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleSpec,
    ScheduleState,
)

from conftest import e2e_target
from helpers import new_id, run_worker
from tenancy_stack import DOMAIN, Stack
from test_console import (
    ARTIFACTS,
    PASSWORD,
    CHROMIUM,
    CHROMIUM_ARGS,
    becomes,
    create_namespace,
    sign_up_and_log_in,
    status_with,
    submit,
)

pytestmark = pytest.mark.skipif(e2e_target() != "orrery", reason="the console is Orrery's")


@activity.defn
async def charge(amount: int) -> dict:
    return {"charged": amount}


@workflow.defn
class ConsoleOrder:
    def __init__(self) -> None:
        self.approver = ""

    @workflow.signal
    def approve(self, who: str) -> None:
        self.approver = who

    @workflow.run
    async def run(self, amount: int) -> dict:
        charged = await workflow.execute_activity(
            charge, amount, start_to_close_timeout=timedelta(seconds=30)
        )
        await asyncio.sleep(1)
        await workflow.wait_condition(lambda: bool(self.approver))
        return {"charge": charged, "approver": self.approver}


async def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.locator("#view .loading").first.wait_for(state="detached")
    await page.screenshot(path=str(ARTIFACTS / f"console-workflows-{name}.png"), full_page=True)


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@pytest.fixture
async def browser_context():
    """Makes browser contexts (the page's CSP enforced, as always)."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium or set ORRERY_CHROMIUM")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            async def make():
                context = await browser.new_context(ignore_https_errors=True)
                context.set_default_timeout(30_000)
                return context

            yield make
        finally:
            await browser.close()


async def start_stack(page) -> tuple[Stack, str]:
    """The tenancy stack whose cell serves the HTTP API to the console's
    origin, and a signed-in new owner; returns the stack and the account slug."""
    stack = Stack()
    await asyncio.to_thread(stack.start_control_plane)
    email = f"wf-{uuid.uuid4().hex[:6]}@example.com"
    slug = await sign_up_and_log_in(page, stack.api, email)
    # The cell registers its HTTP API endpoint, which the console calls.
    stack.cell_credential = stack.operator().call("POST", "/api/v1/admin/cells", {
        "name": "cell-1",
        "grpc_endpoint": f"https://{stack.address}",
        "admin_endpoint": f"https://127.0.0.1:{stack.admin_port}",
        "http_endpoint": stack.http_api,
        "capacity": 1000,
    })["credential"]
    await asyncio.to_thread(
        stack.start_cell, [f"*.{slug}.{DOMAIN}"],
        ["--http-api-allowed-origin", origin(stack.api)],
    )
    # The control plane names the HTTP API per namespace under the tenant
    # domain on port 7243 (`https://<namespace>.<domain>:7243`), as it does
    # the gRPC endpoint on 7233; here the cell listens on a free port of
    # 127.0.0.1, so the browser's calls there are forwarded to it (the
    # Python SDK likewise dials stack.address with the namespace's name).
    cell = f"127.0.0.1:{stack.http_api_port}"
    from playwright.async_api import Error as PlaywrightError

    async def forward(route) -> None:
        url = re.sub(r"^https://[^/]+", f"https://{cell}", route.request.url)
        try:
            # Longer than the live view's long poll (grpc-timeout 30S).
            await route.fulfill(response=await route.fetch(url=url, timeout=60_000))
        except PlaywrightError:
            # The page went away (or aborted the long poll) while it waited.
            with contextlib.suppress(PlaywrightError):
                await route.abort()

    await page.context.route(re.compile(rf"^https://[^/]+\.{re.escape(DOMAIN)}:7243/"), forward)
    return stack, slug


async def api_key(page) -> str:
    await page.click("#nav >> text=API keys")
    await page.wait_for_selector("#create-api-key")
    await page.fill("#create-api-key-name", "worker")
    await page.fill("#create-api-key-expiry_days", "7")
    await submit(page, "create-api-key", "[data-testid=api-key-secret]")
    return (await page.inner_text("[data-testid=api-key-secret] pre")).strip()


async def load_when_granted(page, url: str, ready: str) -> None:
    """Opens `url` until `ready` shows: the cell learns of a new namespace or
    grant when it next polls the control plane's snapshot, and refuses the
    console's token until then (the page shows that refusal)."""
    shown = page.locator(ready)
    refused = page.locator("#view p.error", has_text="lacks read permission")
    for _ in range(40):
        await page.goto(url)
        await shown.or_(refused).first.wait_for()
        if await shown.count():
            return
        await asyncio.sleep(0.5)
    pytest.fail(f"{url} still refused: {await refused.inner_text()}")


async def open_dialog_and_confirm(page, action: str, fields: dict[str, str], confirm: str) -> None:
    await page.click(f"[data-testid=action-{action}]")
    dialog = page.locator("[data-testid=action-dialog]")
    await dialog.wait_for()
    for label, value in fields.items():
        await dialog.get_by_label(label).fill(value)
    await dialog.get_by_role("button", name=confirm).click()
    await page.locator("[data-testid=action-done]").wait_for()


@pytest.mark.timeout(300)
async def test_console_shows_workflows_history_timeline_actions_and_schedules(browser_context):
    context = await browser_context()
    page = await context.new_page()
    errors: list[str] = []  # uncaught exceptions: none allowed
    logs: list[str] = []  # failed loads (the signup form's refusals among them), shown on failure
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: logs.append(m.text) if m.type == "error" else None)
    # The page's policy (connect-src) must let it reach the cell's HTTP API.
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    stack, slug = await start_stack(page)
    try:
        ns_id, endpoint = await create_namespace(page, "orders", 3)
        token = await api_key(page)
        host = endpoint.rsplit(":", 1)[0]
        tls = stack.tls(host)
        await becomes("ok", lambda: status_with(stack.address, ns_id, tls, token))
        client = await stack.connect(ns_id, api_key=token)

        async with run_worker(client, workflows=[ConsoleOrder], activities=[charge]) as worker:
            tq = worker.task_queue
            signalled = await client.start_workflow(
                ConsoleOrder.run, 42, id=new_id("order"), task_queue=tq)
            doomed = await client.start_workflow(
                ConsoleOrder.run, 7, id=new_id("doomed"), task_queue=tq)
            schedule_id = new_id("nightly")
            await client.create_schedule(schedule_id, Schedule(
                action=ScheduleActionStartWorkflow(
                    ConsoleOrder.run, 1, id=new_id("scheduled"), task_queue=tq),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))]),
                state=ScheduleState(note="from the console test"),
            ))

            # -- the list: both runs, counts by status, chips ----------------
            base = f"{stack.api}/namespaces/{ns_id}"
            await load_when_granted(page, base + "/workflows", "[data-testid=workflows]")
            table = page.locator("[data-testid=workflows]")
            await table.locator("a", has_text=signalled.id).wait_for()
            await table.locator("a", has_text=doomed.id).wait_for()
            running_chip = page.locator("[data-testid=chip-Running]")
            await page.locator("[data-testid=chip-Running] .count").wait_for()
            assert int(await running_chip.locator(".count").inner_text()) >= 2
            await shot(page, "list")
            await running_chip.click()
            await page.wait_for_url("**/workflows?query=*")
            assert await page.input_value("#workflow-query") == 'ExecutionStatus = "Running"'
            assert await running_chip.get_attribute("aria-pressed") == "true"
            await table.locator("a", has_text=signalled.id).wait_for()

            # -- a malformed query: the API's message by the query box -------
            await page.fill("#workflow-query", "WorkflowType = ")
            await page.click("form[role=search] button[type=submit]")
            problem = page.locator("[data-testid=query-error]")
            await problem.wait_for()
            assert "invalid query" in await problem.inner_text()
            assert await page.get_attribute("#workflow-query", "aria-invalid") == "true"
            await shot(page, "bad-query")

            # -- an unknown workflow: the API's message, not a blank page -----
            await page.goto(base + "/workflows/no-such-workflow")
            missing = page.locator("#view p.error")
            await missing.wait_for()
            assert "not found" in await missing.inner_text()

            # -- the detail: summary, history, timeline ----------------------
            await page.goto(base + "/workflows")
            await table.locator("a", has_text=signalled.id).click()
            await page.locator("[data-testid=summary]").wait_for()
            assert await page.inner_text("[data-testid=workflow-type]") == "ConsoleOrder"
            assert "temporal-python" in await page.inner_text("[data-testid=sdk]")
            history = page.locator("[data-testid=history]")
            await history.locator("[data-event-type=TimerFired]").wait_for()  # live mode
            # It followed the run with a long poll (waitNewEvent and a
            # grpc-timeout header, which the cell's CORS allows), not by polling.
            assert await page.get_attribute("[data-testid=live-mode]", "data-mode") == "long-poll"
            completed = history.locator("[data-event-type=ActivityTaskCompleted]")
            await completed.locator("button").click()
            attrs = await completed.locator("[data-testid=event-attributes]").inner_text()
            assert json.loads(attrs)["activityTaskCompletedEventAttributes"]["result"] == [{"charged": 42}]
            await shot(page, "detail")
            await page.get_by_role("button", name="Timeline").click()
            await page.locator("[data-testid=timeline]").wait_for()
            assert await page.locator("[data-testid=bar-activity]").count() == 1
            assert await page.locator("[data-testid=bar-timer]").count() == 1
            await shot(page, "timeline")

            # -- where its code waits (the __stack_trace query) --------------
            await page.get_by_role("button", name="Get the stack trace").click()
            trace = page.locator("[data-testid=stack-trace-text]")
            await trace.wait_for()
            assert "ConsoleOrder" in await trace.inner_text()

            # -- a signal from the console completes it ----------------------
            await open_dialog_and_confirm(
                page, "signal", {"Signal name": "approve", "Input (JSON, optional)": '"console"'},
                "Send signal")
            assert await signalled.result() == {"charge": {"charged": 42}, "approver": "console"}
            await page.locator("[data-testid=summary] [data-testid=status]", has_text="Completed").wait_for()
            await page.get_by_role("button", name="Event list").click()
            await history.locator("[data-event-type=WorkflowExecutionSignaled]").wait_for()
            await shot(page, "signalled")

            # -- terminate another ------------------------------------------
            await page.goto(f"{base}/workflows/{doomed.id}")
            await page.locator("[data-testid=summary]").wait_for()
            await open_dialog_and_confirm(page, "terminate", {"Reason": "from the console"}, "Terminate")
            await page.locator("[data-testid=summary] [data-testid=status]", has_text="Terminated").wait_for()
            desc = await doomed.describe()
            assert desc.status.name == "TERMINATED"
            await shot(page, "terminated")

            # -- the workers of its task queue (DescribeTaskQueue pollers) ---
            await page.click("[data-testid=summary] [data-testid=task-queue]")
            await page.wait_for_url(f"**/task-queues/{tq}")
            for kind in ("workflow", "activity"):
                pollers = page.locator(f"[data-testid=pollers-{kind}-table] tbody tr")
                await pollers.first.wait_for()
                identity = await pollers.first.locator("td").first.inner_text()
                assert "@" in identity, (kind, identity)  # the SDK's pid@host
            await shot(page, "workers")
            # On a phone: the workers and the run's page fit (tables scroll inside).
            await page.set_viewport_size({"width": 390, "height": 844})
            for url, ready in ((page.url, "[data-testid=pollers-activity-table]"),
                               (f"{base}/workflows/{signalled.id}", "[data-testid=history]")):
                await page.goto(url)
                await page.locator(ready).wait_for()
                assert await page.evaluate(
                    "document.documentElement.scrollWidth <= window.innerWidth"), f"{url} wider than a phone"
            await shot(page, "phone-detail")
            await page.set_viewport_size({"width": 1280, "height": 800})

            # -- the schedule -----------------------------------------------
            await page.goto(base + "/schedules")
            await page.locator("[data-testid=schedules] a", has_text=schedule_id).click()
            await page.locator("[data-testid=schedule-summary]").wait_for()
            assert await page.inner_text("[data-testid=schedule-state]") == "active"
            assert await page.locator("[data-testid=upcoming-runs] tbody tr").count() >= 1
            await page.click("[data-testid=schedule-pause]")
            await page.locator("[data-testid=action-dialog]").get_by_role("button", name="Pause").click()
            await page.locator("[data-testid=schedule-state]", has_text="paused").wait_for()
            await shot(page, "schedule")

            # -- a developer with read permission: no buttons that change ----
            watched = await client.start_workflow(
                ConsoleOrder.run, 9, id=new_id("watched"), task_queue=tq)
            reader = f"reader-{uuid.uuid4().hex[:6]}@example.com"
            await page.click("#nav >> text=Users")
            await page.fill("#invite-email", reader)
            await page.select_option("#invite-role", "developer")
            await submit(page, "invite", "[data-testid=invite-token]")
            invitation = (await page.inner_text("[data-testid=invite-token] pre")).strip()
            await page.goto(base)
            await page.wait_for_selector("#grant")
            label = next(o for o in await page.locator("#grant-principal option").all_inner_texts()
                         if reader in o)
            await page.select_option("#grant-principal", label=label)
            await page.select_option("#grant-permission", "read")
            await submit(page, "grant", f"tr:has-text('{reader}')")
            await page.click("#logout")
            await page.wait_for_selector("#login")
            await page.click("text=Accept an invitation")
            await page.fill("#accept-token", invitation)
            await page.fill("#accept-password", PASSWORD)
            await submit(page, "accept", "[data-testid=flash]")
            await load_when_granted(page, f"{base}/workflows/{watched.id}", "[data-testid=summary]")
            await page.locator("[data-testid=read-only]").wait_for()
            assert await page.locator("[data-testid=workflow-actions]").count() == 0
            assert await page.locator("[data-testid^=action-]").count() == 0
            await shot(page, "reader")
            # The namespace's settings: seen, but nothing to change them with.
            await page.goto(base)
            await page.locator("[data-testid=codec-state]").wait_for()
            await page.locator("[data-testid=archival-state]").wait_for()
            await page.locator("[data-testid=search-attribute-table]").wait_for()
            await page.locator("[data-testid=connect-worker] [data-testid=snippet]").wait_for()
            for form in ("#codec", "#add-search-attribute", "#archival"):
                assert await page.locator(form).count() == 0, form
            assert await page.locator("[data-testid=codec-server] button").count() == 0
            await page.goto(f"{base}/schedules/{schedule_id}")
            await page.locator("[data-testid=schedule-summary]").wait_for()
            assert await page.locator("[data-testid=schedule-pause]").count() == 0
            assert await page.locator("[data-testid=schedule-trigger]").count() == 0
            await watched.terminate("done")
        assert not errors, errors
    except Exception:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "console-workflows-failure.png"), full_page=True)
        print("page:", await page.inner_text("#view"), "\nbrowser errors:", errors, logs)
        print("control plane:", stack.log("control-plane"), "\ncell:", stack.log("cell"))
        raise
    finally:
        await context.close()
        stack.stop()
