"""Secrets: generated credentials, config secrets and the registry pull secret.

Generated with pulumi-random, each keyed on `secretsRotation` so that raising it replaces
every generated value: the Django SECRET_KEY, the database owner's password (where the stack
runs PostgreSQL), the two Redis passwords and the Grafana admin password. SMTP and registry
credentials and the application's own secrets (`appSecrets`, one Secret `crm-app-secrets`
keyed by variable name) come from stack config. Every value stays a Pulumi secret from its
source to the Kubernetes Secret, and each Kubernetes Secret has the type its consumers expect.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.shared.labels import with_component
from components.shared.references import AppSecret, SecretKeyRef

ROTATION_ANNOTATION = "crm-platform/secrets-rotation"

# Punctuation for the Django SECRET_KEY that stays literal wherever the key may end up: an
# unquoted shell word or assignment, a YAML plain scalar, a .env line (no #, quotes, $, ~,
# globs, brackets, ':' or '%').
DJANGO_KEY_SPECIALS = "-_.+="


@dataclass(frozen=True)
class GeneratedSecret:
    """How one generated value is made."""

    name: str
    """Names the RandomPassword resource (and so its URN)."""
    length: int
    """Characters; long enough that guessing is hopeless."""
    special: bool
    """Punctuation as well as letters and digits; off for values that end up in URLs."""


DJANGO_SECRET_KEY = GeneratedSecret("django-secret-key", 64, special=True)  # Django asks for >= 50
DATABASE_PASSWORD = GeneratedSecret("database-password", 32, special=False)
REDIS_CACHE_PASSWORD = GeneratedSecret("redis-cache-password", 32, special=False)
REDIS_BROKER_PASSWORD = GeneratedSecret("redis-broker-password", 32, special=False)
GRAFANA_ADMIN_PASSWORD = GeneratedSecret("grafana-admin-password", 32, special=False)
GENERATED = (DJANGO_SECRET_KEY, DATABASE_PASSWORD, REDIS_CACHE_PASSWORD, REDIS_BROKER_PASSWORD, GRAFANA_ADMIN_PASSWORD)

# Kubernetes Secret names, fixed so that workloads can refer to them.
DJANGO_SECRET = "crm-django"
DATABASE_SECRET = "crm-database-owner"
REDIS_CACHE_SECRET = "crm-redis-cache"
REDIS_BROKER_SECRET = "crm-redis-broker"
SMTP_SECRET = "crm-smtp"
REGISTRY_SECRET = "crm-registry"
APPLICATION_SECRET = "crm-app-secrets"
"""The application's own credentials (appSecrets), one key per environment variable name."""


@dataclass(frozen=True)
class SmtpCredentials:
    """Login of the SMTP relay; the host and port are not secret and go to the app's ConfigMap."""

    username: str
    """The SMTP user name."""
    password: pulumi.Output[str]
    """A Pulumi secret, from `pulumi config set --secret smtpPassword`."""


@dataclass(frozen=True)
class RegistryCredentials:
    """Login of the private image registry, for the image pull secret."""

    server: str
    """Registry host[:port], the key of the `auths` map."""
    username: str
    """The registry user name."""
    password: pulumi.Output[str]
    """A Pulumi secret, from `pulumi config set --secret registryPassword`."""


@dataclass(frozen=True)
class ApplicationSecrets:
    """The application's own credentials from stack config: their names, and their values as one Pulumi secret."""

    names: tuple[str, ...]
    """Environment variable names, known without the values (from the settings)."""
    values: pulumi.Output[Mapping[str, str]]
    """Name -> value, a Pulumi secret (read by `stacks.config_secrets()`)."""


