"""Benchmark: N workflows with one activity each, started concurrently from one
Python client with one worker, against any Temporal-compatible server.

    python bench/one_activity.py HOST:PORT [N] [--pid SERVER_PID]

Prints wall time, workflows/s and, given the server's pid, its peak RSS
(VmHWM). Run it against `orrery dev` and the real server side by side; the
machine is shared and noisy, so compare ratios from one run.
"""

import argparse
import asyncio
import time
import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker import UnsandboxedWorkflowRunner


@activity.defn
async def noop(x: int) -> int:
    return x


@workflow.defn
class OneActivity:
    @workflow.run
    async def run(self, x: int) -> int:
        return await workflow.execute_activity(
            noop, x, start_to_close_timeout=timedelta(seconds=30)
        )


def peak_rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("address")
    p.add_argument("n", type=int, nargs="?", default=1000)
    p.add_argument("--pid", type=int)
    p.add_argument("--concurrency", type=int, default=100)
    args = p.parse_args()
    client = await Client.connect(args.address)
    tq = f"bench-{uuid.uuid4()}"
    async with Worker(
        client,
        task_queue=tq,
        workflows=[OneActivity],
        activities=[noop],
        workflow_runner=UnsandboxedWorkflowRunner(),
        max_concurrent_workflow_tasks=100,
        max_concurrent_activities=100,
    ):
        sem = asyncio.Semaphore(args.concurrency)

        async def one(i: int) -> int:
            async with sem:
                h = await client.start_workflow(
                    OneActivity.run, i, id=f"bench-{uuid.uuid4()}", task_queue=tq
                )
                return await h.result()

        start = time.monotonic()
        results = await asyncio.gather(*(one(i) for i in range(args.n)))
        elapsed = time.monotonic() - start
    assert results == list(range(args.n)), "wrong results"
    line = f"{args.n} workflows in {elapsed:.2f}s = {args.n / elapsed:.1f} workflows/s"
    if args.pid:
        line += f"; server peak RSS {peak_rss_mib(args.pid):.0f} MiB"
    print(line)


if __name__ == "__main__":
    asyncio.run(main())
