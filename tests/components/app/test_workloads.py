"""AppWorkloads: restricted pods, secrets by reference, autoscaling, PDBs, rollout on change, migrations first."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import pytest

from kube.objects import POD_SPEC_PATHS, pod_spec_of
from kube.secret_names import looks_secret
from offline.mocks import RecordedResource
from policies.config import config_path_for_stack
from policies.pod_security import check_read_only_root, check_restricted
from tests.conftest import STACKS, RunStack, StackRun

POD_BEARING = tuple(POD_SPEC_PATHS)

SERVICES = ("crm-web", "crm-worker", "crm-beat", "crm-frontend")


def app_deployments(run: StackRun) -> list[dict[str, Any]]:
    """The application's Deployments (the data layer has its own)."""
    return [d for d in run.kind("Deployment") if d["metadata"]["name"] in SERVICES]


def app_config_maps(run: StackRun) -> list[dict[str, Any]]:
    """The application's ConfigMap(s), named after their content."""
    return [c for c in run.kind("ConfigMap") if c["metadata"]["name"].startswith("crm-app-config-")]


def pod_templates(run: StackRun) -> list[tuple[str, dict[str, Any]]]:
    """(render path, pod spec) of every pod-bearing object."""
    templates = []
    for obj in run.objects:
        spec = pod_spec_of(obj.document)
        if obj.kind in POD_BEARING and spec is not None:
            templates.append((obj.path, dict(spec)))
    return templates


@pytest.mark.parametrize("stack", STACKS)
def test_every_pod_template_is_restricted_with_a_read_only_root(run_stack: RunStack, stack: str) -> None:
    """Every container of every pod template meets PSS restricted, plus read-only root, a UID of 10000 or more,
    resources and no API token unless the stack's policy config allows that account one; the pods of the app
    namespace also get a writable /tmp (the images write there, the root is read-only)."""
    run = run_stack(stack)
    templates = pod_templates(run)
    assert len(templates) >= 4
    for obj in run.objects:
        # The policy pack's own Pod Security check (the one `pulumi up` enforces), not a copy of it.
        assert check_restricted(obj.document) == [], obj.path
        assert check_read_only_root(obj.document) == [], obj.path
    token_allowed = set(
        json.loads(config_path_for_stack(stack).read_text(encoding="utf-8"))["service-account-token"]["tokenAllowed"]
    )
    app_namespace = run.recording.stack_outputs["settings"]["appNamespace"]
    for path, spec in templates:
        namespace = path.split("/", 1)[0]
        if f"{namespace}/{spec['serviceAccountName']}" not in token_allowed:
            assert spec["automountServiceAccountToken"] is False, path
        assert spec["securityContext"]["runAsUser"] >= 10000, path
        for list_name in ("initContainers", "containers", "ephemeralContainers"):
            for container in spec.get(list_name, []):
                resources = container["resources"]
                assert set(resources["requests"]) == {"cpu", "memory"} == set(resources["limits"]), path
                assert not any(port.get("hostPort") for port in container.get("ports", [])), path
                assert container["securityContext"].get("runAsUser", 10000) >= 10000, path
                if namespace == app_namespace:
                    mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
                    assert "/tmp" in mounts, path


@pytest.mark.parametrize("stack", STACKS)
def test_long_running_containers_have_liveness_readiness_and_startup_probes(run_stack: RunStack, stack: str) -> None:
    """Every Deployment's containers have all three probes; HTTP probes use the named port, never a host."""
    for document in run_stack(stack).kind("Deployment"):
        for container in document["spec"]["template"]["spec"]["containers"]:
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                assert probe in container, (document["metadata"]["name"], probe)
                http = container[probe].get("httpGet")
                if http is not None:
                    # A named port (http, or the exporter's metrics), never a number that could drift.
                    assert isinstance(http["port"], str) and "host" not in http


@pytest.mark.parametrize("stack", STACKS)
def test_each_service_has_its_own_service_account_without_a_token(run_stack: RunStack, stack: str) -> None:
    """Each Deployment runs as a ServiceAccount of its own that does not mount an API token."""
    run = run_stack(stack)
    accounts = {document["metadata"]["name"]: document for document in run.kind("ServiceAccount")}
    for document in run.kind("Deployment"):
        name = document["spec"]["template"]["spec"]["serviceAccountName"]
        assert name == document["metadata"]["name"]
        assert accounts[name]["automountServiceAccountToken"] is False


