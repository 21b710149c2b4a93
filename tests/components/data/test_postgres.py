"""Postgres: CloudNativePG operator for the add-on owner; per stack a cluster, a pooler, and readiness first."""

from __future__ import annotations

from typing import Any

import pytest

from components.data.postgres import BARMAN_PLUGIN_CHART, OPERATOR_CHART, barman_plugin_values, operator_values
from components.shared import endpoints
from offline.schemas import HELM_VALUES_SCHEMAS_DIR, helm_values_errors
from tests.conftest import STACKS, RunStack
from tests.support.charts import security_context_problems

CHART = "kubernetes:helm.sh/v4:Chart"


@pytest.mark.parametrize(
    ("stack", "instances", "anti_affinity"),
    [("dev", 1, "preferred"), ("staging", 2, "preferred"), ("production", 3, "required"), ("pr-7", 1, "preferred")],
)
def test_instances_and_anti_affinity_follow_the_environment(
    run_stack: RunStack, stack: str, instances: int, anti_affinity: str
) -> None:
    """dev 1, staging 2, production 3 instances; production never puts two on one node."""
    spec = run_stack(stack).named("Cluster", endpoints.POSTGRES_CLUSTER)["spec"]
    assert spec["instances"] == instances
    assert spec["affinity"] == {
        "enablePodAntiAffinity": True,
        "podAntiAffinityType": anti_affinity,
        "topologyKey": "kubernetes.io/hostname",
    }


def test_the_cluster_bootstraps_the_app_database_from_the_owner_secret(run_stack: RunStack) -> None:
    """initdb creates database crm owned by crm with the Secrets component's basic-auth Secret; no superuser."""
    spec = run_stack("staging").named("Cluster", endpoints.POSTGRES_CLUSTER)["spec"]
    assert spec["bootstrap"]["initdb"] == {
        "database": "crm",
        "owner": "crm",
        "secret": {"name": "crm-database-owner"},
        "dataChecksums": True,
    }
    assert spec["enableSuperuserAccess"] is False
    # Managed role: a rotated Secret changes the password in PostgreSQL too.
    assert spec["managed"]["roles"] == [
        {"name": "crm", "ensure": "present", "login": True, "passwordSecret": {"name": "crm-database-owner"}}
    ]
    assert "crm-database-owner" in {secret["metadata"]["name"] for secret in run_stack("staging").kind("Secret")}


def test_the_image_is_postgresql_16_pinned_by_digest(run_stack: RunStack) -> None:
    """The PostgreSQL major is 16, the image pinned by tag and digest."""
    image = run_stack("production").named("Cluster", endpoints.POSTGRES_CLUSTER)["spec"]["imageName"]
    assert image.startswith("ghcr.io/cloudnative-pg/postgresql:16.")
    assert "@sha256:" in image


def test_resources_storage_and_parameters_come_from_the_settings(run_stack: RunStack) -> None:
    """Guaranteed resources, data and WAL volumes, and memory-derived parameters with the 30 s timeout."""
    spec = run_stack("production").named("Cluster", endpoints.POSTGRES_CLUSTER)["spec"]
    assert spec["resources"]["requests"] == spec["resources"]["limits"] == {"cpu": "2", "memory": "8Gi"}
    assert spec["storage"] == {"size": "100Gi"} and spec["walStorage"] == {"size": "20Gi"}
    parameters = spec["postgresql"]["parameters"]
    assert parameters["shared_buffers"] == "2048MB" and parameters["max_connections"] == "200"
    assert parameters["statement_timeout"] == "30s"
    assert parameters["log_min_duration_statement"] == "1000ms"
    custom = run_stack("staging", config={"postgresMemory": "3Gi", "storageClass": "fast-ssd"})
    custom_spec = custom.named("Cluster", endpoints.POSTGRES_CLUSTER)["spec"]
    assert custom_spec["postgresql"]["parameters"]["shared_buffers"] == "768MB"
    assert custom_spec["storage"]["storageClass"] == custom_spec["walStorage"]["storageClass"] == "fast-ssd"


@pytest.mark.parametrize("stack", STACKS)
def test_the_pooler_is_the_apps_read_write_host_and_carries_the_network_role(run_stack: RunStack, stack: str) -> None:
    """The Pooler's name is the app's DATABASE_HOST; pooler and instance pods carry the postgres network role."""
    run = run_stack(stack)
    pooler = run.named("Pooler", endpoints.DATABASE_HOST)["spec"]
    assert pooler["cluster"] == {"name": endpoints.POSTGRES_CLUSTER} and pooler["type"] == "rw"
    assert pooler["pgbouncer"]["poolMode"] == "transaction"
    assert pooler["template"]["metadata"]["labels"][endpoints.NETWORK_ROLE] == endpoints.POSTGRES_ROLE
    cluster = run.named("Cluster", endpoints.POSTGRES_CLUSTER)["spec"]
    assert cluster["inheritedMetadata"]["labels"][endpoints.NETWORK_ROLE] == endpoints.POSTGRES_ROLE
    [config_map] = [c for c in run.kind("ConfigMap") if c["metadata"]["name"].startswith("crm-app-config-")]
    assert config_map["data"]["DATABASE_HOST"] == endpoints.DATABASE_HOST


