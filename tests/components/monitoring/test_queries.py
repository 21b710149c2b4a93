"""Every panel query and every alert expression, run by a real Prometheus over the emitters' series.

An unknown metric or label is no error to Prometheus: the query just returns nothing. So every
query that shows or measures something must return data on a healthy stack:
- each dashboard target (Grafana's `$__rate_interval` is given as 1m, four scrapes and more here);
- each alert's signals: its expression's measured parts without the threshold comparison
  (rules.Alert.signals; test_rules.py checks they cover every series the expression reads);
- each recording rule's expression, and the series it records.
The alert expressions themselves are healthy-silent, so they must run without error (their firing
is promtool's unit tests' part). conftest.py says which emitters are real and which synthesized.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from components.monitoring import rules
from components.monitoring.rules import Alert, Recording
from tests.components.monitoring.conftest import Prometheus, QueryError
from tests.components.monitoring.support import STACKS, stack_under_test
from tests.components.monitoring.test_dashboards import queries, stack_dashboards

GRAFANA_RATE_INTERVAL = "1m"
RETRY_SECONDS = 10.0
"""How long a query may take to return data after the session's first complete scrape (a rate over a
fresh counter needs a second sample, a recording rule its next evaluation)."""


def stack_rules(stack: str) -> list[Alert | Recording]:
    under_test = stack_under_test(stack)
    return [rule for group in rules.alert_groups(under_test.monitoring, under_test.facts) for rule in group.rules]


def empty_queries(prometheus: Prometheus, expressions: list[str], retry: float = RETRY_SECONDS) -> list[str]:
    """The expressions that still return nothing after the retry window, or that Prometheus rejects."""

    def failure(expr: str) -> str | None:
        try:
            result = prometheus.eventually(expr, retry)
        except QueryError as error:
            return f"{expr}\n    rejected: {error}"
        return None if result else f"{expr}\n    returned nothing"

    with ThreadPoolExecutor(max_workers=8) as pool:
        return [found for found in pool.map(failure, dict.fromkeys(expressions)) if found is not None]


@pytest.mark.parametrize("stack", STACKS)
def test_every_alert_signal_and_recording_rule_returns_data(stack: str, prometheus: Prometheus) -> None:
    """What each alert compares, and each recording rule, exists in the emitters' series."""
    namespace = stack_under_test(stack).facts.app_namespace
    expressions: list[str] = []
    for rule in stack_rules(stack):
        if isinstance(rule, Alert):
            expressions += rule.signals
        else:
            expressions += [rule.expr, f'{rule.record}{{namespace="{namespace}"}}']
    failures = empty_queries(prometheus, expressions)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("stack", STACKS)
def test_every_alert_expression_runs_and_stays_silent_on_a_healthy_stack(stack: str, prometheus: Prometheus) -> None:
    """Prometheus accepts each alert's full expression, and on the healthy emitters only the Watchdog fires."""
    firing = []
    for rule in stack_rules(stack):
        if isinstance(rule, Alert) and prometheus.query(rule.expr) and rule.name != "Watchdog":
            firing.append(rule.name)
    assert firing == []


@pytest.mark.parametrize("stack", STACKS)
def test_every_dashboard_query_returns_data(stack: str, prometheus: Prometheus) -> None:
    """Each target of each panel of each of the stack's dashboards returns series."""
    expressions = [
        expr.replace("$__rate_interval", GRAFANA_RATE_INTERVAL)
        for board in stack_dashboards(stack).values()
        for expr in queries(board)
    ]
    failures = empty_queries(prometheus, expressions)
    assert not failures, "\n".join(failures)


def test_the_web_metrics_are_django_prometheus_own(prometheus: Prometheus) -> None:
    """The names the rules read come from the real django-prometheus: responses by status and view, latency
    buckets by view; the one early server error shows in the 5xx series, but not in the recent error ratio."""
    namespace = stack_under_test("production").facts.app_namespace
    views = prometheus.query(f'count by (view) ({rules.RESPONSES}{{namespace="{namespace}", status="500"}})')
    assert [series["metric"]["view"] for series in views] == ["broken"]
    buckets = prometheus.query(f'count by (view) ({rules.LATENCY_BUCKETS}{{namespace="{namespace}"}})')
    assert {series["metric"]["view"] for series in buckets} >= {"contacts", "slow", "broken", "signup"}
    ratio = prometheus.eventually(f'{rules.ratio_record("5m")}{{namespace="{namespace}"}}', RETRY_SECONDS)
    assert float(ratio[0]["value"][1]) == 0


def test_an_unknown_metric_returns_nothing_and_fails_the_check(prometheus: Prometheus) -> None:
    """The check can fail: a misspelt metric (django-prometheus' pre-2.x name) is reported."""
    failures = empty_queries(
        prometheus, ['sum(django_http_responses_total_by_status{namespace="crm-production"})'], retry=1
    )
    assert len(failures) == 1


def test_workloads_and_services_are_named_after_their_objects(prometheus: Prometheus) -> None:
    """The infrastructure dashboard's `workload` (from pod names) is each Deployment, StatefulSet or cluster."""
    from components.monitoring.dashboards import by_workload

    namespace = stack_under_test("production").facts.app_namespace
    usage = f'rate(container_cpu_usage_seconds_total{{namespace="{namespace}", container!=""}}[1m])'
    result = prometheus.eventually(f"sum by (workload) ({by_workload(usage)})", RETRY_SECONDS)
    assert {series["metric"]["workload"] for series in result} == {
        "crm-web",
        "crm-worker",
        "crm-beat",
        "crm-postgres",
        "crm-postgres-pooler-rw",
        "crm-redis-broker",
        "crm-redis-cache",
    }
