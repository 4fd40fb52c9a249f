"""The console's standalone activities and archived runs in a real browser
(Debian's Chromium driven by Playwright) against the tenancy stack: two
activities started with the official Python SDK's start_activity (one that
completes, one that heartbeats until it is ended) are listed and shown
(input, result, heartbeat details decoded), a terminate from the console
ends the running one, a malformed list query shows the API's message, and
the Workflows page's Archived tab shows the API's refusal for a namespace
without visibility archival instead of an empty table.

Screenshots land in tests/e2e/artifacts/console-activities-*.png.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.client import ActivityExecutionStatus

from conftest import e2e_target
from helpers import new_id, run_worker
from test_console import ARTIFACTS, becomes, create_namespace, status_with
from test_console_workflows import api_key, browser_context, load_when_granted, open_dialog_and_confirm, start_stack

pytestmark = pytest.mark.skipif(e2e_target() != "orrery", reason="the console is Orrery's")

__all__ = ["browser_context"]  # the fixture, imported for pytest


@activity.defn
async def double(x: int) -> dict:
    return {"doubled": x * 2}


@activity.defn
async def watch(label: str) -> str:
    # Heartbeats until it is ended (terminated: the heartbeat is refused and
    # the SDK cancels it).
    step = 0
    while True:
        step += 1
        activity.heartbeat({"label": label, "step": step})
        await asyncio.sleep(0.3)


async def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.locator("#view .loading").first.wait_for(state="detached")
    await page.screenshot(path=str(ARTIFACTS / f"console-activities-{name}.png"), full_page=True)


@pytest.mark.timeout(300)
async def test_console_lists_shows_and_terminates_standalone_activities_and_shows_archival_refusal(browser_context):
    context = await browser_context()
    page = await context.new_page()
    errors: list[str] = []
    logs: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: logs.append(m.text) if m.type == "error" else None)
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    stack, _slug = await start_stack(page)
    try:
        ns_id, endpoint = await create_namespace(page, "jobs", 3)
        token = await api_key(page)
        host = endpoint.rsplit(":", 1)[0]
        await becomes("ok", lambda: status_with(stack.address, ns_id, stack.tls(host), token))
        client = await stack.connect(ns_id, api_key=token)

        async with run_worker(client, activities=[double, watch]) as worker:
            tq = worker.task_queue
            done = await client.start_activity(
                double, 21, id=new_id("double"), task_queue=tq, start_to_close_timeout=timedelta(seconds=30))
            assert await done.result() == {"doubled": 42}
            running = await client.start_activity(
                watch, "nightly", id=new_id("watch"), task_queue=tq,
                start_to_close_timeout=timedelta(minutes=5), heartbeat_timeout=timedelta(seconds=30))

            async def heartbeated() -> str:
                d = await running.describe()
                return "yes" if d.status == ActivityExecutionStatus.RUNNING and d.last_heartbeat_time else "no"

            await becomes("yes", heartbeated, within=20)

            # -- from the namespace page to the list ---------------------------
            base = f"{stack.api}/namespaces/{ns_id}"
            await page.goto(base)
            await page.locator("[data-testid=namespace-links] a", has_text="Standalone activities").click()
            await page.wait_for_url("**/activities")
            await load_when_granted(page, base + "/activities", "[data-testid=activities]")
            table = page.locator("[data-testid=activities]")
            done_row = table.locator("tr", has=page.locator("a", has_text=done.id))
            running_row = table.locator("tr", has=page.locator("a", has_text=running.id))
            await done_row.wait_for()
            await running_row.wait_for()
            assert "Completed" in await done_row.inner_text()
            row = await running_row.inner_text()
            assert "Running" in row and "watch" in row and tq in row, row
            await shot(page, "list")

            # -- a malformed query: the API's message by the query box ---------
            await page.fill("#activity-query", "ActivityType = ")
            await page.click("form[role=search] button[type=submit]")
            problem = page.locator("[data-testid=query-error]")
            await problem.wait_for()
            assert (await problem.inner_text()).strip()
            assert await page.get_attribute("#activity-query", "aria-invalid") == "true"

            # -- a completed one: input and result decoded ---------------------
            await page.goto(f"{base}/activities/{done.id}")
            await page.locator("[data-testid=activity-summary]").wait_for()
            assert await page.inner_text("[data-testid=activity-type]") == "double"
            assert "Completed" in await page.inner_text("[data-testid=activity-summary] [data-testid=status]")
            assert json.loads(await page.inner_text("[data-testid=activity-input]")) == [21]
            assert json.loads(await page.inner_text("[data-testid=activity-result]")) == [{"doubled": 42}]
            assert await page.locator("[data-testid=action-terminate]").count() == 0
            await shot(page, "completed")

            # -- the running one: heartbeat details, then terminate ------------
            await page.goto(f"{base}/activities/{running.id}")
            await page.locator("[data-testid=activity-summary]").wait_for()
            assert json.loads(await page.inner_text("[data-testid=activity-input]")) == ["nightly"]
            beat = json.loads(await page.inner_text("[data-testid=activity-heartbeat]"))
            assert beat[0]["label"] == "nightly", beat
            await shot(page, "running")
            await open_dialog_and_confirm(page, "terminate", {"Reason": "from the console"}, "Terminate")
            await page.locator("[data-testid=activity-summary] [data-testid=status]", has_text="Terminated").wait_for()
            assert (await running.describe()).status == ActivityExecutionStatus.TERMINATED
            assert await page.locator("[data-testid=action-terminate]").count() == 0
            await shot(page, "terminated")

        # -- archived runs: this namespace has no visibility archival ----------
        await page.goto(f"{base}/workflows")
        await page.locator("[data-testid=workflows]").wait_for()
        await page.click("[data-testid=tab-archived]")
        refusal = page.locator("[data-testid=archived-error]")
        await refusal.wait_for()
        assert "not configured for visibility archival" in await refusal.inner_text()
        assert await page.locator("[data-testid=archived-workflows]").count() == 0
        await shot(page, "archived-refused")
        assert not errors, errors
    except Exception:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "console-activities-failure.png"), full_page=True)
        print("page:", await page.inner_text("#view"), "\nbrowser errors:", errors, logs)
        print("control plane:", stack.log("control-plane"), "\ncell:", stack.log("cell"))
        raise
    finally:
        await context.close()
        stack.stop()
