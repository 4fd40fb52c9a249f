"""A control plane and a TLS cell serving tenants, as separate processes, for
the tenancy tests: `orrery control-plane` (HTTPS) places namespaces into
`orrery cell` through the cell's admin listener (TLS, a token signed by the
control plane), and the cell polls it for its signed auth snapshot with a
credential of its own, issued by registering it through the admin API.
Accounts sign up and get credentials through the REST API only.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import secrets
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client, TLSConfig
from temporalio.service import RPCError

from conftest import free_port, orrery_binary

DOMAIN = "tmprl.test"


def _wait_port(port: int, proc: subprocess.Popen, log: Path, secs: float = 60) -> None:
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited: {log.read_text()[-3000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"port {port} never opened: {log.read_text()[-3000:]}")


# -- certificates (test fixtures: a cell's server certificate, rogue client CAs) --

@dataclass
class Pair:
    cert_pem: bytes
    key_pem: bytes
    cert: x509.Certificate = field(repr=False)
    key: ec.EllipticCurvePrivateKey = field(repr=False)


def _name(cn: str, ou: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if ou:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou))
    return x509.Name(attrs)


def make_ca(cn: str) -> Pair:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return _pair(cert, key)


def _pair(cert: x509.Certificate, key) -> Pair:
    return Pair(
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        cert,
        key,
    )


def issue(ca: Pair, cn: str, *, server_names: list[str] | None = None, client: bool = True,
          ou: str | None = None) -> Pair:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn, ou))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if server_names:
        import ipaddress

        sans: list[x509.GeneralName] = [x509.DNSName(n) for n in server_names]
        sans.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    usage = [x509.ExtendedKeyUsageOID.CLIENT_AUTH] if client else [x509.ExtendedKeyUsageOID.SERVER_AUTH]
    builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    return _pair(builder.sign(ca.key, hashes.SHA256()), key)


# -- the REST API ------------------------------------------------------------

class ApiError(Exception):
    def __init__(self, status: int, body: dict | str) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


class Rest:
    """A console session: the session cookie and the CSRF token (sent by
    hand, as the browser would). `ca_pem` is the CA the control plane's
    HTTPS certificate chains to."""

    def __init__(self, base: str, ca_pem: bytes | None = None) -> None:
        self.base = base
        self.context = ssl.create_default_context(cadata=ca_pem.decode()) if ca_pem else None
        self.cookies: dict[str, str] = {}
        self.csrf: str | None = None
        self.bearer: str | None = None

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("content-type", "application/json")
        if self.cookies:
            req.add_header("cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        if self.csrf and method not in ("GET", "HEAD"):
            req.add_header("x-csrf-token", self.csrf)
        if self.bearer:
            req.add_header("authorization", f"Bearer {self.bearer}")
        try:
            with urllib.request.urlopen(req, timeout=30, context=self.context) as resp:
                for header in resp.headers.get_all("set-cookie") or []:
                    name, _, rest = header.partition("=")
                    self.cookies[name.strip()] = rest.split(";", 1)[0]
                raw = resp.read()
                return json.loads(raw) if raw else {}
        except urllib.error.HTTPError as err:
            raw = err.read().decode(errors="replace")
            try:
                parsed: dict | str = json.loads(raw)
            except ValueError:
                parsed = raw
            raise ApiError(err.code, parsed) from None


@dataclass
class Tenant:
    """One account with one namespace and its credentials."""

    rest: Rest
    account: dict
    namespace: str
    api_key: str
    api_key_id: str
    client: Pair  # issued by the namespace's generated CA
    ca_pem: bytes

    @property
    def host(self) -> str:
        return f"{self.namespace}.{DOMAIN}"


class Stack:
    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="orrery-tenancy-"))
        self.admin_token = secrets.token_urlsafe(24)
        self.http_port = free_port()
        self.grpc_port = free_port()
        self.admin_port = free_port()
        # Temporal's HTTP API on the cell (the tenant endpoint's TLS and credentials).
        self.http_api_port = free_port()
        self.http_api = f"https://127.0.0.1:{self.http_api_port}"
        self.procs: list[subprocess.Popen] = []
        self.server_ca = make_ca("orrery test server CA")
        self.address = f"127.0.0.1:{self.grpc_port}"
        self.api = f"https://127.0.0.1:{self.http_port}"
        self.bootstrap_token = secrets.token_urlsafe(32)
        # The control plane's HTTPS certificate, from the same test CA.
        cp = issue(self.server_ca, "control-plane", server_names=["localhost"], client=False)
        (self.tmp / "cp.pem").write_bytes(cp.cert_pem)
        (self.tmp / "cp.key").write_bytes(cp.key_pem)
        (self.tmp / "ca.pem").write_bytes(self.server_ca.cert_pem)
        self.cell_credential: str | None = None
        self.databases: list[tuple[str, str]] = []  # (admin url, name) to drop

    def _spawn(self, name: str, args: list[str], port: int) -> None:
        log = self.tmp / f"{name}.log"
        proc = subprocess.Popen(
            [orrery_binary(), *args], stdout=subprocess.DEVNULL, stderr=log.open("wb"),
            env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
        )
        self.procs.append(proc)
        _wait_port(port, proc, log)

    def _database(self, name: str) -> str:
        url = os.environ.get("ORRERY_DATABASE_URL")
        if not url:
            return f"sqlite://{self.tmp / name}.db"
        base, _ = url.rsplit("/", 1)
        db = f"orrery_{name.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
        subprocess.run(["psql", f"{base}/postgres", "-qc", f"CREATE DATABASE {db}"], check=True)
        self.databases.append((f"{base}/postgres", db))
        return f"{base}/{db}"

    def start_control_plane(self, sealed: bool = True) -> None:
        """`sealed=False`: no key-encryption key (private keys in plaintext),
        to play an attacker holding a copy of such a database."""
        # The key-encryption key sealing the control plane's private keys:
        # kept across restarts of the same stack, like the database.
        kek = self.tmp / "kek"
        if not kek.exists():
            kek.write_text(base64.b64encode(secrets.token_bytes(32)).decode())
        keys = ["--key-encryption-key-file", str(kek)] if sealed else ["--insecure-no-key-encryption"]
        if not hasattr(self, "control_plane_db"):
            self.control_plane_db = self._database("control-plane")
        self._spawn("control-plane", [
            "control-plane",
            *keys,
            "--database-url", self.control_plane_db,
            "--http-addr", f"127.0.0.1:{self.http_port}",
            "--tls-cert", str(self.tmp / "cp.pem"),
            "--tls-key", str(self.tmp / "cp.key"),
            "--cell-ca-file", str(self.tmp / "ca.pem"),
            # "=": a token may begin with "-".
            f"--bootstrap-admin-token={self.bootstrap_token}",
            "--namespace-domain", DOMAIN,
        ], self.http_port)

    def rest(self) -> Rest:
        return Rest(self.api, self.server_ca.cert_pem)

    def operator(self) -> Rest:
        """The operator, with the bootstrap admin token."""
        rest = self.rest()
        rest.bearer = self.bootstrap_token
        return rest

    def register_cell(self, name: str = "cell-1") -> str:
        """Registers the cell (its admin listener) and returns its credential,
        which the control plane shows only here."""
        registered = self.operator().call("POST", "/api/v1/admin/cells", {
            "name": name,
            "grpc_endpoint": f"https://{self.address}",
            "admin_endpoint": f"https://127.0.0.1:{self.admin_port}",
            "http_endpoint": self.http_api,
            "capacity": 1000,
        })
        return registered["credential"]

    def start_cell(self, server_names: list[str], extra: list[str] = (),
                   control_plane_url: str | None = None) -> None:
        """`control_plane_url`: where the cell fetches its snapshot (the
        control plane itself by default; a test may put a proxy between)."""
        server = issue(self.server_ca, "cell-1", server_names=server_names, client=False)
        (self.tmp / "server.pem").write_bytes(server.cert_pem)
        (self.tmp / "server.key").write_bytes(server.key_pem)
        if self.cell_credential is None:
            self.cell_credential = self.register_cell()
        self._spawn("cell", [
            "cell",
            "--database-url", self._database("cell"),
            "--grpc-addr", self.address,
            "--admin-grpc-addr", f"127.0.0.1:{self.admin_port}",
            "--control-plane-url", control_plane_url or self.api,
            "--control-plane-ca-file", str(self.tmp / "ca.pem"),
            "--cell-credential", self.cell_credential,
            "--tls-cert", str(self.tmp / "server.pem"),
            "--tls-key", str(self.tmp / "server.key"),
            "--tenant-domain", DOMAIN,
            "--http-api-addr", f"127.0.0.1:{self.http_api_port}",
            # The console (served by the control plane) calls the HTTP API.
            "--http-api-allowed-origin", self.api,
            *extra,
        ], self.grpc_port)

    def signup(self, label: str) -> Rest:
        rest = self.rest()
        email = f"{label}-{uuid.uuid4().hex[:6]}@example.com"
        password = "correct horse battery staple"
        signed = rest.call("POST", "/api/v1/signup", {
            "account_name": f"{label} inc", "email": email, "password": password,
        })
        login = rest.call("POST", "/api/v1/login", {"email": email, "password": password})
        rest.csrf = login["csrf_token"]
        rest.account = signed["account"]  # type: ignore[attr-defined]
        return rest

    def provision(self, rest: Rest, name: str = "payments") -> Tenant:
        ns = rest.call("POST", "/api/v1/namespaces", {"name": name, "retention_days": 1})
        key = rest.call("POST", "/api/v1/api-keys", {"name": "ci", "expiry_days": 7})
        gen = rest.call("POST", f"/api/v1/namespaces/{ns['id']}/mtls/generated-ca", {"validity_days": 30})
        client = self.issue_client_cert(rest, ns["id"], "worker-1", days=7)
        return Tenant(rest, rest.account, ns["id"], key["token"], key["api_key"]["id"],  # type: ignore[attr-defined]
                      client, gen["ca_pem"].encode())

    @staticmethod
    def issue_client_cert(rest: Rest, namespace: str, cn: str, days: int = 1) -> Pair:
        """A client certificate from the namespace's generated CA (its key
        comes back once, with it)."""
        issued = rest.call("POST", f"/api/v1/namespaces/{namespace}/mtls/client-certificates",
                           {"common_name": cn, "validity_days": days})
        pem = issued["certificate_pem"].encode()
        return Pair(pem, issued["private_key_pem"].encode(),
                    x509.load_pem_x509_certificate(pem), None)  # type: ignore[arg-type]

    @contextmanager
    def running(self) -> Iterator["Stack"]:
        """For a module fixture: the processes are stopped afterwards, and
        their logs printed if starting them failed."""
        try:
            yield self
        except Exception:
            print("control plane:", self.log("control-plane"), "\ncell:", self.log("cell"))
            raise
        finally:
            self.stop()

    # -- the tenant endpoint ---------------------------------------------------

    def tls(self, server_name: str, cert: Pair | None = None) -> TLSConfig:
        return TLSConfig(
            server_root_ca_cert=self.server_ca.cert_pem,
            domain=server_name,
            client_cert=cert.cert_pem if cert else None,
            client_private_key=cert.key_pem if cert else None,
        )

    async def connect(self, namespace: str, *, api_key: str | None = None, cert: Pair | None = None,
                      server_name: str | None = None) -> Client:
        """An SDK client of the tenant endpoint; the server name is the
        namespace's (`<namespace>.<domain>`) unless given."""
        return await Client.connect(
            self.address,
            namespace=namespace,
            api_key=api_key,
            tls=self.tls(server_name or f"{namespace}.{DOMAIN}", cert),
        )

    async def describe_status(self, namespace: str, **credential) -> str:
        """Connects and describes `namespace`: "ok" or the gRPC status's name.
        The SDK's connect already calls GetSystemInfo, so a refusal can come
        from either."""
        try:
            client = await self.connect(namespace, **credential)
            await client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace=namespace), retry=False)
            return "ok"
        except RPCError as err:
            return err.status.name
        except RuntimeError as err:  # the connect's own call
            for code, name in (("Unauthenticated", "UNAUTHENTICATED"),
                               ("PermissionDenied", "PERMISSION_DENIED")):
                if f"code: {code}" in str(err):
                    return name
            raise

    def dump_control_plane_db(self) -> str:
        """Everything the control plane's database holds, as text (what a
        stolen backup would give away)."""
        url = self.control_plane_db
        if url.startswith("sqlite://"):
            import sqlite3

            conn = sqlite3.connect(url.removeprefix("sqlite://"))
            try:
                return "\n".join(conn.iterdump())
            finally:
                conn.close()
        return subprocess.run(["pg_dump", "--data-only", url], check=True,
                              capture_output=True, text=True).stdout

    def stop(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait(10)
        for admin_url, db in self.databases:
            subprocess.run(["psql", admin_url, "-qc", f"DROP DATABASE IF EXISTS {db}"], check=False)

    def log(self, name: str) -> str:
        path = self.tmp / f"{name}.log"
        return path.read_text()[-4000:] if path.exists() else ""
