"""A real Prometheus for the delivery tests holding synthetic django-prometheus series.

The series are written as OpenMetrics and turned into TSDB blocks by `promtool tsdb
create-blocks-from openmetrics`; a Prometheus started on them answers queries at a chosen
evaluation time (the last sample's). One namespace per scenario, so one server serves every test.
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.support.tools import require_tool

METRIC = "django_http_responses_total_by_status_view_method_total"
STEP_SECONDS = 15
HISTORY_SECONDS = 3_600
WINDOW = "600s"


@dataclass(frozen=True)
class Traffic:
    """Responses per second of one release in one namespace, from `start` (seconds into the history)."""

    namespace: str
    release: str
    ok_per_second: float
    errors_per_second: float
    start: int = 0
    stop: int = HISTORY_SECONDS


SCENARIOS = (
    # A healthy candidate: 0.4 % errors against the stable pods' 1 %.
    Traffic("crm-healthy", "stable", 99.0, 1.0),
    Traffic("crm-healthy", "candidate", 4.98, 0.02, start=1_800),
    # An unhealthy one: 9 % errors against 1 %.
    Traffic("crm-unhealthy", "stable", 99.0, 1.0),
    Traffic("crm-unhealthy", "candidate", 5.0, 0.5, start=1_800),
    # Equal ratios pass ("not above").
    Traffic("crm-equal", "stable", 99.0, 1.0),
    Traffic("crm-equal", "candidate", 9.9, 0.1, start=1_800),
    # A candidate that has served nothing cannot be judged.
    Traffic("crm-idle", "stable", 99.0, 1.0),
    # The 100 % step: the stable pods stopped serving 20 minutes ago; the candidate has 0.5 %.
    Traffic("crm-full", "stable", 99.0, 1.0, stop=2_400),
    Traffic("crm-full", "candidate", 99.5, 0.5, start=1_800),
    # Only a few candidate requests: too little to judge.
    Traffic("crm-quiet", "stable", 99.0, 1.0),
    Traffic("crm-quiet", "candidate", 0.01, 0.0, start=1_800),
)


def openmetrics(start_time: int) -> str:
    """Every scenario's counters, sample by sample in time order, with a 404 too (not an error)."""
    lines = [f"# TYPE {METRIC.removesuffix('_total')} counter"]
    for offset in range(0, HISTORY_SECONDS + 1, STEP_SECONDS):
        for traffic in SCENARIOS:
            served = max(0, min(offset, traffic.stop) - traffic.start)
            labels = f'namespace="{traffic.namespace}",release="{traffic.release}",method="GET",view="api"'
            for status, per_second in (
                ("200", traffic.ok_per_second),
                ("404", 0.0),
                ("503", traffic.errors_per_second),
            ):
                value = round(per_second * served, 3)
                lines.append(f'{METRIC}{{{labels},status="{status}"}} {value} {start_time + offset}')
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Server:
    url: str
    end_time: int
    """The last sample's time: evaluations happen there."""


def started_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    promtool, server = require_tool("promtool", package="prometheus"), require_tool("prometheus", package="prometheus")
    require_tool("jq", package="jq")
    require_tool("curl", package="curl")
    directory = tmp_path_factory.mktemp("prometheus")
    # Recent enough for the default retention; old enough to be in blocks, not the head.
    start_time = (int(time.time()) // 3_600 - 6) * 3_600
    source = directory / "series.om"
    source.write_text(openmetrics(start_time), encoding="utf-8")
    data = directory / "data"
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    config = directory / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1h\n", encoding="utf-8")
    port = free_port()
    process = subprocess.Popen(
        [
            server,
            f"--config.file={config}",
            f"--storage.tsdb.path={data}",
            "--storage.tsdb.retention.time=30d",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"Prometheus did not start: {process.stderr.read().decode() if process.stderr else ''}"
                )
            time.sleep(0.5)
        yield Server(url=url, end_time=start_time + HISTORY_SECONDS)
    finally:
        process.terminate()
        process.wait(timeout=30)
