"""Services settings: the `services` config object resolves to sized services, or fails with one clear message.

Covers stacks/services.py and the parts of stacks/settings.py built on it (the app and edge
settings, the quota check and `peak_usage`), always through the public `stacks.build`.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kube.secret_names import looks_secret
from stacks import Settings, SettingsError, build
from stacks.capacity import peak_usage
from stacks.errors import Problem
from stacks.schema import PROJECT
from stacks.services import Autoscaling, Probe, Role, Scale, ServiceSettings
from tests.stacks.test_settings import PLANTED_SECRET, SECRETS, VALID_STAGING, full

APP_IMAGE = "ghcr.io/acme/crm-backend:2.4.1"
"""VALID_STAGING's appImage."""
FRONTEND_IMAGE = "ghcr.io/acme/crm-frontend:1.8.0"
ENV_SECRET = "planted-env-secret-8d2b61f0"
"""A value under a secret-looking env name: it must never appear in a message."""

PRODUCTION_CHANGES = {"kubeContext": "production", "domain": "crm.example.com"}
LARGE_QUOTA = {
    "quotaPods": "10000",
    "quotaCpuRequests": "1000",
    "quotaCpuLimits": "1000",
    "quotaMemoryRequests": "1Ti",
    "quotaMemoryLimits": "1Ti",
}
"""Room for any web size up to the replica maximum, so only the replicas are under test."""

PROPERTY_SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def services(overrides: object) -> dict[str, str]:
    """The `services` config value as the Pulumi CLI passes an object: JSON text."""
    return {"services": json.dumps(overrides)}


def build_with(stack: str, changes: dict[str, str] | None = None) -> Settings:
    """Build VALID_STAGING with short-named keys changed; production also gets its context and domain."""
    base = PRODUCTION_CHANGES if stack == "production" else {}
    return build(stack, {**VALID_STAGING, **full({**base, **(changes or {})})}, SECRETS)


def build_error(stack: str, changes: dict[str, str]) -> SettingsError:
    """Build with the changes; it must fail with SettingsError, which is returned."""
    with pytest.raises(SettingsError) as raised:
        build_with(stack, changes)
    return raised.value


def problem_at(error: SettingsError, key_path: str) -> Problem:
    """The one problem reported for exactly this key path (below `crm-platform:`)."""
    matches = [problem for problem in error.problems if problem.key == f"{PROJECT}:{key_path}"]
    assert len(matches) == 1, f"expected one problem at {key_path}, got: {error}"
    return matches[0]


def service(resolved: Settings, role: Role) -> ServiceSettings:
    found = resolved.app.service(role)
    assert found is not None, f"{role.value} does not run"
    return found


