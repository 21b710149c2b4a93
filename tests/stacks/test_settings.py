"""Settings: profiles give each environment its defaults; bad config stops with one clear message."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import pytest

from stacks import Environment, Settings, SettingsError, build
from stacks.schema import KEYS, PROJECT

PLANTED_SECRET = "planted-smtp-secret-3f9c1a7e"
SMTP_PASSWORD = f"{PROJECT}:smtpPassword"
REGISTRY_PASSWORD = f"{PROJECT}:registryPassword"


def full(config: Mapping[str, str]) -> dict[str, str]:
    return {key if ":" in key else f"{PROJECT}:{key}": value for key, value in config.items()}


VALID_STAGING = full(
    {
        "kubeContext": "staging",
        "domain": "staging.crm.example.com",
        "smtpHost": "smtp.example.com",
        "smtpUsername": "crm",
        "smtpPassword": PLANTED_SECRET,
        "appImage": "ghcr.io/acme/crm-backend:2.4.1",
        "egressCidrs": '["203.0.113.0/24"]',
        "awsRegion": "eu-west-1",
        "oidcProviderArn": "arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE",
    }
)
SECRETS = {SMTP_PASSWORD, REGISTRY_PASSWORD}


def settings_for(stack: str, changes: Mapping[str, str] | None = None, secret_keys: set[str] | None = None) -> Settings:
    raw = {**VALID_STAGING, **full(changes or {})}
    return build(stack, raw, SECRETS if secret_keys is None else secret_keys)


VALID_DEV = full({"appImage": "ghcr.io/acme/crm-backend:2.4.1"})
PRODUCTION_CHANGES = full({"kubeContext": "production", "domain": "crm.example.com"})


def environment_settings(stack: str, changes: Mapping[str, str] | None = None) -> Settings:
    """`stack`'s settings from a valid configuration of its environment (dev's for dev, staging's for the others,
    with production's context and domain for production) with `changes`."""
    raw = (
        dict(VALID_DEV)
        if stack == "dev"
        else {**VALID_STAGING, **(PRODUCTION_CHANGES if stack == "production" else {})}
    )
    return build(stack, {**raw, **full(changes or {})}, SECRETS)


def environment_problems(stack: str, changes: Mapping[str, str]) -> list[str]:
    """The problems `environment_settings(stack, changes)` stops with (it must stop)."""
    with pytest.raises(SettingsError) as raised:
        environment_settings(stack, changes)
    return [str(problem) for problem in raised.value.problems]