@pytest.mark.parametrize("stack", STACKS)
def test_beat_is_a_singleton_replaced_with_recreate(run_stack: RunStack, stack: str) -> None:
    """Celery beat runs exactly one pod, is never autoscaled, and the old pod stops before the new starts."""
    run = run_stack(stack)
    beat = run.named("Deployment", "crm-beat")
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    targets = {hpa["spec"]["scaleTargetRef"]["name"] for hpa in run.kind("HorizontalPodAutoscaler")}
    assert "crm-beat" not in targets
    assert "crm-beat" not in {pdb["metadata"]["name"] for pdb in run.kind("PodDisruptionBudget")}


@pytest.mark.parametrize("stack", STACKS)
def test_replicas_are_unset_exactly_where_an_autoscaler_owns_them(run_stack: RunStack, stack: str) -> None:
    """A Deployment has spec.replicas if and only if no HPA targets it."""
    run = run_stack(stack)
    targets = {hpa["spec"]["scaleTargetRef"]["name"] for hpa in run.kind("HorizontalPodAutoscaler")}
    for document in run.kind("Deployment"):
        assert ("replicas" in document["spec"]) is (document["metadata"]["name"] not in targets)


def test_production_autoscales_web_with_the_seed_numbers(run_stack: RunStack) -> None:
    """Production web: HPA 4-20, CPU 70 %, memory 80 %, scale-down stabilisation 300 s."""
    hpa = run_stack("production").named("HorizontalPodAutoscaler", "crm-web")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (4, 20)
    targets = {metric["resource"]["name"]: metric["resource"]["target"] for metric in hpa["metrics"]}
    assert targets == {
        "cpu": {"type": "Utilization", "averageUtilization": 70},
        "memory": {"type": "Utilization", "averageUtilization": 80},
    }
    assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "crm-web"}
    assert {h["metadata"]["name"] for h in run_stack("production").kind("HorizontalPodAutoscaler")} >= {
        "crm-web",
        "crm-worker",
    }


@pytest.mark.parametrize("stack", STACKS)
def test_every_multi_replica_service_has_a_disruption_budget_and_spreads(run_stack: RunStack, stack: str) -> None:
    """Services that can run two or more pods get a PDB and zone and node spread; single pods get neither."""
    run = run_stack(stack)
    minimums = {
        hpa["spec"]["scaleTargetRef"]["name"]: hpa["spec"]["minReplicas"] for hpa in run.kind("HorizontalPodAutoscaler")
    }
    budgets = {pdb["metadata"]["name"]: pdb["spec"] for pdb in run.kind("PodDisruptionBudget")}
    for document in run.kind("Deployment"):
        name = document["metadata"]["name"]
        pods = minimums.get(name, document["spec"].get("replicas", 1))
        spread = document["spec"]["template"]["spec"].get("topologySpreadConstraints", [])
        if pods > 1:
            assert budgets[name]["maxUnavailable"] == 1
            assert budgets[name]["selector"] == document["spec"]["selector"]
            assert {c["topologyKey"] for c in spread} == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
        else:
            assert name not in budgets
    strict = {
        c["whenUnsatisfiable"]
        for c in run_stack("production").named("Deployment", "crm-web")["spec"]["template"]["spec"][
            "topologySpreadConstraints"
        ]
        if c["topologyKey"] == "kubernetes.io/hostname"
    }
    assert strict == {"DoNotSchedule"}


