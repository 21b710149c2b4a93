"""stacks.build: each refusal is one whole message naming the key, the value and what is allowed; a value inside a
key that is, or is stored as, a secret is never shown."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from stacks import SettingsError, build
from stacks.schema import KEYS, PROJECT
from stacks.services import Role
from tests.stacks.test_settings import (
    PRODUCTION_CHANGES,
    SECRETS,
    VALID_DEV,
    VALID_STAGING,
    environment_problems,
    full,
)


def problems(stack: str, changes: Mapping[str, str], secret_keys: set[str] = SECRETS) -> list[str]:
    """The problems a valid staging configuration (production's context and domain for production) with `changes`
    stops with (it must stop)."""
    raw = {**VALID_STAGING, **(PRODUCTION_CHANGES if stack == "production" else {}), **full(changes)}
    with pytest.raises(SettingsError) as raised:
        build(stack, raw, secret_keys)
    return [str(problem) for problem in raised.value.problems]


KUBERNETES_OWNS = "belongs to Kubernetes; allowed: a namespace of this stack's own, such as crm-<stack>"


@pytest.mark.parametrize(
    ("stack", "key", "namespace", "message"),
    [
        pytest.param("staging", "appNamespace", "kube-system", KUBERNETES_OWNS, id="kube-prefix"),
        pytest.param("staging", "monitoringNamespace", "default", KUBERNETES_OWNS, id="default"),
        pytest.param(
            "staging",
            "monitoringNamespace",
            "crm-production",
            "is the production stack's namespace; allowed: a namespace of this stack's own",
            id="production-app-namespace",
        ),
        pytest.param(
            "production",
            "appNamespace",
            "crm-dev-monitoring",
            "is the dev stack's namespace; allowed: a namespace of this stack's own",
            id="dev-monitoring-namespace",
        ),
    ],
)
def test_a_namespace_of_kubernetes_or_of_another_environment_is_refused(
    stack: str, key: str, namespace: str, message: str
) -> None:
    """Deploying into kube-*, default or another environment's namespace would mix objects owned by others."""
    assert problems(stack, {key: namespace}) == [f'{PROJECT}:{key} = "{namespace}": {message}']


@pytest.mark.parametrize(
    ("changes", "secret_keys", "expected"),
    [
        pytest.param(
            {"egressCidrs": '["nope"]'},
            SECRETS | {f"{PROJECT}:egressCidrs"},
            [
                "crm-platform:egressCidrs = [secret]: is stored as a secret but is not one, and would reach plain "
                "objects; allowed: a plain value (`pulumi config set egressCidrs <value>`)",
                "crm-platform:egressCidrs[0] = [secret]: not a CIDR block; allowed: an IPv4 or IPv6 network such as "
                "203.0.113.0/24",
            ],
            id="item-of-a-key-stored-as-secret",
        ),
        pytest.param(
            {"appSecrets": '{"a.b": "v"}'},
            SECRETS | {f"{PROJECT}:appSecrets"},
            [
                "crm-platform:appSecrets.a.b = [secret]: is not an environment variable name; allowed: letters, "
                "digits and _, not starting with a digit"
            ],
            id="dotted-name-in-a-secret-object",
        ),
    ],
)
def test_a_value_inside_a_secret_is_masked(changes: dict[str, str], secret_keys: set[str], expected: list[str]) -> None:
    """A problem with an item (`key[0]`) or a path (`key.a.b`) of a key that is, or is stored as, a secret shows
    [secret] for its value."""
    assert problems("staging", changes, secret_keys) == expected


@pytest.mark.parametrize(
    ("threshold", "value", "shown", "allowed"),
    [
        pytest.param("errorRatioPercent", '"lots"', "lots", "a number from 0.01 to 100", id="text"),
        pytest.param("errorRatioPercent", "[1]", "[1]", "a number from 0.01 to 100", id="list"),
        pytest.param("errorRatioPercent", "null", "null", "a number from 0.01 to 100", id="null"),
        pytest.param("errorRatioPercent", "NaN", "NaN", "a number from 0.01 to 100", id="nan"),
        pytest.param("errorRatioPercent", "Infinity", "Infinity", "a number from 0.01 to 100", id="infinity"),
        pytest.param("queueBacklog", "-Infinity", "-Infinity", "a whole number from 1 to 10000000", id="-infinity"),
    ],
)
def test_a_threshold_that_is_not_a_finite_number_is_refused(
    threshold: str, value: str, shown: str, allowed: str
) -> None:
    """Text that is not a plain decimal, a JSON list or null, and NaN or ±Infinity (which Python's JSON reader
    accepts) are not numbers."""
    assert problems("staging", {"alertThresholds": f'{{"{threshold}": {value}}}'}) == [
        f'{PROJECT}:alertThresholds.{threshold} = "{shown}": not a number; allowed: {allowed}'
    ]


SMTP_NEEDS_EGRESS = (
    "crm-platform:egressCidrs is missing: the app must reach the SMTP relay (smtpHost) through its egress network "
    "policy; allowed: the relay's networks in CIDR form, e.g. [203.0.113.0/24]"
)
NOT_A_LIST = "not a list; allowed: a YAML list in the stack file, or `pulumi config set --path 'key[0]' value`"


@pytest.mark.parametrize(
    ("egress_cidrs", "expected"),
    [
        pytest.param(None, [SMTP_NEEDS_EGRESS], id="unset"),
        pytest.param("[]", [SMTP_NEEDS_EGRESS], id="empty-list"),
        pytest.param("", [f'crm-platform:egressCidrs = "": {NOT_A_LIST}', SMTP_NEEDS_EGRESS], id="empty-text"),
        pytest.param("null", [f'crm-platform:egressCidrs = "null": {NOT_A_LIST}'], id="not-a-list"),
        pytest.param(
            '["nope"]',
            [
                'crm-platform:egressCidrs[0] = "nope": not a CIDR block; allowed: an IPv4 or IPv6 network such as '
                "203.0.113.0/24"
            ],
            id="no-valid-item",
        ),
    ],
)
def test_a_stack_that_sends_mail_needs_egress_networks(egress_cidrs: str | None, expected: list[str]) -> None:
    """With an SMTP relay, no egress network at all is a problem of its own; a list whose items are refused is
    reported by its items alone."""
    raw = {**VALID_STAGING, **full({"egressCidrs": egress_cidrs or ""})}
    if egress_cidrs is None:
        del raw[f"{PROJECT}:egressCidrs"]
    with pytest.raises(SettingsError) as raised:
        build("staging", raw, SECRETS)
    assert [str(problem) for problem in raised.value.problems] == expected


NO_EFFECT = "has no effect, as this program builds its own Kubernetes provider; allowed: set crm-platform:{} instead"
ALLOWED_KEYS = "allowed keys: " + ", ".join(key.name for key in KEYS)


@pytest.mark.parametrize(
    ("changes", "secret_keys", "expected"),
    [
        pytest.param(
            {"smtpHots": "smtp.example.com"},
            SECRETS,
            [
                'crm-platform:smtpHots = "smtp.example.com": unknown key; allowed: the keys declared in Pulumi.yaml; '
                "did you mean crm-platform:smtpHost?"
            ],
            id="misspelt-plain-key-shows-its-value",
        ),
        pytest.param(
            {"aws:region": "eu-west-1", "zzTop": "x"},
            SECRETS,
            [f'crm-platform:zzTop = "x": unknown key; {ALLOWED_KEYS}'],
            id="after-another-providers-key",
        ),
        pytest.param(
            {"zzTop": "x"},
            SECRETS | {f"{PROJECT}:zzTop"},
            [f"crm-platform:zzTop = [secret]: unknown key; {ALLOWED_KEYS}"],
            id="stored-as-secret",
        ),
        pytest.param(
            {"kubernetes:context": "prod", "kubernetes:namespace": "crm"},
            SECRETS,
            [
                f'kubernetes:context = "prod": {NO_EFFECT.format("kubeContext")}',
                f'kubernetes:namespace = "crm": {NO_EFFECT.format("appNamespace")}',
            ],
            id="every-provider-key-without-effect",
        ),
    ],
)
def test_every_key_the_program_does_not_read_is_named(
    changes: dict[str, str], secret_keys: set[str], expected: list[str]
) -> None:
    """Unknown keys of ours and the kubernetes provider keys an explicit provider ignores are each reported, after
    keys of other providers too; a value is shown unless the key is stored as, or looks like, a secret."""
    assert problems("staging", changes, secret_keys) == expected


PLAIN_SMTP_PASSWORD = (
    "crm-platform:smtpPassword = [secret]: is stored in plain text; allowed: an encrypted value, set with "
    "`pulumi config set --secret smtpPassword <value> --stack staging`"
)
APP_SECRETS_HOW = "`pulumi config set --secret --path 'appSecrets.<NAME>' <value> --stack staging`"


@pytest.mark.parametrize(
    ("changes", "secret_keys", "expected"),
    [
        pytest.param(
            {"appSecrets": "null"},
            SECRETS,
            [
                "crm-platform:appSecrets = [secret]: not an object; allowed: NAME: value pairs, each set with "
                + APP_SECRETS_HOW
            ],
            id="null-object-is-refused-as-such-only",
        ),
        pytest.param(
            {"appSecrets": '{"API_TOKEN": "t"}'},
            SECRETS,
            [
                "crm-platform:appSecrets = [secret]: is stored in plain text; allowed: an encrypted value, set with "
                f"{APP_SECRETS_HOW} for each of its values"
            ],
            id="object-in-plain-text",
        ),
        pytest.param({"smtpPassword": "{}"}, set(), [PLAIN_SMTP_PASSWORD], id="text-secret-of-braces-in-plain-text"),
        pytest.param({"smtpPassword": "null"}, set(), [PLAIN_SMTP_PASSWORD], id="text-secret-null-in-plain-text"),
    ],
)
def test_a_secret_holding_a_value_must_be_stored_encrypted(
    changes: dict[str, str], secret_keys: set[str], expected: list[str]
) -> None:
    """A secret key that holds a value is refused in plain text, with the command that stores it; only an object
    key's text is read as JSON ("null" is then no object), so a text secret "{}" or "null" is a value."""
    assert problems("staging", changes, secret_keys) == expected


@pytest.mark.parametrize("app_secrets", ["{}", " {} "])
def test_an_object_secret_left_empty_may_be_stored_in_plain_text(app_secrets: str) -> None:
    """appSecrets at {} (as `pulumi config` may leave it, padded or not) holds no secret: the stack builds with none."""
    settings = build("staging", {**VALID_STAGING, **full({"appSecrets": app_secrets})}, SECRETS)
    assert settings.app.secret_names == ()


def test_a_review_stack_prefixes_its_domain_while_the_result_is_a_host_name() -> None:
    """pr-7 gets pr-7.<domain>: up to 253 characters (a 248-character domain); one more is refused by name."""
    labels = ["a" * 63, "b" * 63, "c" * 63]
    longest = ".".join([*labels, "d" * 56])
    settings = build("pr-7", {**VALID_STAGING, **full({"domain": longest})}, SECRETS)
    assert settings.domain == f"pr-7.{longest}"
    too_long = ".".join([*labels, "d" * 57])
    assert problems("pr-7", {"domain": too_long}) == [
        f'crm-platform:domain = "{too_long[:75]}...": gives the review domain pr-7.{too_long}: wrong length; '
        "allowed: a lower-case DNS name such as api.example.com (labels of letters, digits and '-', at most 253 "
        "characters, no scheme or port)"
    ]


def derived_not_valid(key: str, derived: str) -> str:
    return (
        f'crm-platform:{key} = "": the name derived from stack "Team_A" ({derived}) is not a valid namespace name; '
        "allowed: set it explicitly to a lower-case DNS label of at most 63 characters"
    )


@pytest.mark.parametrize(
    ("stack", "changes", "expected"),
    [
        pytest.param(
            "Team_A",
            {"environment": "staging"},
            [
                derived_not_valid("appNamespace", "crm-Team_A"),
                derived_not_valid("monitoringNamespace", "crm-Team_A-monitoring"),
            ],
            id="both-derived-names-invalid",
        ),
        pytest.param(
            "Team_A",
            {"environment": "staging", "appNamespace": "crm-team-a"},
            [derived_not_valid("monitoringNamespace", "crm-Team_A-monitoring")],
            id="monitoring-derived-name-invalid",
        ),
        pytest.param(
            "pr-7",
            {"monitoringNamespace": "crm-pr-7-mon"},
            [
                'crm-platform:monitoringNamespace = "crm-pr-7-mon": review stacks get their own namespaces '
                '(crm-pr-7-monitoring); allowed: "" (probably copied from staging: remove it)'
            ],
            id="review-stack-with-a-monitoring-namespace",
        ),
    ],
)
def test_namespaces_derived_from_the_stack_name_must_be_valid(
    stack: str, changes: dict[str, str], expected: list[str]
) -> None:
    """crm-<stack> and crm-<stack>-monitoring are derived when unset and refused, each by its key, when the stack
    name makes them invalid; a review stack may set neither."""
    assert problems(stack, changes) == expected


@pytest.mark.parametrize(
    ("changes", "kubeconfig", "context"),
    [
        pytest.param({}, None, "staging", id="context-only"),
        pytest.param({"kubeconfig": "/home/ci/.kube/staging"}, "/home/ci/.kube/staging", "staging", id="both"),
    ],
)
def test_the_cluster_is_reached_through_the_kubeconfig_and_context_given(
    changes: dict[str, str], kubeconfig: str | None, context: str
) -> None:
    """The provider gets the stack's context and kubeconfig path; an unset kubeconfig is None ($KUBECONFIG)."""
    cluster = build("staging", {**VALID_STAGING, **full(changes)}, SECRETS).cluster
    assert (cluster.kubeconfig, cluster.context) == (kubeconfig, context)


@pytest.mark.parametrize(
    ("stack", "app", "monitoring"),
    [
        pytest.param("staging", "crm-staging", "crm-staging-monitoring", id="staging"),
        pytest.param("production", "crm-production", "crm-production-monitoring", id="production"),
    ],
)
def test_a_stack_may_name_its_own_namespaces(stack: str, app: str, monitoring: str) -> None:
    """Only another environment's namespaces are refused: a stack's own names, given explicitly, are its own."""
    changes = {"appNamespace": app, "monitoringNamespace": monitoring}
    raw = {**VALID_STAGING, **(PRODUCTION_CHANGES if stack == "production" else {}), **full(changes)}
    namespaces = build(stack, raw, SECRETS).namespaces
    assert (namespaces.app, namespaces.monitoring) == (app, monitoring)


# The stack as a whole ---------------------------------------------------------------------------------


def test_the_settings_carry_the_project_rotation_and_registry_given() -> None:
    """The labels' part-of value, the secrets' rotation counter and the registry's pull credentials reach the
    settings as configured."""
    settings = build(
        "staging",
        {
            **VALID_STAGING,
            **full(
                {"secretsRotation": "3", "registryServer": "ghcr.io", "registryUsername": "ci", "registryPassword": "t"}
            ),
        },
        SECRETS,
    )
    assert (settings.project, settings.secrets_rotation) == (PROJECT, 3)
    assert settings.registry is not None
    assert (settings.registry.server, settings.registry.username) == ("ghcr.io", "ci")


def test_the_error_names_the_stack() -> None:
    """One read of the error says which stack's file to fix."""
    with pytest.raises(SettingsError) as raised:
        build("staging", {**VALID_STAGING, **full({"smtpPort": "0"})}, SECRETS)
    assert raised.value.stack == "staging"
    assert str(raised.value).startswith('invalid configuration for stack "staging" (1 problem): ')


def test_a_list_naming_several_items_twice_names_each_once() -> None:
    """Duplicates are listed sorted, separated by a comma and a space."""
    assert problems("staging", {"websocketPaths": '["/ws/", "/live/", "/ws/", "/live/"]'}) == [
        'crm-platform:websocketPaths = "[\\"/ws/\\", \\"/live/\\", \\"/ws/\\", \\"/live/\\"]": lists /live/, /ws/ '
        "more than once; allowed: each item once"
    ]


# The application ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "settings_module"),
    [
        pytest.param({}, "crm.settings", id="default-project"),
        pytest.param({"djangoProject": "oneo"}, "oneo.settings", id="own-project"),
        pytest.param(
            {"djangoProject": "oneo", "djangoSettingsModule": "oneo.settings.production"},
            "oneo.settings.production",
            id="own-settings-module",
        ),
    ],
)
def test_the_django_settings_module_defaults_to_the_projects(changes: dict[str, str], settings_module: str) -> None:
    """DJANGO_SETTINGS_MODULE is <djangoProject>.settings unless djangoSettingsModule names another."""
    app = build("staging", {**VALID_STAGING, **full(changes)}, SECRETS).app
    assert (app.django_project, app.django_settings_module) == (
        changes.get("djangoProject", "crm"),
        settings_module,
    )