class TestProfiles:
    def test_dev_needs_nothing_but_the_application_image(self) -> None:
        """A dev stack needs only the image to run: no context, domain, SMTP or sizes."""
        settings = build("dev", full({"appImage": "ghcr.io/acme/crm-backend:2.4.1"}))
        assert settings.environment is Environment.DEV
        assert settings.namespaces.app == "crm-dev"
        assert settings.namespaces.monitoring == "crm-dev-monitoring"
        assert settings.cluster.context is None
        assert settings.smtp is None
        assert settings.domain == "crm.localhost"

    def test_staging_owns_addons_and_does_not_protect_namespaces(self) -> None:
        """Staging installs the cluster add-ons, leaves namespaces unprotected and uses port 587 for SMTP."""
        settings = settings_for("staging")
        assert settings.environment is Environment.STAGING
        assert settings.cluster.owns_addons is True
        assert settings.namespaces.protect is False
        assert settings.smtp is not None and settings.smtp.port == 587

    def test_production_protects_namespaces_and_is_largest(self) -> None:
        """Production protects its namespaces and has a larger quota than staging."""
        production = settings_for("production", {"kubeContext": "production", "domain": "crm.example.com"})
        staging = settings_for("staging")
        assert production.namespaces.protect is True
        assert production.quota.pods > staging.quota.pods

    def test_review_stack_derives_from_staging_at_minimum_size(self) -> None:
        """pr-<n> gets its own namespaces and hosts, the smallest quota and no add-ons."""
        review = settings_for("pr-42")
        staging = settings_for("staging")
        assert review.environment is Environment.REVIEW
        assert review.namespaces.app == "crm-pr-42"
        assert review.namespaces.monitoring == "crm-pr-42-monitoring"
        assert review.domain == "pr-42.staging.crm.example.com"
        assert review.cluster.owns_addons is False
        assert review.smtp == staging.smtp
        for field in ("pods",):
            assert getattr(review.quota, field) < getattr(staging.quota, field)

    def test_a_stack_with_another_name_picks_its_profile_with_environment(self) -> None:
        """A stack with a name of its own chooses its profile with `environment`."""
        settings = settings_for("qa", {"environment": "staging"})
        assert settings.environment is Environment.STAGING
        assert settings.namespaces.app == "crm-qa"

    def test_explicit_values_override_the_profile(self) -> None:
        """Values set in the stack file win over the profile's."""
        settings = settings_for(
            "staging",
            {
                "appNamespace": "crm-app",
                "quotaPods": "90",
                "clusterAddons": "false",
                "deployerGroups": '["release"]',
                "egressCidrs": '["203.0.113.0/24", "2001:db8::/32"]',
            },
        )
        assert settings.namespaces.app == "crm-app"
        assert settings.quota.pods == 90
        assert settings.cluster.owns_addons is False
        assert settings.access.deployer_groups == ("release",)
        assert settings.egress_cidrs == ("203.0.113.0/24", "2001:db8::/32")

    def test_settings_are_immutable(self) -> None:
        """Settings cannot be changed after load()."""
        settings = settings_for("staging")
        with pytest.raises(dataclasses.FrozenInstanceError):
            settings.stack = "production"  # type: ignore[misc]

    def test_settings_hold_no_secret(self) -> None:
        """Secrets are checked, never kept: printing settings cannot leak them."""
        settings = settings_for("staging")
        assert PLANTED_SECRET not in repr(settings)
        assert PLANTED_SECRET not in repr(settings.describe())

    def test_other_provider_namespaces_are_left_alone(self) -> None:
        """Keys of other namespaces (aws:region) are not ours to refuse."""
        settings = settings_for("staging", {"aws:region": "eu-west-1"})
        assert settings.stack == "staging"


# What several messages allow, in stacks.validation's words.
HOST_NAME_ALLOWED = (
    "allowed: a lower-case DNS name such as api.example.com (labels of letters, digits and '-', at most "
    "253 characters, no scheme or port)"
)
NAMESPACE_ALLOWED = "allowed: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit"
LIST_ALLOWED = "allowed: a YAML list in the stack file, or `pulumi config set --path 'key[0]' value`"
CPU_ALLOWED = 'allowed: cores such as "2" or "0.5", or millicores such as "500m"'

