"""The alert rules as Prometheus reads them: `promtool check rules` and `promtool test rules`.

Every alert of every stack has a unit test where it fires (with the labels and the rendered
annotations it must carry) and one where it stays silent: on the stack's healthy series plus
another stack's failing ones (alert_cases.py). promtool here is Debian's 2.42; clusters run
Prometheus 3, whose range windows are left-open, so the cases evaluate away from window edges.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.monitoring import rules
from components.monitoring.rules import Alert, RuleGroup, Severity
from offline.schemas import CustomResourceSchemas
from tests.components.monitoring.alert_cases import ALWAYS_FIRING, CASES, OTHER_NAMESPACE, Context, Firing, minutes
from tests.components.monitoring.support import (
    SHARED,
    STACKS,
    StackUnderTest,
    announce,
    require_tool,
    stack_under_test,
    tool_version,
)

RUNBOOK = Path(__file__).resolve().parents[3] / rules.RUNBOOK_DOCUMENT
EVALUATION_INTERVAL = "5m"
"""Rules evaluate every 5 minutes in the unit tests (every case's evaluation time is a multiple): the
3-day burn-rate windows cost 5 times fewer evaluations than at Prometheus's 1-minute default, and a
`for` still needs its condition held at consecutive evaluations spanning it."""


@pytest.fixture(scope="module")
def promtool(pytestconfig: pytest.Config) -> str:
    path = require_tool("promtool")
    announce(pytestconfig, tool_version(path, "--version"))
    return path


def groups_of(stack: str) -> list[RuleGroup]:
    under_test = stack_under_test(stack)
    return rules.alert_groups(under_test.monitoring, under_test.facts)


def write_rule_files(stack: str, directory: Path) -> dict[str, Path]:
    """One rule file per group, as the PrometheusRule's `spec.groups` would load."""
    under_test = stack_under_test(stack)
    files: dict[str, Path] = {}
    for group in groups_of(stack):
        path = directory / f"{group.name}.rules.yml"
        path.write_text(yaml.safe_dump({"groups": [rules.group_spec(group, under_test.facts)]}, sort_keys=False))
        files[group.name] = path
    return files


def render(template: str, labels: dict[str, str], value: str) -> str:
    """A rule's annotation as Prometheus renders it, the value given as the case expects it shown."""
    text = re.sub(r"\{\{ \$value( \| \w+)? \}\}", lambda _: value, template)
    return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda match: labels[match[1]], text)


def expected_alert(alert: Alert, under_test: StackUnderTest, firing: Firing) -> dict[str, Any]:
    spec = next(
        rule
        for group in groups_of(under_test.settings.stack)
        for rule in rules.group_spec(group, under_test.facts)["rules"]
        if rule.get("alert") == alert.name
    )
    labels = {**spec["labels"], **firing.labels}
    annotations = {name: render(text, labels, firing.value) for name, text in spec["annotations"].items()}
    return {"exp_labels": labels, "exp_annotations": annotations}


def series_input(series: tuple[Any, ...]) -> list[dict[str, str]]:
    return [{"series": item.notation(), "values": item.values} for item in series]


def unit_tests(stack: str, group: RuleGroup) -> list[dict[str, Any]]:
    """promtool tests of one group: every firing case of every alert, and its silent case."""
    under_test = stack_under_test(stack)
    own = Context(under_test.facts.app_namespace, under_test.facts.postgres_instances)
    other = Context(OTHER_NAMESPACE, under_test.facts.postgres_instances)
    tests: list[dict[str, Any]] = []
    for alert in group.alerts:
        cases = CASES[alert.name]
        firings = cases.firing(own)
        for number, firing in enumerate(firings, 1):
            tests.append(
                {
                    "name": f"{alert.name} fires ({number})",
                    "interval": "1m",
                    "input_series": series_input(firing.series),
                    "alert_rule_test": [
                        {
                            "eval_time": firing.eval_time,
                            "alertname": alert.name,
                            "exp_alerts": [expected_alert(alert, under_test, firing)],
                        }
                    ],
                }
            )
        if alert.name in ALWAYS_FIRING:
            continue
        elsewhere = cases.firing(other)
        eval_time = max((firing.eval_time for firing in firings), key=minutes)
        tests.append(
            {
                "name": f"{alert.name} stays silent on a healthy stack beside a failing one",
                "interval": "1m",
                "input_series": series_input(cases.healthy(own) + tuple(s for f in elsewhere for s in f.series)),
                "alert_rule_test": [{"eval_time": eval_time, "alertname": alert.name, "exp_alerts": []}],
            }
        )
    return tests


def write_unit_tests(stack: str, directory: Path) -> list[Path]:
    files = write_rule_files(stack, directory)
    paths = []
    for group in groups_of(stack):
        path = directory / f"{group.name}.test.yml"
        document = {
            "rule_files": [files[group.name].name],
            "evaluation_interval": EVALUATION_INTERVAL,
            "tests": unit_tests(stack, group),
        }
        path.write_text(yaml.safe_dump(document, sort_keys=False, width=200))
        paths.append(path)
    return paths


