"""The application's configuration: plain settings in a ConfigMap, secrets by reference.

Pure functions. The ConfigMap holds only non-secret values; every secret reaches the
container as a `secretKeyRef`, and the connection URLs are composed by Kubernetes from
those references (`$(DATABASE_PASSWORD)`), so no secret value is ever written into a
Deployment, a ConfigMap or the render. The ConfigMap is named after its content and a keyed
checksum of the secrets sits in the pod template, so a change of either rolls the pods.

Every variable set here is one of `stacks.services.PLATFORM_ENV`, the list a service's own
`env` and the application secrets are checked against: `checked()` refuses any other, so
that list and this code cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import pulumi_kubernetes as k8s

from components.shared import endpoints
from components.shared.references import SecretKeyRef
from stacks.model import DATABASE_OWNER, SmtpSettings
from stacks.services import PLATFORM_ENV

CELERY_DATABASE = 0
"""The broker Redis's database of Celery's queues."""
CHANNEL_LAYER_DATABASE = 1
"""The broker Redis's database of the Channels layer: the same never-evicting server as the queues (a group
message dropped by an LRU eviction would be lost silently), apart from Celery's keys."""


@dataclass(frozen=True)
class AppConfigInputs:
    """What the ConfigMap is made from."""

    django_settings_module: str
    """DJANGO_SETTINGS_MODULE of every service."""
    api_host: str
    """The API's host: ALLOWED_HOSTS, CSRF_TRUSTED_ORIGINS."""
    app_host: str | None
    """The frontend's host (CORS_ALLOWED_ORIGINS), None without a frontend."""
    smtp: SmtpSettings | None
    """The SMTP relay (EMAIL_*), None when the stack sends no mail."""
    postgres: bool = True
    """The platform runs PostgreSQL (DATABASE_*); False when the application brings its own database."""
    channels: bool = False
    """The application runs Django Channels: CHANNELS_REDIS_URL points at the broker's channel-layer database."""
    tenant_domain: str | None = None
    """The tenants' domain (django-tenants: a subdomain per tenant), None without tenant hosts."""


def checked(names: Iterable[str]) -> None:
    """Refuse a variable the platform would set without declaring it in PLATFORM_ENV (a programming error)."""
    undeclared = sorted(set(names) - PLATFORM_ENV)
    if undeclared:
        raise ValueError(f"variables set by the platform but missing from stacks.services.PLATFORM_ENV: {undeclared}")


def _hosts(inputs: AppConfigInputs) -> list[str]:
    return [inputs.api_host] + ([inputs.app_host] if inputs.app_host else [])


def allowed_hosts(inputs: AppConfigInputs) -> str:
    """ALLOWED_HOSTS: the stack's public hosts, comma-separated; with tenants, `.<tenant domain>`, which Django
    matches against the domain and every subdomain of it (django.http.request.validate_host)."""
    tenants = [f".{inputs.tenant_domain}"] if inputs.tenant_domain else []
    return ",".join(_hosts(inputs) + tenants)


def csrf_trusted_origins(inputs: AppConfigInputs) -> str:
    """CSRF_TRUSTED_ORIGINS: every public host over HTTPS; with tenants, the tenant domain and `https://*.<tenant
    domain>`, the subdomain wildcard Django accepts in this setting (not the leading dot ALLOWED_HOSTS takes)."""
    origins = [f"https://{host}" for host in _hosts(inputs)]
    if inputs.tenant_domain:
        origins += [f"https://{inputs.tenant_domain}", f"https://*.{inputs.tenant_domain}"]
    return ",".join(origins)


POD_IP_VARIABLE = "POD_IP"


def web_metrics_env(inputs: AppConfigInputs, multiprocess_directory: str) -> list[k8s.core.v1.EnvVarArgsDict]:
    """What web's containers add so Prometheus can read django-prometheus's /metrics from every pod.

    PROMETHEUS_MULTIPROC_DIR: each gunicorn worker is its own process, and prometheus-client sums the workers'
    series only when they write them to a shared directory (its multiprocess mode). ALLOWED_HOSTS gains the
    pod's own IP: Prometheus scrapes the pod directly and sends `Host: <pod IP>:<port>` (neither PodMonitor
    nor Prometheus can set another Host), which Django would refuse with 400. Only Prometheus and the ingress
    controller may reach the pod at all (network policies), and Traefik forwards the public Host.
    An `env` entry wins over the ConfigMap's (`envFrom`) value of the same name.
    """
    return [
        {"name": POD_IP_VARIABLE, "value_from": {"field_ref": {"field_path": "status.podIP"}}},
        {"name": "ALLOWED_HOSTS", "value": f"{allowed_hosts(inputs)},$({POD_IP_VARIABLE})"},
        {"name": "PROMETHEUS_MULTIPROC_DIR", "value": multiprocess_directory},
    ]


