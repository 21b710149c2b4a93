"""Build the validated settings of one stack from raw Pulumi config.

`build()` is pure: it takes the stack name, the config as Pulumi hands it to the program
(every value a string, arrays as JSON) and the set of keys stored as secrets. It collects
every problem before raising one `SettingsError`, so a stack file is fixed in one pass.
Secret values are checked for presence and storage here, but never kept: `Settings` holds
no secret. The values themselves are read as Pulumi secrets by `stacks.config_secrets()`.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
import shlex
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any, TypeVar

from kube import quantities
from kube.secret_names import may_hold_secret
from stacks import capacity, services, validation
from stacks.data import (
    MEDIA_ACCESS_MODES,
    AwsSettings,
    BackupSettings,
    DataSettings,
    MediaBucket,
    MediaSettings,
    MediaVolume,
    PostgresSettings,
    RedisSettings,
)
from stacks.errors import Problem, SettingsError
from stacks.model import (
    DJANGO_MIGRATION,
    AccessSettings,
    AppSettings,
    ClusterSettings,
    DnsChallengeSettings,
    EdgeSettings,
    MigrationSettings,
    NamespaceSettings,
    RegistrySettings,
    Settings,
    SmtpSettings,
)
from stacks.monitoring import (
    THRESHOLD_RANGES,
    AlertThresholds,
    BusinessMetric,
    MonitoringSettings,
    Receivers,
    threshold_keys,
)
from stacks.profiles import (
    DEPLOY_CHECK_LEVELS,
    ISSUERS,
    PROFILES,
    SELF_SIGNED_ISSUER,
    Environment,
    Profile,
    QuotaSettings,
    dns01_issuer,
    environment_for_stack,
)
from stacks.schema import KEYS, KEYS_BY_NAME, PROJECT, SECRET_KEY_NAMES, ConfigKey
from stacks.services import Release, Role, ServiceSettings
from stacks.validation import InvalidValueError

T = TypeVar("T")

# Stack names become the value of the `crm-platform/stack` label on every object.
_LABEL_VALUE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?")

# Keys of the kubernetes provider namespace that an explicit provider ignores.
_IGNORED_PROVIDER_KEYS = {
    "kubernetes:context": "kubeContext",
    "kubernetes:kubeconfig": "kubeconfig",
    "kubernetes:namespace": "appNamespace",
}


class _Reader:
    """Reads raw config key by key, recording a Problem instead of raising."""

    def __init__(self, stack: str, raw: Mapping[str, str], secret_keys: Collection[str]) -> None:
        self.stack = stack
        self.raw = raw
        self.secret_keys = set(secret_keys)
        self.problems: list[Problem] = []

    def text(self, name: str) -> str:
        """The raw value, or the project default the CLI would have written."""
        value = self.raw.get(KEYS_BY_NAME[name].full_name)
        return self.project_default(name) if value is None else value

    @staticmethod
    def project_default(name: str) -> str:
        """The key's project default as the CLI writes it: a non-string one as JSON (integers as text)."""
        default = KEYS_BY_NAME[name].default
        return default if isinstance(default, str) else json.dumps(default)

    def parse(self, name: str, parser: Callable[[str], T]) -> T:
        """The parsed value; when it is invalid, the problem is reported and the project default, parsed, stands in
        (build raises before using it: later checks only need a valid value, and the default lives in one place)."""
        value = self.text(name)
        try:
            return parser(value)
        except InvalidValueError as invalid:
            self.report(name, value, str(invalid))
            return parser(self.project_default(name))

    def optional(self, name: str, parser: Callable[[str], str]) -> str | None:
        """Empty when the key is unset, the parsed value when valid, None when invalid (reported)."""
        value = self.text(name)
        if not value:
            return ""
        try:
            return parser(value)
        except InvalidValueError as invalid:
            self.report(name, value, str(invalid))
            return None

    def each(self, name: str, parser: Callable[[str], str]) -> tuple[str, ...]:
        """Parse a string list, then every item, naming the item's index on failure."""
        items = self.parse(name, validation.string_list)
        parsed: list[str] = []
        for index, item in enumerate(items):
            try:
                parsed.append(parser(item))
            except InvalidValueError as invalid:
                self.report(f"{name}[{index}]", item, str(invalid))
        duplicates = sorted({item for item in parsed if parsed.count(item) > 1})
        if duplicates:
            self.report(name, self.text(name), f"lists {', '.join(duplicates)} more than once; allowed: each item once")
        return tuple(parsed)

    def report(self, key_path: str, value: str | None, message: str) -> None:
        self.add(f"{PROJECT}:{key_path}", value, message)

    def add(self, full_key: str, value: str | None, message: str) -> None:
        """Record a problem; the value is masked if the key is, or is stored as, a secret (a path into a secret
        object, `appSecrets.NAME`, included)."""
        base = full_key.split("[")[0]
        if base.startswith(f"{PROJECT}:"):
            base = base.split(".")[0]
        secret = base in self.secret_keys or base.removeprefix(f"{PROJECT}:") in SECRET_KEY_NAMES
        self.problems.append(Problem(key=full_key, value=value, message=message, secret=secret))

    def missing(self, name: str, message: str) -> None:
        self.problems.append(Problem(key=f"{PROJECT}:{name}", value=None, message=message))