def test_a_settings_module_that_is_not_a_python_module_is_refused() -> None:
    assert problems("staging", {"djangoSettingsModule": "oneo/settings"}) == [
        'crm-platform:djangoSettingsModule = "oneo/settings": not a Python module path; allowed: dotted '
        "identifiers such as crm.settings"
    ]


def test_every_stack_needs_the_application_image() -> None:
    assert problems("staging", {"appImage": ""}) == [
        "crm-platform:appImage is missing: every stack runs the Django application; allowed: its image with a pinned "
        "tag, e.g. `pulumi config set appImage ghcr.io/acme/crm-backend:2.4.1 --stack staging`"
    ]


def test_a_frontend_switched_on_without_an_image_is_refused() -> None:
    assert problems("staging", {"services": '{"frontend": {"enabled": true}}'}) == [
        'crm-platform:services.frontend.enabled = "true": a frontend needs an image; allowed: set frontendImage (or '
        "services.frontend.image)"
    ]


def test_a_service_switched_off_leaves_the_later_ones_running() -> None:
    """Beat off: web, the worker and the frontend still run, in their order."""
    app = build(
        "staging",
        {
            **VALID_STAGING,
            **full({"frontendImage": "ghcr.io/acme/crm-frontend:2.4.1", "services": '{"beat": {"enabled": false}}'}),
        },
        SECRETS,
    ).app
    assert [service.role.value for service in app.services] == ["web", "worker", "frontend"]


