"""A cell of several members for the member tests: N `orrery cell` processes
on one fresh PostgreSQL database, talking plaintext over loopback
(`--insecure-peer-channel`), each with its own tenant, peer and metrics
address and its own log file.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from conftest import free_port, orrery_binary

PG_HOST = os.environ.get("ORRERY_E2E_PG_HOST", "127.0.0.1")
PG_USER = os.environ.get("ORRERY_E2E_PG_USER", "postgres")
READY_TIMEOUT_S = 60.0


def _psql(sql: str) -> None:
    # psql rather than a Python driver: the suite's requirements have none,
    # and the database is created/dropped once per test.
    subprocess.run(
        ["psql", "-h", PG_HOST, "-U", PG_USER, "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", sql],
        check=True,
        capture_output=True,
        timeout=30,
    )


class Database:
    """A fresh PostgreSQL database, dropped (with its connections) on close."""

    def __init__(self) -> None:
        self.name = f"m_{uuid.uuid4().hex[:16]}"
        _psql(f"CREATE DATABASE {self.name}")
        self.url = f"postgres://{PG_USER}@{PG_HOST}:5432/{self.name}"

    def shard_owners(self) -> dict[int, str]:
        """shard id -> the member holding it ('' when released), as the
        cell's `shards` table records it."""
        out = subprocess.run(
            ["psql", "-h", PG_HOST, "-U", PG_USER, "-d", self.name, "-tA", "-F", "|", "-c",
             "SELECT shard_id, COALESCE(owner, '') FROM shards ORDER BY shard_id"],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
        rows = (line.split("|", 1) for line in out.splitlines() if line.strip())
        return {int(shard): owner for shard, owner in rows}

    def drop(self) -> None:
        # WITH (FORCE): a killed member's connections may linger briefly.
        _psql(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")


@dataclass
class Member:
    index: int
    member_id: str
    database_url: str
    log_path: Path
    shards: int = 8
    ttl_ms: int = 3000
    grpc_port: int = field(default_factory=free_port)
    peer_port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def command(self) -> list[str]:
        return [
            orrery_binary(),
            "cell",
            "--database-url",
            self.database_url,
            "--grpc-addr",
            self.address,
            "--metrics-addr",
            f"127.0.0.1:{self.metrics_port}",
            "--shards",
            str(self.shards),
            "--namespace",
            "default",
            "--member-id",
            self.member_id,
            "--peer-addr",
            f"127.0.0.1:{self.peer_port}",
            "--peer-listen-addr",
            f"127.0.0.1:{self.peer_port}",
            "--insecure-peer-channel",
            "--member-ttl-ms",
            str(self.ttl_ms),
        ]

    def start(self) -> None:
        cmd = self.command()
        if not Path(cmd[0]).exists():
            raise RuntimeError(f"Orrery binary not found at {cmd[0]}: cargo build -p orrery")
        with open(self.log_path, "ab") as log:
            log.write(f"=== {' '.join(cmd)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "info")},
            )

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def readyz(self) -> int | None:
        """The status /readyz answers, or None when nothing answers."""
        url = f"http://127.0.0.1:{self.metrics_port}/readyz"
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return resp.status
        except urllib.error.HTTPError as e:
            return e.code
        except OSError:
            return None

    async def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        last: int | None = None
        while time.monotonic() < deadline:
            if not self.running():
                code = self.proc.returncode if self.proc else None
                raise RuntimeError(f"{self.member_id} exited with {code} while starting\n{self.log_tail()}")
            last = await asyncio.to_thread(self.readyz)
            if last == 200:
                return
            await asyncio.sleep(0.2)
        raise RuntimeError(
            f"{self.member_id}: /readyz answered {last} after {timeout}s\n{self.log_tail()}"
        )

    def kill9(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def sigterm(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGTERM)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s (teardown)."""
        if not self.running():
            return
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass

    def log_tail(self, n: int = 40) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return f"--- {self.member_id}: no log ---"
        return f"--- {self.member_id} log (tail) ---\n" + "\n".join(lines[-n:])


class MemberCell:
    """N members on one fresh database."""

    def __init__(self, count: int, *, shards: int = 8, ttl_ms: int = 3000) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="orrery-e2e-members-"))
        self.db = Database()
        self.members = [
            Member(
                index=i,
                member_id=f"member-{i}",
                database_url=self.db.url,
                log_path=self.tmp / f"member-{i}.log",
                shards=shards,
                ttl_ms=ttl_ms,
            )
            for i in range(count)
        ]

    def __getitem__(self, i: int) -> Member:
        return self.members[i]

    async def start(self) -> None:
        for m in self.members:
            m.start()
        await asyncio.gather(*(m.wait_ready() for m in self.members))

    async def wait_shard_owners(self, wanted: set[str], timeout: float = 15.0) -> dict[int, str]:
        """Waits until every one of the cell's shards is held, each by a
        member in `wanted`, and every member in `wanted` holds at least one."""
        deadline = time.monotonic() + timeout
        owners: dict[int, str] = {}
        while time.monotonic() < deadline:
            owners = await asyncio.to_thread(self.db.shard_owners)
            held = set(owners.values())
            if len(owners) == self.members[0].shards and held == wanted:
                return owners
            await asyncio.sleep(0.2)
        raise AssertionError(
            f"shards not held by exactly {sorted(wanted)} within {timeout}s: {owners}\n"
            f"{self.log_tails()}"
        )

    def log_tails(self, n: int = 40) -> str:
        return "\n".join(m.log_tail(n) for m in self.members)

    def close(self) -> None:
        for m in self.members:
            m.stop()
        try:
            self.db.drop()
        finally:
            if os.environ.get("ORRERY_E2E_KEEP_DATA"):
                print(f"\n[e2e] member logs kept in {self.tmp}")
            else:
                shutil.rmtree(self.tmp, ignore_errors=True)
