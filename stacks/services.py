"""The application's services (web, worker, beat, frontend) as validated settings.

Each environment's profile gives every service its size (replicas or autoscaling); the
defaults below give what is the same everywhere (commands, ports, probes, resources), taken
from the applications in ../shared/seeds. A stack changes any of it through one structured
config key, `services`, for example:

    crm-platform:services:
      web:
        replicas: 3
        resources: {cpuRequest: 500m, memoryLimit: 2Gi}
      frontend:
        enabled: false

Parsing never raises: every problem is reported with its key path
(`crm-platform:services.web.replicas`), the value given and what is allowed.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum
from typing import Any

from kube.secret_names import looks_secret
from stacks import validation
from stacks.validation import InvalidValueError


class Role(StrEnum):
    """What a service does; each role is at most one Deployment (web: two while a candidate runs)."""

    WEB = "web"
    WORKER = "worker"
    BEAT = "beat"
    FRONTEND = "frontend"


class WebServer(StrEnum):
    """How web serves Django: WSGI (gunicorn's sync workers) or ASGI (Channels, WebSockets)."""

    WSGI = "wsgi"
    ASGI = "asgi"


class Release(StrEnum):
    """Which release a Deployment runs: the released image, or the candidate beside it."""

    STABLE = "stable"
    CANDIDATE = "candidate"


@dataclass(frozen=True)
class Resources:
    """Requests and limits of one container, as Kubernetes quantities."""

    cpu_request: str
    """CPU the container is guaranteed."""
    cpu_limit: str
    """CPU it may use at most."""
    memory_request: str
    """Memory it is guaranteed."""
    memory_limit: str
    """Memory at which it is killed."""


@dataclass(frozen=True)
class Autoscaling:
    """A HorizontalPodAutoscaler (autoscaling/v2) owning the replica count."""

    min_replicas: int
    """Fewest pods."""
    max_replicas: int
    """Most pods."""
    cpu_utilization: int
    """Target average CPU, percent of the request."""
    memory_utilization: int
    """Target average memory, percent of the request."""
    scale_down_stabilization_seconds: int
    """How long load must stay low before pods are removed."""


@dataclass(frozen=True)
class Scale:
    """How many pods a service runs: a fixed count, or an autoscaler's range."""

    replicas: int
    """The fixed count, or the starting count under an autoscaler."""
    autoscaling: Autoscaling | None = None
    """The autoscaler's range and targets; None keeps `replicas` fixed."""

    @property
    def minimum(self) -> int:
        return self.autoscaling.min_replicas if self.autoscaling else self.replicas

    @property
    def maximum(self) -> int:
        return self.autoscaling.max_replicas if self.autoscaling else self.replicas


@dataclass(frozen=True)
class Probe:
    """An HTTP GET on the service's port, or a command run in the container."""

    http_path: str | None = None
    """An HTTP GET on the container's `http` port; None for a command probe."""
    command: tuple[str, ...] = ()
    """A command run in the container; empty for an HTTP probe."""


@dataclass(frozen=True)
class ServiceSettings:
    """One application service, fully resolved."""

    role: Role
    """Which service this is."""
    image: str
    """Image reference with a pinned tag or digest."""
    port: int | None
    """Container port of a service that listens; None for worker and beat."""
    liveness: Probe
    """What tells the kubelet the container is alive."""
    readiness: Probe
    """What tells the Service the container may take traffic."""
    resources: Resources
    """Requests and limits of its container."""
    command: tuple[str, ...] = ()
    """The container's command (its image's entrypoint when empty)."""
    args: tuple[str, ...] = ()
    """The container's arguments (its image's when empty); web's are composed by `resolve_service` from the
    server, port and grace period the stack chooses."""
    scale: Scale = Scale(1)
    """The profile's scale replaces this default."""
    env: tuple[tuple[str, str], ...] = ()
    """Non-secret environment variables of this service only."""
    writable_paths: tuple[str, ...] = ()
    """Directories that get a writable emptyDir besides /tmp (the root filesystem is read-only)."""
    run_as_user: int = 10001
    """A UID outside the range of any host account (Checkov CKV_K8S_40 asks for >= 10000)."""
    termination_grace_seconds: int = 30
    """How long a stopping pod may finish its work before it is killed."""
    secrets: tuple[str, ...] = ()
    """Names of the application secrets (appSecrets) this service reads, each into the variable of its name."""
    server: WebServer = WebServer.WSGI
    """web only: WSGI, or ASGI for Channels and WebSockets."""
    drain_seconds: int = 0
    """A preStop sleep: how long a stopping pod keeps serving while the ingress stops sending it requests."""
    release: Release = Release.STABLE
    """The released image, or a candidate web beside it (canary, blue-green)."""

    @property
    def name(self) -> str:
        """Kubernetes name of the service's Deployment, ServiceAccount, Service, HPA and PDB."""
        suffix = "-candidate" if self.release is Release.CANDIDATE else ""
        return f"crm-{self.role.value}{suffix}"


# The seeds' numbers (000, 002): web requests 250m/512Mi, limits 500m/1Gi; HPA 4-20 at
# CPU 70 % and memory 80 %, scale-down stabilisation 300 s.
PRODUCTION_WEB_AUTOSCALING = Autoscaling(4, 20, 70, 80, 300)
AUTOSCALING = Autoscaling(2, 4, 70, 80, 300)
"""Staging's autoscalers, and the fields a stack leaves out when it turns one on where its profile has none."""

WEB_RESOURCES = Resources("250m", "500m", "512Mi", "1Gi")
WORKER_RESOURCES = Resources("250m", "1", "512Mi", "1Gi")
BEAT_RESOURCES = Resources("50m", "200m", "128Mi", "256Mi")
FRONTEND_RESOURCES = Resources("100m", "500m", "128Mi", "512Mi")


# Celery beat keeps its schedule state in a file it rewrites at least every few minutes
# (PersistentScheduler syncs every 3 min; beat sleeps at most 5 min between ticks). A file
# older than 15 minutes means beat has hung. The file lives on the /tmp emptyDir.
BEAT_SCHEDULE = "/tmp/celerybeat-schedule"
_BEAT_ALIVE = (
    "sh",
    "-c",
    "test -n \"$(find /tmp -maxdepth 1 -name 'celerybeat-schedule*' -mmin -15)\"",
)

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

POSTGRES_ENV = frozenset(
    {
        # The app ConfigMap (components/app/app_config.py config_map_data).
        "DATABASE_HOST",
        "DATABASE_READ_HOST",
        "DATABASE_PORT",
        "DATABASE_NAME",
        "DATABASE_USER",
        # The owner's password (components/platform/secrets.py AppSecrets.environment).
        "DATABASE_PASSWORD",
        # Composed from the two above (app_config.COMPOSED_URLS).
        "DATABASE_URL",
        "DATABASE_READ_URL",
        # The migration Job's own (components/app/workloads.py).
        "PGOPTIONS",
    }
)
"""Variables the platform sets only where it runs PostgreSQL (`postgres` on)."""
PLATFORM_ENV = POSTGRES_ENV | frozenset(
    {
        # The app ConfigMap.
        "DJANGO_SETTINGS_MODULE",
        "DEBUG",
        "ALLOWED_HOSTS",
        "CORS_ALLOWED_ORIGINS",
        "CSRF_TRUSTED_ORIGINS",
        "REDIS_CACHE_HOST",
        "REDIS_BROKER_HOST",
        "REDIS_PORT",
        "EMAIL_HOST",
        "EMAIL_PORT",
        "EMAIL_HOST_USER",
        "EMAIL_USE_SSL",
        "EMAIL_USE_TLS",
        # Generated and configured secrets.
        "SECRET_KEY",
        "REDIS_CACHE_PASSWORD",
        "REDIS_BROKER_PASSWORD",
        "EMAIL_HOST_PASSWORD",
        # Composed URLs.
        "REDIS_URL",
        "CELERY_BROKER_URL",
        # Web's metrics (components/app/app_config.py web_metrics_env).
        "POD_IP",
        "PROMETHEUS_MULTIPROC_DIR",
        "CHANNELS_REDIS_URL",
        # Media (components/data/media.py): django-storages' settings, or the volume's root, and the upload
        # handlers' web identity (components/data/irsa.py).
        "MEDIA_STORAGE",
        "MEDIA_ROOT",
        "AWS_STORAGE_BUCKET_NAME",
        "AWS_S3_REGION_NAME",
        "AWS_LOCATION",
        "AWS_S3_SIGNATURE_VERSION",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_REGION",
        "AWS_STS_REGIONAL_ENDPOINTS",
    }
)
"""Every variable the platform sets in an application container: the one list a service's `env` and the
application secrets are checked against (they would override the platform's value, or go stale). The code
that sets them checks each name against it (components/app/app_config.py), and a test renders every
variable and compares (tests/components/app/test_workloads.py), so this list cannot drift."""
RESERVED_SECRET_PREFIXES: tuple[str, ...] = ("DATABASE_", "REDIS_")
"""Prefixes no application secret may use: the platform's connection settings live there."""


def platform_env(*, postgres: bool) -> frozenset[str]:
    """The variables the platform sets in this stack: without PostgreSQL none of the database ones."""
    return PLATFORM_ENV if postgres else PLATFORM_ENV - POSTGRES_ENV


def shadows_platform(name: str, *, postgres: bool) -> bool:
    """Whether an application secret of this name would shadow (or be mistaken for) a platform variable."""
    prefixes = RESERVED_SECRET_PREFIXES if postgres else tuple(p for p in RESERVED_SECRET_PREFIXES if p != "DATABASE_")
    return name in platform_env(postgres=postgres) or name.startswith(prefixes)


DRAIN_SECONDS = 10
"""preStop sleep of web: the pod keeps serving while its endpoint leaves the EndpointSlice and Traefik
(which watches it) stops routing to it, so no request reaches a server that is already stopping."""
SHUTDOWN_MARGIN_SECONDS = 5
"""Between gunicorn's graceful timeout and the kubelet's SIGKILL: the arbiter's own exit."""
ASGI_TERMINATION_GRACE_SECONDS = 60
"""Default grace period of an ASGI web: WebSocket consumers run their disconnect handlers (leaving
channel-layer groups) after the server closes the sockets (close code 1012, service restart)."""
UVICORN_WORKER = "uvicorn_worker.UvicornWorker"
"""Gunicorn worker class of an ASGI web, from the `uvicorn-worker` package (uvicorn deprecated its own
`uvicorn.workers` module in 0.30.0, pointing to this package)."""


def graceful_timeout(service: ServiceSettings) -> int:
    """gunicorn's --graceful-timeout: what is left of the grace period after the drain and the margin."""
    return service.termination_grace_seconds - service.drain_seconds - SHUTDOWN_MARGIN_SECONDS


def web_server_args(django_project: str, server: WebServer, port: int, graceful_seconds: int) -> tuple[str, ...]:
    """gunicorn's arguments for web: the project's WSGI or ASGI application.

    ASGI runs under gunicorn with uvicorn's worker class rather than daphne: the same process
    manager as WSGI (several worker processes per pod, heartbeats in /tmp, --graceful-timeout on
    SIGTERM), so switching `server` changes one argument and the shutdown sequence stays the same.
    """
    application = f"{django_project}.{'asgi' if server is WebServer.ASGI else 'wsgi'}:application"
    worker_class = (f"--worker-class={UVICORN_WORKER}",) if server is WebServer.ASGI else ()
    return (
        application,
        f"--bind=0.0.0.0:{port}",
        "--workers=3",
        *worker_class,
        # Heartbeat files go to the writable emptyDir, not the read-only image.
        "--worker-tmp-dir=/tmp",
        # On SIGTERM (after the preStop drain) workers finish what they serve for this long.
        f"--graceful-timeout={graceful_seconds}",
        "--access-logfile=-",
    )


def default_services(django_project: str, app_image: str, frontend_image: str) -> dict[Role, ServiceSettings]:
    """What every environment runs before profile sizes and stack overrides."""
    celery = ("celery", "-A", django_project)
    # `inspect ping` asks this worker, by node name, through the broker; a worker that
    # cannot answer within the timeout is stuck or has lost the broker.
    worker_ping = ("sh", "-c", f"celery -A {django_project} inspect ping --destination celery@$HOSTNAME --timeout 10")
    return {
        Role.WEB: ServiceSettings(
            role=Role.WEB,
            image=app_image,
            # resolve_service composes gunicorn's arguments from the server, port and grace period.
            command=("gunicorn",),
            port=8000,
            liveness=Probe(http_path="/health/"),
            readiness=Probe(http_path="/ready/"),
            resources=WEB_RESOURCES,
            drain_seconds=DRAIN_SECONDS,
        ),
        Role.WORKER: ServiceSettings(
            role=Role.WORKER,
            image=app_image,
            command=celery,
            # --task-events (-E): the workers publish task events, which the Celery exporter counts
            # (celery_task_*_total); without them only queue lengths and worker liveness are seen.
            args=("worker", "--loglevel=INFO", "--concurrency=2", "--task-events"),
            port=None,
            liveness=Probe(command=worker_ping),
            readiness=Probe(command=worker_ping),
            resources=WORKER_RESOURCES,
            # Celery's warm shutdown finishes running tasks before exiting.
            termination_grace_seconds=120,
        ),
        Role.BEAT: ServiceSettings(
            role=Role.BEAT,
            image=app_image,
            command=celery,
            # --pidfile= : no pid file, which would land in the read-only working directory.
            args=("beat", "--loglevel=INFO", f"--schedule={BEAT_SCHEDULE}", "--pidfile="),
            port=None,
            liveness=Probe(command=_BEAT_ALIVE),
            readiness=Probe(command=_BEAT_ALIVE),
            resources=BEAT_RESOURCES,
        ),
        Role.FRONTEND: ServiceSettings(
            role=Role.FRONTEND,
            # No command or args: the image's own entrypoint and arguments.
            image=frontend_image,
            port=3000,
            liveness=Probe(http_path="/"),
            readiness=Probe(http_path="/"),
            resources=FRONTEND_RESOURCES,
            # Next.js writes its image and fetch cache under .next/cache.
            writable_paths=("/app/.next/cache",),
        ),
    }


Report = Callable[[str, object, str], None]
"""report(key path below `services`, value given, what is wrong and allowed)."""

_COMMON_FIELDS = (
    "image",
    "command",
    "args",
    "resources",
    "env",
    "writablePaths",
    "runAsUser",
    "terminationGracePeriodSeconds",
    "secrets",
)
FIELDS: dict[Role, tuple[str, ...]] = {
    Role.WEB: (*_COMMON_FIELDS, "server", "port", "livenessPath", "readinessPath", "replicas", "autoscaling"),
    Role.FRONTEND: (*_COMMON_FIELDS, "enabled", "port", "livenessPath", "readinessPath", "replicas", "autoscaling"),
    Role.WORKER: (*_COMMON_FIELDS, "enabled", "livenessCommand", "readinessCommand", "replicas", "autoscaling"),
    Role.BEAT: (*_COMMON_FIELDS, "enabled", "livenessCommand", "readinessCommand", "replicas"),
}
"""The fields each role accepts in the `services` config object."""

_AUTOSCALING_FIELDS = (
    "minReplicas",
    "maxReplicas",
    "cpuUtilization",
    "memoryUtilization",
    "scaleDownStabilizationSeconds",
)
_RESOURCE_FIELDS = ("cpuRequest", "cpuLimit", "memoryRequest", "memoryLimit")
MAX_REPLICAS = 100


def _closest(name: str, allowed: tuple[str, ...]) -> str:
    # Prefixes catch what edit distance misses: `enviroment` for `env`.
    prefixed = [field for field in allowed if name.lower().startswith(field.lower())]
    # difflib's defaults (up to 3 matches scoring 0.6 or more, best first): the first is the suggestion.
    close = prefixed[-1:] or difflib.get_close_matches(name, allowed)
    hint = f"did you mean {close[0]}? " if close else ""
    return f"{hint}allowed: {', '.join(allowed)}"


@dataclass(frozen=True)
class ServiceContext:
    """What resolving a service needs to know about the rest of the stack."""

    django_project: str = "crm"
    """The project's package: web's default command runs <project>.wsgi or <project>.asgi."""
    app_secrets: tuple[str, ...] = ()
    """Names in appSecrets, the only ones a service may list."""
    postgres: bool = True
    """Whether the platform runs PostgreSQL (and so sets the DATABASE_* variables)."""


class _ServiceReader:
    """Reads one service's overrides, reporting problems under `services.<role>.<field>`."""

    def __init__(self, role: Role, overrides: Mapping[str, Any], report: Report, context: ServiceContext) -> None:
        self.role = role
        self.overrides = overrides
        self._report = report
        self.context = context

    def path(self, field: str) -> str:
        return f"services.{self.role.value}.{field}"

    def report(self, field: str, value: object, message: str) -> None:
        self._report(self.path(field), value, message)

    def get(self, field: str, parse: Callable[[Any], Any], fallback: Any) -> Any:
        if field not in self.overrides:
            return fallback
        value = self.overrides[field]
        try:
            return parse(value)
        except InvalidValueError as invalid:
            self.report(field, value, str(invalid))
            return fallback


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidValueError("not a text value; allowed: a non-empty string (quote numbers and booleans in YAML)")
    return value


def _whole_number(minimum: int, maximum: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, str):
                return validation.integer(value, minimum, maximum)
            raise InvalidValueError(f"not an integer; allowed: an integer from {minimum} to {maximum}")
        if not minimum <= value <= maximum:
            raise InvalidValueError(f"out of range; allowed: an integer from {minimum} to {maximum}")
        return value

    return parse


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return bool(value == "true")
    raise InvalidValueError("not a boolean; allowed: true or false")


def _words(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise InvalidValueError("not a list of strings; allowed: a YAML list of non-empty strings")
    return tuple(value)


def _command(value: Any) -> tuple[str, ...]:
    words = _words(value)
    if not words:
        raise InvalidValueError("is empty; allowed: the program and its arguments, e.g. [python, manage.py]")
    return words


def _http_path(value: Any) -> str:
    path = _text(value)
    if not path.startswith("/") or re.search(r"\s", path):
        raise InvalidValueError("not an absolute URL path; allowed: a path such as /health/")
    return path


def _directory(value: Any) -> str:
    return validation.directory(_text(value))


_DIGEST = r"sha256:[0-9a-f]{64}"
_PATH_COMPONENT = r"[a-z0-9]+([._-]+[a-z0-9]+)*"
_IMAGE = re.compile(
    # An optional registry host (with a port only when a path follows), then the path.
    rf"(?P<repository>([a-z0-9]+([.-][a-z0-9]+)*(:[0-9]+)?/)?{_PATH_COMPONENT}(/{_PATH_COMPONENT})*)"
    r"(:(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    rf"(@(?P<digest>{_DIGEST}))?"
)


def image_reference(value: Any) -> str:
    """An image with a pinned tag or digest: `ghcr.io/acme/crm:2.4.1`, never `latest`."""
    reference = _text(value)
    match = _IMAGE.fullmatch(reference)
    allowed = "allowed: repository:tag or repository@sha256:<digest>, e.g. ghcr.io/acme/crm-backend:2.4.1"
    if match is None:
        raise InvalidValueError(f"not an image reference; {allowed}")
    if match["tag"] is None and match["digest"] is None:
        raise InvalidValueError(f"has no tag, so every pull may get another image; {allowed}")
    if match["tag"] == "latest" and match["digest"] is None:
        raise InvalidValueError(f"uses the moving tag latest; {allowed}")
    return reference


NOT_SHOWN = "[not shown]"
"""Stands in for env values in messages: someone may have put a secret there despite the rules."""


def _env(reader: _ServiceReader) -> tuple[tuple[str, str], ...]:
    value = reader.overrides.get("env", {})
    if not isinstance(value, dict):
        reader.report("env", NOT_SHOWN, "not a mapping; allowed: NAME: value pairs")
        return ()
    pairs: list[tuple[str, str]] = []
    for name, text in sorted(value.items()):
        field = f"env.{name}"
        if looks_secret(name):
            reader.report(
                field,
                NOT_SHOWN,
                "looks like a secret, and env values are plain text in the Deployment; allowed: "
                "non-secret settings (secrets come from the platform's Kubernetes Secrets)",
            )
        elif not ENV_NAME.fullmatch(name):
            reader.report(field, NOT_SHOWN, "is not a valid variable name; allowed: letters, digits and _")
        elif name in platform_env(postgres=reader.context.postgres):
            reader.report(field, NOT_SHOWN, "is set by the platform; allowed: a variable of your own")
        elif name in reader.context.app_secrets:
            reader.report(
                field,
                NOT_SHOWN,
                "is an application secret (appSecrets), which services take by listing it in `secrets`; "
                "allowed: a variable of your own",
            )
        elif not isinstance(text, str):
            reader.report(field, NOT_SHOWN, "not a text value; allowed: a string (quote numbers and booleans in YAML)")
        else:
            pairs.append((name, text))
    return tuple(pairs)


def _resources(reader: _ServiceReader, defaults: Resources) -> Resources:
    value = reader.overrides.get("resources", {})
    if not isinstance(value, dict):
        reader.report("resources", value, f"not a mapping; allowed: {', '.join(_RESOURCE_FIELDS)}")
        return defaults
    for field in value:
        if field not in _RESOURCE_FIELDS:
            reader.report(f"resources.{field}", value[field], f"unknown field; {_closest(field, _RESOURCE_FIELDS)}")
    chosen = {
        "cpuRequest": str(value.get("cpuRequest", defaults.cpu_request)),
        "cpuLimit": str(value.get("cpuLimit", defaults.cpu_limit)),
        "memoryRequest": str(value.get("memoryRequest", defaults.memory_request)),
        "memoryLimit": str(value.get("memoryLimit", defaults.memory_limit)),
    }
    for kind, parser in (("cpu", validation.cpu_quantity), ("memory", validation.memory_quantity)):
        sizes: dict[str, Decimal] = {}
        for field in (f"{kind}Request", f"{kind}Limit"):
            try:
                sizes[field] = parser(chosen[field])
            except InvalidValueError as invalid:
                reader.report(f"resources.{field}", chosen[field], str(invalid))
        if len(sizes) == 2 and sizes[f"{kind}Limit"] < sizes[f"{kind}Request"]:
            reader.report(
                f"resources.{kind}Limit",
                chosen[f"{kind}Limit"],
                f"is below {kind}Request ({chosen[f'{kind}Request']}); allowed: a limit at least as large",
            )
    return Resources(chosen["cpuRequest"], chosen["cpuLimit"], chosen["memoryRequest"], chosen["memoryLimit"])


def _autoscaling(reader: _ServiceReader, value: Any, default: Autoscaling | None) -> Autoscaling | None:
    if value is False or value is None:
        return None
    if not isinstance(value, dict):
        reader.report(
            "autoscaling", value, f"not a mapping; allowed: false, or a mapping of {', '.join(_AUTOSCALING_FIELDS)}"
        )
        return default
    for field in value:
        if field not in _AUTOSCALING_FIELDS:
            reader.report(
                f"autoscaling.{field}", value[field], f"unknown field; {_closest(field, _AUTOSCALING_FIELDS)}"
            )
    base = default or AUTOSCALING

    def number(field: str, minimum: int, maximum: int, fallback: int) -> int:
        if field not in value:
            return fallback
        try:
            return _whole_number(minimum, maximum)(value[field])
        except InvalidValueError as invalid:
            reader.report(f"autoscaling.{field}", value[field], str(invalid))
            return fallback

    scaling = Autoscaling(
        min_replicas=number("minReplicas", 1, MAX_REPLICAS, base.min_replicas),
        max_replicas=number("maxReplicas", 1, MAX_REPLICAS, base.max_replicas),
        cpu_utilization=number("cpuUtilization", 10, 100, base.cpu_utilization),
        memory_utilization=number("memoryUtilization", 10, 100, base.memory_utilization),
        scale_down_stabilization_seconds=number(
            "scaleDownStabilizationSeconds", 0, 3600, base.scale_down_stabilization_seconds
        ),
    )
    if scaling.max_replicas < scaling.min_replicas:
        reader.report(
            "autoscaling.maxReplicas",
            scaling.max_replicas,
            f"is below minReplicas ({scaling.min_replicas}); allowed: at least minReplicas",
        )
    return scaling


def _scale(reader: _ServiceReader, default: Scale) -> Scale:
    if reader.role is Role.BEAT:
        # Two beats would send every periodic task twice.
        replicas = reader.get("replicas", _whole_number(1, MAX_REPLICAS), 1)
        if replicas != 1:
            reader.report(
                "replicas", replicas, "beat is a singleton (two would schedule every periodic task twice); allowed: 1"
            )
        return Scale(1)
    autoscaling = default.autoscaling
    if "autoscaling" in reader.overrides:
        autoscaling = _autoscaling(reader, reader.overrides["autoscaling"], default.autoscaling)
    replicas = reader.get("replicas", _whole_number(1, MAX_REPLICAS), default.replicas)
    if "replicas" in reader.overrides and autoscaling is not None:
        reader.report(
            "replicas",
            reader.overrides["replicas"],
            "an autoscaler owns this service's replica count; allowed: autoscaling.minReplicas/maxReplicas, "
            "or `autoscaling: false` with replicas",
        )
    return Scale(replicas=autoscaling.min_replicas if autoscaling else replicas, autoscaling=autoscaling)


def _probe(reader: _ServiceReader, kind: str, default: Probe) -> Probe:
    if reader.role in (Role.WEB, Role.FRONTEND):
        return Probe(http_path=reader.get(f"{kind}Path", _http_path, default.http_path))
    return Probe(command=reader.get(f"{kind}Command", _command, default.command))


def resolve_service(
    base: ServiceSettings,
    profile_scale: Scale,
    overrides: Mapping[str, Any],
    report: Report,
    context: ServiceContext | None = None,
) -> ServiceSettings:
    """One service: the defaults, the profile's scale, then the stack's overrides."""
    context = context or ServiceContext()
    reader = _ServiceReader(base.role, overrides, report, context)
    allowed = FIELDS[base.role]
    for field in overrides:
        if field == "enabled" and base.role is Role.WEB:
            reader.report(field, NOT_SHOWN, "web always runs: it is the application; allowed: remove the field")
        elif field not in allowed:
            owners = [role.value for role in Role if field in FIELDS[role]]
            hint = f"{field} is a field of {' and '.join(owners)} only; allowed: {', '.join(allowed)}"
            # Not quoted: a misspelt `env` may hold anything.
            reader.report(
                field,
                NOT_SHOWN,
                f"unknown field for {base.role.value}; {hint if owners else _closest(field, allowed)}",
            )
    listens = base.port is not None
    port = reader.get("port", _whole_number(1024, 65535), base.port) if listens else None
    server = reader.get("server", _web_server, base.server) if base.role is Role.WEB else base.server
    default_grace = ASGI_TERMINATION_GRACE_SECONDS if server is WebServer.ASGI else base.termination_grace_seconds
    grace = reader.get("terminationGracePeriodSeconds", _whole_number(1, 3600), default_grace)
    if base.drain_seconds and grace < base.drain_seconds + SHUTDOWN_MARGIN_SECONDS + 1:
        reader.report(
            "terminationGracePeriodSeconds",
            grace,
            f"leaves the server no time to finish its requests after the {base.drain_seconds} s preStop drain "
            f"and a {SHUTDOWN_MARGIN_SECONDS} s margin; allowed: "
            f"{base.drain_seconds + SHUTDOWN_MARGIN_SECONDS + 1} or more",
        )
        grace = default_grace
    resolved = replace(base, port=port, server=server, termination_grace_seconds=grace)
    default_args = base.args
    if base.role is Role.WEB and port is not None:
        # The default gunicorn command follows the chosen server, port and grace period.
        default_args = web_server_args(context.django_project, server, port, graceful_timeout(resolved))
    return replace(
        resolved,
        image=reader.get("image", image_reference, base.image),
        command=reader.get("command", _command, base.command),
        args=reader.get("args", _words, default_args),
        liveness=_probe(reader, "liveness", base.liveness),
        readiness=_probe(reader, "readiness", base.readiness),
        resources=_resources(reader, base.resources),
        scale=_scale(reader, profile_scale),
        env=_env(reader),
        writable_paths=tuple(
            _unique(reader, "writablePaths", reader.get("writablePaths", _words, base.writable_paths), _directory)
        ),
        run_as_user=reader.get("runAsUser", _whole_number(1, 2**31 - 1), base.run_as_user),
        secrets=_secrets(reader),
    )


def _web_server(value: Any) -> WebServer:
    allowed = ", ".join(server.value for server in WebServer)
    try:
        return WebServer(value)
    except ValueError:
        raise InvalidValueError(
            f"unknown server; allowed: {allowed} (asgi runs <project>.asgi:application for Channels and WebSockets)"
        ) from None


def _secrets(reader: _ServiceReader) -> tuple[str, ...]:
    """The application secrets a service reads: those it lists, or by default all (web, worker, beat) or none."""
    available = reader.context.app_secrets
    if "secrets" not in reader.overrides:
        return () if reader.role is Role.FRONTEND else available
    value = reader.overrides["secrets"]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        reader.report("secrets", value, "not a list of names; allowed: names from appSecrets, e.g. [OPENAI_API_KEY]")
        return ()
    chosen: list[str] = []
    for index, name in enumerate(value):
        if name in chosen:
            reader.report(f"secrets[{index}]", name, "is listed twice; allowed: each name once")
        elif name not in available:
            known = f"one of {', '.join(available)}" if available else "a name set in appSecrets (none is)"
            reader.report(
                f"secrets[{index}]",
                name,
                f"is not in appSecrets; allowed: {known}, or add it with "
                f"`pulumi config set --secret --path 'appSecrets.{name if ENV_NAME.fullmatch(name) else 'NAME'}' "
                "<value>`",
            )
        else:
            chosen.append(name)
    return tuple(chosen)


def _unique(reader: _ServiceReader, field: str, items: tuple[str, ...], parse: Callable[[Any], str]) -> list[str]:
    parsed: list[str] = []
    for index, item in enumerate(items):
        try:
            path = parse(item)
        except InvalidValueError as invalid:
            reader.report(f"{field}[{index}]", item, str(invalid))
            continue
        if path in parsed:
            reader.report(f"{field}[{index}]", item, "is listed twice; allowed: each path once")
            continue
        parsed.append(path)
    return parsed


def services_object(text: str, report: Report) -> dict[str, dict[str, Any]]:
    """The `services` config value (JSON, as Pulumi passes objects) as role -> overrides."""
    roles = tuple(role.value for role in Role)
    try:
        decoded = json.loads(text) if text else {}
    except (ValueError, RecursionError):
        report("services", text, "not an object; allowed: a YAML mapping of " + ", ".join(roles))
        return {}
    if not isinstance(decoded, dict):
        report("services", text, "not an object; allowed: a YAML mapping of " + ", ".join(roles))
        return {}
    overrides: dict[str, dict[str, Any]] = {}
    for role, value in decoded.items():
        if role not in roles:
            report(f"services.{role}", "{...}", f"unknown service; {_closest(role, roles)}")
        elif not isinstance(value, dict):
            report(f"services.{role}", value, "not a mapping; allowed: the service's fields, e.g. replicas: 2")
        else:
            overrides[role] = value
    return overrides


def enabled(role: Role, overrides: Mapping[str, Any], default: bool, report: Report) -> bool:
    """Whether an optional service runs; web always does."""
    if "enabled" not in overrides:
        return default
    try:
        return _boolean(overrides["enabled"])
    except InvalidValueError as invalid:
        report(f"services.{role.value}.enabled", overrides["enabled"], str(invalid))
        return default