def test_without_postgres_a_service_may_set_the_database_variables_itself() -> None:
    """The platform sets DATABASE_* only when it runs PostgreSQL; without it they are the application's own."""
    changes = {"postgres": "false", "services": '{"web": {"env": {"DATABASE_HOST": "db.internal"}}}'}
    web = build("staging", {**VALID_STAGING, **full(changes)}, SECRETS).app.service(Role.WEB)
    assert web is not None
    assert dict(web.env)["DATABASE_HOST"] == "db.internal"
    assert problems("staging", {"services": changes["services"]}) == [
        'crm-platform:services.web.env.DATABASE_HOST = "[not shown]": is set by the platform; allowed: a variable of '
        "your own"
    ]


def test_app_secrets_may_be_set_to_nothing() -> None:
    """appSecrets "" (a key left empty) holds no secret, like {}."""
    assert build("staging", {**VALID_STAGING, **full({"appSecrets": ""})}, SECRETS).app.secret_names == ()


STORED_APP_SECRETS = SECRETS | {f"{PROJECT}:appSecrets"}


def test_pgoptions_is_the_databases_and_refused_with_the_hint_to_bring_your_own() -> None:
    """PGOPTIONS is reserved with PostgreSQL (libpq reads it) and the message says how to bring your own database;
    a refused name's Problem carries no value at all, not even masked."""
    with pytest.raises(SettingsError) as raised:
        build("staging", {**VALID_STAGING, **full({"appSecrets": '{"PGOPTIONS": "-c x=1"}'})}, STORED_APP_SECRETS)
    assert [str(problem) for problem in raised.value.problems] == [
        "crm-platform:appSecrets.PGOPTIONS = [secret]: is a name the platform sets or reserves (SECRET_KEY, "
        "DATABASE_*, REDIS_*, CELERY_BROKER_URL, EMAIL_*, the ConfigMap's settings); allowed: a name of your own, "
        'or `postgres: "false"` to bring your own database'
    ]
    assert [problem.value for problem in raised.value.problems] == [""]


