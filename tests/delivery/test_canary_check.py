"""scripts/delivery/canary-5xx-check.sh against a real Prometheus holding synthetic django-prometheus series
(tests/delivery/prometheus.py: one namespace per scenario)."""

from __future__ import annotations

import os
import subprocess

import pytest

from offline.program import PROJECT_DIR
from tests.delivery.prometheus import Server, free_port

SCRIPT = PROJECT_DIR / "scripts" / "delivery" / "canary-5xx-check.sh"
WINDOW = "600s"


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