@pytest.mark.parametrize("stack", STACKS)
def test_secrets_reach_containers_only_by_reference(run_stack: RunStack, stack: str) -> None:
    """Secret-named variables come from secretKeyRef; literal values hold no secret, only $(VAR) recipes."""
    planted = {"smtpPassword": "planted-smtp-8c1f", "registryPassword": "planted-registry-2a7d"}
    run = run_stack(stack, secrets=planted)
    for path, spec in pod_templates(run):
        for container in spec["containers"]:
            for variable in container.get("env", []):
                if looks_secret(variable["name"]):
                    assert "value" not in variable, (path, variable["name"])
                    assert "secretKeyRef" in variable["valueFrom"], (path, variable["name"])
                if "value" in variable:
                    assert all(value not in variable["value"] for value in planted.values())
                    assert "RANDOM" not in variable["value"].upper()
    config_maps = json.dumps(run.kind("ConfigMap"))
    assert all(value not in config_maps for value in planted.values())


def test_connection_urls_are_composed_from_references(run_stack: RunStack) -> None:
    """DATABASE_URL and the Redis URLs are $(VAR) recipes over variables the container defines first."""
    container = run_stack("staging").named("Deployment", "crm-worker")["spec"]["template"]["spec"]["containers"][0]
    env = [variable["name"] for variable in container["env"]]
    [config_map] = app_config_maps(run_stack("staging"))
    config = config_map["data"]
    for name in ("DATABASE_URL", "DATABASE_READ_URL", "REDIS_URL", "CELERY_BROKER_URL"):
        recipe = next(variable["value"] for variable in container["env"] if variable["name"] == name)
        for needed in re.findall(r"\$\((\w+)\)", recipe):
            # Secret variables must come earlier in env; plain ones come from the ConfigMap (envFrom).
            assert needed in config or env.index(needed) < env.index(name), (name, needed)


def test_config_map_holds_the_non_secret_settings(run_stack: RunStack) -> None:
    """The ConfigMap has the Django settings, hosts and origins, database and Redis hosts, DEBUG=false."""
    [config_map] = app_config_maps(run_stack("production"))
    data = config_map["data"]
    assert data["DEBUG"] == "false"
    assert data["DJANGO_SETTINGS_MODULE"] == "crm.settings"
    assert data["ALLOWED_HOSTS"] == "api.crm.example.com,app.crm.example.com"
    assert data["CORS_ALLOWED_ORIGINS"] == "https://app.crm.example.com"
    assert data["CSRF_TRUSTED_ORIGINS"] == "https://api.crm.example.com,https://app.crm.example.com"
    assert data["DATABASE_HOST"] == "crm-postgres-pooler-rw"
    assert data["DATABASE_READ_HOST"] == "crm-postgres-ro"
    assert {data["REDIS_CACHE_HOST"], data["REDIS_BROKER_HOST"]} == {"crm-redis-cache", "crm-redis-broker"}
    assert data["EMAIL_HOST"] == "smtp.example.com" and data["EMAIL_USE_TLS"] == "true"


def _web_annotations(run_stack: RunStack, **kwargs: Any) -> dict[str, str]:
    web = run_stack("staging", **kwargs).named("Deployment", "crm-web")
    annotations: dict[str, str] = web["spec"]["template"]["metadata"]["annotations"]
    return annotations