# (id, stack, changed config keys, key path the message must name, words the problem must contain)
INVALID: list[tuple[str, str, dict[str, str], str, str]] = [
    (
        "beat-two-replicas",
        "staging",
        services({"beat": {"replicas": 2}}),
        "services.beat.replicas",
        "beat is a singleton",
    ),
    (
        "web-replicas-where-the-autoscaler-owns-them",
        "staging",
        services({"web": {"replicas": 3}}),
        "services.web.replicas",
        "`autoscaling: false` with replicas",
    ),
    (
        "image-without-tag",
        "staging",
        services({"worker": {"image": "ghcr.io/acme/crm-backend"}}),
        "services.worker.image",
        "has no tag",
    ),
    (
        "image-latest",
        "staging",
        services({"web": {"image": "ghcr.io/acme/crm-backend:latest"}}),
        "services.web.image",
        "moving tag latest",
    ),
    (
        "image-not-a-reference",
        "staging",
        services({"web": {"image": "https://ghcr.io/acme/crm-backend:2.4.1"}}),
        "services.web.image",
        "not an image reference; allowed: repository:tag",
    ),
    (
        "image-not-text",
        "staging",
        services({"beat": {"image": 241}}),
        "services.beat.image",
        "not a text value",
    ),
    (
        "unknown-service",
        "staging",
        services({"wokrer": {"replicas": 2}}),
        "services.wokrer",
        "did you mean worker?",
    ),
    (
        "service-not-a-mapping",
        "staging",
        services({"web": 3}),
        "services.web",
        "not a mapping",
    ),
    (
        "unknown-field",
        "staging",
        services({"web": {"replcias": 3}}),
        "services.web.replcias",
        "did you mean replicas?",
    ),
    (
        "field-of-another-role",
        "staging",
        services({"worker": {"port": 8080}}),
        "services.worker.port",
        "unknown field for worker",
    ),
    (
        "beat-autoscaling",
        "staging",
        services({"beat": {"autoscaling": {"maxReplicas": 3}}}),
        "services.beat.autoscaling",
        "unknown field for beat",
    ),
    (
        "port-below-1024",
        "staging",
        services({"web": {"port": 80}}),
        "services.web.port",
        "from 1024 to 65535",
    ),
    (
        "probe-path-not-absolute",
        "staging",
        services({"web": {"livenessPath": "health/"}}),
        "services.web.livenessPath",
        "not an absolute URL path",
    ),
    (
        "probe-command-not-a-list",
        "staging",
        services({"worker": {"readinessCommand": "celery inspect ping"}}),
        "services.worker.readinessCommand",
        "not a list of strings",
    ),
    (
        "command-empty",
        "staging",
        services({"worker": {"command": []}}),
        "services.worker.command",
        "is empty",
    ),
    (
        "args-not-a-list",
        "staging",
        services({"web": {"args": "--workers=4"}}),
        "services.web.args",
        "not a list of strings",
    ),
    (
        "env-secret-looking-name",
        "staging",
        services({"web": {"env": {"STRIPE_API_KEY": ENV_SECRET}}}),
        "services.web.env.STRIPE_API_KEY",
        "looks like a secret",
    ),
    (
        "env-platform-variable",
        "staging",
        services({"web": {"env": {"DATABASE_URL": "postgres://crm@elsewhere/crm"}}}),
        "services.web.env.DATABASE_URL",
        "set by the platform",
    ),
    (
        "env-value-a-number",
        "staging",
        services({"worker": {"env": {"CELERY_PREFETCH_MULTIPLIER": 4}}}),
        "services.worker.env.CELERY_PREFETCH_MULTIPLIER",
        "not a text value",
    ),
    (
        "env-name-invalid",
        "staging",
        services({"web": {"env": {"2FA_MODE": "on"}}}),
        "services.web.env.2FA_MODE",
        "not a valid variable name",
    ),
    (
        "resources-limit-below-request",
        "staging",
        services({"web": {"resources": {"cpuRequest": "1", "cpuLimit": "500m"}}}),
        "services.web.resources.cpuLimit",
        "below cpuRequest (1)",
    ),
    (
        "resources-bad-cpu",
        "staging",
        services({"worker": {"resources": {"cpuRequest": "lots"}}}),
        "services.worker.resources.cpuRequest",
        "not a CPU quantity",
    ),
    (
        "resources-unknown-field",
        "staging",
        services({"web": {"resources": {"memoryLimits": "2Gi"}}}),
        "services.web.resources.memoryLimits",
        "did you mean memoryLimit?",
    ),
    (
        "autoscaling-max-below-min",
        "staging",
        services({"web": {"autoscaling": {"minReplicas": 5, "maxReplicas": 3}}}),
        "services.web.autoscaling.maxReplicas",
        "below minReplicas (5)",
    ),
    (
        "autoscaling-unknown-field",
        "staging",
        services({"web": {"autoscaling": {"maxReplica": 6}}}),
        "services.web.autoscaling.maxReplica",
        "did you mean maxReplicas?",
    ),
    (
        "autoscaling-cpu-out-of-range",
        "staging",
        services({"web": {"autoscaling": {"cpuUtilization": 150}}}),
        "services.web.autoscaling.cpuUtilization",
        "from 10 to 100",
    ),
    (
        "autoscaling-true",
        "staging",
        services({"web": {"autoscaling": True}}),
        "services.web.autoscaling",
        "allowed: false, or a mapping",
    ),
    (
        "replicas-a-fraction",
        "dev",
        services({"web": {"replicas": 2.5}}),
        "services.web.replicas",
        "not an integer",
    ),
    (
        "writable-path-tmp",
        "staging",
        services({"web": {"writablePaths": ["/tmp"]}}),
        "services.web.writablePaths[0]",
        "/tmp is always writable",
    ),
    (
        "writable-path-relative",
        "staging",
        services({"web": {"writablePaths": ["/app/media", "media"]}}),
        "services.web.writablePaths[1]",
        "not an absolute directory",
    ),
    (
        "writable-path-twice",
        "staging",
        services({"web": {"writablePaths": ["/app/media", "/app/media"]}}),
        "services.web.writablePaths[1]",
        "listed twice",
    ),
    (
        "run-as-root",
        "staging",
        services({"worker": {"runAsUser": 0}}),
        "services.worker.runAsUser",
        "from 1 to 2147483647",
    ),
    (
        "grace-period-zero",
        "staging",
        services({"worker": {"terminationGracePeriodSeconds": 0}}),
        "services.worker.terminationGracePeriodSeconds",
        "from 1 to 3600",
    ),
    (
        "frontend-enabled-without-image",
        "staging",
        services({"frontend": {"enabled": True}}),
        "services.frontend.enabled",
        "set frontendImage",
    ),
    (
        "enabled-not-a-boolean",
        "staging",
        services({"worker": {"enabled": "no"}}),
        "services.worker.enabled",
        "true or false",
    ),
    (
        "services-a-list",
        "staging",
        services(["web", "worker"]),
        "services",
        "not an object; allowed: a YAML mapping of web, worker, beat, frontend",
    ),
    (
        "services-not-json",
        "staging",
        {"services": "web: {replicas: 2}"},
        "services",
        "not an object",
    ),
    (
        "quota-cpu-too-small-at-peak",
        "staging",
        {"quotaCpuRequests": "2", "quotaCpuLimits": "2"},
        "quotaCpuLimits",
        "below the 16.5 CPU the services need at maximum scale",
    ),
    (
        "quota-pods-too-few-at-peak",
        "dev",
        {"quotaPods": "5"},
        "quotaPods",
        "below the 13 the services need at maximum scale",
    ),
    (
        "app-image-missing",
        "staging",
        {"appImage": ""},
        "appImage",
        "every stack runs the Django application",
    ),
    (
        "tls-issuer-unknown",
        "staging",
        {"tlsIssuer": "letsencrypt"},
        "tlsIssuer",
        "allowed: letsencrypt-production, letsencrypt-staging, selfsigned",
    ),
    (
        "app-host-is-api-host",
        "staging",
        {"frontendImage": FRONTEND_IMAGE, "appHost": "api.staging.crm.example.com"},
        "appHost",
        "same as apiHost",
    ),
    (
        "websocket-path-without-trailing-slash",
        "staging",
        {"websocketPaths": '["/ws"]'},
        "websocketPaths[0]",
        "ending with /",
    ),
    (
        "acme-email-not-an-address",
        "staging",
        {"acmeEmail": "ops at example.com"},
        "acmeEmail",
        "not an e-mail address",
    ),
    (
        "env-name-invalid-and-secret-looking",
        "staging",
        services({"web": {"env": {"API-TOKEN": ENV_SECRET}}}),
        "services.web.env.API-TOKEN",
        "looks like a secret",
    ),
    (
        "env-misspelt-holding-a-secret",
        "staging",
        services({"web": {"enviroment": {"API_TOKEN": ENV_SECRET}}}),
        "services.web.enviroment",
        "did you mean env",
    ),
    (
        "env-given-as-a-list",
        "staging",
        services({"web": {"env": [f"API_TOKEN={ENV_SECRET}"]}}),
        "services.web.env",
        "not a mapping",
    ),
    (
        "mistake-in-a-disabled-service",
        "staging",
        services({"worker": {"enabled": False, "replcias": 2}}),
        "services.worker.replcias",
        "did you mean replicas",
    ),
    (
        "replicas-beside-an-autoscaler-mapping",
        "staging",
        services({"web": {"replicas": 5, "autoscaling": {"minReplicas": 2}}}),
        "services.web.replicas",
        "an autoscaler owns",
    ),
    (
        "web-cannot-be-disabled",
        "staging",
        services({"web": {"enabled": False}}),
        "services.web.enabled",
        "web always runs",
    ),
    (
        "writable-path-with-dot-component",
        "staging",
        services({"web": {"writablePaths": ["/app/."]}}),
        "services.web.writablePaths[0]",
        "not an absolute directory",
    ),
]


