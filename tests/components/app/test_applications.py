"""What the seed applications get from AppWorkloads: their own secrets by reference, an ASGI web that drains,
a Channels layer on the broker, deployment checks before migrations, their own migration command or none, and
a stack without PostgreSQL."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from components.app.app_config import AppConfigInputs, config_map_data
from components.platform.secrets import APPLICATION_SECRET
from components.shared.checksums import SECRETS_CHECKSUM
from stacks.model import SmtpSettings
from stacks.services import PLATFORM_ENV
from tests.conftest import PLANTED_APP_SECRETS, RunFeature, RunStack, StackRun

WITH_POSTGRES = {key: value for key, value in PLANTED_APP_SECRETS.items() if not key.endswith(".DATABASE_URL")}
APP_SERVICES = ("crm-web", "crm-worker", "crm-beat", "crm-frontend")


def container(run: StackRun, deployment: str) -> dict[str, Any]:
    found: dict[str, Any] = run.named("Deployment", deployment)["spec"]["template"]["spec"]["containers"][0]
    return found


def env_of(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {variable["name"]: variable for variable in spec.get("env", [])}


def migration_jobs(run: StackRun) -> list[dict[str, Any]]:
    return [job for job in run.kind("Job") if job["metadata"]["name"].startswith("crm-migrate-")]


def checksum(run: StackRun, deployment: str) -> str:
    value: str = run.named("Deployment", deployment)["spec"]["template"]["metadata"]["annotations"][SECRETS_CHECKSUM]
    return value


# Application secrets ----------------------------------------------------------------------------------


def test_app_secrets_are_one_secret_read_by_reference(run_stack: RunStack) -> None:
    """appSecrets become one Opaque Secret keyed by variable name, values masked; web, worker and beat read each
    by secretKeyRef into the variable of its name, the frontend none."""
    run = run_stack("staging", secrets=WITH_POSTGRES)
    secret = run.named("Secret", APPLICATION_SECRET)
    names = ["OPENAI_API_KEY", "RAZORPAY_KEY_SECRET", "SENTRY_DSN"]
    assert secret["type"] == "Opaque"
    assert secret["stringData"] == {name: "[secret]" for name in names}
    for deployment in ("crm-web", "crm-worker", "crm-beat"):
        env = env_of(container(run, deployment))
        for name in names:
            assert env[name] == {"name": name, "valueFrom": {"secretKeyRef": {"name": APPLICATION_SECRET, "key": name}}}
    assert not set(names) & set(env_of(container(run, "crm-frontend")))


def test_a_service_reads_only_the_app_secrets_it_lists(run_stack: RunStack) -> None:
    """services.<role>.secrets narrows (or, for the frontend, grants) the application secrets a service reads."""
    overrides = {"worker": {"secrets": ["OPENAI_API_KEY"]}, "frontend": {"secrets": ["SENTRY_DSN"]}}
    run = run_stack("staging", config={"services": json.dumps(overrides)}, secrets=WITH_POSTGRES)
    app_secret_refs = {
        deployment: sorted(
            name
            for name, variable in env_of(container(run, deployment)).items()
            if variable.get("valueFrom", {}).get("secretKeyRef", {}).get("name") == APPLICATION_SECRET
        )
        for deployment in APP_SERVICES
    }
    assert app_secret_refs == {
        "crm-web": ["OPENAI_API_KEY", "RAZORPAY_KEY_SECRET", "SENTRY_DSN"],
        "crm-worker": ["OPENAI_API_KEY"],
        "crm-beat": ["OPENAI_API_KEY", "RAZORPAY_KEY_SECRET", "SENTRY_DSN"],
        "crm-frontend": ["SENTRY_DSN"],
    }


def test_an_app_secret_change_rolls_exactly_the_pods_that_read_it(run_stack: RunStack) -> None:
    """A new value of one application secret changes the (keyed) checksum of the services that read it, and of no
    other; the checksum is not a bare hash of the value."""
    overrides = json.dumps({"worker": {"secrets": ["SENTRY_DSN"]}})
    before = run_stack("staging", config={"services": overrides}, secrets=WITH_POSTGRES)
    changed = {**WITH_POSTGRES, "appSecrets.OPENAI_API_KEY": "sk-rotated-0e9d8c7b"}
    after = run_stack("staging", config={"services": overrides}, secrets=changed)
    rolled = {name for name in APP_SERVICES if checksum(before, name) != checksum(after, name)}
    assert rolled == {"crm-web", "crm-beat"}
    assert all(WITH_POSTGRES["appSecrets.OPENAI_API_KEY"] not in checksum(before, name) for name in APP_SERVICES)


def test_the_platform_variables_are_exactly_the_ones_it_sets(run_feature: RunFeature, run_stack: RunStack) -> None:
    """stacks.services.PLATFORM_ENV (what a service's env and appSecrets may not shadow) is exactly the set of
    variables the platform puts in application containers: the ConfigMap's, the secret references and the
    composed URLs of a stack with everything on (SMTP, a frontend, Channels, PostgreSQL, migrations, uploads in
    S3), and of dev (uploads on a volume)."""
    set_by_platform: set[str] = set()
    for run in (run_feature("staging-asgi-canary"), run_stack("dev")):
        [config_map] = [c for c in run.kind("ConfigMap") if c["metadata"]["name"].startswith("crm-app-config-")]
        set_by_platform |= set(config_map["data"])
        for document in [*run.kind("Deployment"), *run.kind("Job")]:
            name = document["metadata"]["name"]
            if name in APP_SERVICES or name.startswith("crm-migrate-"):
                spec = document["spec"]["template"]["spec"]
                for each in [*spec["containers"], *spec.get("initContainers", [])]:
                    set_by_platform |= {
                        variable_name
                        for variable_name, variable in env_of(each).items()
                        if variable.get("valueFrom", {}).get("secretKeyRef", {}).get("name") != APPLICATION_SECRET
                    }
    assert set_by_platform == PLATFORM_ENV


def test_an_undeclared_platform_variable_is_refused() -> None:
    """The code that sets the platform's variables refuses one missing from PLATFORM_ENV (no silent drift)."""
    inputs = AppConfigInputs("crm.settings", "api.example.com", None, SmtpSettings("smtp.example.com", 587, "crm"))
    assert set(config_map_data(inputs)) <= PLATFORM_ENV
    from components.app import app_config

    with pytest.raises(ValueError, match="EMAIL_BACKEND"):
        app_config.checked(["EMAIL_HOST", "EMAIL_BACKEND"])


# ASGI and the Channels layer ------------------------------------------------------------------------


def test_asgi_web_serves_channels_and_drains_before_it_stops(run_feature: RunFeature) -> None:
    """The ASGI web runs gunicorn with uvicorn workers on <project>.asgi:application; a preStop sleep lets Traefik
    drop the endpoint first, and the grace period covers the drain plus gunicorn's graceful timeout."""
    run = run_feature("staging-asgi-canary")
    web = container(run, "crm-web")
    assert web["command"] == ["gunicorn"]
    assert web["args"][0] == "oneo.asgi:application"
    assert "--worker-class=uvicorn_worker.UvicornWorker" in web["args"]
    drain = web["lifecycle"]["preStop"]["sleep"]["seconds"]
    [graceful] = [int(arg.split("=")[1]) for arg in web["args"] if arg.startswith("--graceful-timeout=")]
    grace = run.named("Deployment", "crm-web")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert drain == 10 and drain + graceful < grace == 60


def test_the_channel_layer_is_on_the_never_evicting_broker_apart_from_celery(run_feature: RunFeature) -> None:
    """CHANNELS_REDIS_URL is composed from the broker's host and password reference (database 1, Celery's is 0),
    in every Django container; the broker evicts nothing, the cache (LRU) is not used."""
    run = run_feature("staging-asgi-canary")
    for deployment in ("crm-web", "crm-worker", "crm-beat", "crm-web-candidate"):
        env = env_of(container(run, deployment))
        channels = env["CHANNELS_REDIS_URL"]["value"]
        assert channels == "redis://:$(REDIS_BROKER_PASSWORD)@$(REDIS_BROKER_HOST):$(REDIS_PORT)/1"
        assert env["CELERY_BROKER_URL"]["value"].endswith("/0")
        assert env["REDIS_BROKER_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "crm-redis-broker"
        names = list(env)
        assert names.index("REDIS_BROKER_PASSWORD") < names.index("CHANNELS_REDIS_URL")
    [broker] = [c for c in run.kind("ConfigMap") if c["metadata"]["name"].startswith("crm-redis-broker-")]
    assert "maxmemory-policy noeviction" in json.dumps(broker["data"])
    assert "CHANNELS_REDIS_URL" not in env_of(container(run_feature("dev-without-migrations"), "crm-web"))


def test_wsgi_web_drains_too(run_stack: RunStack) -> None:
    """The default WSGI web also sleeps in preStop before gunicorn's graceful shutdown."""
    web = container(run_stack("production"), "crm-web")
    assert web["lifecycle"] == {"preStop": {"sleep": {"seconds": 10}}}
    assert web["args"][0] == "crm.wsgi:application" and "--graceful-timeout=15" in web["args"]
    assert "lifecycle" not in container(run_stack("production"), "crm-worker")


# Deployment checks and migrations -----------------------------------------------------------------


@pytest.mark.parametrize(("stack", "level"), [("dev", None), ("staging", "WARNING"), ("production", "WARNING")])
def test_deployment_checks_run_before_the_migrations(run_stack: RunStack, stack: str, level: str | None) -> None:
    """In staging and production the migration Job first runs `manage.py check --deploy` in an init container
    (same image, environment and mounts): a failing check fails the Job before any migration, and every
    Deployment waits for the Job. Dev runs no check."""
    [job] = migration_jobs(run_stack(stack))
    spec = job["spec"]["template"]["spec"]
    if level is None:
        assert "initContainers" not in spec
        return
    [check] = spec["initContainers"]
    [migrate] = spec["containers"]
    assert check["command"] == ["python", "manage.py", "check", "--deploy", "--fail-level", level]
    assert migrate["command"] == ["python", "manage.py", "migrate", "--noinput"]
    for field in ("image", "env", "envFrom", "volumeMounts", "securityContext", "resources"):
        assert check[field] == migrate[field], field


def test_deployment_checks_follow_the_stack(run_stack: RunStack, run_feature: RunFeature) -> None:
    """deployChecks: ERROR checks at that level; off removes the check."""
    jobs = migration_jobs(run_feature("production-blue-green"))
    assert len(jobs) == 2  # the released image's and the candidate's
    assert {job["spec"]["template"]["spec"]["initContainers"][0]["command"][-1] for job in jobs} == {"ERROR"}
    [job] = migration_jobs(run_stack("staging", config={"deployChecks": "off"}))
    assert "initContainers" not in job["spec"]["template"]["spec"]


def test_an_application_of_its_own_migrates_its_own_way_or_not_at_all(
    run_stack: RunStack, run_feature: RunFeature
) -> None:
    """migrationCommand replaces Django's migrate; "none" declares no Job, and no Deployment waits for one."""
    [job] = migration_jobs(run_feature("staging-without-postgres"))
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["python", "migrate_database.py"]
    run = run_feature("dev-without-migrations")
    assert migration_jobs(run) == []
    for name in ("crm-web", "crm-worker", "crm-beat"):
        dependencies = run.resource("Deployment", name).dependencies
        assert not any(":batch/v1:Job::" in urn for urn in dependencies), name
    assert "migrationJob" not in run.recording.stack_outputs
    production = run_stack("production", config={"migrationCommand": "none"})
    assert migration_jobs(production) == []
    assert not [job for job in production.kind("Job") if job["metadata"]["name"].startswith("crm-pre-migration")]


# Without PostgreSQL -------------------------------------------------------------------------------


def test_a_stack_without_postgres_has_no_database_and_takes_its_url_as_a_secret(
    run_feature: RunFeature, run_stack: RunStack
) -> None:
    """postgres: "false" leaves out the Cluster, Pooler, backups, the database owner's Secret, every DATABASE_*
    variable and database flow; the application's DATABASE_URL comes from appSecrets, the database's port opens
    towards egressCidrs. The add-on owner still installs the operator for the cluster's other stacks."""
    run = run_feature("staging-without-postgres")
    kinds = {obj.kind for obj in run.objects}
    assert not kinds & {"Cluster", "Pooler", "CronJob", "ScheduledBackup", "ObjectStore"}
    names = {obj.name for obj in run.objects}
    assert "crm-database-owner" not in names
    assert not any(name.startswith(("allow-app-to-postgres", "allow-postgres", "allow-backup")) for name in names)
    [config_map] = [c for c in run.kind("ConfigMap") if c["metadata"]["name"].startswith("crm-app-config-")]
    assert not any(key.startswith("DATABASE_") for key in config_map["data"])
    worker = env_of(container(run, "crm-worker"))
    assert worker["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": APPLICATION_SECRET, "key": "DATABASE_URL"}
    assert "DATABASE_URL" not in env_of(container(run, "crm-frontend"))
    assert not any(re.match(r"DATABASE_(PASSWORD|HOST|READ_URL)", name) for name in env_of(container(run, "crm-web")))
    external = run.named("NetworkPolicy", "allow-app-to-external-networks")["spec"]["egress"][0]["ports"]
    assert {"protocol": "TCP", "port": 27017} in external
    # Nothing to back up: no backup bucket, key or role (the uploads' bucket is the media component's).
    assert not [resource for resource in run.recording.resources if resource.type == "crm:data:BackupStorage"]
    charts = {resource.inputs["name"] for resource in run.of_type("kubernetes:helm.sh/v4:Chart")}
    assert "cloudnative-pg" in charts
    assert "cloudnative-pg" not in {
        resource.inputs["name"]
        for resource in run_stack("pr-7", config={"postgres": "false"}).of_type("kubernetes:helm.sh/v4:Chart")
    }