def build(stack: str, raw: Mapping[str, str], secret_keys: Collection[str] = ()) -> Settings:
    """Validate raw Pulumi config for `stack` and return its settings.

    raw: full key (`crm-platform:smtpPort`) to string value, as the CLI passes config;
    keys of other namespaces are ignored. secret_keys: full keys stored as secrets.
    Raises SettingsError naming every problem.
    """
    reader = _Reader(stack, raw, secret_keys)
    if not _LABEL_VALUE.fullmatch(stack):
        reader.problems.append(
            Problem(
                key="stack name",
                value=stack,
                message="cannot be a Kubernetes label value; allowed: at most 63 letters, digits, "
                "'-', '_' and '.', starting and ending with a letter or digit",
            )
        )
    _check_key_names(reader)
    _check_secret_storage(reader)

    environment = _environment(reader)
    profile = PROFILES[environment or Environment.DEV]

    domain = _domain(reader, profile, stack)
    cluster = _cluster(reader, profile)
    namespaces = _namespaces(reader, profile, stack)
    quota = _quota(reader, profile)
    access = AccessSettings(
        deployer_groups=reader.each("deployerGroups", validation.group_name),
        read_only_groups=reader.each("readOnlyGroups", validation.group_name),
    )
    rotation = reader.parse("secretsRotation", lambda text: validation.integer(text, 0, 1_000_000))
    smtp = _smtp(reader, profile)
    registry = _registry(reader)
    egress_cidrs = reader.each("egressCidrs", validation.cidr)
    if smtp is not None and not egress_cidrs and reader.text("egressCidrs") in ("", "[]"):
        reader.missing(
            "egressCidrs",
            "the app must reach the SMTP relay (smtpHost) through its egress network policy; "
            "allowed: the relay's networks in CIDR form, e.g. [203.0.113.0/24]",
        )
    postgres = reader.parse("postgres", validation.tri_state) is not False
    egress_ports = _egress_ports(reader, cidrs=egress_cidrs)
    app = _app(reader, profile, postgres=postgres)
    edge = _edge(reader, profile, domain, frontend=app.service(Role.FRONTEND) is not None)
    hosted_zone_id = _hosted_zone_id(reader, profile, cluster, edge)
    # The stack's AWS account is needed for backups (with PostgreSQL), for a media bucket and for cert-manager's
    # Route53 role.
    media_to_s3 = profile.media_to_s3 and reader.text("media").strip().lower() != "false"
    data = _data(
        reader,
        profile,
        postgres=postgres,
        migrates=app.migration is not None,
        aws_required=media_to_s3 or hosted_zone_id is not None,
    )
    if hosted_zone_id is not None and edge.tenant_domain is not None and data.aws is not None:
        edge = replace(edge, dns_challenges=DnsChallengeSettings(hosted_zone_id, edge.tenant_domain, data.aws.region))
    media = _media(reader, profile, app)
    monitoring = _monitoring(reader, profile, smtp, domain)
    _check_quota_fits(reader, quota, app, data)

    if reader.problems or environment is None:
        raise SettingsError(stack, reader.problems)
    return Settings(
        project=PROJECT,
        stack=stack,
        environment=environment,
        domain=domain,
        cluster=cluster,
        namespaces=namespaces,
        quota=quota,
        access=access,
        secrets_rotation=rotation,
        smtp=smtp,
        registry=registry,
        egress_cidrs=egress_cidrs,
        egress_ports=egress_ports,
        app=app,
        edge=edge,
        data=data,
        media=media,
        strict_node_spread=profile.strict_node_spread,
        monitoring=monitoring,
    )


def _check_key_names(reader: _Reader) -> None:
    prefix = f"{PROJECT}:"
    for full_key in sorted(reader.raw):
        if full_key in _IGNORED_PROVIDER_KEYS:
            ours = _IGNORED_PROVIDER_KEYS[full_key]
            reader.add(
                full_key,
                reader.raw[full_key],
                "has no effect, as this program builds its own Kubernetes provider; "
                f"allowed: set {prefix}{ours} instead",
            )
            continue
        if not full_key.startswith(prefix):
            continue
        name = full_key[len(prefix) :]
        if name in KEYS_BY_NAME:
            continue
        # Best match first (difflib's default cutoff, 0.6); only the first is named.
        close = difflib.get_close_matches(name, list(KEYS_BY_NAME))
        allowed = (
            f"allowed: the keys declared in Pulumi.yaml; did you mean {prefix}{close[0]}?"
            if close
            else f"allowed keys: {', '.join(key.name for key in KEYS)}"
        )
        # A misspelt secret key most likely holds the secret: never show its value.
        looks_secret = bool(close and close[0] in SECRET_KEY_NAMES) or may_hold_secret(name)
        reader.problems.append(
            Problem(
                key=full_key,
                value=reader.raw[full_key],
                message=f"unknown key; {allowed}",
                secret=looks_secret or full_key in reader.secret_keys,
            )
        )


def _is_set(key: ConfigKey, text: str) -> bool:
    """Whether a key holds a value: an object key left at {} holds none."""
    return bool(text) and not (key.type == "object" and text.strip() in ("{}", "null"))


def _check_secret_storage(reader: _Reader) -> None:
    """Secrets must be stored encrypted; nothing else may be, or it would leak into plain objects."""
    for key in KEYS:
        stored_as_secret = key.full_name in reader.secret_keys
        if key.secret and not stored_as_secret and _is_set(key, reader.text(key.name)):
            how = (
                f"`pulumi config set --secret --path '{key.name}.<NAME>' <value> --stack {reader.stack}` for each "
                "of its values"
                if key.type == "object"
                else f"`pulumi config set --secret {key.name} <value> --stack {reader.stack}`"
            )
            reader.report(
                key.name, reader.text(key.name), f"is stored in plain text; allowed: an encrypted value, set with {how}"
            )
        if not key.secret and stored_as_secret:
            reader.add(
                key.full_name,
                reader.text(key.name),
                "is stored as a secret but is not one, and would reach plain objects; "
                f"allowed: a plain value (`pulumi config set {key.name} <value>`)",
            )


def _environment(reader: _Reader) -> Environment | None:
    text = reader.text("environment")
    allowed = ", ".join(environment.value for environment in Environment)
    implied = environment_for_stack(reader.stack)
    if text:
        try:
            chosen = Environment(text)
        except ValueError:
            reader.report("environment", text, f"unknown environment; allowed: {allowed}")
            return None
        if implied is not None and chosen is not implied:
            # A stack called production must get production's protections, whatever its file says.
            reader.report(
                "environment",
                text,
                f'stack "{reader.stack}" is always {implied.value}; allowed: "" or "{implied.value}" '
                "(use another stack name for another environment)",
            )
        return chosen
    if implied is None:
        reader.report(
            "environment",
            text,
            f'stack "{reader.stack}" implies no environment (only dev, staging, production and '
            f"pr-<number> do); allowed: {allowed}",
        )
    return implied