@pytest.mark.parametrize(
    ("stack", "changes", "key_path", "words"),
    [pytest.param(*case[1:], id=case[0]) for case in INVALID],
)
def test_invalid_services_stop_with_one_clear_message(
    stack: str, changes: dict[str, str], key_path: str, words: str
) -> None:
    """Each bad service setting is reported at its full key path, saying what is allowed."""
    error = build_error(stack, changes)
    message = str(error)
    problem = problem_at(error, key_path)
    assert f"{PROJECT}:{key_path} " in message
    assert words in str(problem)
    assert "allowed" in str(problem)
    assert "\n" not in message
    assert ENV_SECRET not in message
    assert PLANTED_SECRET not in message


def test_there_are_at_least_twenty_distinct_invalid_service_configurations() -> None:
    """The table of invalid service configurations keeps at least twenty distinct cases."""
    assert len({case[0] for case in INVALID}) == len(INVALID) >= 20
    assert len({json.dumps(case[1:3], sort_keys=True) for case in INVALID}) == len(INVALID)


@pytest.mark.parametrize("stack", ["dev", "staging", "production", "pr-7"])
def test_beat_is_always_exactly_one_pod_without_an_autoscaler(stack: str) -> None:
    """Beat runs one replica and no autoscaler in every environment, even when the others autoscale."""
    resolved = build_with(stack, services({"beat": {"replicas": 1}, "worker": {"autoscaling": {"maxReplicas": 3}}}))
    assert service(resolved, Role.BEAT).scale == Scale(replicas=1, autoscaling=None)
    assert service(resolved, Role.WORKER).scale.autoscaling is not None


