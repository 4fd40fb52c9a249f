"""Harness for the end-to-end suite.

The suite drives a Temporal-compatible server through the official Python SDK.
Which server is chosen by environment variables:

    ORRERY_E2E_ADDRESS=host:port   use a server that is already running (no start,
                                   no restart: durability tests are skipped)
    ORRERY_E2E_TARGET=orrery       (default) start the Orrery binary:
        ORRERY_BIN                 default <repo>/target/debug/orrery
        ORRERY_DATABASE_URL        if set: `orrery cell --database-url URL ...`
                                   otherwise: `orrery dev --data-dir TMPDIR ...`
    ORRERY_E2E_TARGET=real         start the real Temporal dev server
                                   (`temporal server start-dev`); binary from
                                   TEMPORAL_CLI, else `temporal` on PATH, else
                                   /tmp/venv/bin/temporal

The real server is the arbiter of correct behaviour: every test must pass with
ORRERY_E2E_TARGET=real.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

sys.path.insert(0, str(Path(__file__).resolve().parent))

from helpers import run_worker  # noqa: E402,F401  (re-exported for tests)

E2E_DIR = Path(__file__).resolve().parent
REPO_ROOT = E2E_DIR.parent.parent
READY_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _temporal_cli() -> str:
    env = os.environ.get("TEMPORAL_CLI")
    if env:
        return env
    found = shutil.which("temporal")
    if found:
        return found
    return "/tmp/venv/bin/temporal"


def orrery_binary() -> str:
    return os.environ.get("ORRERY_BIN") or str(REPO_ROOT / "target" / "debug" / "orrery")


class Server:
    """A server process the suite owns (or an external address it does not).

    `address` stays the same across restarts; `kill9()` then `await start()`
    brings the server back on the same data (data dir, SQLite file or database).
    """

    def __init__(
        self, target: str, address: str | None = None, *, dev_args: list[str] | None = None
    ) -> None:
        """`dev_args`: always `orrery dev` (SQLite, whatever the suite's
        database), with these extra arguments."""
        self.target = target
        self.dev_args = dev_args
        self.managed = address is None
        self._tmp = tempfile.mkdtemp(prefix=f"orrery-e2e-{target}-")
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_path = Path(self._tmp) / "server.log"
        self._starts = 0
        if address is None:
            self.port = free_port()
            self.address = f"127.0.0.1:{self.port}"
            self.http_port = free_port()
            # Its own HTTP API port, so servers started side by side
            # never collide on `orrery dev`'s default (127.0.0.1:7243).
            self.http_api_port = free_port()
        else:
            self.address = address

    # -- command line -----------------------------------------------------
    def command(self) -> list[str]:
        if self.target == "real":
            return [
                _temporal_cli(),
                "server",
                "start-dev",
                "--headless",
                "--ip",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--db-filename",
                str(Path(self._tmp) / "temporal.db"),
                "--log-level",
                "warn",
                # Standalone activities are off by default in the real dev
                # server; Orrery always serves them.
                "--dynamic-config-value",
                "activity.enableStandalone=true",
            ]
        binary = orrery_binary()
        db_url = os.environ.get("ORRERY_DATABASE_URL")
        if db_url and self.dev_args is None:
            return [binary, "cell", "--database-url", db_url, "--grpc-addr", self.address, "--namespace", "default"]
        return [
            binary,
            "dev",
            "--data-dir",
            str(Path(self._tmp) / "data"),
            "--grpc-addr",
            self.address,
            "--http-addr",
            f"127.0.0.1:{self.http_port}",
            "--http-api-addr",
            f"127.0.0.1:{self.http_api_port}",
            *(self.dev_args or []),
        ]

    @property
    def can_restart(self) -> bool:
        return self.managed

    # -- lifecycle --------------------------------------------------------
    async def start(self) -> None:
        """Start the process (same ports, same data) and wait until it serves."""
        if not self.managed:
            await self.wait_ready()
            return
        if self._proc is not None and self._proc.poll() is None:
            raise RuntimeError("server already running")
        cmd = self.command()
        if self.target != "real" and not Path(cmd[0]).exists():
            pytest.exit(
                f"Orrery binary not found at {cmd[0]}: build it (cargo build) or set "
                "ORRERY_BIN, or run with ORRERY_E2E_TARGET=real",
                returncode=3,
            )
        self._starts += 1
        log = open(self._log_path, "ab")
        log.write(f"\n=== start #{self._starts}: {' '.join(cmd)}\n".encode())
        log.flush()
        self._proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        await self.wait_ready()

    async def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        last_err: BaseException | None = None
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self._proc.returncode} during start\n{self.log_tail()}"
                )
            try:
                client = await asyncio.wait_for(
                    Client.connect(self.address, namespace="default"), 5
                )
                try:
                    await client.workflow_service.describe_namespace(
                        _describe_default(), timeout=_td(2)
                    )
                except RPCError as e:
                    # A server without DescribeNamespace still counts as ready.
                    if e.status != RPCStatusCode.UNIMPLEMENTED:
                        raise
                return
            except Exception as e:  # noqa: BLE001 - anything means "not yet"
                last_err = e
                await asyncio.sleep(0.2)
        raise RuntimeError(
            f"server at {self.address} not ready after {READY_TIMEOUT_S}s: {last_err!r}\n"
            f"{self.log_tail()}"
        )

    def kill9(self) -> None:
        """SIGKILL the process (no graceful shutdown) and reap it."""
        if not self.managed:
            raise RuntimeError("cannot kill a server the suite did not start")
        assert self._proc is not None
        os.killpg(self._proc.pid, signal.SIGKILL)
        self._proc.wait(timeout=30)
        self._proc = None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            try:
                os.killpg(self._proc.pid, signal.SIGTERM)
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        self._proc = None

    def cleanup(self) -> None:
        self.stop()
        if os.environ.get("ORRERY_E2E_KEEP_DATA"):
            print(f"\n[e2e] server data and log kept in {self._tmp}")
        else:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def log_tail(self, n: int = 60) -> str:
        try:
            lines = self._log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no server log)"
        return "--- server log (tail) ---\n" + "\n".join(lines[-n:])


def _describe_default():
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

    return DescribeNamespaceRequest(namespace="default")


def _td(seconds: float):
    from datetime import timedelta

    return timedelta(seconds=seconds)


def e2e_target() -> str:
    if os.environ.get("ORRERY_E2E_ADDRESS"):
        return "external"
    return os.environ.get("ORRERY_E2E_TARGET", "orrery")


def pytest_report_header(config):
    return f"e2e target: {e2e_target()} (address: {os.environ.get('ORRERY_E2E_ADDRESS', 'spawned')})"


@pytest_asyncio.fixture(scope="session")
async def server():
    address = os.environ.get("ORRERY_E2E_ADDRESS")
    target = os.environ.get("ORRERY_E2E_TARGET", "orrery")
    if target not in ("orrery", "real"):
        raise pytest.UsageError(f"ORRERY_E2E_TARGET must be 'orrery' or 'real', not {target!r}")
    srv = Server(target, address)
    try:
        await srv.start()
        yield srv
    finally:
        srv.cleanup()


@pytest_asyncio.fixture
async def client(server) -> Client:
    return await Client.connect(server.address, namespace="default")