def config_map_data(inputs: AppConfigInputs) -> dict[str, str]:
    """Non-secret settings every service reads through `envFrom`."""
    data = {
        "DJANGO_SETTINGS_MODULE": inputs.django_settings_module,
        "DEBUG": "false",
        "ALLOWED_HOSTS": allowed_hosts(inputs),
        "CSRF_TRUSTED_ORIGINS": csrf_trusted_origins(inputs),
        "REDIS_CACHE_HOST": endpoints.REDIS_CACHE_HOST,
        "REDIS_BROKER_HOST": endpoints.REDIS_BROKER_HOST,
        "REDIS_PORT": str(endpoints.REDIS_PORT),
    }
    if inputs.postgres:
        data.update(
            {
                "DATABASE_HOST": endpoints.DATABASE_HOST,
                "DATABASE_READ_HOST": endpoints.DATABASE_READ_HOST,
                "DATABASE_PORT": str(endpoints.POSTGRES_PORT),
                "DATABASE_NAME": endpoints.DATABASE_NAME,
                "DATABASE_USER": DATABASE_OWNER,
            }
        )
    if inputs.app_host:
        # The browser app calls the API from its own origin.
        data["CORS_ALLOWED_ORIGINS"] = f"https://{inputs.app_host}"
    if inputs.smtp is not None:
        data.update(
            {
                "EMAIL_HOST": inputs.smtp.host,
                "EMAIL_PORT": str(inputs.smtp.port),
                "EMAIL_HOST_USER": inputs.smtp.username,
                # 465 is implicit TLS; every other submission port upgrades with STARTTLS.
                "EMAIL_USE_SSL": "true" if inputs.smtp.port == 465 else "false",
                "EMAIL_USE_TLS": "false" if inputs.smtp.port == 465 else "true",
            }
        )
    checked(data)
    return dict(sorted(data.items()))


# Composed by the kubelet from variables defined before them ($(NAME) expansion), so the
# Deployment holds the recipe and never the password. The generated passwords are letters
# and digits only, so they need no URL escaping.
COMPOSED_URLS: tuple[tuple[str, str], ...] = (
    (
        "DATABASE_URL",
        "postgres://$(DATABASE_USER):$(DATABASE_PASSWORD)@$(DATABASE_HOST):$(DATABASE_PORT)/$(DATABASE_NAME)",
    ),
    (
        "DATABASE_READ_URL",
        "postgres://$(DATABASE_USER):$(DATABASE_PASSWORD)@$(DATABASE_READ_HOST):$(DATABASE_PORT)/$(DATABASE_NAME)",
    ),
    ("REDIS_URL", "redis://:$(REDIS_CACHE_PASSWORD)@$(REDIS_CACHE_HOST):$(REDIS_PORT)/0"),
    (
        "CELERY_BROKER_URL",
        f"redis://:$(REDIS_BROKER_PASSWORD)@$(REDIS_BROKER_HOST):$(REDIS_PORT)/{CELERY_DATABASE}",
    ),
)
CHANNELS_URL: tuple[str, str] = (
    "CHANNELS_REDIS_URL",
    f"redis://:$(REDIS_BROKER_PASSWORD)@$(REDIS_BROKER_HOST):$(REDIS_PORT)/{CHANNEL_LAYER_DATABASE}",
)
"""The Channels layer's Redis (channels_redis `hosts: [env("CHANNELS_REDIS_URL")]`), composed like the others."""


def container_env(
    secrets: Mapping[str, SecretKeyRef],
    service_env: Sequence[tuple[str, str]],
    *,
    channels: bool = False,
    application: Mapping[str, SecretKeyRef] | None = None,
) -> list[k8s.core.v1.EnvVarArgsDict]:
    """A container's `env`: secret references first (the platform's, then the application's it lists), then the
    URLs built from them, then its own variables."""
    checked(secrets)
    env: list[k8s.core.v1.EnvVarArgsDict] = [
        {"name": variable, "value_from": {"secret_key_ref": {"name": ref.name, "key": ref.key}}}
        for variable, ref in [*sorted(secrets.items()), *sorted((application or {}).items())]
    ]
    variables = set(secrets)
    recipes = [*COMPOSED_URLS, *([CHANNELS_URL] if channels else [])]
    checked(name for name, _ in recipes)
    for name, recipe in recipes:
        # Only URLs whose password is present (an app without PostgreSQL would get a broken URL).
        if all(f"$({needed})" not in recipe for needed in _SECRET_VARIABLES - variables):
            env.append({"name": name, "value": recipe})
    env.extend({"name": name, "value": value} for name, value in service_env)
    return env


_SECRET_VARIABLES = frozenset({"DATABASE_PASSWORD", "REDIS_CACHE_PASSWORD", "REDIS_BROKER_PASSWORD"})