def test_autoscaling_false_with_replicas_gives_a_fixed_count() -> None:
    """`autoscaling: false` plus `replicas: 3` gives web exactly three pods and no autoscaler in staging."""
    resolved = build_with("staging", services({"web": {"autoscaling": False, "replicas": 3}}))
    assert service(resolved, Role.WEB).scale == Scale(replicas=3, autoscaling=None)


def test_staging_web_is_autoscaled_from_its_minimum() -> None:
    """Staging web is autoscaled, starting at the autoscaler's minimum."""
    scale = service(build_with("staging"), Role.WEB).scale
    assert scale.autoscaling is not None
    assert scale.replicas == scale.autoscaling.min_replicas
    assert scale.maximum > scale.minimum


def test_production_web_autoscales_with_the_seeds_numbers() -> None:
    """Production web autoscales 4-20 at CPU 70 % and memory 80 %, stabilising scale-down for 300 s."""
    scale = service(build_with("production"), Role.WEB).scale
    assert scale == Scale(replicas=4, autoscaling=Autoscaling(4, 20, 70, 80, 300))


def test_a_frontend_runs_only_with_an_image() -> None:
    """Without frontendImage no frontend runs and no app host is served."""
    resolved = build_with("staging")
    assert resolved.app.service(Role.FRONTEND) is None
    assert resolved.edge.app_host is None


