"""Process lifecycle: SIGTERM stops the server promptly and cleanly even
while workers hold minute-long polls open."""

from __future__ import annotations

import asyncio
import time

import pytest
from temporalio.client import Client

from conftest import Server, e2e_target
from helpers import run_worker


async def test_sigterm_drains_long_polls_and_exits_cleanly(monkeypatch) -> None:
    if e2e_target() != "orrery":
        pytest.skip("checks Orrery's own shutdown path")
    # A server of its own on its own SQLite file: a second cell on the
    # suite's PostgreSQL database would take its shards and fence it.
    monkeypatch.delenv("ORRERY_DATABASE_URL", raising=False)
    server = Server("orrery")
    await server.start()
    try:
        client = await Client.connect(server.address)
        async with run_worker(client, workflows=[], activities=[_noop]):
            # Let the worker's polls reach the server and park there.
            await asyncio.sleep(1.0)
            proc = server._proc
            assert proc is not None
            started = time.monotonic()
            proc.terminate()
            code = await asyncio.get_running_loop().run_in_executor(None, proc.wait, 15)
            elapsed = time.monotonic() - started
        assert code == 0, server.log_tail()
        assert elapsed < 5, f"shutdown took {elapsed:.1f}s"
        assert "shutting down" in server.log_tail()
    finally:
        server.stop()
        server.cleanup()


from temporalio import activity  # noqa: E402


@activity.defn
async def _noop() -> None:
    return None
