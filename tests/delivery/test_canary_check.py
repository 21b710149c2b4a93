"""scripts/delivery/canary-5xx-check.sh against a real Prometheus holding synthetic django-prometheus series.

The series are written as OpenMetrics and turned into TSDB blocks by `promtool tsdb
create-blocks-from openmetrics`; a Prometheus started on them answers the script's queries at a
chosen evaluation time. One namespace per scenario, so one server serves every test.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from offline.program import PROJECT_DIR
from tests.delivery.tools import require_tool

SCRIPT = PROJECT_DIR / "scripts" / "delivery" / "canary-5xx-check.sh"
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


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    promtool, server = require_tool("promtool"), require_tool("prometheus")
    require_tool("jq")
    require_tool("curl")
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


def check(server: Server, namespace: str, **settings: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **{key: value for key, value in os.environ.items() if not key.startswith(("CANARY_", "GITHUB_"))},
        "PROMETHEUS_URL": server.url,
        "CANARY_NAMESPACE": namespace,
        "CANARY_WINDOW": WINDOW,
        "CANARY_EVALUATION_TIME": str(server.end_time),
        **settings,
    }
    return subprocess.run(
        ["bash", str(SCRIPT)], env=environment, capture_output=True, text=True, timeout=120, check=False
    )


def test_a_healthy_candidate_passes(prometheus: Server) -> None:
    result = check(prometheus, "crm-healthy")
    assert result.returncode == 0, result.stderr
    assert "candidate 5xx ratio 0.004 over 600s" in result.stdout
    assert "stable 0.01," in result.stdout
    assert result.stdout.rstrip().endswith("the candidate is not worse")


def test_an_unhealthy_candidate_fails(prometheus: Server) -> None:
    result = check(prometheus, "crm-unhealthy")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "candidate 5xx ratio 0.0909" in result.stderr
    assert result.stderr.rstrip().endswith("the candidate is worse")


def test_a_candidate_as_good_as_the_release_passes(prometheus: Server) -> None:
    """The check is "not above", so equal ratios pass."""
    assert check(prometheus, "crm-equal").returncode == 0


def test_a_tolerance_lets_a_slightly_worse_candidate_pass(prometheus: Server) -> None:
    assert check(prometheus, "crm-unhealthy", CANARY_TOLERANCE="0.09").returncode == 0
    assert check(prometheus, "crm-unhealthy", CANARY_TOLERANCE="0.05").returncode == 1


def test_a_candidate_without_traffic_cannot_be_judged(prometheus: Server) -> None:
    """No candidate responses is not "no errors": the promotion stops."""
    result = check(prometheus, "crm-idle")
    assert result.returncode == 2
    assert "too little candidate traffic to judge: no responses in 600s in crm-idle" in result.stderr


def test_too_few_candidate_requests_cannot_be_judged(prometheus: Server) -> None:
    result = check(prometheus, "crm-quiet")
    assert result.returncode == 2
    assert "too little candidate traffic to judge: 6 responses" in result.stderr
    assert check(prometheus, "crm-quiet", CANARY_MIN_REQUESTS="5").returncode == 0


def test_at_full_share_the_release_before_the_promotion_is_the_baseline(prometheus: Server) -> None:
    """With no stable traffic in the window, the stable ratio comes from CANARY_BASELINE_OFFSET earlier."""
    without = check(prometheus, "crm-full")
    assert without.returncode == 2
    assert "no stable 5xx ratio to compare with" in without.stderr
    with_baseline = check(prometheus, "crm-full", CANARY_BASELINE_OFFSET="1800s")
    assert with_baseline.returncode == 0, with_baseline.stderr
    assert "candidate 5xx ratio 0.005 over 600s" in with_baseline.stdout
    assert "stable 0.01," in with_baseline.stdout


def test_an_unreachable_prometheus_cannot_judge(prometheus: Server) -> None:
    result = check(Server(url=f"http://127.0.0.1:{free_port()}", end_time=prometheus.end_time), "crm-healthy")
    assert result.returncode == 2
    assert "did not answer" in result.stderr


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("CANARY_WINDOW", "10 minutes", "CANARY_WINDOW '10 minutes' is not a duration"),
        ("CANARY_NAMESPACE", 'x"}) or vector(1', "is not a namespace name"),
        ("CANARY_TOLERANCE", "-1", "CANARY_TOLERANCE '-1' is not a ratio"),
    ],
)
def test_bad_settings_are_one_line(prometheus: Server, setting: str, value: str, message: str) -> None:
    result = check(prometheus, "crm-healthy", **{setting: value})
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert message in result.stderr