def test_pool_sizes_share_the_servers_connections(run_stack: RunStack) -> None:
    """The poolers together never open more server connections than max_connections leaves them."""
    spec = run_stack("production").named("Cluster", endpoints.POSTGRES_CLUSTER)["spec"]
    pooler = run_stack("production").named("Pooler", endpoints.DATABASE_HOST)["spec"]
    total = int(pooler["pgbouncer"]["parameters"]["default_pool_size"]) * pooler["instances"]
    assert total <= int(spec["postgresql"]["parameters"]["max_connections"]) - 20


def test_migrations_wait_for_a_ready_database(run_stack: RunStack) -> None:
    """The Cluster is awaited until Ready, and the migration Job depends on it and the pooler."""
    run = run_stack("staging")
    cluster = run.named("Cluster", endpoints.POSTGRES_CLUSTER)
    assert cluster["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Ready"
    [job] = [job for job in run.kind("Job") if job["metadata"]["name"].startswith("crm-migrate-")]
    dependencies = run.resource("Job", job["metadata"]["name"]).dependencies
    assert run.resource("Cluster", endpoints.POSTGRES_CLUSTER).urn in dependencies
    assert run.resource("Pooler", endpoints.DATABASE_HOST).urn in dependencies
    env = job["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "DATABASE_HOST", "value": endpoints.DATABASE_DIRECT_HOST} in env


@pytest.mark.parametrize("stack", STACKS)
def test_only_the_addon_owner_installs_the_operator_and_plugin(run_stack: RunStack, stack: str) -> None:
    """The operator and plugin charts, at exactly the versions whose values schemas the values are validated
    against, in cnpg-system, for the add-on owner only."""
    charts = {r.inputs["name"]: r.inputs for r in run_stack(stack).of_type(CHART)}
    owner = not stack.startswith("pr-")
    assert ({"cloudnative-pg", "plugin-barman-cloud"} <= set(charts)) is owner
    if owner:
        for source in (OPERATOR_CHART, BARMAN_PLUGIN_CHART):
            assert charts[source.name]["version"] == source.version
            assert (HELM_VALUES_SCHEMAS_DIR / f"{source.name}-{source.version}.values.schema.json").is_file()
        assert charts["cloudnative-pg"]["namespace"] == charts["plugin-barman-cloud"]["namespace"] == "cnpg-system"


@pytest.mark.parametrize("replicas", [1, 2])
def test_chart_values_validate_against_the_published_schemas(replicas: int) -> None:
    """The operator's and the plugin's values pass their charts' values.schema.json."""
    assert helm_values_errors(OPERATOR_CHART.name, OPERATOR_CHART.version, operator_values(replicas)) == []
    assert helm_values_errors(BARMAN_PLUGIN_CHART.name, BARMAN_PLUGIN_CHART.version, barman_plugin_values()) == []
    assert helm_values_errors(OPERATOR_CHART.name, OPERATOR_CHART.version, {"replicaCount": "two"})


@pytest.mark.parametrize("values", [operator_values(2), barman_plugin_values()], ids=["operator", "barman-plugin"])
def test_operator_and_plugin_pods_are_restricted(values: dict[str, Any]) -> None:
    """The operator's and the plugin's pods meet the restricted profile with a read-only root, judged by the policy
    pack's own checks."""
    keys = {"podSecurityContext": "pod", "containerSecurityContext": "container"}
    problems, checked = security_context_problems(values, keys)
    assert checked == 2
    # The CloudNativePG charts' schemas refuse runAsUser at pod level; the operator's container sets it.
    assert [problem for problem in problems if "numeric runAsUser" not in problem] == []


def test_two_operator_replicas_get_a_disruption_budget(run_stack: RunStack) -> None:
    """The chart has no PDB: the platform adds one, so a drain never evicts both operators; one replica needs none."""
    budgets = [
        budget
        for budget in run_stack("production").kind("PodDisruptionBudget")
        if budget["metadata"]["namespace"] == "cnpg-system"
    ]
    assert [budget["spec"] for budget in budgets] == [
        {
            "maxUnavailable": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/name": "cloudnative-pg"}},
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        }
    ]
    assert not [
        budget
        for budget in run_stack("dev").kind("PodDisruptionBudget")
        if budget["metadata"]["namespace"] == "cnpg-system"
    ]