@dataclass(frozen=True)
class SecretsArgs:
    app_namespace: pulumi.Input[str]
    """Namespace of the application's Secrets."""
    rotation: int
    """Generation of the generated values; changing it rotates them all."""
    database_owner: str | None
    """PostgreSQL role that owns the application database; None when the stack runs no PostgreSQL."""
    smtp: SmtpCredentials | None
    """SMTP login, or None when the stack sends no mail."""
    registry: RegistryCredentials | None
    """Registry login, or None when images are public."""
    labels: Mapping[str, str]
    """Common labels of the stack."""
    application: ApplicationSecrets | None = None
    """The application's own secrets (appSecrets), or None when it has none."""


def docker_config_json(server: str, username: str, password: str) -> str:
    """The `.dockerconfigjson` document of a `kubernetes.io/dockerconfigjson` Secret."""
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    return json.dumps({"auths": {server: {"username": username, "password": password, "auth": auth}}}, sort_keys=True)


@dataclass(frozen=True)
class AppSecrets:
    """The application's secrets, each read by the containers into one environment variable."""

    secret_key: AppSecret
    """Django's SECRET_KEY."""
    database_password: AppSecret | None
    """The database owner's password (DATABASE_PASSWORD); the backup pods read it too. None without PostgreSQL."""
    redis_cache_password: AppSecret
    """The cache Redis's password (REDIS_CACHE_PASSWORD); its servers read it too."""
    redis_broker_password: AppSecret
    """The broker Redis's password (REDIS_BROKER_PASSWORD); its servers read it too."""
    email_host_password: AppSecret | None
    """The SMTP password (EMAIL_HOST_PASSWORD), when the stack sends mail."""
    application: Mapping[str, AppSecret] = field(default_factory=dict)
    """The application's own secrets by variable name (appSecrets); each service reads those it lists."""

    def environment(self) -> dict[str, AppSecret]:
        """Environment variable -> platform secret, as every application container reads them."""
        variables = {
            "SECRET_KEY": self.secret_key,
            "REDIS_CACHE_PASSWORD": self.redis_cache_password,
            "REDIS_BROKER_PASSWORD": self.redis_broker_password,
        }
        if self.database_password is not None:
            variables["DATABASE_PASSWORD"] = self.database_password
        if self.email_host_password is not None:
            variables["EMAIL_HOST_PASSWORD"] = self.email_host_password
        return variables


