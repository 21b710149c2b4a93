"""Every environment decision is a profile field, consistent with the others, and reaches the settings.

No mocks: the profiles are plain data and `build()` is pure. Each test states a relation a
profile must keep (what production protects, what a laptop can do, what needs S3), not the
value a field happens to have.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from offline.program import PROJECT_DIR
from offline.stack_config import load_stack_config
from stacks import Environment, build
from stacks.model import Settings
from stacks.profiles import DEV, PRODUCTION, PROFILES, REVIEW, STAGING, Profile

PROTECTIONS = ("strict_node_spread", "object_lock", "pre_migration_backup", "protect_namespaces")
"""Profile switches that trade cost or convenience for safety: production must have every one."""

DESCRIBED: dict[str, Callable[[Settings], object]] = {
    "addonReplicas": lambda settings: settings.cluster.addon_replicas,
    "ingressLoadBalancer": lambda settings: settings.cluster.ingress_load_balancer,
    "strictNodeSpread": lambda settings: settings.strict_node_spread,
    "walArchiving": lambda settings: bool(settings.data.postgres and settings.data.postgres.wal_archiving),
    "objectLock": lambda settings: settings.data.backups.object_lock,
    "preMigrationBackup": lambda settings: settings.data.backups.pre_migration_backup,
    "clusterAddons": lambda settings: settings.cluster.owns_addons,
    "protectNamespaces": lambda settings: settings.namespaces.protect,
    "deployChecks": lambda settings: (settings.app.migration and settings.app.migration.deploy_check_level) or "off",
}
"""The stack output `settings` (and the render summary) shows every environment decision under one name."""


def stack_settings(stack: str) -> Settings:
    config = load_stack_config(PROJECT_DIR, stack)
    return build(stack, config.values, config.secret_keys)


@pytest.mark.parametrize("field", PROTECTIONS)
def test_production_has_every_protection(field: str) -> None:
    """Production turns on every switch that protects data or availability."""
    value = getattr(PRODUCTION, field)
    assert value is True


@pytest.mark.parametrize("profile", [DEV, STAGING, REVIEW], ids=lambda profile: profile.environment.value)
def test_no_environment_protects_more_than_production(profile: Profile) -> None:
    """Whatever another environment protects, production protects too."""
    for field in PROTECTIONS:
        assert getattr(profile, field) <= getattr(PRODUCTION, field), field
    assert profile.postgres.wal_archiving <= PRODUCTION.postgres.wal_archiving
    assert profile.addon_replicas <= PRODUCTION.addon_replicas


@pytest.mark.parametrize("profile", PROFILES.values(), ids=lambda profile: profile.environment.value)
def test_what_needs_a_bucket_comes_only_with_one(profile: Profile) -> None:
    """WAL archiving and Object Lock live in the stack's S3 bucket: a profile without one has neither."""
    if not profile.backups_to_s3:
        assert not profile.postgres.wal_archiving
        assert not profile.object_lock


@pytest.mark.parametrize("profile", PROFILES.values(), ids=lambda profile: profile.environment.value)
def test_a_strict_spread_has_nodes_to_spread_over(profile: Profile) -> None:
    """A hard one-pod-per-node rule is only asked where PostgreSQL runs on at least three instances."""
    if profile.strict_node_spread:
        assert profile.postgres.instances >= 3


def test_a_laptop_cluster_gets_what_it_can_run() -> None:
    """Dev has no load-balancer controller and usually one node: ClusterIP ingress, single add-on replicas; every
    shared environment has a load balancer and add-ons that survive a node drain."""
    assert DEV.ingress_load_balancer is False
    assert DEV.addon_replicas == 1
    for profile in (STAGING, PRODUCTION):
        assert profile.ingress_load_balancer is True
        assert profile.addon_replicas >= 2


def test_review_stacks_own_nothing_shared() -> None:
    """A review stack installs no add-ons and keeps no bucket: it is destroyed with its pull request."""
    assert REVIEW.owns_cluster_addons is False
    assert REVIEW.backups_to_s3 is False
    assert dataclasses.replace(REVIEW, environment=Environment.STAGING) != STAGING


@pytest.mark.parametrize("stack", ["dev", "staging", "production", "pr-7"])
def test_every_decision_reaches_the_settings_and_their_description(stack: str) -> None:
    """Each stack's settings carry its profile's decisions, and describe() shows each under one name."""
    settings = stack_settings(stack)
    profile = PROFILES[settings.environment]
    described = settings.describe()
    assert settings.strict_node_spread is profile.strict_node_spread
    assert settings.cluster.addon_replicas == profile.addon_replicas
    assert settings.cluster.ingress_load_balancer is profile.ingress_load_balancer
    assert settings.data.postgres is not None
    assert settings.data.postgres.wal_archiving is profile.postgres.wal_archiving
    assert settings.app.migration is not None
    assert settings.app.migration.deploy_check_level == profile.deploy_check_level
    assert settings.data.backups.object_lock is profile.object_lock
    assert settings.data.backups.pre_migration_backup is profile.pre_migration_backup
    for name, read in DESCRIBED.items():
        assert described[name] == read(settings), name


def test_the_aws_account_is_the_oidc_providers() -> None:
    """The AWS provider may touch only the account of the cluster's OIDC provider, read from its ARN."""
    settings = stack_settings("production")
    assert settings.data.aws is not None
    arn = settings.data.aws.oidc_provider_arn
    assert settings.data.aws.account_id == arn.split("::", 1)[1].split(":", 1)[0]
    assert settings.data.aws.account_id.isdigit() and len(settings.data.aws.account_id) == 12


def test_the_smoke_targets_are_the_readiness_path_and_the_frontend() -> None:
    """A deploy's smoke test GETs the API's readiness path (whatever the stack sets) over HTTPS, and the
    frontend's root where one runs."""
    config = load_stack_config(PROJECT_DIR, "production")
    settings = build("production", config.values, config.secret_keys)
    assert settings.smoke_targets == [f"https://{settings.edge.api_host}/ready/", f"https://{settings.edge.app_host}/"]
    values = {
        **config.values,
        "crm-platform:services": '{"web": {"readinessPath": "/healthz/ready"}}',
        "crm-platform:frontendImage": "",
    }
    changed = build("production", values, config.secret_keys)
    assert changed.smoke_targets == [f"https://{changed.edge.api_host}/healthz/ready"]
    tenants = {**values, "crm-platform:tenantDomain": "tenants.example.com", "crm-platform:dnsHostedZoneId": "Z0123"}
    assert build("production", tenants, config.secret_keys).smoke_targets == [
        f"https://{changed.edge.api_host}/healthz/ready",
        "https://tenants.example.com/healthz/ready",
    ]