@pytest.mark.parametrize(
    "app_secrets",
    [
        pytest.param('{"openai-key": "sk-planted"}', id="not-a-variable-name"),
        pytest.param('{"SECRET_KEY": "sk-planted"}', id="platform-name"),
        pytest.param('{"API_TOKEN": 42}', id="not-text"),
    ],
)
def test_a_refused_app_secret_keeps_no_value_in_its_problem(app_secrets: str) -> None:
    """The Problem of a refused application secret holds "" as its value: the secret never enters the error."""
    with pytest.raises(SettingsError) as raised:
        build("staging", {**VALID_STAGING, **full({"appSecrets": app_secrets})}, STORED_APP_SECRETS)
    assert [(problem.value, problem.secret) for problem in raised.value.problems] == [("", True)]


def test_without_a_candidate_no_request_goes_to_one() -> None:
    app = build("staging", VALID_STAGING, SECRETS).app
    assert (app.candidate, app.candidate_traffic_percent) == (None, 0)


def test_a_blank_migration_command_is_refused() -> None:
    assert problems("staging", {"migrationCommand": "   "}) == [
        'crm-platform:migrationCommand = "   ": is blank; allowed: one program and its arguments, e.g. "python '
        'migrate_database.py", or `sh -c "<commands>"` (the image\'s shell), "" for Django\'s migrate, "none" for no '
        "migration Job"
    ]