class Secrets(pulumi.ComponentResource):
    """Generated and configured credentials as typed Kubernetes Secrets."""

    app: AppSecrets
    """The application's secrets, by purpose."""
    database_owner_secret: str | None
    """The basic-auth Secret CloudNativePG bootstraps and keeps the database owner from (None without PostgreSQL)."""
    grafana_admin_password: pulumi.Output[str]
    """Generated here with the others, so secretsRotation rotates it too; the monitoring area puts it where
    Grafana reads it (Grafana runs in the cluster's monitoring namespace, not the stack's)."""
    image_pull_secret: str | None
    """Name of the registry pull secret, when a registry is configured."""

    def __init__(self, name: str, args: SecretsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("crm:core:Secrets", name, None, opts)
        self._name = name
        self._args = args
        self._labels = with_component(args.labels, "secrets")

        generated = {
            spec.name: self._generate(spec)
            for spec in GENERATED
            if spec is not DATABASE_PASSWORD or args.database_owner is not None
        }
        django_secret_key = generated[DJANGO_SECRET_KEY.name]
        redis_cache_password = generated[REDIS_CACHE_PASSWORD.name]
        redis_broker_password = generated[REDIS_BROKER_PASSWORD.name]
        self.grafana_admin_password = generated[GRAFANA_ADMIN_PASSWORD.name]

        self._secret("django", DJANGO_SECRET, args.app_namespace, "Opaque", {"secret-key": django_secret_key})
        database_password = None
        if args.database_owner is not None:
            # CloudNativePG bootstraps the database owner from a basic-auth Secret.
            password = generated[DATABASE_PASSWORD.name]
            self._secret(
                "database-owner",
                DATABASE_SECRET,
                args.app_namespace,
                "kubernetes.io/basic-auth",
                {"username": args.database_owner, "password": password},
            )
            database_password = AppSecret(SecretKeyRef(DATABASE_SECRET, "password"), password)
        self._secret(
            "redis-cache", REDIS_CACHE_SECRET, args.app_namespace, "Opaque", {"password": redis_cache_password}
        )
        self._secret(
            "redis-broker", REDIS_BROKER_SECRET, args.app_namespace, "Opaque", {"password": redis_broker_password}
        )

        email_host_password = None
        if args.smtp is not None:
            self._secret(
                "smtp",
                SMTP_SECRET,
                args.app_namespace,
                "kubernetes.io/basic-auth",
                {"username": args.smtp.username, "password": args.smtp.password},
            )
            email_host_password = AppSecret(SecretKeyRef(SMTP_SECRET, "password"), args.smtp.password)

        application: dict[str, AppSecret] = {}
        if args.application is not None and args.application.names:
            values = args.application.values
            # One Secret for all of them: one object to rotate, audit and mount, each key a variable name.
            self._secret("application", APPLICATION_SECRET, args.app_namespace, "Opaque", values)
            application = {
                name: AppSecret(SecretKeyRef(APPLICATION_SECRET, name), _item(values, name))
                for name in args.application.names
            }

        self.database_owner_secret = DATABASE_SECRET if args.database_owner is not None else None
        self.app = AppSecrets(
            secret_key=AppSecret(SecretKeyRef(DJANGO_SECRET, "secret-key"), django_secret_key),
            database_password=database_password,
            redis_cache_password=AppSecret(SecretKeyRef(REDIS_CACHE_SECRET, "password"), redis_cache_password),
            redis_broker_password=AppSecret(SecretKeyRef(REDIS_BROKER_SECRET, "password"), redis_broker_password),
            email_host_password=email_host_password,
            application=application,
        )

        self.image_pull_secret = None
        if args.registry is not None:
            registry = args.registry
            config_json = registry.password.apply(
                lambda password: docker_config_json(registry.server, registry.username, password)
            )
            self._secret(
                "registry",
                REGISTRY_SECRET,
                args.app_namespace,
                "kubernetes.io/dockerconfigjson",
                {".dockerconfigjson": config_json},
            )
            self.image_pull_secret = REGISTRY_SECRET

        self.register_outputs({"image_pull_secret": self.image_pull_secret})

    def _generate(self, spec: GeneratedSecret) -> pulumi.Output[str]:
        password = random.RandomPassword(
            f"{self._name}-{spec.name}",
            length=spec.length,
            special=spec.special,
            override_special=DJANGO_KEY_SPECIALS if spec.special else None,
            min_lower=1,
            min_upper=1,
            min_numeric=1,
            min_special=1 if spec.special else 0,
            # A changed keeper replaces the RandomPassword, that is, generates a new value.
            keepers={"rotation": str(self._args.rotation)},
            opts=pulumi.ResourceOptions(parent=self),
        )
        return pulumi.Output.secret(password.result)

    def _secret(
        self,
        role: str,
        secret_name: str,
        namespace: pulumi.Input[str],
        secret_type: str,
        values: pulumi.Input[Mapping[str, pulumi.Input[str]]],
    ) -> k8s.core.v1.Secret:
        return k8s.core.v1.Secret(
            f"{self._name}-{role}",
            metadata={
                "name": secret_name,
                "namespace": namespace,
                "labels": self._labels,
                "annotations": {ROTATION_ANNOTATION: str(self._args.rotation)},
            },
            type=secret_type,
            # Wrapping the whole map keeps even the non-secret parts (user names) out of
            # plain state, and makes the secrecy independent of where each value came from.
            string_data=pulumi.Output.secret(values),
            opts=pulumi.ResourceOptions(parent=self),
        )


def _item(values: pulumi.Output[Mapping[str, str]], name: str) -> pulumi.Output[str]:
    """One value of a secret map, still a secret (an apply on a secret Output stays one)."""
    return pulumi.Output.secret(values.apply(lambda mapping: mapping[name]))