def test_a_frontend_image_runs_the_frontend() -> None:
    """With frontendImage the frontend runs that image and gets the app host."""
    resolved = build_with("staging", {"frontendImage": FRONTEND_IMAGE})
    assert service(resolved, Role.FRONTEND).image == FRONTEND_IMAGE
    assert resolved.edge.app_host == "app.staging.crm.example.com"


def test_enabled_false_removes_the_frontend() -> None:
    """`enabled: false` removes a frontend that has an image, and its host with it."""
    resolved = build_with("staging", {"frontendImage": FRONTEND_IMAGE, **services({"frontend": {"enabled": False}})})
    assert resolved.app.service(Role.FRONTEND) is None
    assert resolved.edge.hosts == ("api.staging.crm.example.com",)


def test_worker_and_beat_run_the_application_image() -> None:
    """Worker and beat run appImage, whichever version it names."""
    resolved = build_with("staging", {"appImage": "ghcr.io/acme/crm-backend:3.0.0"})
    assert service(resolved, Role.WORKER).image == "ghcr.io/acme/crm-backend:3.0.0"
    assert service(resolved, Role.BEAT).image == "ghcr.io/acme/crm-backend:3.0.0"


def test_an_image_override_applies_to_its_service_only() -> None:
    """services.worker.image changes the worker's image; web, beat and the migration keep appImage."""
    worker_image = "ghcr.io/acme/crm-worker:2.4.2"
    resolved = build_with("staging", services({"worker": {"image": worker_image}}))
    assert service(resolved, Role.WORKER).image == worker_image
    assert service(resolved, Role.WEB).image == APP_IMAGE
    assert service(resolved, Role.BEAT).image == APP_IMAGE
    assert resolved.app.migration_image == APP_IMAGE


def test_env_pairs_are_kept_sorted_by_name() -> None:
    """A service's env pairs come out sorted by name, whatever order the stack file gives."""
    resolved = build_with("staging", services({"web": {"env": {"ZETA": "1", "ALPHA": "2", "MIDDLE": "3"}}}))
    assert service(resolved, Role.WEB).env == (("ALPHA", "2"), ("MIDDLE", "3"), ("ZETA", "1"))


def test_peak_usage_counts_maximum_scale_surge_and_the_migration_pod() -> None:
    """Peak usage is each service's maximum plus a 25 % surge (rounded up, none for beat), plus one migration pod
    and the Celery exporter."""
    web_resources = {"cpuRequest": "100m", "cpuLimit": "200m", "memoryRequest": "100Mi", "memoryLimit": "200Mi"}
    resolved = build_with(
        "staging",
        services(
            {
                "web": {"autoscaling": {"minReplicas": 2, "maxReplicas": 5}, "resources": web_resources},
                "worker": {"autoscaling": False, "replicas": 2},
            }
        ),
    )
    peak = peak_usage(resolved.app)
    # web 5 + ceil(1.25) = 7, worker 2 + ceil(0.5) = 3, beat 1 (no surge), migration 1 (sized like web),
    # the Celery exporter 1 (Recreate: no surge).
    assert peak.pods == 7 + 3 + 1 + 1 + 1
    assert peak.cpu_requests == Decimal(7 * 100 + 3 * 250 + 50 + 100 + 20)
    assert peak.cpu_limits == Decimal(7 * 200 + 3 * 1000 + 200 + 200 + 100)
    assert peak.memory_requests == Decimal((7 * 100 + 3 * 512 + 128 + 100 + 96) * 2**20)
    assert peak.memory_limits == Decimal((7 * 200 + 3 * 1024 + 256 + 200 + 192) * 2**20)