def test_a_refused_migration_command_is_not_taken_for_none() -> None:
    """A refused command stands in as Django's migrate, so deployment checks (which need the Job) are no second
    problem."""
    assert problems("staging", {"migrationCommand": "python a.py && python b.py", "deployChecks": "WARNING"}) == [
        'crm-platform:migrationCommand = "python a.py && python b.py": uses the shell operator &&, but the command '
        'runs without a shell; allowed: one program and its arguments, e.g. "python migrate_database.py", or `sh -c '
        '"<commands>"` (the image\'s shell), "" for Django\'s migrate, "none" for no migration Job'
    ]


def test_no_migration_job_with_deployment_checks_off() -> None:
    """migrationCommand "none" with deployChecks "off" (the checks' only place is the Job) is consistent."""
    app = build("staging", {**VALID_STAGING, **full({"migrationCommand": "none", "deployChecks": "off"})}, SECRETS).app
    assert app.migration is None


# The edge ---------------------------------------------------------------------------------------------


def test_the_edge_carries_the_acme_email_websocket_paths_and_hsts() -> None:
    settings = build(
        "production",
        {
            **VALID_STAGING,
            **PRODUCTION_CHANGES,
            **full({"acmeEmail": "ops@example.com", "websocketPaths": '["/ws/", "/live/"]'}),
        },
        SECRETS,
    )
    edge = settings.edge
    assert (edge.acme_email, edge.websocket_paths, edge.hsts) == ("ops@example.com", ("/ws/", "/live/"), True)
    assert build("dev", VALID_DEV, SECRETS).edge.hsts is False
    assert build("staging", VALID_STAGING, SECRETS).edge.acme_email is None


