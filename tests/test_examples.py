"""The examples under examples/, one stack file per seed application (../shared/seeds): each renders, every object
it renders is valid for the API server, the policy pack passes at the stack's levels and Checkov accepts the render;
and each shows, in what it renders, what its seed document asks for.

Every example is run once per session (tests/conftest.py `run_example`, secrets as placeholders) and reused here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from offline import checkov as crosscheck
from offline.check import BUILD_DIR, recording_subjects
from offline.mocks import unwrap_secrets
from offline.render import write_render
from offline.schemas import KUBERNETES_VERSION, CustomResourceSchemas, core_errors, is_core
from offline.stack_config import StackConfigError, placeholder
from policies.config import config_path_for_stack, load_policy_config
from policies.findings import counts, evaluate
from policies.runner import text_report
from stacks.errors import SettingsError
from stacks.schema import PROJECT
from tests.conftest import EXAMPLES, EXAMPLES_DIR, RunExample, StackRun, example_stack

APPLICATIONS = ("oneo-crm", "synergyos", "crm-backend", "markethub", "kirana")
"""The seed applications in the order of their documents: 000 Oneo CRM, 001 SynergyOS, 002 CRM Backend, 003 MarketHub,
004 Kirana."""


def example_id(path: Path) -> str:
    return f"{path.parent.name}/{example_stack(path)}"


def example(application: str, stack: str) -> Path:
    return EXAMPLES_DIR / application / f"Pulumi.{stack}.yaml"


every_example = pytest.mark.parametrize("path", EXAMPLES, ids=[example_id(path) for path in EXAMPLES])


@pytest.fixture(scope="module")
def custom_resources() -> CustomResourceSchemas:
    return CustomResourceSchemas.load()


def test_every_seed_application_has_a_production_example() -> None:
    """examples/ holds a production stack file for each of the five seed applications, and no application the seeds
    do not name (the parametrized tests below would silently run fewer examples otherwise)."""
    assert {path.parent.name for path in EXAMPLES} == set(APPLICATIONS)
    assert all(example(application, "production") in EXAMPLES for application in APPLICATIONS)


# --- every example ------------------------------------------------------------------------------------------------


@every_example
def test_the_example_renders(path: Path, run_example: RunExample) -> None:
    """The program accepts the example's settings (every key is one of stacks/schema.py's) and declares objects."""
    try:
        run = run_example(path)
    except (SettingsError, StackConfigError) as error:
        pytest.fail(f"{example_id(path)} does not render: {error}")
    assert run.kind("Deployment")


@every_example
def test_every_object_of_the_example_is_valid(
    path: Path, run_example: RunExample, custom_resources: CustomResourceSchemas
) -> None:
    """Core objects against Kubernetes 1.34's schema, custom resources against their CRD in ../shared/crds, strictly."""
    problems = {}
    for obj in run_example(path).objects:
        errors = core_errors(obj.document) if is_core(obj.document) else custom_resources.errors(obj.document)
        if errors:
            problems[obj.path] = errors
    assert problems == {}, f"invalid for Kubernetes {KUBERNETES_VERSION}"


@every_example
def test_the_example_passes_the_policy_pack(path: Path, run_example: RunExample) -> None:
    """The pack at the stack's levels (policies/config/<stack>.json), as `python -m offline check --stack-file`
    runs it: no violation, mandatory or advisory."""
    stack = example_stack(path)
    subjects = recording_subjects(run_example(path).recording, BUILD_DIR / "examples" / path.parent.name)
    findings = evaluate(subjects, load_policy_config(config_path_for_stack(stack)))
    assert counts(findings) == (0, 0), text_report(findings)


@every_example
def test_checkov_accepts_the_example(
    path: Path,
    run_example: RunExample,
    checkov: Path,
    tmp_path: Path,
) -> None:
    """Checkov over the example's render fails no check that policies/checkov-skips.yaml does not accept."""
    write_render(run_example(path).recording, tmp_path / "render")
    report, _ = crosscheck.run_checkov(checkov, tmp_path / "render" / "manifests", tmp_path / "checkov")
    comparison = crosscheck.compare(report.failures, crosscheck.load_skips())
    assert report.passed > 0
    assert not comparison.not_accepted, "\n".join(failure.describe() for failure in comparison.not_accepted)