def _domain(reader: _Reader, profile: Profile, stack: str) -> str:
    domain = reader.optional("domain", validation.hostname)
    if domain is None:
        return ""  # pragma: no mutate stands in after a reported problem: build raises before the domain is used
    if not domain:
        if profile.domain is None:
            reader.missing(
                "domain",
                f"the {profile.environment.value} environment has no default domain; "
                f"allowed: your DNS domain, e.g. `pulumi config set domain crm.example.com --stack {stack}`",
            )
            return ""  # pragma: no mutate stands in after a reported problem: build raises before the domain is used
        domain = profile.domain
    if profile.environment is not Environment.REVIEW:
        return domain
    # Each review stack gets its own hosts under the staging domain: pr-42.staging.example.com.
    review_domain = f"{stack}.{domain}"
    try:
        return validation.hostname(review_domain)
    except InvalidValueError as invalid:
        reader.report("domain", domain, f"gives the review domain {review_domain}: {invalid}")
        return domain


def _cluster(reader: _Reader, profile: Profile) -> ClusterSettings:
    context = reader.optional("kubeContext", validation.kube_context)
    if context == "" and profile.requires_kube_context:
        reader.missing(
            "kubeContext",
            f"the {profile.environment.value} environment never deploys to whatever context is "
            f"current; allowed: a context from `kubectl config get-contexts`",
        )
    kubeconfig = reader.optional("kubeconfig", validation.file_path)
    owns_addons = reader.parse("clusterAddons", validation.tri_state)
    if owns_addons and profile.environment is Environment.REVIEW:
        reader.report(
            "clusterAddons",
            reader.text("clusterAddons"),
            "review stacks share the staging cluster and never install its add-ons; "
            'allowed: "false" or "" (probably copied from staging: remove it)',
        )
    return ClusterSettings(
        kubeconfig=kubeconfig or None,
        context=context or None,
        owns_addons=profile.owns_cluster_addons if owns_addons is None else owns_addons,
        addon_replicas=profile.addon_replicas,
        ingress_load_balancer=profile.ingress_load_balancer,
    )


def _namespaces(reader: _Reader, profile: Profile, stack: str) -> NamespaceSettings:
    names = {}
    for key, suffix in (("appNamespace", ""), ("monitoringNamespace", "-monitoring")):
        given = reader.optional(key, validation.dns_label)
        if given and profile.environment is Environment.REVIEW:
            reader.report(
                key,
                given,
                f'review stacks get their own namespaces (crm-{stack}{suffix}); allowed: "" '
                "(probably copied from staging: remove it)",
            )
        if given:
            _check_namespace_is_ours(reader, key, given, stack)
        derived = f"crm-{stack}{suffix}"
        if given == "":
            try:
                validation.dns_label(derived)
            except InvalidValueError:
                reader.report(
                    key,
                    "",
                    f'the name derived from stack "{stack}" ({derived}) is not a valid namespace '
                    "name; allowed: set it explicitly to a lower-case DNS label of at most 63 characters",
                )
        names[key] = given or derived
    if names["appNamespace"] == names["monitoringNamespace"]:
        reader.report(
            "monitoringNamespace",
            names["monitoringNamespace"],
            "is the same as appNamespace; allowed: a different namespace",
        )
    return NamespaceSettings(
        app=names["appNamespace"],
        monitoring=names["monitoringNamespace"],
        protect=profile.protect_namespaces,
    )


_SYSTEM_NAMESPACES = ("default",)


def _check_namespace_is_ours(reader: _Reader, key: str, name: str, stack: str) -> None:
    """Refuse namespaces that belong to Kubernetes or to another environment's stack."""
    if name in _SYSTEM_NAMESPACES or name.startswith("kube-"):
        reader.report(key, name, "belongs to Kubernetes; allowed: a namespace of this stack's own, such as crm-<stack>")
        return
    for other in (Environment.DEV, Environment.STAGING, Environment.PRODUCTION):
        if other.value != stack and name in (f"crm-{other.value}", f"crm-{other.value}-monitoring"):
            reader.report(
                key, name, f"is the {other.value} stack's namespace; allowed: a namespace of this stack's own"
            )


def _quota(reader: _Reader, profile: Profile) -> QuotaSettings:
    defaults = profile.quota
    cpu_requests = reader.text("quotaCpuRequests") or defaults.cpu_requests
    cpu_limits = reader.text("quotaCpuLimits") or defaults.cpu_limits
    memory_requests = reader.text("quotaMemoryRequests") or defaults.memory_requests
    memory_limits = reader.text("quotaMemoryLimits") or defaults.memory_limits

    def quantity(name: str, text: str, parser: Callable[[str], Decimal]) -> Decimal | None:
        try:
            return parser(text)
        except InvalidValueError as invalid:
            reader.report(name, text, str(invalid))
            return None

    for requests_key, requests, limits_key, limits, parser in (
        ("quotaCpuRequests", cpu_requests, "quotaCpuLimits", cpu_limits, validation.cpu_quantity),
        ("quotaMemoryRequests", memory_requests, "quotaMemoryLimits", memory_limits, validation.memory_quantity),
    ):
        requested = quantity(requests_key, requests, parser)
        limited = quantity(limits_key, limits, parser)
        if requested is not None and limited is not None and limited < requested:
            reader.report(
                limits_key,
                limits,
                f"is below {requests_key} ({requests}); allowed: a limit at least as large as the requests",
            )
    pods = reader.parse("quotaPods", lambda text: validation.integer(text, 0, 10_000))
    return QuotaSettings(
        cpu_requests=cpu_requests,
        cpu_limits=cpu_limits,
        memory_requests=memory_requests,
        memory_limits=memory_limits,
        pods=pods or defaults.pods,
    )


def _smtp(reader: _Reader, profile: Profile) -> SmtpSettings | None:
    host = reader.optional("smtpHost", validation.hostname)
    port = reader.parse("smtpPort", lambda text: validation.integer(text, 1, 65535))
    # Reports a bad user name (build then stops); a valid one is the text itself, which the settings keep.
    reader.optional("smtpUsername", validation.user_name)
    username = reader.text("smtpUsername")
    if not host:
        if host == "" and profile.requires_email:
            reader.missing(
                "smtpHost",
                f"the {profile.environment.value} environment sends mail (password resets, "
                "notifications); allowed: your SMTP relay's host name",
            )
        return None
    if not username:
        reader.missing("smtpUsername", "required when smtpHost is set; allowed: the SMTP user name")
    if not reader.text("smtpPassword"):
        reader.missing(
            "smtpPassword",
            "required secret when smtpHost is set; set it with "
            f"`pulumi config set --secret smtpPassword <value> --stack {reader.stack}`",
        )
    return SmtpSettings(host=host, port=port, username=username)