def test_a_frontend_on_the_api_host_and_an_unknown_issuer_are_refused() -> None:
    changes = {
        "frontendImage": "ghcr.io/acme/crm-frontend:2.4.1",
        "appHost": "api.staging.crm.example.com",
        "tlsIssuer": "vault",
    }
    assert problems("staging", changes) == [
        'crm-platform:appHost = "api.staging.crm.example.com": is the same as apiHost; allowed: a different host for '
        "the frontend",
        'crm-platform:tlsIssuer = "vault": unknown issuer; allowed: letsencrypt-production, letsencrypt-staging, '
        "selfsigned",
    ]


def test_the_app_host_only_limits_the_tenant_domain_when_a_frontend_serves_it() -> None:
    """Without a frontend there is no app host to route twice, so a tenant domain above it is fine."""
    changes = {
        "appHost": "portal.tenants.example.com",
        "tenantDomain": "tenants.example.com",
        "tlsIssuer": "selfsigned",
    }
    assert build("dev", {**VALID_DEV, **full(changes)}, SECRETS).edge.tenant_domain == "tenants.example.com"
    assert environment_problems("dev", {**changes, "frontendImage": "ghcr.io/acme/crm-frontend:2.4.1"}) == [
        'crm-platform:tenantDomain = "tenants.example.com": contains appHost (portal.tenants.example.com), which '
        "would then be routed and certified twice, as a tenant and as itself; allowed: a domain of the tenants' own "
        "that is not, and does not contain, appHost, e.g. tenants.tenants.example.com"
    ]


def test_a_tenant_domain_that_is_a_one_label_api_host_is_refused() -> None:
    """The suggestion for a host without a dot is tenants.<host>."""
    changes = {"apiHost": "crm", "tenantDomain": "crm"}
    assert environment_problems("dev", changes) == [
        'crm-platform:tenantDomain = "crm": is apiHost (crm), which would then be routed and certified twice, as a '
        "tenant and as itself; allowed: a domain of the tenants' own that is not, and does not contain, apiHost, e.g. "
        "tenants.crm"
    ]