def run_promtool(promtool: str, *arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *arguments], capture_output=True, text=True, check=False, cwd=cwd, timeout=300)


def all_alerts() -> Iterator[tuple[str, Alert]]:
    for stack in STACKS:
        for group in groups_of(stack):
            for alert in group.alerts:
                yield stack, alert


@pytest.mark.parametrize("stack", STACKS)
def test_promtool_accepts_every_rule_group(stack: str, promtool: str, tmp_path: Path) -> None:
    """`promtool check rules` accepts each group the stack's PrometheusRules carry."""
    files = write_rule_files(stack, tmp_path)
    result = run_promtool(promtool, "check", "rules", *(str(path) for path in files.values()), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    count = sum(len(group.rules) for group in groups_of(stack))
    found = sum(int(number) for number in re.findall(r"SUCCESS: (\d+) rules found", result.stdout))
    assert found == count


def test_every_alert_has_a_firing_and_a_silent_case() -> None:
    """The table covers every alert any stack declares, and holds no case for an alert that no longer exists."""
    declared = {alert.name for _, alert in all_alerts()}
    assert declared - set(CASES) == set(), "alerts without unit-test cases"
    assert set(CASES) - declared == set(), "cases for alerts no stack declares"
    for name in declared:
        context = Context("crm-test", 3)
        assert CASES[name].firing(context), f"{name} has no firing case"
        if name not in ALWAYS_FIRING:
            assert CASES[name].healthy(context) or name == "Watchdog", f"{name} has no healthy series"


def shape(stack: str) -> tuple[object, ...]:
    """What makes one stack's rules differ from another's, besides its name, environment and namespace."""
    under_test = stack_under_test(stack)
    facts = under_test.facts
    return (
        facts.high_availability_redis,
        facts.wal_archiving,
        facts.postgres_instances,
        facts.celery_worker,
        facts.celery_beat,
        facts.autoscaling,
        under_test.monitoring.thresholds,
    )


def representatives() -> dict[str, str]:
    """Each stack's representative: the first stack of the same shape (dev stands for pr-7)."""
    first: dict[tuple[object, ...], str] = {}
    return {stack: first.setdefault(shape(stack), stack) for stack in STACKS}


UNIT_TESTED_STACKS = tuple(sorted(set(representatives().values()), key=STACKS.index))


def anonymous(stack: str) -> str:
    """The stack's rule groups with its name, environment and namespace replaced by placeholders."""
    facts = stack_under_test(stack).facts
    text = json.dumps([rules.group_spec(group, facts) for group in groups_of(stack)], indent=1)
    text = text.replace(facts.app_namespace, "<namespace>")
    text = text.replace(f'"environment": "{facts.environment}"', '"environment": "<environment>"')
    return re.sub(rf"\b{re.escape(facts.stack)}\b", "<stack>", text)


@pytest.mark.parametrize("stack", [stack for stack, first in representatives().items() if stack != first])
def test_stacks_of_one_shape_differ_only_in_identity(stack: str) -> None:
    """A stack unit-tested through its representative has the same rules but for name, environment, namespace."""
    assert anonymous(stack) == anonymous(representatives()[stack])


def run_unit_tests(promtool: str, paths: list[Path], cwd: Path) -> list[subprocess.CompletedProcess[str]]:
    """One promtool per rule group, two at a time (the machines running this have two CPUs)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda path: run_promtool(promtool, "test", "rules", path.name, cwd=cwd), paths))


@pytest.mark.parametrize("stack", UNIT_TESTED_STACKS)
def test_every_alert_fires_on_its_failure_and_stays_silent_otherwise(stack: str, promtool: str, tmp_path: Path) -> None:
    """`promtool test rules`: each alert fires with its labels and rendered annotations, and stays silent on a
    healthy stack even while another stack's namespace shows the failure."""
    paths = write_unit_tests(stack, tmp_path)
    for path, result in zip(paths, run_unit_tests(promtool, paths, tmp_path), strict=True):
        assert result.returncode == 0, f"{path.name}:\n{result.stdout}{result.stderr}"
        assert "SUCCESS" in result.stdout


def test_a_wrong_expectation_fails_the_unit_tests(promtool: str, tmp_path: Path) -> None:
    """The harness can fail: a firing case expecting another value in the description is rejected."""
    paths = write_unit_tests("production", tmp_path)
    web = next(path for path in paths if path.name.endswith("-web.test.yml"))
    document = yaml.safe_load(web.read_text())
    expected = document["tests"][0]["alert_rule_test"][0]["exp_alerts"][0]["exp_annotations"]
    expected["description"] = expected["description"].replace("(0 answering)", "(1 answering)")
    web.write_text(yaml.safe_dump(document, sort_keys=False))
    result = run_promtool(promtool, "test", "rules", web.name, cwd=tmp_path)
    assert result.returncode != 0
    assert "WebDown" in result.stdout + result.stderr


def test_every_alert_carries_severity_service_stack_and_its_annotations() -> None:
    """Labels route and group the alert; the description shows its value; the runbook link points at its entry."""
    for stack in STACKS:
        under_test = stack_under_test(stack)
        for group in groups_of(stack):
            for spec in rules.group_spec(group, under_test.facts)["rules"]:
                if "record" in spec:
                    continue
                alert = next(alert for alert in group.alerts if alert.name == spec["alert"])
                labels = spec["labels"]
                assert labels["severity"] in {severity.value for severity in Severity}
                assert labels["stack"] == stack
                assert labels["environment"] == under_test.settings.environment.value
                assert labels["namespace"] == under_test.settings.namespaces.app
                # The service comes from the rule, or (per object) from the expression's label_replace.
                assert "service" in labels or '"service"' in alert.expr, alert.name
                annotations = spec["annotations"]
                assert set(annotations) == {"summary", "description", "runbook_url"}
                assert annotations["runbook_url"] == f"{rules.RUNBOOK_DOCUMENT}#{alert.name.lower()}"
                if alert.name not in {"Watchdog", "CertificateNotReady"}:
                    assert "$value" in annotations["description"], alert.name


def runbook_entries() -> dict[str, str]:
    """The runbook's `### <AlertName>` entries and their text."""
    text = RUNBOOK.read_text(encoding="utf-8")
    parts = re.split(r"^### (\w+)\s*$", text, flags=re.MULTILINE)
    return {parts[index]: parts[index + 1] for index in range(1, len(parts), 2)}


def test_every_alert_has_a_runbook_entry_and_every_entry_an_alert() -> None:
    """docs/runbooks/alerts.md explains each alert (meaning, first checks, fixes) under the anchor its link names."""
    entries = runbook_entries()
    declared = {alert.name for _, alert in all_alerts()}
    assert declared - set(entries) == set(), "alerts without a runbook entry"
    assert set(entries) - declared == set(), "runbook entries for alerts no stack declares"
    for name, text in entries.items():
        for part in ("**Meaning**", "**First checks**", "**Fixes**"):
            assert part in text, f"{name}: no {part} in its runbook entry"


def test_every_selector_is_scoped_to_the_stack() -> None:
    """Each series selector names the stack's namespace (exported_namespace for cert-manager's series); the
    unit tests' silent cases show the effect (another namespace's failure does not fire the stack's alert)."""
    for stack in STACKS:
        namespace = stack_under_test(stack).facts.app_namespace
        for group in groups_of(stack):
            for rule in group.rules:
                for selector in re.findall(r"\{[^{}]*\}", rule.expr):
                    assert f'namespace="{namespace}"' in selector, (stack, group.name, selector)


def test_thresholds_come_from_the_settings() -> None:
    """A team's thresholds reach the expressions (here: a 3 % error ratio and a 95 % disk alert)."""
    from dataclasses import replace

    under_test = stack_under_test("production")
    tuned = replace(
        under_test.monitoring,
        thresholds=replace(under_test.monitoring.thresholds, error_ratio_percent=3.0, disk_percent=95),
    )
    alerts = {alert.name: alert for group in rules.alert_groups(tuned, under_test.facts) for alert in group.alerts}
    assert alerts["WebHighErrorRatio"].expr.endswith("> 0.03")
    assert "> 0.95" in alerts["PersistentVolumeFillingUp"].expr


def test_rule_groups_of_each_stack_follow_its_shape() -> None:
    """Sentinel alerts only with Redis failover, WAL and base-backup alerts only with WAL archiving, replica
    alerts only with replicas, the autoscaler alert only with an autoscaler."""
    for stack in STACKS:
        facts = stack_under_test(stack).facts
        names = {alert.name for group in groups_of(stack) for alert in group.alerts}
        assert ("RedisBrokerNoMaster" in names) is facts.high_availability_redis
        assert ("PostgresWalArchivingFailing" in names) is facts.wal_archiving
        assert ("PostgresBaseBackupTooOld" in names) is facts.wal_archiving
        assert ("PostgresReplicationLag" in names) is (facts.postgres_instances > 1)
        assert ("HpaAtMaximum" in names) is facts.autoscaling


def test_signals_cover_every_series_the_expression_reads() -> None:
    """Every metric an alert's expression selects is in one of its signals, which the real-Prometheus test runs:
    no metric can be misspelt in the expression alone."""
    for stack, alert in all_alerts():
        read = set(re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{", alert.expr))
        in_signals = {name for signal in alert.signals for name in re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{", signal)}
        assert read <= in_signals, (stack, alert.name, read - in_signals)
        assert all(signal.count("(") == signal.count(")") for signal in alert.signals), alert.name


@pytest.fixture(scope="module")
def custom_resources() -> CustomResourceSchemas:
    return CustomResourceSchemas.load(SHARED / "crds")


@pytest.mark.parametrize("stack", STACKS)
def test_the_groups_make_a_valid_prometheusrule(stack: str, custom_resources: CustomResourceSchemas) -> None:
    """A PrometheusRule carrying the stack's groups passes the prometheus-operator CRD's schema, strictly."""
    under_test = stack_under_test(stack)
    document = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": f"crm-{stack}-alerts", "namespace": under_test.settings.namespaces.monitoring},
        "spec": {"groups": [rules.group_spec(group, under_test.facts) for group in groups_of(stack)]},
    }
    assert custom_resources.errors(document) == []