def test_every_service_problem_is_reported_at_once() -> None:
    """Two bad fields of two services give one message naming both."""
    error = build_error("staging", services({"web": {"port": 80}, "worker": {"runAsUser": 0}}))
    assert len(error.problems) == 2
    assert "(2 problems)" in str(error)
    assert f"{PROJECT}:services.web.port " in str(error)
    assert f"{PROJECT}:services.worker.runAsUser " in str(error)


@PROPERTY_SETTINGS
@given(replicas=st.integers(min_value=1, max_value=100))
def test_any_allowed_fixed_web_replica_count_is_used(replicas: int) -> None:
    """In dev, web without an autoscaler runs exactly the replicas given, from 1 to 100."""
    resolved = build_with("dev", {**LARGE_QUOTA, **services({"web": {"autoscaling": False, "replicas": replicas}})})
    assert service(resolved, Role.WEB).scale == Scale(replicas=replicas, autoscaling=None)


@PROPERTY_SETTINGS
@given(replicas=st.integers().filter(lambda number: not 1 <= number <= 100))
def test_any_web_replica_count_outside_the_range_is_refused(replicas: int) -> None:
    """Any integer web replica count outside 1 to 100 is refused at services.web.replicas."""
    error = build_error("dev", {**LARGE_QUOTA, **services({"web": {"autoscaling": False, "replicas": replicas}})})
    assert "from 1 to 100" in str(problem_at(error, "services.web.replicas"))


def test_a_frontend_image_under_services_runs_the_frontend() -> None:
    """services.frontend.image alone (no frontendImage) runs the frontend with that image."""
    resolved = build_with("staging", services({"frontend": {"image": "ghcr.io/acme/crm-frontend:1.0"}}))
    assert service(resolved, Role.FRONTEND).image == "ghcr.io/acme/crm-frontend:1.0"


def test_the_pods_quota_message_shows_the_profile_value_not_the_schema_default() -> None:
    """A pods quota left at the profile value is shown as that value, not as the "0" placeholder."""
    big = {"quotaCpuRequests": "100", "quotaCpuLimits": "200", "quotaMemoryRequests": "500Gi"}
    changes = {**big, "quotaMemoryLimits": "1000Gi", **services({"web": {"autoscaling": {"maxReplicas": 50}}})}
    problem = problem_at(build_error("staging", changes), "quotaPods")
    assert problem.value == "60 (profile)"


@pytest.mark.parametrize("image", ["redis:7", "postgres:16.4", "localhost:5000/crm:1", "crm@sha256:" + "a" * 64])
def test_short_and_registry_image_references_are_accepted(image: str) -> None:
    """One-part names with numeric tags, registries with ports and digests are valid images."""
    assert service(build_with("staging", {"appImage": image}), Role.WEB).image == image


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("API_TOKEN", True),
        ("STRIPE_SECRET_KEY", True),
        ("SENTRY_DSN", True),
        ("DB_PASSWORD", True),
        ("AWS_ACCESS_KEY", True),
        ("CACHE_KEY_PREFIX", False),
        ("PASSWORD_RESET_TIMEOUT", False),
        ("MONKEY", False),
        ("PASSENGER_LIMIT", False),
    ],
)
def test_secret_looking_names_are_judged_by_words(name: str, secret: bool) -> None:
    """Env names are refused when a word says secret, not when a substring happens to match."""
    assert looks_secret(name) is secret


