"""A namespace's payload codec server in a real browser (Debian's Chromium
driven by Playwright) against the tenancy stack.

A Python SDK worker encodes every payload with a PayloadCodec of its own
(`binary/encrypted`: the payload's protobuf bytes reversed), so the history
the cell keeps is unreadable without it, and the console shows it raw. A
small codec server started here (http.server on 127.0.0.1, answering CORS for
the console's origin) decodes the same encoding; once the namespace names it
in the console's settings, the workflow page posts its payloads there
(`POST /decode`, `X-Namespace`, the console token when "pass the access
token" is set) and shows the values; when the codec server fails, the page
says so and shows the payloads as stored. The same page has the namespace's
other settings: "connect your worker" snippets, custom search attributes and
archival (refused on the field: the test cell has no archive).

Screenshots land in tests/e2e/artifacts/console-codec-*.png.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Sequence

import pytest
from google.protobuf import json_format
from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.converter import DataConverter, PayloadCodec

from conftest import e2e_target
from helpers import new_id, run_worker
from test_console import ARTIFACTS, becomes, create_namespace, status_with, submit
from test_console_workflows import api_key, browser_context, load_when_granted, origin, start_stack  # noqa: F401

pytestmark = pytest.mark.skipif(e2e_target() != "orrery", reason="the console is Orrery's")

ENCODING = b"binary/encrypted"
SECRET = "the launch code is 0000"


def encode(payload: Payload) -> Payload:
    return Payload(metadata={"encoding": ENCODING}, data=payload.SerializeToString()[::-1])


def decode(payload: Payload) -> Payload:
    if payload.metadata.get("encoding") != ENCODING:
        return payload
    return Payload.FromString(payload.data[::-1])


class ReversingCodec(PayloadCodec):
    """The worker's side: what the cell stores is never readable JSON."""

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [encode(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [decode(p) for p in payloads]


class CodecServer:
    """Temporal's codec-server protocol over plain HTTP on loopback: `POST
    /decode` with `{"payloads": [...]}` (proto JSON) answers the same form,
    decoded; CORS for one origin. Records each request's headers; `failing`
    makes it answer 500."""

    def __init__(self, allowed_origin: str) -> None:
        self.allowed_origin = allowed_origin
        self.requests: list[dict] = []
        self.failing = False
        codec = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def cors(self) -> None:
                if self.headers.get("Origin") == codec.allowed_origin:
                    self.send_header("Access-Control-Allow-Origin", codec.allowed_origin)
                    self.send_header("Access-Control-Allow-Credentials", "true")
                    self.send_header("Access-Control-Allow-Methods", "POST")
                    self.send_header("Access-Control-Allow-Headers", "content-type, x-namespace, authorization")
                    self.send_header("Vary", "Origin")

            def do_OPTIONS(self) -> None:
                self.send_response(204)
                self.cors()
                self.end_headers()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                codec.requests.append({k.lower(): v for k, v in self.headers.items()})
                if self.path != "/decode" or codec.failing:
                    status, answer = (404 if self.path != "/decode" else 500), {"message": "codec down"}
                else:
                    payloads = json.loads(body)["payloads"]
                    status, answer = 200, {"payloads": [
                        json_format.MessageToDict(decode(json_format.ParseDict(p, Payload())))
                        for p in payloads
                    ]}
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.cors()
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@activity.defn
async def seal(secret: str) -> dict:
    return {"sealed": secret}


@workflow.defn
class CodecOrder:
    @workflow.run
    async def run(self, secret: str) -> dict:
        sealed = await workflow.execute_activity(
            seal, secret, start_to_close_timeout=timedelta(seconds=30))
        return {"result": sealed, "secret": secret}


@workflow.defn
class SealedWait:
    """Waits for a signal: its stack trace is asked while it runs."""

    def __init__(self) -> None:
        self.done = False

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.run
    async def run(self, secret: str) -> str:
        await workflow.wait_condition(lambda: self.done)
        return secret


async def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.locator("#view .loading").first.wait_for(state="detached")
    await page.screenshot(path=str(ARTIFACTS / f"console-codec-{name}.png"), full_page=True)


@pytest.mark.timeout(300)
async def test_console_decodes_payloads_through_the_namespaces_codec_server(browser_context):  # noqa: F811
    context = await browser_context()
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    stack, _slug = await start_stack(page)
    codec = CodecServer(origin(stack.api))
    workers = contextlib.AsyncExitStack()
    try:
        ns_id, endpoint = await create_namespace(page, "vault", 3)
        token = await api_key(page)
        tls = stack.tls(endpoint.rsplit(":", 1)[0])
        await becomes("ok", lambda: status_with(stack.address, ns_id, tls, token))
        plain = await stack.connect(ns_id, api_key=token)
        client = Client(**{**plain.config(), "data_converter": dataclasses.replace(
            DataConverter.default, payload_codec=ReversingCodec())})

        worker = await workers.enter_async_context(
            run_worker(client, workflows=[CodecOrder, SealedWait], activities=[seal]))
        handle = await client.start_workflow(
            CodecOrder.run, SECRET, id=new_id("vault"), task_queue=worker.task_queue)
        assert await handle.result() == {"result": {"sealed": SECRET}, "secret": SECRET}
        waiting = await client.start_workflow(
            SealedWait.run, SECRET, id=new_id("sealed-wait"), task_queue=worker.task_queue)
        # Without the codec the history is unreadable, to the SDK too.
        stored = [e async for e in plain.get_workflow_handle(handle.id).fetch_history_events()]
        assert all(SECRET.encode() not in e.SerializeToString() for e in stored)

        # -- no codec server: the console shows what the cell stores ----------
        base = f"{stack.api}/namespaces/{ns_id}"
        detail = f"{base}/workflows/{handle.id}"
        await load_when_granted(page, detail, "[data-testid=summary]")
        result = page.locator("[data-testid=result]")
        raw = await result.inner_text()
        assert SECRET not in raw and "binary/encrypted" in raw, raw
        assert await page.locator("[data-testid=codec-status]").count() == 0

        # -- the namespace's settings: connect snippets, then the codec ------
        await page.goto(base)
        connect = page.locator("[data-testid=connect-worker]")
        snippet = connect.locator("[data-testid=snippet]")
        await snippet.wait_for()
        text = await snippet.inner_text()
        assert endpoint in text and f'namespace="{ns_id}"' in text and "api_key=" in text, text
        await connect.get_by_role("button", name="CLI").click()
        text = await snippet.inner_text()
        assert f"--namespace {ns_id}" in text and "--api-key" in text and "--tls" in text, text
        await connect.get_by_label("mTLS client certificate").check()
        await connect.get_by_label("Certificate file").fill("vault.pem")
        await connect.get_by_role("button", name="Go").click()
        text = await snippet.inner_text()
        assert 'tls.LoadX509KeyPair("vault.pem", "client.key")' in text and ns_id in text, text
        for language in ("Python", "TypeScript", "Java"):
            await connect.get_by_role("button", name=language, exact=True).click()
            assert "vault.pem" in await snippet.inner_text(), language

        section = page.locator("[data-testid=codec-server]")
        assert "No codec server" in await section.locator("[data-testid=codec-state]").inner_text()
        # A problem+json answer shows next to the field it names.
        await page.fill("#codec-endpoint", "http://codec.example.com")
        await page.click("#codec button[type=submit]")
        field_error = page.locator("#codec [data-field=endpoint] .field-error")
        await field_error.wait_for()
        assert await page.get_attribute("#codec-endpoint", "aria-invalid") == "true"
        await page.fill("#codec-endpoint", codec.url)
        await page.check("#codec-pass_access_token")
        await submit(page, "codec", f"[data-testid=codec-state]:has-text('{codec.url}')")
        assert "console token" in await section.locator("[data-testid=codec-state]").inner_text()

        # -- custom search attributes: add, list, remove ---------------------
        attrs = page.locator("[data-testid=search-attribute-table]")
        await attrs.wait_for()
        await page.fill("#add-search-attribute-name", "CustomerId")
        await page.select_option("#add-search-attribute-type", "Keyword")
        await submit(page, "add-search-attribute", "[data-testid=search-attribute-table] tr:has-text('CustomerId')")
        assert "Keyword" in await attrs.locator("tr", has_text="CustomerId").inner_text()
        # A reserved name: the API's message next to the name field.
        await page.fill("#add-search-attribute-name", "TemporalThing")
        await page.click("#add-search-attribute button[type=submit]")
        await page.locator("#add-search-attribute [data-field=name] .field-error").wait_for()

        # -- archival: the test cell has no archive, so it refuses on the field
        assert "off" in await page.inner_text("[data-testid=archival-state]")
        await page.check("#archival-history")
        await page.click("#archival button[type=submit]")
        await page.locator("#archival [data-field=history] .field-error").wait_for()
        await shot(page, "settings")

        row = attrs.locator("tr", has_text="CustomerId")
        await row.get_by_role("button", name="Remove").click()
        await row.get_by_role("button", name="Really remove?").click()
        await row.wait_for(state="detached")

        # -- with the codec server: decoded values ---------------------------
        await page.goto(detail)
        await page.locator("[data-testid=codec-status]").wait_for()
        decoded = json.loads(await result.inner_text())
        assert decoded == [{"result": {"sealed": SECRET}, "secret": SECRET}], decoded
        history = page.locator("[data-testid=history]")
        started = history.locator("[data-event-type=WorkflowExecutionStarted]")
        await started.locator("button").click()
        attributes = json.loads(await started.locator("[data-testid=event-attributes]").inner_text())
        assert attributes["workflowExecutionStartedEventAttributes"]["input"] == [SECRET]
        completed = history.locator("[data-event-type=ActivityTaskCompleted]")
        assert "sealed" in await completed.locator(".event-summary").inner_text()
        await shot(page, "decoded")
        sent = codec.requests[-1]
        assert sent["x-namespace"] == ns_id
        assert sent["authorization"].startswith("Bearer ") and len(sent["authorization"]) > 20

        # A running one: its input, and the stack trace the worker encodes too.
        await page.goto(f"{base}/workflows/{waiting.id}")
        await page.locator("[data-testid=codec-status]").wait_for()
        started = history.locator("[data-event-type=WorkflowExecutionStarted]")
        await started.locator("button").click()
        attributes = json.loads(await started.locator("[data-testid=event-attributes]").inner_text())
        assert attributes["workflowExecutionStartedEventAttributes"]["input"] == [SECRET]
        await page.get_by_role("button", name="Get the stack trace").click()
        trace = page.locator("[data-testid=stack-trace-text]")
        await trace.wait_for()
        assert "SealedWait" in await trace.inner_text()
        await waiting.signal(SealedWait.finish)
        assert await waiting.result() == SECRET

        # -- the codec server fails: a clear note, the payloads as stored -----
        codec.failing = True
        await page.reload()
        note = page.locator("[data-testid=codec-note]")
        await note.wait_for()
        assert "failed" in await note.inner_text() and codec.url in await note.inner_text()
        raw = await result.inner_text()
        assert SECRET not in raw and "binary/encrypted" in raw, raw
        await shot(page, "codec-failed")

        # -- removed: payloads as stored, nothing sent ----------------------
        codec.failing = False
        await page.goto(base)
        await section.get_by_role("button", name="Remove codec server").click()
        await section.get_by_role("button", name="Really remove codec server?").click()
        await section.locator("[data-testid=codec-state]", has_text="No codec server").wait_for()
        asked = len(codec.requests)
        await page.goto(detail)
        await result.wait_for()
        assert "binary/encrypted" in await result.inner_text()
        assert len(codec.requests) == asked
        assert not errors, errors
    except Exception:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "console-codec-failure.png"), full_page=True)
        print("page:", await page.inner_text("#view"), "\nbrowser errors:", errors)
        print("control plane:", stack.log("control-plane"), "\ncell:", stack.log("cell"))
        raise
    finally:
        await workers.aclose()
        codec.stop()
        await context.close()
        stack.stop()
