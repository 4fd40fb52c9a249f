"""Benchmark: does one namespace flooding the cell slow another one down?

    .venv/bin/python bench/noisy_neighbour.py [--rounds 3] [--rps 2400] [--flood-limit 200] [--flood-rps 5000]

Starts `orrery dev` (target/release/orrery) on a fresh data dir with
`frontend.namespaceRPS` set (`--rps` for every namespace, `--flood-limit` for
namespace `flood`, in Temporal's constrained form), creates namespaces `quiet`
and `flood`, and runs `orrery-loadgen noop-activity` on `quiet`, alternately
alone and while `orrery-loadgen flood` hammers `flood` with DescribeNamespace
calls that ignore every RESOURCE_EXHAUSTED (a misbehaving client: the SDKs'
own retries back off for a second or more). The quiet namespace's own limit
must stay above what its workload needs (~6 calls per workflow): at its
limit it waits on its SDK's backoff, and the benchmark measures that. The
flooder runs at the lowest CPU priority (nice 19): in a cloud it runs on its
owner's machines, not on the cell's cores, and this machine has two. Prints JSON: the quiet namespace's throughput and latencies both
ways, their ratios, the server's CPU, and the calls the flood made.
"""

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client

REPO = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
LOADGEN = Path(os.environ.get("ORRERY_LOADGEN", REPO / "bench/loadgen/target/release/orrery-loadgen"))
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_secs(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


async def setup(address: str) -> None:
    client = await Client.connect(address, namespace="default")
    for name in ("quiet", "flood"):
        await client.workflow_service.register_namespace(RegisterNamespaceRequest(
            namespace=name, workflow_execution_retention_period=Duration(seconds=86400)))


def loadgen(address: str, count: int, server: int) -> dict:
    cpu0, t0 = cpu_secs(server), time.monotonic()
    done = subprocess.run([str(LOADGEN), "noop-activity", "--address", address, "--namespace",
                           "quiet", "--count", str(count), "--concurrency", "10"],
                          capture_output=True, text=True, timeout=600, check=True)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return {"wall_secs": round(time.monotonic() - t0, 2),
            "server_cpu_pct": round(100 * (cpu_secs(server) - cpu0) / (time.monotonic() - t0), 1),
            "workflows_per_sec": report["workflows_per_sec"],
            "start_p50_ms": report["start_latency_ms"]["p50"],
            "start_p99_ms": report["start_latency_ms"]["p99"],
            "end_to_end_p50_ms": report["end_to_end_ms"]["p50"],
            "end_to_end_p99_ms": report["end_to_end_ms"]["p99"]}


def start_flood(address: str, args, secs: float) -> subprocess.Popen:
    return subprocess.Popen(
        ["nice", "-n", "19", str(LOADGEN), "flood", "--address", address, "--namespace", "flood",
         "--concurrency", str(args.flooders), "--flood-rps", str(args.flood_rps),
         "--flood-secs", str(max(1, round(secs))), "--timeout-secs", str(round(secs) + 60)],
        stdout=subprocess.PIPE, text=True)


def flood_report(flooder: subprocess.Popen) -> dict:
    out, _ = flooder.communicate(timeout=600)
    if flooder.returncode != 0:
        raise SystemExit(f"the flooder failed ({flooder.returncode})")
    report = json.loads(out.strip().splitlines()[-1])
    return {k: report[k] for k in ("calls_per_sec", "answered", "refused", "other_errors",
                                   "first_other_error") if k in report}


def flood_only(address: str, args, server: int, secs: float = 10) -> dict:
    """The server's cost of the flood alone, per call."""
    flooder = start_flood(address, args, secs)
    time.sleep(1)
    cpu0, t0 = cpu_secs(server), time.monotonic()
    time.sleep(secs - 2)
    cpu = cpu_secs(server) - cpu0
    wall = time.monotonic() - t0
    report = flood_report(flooder)
    calls = report["calls_per_sec"] * wall
    report["server_cpu_pct"] = round(100 * cpu / wall, 1)
    report["server_cpu_us_per_call"] = round(1e6 * cpu / calls, 1) if calls else None
    return report


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=3)
    # Temporal's default. The quiet namespace needs ~1,000 calls/s here.
    p.add_argument("--rps", type=int, default=2400, help="every namespace's calls/s limit")
    p.add_argument("--flood-limit", type=int, default=200, help="namespace flood's own limit")
    p.add_argument("--flood-rps", type=int, default=5000,
                   help="calls/s the flooder offers (0: as fast as answered)")
    p.add_argument("--flooders", type=int, default=32, help="flood calls in flight")
    p.add_argument("--count", type=int, default=400)
    p.add_argument("--orrery", default=str(TARGET / "release" / "orrery"))
    args = p.parse_args()
    port = free_port()
    address = f"127.0.0.1:{port}"
    data = Path(tempfile.mkdtemp(prefix="orrery-noisy-"))
    server = subprocess.Popen([args.orrery, "dev", "--data-dir", str(data),
                               "--grpc-addr", address, "--http-addr", f"127.0.0.1:{free_port()}",
                               "--http-api-addr", f"127.0.0.1:{free_port()}",
                               "--dynamic-config", "frontend.namespaceRPS=" + json.dumps([
                                   {"value": args.flood_limit, "constraints": {"namespace": "flood"}},
                                   {"value": args.rps}])],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "RUST_LOG": "warn"})
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        asyncio.run(setup(address))
        # First, while the server has nothing else to do (later, the timers
        # of the workflows run would be counted too).
        flood_alone = flood_only(address, args, server.pid)
        rounds = []
        for _ in range(args.rounds):
            alone = loadgen(address, args.count, server.pid)
            # Long enough to outlast the flooded run, which may be slower.
            flooder = start_flood(address, args, 2 + 3 * alone["wall_secs"])
            time.sleep(2)
            flooded = loadgen(address, args.count, server.pid)
            rounds.append({"alone": alone, "flooded": flooded, "flood": flood_report(flooder)})
        ratios = {k: round(sum(r["flooded"][k] for r in rounds) / sum(r["alone"][k] for r in rounds), 3)
                  for k in rounds[0]["alone"]}
        print(json.dumps({"rps_limit": args.rps, "flood_limit": args.flood_limit,
                          "flood_rps": args.flood_rps,
                          "flooders": args.flooders, "rounds": rounds,
                          "flood_alone": flood_alone,
                          "flooded_over_alone": ratios}, indent=1))
    finally:
        server.kill()
        server.wait(10)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