def _registry(reader: _Reader) -> RegistrySettings | None:
    server = reader.optional("registryServer", validation.host_with_optional_port)
    if not server:
        return None
    # Reports a bad user name (build then stops); a valid one is the text itself, which the settings keep.
    reader.optional("registryUsername", validation.registry_user_name)
    username = reader.text("registryUsername")
    if not username:
        reader.missing("registryUsername", "required when registryServer is set; allowed: the registry user name")
    if not reader.text("registryPassword"):
        reader.missing(
            "registryPassword",
            "required secret when registryServer is set; set it with "
            f"`pulumi config set --secret registryPassword <token> --stack {reader.stack}`",
        )
    return RegistrySettings(server=server, username=username)


def _app(reader: _Reader, profile: Profile, *, postgres: bool) -> AppSettings:
    def report(path: str, value: object, message: str) -> None:
        reader.report(path, value if isinstance(value, str) or value is None else json.dumps(value), message)

    django_project = reader.parse("djangoProject", validation.python_module)
    settings_module = reader.optional("djangoSettingsModule", validation.python_module)
    app_image = reader.optional("appImage", services.image_reference)
    if app_image == "":
        reader.missing(
            "appImage",
            "every stack runs the Django application; allowed: its image with a pinned tag, e.g. "
            f"`pulumi config set appImage ghcr.io/acme/crm-backend:2.4.1 --stack {reader.stack}`",
        )
    frontend_image = reader.optional("frontendImage", services.image_reference)
    secret_names = _app_secret_names(reader, postgres=postgres)
    overrides = services.services_object(reader.text("services"), report)
    web_image = app_image or ""  # pragma: no mutate stands in after appImage's problem: build raises before use
    defaults = services.default_services(django_project, web_image, frontend_image or "")
    context = services.ServiceContext(django_project=django_project, app_secrets=secret_names, postgres=postgres)

    resolved: list[ServiceSettings] = []
    for role in Role:
        role_overrides = overrides.get(role.value, {})
        default_on = role is not Role.FRONTEND or bool(frontend_image or role_overrides.get("image"))
        runs = role is Role.WEB or services.enabled(role, role_overrides, default_on, report)
        # Resolved even when off, so a mistake in a disabled service is still reported.
        service = services.resolve_service(defaults[role], profile.scales[role], role_overrides, report, context)
        if not runs:
            continue
        if role is Role.FRONTEND and not service.image:
            report(
                "services.frontend.enabled",
                True,
                "a frontend needs an image; allowed: set frontendImage (or services.frontend.image)",
            )
        else:
            resolved.append(service)
    candidate, candidate_percent = _candidate(reader, resolved[0])
    return AppSettings(
        django_project=django_project,
        django_settings_module=settings_module or f"{django_project}.settings",
        services=tuple(resolved),
        secret_names=secret_names,
        migration=_migration(reader, profile),
        candidate=candidate,
        candidate_traffic_percent=candidate_percent,
    )


def _app_secret_names(reader: _Reader, *, postgres: bool) -> tuple[str, ...]:
    """The names in appSecrets, checked; their values stay out of the settings (`stacks.config_secrets()` reads
    them as Pulumi secrets), and no message ever shows one."""
    how = f"each set with `pulumi config set --secret --path 'appSecrets.<NAME>' <value> --stack {reader.stack}`"
    names: list[str] = []
    for name, value in sorted(_json_object(reader, "appSecrets", f"allowed: NAME: value pairs, {how}").items()):
        path = f"appSecrets.{name}"
        if not services.ENV_NAME.fullmatch(name):
            reader.report(
                path,
                "",
                "is not an environment variable name; allowed: letters, digits and _, not starting with a digit",
            )
        elif services.shadows_platform(name, postgres=postgres):
            database = name.startswith("DATABASE_") or name == "PGOPTIONS"
            reader.report(
                path,
                "",
                "is a name the platform sets or reserves (SECRET_KEY, DATABASE_*, REDIS_*, CELERY_BROKER_URL, "
                "EMAIL_*, the ConfigMap's settings); allowed: a name of your own"
                + (', or `postgres: "false"` to bring your own database' if database else ""),
            )
        elif not isinstance(value, str) or not value:
            reader.report(path, "", f"is not a text value; allowed: a non-empty string, {how}")
        else:
            names.append(name)
    return tuple(names)


_SHELL_OPERATORS = frozenset({"&&", "||", ";", "|", "&", ">", ">>", "<", "2>", "2>&1"})


def _migration(reader: _Reader, profile: Profile) -> MigrationSettings | None:
    text = reader.text("migrationCommand")
    command: tuple[str, ...] | None
    if text == "none":
        command = None
    elif not text:
        command = DJANGO_MIGRATION
    else:
        try:
            command = tuple(shlex.split(text))
        except ValueError:
            reader.report(
                "migrationCommand",
                text,
                'not a command line (unbalanced quotes); allowed: e.g. "python migrate_database.py"',
            )
            command = DJANGO_MIGRATION
        operators = sorted(set(command) & _SHELL_OPERATORS)
        if not command or operators:
            reader.report(
                "migrationCommand",
                text,
                (
                    f"uses the shell operator {operators[0]}, but the command runs without a shell; "
                    if operators
                    else "is blank; "
                )
                + 'allowed: one program and its arguments, e.g. "python migrate_database.py", or '
                '`sh -c "<commands>"` (the image\'s shell), "" for Django\'s migrate, "none" for no migration Job',
            )
            command = DJANGO_MIGRATION
    level_text = reader.text("deployChecks")
    level = profile.deploy_check_level
    if level_text == "off":
        level = None
    elif level_text in DEPLOY_CHECK_LEVELS:
        level = level_text
    elif level_text:
        reader.report(
            "deployChecks",
            level_text,
            f"unknown level; allowed: {', '.join(DEPLOY_CHECK_LEVELS)} (`manage.py check --fail-level`), off, "
            'or "" for the profile\'s',
        )
    if command is None:
        if level_text not in ("", "off"):
            reader.report(
                "deployChecks",
                level_text,
                'runs in the migration Job, which migrationCommand "none" leaves out; allowed: "off" or ""',
            )
        return None
    return MigrationSettings(command=command, deploy_check_level=level)


