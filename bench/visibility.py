"""Benchmark: ListWorkflowExecutions with a three-clause filter over many
executions, against any Temporal-compatible server.

    python bench/visibility.py HOST:PORT [N] [--queries Q] [--concurrency C]

Starts N workflows (no worker: they stay Running, their visibility rows
exist) spread over 10 workflow types and a custom Keyword attribute with 50
values and an Int attribute, then times Q ListWorkflowExecutions calls
(page size 100) with

    WorkflowType = 'T<k>' AND BenchKeyword = 'k<j>' AND BenchInt > <x>

for random k, j, x, and prints JSON: start rate, list latency p50/p99/max,
rows per page. Run it against a fresh server: the filter does not tell
this run's workflows from an earlier run's.
"""

import argparse
import asyncio
import json
import random
import statistics
import time
import uuid

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey, TypedSearchAttributes, SearchAttributePair

KEYWORD = SearchAttributeKey.for_keyword("BenchKeyword")
RUN_TAG = SearchAttributeKey.for_keyword("BenchRun")
INT = SearchAttributeKey.for_int("BenchInt")


async def ensure_attributes(client: Client) -> None:
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={
                "BenchKeyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
                "BenchRun": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
                "BenchInt": IndexedValueType.INDEXED_VALUE_TYPE_INT,
            },
        )
    )
    await asyncio.sleep(1)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p * (len(ordered) - 1))))]


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("address")
    p.add_argument("n", type=int, nargs="?", default=100_000)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument(
        "--query-only",
        action="store_true",
        help="start nothing; time the queries over what an earlier run started",
    )
    args = p.parse_args()
    client = await Client.connect(args.address)
    await ensure_attributes(client)
    tag = uuid.uuid4().hex[:8]
    tq = f"bench-vis-{tag}"
    rng = random.Random(7)
    next_i = 0

    async def starter() -> None:
        nonlocal next_i
        while next_i < args.n:
            i = next_i
            next_i += 1
            await client.start_workflow(
                f"T{i % 10}",
                id=f"bench-vis-{tag}-{i}",
                task_queue=tq,
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(KEYWORD, f"k{rng.randrange(50)}"),
                        SearchAttributePair(RUN_TAG, tag),
                        SearchAttributePair(INT, rng.randrange(1000)),
                    ]
                ),
            )

    began = time.monotonic()
    if not args.query_only:
        await asyncio.gather(*(starter() for _ in range(args.concurrency)))
    start_secs = time.monotonic() - began

    latencies = []
    rows = []
    for _ in range(args.queries):
        query = (
            f"WorkflowType = 'T{rng.randrange(10)}' AND BenchKeyword = 'k{rng.randrange(50)}'"
            f" AND BenchInt > {rng.randrange(1000)}"
        )
        t0 = time.monotonic()
        page = client.list_workflows(query, page_size=100)
        got = 0
        async for _ in page:
            got += 1
            if got >= 100:
                break
        latencies.append((time.monotonic() - t0) * 1000)
        rows.append(got)
    print(
        json.dumps(
            {
                "address": args.address,
                "executions": args.n,
                "start_per_s": None if args.query_only else round(args.n / start_secs, 1),
                "queries": args.queries,
                "list_ms_p50": round(percentile(latencies, 0.5), 2),
                "list_ms_p99": round(percentile(latencies, 0.99), 2),
                "list_ms_max": round(max(latencies), 2),
                "rows_per_query_mean": round(statistics.mean(rows), 1),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