def _config_map_ref(run_stack: RunStack, **kwargs: Any) -> str:
    web = run_stack("staging", **kwargs).named("Deployment", "crm-web")
    name: str = web["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["configMapRef"]["name"]
    return name


def test_a_config_change_is_a_new_immutable_config_map_that_rolls_the_pods(run_stack: RunStack) -> None:
    """A changed setting gives a new, immutable ConfigMap name in the pod template (so the pods roll)."""
    before = _config_map_ref(run_stack)
    after = _config_map_ref(run_stack, config={"djangoSettingsModule": "crm.settings.staging"})
    assert before != after and before.startswith("crm-app-config-")
    [config_map] = app_config_maps(run_stack("staging"))
    assert config_map["metadata"]["name"] == before and config_map["immutable"] is True
    assert _config_map_ref(run_stack) == before
    assert (
        _web_annotations(run_stack)["crm-platform/secrets-checksum"]
        == _web_annotations(run_stack, config={"djangoSettingsModule": "crm.settings.staging"})[
            "crm-platform/secrets-checksum"
        ]
    )


def test_a_secret_change_rolls_the_pods_without_revealing_it(run_stack: RunStack) -> None:
    """A new SMTP password or a rotation changes the secrets checksum, which is not a bare hash of the secret."""
    first = _web_annotations(run_stack, secrets={"smtpPassword": "one-password"})
    second = _web_annotations(run_stack, secrets={"smtpPassword": "another-password"})
    rotated = _web_annotations(run_stack, secrets={"smtpPassword": "one-password"}, config={"secretsRotation": "1"})
    checksums = {first["crm-platform/secrets-checksum"], second["crm-platform/secrets-checksum"]}
    checksums.add(rotated["crm-platform/secrets-checksum"])
    assert len(checksums) == 3
    assert hashlib.sha256(b"one-password").hexdigest() not in first.values()


def _migration(run_stack: RunStack, stack: str, **kwargs: Any) -> tuple[RecordedResource, dict[str, Any]]:
    run = run_stack(stack, **kwargs)
    [job] = [job for job in run.kind("Job") if job["metadata"]["name"].startswith("crm-migrate-")]
    return run.resource("Job", job["metadata"]["name"]), job


@pytest.mark.parametrize("stack", STACKS)
def test_migrations_run_first_and_the_django_services_wait_for_them(run_stack: RunStack, stack: str) -> None:
    """The migration Job runs `manage.py migrate --noinput` with the web image; every Deployment depends on it."""
    run = run_stack(stack)
    job_resource, job = _migration(run_stack, stack)
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "manage.py", "migrate", "--noinput"]
    web = run.named("Deployment", "crm-web")
    assert container["image"] == web["spec"]["template"]["spec"]["containers"][0]["image"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] <= 1 and job["spec"]["activeDeadlineSeconds"] > 0
    for document in app_deployments(run):
        name = document["metadata"]["name"]
        assert job_resource.urn in run.resource("Deployment", name).dependencies, name


def test_a_new_image_tag_gets_a_new_migration_job(run_stack: RunStack) -> None:
    """The Job's name (and Pulumi name) follow the image, so each release runs migrations once."""
    first, first_job = _migration(run_stack, "staging")
    second, second_job = _migration(run_stack, "staging", config={"appImage": "ghcr.io/acme/crm-backend:2.4.2"})
    assert first_job["metadata"]["name"] != second_job["metadata"]["name"]
    assert first.name != second.name
    again, _ = _migration(run_stack, "staging")
    assert again.name == first.name


def test_production_backs_up_before_migrating(run_stack: RunStack) -> None:
    """In production the migration Job waits for a pre-migration backup Job of the same image; elsewhere none."""
    run = run_stack("production")
    job_resource, _ = _migration(run_stack, "production")
    [backup] = [job for job in run.kind("Job") if job["metadata"]["name"].startswith("crm-pre-migration-backup-")]
    assert run.resource("Job", backup["metadata"]["name"]).urn in job_resource.dependencies
    assert backup["metadata"]["name"].rsplit("-", 1)[1] == job_resource.name.rsplit("-", 1)[1]
    staging_jobs = [job["metadata"]["name"] for job in run_stack("staging").kind("Job")]
    assert not any(name.startswith("crm-pre-migration-backup-") for name in staging_jobs)


def test_the_pre_migration_hook_orders_the_job(run_stack: RunStack) -> None:
    """The migration Job depends on the app ConfigMap, the point where later layers hook in (backup, database)."""
    run = run_stack("production")
    job_resource, _ = _migration(run_stack, "production")
    [config_map] = app_config_maps(run)
    assert run.resource("ConfigMap", config_map["metadata"]["name"]).urn in job_resource.dependencies


def test_services_listen_where_their_containers_do(run_stack: RunStack) -> None:
    """web and frontend have ClusterIP Services selecting their pods on the named port; worker and beat have none."""
    run = run_stack("production")
    services = {d["metadata"]["name"]: d for d in run.kind("Service") if d["metadata"]["name"] in SERVICES}
    assert set(services) == {"crm-web", "crm-frontend"}
    for name, service in services.items():
        deployment = run.named("Deployment", name)
        assert service["spec"]["type"] == "ClusterIP"
        assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
        port = deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]
        assert service["spec"]["ports"][0]["port"] == port["containerPort"]


