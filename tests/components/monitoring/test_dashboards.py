"""The dashboards as Grafana's own schema reads them (../shared/grafana-schemas).

`dashboard.jsonschema.json` validates each dashboard model; each panel type's schema its
`options` and `fieldConfig.defaults.custom`; `prometheus.jsonschema.json` every query target.
That every query returns data is test_queries.py's (a real Prometheus).
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from functools import cache
from typing import Any

import jsonschema
import pytest

from components.monitoring.dashboards import dashboards
from stacks.monitoring import BusinessMetric
from tests.components.monitoring.support import SHARED, STACKS, stack_under_test

SCHEMAS = SHARED / "grafana-schemas"


def stack_dashboards(stack: str) -> dict[str, dict[str, Any]]:
    under_test = stack_under_test(stack)
    facts = under_test.facts
    return dashboards(
        under_test.monitoring,
        stack=facts.stack,
        app_namespace=facts.app_namespace,
        autoscaling=facts.autoscaling,
        wal_archiving=facts.wal_archiving,
        postgres_instances=facts.postgres_instances,
        high_availability_redis=facts.high_availability_redis,
        celery_worker=facts.celery_worker,
        celery_beat=facts.celery_beat,
    )


@cache
def schema(name: str) -> dict[str, Any]:
    path = SCHEMAS / f"{name}.jsonschema.json"
    if not path.is_file():
        pytest.fail(f"{path} is missing: the Grafana schemas come with the shared reference data")
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def definition(name: str, definition_name: str) -> dict[str, Any] | None:
    document = schema(name)
    if definition_name not in document["definitions"]:
        return None
    return {
        "$schema": document["$schema"],
        "definitions": document["definitions"],
        "$ref": f"#/definitions/{definition_name}",
    }


def violations(board: dict[str, Any]) -> list[str]:
    """Every way the dashboard breaks Grafana's schemas, as `where: message`."""
    found = [
        f"dashboard: {error.message}" for error in jsonschema.Draft7Validator(schema("dashboard")).iter_errors(board)
    ]
    for panel in board.get("panels", []):
        kind = panel["type"]
        if kind == "row":
            continue
        if not (SCHEMAS / f"{kind}.jsonschema.json").is_file():
            found.append(f"panel {panel.get('title')}: no schema for panel type {kind}")
            continue
        parts = (
            ("Options", panel.get("options")),
            ("FieldConfig", panel.get("fieldConfig", {}).get("defaults", {}).get("custom")),
        )
        for definition_name, instance in parts:
            part_schema = definition(kind, definition_name)
            if part_schema is not None and instance is not None:
                for error in jsonschema.Draft7Validator(part_schema).iter_errors(instance):
                    found.append(f"panel {panel['title']} {definition_name}: {error.message}")
        for target in panel.get("targets", []):
            for error in jsonschema.Draft7Validator(schema("prometheus")).iter_errors(target):
                found.append(f"panel {panel['title']} target {target.get('refId')}: {error.message}")
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_every_dashboard_and_panel_is_valid_against_grafanas_schemas(stack: str) -> None:
    """Dashboards, each panel's options and field config, and every Prometheus query target."""
    for name, board in stack_dashboards(stack).items():
        assert violations(board) == [], name


def test_the_schema_check_rejects_a_broken_dashboard() -> None:
    """A legend mode Grafana does not know, a query without expr and a dashboard without annotations are found."""
    board = json.loads(json.dumps(stack_dashboards("production")["crm-production-application.json"]))
    graph_panel = next(panel for panel in board["panels"] if panel["type"] == "timeseries")
    graph_panel["options"]["legend"]["displayMode"] = "sideways"
    del graph_panel["targets"][0]["expr"]
    del board["annotations"]
    found = violations(board)
    assert any("sideways" in message for message in found)
    assert any("'expr' is a required property" in message for message in found)
    assert any("'annotations' is a required property" in message for message in found)


def test_uids_are_stable_per_stack_and_titles_name_the_stack() -> None:
    """Each stack's dashboards have their own uids (Grafana keys dashboards by uid), within Grafana's 40 characters."""
    uids: list[str] = []
    for stack in STACKS:
        boards = stack_dashboards(stack)
        assert boards == stack_dashboards(stack)
        for name, board in boards.items():
            assert name == f"{board['uid']}.json"
            assert board["title"].startswith(f"{stack} / ")
            assert len(board["uid"]) <= 40
            ids = [panel["id"] for panel in board["panels"]]
            assert len(ids) == len(set(ids)), name
            uids.append(board["uid"])
    assert len(uids) == len(set(uids))


def queries(board: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in board["panels"] for target in panel.get("targets", [])]


@pytest.mark.parametrize("stack", STACKS)
def test_every_query_reads_only_the_stacks_namespace(stack: str) -> None:
    """Each series selector of each panel names the stack's app namespace."""
    namespace = stack_under_test(stack).facts.app_namespace
    for board in stack_dashboards(stack).values():
        for expr in queries(board):
            selectors = re.findall(r"\{[^{}]*=[^{}]*\}", expr)
            assert selectors, expr
            for found in selectors:
                assert f'namespace="{namespace}"' in found, (board["uid"], found)


def test_business_dashboard_plots_each_configured_counter() -> None:
    """One 24-hour total and one rate panel per counter the settings name, in order; none without counters."""
    boards = stack_dashboards("production")
    business = boards["crm-production-business.json"]
    titles = [panel["title"] for panel in business["panels"] if panel["type"] != "row"]
    assert titles == [
        "User registrations",
        "Deal conversions",
        "User registrations per hour",
        "Deal conversions per hour",
    ]
    assert any("user_registrations_total" in expr for expr in queries(business))

    under_test = stack_under_test("production")
    facts = under_test.facts
    without = replace(under_test.monitoring, business_metrics=())
    names = dashboards(
        without,
        stack="production",
        app_namespace=facts.app_namespace,
        autoscaling=True,
        wal_archiving=True,
        postgres_instances=3,
        high_availability_redis=True,
        celery_worker=True,
        celery_beat=True,
    )
    assert "crm-production-business.json" not in names


def test_a_counter_that_is_no_metric_name_is_refused() -> None:
    under_test = stack_under_test("production")
    bad = replace(under_test.monitoring, business_metrics=(BusinessMetric("Signups", "signups-total"),))
    with pytest.raises(ValueError, match="'signups-total' is not a Prometheus metric name"):
        dashboards(
            bad,
            stack="production",
            app_namespace="crm-production",
            autoscaling=True,
            wal_archiving=True,
            postgres_instances=3,
            high_availability_redis=True,
            celery_worker=True,
            celery_beat=True,
        )