def _candidate(reader: _Reader, web: ServiceSettings) -> tuple[ServiceSettings | None, int]:
    """The release candidate beside web, and its share of the API's requests."""
    image = reader.optional("candidateImage", services.image_reference)
    percent = reader.parse("candidateTrafficPercent", lambda text: validation.integer(text, 0, 100))
    if not image:
        if image == "" and percent:
            reader.report(
                "candidateTrafficPercent",
                str(percent),
                'sends requests to a candidate, but candidateImage is ""; allowed: 0, or set candidateImage to the '
                "release candidate's pinned image",
            )
    elif web.image and image == web.image:
        reader.report(
            "candidateImage",
            image,
            "is the image web already runs; allowed: another version of the application (the next tag or digest), "
            'or "" once it is released',
        )
    else:
        return replace(web, image=image, release=Release.CANDIDATE), percent
    return None, 0


def _egress_ports(reader: _Reader, *, cidrs: tuple[str, ...]) -> tuple[int, ...]:
    text = reader.text("egressPorts")
    allowed = "allowed: a list of TCP ports from 1 to 65535, e.g. [27017]"
    decoded = _json_value(text, empty=[])
    if not isinstance(decoded, list):
        reader.report("egressPorts", text, f"not a list; {allowed}")
        return ()
    ports: list[int] = []
    for index, item in enumerate(decoded):
        try:
            # A boolean is no port 1: str(True) is "True", which is no integer either.
            port = validation.integer(str(item), 1, 65535)
        except InvalidValueError:
            port = None
        if port is None:
            reader.report(f"egressPorts[{index}]", json.dumps(item), f"not a port; {allowed}")
        elif port in ports:
            reader.report(f"egressPorts[{index}]", str(port), "is listed twice; allowed: each port once")
        else:
            ports.append(port)
    if ports and not cidrs:
        reader.report(
            "egressPorts",
            text,
            "opens ports towards egressCidrs, which is empty; allowed: set egressCidrs to the networks those ports "
            "are on (your database's), or []",
        )
    return tuple(ports)


def _edge(reader: _Reader, profile: Profile, domain: str, *, frontend: bool) -> EdgeSettings:
    api_host = reader.optional("apiHost", validation.hostname) or f"api.{domain}"
    app_host = reader.optional("appHost", validation.hostname) or f"app.{domain}"
    if frontend and api_host == app_host:
        reader.report("appHost", app_host, "is the same as apiHost; allowed: a different host for the frontend")
    issuer = reader.text("tlsIssuer") or profile.tls_issuer
    if issuer not in ISSUERS:
        reader.report("tlsIssuer", issuer, f"unknown issuer; allowed: {', '.join(ISSUERS)}")
    acme_email = reader.optional("acmeEmail", validation.email)
    websocket_paths = reader.each("websocketPaths", validation.url_path_prefix)
    tenant_domain = _tenant_domain(
        reader, profile, {"apiHost": api_host, **({"appHost": app_host} if frontend else {})}
    )
    tenant_issuer = None
    if tenant_domain is not None and issuer in ISSUERS:
        if issuer == SELF_SIGNED_ISSUER:
            tenant_issuer = issuer
        elif profile.dns01_tenant_certificates:
            tenant_issuer = dns01_issuer(issuer)
        else:
            reader.report(
                "tlsIssuer",
                issuer,
                f"cannot issue the tenant wildcard (tenantDomain) in the {profile.environment.value} environment: "
                "HTTP-01 cannot prove a wildcard, and it has no AWS account for DNS-01; allowed: selfsigned, or "
                'tenantDomain ""',
            )
    return EdgeSettings(
        api_host=api_host,
        app_host=app_host if frontend else None,
        tls_issuer=issuer,
        acme_email=acme_email or None,
        websocket_paths=websocket_paths,
        hsts=profile.hsts,
        tenant_domain=tenant_domain,
        tenant_issuer=tenant_issuer,
    )


def _tenant_domain(reader: _Reader, profile: Profile, hosts: Mapping[str, str]) -> str | None:
    """The domain whose one-label subdomains are tenants (review stacks: pr-<n>.<tenantDomain>); None: no tenants.

    It may neither be nor contain the stack's other hosts: `api.<tenantDomain>` would be a tenant too, and one
    host would have two routes and two certificates."""
    given = reader.optional("tenantDomain", validation.hostname)
    if not given:
        return None
    tenant_domain = given
    if profile.environment is Environment.REVIEW:
        # Each review stack gets its own tenants under the staging tenant domain: acme.pr-42.tenants.example.com.
        derived = f"{reader.stack}.{given}"
        try:
            tenant_domain = validation.hostname(derived)
        except InvalidValueError as invalid:
            reader.report("tenantDomain", given, f"gives the review tenant domain {derived}: {invalid}")
            return None
    for key, host in hosts.items():
        if host == tenant_domain or host.endswith(f".{tenant_domain}"):
            relation = "is" if host == tenant_domain else "contains"
            reader.report(
                "tenantDomain",
                given,
                f"{relation} {key} ({host}), which would then be routed and certified twice, as a tenant and as "
                f"itself; allowed: a domain of the tenants' own that is not, and does not contain, {key}, e.g. "
                f"tenants.{host.split('.', 1)[1] if '.' in host else host}",
            )
            return None
    return tenant_domain