# (id, stack, changes, secret keys or None for the default, the problems it stops with, each whole).
# A change to None removes the key.
INVALID: list[tuple[str, str, dict[str, str | None], set[str] | None, list[str]]] = [
    (
        "integer-not-a-number",
        "staging",
        {"smtpPort": "submission"},
        None,
        ['crm-platform:smtpPort = "submission": not an integer; allowed: an integer from 1 to 65535'],
    ),
    (
        "integer-is-a-fraction",
        "staging",
        {"secretsRotation": "1.5"},
        None,
        ['crm-platform:secretsRotation = "1.5": not an integer; allowed: an integer from 0 to 1000000'],
    ),
    (
        "integer-out-of-range",
        "staging",
        {"smtpPort": "70000"},
        None,
        ['crm-platform:smtpPort = "70000": out of range; allowed: an integer from 1 to 65535'],
    ),
    (
        "integer-negative",
        "staging",
        {"secretsRotation": "-1"},
        None,
        ['crm-platform:secretsRotation = "-1": out of range; allowed: an integer from 0 to 1000000'],
    ),
    (
        "quota-pods-too-many",
        "staging",
        {"quotaPods": "100000"},
        None,
        ['crm-platform:quotaPods = "100000": out of range; allowed: an integer from 0 to 10000'],
    ),
    (
        "unknown-key-typo",
        "staging",
        {"smtpPasword": "x"},
        None,
        [
            (
                "crm-platform:smtpPasword = [secret]: unknown key; allowed: the keys declared in Pulumi.yaml; did you "
                "mean crm-platform:smtpPassword?"
            )
        ],
    ),
    (
        "unknown-key",
        "staging",
        {"webReplicas": "3"},
        None,
        ['crm-platform:webReplicas = "3": unknown key; allowed keys: ' + ", ".join(key.name for key in KEYS)],
    ),
    (
        "hostname-upper-case",
        "staging",
        {"domain": "Staging.Example.com"},
        None,
        ['crm-platform:domain = "Staging.Example.com": not a valid host name; ' + HOST_NAME_ALLOWED],
    ),
    (
        "hostname-with-scheme",
        "staging",
        {"smtpHost": "https://smtp.example.com"},
        None,
        ['crm-platform:smtpHost = "https://smtp.example.com": has a URL scheme; ' + HOST_NAME_ALLOWED],
    ),
    (
        "hostname-underscore",
        "staging",
        {"domain": "bad_host.example.com"},
        None,
        ['crm-platform:domain = "bad_host.example.com": not a valid host name; ' + HOST_NAME_ALLOWED],
    ),
    (
        "hostname-trailing-dot",
        "staging",
        {"smtpHost": "smtp.example.com."},
        None,
        ['crm-platform:smtpHost = "smtp.example.com.": not a valid host name; ' + HOST_NAME_ALLOWED],
    ),
    (
        "cidr-prefix-too-long",
        "staging",
        {"egressCidrs": '["10.0.0.0/33"]'},
        None,
        [
            (
                'crm-platform:egressCidrs[0] = "10.0.0.0/33": not a CIDR block; allowed: an IPv4 or IPv6 network such '
                "as 203.0.113.0/24"
            )
        ],
    ),
    (
        "cidr-host-bits",
        "staging",
        {"egressCidrs": '["192.168.1.1/24"]'},
        None,
        [
            (
                'crm-platform:egressCidrs[0] = "192.168.1.1/24": has host bits set or is not canonical; allowed: '
                "192.168.1.0/24"
            )
        ],
    ),
    (
        "cidr-no-prefix",
        "staging",
        {"egressCidrs": '["203.0.113.7"]'},
        None,
        [
            (
                'crm-platform:egressCidrs[0] = "203.0.113.7": has no prefix length; allowed: a network such as '
                "203.0.113.7/32"
            )
        ],
    ),
    (
        "list-given-as-text",
        "staging",
        {"egressCidrs": "10.0.0.0/8"},
        None,
        ['crm-platform:egressCidrs = "10.0.0.0/8": not a list; ' + LIST_ALLOWED],
    ),
    (
        "list-of-numbers",
        "staging",
        {"deployerGroups": "[1]"},
        None,
        ['crm-platform:deployerGroups = "[1]": item 0 is not a string; allowed: a list of strings'],
    ),
    (
        "unknown-environment",
        "staging",
        {"environment": "prod"},
        None,
        ['crm-platform:environment = "prod": unknown environment; allowed: dev, staging, production, review'],
    ),
    (
        "stack-without-profile",
        "qa",
        {},
        None,
        [
            (
                'crm-platform:environment = "": stack "qa" implies no environment (only dev, staging, production and '
                "pr-<number> do); allowed: dev, staging, production, review"
            )
        ],
    ),
    (
        "missing-required-secret",
        "staging",
        {"smtpPassword": None},
        None,
        [
            (
                "crm-platform:smtpPassword is missing: required secret when smtpHost is set; set it with `pulumi "
                "config set --secret smtpPassword <value> --stack staging`"
            )
        ],
    ),
    (
        "secret-stored-in-plain-text",
        "staging",
        {},
        set(),
        [
            (
                "crm-platform:smtpPassword = [secret]: is stored in plain text; allowed: an encrypted value, set with "
                "`pulumi config set --secret smtpPassword <value> --stack staging`"
            )
        ],
    ),
    (
        "plain-key-stored-as-secret",
        "staging",
        {},
        {SMTP_PASSWORD, f"{PROJECT}:smtpHost"},
        [
            (
                "crm-platform:smtpHost = [secret]: is stored as a secret but is not one, and would reach plain "
                "objects; allowed: a plain value (`pulumi config set smtpHost <value>`)"
            )
        ],
    ),
    (
        "missing-domain",
        "staging",
        {"domain": None},
        None,
        [
            (
                "crm-platform:domain is missing: the staging environment has no default domain; allowed: your DNS "
                "domain, e.g. `pulumi config set domain crm.example.com --stack staging`"
            )
        ],
    ),
    (
        "missing-kube-context",
        "production",
        {"kubeContext": None},
        None,
        [
            (
                "crm-platform:kubeContext is missing: the production environment never deploys to whatever context is "
                "current; allowed: a context from `kubectl config get-contexts`"
            )
        ],
    ),
    (
        "missing-smtp-in-staging",
        "staging",
        {"smtpHost": None},
        None,
        [
            (
                "crm-platform:smtpHost is missing: the staging environment sends mail (password resets, "
                "notifications); allowed: your SMTP relay's host name"
            )
        ],
    ),
    (
        "smtp-without-user",
        "staging",
        {"smtpUsername": None},
        None,
        ["crm-platform:smtpUsername is missing: required when smtpHost is set; allowed: the SMTP user name"],
    ),
    (
        "registry-without-password",
        "staging",
        {"registryServer": "ghcr.io", "registryUsername": "ci"},
        None,
        [
            (
                "crm-platform:registryPassword is missing: required secret when registryServer is set; set it with "
                "`pulumi config set --secret registryPassword <token> --stack staging`"
            )
        ],
    ),
    (
        "registry-with-path",
        "staging",
        {"registryServer": "ghcr.io/acme"},
        None,
        [
            (
                'crm-platform:registryServer = "ghcr.io/acme": has a scheme or path; allowed: a registry host such as '
                "ghcr.io or registry.example.com:5000"
            )
        ],
    ),
    (
        "namespace-not-dns-label",
        "staging",
        {"appNamespace": "CRM_App"},
        None,
        ['crm-platform:appNamespace = "CRM_App": not a valid namespace name; ' + NAMESPACE_ALLOWED],
    ),
    (
        "namespaces-collide",
        "staging",
        {"appNamespace": "crm", "monitoringNamespace": "crm"},
        None,
        ['crm-platform:monitoringNamespace = "crm": is the same as appNamespace; allowed: a different namespace'],
    ),
    (
        "quota-limit-below-request",
        "staging",
        {"quotaCpuLimits": "1"},
        None,
        [
            (
                'crm-platform:quotaCpuLimits = "1": is below quotaCpuRequests (8); allowed: a limit at least as large '
                "as the requests"
            )
        ],
    ),
    (
        "memory-unit-unknown",
        "staging",
        {"quotaMemoryRequests": "16GB"},
        None,
        [
            (
                'crm-platform:quotaMemoryRequests = "16GB": not a memory quantity; allowed: a size such as "512Mi", '
                '"8Gi" or "1G"'
            )
        ],
    ),
    (
        "cpu-not-a-quantity",
        "staging",
        {"quotaCpuRequests": "lots"},
        None,
        ['crm-platform:quotaCpuRequests = "lots": not a CPU quantity; ' + CPU_ALLOWED],
    ),
    (
        "boolean-not-a-boolean",
        "staging",
        {"clusterAddons": "yes"},
        None,
        ['crm-platform:clusterAddons = "yes": not a boolean; allowed: "true", "false" or "" (the profile decides)'],
    ),
    (
        "review-owning-addons",
        "pr-7",
        {"clusterAddons": "true"},
        None,
        [
            (
                'crm-platform:clusterAddons = "true": review stacks share the staging cluster and never install its '
                'add-ons; allowed: "false" or "" (probably copied from staging: remove it)'
            )
        ],
    ),
    (
        "review-with-staging-namespace",
        "pr-7",
        {"appNamespace": "crm-staging"},
        None,
        [
            (
                'crm-platform:appNamespace = "crm-staging": review stacks get their own namespaces (crm-pr-7); '
                'allowed: "" (probably copied from staging: remove it)'
            ),
            (
                'crm-platform:appNamespace = "crm-staging": is the staging stack\'s namespace; allowed: a namespace of '
                "this stack's own"
            ),
        ],
    ),
    (
        "reserved-group",
        "staging",
        {"readOnlyGroups": '["system:masters"]'},
        None,
        [
            (
                'crm-platform:readOnlyGroups[0] = "system:masters": is a reserved Kubernetes group; allowed: a group '
                "from your identity provider, not one starting with 'system:'"
            )
        ],
    ),
    (
        "duplicate-group",
        "staging",
        {"readOnlyGroups": '["devs", "devs"]'},
        None,
        [
            (
                'crm-platform:readOnlyGroups = "[\\"devs\\", \\"devs\\"]": lists devs more than once; '
                "allowed: each item once"
            )
        ],
    ),
    (
        "kubeconfig-contents",
        "staging",
        {"kubeconfig": "apiVersion: v1\nclusters: []"},
        None,
        [
            (
                'crm-platform:kubeconfig = "apiVersion: v1\\nclusters: []": looks like kubeconfig contents; allowed: a '
                "path to a kubeconfig file (keep credentials out of the stack file)"
            )
        ],
    ),
    (
        "kube-context-with-space",
        "staging",
        {"kubeContext": "my cluster"},
        None,
        [
            (
                'crm-platform:kubeContext = "my cluster": not a context name; allowed: the name of a context in your '
                "kubeconfig (`kubectl config get-contexts`), without white space"
            )
        ],
    ),
    (
        "provider-key-without-effect",
        "staging",
        {"kubernetes:context": "prod"},
        None,
        [
            (
                'kubernetes:context = "prod": has no effect, as this program builds its own Kubernetes provider; '
                "allowed: set crm-platform:kubeContext instead"
            )
        ],
    ),
    (
        "stack-name-not-a-label",
        "-odd-",
        {"environment": "staging", "appNamespace": "crm-odd", "monitoringNamespace": "crm-odd-mon"},
        None,
        [
            (
                "stack name = \"-odd-\": cannot be a Kubernetes label value; allowed: at most 63 letters, digits, '-', "
                "'_' and '.', starting and ending with a letter or digit"
            )
        ],
    ),
    (
        "trailing-newline-in-host",
        "staging",
        {"domain": "staging.crm.example.com\n"},
        None,
        ['crm-platform:domain = "staging.crm.example.com\\n": not a valid host name; ' + HOST_NAME_ALLOWED],
    ),
    (
        "trailing-newline-in-namespace",
        "staging",
        {"appNamespace": "crm-x\n"},
        None,
        ['crm-platform:appNamespace = "crm-x\\n": not a valid namespace name; ' + NAMESPACE_ALLOWED],
    ),
    (
        "trailing-newline-in-quantity",
        "staging",
        {"quotaCpuRequests": "2\n"},
        None,
        ['crm-platform:quotaCpuRequests = "2\\n": not a CPU quantity; ' + CPU_ALLOWED],
    ),
    (
        "padded-integer",
        "staging",
        {"smtpPort": " 587"},
        None,
        ['crm-platform:smtpPort = " 587": not an integer; allowed: an integer from 1 to 65535'],
    ),
    (
        "absurdly-nested-list",
        "staging",
        {"deployerGroups": "[" * 100_000},
        None,
        [
            (
                "crm-platform:deployerGroups = "
                '"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[...": not a list; '
            )
            + LIST_ALLOWED
        ],
    ),
    (
        "cpu-beyond-any-cluster",
        "staging",
        {"quotaCpuLimits": "9" * 50},
        None,
        [
            (
                'crm-platform:quotaCpuLimits = "99999999999999999999999999999999999999999999999999": out of range; '
                "allowed: more than zero and at most 10000 cores"
            )
        ],
    ),
    (
        "memory-beyond-any-cluster",
        "staging",
        {"quotaMemoryLimits": "2048Pi"},
        None,
        ['crm-platform:quotaMemoryLimits = "2048Pi": out of range; allowed: from 1Mi to 1Pi'],
    ),
    (
        "cidr-with-ipv6-zone",
        "staging",
        {"egressCidrs": '["fe80::%eth0/128"]'},
        None,
        [
            (
                'crm-platform:egressCidrs[0] = "fe80::%eth0/128": has an IPv6 zone; allowed: a network such as '
                "2001:db8::/32, without %zone"
            )
        ],
    ),
    (
        "environment-contradicts-stack-name",
        "production",
        {"environment": "dev"},
        None,
        [
            (
                'crm-platform:environment = "dev": stack "production" is always production; allowed: "" or '
                '"production" (use another stack name for another environment)'
            )
        ],
    ),
    (
        "kubernetes-namespace",
        "staging",
        {"appNamespace": "kube-system"},
        None,
        [
            (
                'crm-platform:appNamespace = "kube-system": belongs to Kubernetes; allowed: a namespace of this '
                "stack's own, such as crm-<stack>"
            )
        ],
    ),
    (
        "another-stacks-namespace",
        "staging",
        {"monitoringNamespace": "crm-production"},
        None,
        [
            (
                'crm-platform:monitoringNamespace = "crm-production": is the production stack\'s namespace; allowed: a '
                "namespace of this stack's own"
            )
        ],
    ),
    (
        "registry-user-with-colon",
        "staging",
        {"registryServer": "ghcr.io", "registryUsername": "a:b"},
        None,
        [
            (
                "crm-platform:registryUsername = \"a:b\": contains ':', which separates user and password in a "
                "registry login; allowed: a name without ':'"
            ),
            (
                "crm-platform:registryPassword is missing: required secret when registryServer is set; set it with "
                "`pulumi config set --secret registryPassword <token> --stack staging`"
            ),
        ],
    ),
    (
        "smtp-user-with-space",
        "staging",
        {"smtpUsername": "crm staging"},
        None,
        ['crm-platform:smtpUsername = "crm staging": not a user name; allowed: 1-253 characters without white space'],
    ),
]


