"""Benchmark: does one namespace flooding the cell slow another one down?

    .venv/bin/python bench/noisy_neighbour.py [--rounds 2] [--rps 500] [--flooders 16]

Starts `orrery dev` (target/release/orrery) on a fresh data dir with
`frontend.namespaceRPS` set, creates namespaces `quiet` and `flood`, and runs
`orrery-loadgen noop-activity` on `quiet`, alternately alone and while a
second process hammers `flood` with DescribeNamespace calls that ignore every
RESOURCE_EXHAUSTED (a misbehaving client: the SDKs' own retries back off).
Prints JSON: the quiet namespace's throughput and latencies both ways, their
ratios, and how many flood calls were answered and refused.
"""

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError

REPO = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def flood(address: str, workers: int, secs: float) -> None:
    client = await Client.connect(address, namespace="flood")
    counts = {"answered": 0, "refused": 0}
    deadline = time.monotonic() + secs

    async def one() -> None:
        req = DescribeNamespaceRequest(namespace="flood")
        while time.monotonic() < deadline:
            try:
                await client.workflow_service.describe_namespace(req, retry=False)
                counts["answered"] += 1
            except RPCError:
                counts["refused"] += 1

    await asyncio.gather(*(one() for _ in range(workers)))
    print(json.dumps(counts), flush=True)


async def setup(address: str) -> None:
    client = await Client.connect(address, namespace="default")
    for name in ("quiet", "flood"):
        await client.workflow_service.register_namespace(RegisterNamespaceRequest(
            namespace=name, workflow_execution_retention_period=Duration(seconds=86400)))


def loadgen(address: str, count: int) -> dict:
    binary = TARGET / "release" / "orrery-loadgen"
    done = subprocess.run([str(binary), "noop-activity", "--address", address, "--namespace",
                           "quiet", "--count", str(count), "--concurrency", "10"],
                          capture_output=True, text=True, timeout=600, check=True)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return {"workflows_per_sec": report["workflows_per_sec"],
            "start_p50_ms": report["start_latency_ms"]["p50"],
            "start_p99_ms": report["start_latency_ms"]["p99"],
            "end_to_end_p50_ms": report["end_to_end_ms"]["p50"],
            "end_to_end_p99_ms": report["end_to_end_ms"]["p99"]}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=2)
    # High enough that the quiet namespace's own load (~7 calls per workflow
    # plus polls) stays under it; the flood goes far past it.
    p.add_argument("--rps", type=int, default=500)
    p.add_argument("--flooders", type=int, default=16)
    p.add_argument("--count", type=int, default=400)
    args = p.parse_args()
    port = free_port()
    address = f"127.0.0.1:{port}"
    data = Path(tempfile.mkdtemp(prefix="orrery-noisy-"))
    server = subprocess.Popen([str(TARGET / "release" / "orrery"), "dev", "--data-dir", str(data),
                               "--grpc-addr", address, "--http-addr", f"127.0.0.1:{free_port()}",
                               "--dynamic-config", f"frontend.namespaceRPS={args.rps}"],
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
        rounds = []
        for _ in range(args.rounds):
            alone = loadgen(address, args.count)
            flooder = subprocess.Popen(
                [sys.executable, "-c",
                 "import asyncio,sys; sys.path.insert(0, %r); import noisy_neighbour as n; "
                 "asyncio.run(n.flood(%r, %d, 3600))" % (str(Path(__file__).parent), address,
                                                        args.flooders)],
                stdout=subprocess.PIPE, text=True)
            time.sleep(2)
            flooded = loadgen(address, args.count)
            flooder.terminate()
            flooder.wait(10)
            rounds.append({"alone": alone, "flooded": flooded})
        ratios = {k: round(sum(r["flooded"][k] for r in rounds) / sum(r["alone"][k] for r in rounds), 3)
                  for k in rounds[0]["alone"]}
        print(json.dumps({"rps_limit": args.rps, "flooders": args.flooders, "rounds": rounds,
                          "flooded_over_alone": ratios}, indent=1))
    finally:
        server.kill()
        server.wait(10)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