WORKER_PING = ("sh", "-c", "celery -A oneo inspect ping --destination celery@$HOSTNAME --timeout 10")
BEAT_ALIVE = ("sh", "-c", "test -n \"$(find /tmp -maxdepth 1 -name 'celerybeat-schedule*' -mmin -15)\"")
# What each service runs when the stack configures nothing but djangoProject (oneo) and the images.
DEFAULT_SERVICES: dict[Role, dict[str, object]] = {
    Role.WEB: {
        "command": ("gunicorn",),
        "args": (
            "oneo.wsgi:application",
            "--bind=0.0.0.0:8000",
            "--workers=3",
            "--worker-tmp-dir=/tmp",
            "--graceful-timeout=15",
            "--access-logfile=-",
        ),
        "port": 8000,
        "liveness": Probe(http_path="/health/"),
        "readiness": Probe(http_path="/ready/"),
        "termination_grace_seconds": 30,
        "drain_seconds": 10,
        "writable_paths": (),
    },
    Role.WORKER: {
        "command": ("celery", "-A", "oneo"),
        "args": ("worker", "--loglevel=INFO", "--concurrency=2", "--task-events"),
        "port": None,
        "liveness": Probe(command=WORKER_PING),
        "readiness": Probe(command=WORKER_PING),
        "termination_grace_seconds": 120,
        "drain_seconds": 0,
        "writable_paths": (),
    },
    Role.BEAT: {
        "command": ("celery", "-A", "oneo"),
        "args": ("beat", "--loglevel=INFO", "--schedule=/tmp/celerybeat-schedule", "--pidfile="),
        "port": None,
        "liveness": Probe(command=BEAT_ALIVE),
        "readiness": Probe(command=BEAT_ALIVE),
        "termination_grace_seconds": 30,
        "drain_seconds": 0,
        "writable_paths": (),
    },
    Role.FRONTEND: {
        "command": (),
        "args": (),
        "port": 3000,
        "liveness": Probe(http_path="/"),
        "readiness": Probe(http_path="/"),
        "termination_grace_seconds": 30,
        "drain_seconds": 0,
        "writable_paths": ("/app/.next/cache",),
    },
}


@pytest.mark.parametrize("role", list(Role), ids=str)
@pytest.mark.parametrize("stack", ["dev", "staging", "production", "pr-7"])
def test_a_stack_that_configures_no_service_gets_the_default_commands_probes_and_grace(stack: str, role: Role) -> None:
    """Every environment runs each service with the same command, arguments, port, probes, grace period and
    writable paths, with the stack's Django project in the Celery commands; only the size differs."""
    resolved = build_with(stack, {"djangoProject": "oneo", "frontendImage": FRONTEND_IMAGE})
    found = service(resolved, role)
    assert {field: getattr(found, field) for field in DEFAULT_SERVICES[role]} == DEFAULT_SERVICES[role]
    assert found.image == (FRONTEND_IMAGE if role is Role.FRONTEND else APP_IMAGE)


# (id, stack, role, services overrides, the scale the service gets)
AUTOSCALED: list[tuple[str, str, Role, dict[str, object], Scale]] = [
    (
        "turned-on-where-the-profile-has-none-gets-2-to-4",
        "dev",
        Role.WEB,
        {"autoscaling": {}},
        Scale(2, Autoscaling(2, 4, 70, 80, 300)),
    ),
    (
        "a-new-minimum-is-the-starting-count-and-the-rest-stays",
        "staging",
        Role.WEB,
        {"autoscaling": {"minReplicas": 3}},
        Scale(3, Autoscaling(3, 4, 70, 80, 300)),
    ),
    (
        "unset-fields-keep-the-profiles-values",
        "production",
        Role.WEB,
        {"autoscaling": {"maxReplicas": 30}},
        Scale(4, Autoscaling(4, 30, 70, 80, 300)),
    ),
    (
        "memory-target-and-stabilisation",
        "staging",
        Role.WORKER,
        {"autoscaling": {"memoryUtilization": 65, "scaleDownStabilizationSeconds": 600}},
        Scale(2, Autoscaling(2, 4, 70, 65, 600)),
    ),
    (
        "lowest-allowed-values",
        "staging",
        Role.FRONTEND,
        {
            "autoscaling": {
                "minReplicas": 1,
                "maxReplicas": 1,
                "cpuUtilization": 10,
                "memoryUtilization": 10,
                "scaleDownStabilizationSeconds": 0,
            }
        },
        Scale(1, Autoscaling(1, 1, 10, 10, 0)),
    ),
    (
        "highest-allowed-values",
        "staging",
        Role.WEB,
        {
            "autoscaling": {
                "minReplicas": 100,
                "maxReplicas": 100,
                "cpuUtilization": 100,
                "memoryUtilization": 100,
                "scaleDownStabilizationSeconds": 3600,
            }
        },
        Scale(100, Autoscaling(100, 100, 100, 100, 3600)),
    ),
]