def _hosted_zone_id(reader: _Reader, profile: Profile, cluster: ClusterSettings, edge: EdgeSettings) -> str | None:
    """The Route53 zone of the DNS-01 challenges, when this stack makes the cluster's DNS-01 issuers and role (the
    add-on owner with a tenant domain); None otherwise. Elsewhere the key is checked, then unused (review stacks
    copy it from staging)."""
    zone = reader.optional("dnsHostedZoneId", validation.route53_zone_id)
    if zone is None:
        return None
    if not profile.dns01_tenant_certificates:
        if zone:
            reader.report(
                "dnsHostedZoneId",
                zone,
                f"has no effect: the {profile.environment.value} environment has no AWS account and issues tenant "
                'certificates from the self-signed issuer; allowed: "" (remove it)',
            )
        return None
    tenant_text = reader.text("tenantDomain")
    if zone and not tenant_text:
        reader.report(
            "dnsHostedZoneId",
            zone,
            'names the zone of the tenant certificates\' DNS-01 challenges, and tenantDomain is ""; allowed: "", or '
            "set tenantDomain to the domain of the tenants' hosts",
        )
        return None
    if not cluster.owns_addons or edge.tenant_domain is None:
        return None
    if not zone:
        reader.missing(
            "dnsHostedZoneId",
            f"this stack installs cert-manager and serves tenant hosts under {edge.tenant_domain}, whose wildcard "
            "certificate only DNS-01 can prove, in the Route53 hosted zone holding its records; allowed: that "
            f"zone's ID, e.g. `pulumi config set dnsHostedZoneId Z0123456789ABCDEFGHIJ --stack {reader.stack}`",
        )
        return None
    return zone


def _cpu(millicores: Decimal) -> str:
    return f"{quantities.format_cores(millicores)} CPU"


def _check_quota_fits(reader: _Reader, quota: QuotaSettings, app: AppSettings, data: DataSettings) -> None:
    """Refuse sizes the namespace's ResourceQuota would stop at scale-up or during a rollout."""
    if reader.problems:
        return  # sizes or quota are already wrong; their own problems say so
    peak = capacity.peak_usage(app, data)
    checks = (
        ("quotaPods", Decimal(quota.pods), Decimal(peak.pods), str),
        ("quotaCpuRequests", quantities.cpu_millicores(quota.cpu_requests), peak.cpu_requests, _cpu),
        ("quotaCpuLimits", quantities.cpu_millicores(quota.cpu_limits), peak.cpu_limits, _cpu),
        (
            "quotaMemoryRequests",
            quantities.memory_bytes(quota.memory_requests),
            peak.memory_requests,
            quantities.format_gibibytes,
        ),
        (
            "quotaMemoryLimits",
            quantities.memory_bytes(quota.memory_limits),
            peak.memory_limits,
            quantities.format_gibibytes,
        ),
    )
    for key, allowed, needed, shown in checks:
        if needed > allowed:
            reader.report(
                key,
                reader.text(key) if reader.text(key) not in ("", "0") else f"{shown(allowed)} (profile)",
                f"is below the {shown(needed)} the services need at maximum scale during a rolling "
                "update, with the migration Job, the Celery exporter, PostgreSQL, Redis and the backup jobs; "
                "allowed: a larger quota, or smaller services",
            )


def _size(reader: _Reader, name: str, parser: Callable[[str], Decimal], default: str) -> str:
    text = reader.text(name) or default
    try:
        parser(text)
    except InvalidValueError as invalid:
        reader.report(name, text, str(invalid))
    return text


def _count(reader: _Reader, name: str, maximum: int, default: int) -> int:
    return reader.parse(name, lambda text: validation.integer(text, 0, maximum)) or default


def _minimum_rows(reader: _Reader) -> dict[str, int]:
    text = reader.text("restoreMinimumRows")
    allowed = 'allowed: a mapping of table name to the fewest rows, e.g. {"crm_contact": 1000}'
    decoded = _json_value(text, empty={})
    if not isinstance(decoded, dict):
        reader.report("restoreMinimumRows", text, f"not a mapping; {allowed}")
        return {}
    rows: dict[str, int] = {}
    for table, minimum in sorted(decoded.items()):
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}(\.[a-z_][a-z0-9_]{0,62})?", table):
            reader.report(f"restoreMinimumRows.{table}", json.dumps(minimum), f"not a table name; {allowed}")
        elif isinstance(minimum, bool) or not isinstance(minimum, int) or minimum < 0:
            reader.report(f"restoreMinimumRows.{table}", json.dumps(minimum), f"not a row count; {allowed}")
        else:
            rows[table] = minimum
    return rows or {"django_migrations": 1}


def _data(reader: _Reader, profile: Profile, *, postgres: bool, migrates: bool, aws_required: bool) -> DataSettings:
    defaults = profile.postgres
    instances = _count(reader, "postgresInstances", 9, defaults.instances)
    if postgres and profile.environment is Environment.PRODUCTION and instances < 3:
        reader.report(
            "postgresInstances",
            str(instances),
            "production keeps a primary and two replicas on three nodes; allowed: 3 or more",
        )
    database = PostgresSettings(
        instances=instances,
        cpu=_size(reader, "postgresCpu", validation.cpu_quantity, defaults.cpu),
        memory=_size(reader, "postgresMemory", validation.memory_quantity, defaults.memory),
        storage=_size(reader, "postgresStorage", validation.memory_quantity, defaults.storage),
        wal_storage=_size(reader, "postgresWalStorage", validation.memory_quantity, defaults.wal_storage),
        pooler_instances=_count(reader, "poolerInstances", 20, defaults.pooler_instances),
        wal_archiving=defaults.wal_archiving,
    )
    try:
        if validation.memory_quantity(database.memory) < 512 * 2**20:
            reader.report("postgresMemory", database.memory, "is too small for PostgreSQL; allowed: 512Mi or more")
    except InvalidValueError:
        pass  # not a size at all: _size has reported it
    redis = RedisSettings(
        cache_memory=_size(reader, "redisCacheMemory", validation.memory_quantity, profile.redis.cache_memory),
        broker_memory=_size(reader, "redisBrokerMemory", validation.memory_quantity, profile.redis.broker_memory),
        broker_storage=_size(reader, "redisBrokerStorage", validation.memory_quantity, profile.redis.broker_storage),
        replicas=profile.redis.replicas,
    )
    backups = BackupSettings(
        schedule=reader.parse("backupSchedule", validation.cron_schedule),
        restore_test_schedule=reader.parse("restoreTestSchedule", validation.cron_schedule),
        retention_days=reader.parse("backupRetentionDays", lambda text: validation.integer(text, 0, 3650)) or 30,
        minimum_rows=_minimum_rows(reader),
        # The bucket's lock and the backup before each migration exist only with a database to back up.
        object_lock=profile.object_lock and postgres,
        pre_migration_backup=profile.pre_migration_backup and postgres and migrates,
    )
    storage_class = reader.optional("storageClass", validation.storage_class_name)
    return DataSettings(
        postgres=database if postgres else None,
        redis=redis,
        backups=backups,
        aws=_aws(reader, profile, backups=postgres, uploads=aws_required),
        storage_class=storage_class or None,
    )