@pytest.mark.parametrize(
    ("stack", "changes", "secret_keys", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in INVALID],
)
def test_invalid_configuration_stops_with_one_clear_message(
    stack: str, changes: dict[str, str | None], secret_keys: set[str] | None, expected: list[str]
) -> None:
    """Each bad value names its key, the value given and what is allowed, on one line."""
    raw = dict(VALID_STAGING)
    for name, value in full({k: v for k, v in changes.items() if v is not None}).items():
        raw[name] = value
    for name in full({k: "" for k, v in changes.items() if v is None}):
        raw.pop(name, None)
    with pytest.raises(SettingsError) as raised:
        build(stack, raw, SECRETS if secret_keys is None else secret_keys)
    problems = [str(problem) for problem in raised.value.problems]
    assert problems == expected
    assert all("allowed" in problem or "set it with" in problem for problem in problems)
    message = str(raised.value)
    assert "\n" not in message
    assert PLANTED_SECRET not in message


def test_there_are_at_least_twenty_distinct_invalid_configurations() -> None:
    """The table of invalid configurations keeps at least twenty distinct cases."""
    assert len({case[0] for case in INVALID}) == len(INVALID) >= 20


def test_every_problem_is_reported_at_once() -> None:
    """A stack file with three mistakes gets one message listing all three."""
    raw = {**VALID_STAGING, **full({"smtpPort": "0", "domain": "x_y", "egressCidrs": '["nope"]'})}
    with pytest.raises(SettingsError) as raised:
        build("staging", raw, SECRETS)
    assert len(raised.value.problems) == 3
    assert "(3 problems)" in str(raised.value)