@pytest.mark.parametrize(
    ("stack", "role", "overrides", "scale"), [pytest.param(*case[1:], id=case[0]) for case in AUTOSCALED]
)
def test_autoscaling_fields_override_the_profile_one_by_one(
    stack: str, role: Role, overrides: dict[str, object], scale: Scale
) -> None:
    """A service's autoscaling mapping changes only the fields it names, the rest come from the environment's
    profile (or 2-4 pods at CPU 70 % and memory 80 % with 300 s stabilisation), and it starts at the minimum."""
    changes = {**LARGE_QUOTA, "frontendImage": FRONTEND_IMAGE, **services({role.value: overrides})}
    assert service(build_with(stack, changes), role).scale == scale


AUTOSCALING_FIELDS = "minReplicas, maxReplicas, cpuUtilization, memoryUtilization, scaleDownStabilizationSeconds"
# (id, services overrides, key path, the whole problem after the key)
SCALE_PROBLEMS: list[tuple[str, dict[str, object], str, str]] = [
    (
        "autoscaling-true",
        {"web": {"autoscaling": True}},
        "services.web.autoscaling",
        f'"true": not a mapping; allowed: false, or a mapping of {AUTOSCALING_FIELDS}',
    ),
    (
        "autoscaling-unknown-field",
        {"web": {"autoscaling": {"maxReplica": 6}}},
        "services.web.autoscaling.maxReplica",
        f'"6": unknown field; did you mean maxReplicas? allowed: {AUTOSCALING_FIELDS}',
    ),
    (
        "memory-target-above-100",
        {"worker": {"autoscaling": {"memoryUtilization": 101}}},
        "services.worker.autoscaling.memoryUtilization",
        '"101": out of range; allowed: an integer from 10 to 100',
    ),
    (
        "stabilisation-above-an-hour",
        {"web": {"autoscaling": {"scaleDownStabilizationSeconds": 3601}}},
        "services.web.autoscaling.scaleDownStabilizationSeconds",
        '"3601": out of range; allowed: an integer from 0 to 3600',
    ),
    (
        "maximum-below-minimum",
        {"web": {"autoscaling": {"minReplicas": 5, "maxReplicas": 3}}},
        "services.web.autoscaling.maxReplicas",
        '"3": is below minReplicas (5); allowed: at least minReplicas',
    ),
    (
        "two-beats",
        {"beat": {"replicas": 2}},
        "services.beat.replicas",
        '"2": beat is a singleton (two would schedule every periodic task twice); allowed: 1',
    ),
    (
        "replicas-where-the-autoscaler-owns-them",
        {"web": {"replicas": 3}},
        "services.web.replicas",
        '"3": an autoscaler owns this service\'s replica count; allowed: autoscaling.minReplicas/maxReplicas, '
        "or `autoscaling: false` with replicas",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "key_path", "problem"), [pytest.param(*case[1:], id=case[0]) for case in SCALE_PROBLEMS]
)
def test_scale_problems_name_the_key_the_value_and_what_is_allowed(
    overrides: dict[str, object], key_path: str, problem: str
) -> None:
    """A bad size is reported whole: its key path, the value given and what is allowed."""
    error = build_error("staging", services(overrides))
    assert str(problem_at(error, key_path)) == f"{PROJECT}:{key_path} = {problem}"