def _aws(reader: _Reader, profile: Profile, *, backups: bool, uploads: bool) -> AwsSettings | None:
    """The AWS account backups and uploads go to; without PostgreSQL and without a media bucket (nothing to keep in
    S3) only when the stack names one."""
    required = backups or uploads
    kept, keeper = ("backups", "the backup jobs") if backups else ("uploads", "the upload handlers")
    # A profile with media_to_s3 has backups_to_s3 too (profiles.py; test_media_settings checks every profile).
    if not profile.backups_to_s3:
        return None
    region = reader.optional("awsRegion", validation.aws_region)
    oidc = reader.optional("oidcProviderArn", validation.oidc_provider_arn)
    kms = reader.optional("backupKmsKeyArn", validation.kms_key_arn)
    if required and region == "":
        reader.missing(
            "awsRegion",
            f"the {profile.environment.value} environment keeps its {kept} in S3; allowed: the bucket's "
            "region, e.g. eu-west-1",
        )
    if required and oidc == "":
        reader.missing(
            "oidcProviderArn",
            f"{keeper} reach S3 through an IAM role trusted by the cluster's OIDC provider; allowed: "
            "its ARN (`aws iam list-open-id-connect-providers`)",
        )
    if not (region and oidc):
        return None  # not needed and not named in full, or a problem above stops the build
    return AwsSettings(region=region, oidc_provider_arn=oidc, kms_key_arn=kms or None)


DEFAULT_MEDIA_SERVICES = (Role.WEB, Role.WORKER)
"""The services that handle uploads unless mediaServices names others: Django serves and stores them, Celery tasks
process them (thumbnails, imports, exports)."""


def _media(reader: _Reader, profile: Profile, app: AppSettings) -> MediaSettings | None:
    """Where uploads live (the profile's S3 bucket or a volume) and which services handle them; None when off.

    Every key is checked even when media is off, so a mistake shows before it is switched on."""
    enabled = reader.parse("media", validation.boolean)
    path = reader.parse("mediaPath", validation.directory)
    bucket = MediaBucket(
        prefix=reader.parse("mediaPrefix", validation.s3_key_prefix),
        noncurrent_days=reader.parse("mediaNoncurrentDays", lambda text: validation.integer(text, 1, 3650)),
        kms_key_arn=reader.optional("mediaKmsKeyArn", validation.kms_key_id_arn) or None,
        egress_cidrs=reader.each("mediaEgressCidrs", validation.cidr),
    )
    volume = _media_volume(reader, profile)
    services = _media_services(reader, app)
    if not enabled:
        return None
    if volume is not None:
        _check_media_volume_sharing(reader, app, services, path)
    return MediaSettings(
        services=services,
        path=path,
        bucket=bucket if profile.media_to_s3 else None,
        volume=volume,
    )


def _media_volume(reader: _Reader, profile: Profile) -> MediaVolume | None:
    defaults = profile.media_volume
    if defaults is None:
        for key in ("mediaStorage", "mediaAccessMode"):
            if reader.text(key):
                reader.report(
                    key,
                    reader.text(key),
                    f"has no effect: the {profile.environment.value} environment keeps uploads in its S3 media "
                    'bucket; allowed: "" (remove it)',
                )
        return None
    size = _size(reader, "mediaStorage", validation.memory_quantity, defaults.size)
    access_mode = reader.text("mediaAccessMode") or defaults.access_mode
    if access_mode not in MEDIA_ACCESS_MODES:
        reader.report(
            "mediaAccessMode",
            access_mode,
            "unknown access mode; allowed: ReadWriteOnce (the media services then share a node) or ReadWriteMany "
            "(if the storageClass offers it)",
        )
    return MediaVolume(size=size, access_mode=access_mode)


def _media_services(reader: _Reader, app: AppSettings) -> tuple[Role, ...]:
    running = [service.role for service in app.services]
    shown_running = ", ".join(role.value for role in running)
    names = reader.parse("mediaServices", validation.string_list)
    if not names:
        return tuple(role for role in DEFAULT_MEDIA_SERVICES if role in running)
    chosen: set[Role] = set()
    for index, name in enumerate(names):
        try:
            role = Role(name)
        except ValueError:
            reader.report(
                f"mediaServices[{index}]", name, f"not a service; allowed: {', '.join(role.value for role in Role)}"
            )
            continue
        if role not in running:
            reader.report(
                f"mediaServices[{index}]",
                name,
                f"does not run in this stack; allowed: a service that runs ({shown_running})",
            )
        elif role in chosen:
            reader.report(f"mediaServices[{index}]", name, "is listed twice; allowed: each service once")
        chosen.add(role)
    return tuple(role for role in running if role in chosen)


def _check_media_volume_sharing(reader: _Reader, app: AppSettings, services: tuple[Role, ...], path: str) -> None:
    """The services sharing the media volume can all write it, and nothing else is mounted where it goes."""
    sharing = [service for service in app.services if service.role in services]
    if not sharing:
        return
    first = sharing[0]
    names = ", ".join(service.role.value for service in sharing)
    for service in sharing[1:]:
        if service.run_as_user != first.run_as_user:
            reader.report(
                f"services.{service.role.value}.runAsUser",
                str(service.run_as_user),
                f"differs from {first.role.value}'s {first.run_as_user}, and the services sharing the media volume "
                f"({names}) must write it as one user and group (fsGroup); allowed: {first.run_as_user}",
            )
    for service in sharing:
        if path in service.writable_paths:
            reader.report(
                f"services.{service.role.value}.writablePaths",
                path,
                "is where the media volume is mounted (mediaPath); allowed: another directory, or another mediaPath",
            )


