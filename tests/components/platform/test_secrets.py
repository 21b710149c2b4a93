"""Secrets: generated values keyed on rotation, config secrets, typed Kubernetes Secrets, secret end to end."""

from __future__ import annotations

import base64
import json

import pytest

from components.platform.secrets import docker_config_json
from offline.mocks import RANDOM_PASSWORD, is_secret, unwrap_secrets
from tests.conftest import STACKS, RunStack

PLANTED = {"smtpPassword": "planted-smtp-5b1e", "registryPassword": "planted-registry-9d2c"}

EXPECTED_TYPES = {
    ("crm-staging", "crm-django"): "Opaque",
    ("crm-staging", "crm-database-owner"): "kubernetes.io/basic-auth",
    ("crm-staging", "crm-redis-cache"): "Opaque",
    ("crm-staging", "crm-redis-broker"): "Opaque",
    ("crm-staging", "crm-smtp"): "kubernetes.io/basic-auth",
    ("crm-staging", "crm-registry"): "kubernetes.io/dockerconfigjson",
    # Where Grafana runs (the cluster's monitoring namespace), with the keys its chart reads.
    ("monitoring", "grafana-admin"): "Opaque",
    # The Alertmanager configuration, receiver credentials and all (prometheus-operator reads it whole).
    ("monitoring", "alertmanager-crm-config"): "Opaque",
}


def secret_values(run_stack: RunStack, stack: str, **kwargs: object) -> dict[str, dict[str, str]]:
    """Unmasked stringData of every Secret, by name, straight from what the engine received."""
    run = run_stack(stack, **kwargs)
    return {obj.name: unwrap_secrets(obj.resource.inputs["stringData"]) for obj in run.objects if obj.kind == "Secret"}


def test_each_kubernetes_secret_has_the_type_its_consumer_expects(run_stack: RunStack) -> None:
    """Secrets are Opaque, basic-auth or dockerconfigjson according to what reads them."""
    secrets = run_stack("staging").kind("Secret")
    assert {(s["metadata"]["namespace"], s["metadata"]["name"]): s["type"] for s in secrets} == EXPECTED_TYPES


def test_django_secret_key_is_at_least_fifty_characters(run_stack: RunStack) -> None:
    """Django's SECRET_KEY is generated with at least 50 characters, including punctuation."""
    passwords = {resource.name: resource.inputs for resource in run_stack("staging").of_type(RANDOM_PASSWORD)}
    assert passwords["secrets-django-secret-key"]["length"] >= 50
    assert passwords["secrets-django-secret-key"]["special"] is True
    assert len(secret_values(run_stack, "staging")["crm-django"]["secret-key"]) >= 50


def test_generated_values_cover_database_redis_and_grafana(run_stack: RunStack) -> None:
    """One RandomPassword each for the SECRET_KEY, the database, both Redis roles and Grafana."""
    names = {resource.name for resource in run_stack("staging").of_type(RANDOM_PASSWORD)}
    assert names == {
        "secrets-django-secret-key",
        "secrets-database-password",
        "secrets-redis-cache-password",
        "secrets-redis-broker-password",
        "secrets-grafana-admin-password",
    }


def test_passwords_that_go_into_urls_have_no_punctuation(run_stack: RunStack) -> None:
    """Passwords that end up in connection URLs are alphanumeric, so they need no escaping."""
    for resource in run_stack("staging").of_type(RANDOM_PASSWORD):
        if resource.name != "secrets-django-secret-key":
            assert resource.inputs["special"] is False, resource.name


def test_every_generated_value_is_keyed_on_the_rotation_setting(run_stack: RunStack) -> None:
    """Every RandomPassword keeps the rotation setting, so changing it replaces them all."""
    rotated = run_stack("staging", config={"secretsRotation": "3"})
    assert all(resource.inputs["keepers"] == {"rotation": "3"} for resource in rotated.of_type(RANDOM_PASSWORD))


def test_raising_the_rotation_changes_every_generated_value_and_no_configured_one(run_stack: RunStack) -> None:
    """A new rotation changes each generated Secret's content and leaves config secrets alone."""
    before = secret_values(run_stack, "staging", secrets=PLANTED)
    after = secret_values(run_stack, "staging", config={"secretsRotation": "1"}, secrets=PLANTED)
    for name in ("crm-django", "crm-database-owner", "crm-redis-cache", "crm-redis-broker", "grafana-admin"):
        assert before[name] != after[name], name
    assert before["crm-smtp"] == after["crm-smtp"]
    assert before["crm-registry"] == after["crm-registry"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_secret_reaches_kubernetes_as_a_pulumi_secret(run_stack: RunStack, stack: str) -> None:
    """The engine receives each Secret's data wrapped as secret, so state and diffs hide it."""
    for obj in run_stack(stack).objects:
        if obj.kind == "Secret":
            assert is_secret(obj.resource.inputs["stringData"]), obj.path
            assert "data" not in obj.resource.inputs, obj.path


def test_config_secrets_land_in_their_secrets(run_stack: RunStack) -> None:
    """SMTP and registry credentials from config reach their Secrets intact."""
    values = secret_values(run_stack, "staging", secrets=PLANTED)
    assert values["crm-smtp"] == {"username": "crm-staging", "password": PLANTED["smtpPassword"]}
    config = json.loads(values["crm-registry"][".dockerconfigjson"])
    entry = config["auths"]["ghcr.io"]
    assert entry["username"] == "crm-deploy"
    assert entry["password"] == PLANTED["registryPassword"]
    assert base64.b64decode(entry["auth"]).decode() == f"crm-deploy:{PLANTED['registryPassword']}"


def test_database_owner_secret_names_the_owner_role(run_stack: RunStack) -> None:
    """The database owner Secret carries the role name CloudNativePG bootstraps."""
    assert secret_values(run_stack, "staging")["crm-database-owner"]["username"] == "crm"


def test_without_smtp_or_registry_there_is_no_secret_for_them(run_stack: RunStack) -> None:
    """A stack without SMTP or a registry gets neither Secret nor pull secret."""
    run = run_stack("dev")
    names = {document["metadata"]["name"] for document in run.kind("Secret")}
    assert "crm-smtp" not in names and "crm-registry" not in names
    assert run.recording.stack_outputs["imagePullSecret"] is None


def test_grafana_admin_password_is_exported_only_as_a_secret(run_stack: RunStack) -> None:
    """Generated values leave the stack only as secret outputs."""
    outputs = run_stack("staging").recording.stack_outputs
    assert is_secret(outputs["grafanaAdminPassword"])
    plain = {key: value for key, value in outputs.items() if not is_secret(value)}
    for value in run_stack("staging").recording.generated_values:
        assert value not in json.dumps(plain)


def test_docker_config_json_is_what_kubelet_reads() -> None:
    """The pull secret document has kubelet's auths/username/password/auth shape."""
    document = json.loads(docker_config_json("registry.example.com:5000", "ci", "tok"))
    assert document == {
        "auths": {
            "registry.example.com:5000": {
                "username": "ci",
                "password": "tok",
                "auth": base64.b64encode(b"ci:tok").decode(),
            }
        }
    }