_SECRET_COMMAND = re.compile(
    r"pulumi config set --secret (?:--path '(?P<path>[^']+)'|(?P<key>[A-Za-z]+)) '[^']*' --stack (?P<stack>\S+)"
)


def _secure_paths(config: dict[str, Any]) -> set[str]:
    """Where the stack file holds a secure value: a key's short name, or `appSecrets.NAME` inside a secret object."""
    paths = set()
    for key, value in config.items():
        short = key.removeprefix(f"{PROJECT}:")
        if isinstance(value, dict) and set(value) == {"secure"}:
            paths.add(short)
        elif isinstance(value, dict):
            paths.update(
                f"{short}.{name}" for name, item in value.items() if isinstance(item, dict) and "secure" in item
            )
    return paths


@every_example
def test_the_header_says_how_to_set_every_secret_of_the_example(path: Path) -> None:
    """The comment block opening the file gives one `pulumi config set --secret` command, for this stack, per
    secure value the file holds (and none for a secret it does not), and the offline command for this file."""
    text = path.read_text(encoding="utf-8")
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    assert text.startswith("# "), "the file starts with its comment block"
    commands = list(_SECRET_COMMAND.finditer(header))
    assert {match["stack"] for match in commands} <= {example_stack(path)}
    documented = {match["path"] or match["key"] for match in commands}
    assert documented == _secure_paths(yaml.safe_load(text)["config"])
    assert f"--stack-file examples/{path.parent.name}/{path.name}" in header


# --- what each seed document asks for -------------------------------------------------------------------------------