def _monitoring(reader: _Reader, profile: Profile, smtp: SmtpSettings | None, domain: str) -> MonitoringSettings:
    defaults = profile.monitoring
    retention = reader.text("prometheusRetention") or defaults.prometheus_retention
    retention_size = reader.text("prometheusRetentionSize") or defaults.prometheus_retention_size
    storage = reader.text("prometheusStorage") or defaults.prometheus_storage
    reported = len(reader.problems)
    for key, text, parser in (
        ("prometheusRetention", retention, validation.prometheus_retention),
        ("prometheusStorage", storage, validation.memory_quantity),
        ("prometheusRetentionSize", retention_size, validation.byte_size),
    ):
        try:
            parser(text)
        except InvalidValueError as invalid:
            reader.report(key, text, str(invalid))
    if len(reader.problems) == reported:
        volume = quantities.memory_bytes(storage)
        # Compaction writes a new block before it deletes the old ones: samples up to the whole volume
        # would leave it no room, and Prometheus stops ingesting when its disk is full.
        if validation.byte_size(retention_size) > volume * Decimal("0.9"):
            reader.report(
                "prometheusRetentionSize",
                retention_size,
                f"leaves no room on the {storage} volume (prometheusStorage) for compaction and the WAL; "
                "allowed: at most 90 % of prometheusStorage (Prometheus counts GB in GiB)",
            )
    managed = reader.parse("managedControlPlane", validation.tri_state)
    email_to = reader.each("alertEmailTo", validation.email)
    email_from = reader.optional("alertEmailFrom", validation.email)
    if email_to and smtp is None:
        reader.report(
            "alertEmailTo",
            reader.text("alertEmailTo"),
            "alert mail goes through the stack's SMTP relay, and none is set; allowed: [] or set smtpHost, "
            "smtpUsername and smtpPassword",
        )
    credentials = {}
    for key in ("alertChatWebhookUrl", "alertPagerRoutingKey", "alertDatabaseChatWebhookUrl"):
        credentials[key] = bool(reader.optional(key, validation.single_token))
    if credentials["alertDatabaseChatWebhookUrl"] and not credentials["alertChatWebhookUrl"]:
        reader.missing(
            "alertChatWebhookUrl",
            "the database team's webhook (alertDatabaseChatWebhookUrl) takes the database alerts from the "
            "team chat, and there is none; allowed: set it with "
            f"`pulumi config set --secret alertChatWebhookUrl <url> --stack {reader.stack}`",
        )
    receivers = Receivers(
        chat=credentials["alertChatWebhookUrl"],
        pager=credentials["alertPagerRoutingKey"],
        database_team=credentials["alertDatabaseChatWebhookUrl"],
        email_to=email_to,
        pages=defaults.pages,
        email_smarthost=f"{smtp.host}:{smtp.port}" if email_to and smtp else "",
        email_username=smtp.username if email_to and smtp else "",
        email_from=(email_from or f"alertmanager@{domain}") if email_to else "",
    )
    return MonitoringSettings(
        prometheus_retention=retention,
        prometheus_retention_size=retention_size,
        prometheus_storage=storage,
        alertmanager_replicas=defaults.alertmanager_replicas,
        managed_control_plane=defaults.managed_control_plane if managed is None else managed,
        thresholds=_thresholds(reader),
        receivers=receivers,
        business_metrics=_business_metrics(reader),
    )


def _json_value(text: str, *, empty: object) -> object:
    """The JSON value of a key's text (`pulumi config` hands objects and lists over as JSON); `empty` for a key set
    to nothing; None when the text is not JSON, which the caller refuses like any value of the wrong type."""
    if not text:
        return empty
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _json_object(reader: _Reader, name: str, allowed: str) -> dict[str, object]:
    text = reader.text(name)
    decoded = _json_value(text, empty={})
    if not isinstance(decoded, dict):
        reader.report(name, text, f"not an object; {allowed}")
        return {}
    return decoded


def _thresholds(reader: _Reader) -> AlertThresholds:
    keys = threshold_keys()
    allowed_keys = ", ".join(keys)
    given = _json_object(reader, "alertThresholds", f"allowed: a mapping of any of {allowed_keys} to a number")
    defaults = AlertThresholds()
    chosen: dict[str, Any] = {}
    for key, value in given.items():
        path = f"alertThresholds.{key}"
        shown = value if isinstance(value, str) else json.dumps(value)
        if key not in keys:
            close = difflib.get_close_matches(key, list(keys))  # best first; only the first is named
            hint = f"did you mean {close[0]}? " if close else ""
            reader.report(path, shown, f"unknown threshold; {hint}allowed: {allowed_keys}")
            continue
        name = keys[key]
        lowest, highest, why = THRESHOLD_RANGES[name]
        whole = isinstance(getattr(defaults, name), int)
        allowed = f"allowed: {'a whole number' if whole else 'a number'} from {lowest} to {highest}{why}"
        number = _number(value)
        if number is None:
            reader.report(path, shown, f"not a number; {allowed}")
        elif whole and number != int(number):
            reader.report(path, shown, f"not a whole number; {allowed}")
        elif not lowest <= number <= highest:
            reader.report(path, shown, f"out of range; {allowed}")
        else:
            chosen[name] = int(number) if whole else float(number)
    return dataclasses.replace(defaults, **chosen)


def _number(value: object) -> Decimal | None:
    """A JSON number, or a number written as text (`pulumi config set --path` stores text); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = Decimal(str(value))
    elif isinstance(value, str) and re.fullmatch(r"[0-9]{1,12}(\.[0-9]{1,6})?", value):
        number = Decimal(value)
    else:
        return None
    return number if number.is_finite() else None


def _business_metrics(reader: _Reader) -> tuple[BusinessMetric, ...]:
    allowed = (
        'allowed: a mapping of panel title to counter name, e.g. {"User registrations": "user_registrations_total"}'
    )
    given = _json_object(reader, "businessMetrics", allowed)
    metrics: list[BusinessMetric] = []
    for title, counter in given.items():
        path = f"businessMetrics.{title}"
        try:
            validation.title(title)
        except InvalidValueError as invalid:
            reader.report("businessMetrics", title, f"has a panel title that is {invalid}")
            continue
        if not isinstance(counter, str):
            reader.report(path, json.dumps(counter), f"not a counter name; {allowed}")
            continue
        try:
            validation.counter_name(counter)
        except InvalidValueError as invalid:
            reader.report(path, counter, str(invalid))
            continue
        if any(metric.counter == counter for metric in metrics):
            reader.report(path, counter, "is plotted by another panel already; allowed: each counter once")
            continue
        metrics.append(BusinessMetric(title=title, counter=counter))
    return tuple(metrics)