def test_no_service_of_the_stack_is_exposed_outside_the_cluster(run_stack: RunStack) -> None:
    """No rendered Service is a LoadBalancer or NodePort: only the ingress controller (chart) is."""
    for stack in STACKS:
        for service in run_stack(stack).kind("Service"):
            assert service["spec"].get("type", "ClusterIP") == "ClusterIP"


def test_the_frontend_is_optional(run_stack: RunStack) -> None:
    """Without a frontend image there is no frontend Deployment, Service, Ingress or host."""
    run = run_stack("staging", config={"frontendImage": ""})
    names = {obj.name for obj in run.objects}
    assert "crm-frontend" not in names
    assert "app.staging.crm.example.com" not in json.dumps(run.kind("Ingress"))


def test_service_overrides_reach_the_deployment(run_stack: RunStack) -> None:
    """services.<role> overrides change that Deployment only: command, resources, env, writable paths."""
    overrides = {
        "worker": {
            "args": ["worker", "--queues=emails"],
            "resources": {"cpuLimit": "2"},
            "env": {"CELERY_QUEUE": "emails"},
            "writablePaths": ["/app/exports"],
        }
    }
    run = run_stack("dev", config={"services": json.dumps(overrides)})
    worker = run.named("Deployment", "crm-worker")["spec"]["template"]["spec"]
    container = worker["containers"][0]
    assert container["args"] == ["worker", "--queues=emails"]
    assert container["resources"]["limits"]["cpu"] == "2"
    assert {"name": "CELERY_QUEUE", "value": "emails"} in container["env"]
    assert {"name": "writable-app-exports", "mountPath": "/app/exports"} in container["volumeMounts"]
    web = run.named("Deployment", "crm-web")["spec"]["template"]["spec"]["containers"][0]
    assert "CELERY_QUEUE" not in json.dumps(web["env"])


def test_images_are_pinned_and_pulled_with_the_registry_secret(run_stack: RunStack) -> None:
    """Every container image has a tag that is not latest; the app's pods use the registry pull secret when set."""
    for path, spec in pod_templates(run_stack("production")):
        if spec.get("serviceAccountName") in SERVICES:
            assert spec["imagePullSecrets"] == [{"name": "crm-registry"}], path
        for container in spec["containers"]:
            tag = container["image"].rsplit(":", 1)[-1]
            assert ":" in container["image"] and tag != "latest", path
    for _path, spec in pod_templates(run_stack("dev")):
        assert "imagePullSecrets" not in spec


def test_a_new_web_port_moves_the_bind_address_service_and_policy(run_stack: RunStack) -> None:
    """services.web.port changes gunicorn's bind, the container port, the Service and the ingress policy together."""
    run = run_stack("staging", config={"services": json.dumps({"web": {"port": 8080}})})
    container = run.named("Deployment", "crm-web")["spec"]["template"]["spec"]["containers"][0]
    assert "--bind=0.0.0.0:8080" in container["args"]
    assert container["ports"][0]["containerPort"] == 8080
    assert run.named("Service", "crm-web")["spec"]["ports"][0]["port"] == 8080
    policy = run.named("NetworkPolicy", "allow-ingress-controller-to-crm-web")["spec"]
    assert policy["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 8080}]


def test_the_frontend_holds_no_platform_secret_and_is_no_backend_pod(run_stack: RunStack) -> None:
    """The frontend reads no platform secret (no SECRET_KEY, database or Redis password, nothing composed from
    them) and is labelled apart from the backend pods, so the network policies that open the database and Redis
    to the application do not open them to it."""
    run = run_stack("production")
    frontend = run.named("Deployment", "crm-frontend")["spec"]["template"]
    [container] = frontend["spec"]["containers"]
    secret_refs = [variable for variable in container.get("env", []) if "valueFrom" in variable]
    assert secret_refs == []
    assert not {variable["name"] for variable in container.get("env", [])} & {
        "DATABASE_URL",
        "REDIS_URL",
        "CELERY_BROKER_URL",
    }
    assert frontend["metadata"]["labels"]["crm-platform/network-role"] == "frontend"
    web = run.named("Deployment", "crm-web")["spec"]["template"]
    assert web["metadata"]["labels"]["crm-platform/network-role"] == "app"