def _container(workload: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    containers = workload["spec"]["template"]["spec"]["containers"]
    return next(container for container in containers if name is None or container["name"] == name)


def _secret_refs(container: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Variable -> (Secret, key) of every secretKeyRef in a container's env."""
    return {
        variable["name"]: (variable["valueFrom"]["secretKeyRef"]["name"], variable["valueFrom"]["secretKeyRef"]["key"])
        for variable in container.get("env", [])
        if "secretKeyRef" in variable.get("valueFrom", {})
    }


def _env_values(container: dict[str, Any]) -> dict[str, str]:
    return {variable["name"]: variable["value"] for variable in container.get("env", []) if "value" in variable}


def _readers_of(run: StackRun, variable: str) -> set[str]:
    """The Deployments whose containers read an application secret (from crm-app-secrets)."""
    return {
        deployment["metadata"]["name"]
        for deployment in run.kind("Deployment")
        for container in deployment["spec"]["template"]["spec"]["containers"]
        if _secret_refs(container).get(variable) == ("crm-app-secrets", variable)
    }


def _weights(run: StackRun) -> dict[str, int]:
    services = run.named("TraefikService", "crm-web-weighted")["spec"]["weighted"]["services"]
    return {service["name"]: service["weight"] for service in services}


def _probe_paths(container: dict[str, Any]) -> tuple[str, str]:
    return container["livenessProbe"]["httpGet"]["path"], container["readinessProbe"]["httpGet"]["path"]


def _alert_expressions(run: StackRun) -> dict[str, str]:
    rules = run.named("PrometheusRule", "crm-alerts")["spec"]["groups"]
    return {rule["alert"]: rule["expr"] for group in rules for rule in group["rules"] if "alert" in rule}


def _alertmanager_config(run: StackRun) -> dict[str, Any]:
    """Alertmanager's configuration as the program declares it (a Secret: masked in the render, read here from the
    recording), with the receivers' credentials as the stack's placeholders."""
    inputs = unwrap_secrets(run.resource("Secret", "alertmanager-crm-config").inputs)
    config: dict[str, Any] = yaml.safe_load(inputs["stringData"]["alertmanager.yaml"])
    return config


def test_oneo_crm_serves_channels_over_asgi_with_its_websocket_route(run_example: RunExample) -> None:
    """Oneo CRM (000): web runs `oneo.asgi:application` under gunicorn's uvicorn workers with the Channels layer's
    Redis, three fixed replicas with the seed's probes and sizes; /ws/ on api.oneo-crm.com skips the buffering
    body limit; DJANGO_SETTINGS_MODULE is the seed's."""
    run = run_example(example("oneo-crm", "production"))
    web = run.named("Deployment", "crm-web")
    container = _container(web, "web")
    assert container["command"] == ["gunicorn"]
    assert container["args"][0] == "oneo.asgi:application"
    assert "--worker-class=uvicorn_worker.UvicornWorker" in container["args"]
    assert "CHANNELS_REDIS_URL" in _env_values(container)
    assert web["spec"]["replicas"] == 3
    assert "crm-web" not in {hpa["metadata"]["name"] for hpa in run.kind("HorizontalPodAutoscaler")}
    assert _probe_paths(container) == ("/health/", "/ready/")
    assert container["resources"] == {
        "requests": {"cpu": "250m", "memory": "512Mi"},
        "limits": {"cpu": "500m", "memory": "1Gi"},
    }
    routes = run.named("IngressRoute", "crm-api")["spec"]["routes"]
    websocket = next(route for route in routes if route["match"] == "Host(`api.oneo-crm.com`) && PathPrefix(`/ws/`)")
    assert "crm-request-body-limit" not in {middleware["name"] for middleware in websocket["middlewares"]}
    config_maps = [cm for cm in run.kind("ConfigMap") if cm["metadata"]["name"].startswith("crm-app-config-")]
    assert [cm["data"]["DJANGO_SETTINGS_MODULE"] for cm in config_maps] == ["oneo.settings.production"]


def test_oneo_crm_openai_key_reaches_web_and_worker_only(run_example: RunExample) -> None:
    """OPENAI_API_KEY is read by reference from crm-app-secrets by web and worker, not by beat."""
    run = run_example(example("oneo-crm", "production"))
    assert _readers_of(run, "OPENAI_API_KEY") == {"crm-web", "crm-worker"}
    assert "OPENAI_API_KEY" not in _secret_refs(_container(run.named("Deployment", "crm-beat")))


def test_oneo_crm_serves_its_tenants_on_subdomains_under_one_wildcard(run_example: RunExample) -> None:
    """Oneo CRM's tenants (django-tenants): every one-label subdomain of tenants.oneo-crm.com and the domain itself
    route to web, with the /ws/ route, under one certificate from the DNS-01 issuer this add-on owner makes; Django
    admits the hosts; cert-manager's Route53 role is scoped to the example's zone."""
    run = run_example(example("oneo-crm", "production"))
    certificate = run.named("Certificate", "crm-tenants")["spec"]
    assert certificate["dnsNames"] == ["*.tenants.oneo-crm.com", "tenants.oneo-crm.com"]
    assert certificate["issuerRef"]["name"] == "letsencrypt-production-dns01"
    issuer = run.named("ClusterIssuer", "letsencrypt-production-dns01")["spec"]["acme"]
    [solver] = issuer["solvers"]
    assert solver["dns01"]["route53"]["hostedZoneID"] == "Z0EXAMPLE1ONEOCRM"
    assert solver["selector"]["dnsZones"] == ["tenants.oneo-crm.com"]
    paths = {route["match"].rsplit("PathPrefix(`", 1)[-1].rstrip("`)") for route in _tenant_routes(run)}
    assert "/ws/" in paths
    config_maps = [cm for cm in run.kind("ConfigMap") if cm["metadata"]["name"].startswith("crm-app-config-")]
    [data] = [cm["data"] for cm in config_maps]
    assert ".tenants.oneo-crm.com" in data["ALLOWED_HOSTS"].split(",")


def _tenant_routes(run: Any) -> list[dict[str, Any]]:
    routes: list[dict[str, Any]] = run.named("IngressRoute", "crm-tenants")["spec"]["routes"]
    return routes


def test_synergyos_shares_its_uploads_between_web_and_worker(run_example: RunExample) -> None:
    """SynergyOS (001), production: the media bucket's role is trusted by web's and worker's ServiceAccounts alone,
    and those two pods (not beat, not the frontend) get its web identity; dev: one PersistentVolumeClaim mounted at
    /app/media in web and worker (media_volume)."""
    production = run_example(example("synergyos", "production"))
    media_role = next(role for role in production.of_type("aws:iam/role:Role") if role.name == "media-role")
    trust = json.loads(media_role.inputs["assumeRolePolicy"])
    subjects = {
        subject
        for statement in trust["Statement"]
        for condition, value in statement["Condition"]["StringEquals"].items()
        if condition.endswith(":sub")
        for subject in value
    }
    assert subjects == {
        "system:serviceaccount:crm-production:crm-web",
        "system:serviceaccount:crm-production:crm-worker",
    }
    with_identity = {
        deployment["metadata"]["name"]
        for deployment in production.kind("Deployment")
        if "AWS_ROLE_ARN" in _env_values(_container(deployment))
    }
    assert with_identity == {"crm-web", "crm-worker"}

    dev = run_example(example("synergyos", "dev"))
    claim = dev.named("PersistentVolumeClaim", "crm-media")
    assert claim["spec"]["resources"]["requests"]["storage"] == "5Gi"
    mounting = {}
    for deployment in dev.kind("Deployment"):
        volumes = {
            volume["name"]: volume["persistentVolumeClaim"]["claimName"]
            for volume in deployment["spec"]["template"]["spec"].get("volumes", [])
            if "persistentVolumeClaim" in volume
        }
        for mount in _container(deployment).get("volumeMounts", []):
            if volumes.get(mount["name"]) == "crm-media":
                mounting[deployment["metadata"]["name"]] = mount["mountPath"]
    assert mounting == {"crm-web": "/app/media", "crm-worker": "/app/media"}


def test_synergyos_runs_its_compose_services_with_gemini_key(run_example: RunExample) -> None:
    """SynergyOS (001): gunicorn with 4 workers on SynergyOS.wsgi, a Celery worker at concurrency 8, the React
    frontend on 3000 without application secrets; GEMINI_API_KEY read by web and worker (beat reads only Sentry's
    DSN); /api/health/ as web's probes; CELERY_RESULT_BACKEND expanded from the broker URL by Kubernetes."""
    run = run_example(example("synergyos", "production"))
    web = _container(run.named("Deployment", "crm-web"))
    assert web["args"][:3] == ["SynergyOS.wsgi:application", "--bind=0.0.0.0:8000", "--workers=4"]
    assert _probe_paths(web) == ("/api/health/", "/api/health/")
    assert _env_values(web)["CELERY_RESULT_BACKEND"] == "$(CELERY_BROKER_URL)"
    worker = _container(run.named("Deployment", "crm-worker"))
    assert worker["command"] == ["celery", "-A", "SynergyOS"]
    assert "--concurrency=8" in worker["args"]
    frontend = _container(run.named("Deployment", "crm-frontend"))
    assert [port["containerPort"] for port in frontend["ports"]] == [3000]
    assert _readers_of(run, "GEMINI_API_KEY") == {"crm-web", "crm-worker"}
    assert _readers_of(run, "SENTRY_DSN") == {"crm-web", "crm-worker", "crm-beat"}


def test_crm_backend_canary_takes_five_percent(run_example: RunExample) -> None:
    """CRM Backend (002), production: the TraefikService sends 95 % to the released web and 5 % to the candidate,
    which runs the candidate image after its own migration Job; workers stay on the released image; web scales
    4-20 at CPU 70 % and memory 80 % with 300 s scale-down stabilisation."""
    run = run_example(example("crm-backend", "production"))
    assert _weights(run) == {"crm-web": 95, "crm-web-candidate": 5}
    assert _container(run.named("Deployment", "crm-web-candidate"))["image"] == "ghcr.io/owner/crm:1.1.0"
    assert _container(run.named("Deployment", "crm-web"))["image"] == "ghcr.io/owner/crm:1.0.0"
    assert _container(run.named("Deployment", "crm-worker"))["image"] == "ghcr.io/owner/crm:1.0.0"
    assert {
        _container(job)["image"] for job in run.kind("Job") if job["metadata"]["name"].startswith("crm-migrate-")
    } == {
        "ghcr.io/owner/crm:1.0.0",
        "ghcr.io/owner/crm:1.1.0",
    }
    hpa = run.named("HorizontalPodAutoscaler", "crm-web")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (4, 20)
    targets = {
        metric["resource"]["name"]: metric["resource"]["target"]["averageUtilization"] for metric in hpa["metrics"]
    }
    assert targets == {"cpu": 70, "memory": 80}
    assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300


def test_crm_backend_business_counters_and_escalation(run_example: RunExample) -> None:
    """CRM Backend (002): its business counters are on the business dashboard; criticals page PagerDuty, mail the IT
    team and reach the chat, each receiver with the credential the stack file names."""
    run = run_example(example("crm-backend", "production"))
    dashboard = run.named("ConfigMap", "crm-dashboard-crm-production-business")
    (document,) = dashboard["data"].values()
    expressions = [target["expr"] for panel in json.loads(document)["panels"] for target in panel.get("targets", [])]
    for counter in ("user_registrations_total", "deal_conversions_total"):
        assert any(counter in expression for expression in expressions), counter
    receivers = {receiver["name"]: receiver for receiver in _alertmanager_config(run)["receivers"]}
    page = receivers["page"]
    assert page["pagerduty_configs"][0]["routing_key"] == placeholder(f"{PROJECT}:alertPagerRoutingKey")
    assert [mail["to"] for mail in page["email_configs"]] == ["it-team@example.com"]
    assert receivers["chat"]["slack_configs"][0]["api_url"] == placeholder(f"{PROJECT}:alertChatWebhookUrl")


def test_crm_backend_staging_runs_green_beside_blue_without_traffic(run_example: RunExample) -> None:
    """CRM Backend (002), staging: blue-green before the switch: the candidate runs (its own Deployment, autoscaler
    and budget), and the TraefikService names only the released web."""
    run = run_example(example("crm-backend", "staging"))
    assert _weights(run) == {"crm-web": 100}
    assert _container(run.named("Deployment", "crm-web-candidate"))["image"] == "ghcr.io/owner/crm:1.1.0"
    run.named("HorizontalPodAutoscaler", "crm-web-candidate")
    run.named("PodDisruptionBudget", "crm-web-candidate")


def test_markethub_gates_each_release_on_the_deployment_checks(run_example: RunExample) -> None:
    """MarketHub (003): the migration Job first runs `manage.py check --deploy --fail-level WARNING` in an init
    container of the same image, then migrates; it waits for the pre-migration backup of its image."""
    run = run_example(example("markethub", "production"))
    (job,) = [job for job in run.kind("Job") if job["metadata"]["name"].startswith("crm-migrate-")]
    pod = job["spec"]["template"]["spec"]
    (check,) = pod["initContainers"]
    assert check["command"] == ["python", "manage.py", "check", "--deploy", "--fail-level", "WARNING"]
    assert check["image"] == _container(job)["image"] == "ghcr.io/markethub/markethub:1.0.0"
    assert _container(job)["command"] == ["python", "manage.py", "migrate", "--noinput"]
    backup = next(obj.resource for obj in run.objects if obj.kind == "Job" and obj.name.startswith("crm-pre-migration"))
    assert backup.urn in run.resource("Job", job["metadata"]["name"]).dependencies
    assert "crm-beat" not in {deployment["metadata"]["name"] for deployment in run.kind("Deployment")}


def test_markethub_alerts_at_its_thresholds(run_example: RunExample) -> None:
    """MarketHub (003): memory at 85 % of the limit, 5xx above 1 %, p95 above 2 s, disk at 90 %, database connections
    at 80 %; SENTRY_DSN reaches web and the worker."""
    run = run_example(example("markethub", "production"))
    expressions = _alert_expressions(run)
    assert expressions["ContainerMemoryNearLimit"].count("> 0.85") == 1
    assert expressions["WebHighErrorRatio"].endswith("> 0.01")
    assert expressions["WebHighLatency"].endswith("> 2")
    assert "> 0.9," in expressions["PersistentVolumeFillingUp"]
    assert expressions["PostgresConnectionsHigh"].endswith("> 0.8")
    assert _readers_of(run, "SENTRY_DSN") == {"crm-web", "crm-worker"}


def test_kirana_runs_flask_on_an_external_mongodb(run_example: RunExample) -> None:
    """Kirana (004): no PostgreSQL and nothing in AWS; web (Flask under gunicorn) and the migration Job read
    DATABASE_URL from crm-app-secrets; the Job runs `python migrate_database.py` without deployment checks; app
    pods may reach 27017 on the database's network; no Celery worker or beat."""
    run = run_example(example("kirana", "production"))
    kinds = {obj.kind for obj in run.objects}
    assert not kinds & {"Cluster", "Pooler", "ScheduledBackup", "ObjectStore"}
    assert not [resource for resource in run.recording.resources if resource.type.startswith("aws:")]
    web = _container(run.named("Deployment", "crm-web"))
    assert web["args"][0] == "app:app"
    assert _secret_refs(web)["DATABASE_URL"] == ("crm-app-secrets", "DATABASE_URL")
    (job,) = [job for job in run.kind("Job") if job["metadata"]["name"].startswith("crm-migrate-")]
    assert _container(job)["command"] == ["python", "migrate_database.py"]
    assert _secret_refs(_container(job))["DATABASE_URL"] == ("crm-app-secrets", "DATABASE_URL")
    assert "initContainers" not in job["spec"]["template"]["spec"]
    egress = run.named("NetworkPolicy", "allow-app-to-external-networks")["spec"]["egress"]
    assert [
        (sorted(port["port"] for port in rule["ports"]), sorted(peer["ipBlock"]["cidr"] for peer in rule["to"]))
        for rule in egress
    ] == [([443, 587, 27017], ["198.51.100.0/24", "203.0.113.0/24"])]
    assert {deployment["metadata"]["name"] for deployment in run.kind("Deployment")} >= {"crm-web", "crm-frontend"}
    assert not {"crm-worker", "crm-beat"} & {deployment["metadata"]["name"] for deployment in run.kind("Deployment")}
    assert _readers_of(run, "RAZORPAY_KEY_SECRET") == {"crm-web"}


def test_kirana_alert_routing_reaches_each_team(run_example: RunExample) -> None:
    """Kirana (004): warnings go to the default chat, criticals page PagerDuty and mail, the database team's alerts
    go to its own chat, each receiver with the credential the stack file names."""
    config = _alertmanager_config(run_example(example("kirana", "production")))
    receivers = {receiver["name"]: receiver for receiver in config["receivers"]}
    assert config["route"]["receiver"] == "chat"
    assert receivers["chat"]["slack_configs"][0]["api_url"] == placeholder(f"{PROJECT}:alertChatWebhookUrl")
    assert receivers["page"]["pagerduty_configs"][0]["routing_key"] == placeholder(f"{PROJECT}:alertPagerRoutingKey")
    assert [mail["to"] for mail in receivers["page"]["email_configs"]] == ["deployment@kirana.example.com"]
    database_url = receivers["database"]["slack_configs"][0]["api_url"]
    assert database_url == placeholder(f"{PROJECT}:alertDatabaseChatWebhookUrl")
    assert {route["receiver"] for route in config["route"]["routes"]} >= {"page", "database"}
