"""Harness for the side-by-side suite.

Two servers are started once per session, each on free ports:

    real    `temporal server start-dev` (binary: TEMPORAL_CLI, else `temporal`
            on PATH, else /tmp/venv/bin/temporal)
    orrery  `orrery dev --data-dir TMP --grpc-addr ... --http-addr ...`
            (binary: ORRERY_BIN, else <repo>/target/debug/orrery)

The process handling (start, readiness, logs, cleanup) is the end-to-end
suite's `Server` class, imported from tests/e2e/conftest.py (loaded under its
own module name so it does not clash with this conftest).

Fixtures:
    servers   {"real": Server, "orrery": Server}
    clients   {"real": Client, "orrery": Client} (namespace "default")
    outcomes  {scenario name: {"real": Ctx, "orrery": Ctx}}: every scenario
              selected for this session, run once on each server, all
              concurrently (see scenarios.py); tests only compare them.
              With SBS_DUMP_DIR=DIR each scenario's normalised recordings
              are also written to DIR/<scenario>.json.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest_asyncio
from temporalio.client import Client

HERE = Path(__file__).resolve().parent
E2E_DIR = HERE.parent / "e2e"
# helpers.py, dump_histories.py and the e2e test modules (which define the
# reference workflows and activities) are imported from the e2e directory.
for _p in (str(HERE), str(E2E_DIR)):
    if _p not in sys.path:
        sys.path.insert(0, _p)


def _load_e2e_harness():
    name = "orrery_e2e_harness"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, E2E_DIR / "conftest.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


harness = _load_e2e_harness()

import compare  # noqa: E402
import scenarios  # noqa: E402

SERVER_NAMES = ("real", "orrery")


class SideBySideServer(harness.Server):
    """The e2e harness' server, always `orrery dev` (never `orrery cell`)."""

    def command(self) -> list[str]:
        if self.target == "real":
            # test_visibility.py makes a few hundred visibility calls within
            # seconds; the dev server's default limit is 10 per second.
            return super().command() + [
                "--dynamic-config-value",
                "frontend.namespaceRPS.visibility=10000",
            ]
        binary = os.environ.get("ORRERY_BIN") or str(harness.REPO_ROOT / "target" / "debug" / "orrery")
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
        ]


def pytest_report_header(config):
    binary = os.environ.get("ORRERY_BIN") or str(harness.REPO_ROOT / "target" / "debug" / "orrery")
    return f"side by side: real Temporal ({harness._temporal_cli()}) vs Orrery ({binary})"


@pytest_asyncio.fixture(scope="session")
async def servers():
    started = {name: SideBySideServer(name) for name in SERVER_NAMES}
    try:
        await asyncio.gather(*(s.start() for s in started.values()))
        yield started
    finally:
        for s in started.values():
            s.cleanup()


@pytest_asyncio.fixture(scope="session")
async def clients(servers) -> dict[str, Client]:
    return {
        name: await Client.connect(srv.address, namespace="default")
        for name, srv in servers.items()
    }


def _selected_scenarios(session) -> list[str]:
    names: list[str] = []
    for item in session.items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "scenario" in callspec.params:
            name = callspec.params["scenario"]
            if name not in names:
                names.append(name)
    return names


@pytest_asyncio.fixture(scope="session")
async def outcomes(request, clients, servers):
    names = _selected_scenarios(request.session)
    result = await scenarios.run_all(clients, names)
    for name in names:
        for server_name, ctx in result[name].items():
            if ctx.error:
                ctx.error += "\n" + servers[server_name].log_tail(20)
    dump_dir = os.environ.get("SBS_DUMP_DIR")
    if dump_dir:
        Path(dump_dir).mkdir(parents=True, exist_ok=True)
        for name in names:
            doc = {s: compare.normalized_recording(ctx) for s, ctx in result[name].items()}
            (Path(dump_dir) / f"{name}.json").write_text(json.dumps(doc, indent=1, default=str))
    return result


def pytest_terminal_summary(terminalreporter):
    notes = compare.OFF_WHITELIST
    if not notes:
        return
    tr = terminalreporter
    tr.section("differences outside the asserted attributes (informational)")
    grouped: dict[tuple[str, str], list[tuple[str, object, object]]] = {}
    for scenario, event_type, path, real, orrery in notes:
        grouped.setdefault((event_type, path), []).append((scenario, real, orrery))
    for (event_type, path), rows in sorted(grouped.items()):
        scenario, real, orrery = rows[0]
        names = sorted({r[0] for r in rows})
        more = f" (+{len(names) - 1} more)" if len(names) > 1 else ""
        tr.write_line(
            f"{event_type}.{path}: real={real!r} orrery={orrery!r}  [{scenario}{more}]"
        )
