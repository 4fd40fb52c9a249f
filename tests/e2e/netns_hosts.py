"""Members of a cell as separate hosts: each `orrery cell` runs in its own
network namespace with its own address on a Linux bridge in the root
namespace, and the members talk over mutual TLS with certificates made at
test time (one CA, one certificate per member naming its IP).

Layout (X is chosen at random per cell so two runs do not collide):

    root namespace   bridge orb<tag>   10.78.X.1/24   the test process
                                                      (SDK client and worker)
                                                      and a TCP forwarder
                                                      10.78.X.1:5432 ->
                                                      127.0.0.1:5432
    orr-<tag>-0      veth              10.78.X.11     member-0
    orr-<tag>-1      veth              10.78.X.12     member-1
    orr-<tag>-2      veth              10.78.X.13     member-2

PostgreSQL listens on 127.0.0.1 only, which no namespace can reach, hence the
forwarder (socat when installed, else a small thread in this process).

Needs root (CAP_NET_ADMIN): without it `NetnsHosts.setup` raises, and the
tests fail rather than skip, because the acceptance test is exactly this.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from conftest import orrery_binary
from members_stack import PG_USER, Database

GRPC_PORT = 7233
PEER_PORT = 7235
METRICS_PORT = 9090
READY_TIMEOUT_S = 60.0


class NetnsError(RuntimeError):
    """The namespaces, links or addresses could not be made."""


def _ip(*args: str, ns: str | None = None) -> None:
    cmd = ["ip", *args] if ns is None else ["ip", "netns", "exec", ns, "ip", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise NetnsError(f"`{' '.join(cmd)}` failed ({done.returncode}): {done.stderr.strip()}")


class _ThreadForwarder:
    """TCP forwarder for when socat is missing: accept on (host, port) and
    pump bytes both ways to the target, a thread per direction."""

    def __init__(self, listen: tuple[str, int], target: tuple[str, int]) -> None:
        self.target = target
        self.sock = socket.create_server(listen, reuse_port=False)
        self.sock.settimeout(0.5)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                conn.close()
                continue
            upstream.settimeout(None)
            conn.settimeout(None)
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self) -> None:
        self.stopped.set()
        self.sock.close()


class NetnsHosts:
    """`count` network namespaces on one bridge, each with its own address,
    plus the forwarder to PostgreSQL. `setup()` makes them, `cleanup()`
    removes whatever exists of them (safe to call after a partial setup)."""

    def __init__(self, count: int) -> None:
        self.tag = secrets.token_hex(3)
        self.subnet = self._free_subnet()
        self.bridge = f"orb{self.tag}"
        self.namespaces = [f"orr-{self.tag}-{i}" for i in range(count)]
        self.veths = [f"orv{self.tag}{i}" for i in range(count)]
        self.host_ip = f"{self.subnet}.1"
        self.ips = [f"{self.subnet}.{11 + i}" for i in range(count)]
        self._socat: subprocess.Popen[bytes] | None = None
        self._thread_forwarder: _ThreadForwarder | None = None

    @staticmethod
    def _free_subnet() -> str:
        used = subprocess.run(["ip", "-br", "addr"], capture_output=True, text=True).stdout
        candidates = [f"10.78.{x}" for x in range(1, 255) if f"10.78.{x}." not in used]
        if not candidates:
            raise NetnsError("no free 10.78.X.0/24 subnet")
        return random.choice(candidates)

    def setup(self) -> None:
        if os.geteuid() != 0:
            raise NetnsError(
                f"separate hosts need network namespaces: run as root (uid is {os.geteuid()})"
            )
        try:
            _ip("link", "add", self.bridge, "type", "bridge")
            _ip("addr", "add", f"{self.host_ip}/24", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
            for ns, veth, ip in zip(self.namespaces, self.veths, self.ips):
                _ip("netns", "add", ns)
                _ip("link", "add", veth, "type", "veth", "peer", "name", f"{veth}p")
                _ip("link", "set", f"{veth}p", "netns", ns)
                _ip("link", "set", veth, "master", self.bridge)
                _ip("link", "set", veth, "up")
                _ip("link", "set", "lo", "up", ns=ns)
                _ip("link", "set", f"{veth}p", "name", "eth0", ns=ns)
                _ip("addr", "add", f"{ip}/24", "dev", "eth0", ns=ns)
                _ip("link", "set", "eth0", "up", ns=ns)
                _ip("route", "add", "default", "via", self.host_ip, ns=ns)
            self._start_forwarder()
        except BaseException:
            self.cleanup()
            raise

    def _start_forwarder(self) -> None:
        socat = shutil.which("socat")
        if socat:
            self._socat = subprocess.Popen(
                [socat, f"TCP-LISTEN:5432,bind={self.host_ip},reuseaddr,fork", "TCP:127.0.0.1:5432"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        else:
            self._thread_forwarder = _ThreadForwarder((self.host_ip, 5432), ("127.0.0.1", 5432))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection((self.host_ip, 5432), timeout=1).close()
                return
            except OSError:
                if self._socat is not None and self._socat.poll() is not None:
                    err = self._socat.stderr.read().decode(errors="replace") if self._socat.stderr else ""
                    raise NetnsError(f"socat forwarder exited: {err}")
                time.sleep(0.05)
        raise NetnsError(f"the PostgreSQL forwarder on {self.host_ip}:5432 does not answer")

    def exec_prefix(self, i: int) -> list[str]:
        return ["ip", "netns", "exec", self.namespaces[i]]

    def cleanup(self) -> None:
        if self._socat is not None and self._socat.poll() is None:
            # Its group: the listener and a child per open connection.
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(self._socat.pid, sig)
                    self._socat.wait(timeout=5)
                    break
                except ProcessLookupError:
                    break
                except subprocess.TimeoutExpired:
                    continue
        if self._thread_forwarder is not None:
            self._thread_forwarder.stop()
        # Deleting a namespace deletes its end of each veth pair, and with it
        # the pair; the root ends are deleted too in case a namespace was
        # never made. Errors are ignored: whatever exists goes.
        for veth in self.veths:
            subprocess.run(["ip", "link", "del", veth], capture_output=True, timeout=30)
        for ns in self.namespaces:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, timeout=30)


def make_peer_certs(directory: Path, ips: list[str]) -> tuple[Path, list[tuple[Path, Path]]]:
    """A peer CA and, per member, a certificate (SAN IP:<its address>, for
    serving and for calling peers) and key; all made with openssl now."""

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ca_key, ca_pem = directory / "peer-ca.key", directory / "peer-ca.pem"
    run(
        "req", "-x509", *ec, "-keyout", str(ca_key), "-out", str(ca_pem), "-days", "2",
        "-subj", "/CN=orrery-e2e-peer-ca",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )
    pairs = []
    for i, ip in enumerate(ips):
        key, csr, pem = (directory / f"member-{i}.{ext}" for ext in ("key", "csr", "pem"))
        ext = directory / f"member-{i}.ext"
        ext.write_text(
            f"subjectAltName=IP:{ip}\n"
            "basicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature\n"
            "extendedKeyUsage=serverAuth,clientAuth\n"
        )
        run("req", *ec, "-keyout", str(key), "-out", str(csr), "-subj", f"/CN=member-{i}")
        run(
            "x509", "-req", "-in", str(csr), "-CA", str(ca_pem), "-CAkey", str(ca_key),
            "-CAcreateserial", "-out", str(pem), "-days", "2", "-extfile", str(ext),
        )
        pairs.append((pem, key))
    return ca_pem, pairs


@dataclass
class HostMember:
    """One `orrery cell` in its own namespace, at its own address."""

    index: int
    member_id: str
    ip: str
    exec_prefix: list[str]
    database_url: str
    cert: Path
    key: Path
    ca: Path
    log_path: Path
    shards: int
    ttl_ms: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{self.ip}:{GRPC_PORT}"

    def command(self) -> list[str]:
        return [
            *self.exec_prefix,
            orrery_binary(),
            "cell",
            "--database-url", self.database_url,
            "--grpc-addr", self.address,
            "--metrics-addr", f"{self.ip}:{METRICS_PORT}",
            "--shards", str(self.shards),
            "--namespace", "default",
            "--member-id", self.member_id,
            "--peer-addr", f"{self.ip}:{PEER_PORT}",
            "--peer-listen-addr", f"{self.ip}:{PEER_PORT}",
            "--peer-tls-cert", str(self.cert),
            "--peer-tls-key", str(self.key),
            "--peer-ca-file", str(self.ca),
            "--member-heartbeat-ms", "500",
            "--member-ttl-ms", str(self.ttl_ms),
        ]  # fmt: skip

    def start(self) -> None:
        cmd = self.command()
        if not Path(orrery_binary()).exists():
            raise RuntimeError(f"Orrery binary not found at {orrery_binary()}: cargo build -p orrery")
        with open(self.log_path, "ab") as log:
            log.write(f"=== {' '.join(cmd)}\n".encode())
            log.flush()
            # `ip netns exec` execs the command: the pid is orrery's.
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
        try:
            with urllib.request.urlopen(f"http://{self.ip}:{METRICS_PORT}/readyz", timeout=2) as r:
                return r.status
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
        raise RuntimeError(f"{self.member_id}: /readyz answered {last} after {timeout}s\n{self.log_tail()}")

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, sig)

    def stop(self) -> None:
        """Teardown: wake it if frozen, SIGTERM, SIGKILL after 10 s."""
        if not self.running():
            return
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, signal.SIGCONT)
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, n: int = 40) -> str:
        lines = self.log_text().splitlines()
        return f"--- {self.member_id} log (tail) ---\n" + "\n".join(lines[-n:])


class HostCell:
    """A cell of `count` members, each a separate host, on one fresh
    PostgreSQL database, peers over mutual TLS."""

    def __init__(self, count: int = 3, *, shards: int = 16, ttl_ms: int = 5000) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="orrery-e2e-netns-"))
        self.hosts = NetnsHosts(count)
        self.db: Database | None = None
        self.members: list[HostMember] = []
        self.count, self.shards, self.ttl_ms = count, shards, ttl_ms

    def __getitem__(self, i: int) -> HostMember:
        return self.members[i]

    async def start(self) -> None:
        await asyncio.to_thread(self.hosts.setup)
        self.db = await asyncio.to_thread(Database)
        url = f"postgres://{PG_USER}@{self.hosts.host_ip}:5432/{self.db.name}"
        ca, pairs = await asyncio.to_thread(make_peer_certs, self.tmp, self.hosts.ips)
        self.members = [
            HostMember(
                index=i,
                member_id=f"member-{i}",
                ip=self.hosts.ips[i],
                exec_prefix=self.hosts.exec_prefix(i),
                database_url=url,
                cert=pairs[i][0],
                key=pairs[i][1],
                ca=ca,
                log_path=self.tmp / f"member-{i}.log",
                shards=self.shards,
                ttl_ms=self.ttl_ms,
            )
            for i in range(self.count)
        ]
        for m in self.members:
            m.start()
        await asyncio.gather(*(m.wait_ready() for m in self.members))

    def shard_owners(self) -> dict[int, str]:
        assert self.db is not None
        return self.db.shard_owners()

    async def wait_shard_owners(self, wanted: set[str], timeout: float = 20.0) -> dict[int, str]:
        """Until every shard is held, each by a member in `wanted`, and
        every member in `wanted` holds one."""
        deadline = time.monotonic() + timeout
        owners: dict[int, str] = {}
        while time.monotonic() < deadline:
            owners = await asyncio.to_thread(self.shard_owners)
            if len(owners) == self.shards and set(owners.values()) == wanted:
                return owners
            await asyncio.sleep(0.2)
        raise AssertionError(
            f"shards not held by exactly {sorted(wanted)} within {timeout}s: {owners}\n{self.log_tails()}"
        )

    def log_tails(self, n: int = 40) -> str:
        return "\n".join(m.log_tail(n) for m in self.members)

    def close(self) -> None:
        try:
            for m in self.members:
                m.stop()
        finally:
            try:
                if self.db is not None:
                    self.db.drop()
            finally:
                self.hosts.cleanup()
                if os.environ.get("ORRERY_E2E_KEEP_DATA"):
                    print(f"\n[e2e] member logs kept in {self.tmp}")
                else:
                    shutil.rmtree(self.tmp, ignore_errors=True)
