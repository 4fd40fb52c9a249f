"""Operator metrics: a cell started with `--metrics-addr` serves Prometheus'
text format at `/metrics`, with Temporal's server metric names, parsed here
by the official Python client's parser and scraped by a real Prometheus
server (Debian's `prometheus`; ORRERY_PROMETHEUS names another binary)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.service import RPCError

from conftest import e2e_target, free_port, orrery_binary
from helpers import new_id, run_worker

pytestmark = pytest.mark.skipif(
    e2e_target() != "orrery", reason="the operator metrics endpoint is Orrery's"
)

PROMETHEUS = os.environ.get("ORRERY_PROMETHEUS", "/usr/bin/prometheus")


@activity.defn
async def shout(text: str) -> str:
    return text.upper()


@workflow.defn
class Greeter:
    @workflow.run
    async def run(self, name: str) -> str:
        await workflow.sleep(timedelta(milliseconds=10))
        return await workflow.execute_activity(
            shout, f"hello {name}", start_to_close_timeout=timedelta(seconds=10)
        )


def _database(tmp: Path) -> tuple[str, tuple[str, str] | None]:
    """A fresh database: SQLite in `tmp`, or one on ORRERY_DATABASE_URL's
    PostgreSQL server (returned for dropping)."""
    url = os.environ.get("ORRERY_DATABASE_URL")
    if not url:
        return f"sqlite://{tmp / 'cell.db'}", None
    base, _ = url.rsplit("/", 1)
    db = f"orrery_metrics_{uuid.uuid4().hex[:8]}"
    subprocess.run(["psql", f"{base}/postgres", "-qc", f"CREATE DATABASE {db}"], check=True)
    return f"{base}/{db}", (f"{base}/postgres", db)


def _get(url: str, timeout: float = 5):
    """(status, headers (case-insensitive), body)."""
    with urllib.request.urlopen(url, timeout=timeout) as res:
        return res.status, res.headers, res.read().decode()


class MetricsCell:
    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="orrery-e2e-metrics-"))
        self.address = f"127.0.0.1:{free_port()}"
        self.metrics_addr = f"127.0.0.1:{free_port()}"
        self.url = f"http://{self.metrics_addr}/metrics"
        self.database, self.pg_db = _database(self.tmp)
        self.log = self.tmp / "cell.log"
        self.proc = subprocess.Popen(
            [
                orrery_binary(), "cell",
                "--database-url", self.database,
                "--grpc-addr", self.address,
                "--namespace", "default",
                "--shards", "4",
                "--metrics-addr", self.metrics_addr,
            ],
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("wb"),
            env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
        )

    async def wait_ready(self) -> Client:
        deadline = time.monotonic() + 60
        last: BaseException | None = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"cell exited: {self.log.read_text(errors='replace')}")
            try:
                _get(self.url, timeout=2)
                return await Client.connect(self.address, namespace="default")
            except Exception as e:  # noqa: BLE001 - anything means "not yet"
                last = e
                await asyncio.sleep(0.2)
        raise RuntimeError(f"cell not ready: {last!r}\n{self.log.read_text(errors='replace')}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self.pg_db:
            admin, db = self.pg_db
            subprocess.run(["psql", admin, "-qc", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"])
        shutil.rmtree(self.tmp, ignore_errors=True)


@pytest_asyncio.fixture(scope="module")
async def cell():
    c = MetricsCell()
    try:
        yield c, await c.wait_ready()
    finally:
        c.stop()


def samples(body: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Every sample by its sample name (`service_requests_total`, `…_bucket`)."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def value(all_samples, name: str, **labels: str) -> float:
    """The sum over the series of `name` carrying all of `labels`."""
    return sum(
        v
        for got, v in all_samples.get(name, [])
        if all(got.get(k) == want for k, want in labels.items())
    )


async def test_metrics_of_a_workflow_parse_with_temporal_names_and_bounded_labels(cell):
    metrics_cell, client = cell
    workflow_id = new_id("metrics-wf")
    async with run_worker(client, workflows=[Greeter], activities=[shout]) as worker:
        result = await client.execute_workflow(
            Greeter.run, "metrics", id=workflow_id, task_queue=worker.task_queue,
            execution_timeout=timedelta(seconds=30),
        )
        assert result == "HELLO METRICS"
    # A workflow no worker polls for: its task waits in the backlog.
    idle_queue = new_id("metrics-idle-tq")
    waiting = await client.start_workflow(
        Greeter.run, "nobody", id=new_id("metrics-waiting"), task_queue=idle_queue,
        execution_timeout=timedelta(seconds=30),
    )
    # A call naming a namespace that does not exist.
    made_up = f"no-such-namespace-{uuid.uuid4().hex[:6]}"
    with pytest.raises(RPCError):
        await (await Client.connect(metrics_cell.address, namespace=made_up)).count_workflows()

    status, headers, body = _get(metrics_cell.url)
    assert status == 200
    assert headers.get("Content-Type", "").startswith("text/plain; version=0.0.4")
    got = samples(body)

    assert value(got, "service_requests_total", namespace="default",
                 operation="StartWorkflowExecution") >= 1
    assert value(got, "service_latency_count", namespace="default",
                 operation="StartWorkflowExecution") >= 1
    assert value(got, "service_requests_total", namespace="_unknown_",
                 operation="CountWorkflowExecutions") >= 1
    assert value(got, "workflow_success_total", namespace="default") >= 1
    for action_type in ("workflow_started", "timer_started", "activity_started"):
        assert value(got, "action_total", namespace="default", action_type=action_type) >= 1, action_type
    assert value(got, "persistence_requests_total") > 0
    assert value(got, "persistence_latency_count") > 0
    assert value(got, "task_schedule_to_start_latency_count", namespace="default",
                 taskqueue=worker.task_queue, task_type="Workflow") >= 1
    # The worker's sticky queue, named by the worker, shares one value.
    assert value(got, "task_schedule_to_start_latency_count", namespace="default",
                 taskqueue="__sticky__", task_type="Workflow") >= 1
    assert value(got, "approximate_backlog_count", namespace="default",
                 taskqueue=idle_queue, task_type="Workflow") == 1
    await waiting.terminate()
    # Histogram buckets are cumulative and end in +Inf = count.
    buckets = [
        (float(labels["le"]), v)
        for labels, v in got["service_latency_bucket"]
        if labels.get("namespace") == "default" and labels.get("operation") == "StartWorkflowExecution"
    ]
    assert buckets[-1][0] == float("inf")
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)
    assert buckets[-1][1] == value(got, "service_latency_count", namespace="default",
                                   operation="StartWorkflowExecution")

    # No workflow id, and no name nobody registered, becomes a label value.
    assert workflow_id not in body
    assert made_up not in body
    label_names = {k for series in got.values() for labels, _ in series for k in labels}
    assert label_names <= {
        "namespace", "operation", "error_type", "action_type", "taskqueue", "task_type",
        "task_category", "task", "le",
    }, label_names


async def test_a_real_prometheus_scrapes_the_cell(cell, tmp_path):
    metrics_cell, client = cell
    if not Path(PROMETHEUS).exists():
        pytest.fail(f"{PROMETHEUS} not found: apt-get install prometheus (or set ORRERY_PROMETHEUS)")
    await client.count_workflows()  # at least one series with the namespace label
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n"
        "  - job_name: orrery_cell\n"
        f"    static_configs:\n      - targets: ['{metrics_cell.metrics_addr}']\n"
    )
    log = tmp_path / "prometheus.log"
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    api = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.monotonic() + 60
        target = None
        series: list = []
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text(errors="replace")
            try:
                _, _, text = _get(f"{api}/targets")
                active = json.loads(text)["data"]["activeTargets"]
                target = next(
                    (t for t in active if t["scrapeUrl"] == metrics_cell.url), None
                )
                query = urllib.parse.quote('service_requests_total{namespace="default"}')
                _, _, text = _get(f"{api}/query?query={query}")
                series = json.loads(text)["data"]["result"]
            except (urllib.error.URLError, ConnectionError, KeyError):
                pass
            if target and target["health"] == "up" and series:
                break
            await asyncio.sleep(0.5)
        assert target is not None, log.read_text(errors="replace")
        assert target["health"] == "up", target
        assert target["lastError"] == "", target
        assert series, "no service_requests_total series arrived"
        assert {s["metric"]["operation"] for s in series} >= {"CountWorkflowExecutions"}
        assert all(float(s["value"][1]) >= 1 for s in series)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


async def test_orrery_dev_serves_the_cell_and_control_plane_metrics_at_its_http_address():
    from conftest import Server

    dev = Server("orrery", dev_args=[])
    try:
        await dev.start()
        client = await Client.connect(dev.address, namespace="default")
        await client.count_workflows()
        url = f"http://127.0.0.1:{dev.http_port}"
        _get(f"{url}/api/v1/openapi.json")
        status, _, body = _get(f"{url}/metrics")
        assert status == 200
        families = [f.name for f in text_string_to_metric_families(body)]
        assert len(families) == len(set(families)), "one family per name across both"
        got = samples(body)
        assert value(got, "service_requests_total", namespace="default",
                     operation="CountWorkflowExecutions") >= 1
        assert value(got, "control_plane_http_requests_total", method="GET",
                     route="/api/v1/openapi.json", status="200") >= 1
    finally:
        dev.cleanup()