def test_the_value_given_is_quoted_in_the_message() -> None:
    """The message quotes the value given, as JSON."""
    with pytest.raises(SettingsError, match=r'crm-platform:smtpPort = "70000": out of range'):
        settings_for("staging", {"smtpPort": "70000"})


@pytest.mark.parametrize(
    ("changes", "secret_keys"),
    [
        ({"smtpPasword": PLANTED_SECRET}, SECRETS),
        ({"kubernetes:kubeconfig": f"users: [{{token: {PLANTED_SECRET}}}]"}, SECRETS | {"kubernetes:kubeconfig"}),
        ({"dbPassword": PLANTED_SECRET}, SECRETS),
        ({"smtpHost": PLANTED_SECRET + ".invalid"}, SECRETS | {f"{PROJECT}:smtpHost"}),
    ],
    ids=["misspelt-secret-key", "secret-provider-key", "secret-looking-unknown-key", "plain-key-stored-as-secret"],
)
def test_values_that_are_probably_secrets_are_never_quoted(changes: dict[str, str], secret_keys: set[str]) -> None:
    """Keys stored as secrets, and unknown keys that look like secrets, are masked in errors too."""
    with pytest.raises(SettingsError) as raised:
        build("staging", {**VALID_STAGING, **full(changes)}, secret_keys)
    assert PLANTED_SECRET not in str(raised.value)
    assert "[secret]" in str(raised.value)


def test_a_secret_value_is_never_quoted() -> None:
    """A secret stored in plain text is named but shown as [secret]."""
    with pytest.raises(SettingsError) as raised:
        build("staging", VALID_STAGING, secret_keys=set())
    assert "crm-platform:smtpPassword = [secret]" in str(raised.value)
    assert PLANTED_SECRET not in str(raised.value)


def test_settings_error_is_a_pulumi_run_error() -> None:
    """The CLI prints a RunError's message without a Python traceback."""
    import pulumi

    assert issubclass(SettingsError, pulumi.RunError)
