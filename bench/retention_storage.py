"""Storage under steady load with retention on: does the database stay flat?

    python bench/retention_storage.py [--binary target/release/orrery]
        [--minutes 10] [--rate 20] [--retention-secs 60] [--no-archive]

Starts `orrery dev` on a fresh data directory, registers a namespace with
the given retention (and archival to the local-file archive under the data
directory unless --no-archive), then starts `rate` one-activity workflows per
second for `minutes`, each run to completion by a worker in this process.
Every 30 s it prints a JSON line: workflows completed, closed runs still
stored and runs still running (CountWorkflowExecutions), database bytes
(cell.db + WAL) and archive bytes.
At the end it prints a summary with archive bytes per completed workflow.

Once retention has passed, deletions keep pace with completions: the count
of stored closed runs levels off at about rate x retention, and
SQLite reuses the pages they free, so the file stops growing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from google.protobuf.duration_pb2 import Duration
from temporalio import activity, workflow
from temporalio.api.enums.v1 import ArchivalState
from temporalio.api.workflowservice.v1 import CountWorkflowExecutionsRequest, RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker


@activity.defn
async def noop(x: int) -> int:
    return x


@workflow.defn
class OneActivity:
    @workflow.run
    async def run(self, x: int) -> int:
        return await workflow.execute_activity(noop, x, start_to_close_timeout=timedelta(seconds=30))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree_bytes(path: Path) -> int:
    if not path.exists():
        return 0
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def db_bytes(data: Path) -> int:
    return sum((data / n).stat().st_size for n in ("cell.db", "cell.db-wal") if (data / n).exists())


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="target/release/orrery")
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--rate", type=float, default=20)
    ap.add_argument("--retention-secs", type=int, default=60)
    ap.add_argument("--no-archive", action="store_true")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="orrery-retention-"))
    data = tmp / "data"
    port = free_port()
    server = subprocess.Popen(
        [args.binary, "dev", "--data-dir", str(data), "--grpc-addr", f"127.0.0.1:{port}",
         "--http-addr", f"127.0.0.1:{free_port()}", "--http-api-addr", f"127.0.0.1:{free_port()}"],
        stdout=open(tmp / "server.log", "wb"), stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(100):
            try:
                client = await Client.connect(f"127.0.0.1:{port}")
                break
            except Exception:  # noqa: BLE001 - not up yet
                await asyncio.sleep(0.2)
        archival = ArchivalState.ARCHIVAL_STATE_DISABLED if args.no_archive else ArchivalState.ARCHIVAL_STATE_ENABLED
        await client.workflow_service.register_namespace(RegisterNamespaceRequest(
            namespace="flat",
            workflow_execution_retention_period=Duration(seconds=args.retention_secs),
            history_archival_state=archival,
            visibility_archival_state=archival,
        ))
        client = await Client.connect(f"127.0.0.1:{port}", namespace="flat")
        completed = 0
        failures = 0
        pending: set[asyncio.Task] = set()

        async def one(i: int) -> None:
            nonlocal completed, failures
            try:
                await client.execute_workflow(OneActivity.run, i, id=f"wf-{uuid.uuid4()}", task_queue="flat")
                completed += 1
            except Exception:  # noqa: BLE001 - counted, reported
                failures += 1

        samples = []
        async with Worker(client, task_queue="flat", workflows=[OneActivity], activities=[noop],
                          workflow_runner=UnsandboxedWorkflowRunner(),
                          max_concurrent_workflow_tasks=100, max_concurrent_activities=100):
            start = time.monotonic()
            end = start + args.minutes * 60
            next_sample = start
            i = 0
            while time.monotonic() < end:
                due = int((time.monotonic() - start) * args.rate)
                while i < due:
                    t = asyncio.create_task(one(i))
                    pending.add(t)
                    t.add_done_callback(pending.discard)
                    i += 1
                if time.monotonic() >= next_sample:
                    async def count(query: str) -> int:
                        return (await client.workflow_service.count_workflow_executions(
                            CountWorkflowExecutionsRequest(namespace="flat", query=query))).count

                    sample = {
                        "t_s": round(time.monotonic() - start),
                        "completed": completed,
                        "failed": failures,
                        # Closed runs retention has not deleted yet, and runs
                        # still going (a backlog if the server falls behind).
                        "stored_closed": await count("ExecutionStatus != 'Running'"),
                        "running": await count("ExecutionStatus = 'Running'"),
                        "db_bytes": db_bytes(data),
                        "archive_bytes": tree_bytes(data / "archive"),
                    }
                    samples.append(sample)
                    print(json.dumps(sample), flush=True)
                    next_sample += 30
                await asyncio.sleep(0.01)
            await asyncio.gather(*pending)
        archive = tree_bytes(data / "archive")
        history_objects = len(list((data / "archive").rglob("*.history")))
        later = [s["db_bytes"] for s in samples if s["t_s"] >= 2 * args.retention_secs + 30]
        summary = {
            "minutes": args.minutes,
            "rate_per_s": args.rate,
            "retention_s": args.retention_secs,
            "completed": completed,
            "failed": failures,
            "archived_histories": history_objects,
            "archive_bytes_per_workflow": round(archive / max(history_objects, 1)),
            "db_bytes_final": db_bytes(data),
            "db_bytes_after_warmup_min_max": [min(later), max(later)] if later else None,
        }
        print(json.dumps({"summary": summary}), flush=True)
        if failures:
            sys.exit(f"{failures} workflows failed")
    finally:
        server.terminate()
        server.wait(10)
        if not os.environ.get("KEEP"):
            subprocess.run(["rm", "-rf", str(tmp)])


if __name__ == "__main__":
    asyncio.run(main())
