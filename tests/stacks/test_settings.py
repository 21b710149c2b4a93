"""Settings: profiles give each environment its defaults; bad config stops with one clear message."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import pytest

from stacks import Environment, Settings, SettingsError, build
from stacks.schema import PROJECT

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


# (id, stack, changes, secret keys or None for the default, key the message must name,
#  words it must contain). A change to None removes the key.
INVALID: list[tuple[str, str, dict[str, str | None], set[str] | None, str, str]] = [
    ("integer-not-a-number", "staging", {"smtpPort": "submission"}, None, "smtpPort", "not an integer"),
    ("integer-is-a-fraction", "staging", {"secretsRotation": "1.5"}, None, "secretsRotation", "not an integer"),
    ("integer-out-of-range", "staging", {"smtpPort": "70000"}, None, "smtpPort", "from 1 to 65535"),
    ("integer-negative", "staging", {"secretsRotation": "-1"}, None, "secretsRotation", "out of range"),
    ("quota-pods-too-many", "staging", {"quotaPods": "100000"}, None, "quotaPods", "out of range"),
    (
        "unknown-key-typo",
        "staging",
        {"smtpPasword": "x"},
        None,
        "smtpPasword",
        "did you mean crm-platform:smtpPassword",
    ),
    ("unknown-key", "staging", {"webReplicas": "3"}, None, "webReplicas", "allowed keys"),
    ("hostname-upper-case", "staging", {"domain": "Staging.Example.com"}, None, "domain", "lower-case DNS name"),
    ("hostname-with-scheme", "staging", {"smtpHost": "https://smtp.example.com"}, None, "smtpHost", "URL scheme"),
    ("hostname-underscore", "staging", {"domain": "bad_host.example.com"}, None, "domain", "not a valid host name"),
    ("hostname-trailing-dot", "staging", {"smtpHost": "smtp.example.com."}, None, "smtpHost", "not a valid host name"),
    ("cidr-prefix-too-long", "staging", {"egressCidrs": '["10.0.0.0/33"]'}, None, "egressCidrs[0]", "not a CIDR"),
    ("cidr-host-bits", "staging", {"egressCidrs": '["192.168.1.1/24"]'}, None, "egressCidrs[0]", "192.168.1.0/24"),
    ("cidr-no-prefix", "staging", {"egressCidrs": '["203.0.113.7"]'}, None, "egressCidrs[0]", "no prefix length"),
    ("list-given-as-text", "staging", {"egressCidrs": "10.0.0.0/8"}, None, "egressCidrs", "not a list"),
    ("list-of-numbers", "staging", {"deployerGroups": "[1]"}, None, "deployerGroups", "not a string"),
    (
        "unknown-environment",
        "staging",
        {"environment": "prod"},
        None,
        "environment",
        "dev, staging, production, review",
    ),
    ("stack-without-profile", "qa", {}, None, "environment", 'stack "qa" implies no environment'),
    ("missing-required-secret", "staging", {"smtpPassword": None}, None, "smtpPassword", "set it with"),
    ("secret-stored-in-plain-text", "staging", {}, set(), "smtpPassword", "stored in plain text"),
    ("plain-key-stored-as-secret", "staging", {}, {SMTP_PASSWORD, f"{PROJECT}:smtpHost"}, "smtpHost", "not one"),
    ("missing-domain", "staging", {"domain": None}, None, "domain", "no default domain"),
    ("missing-kube-context", "production", {"kubeContext": None}, None, "kubeContext", "get-contexts"),
    ("missing-smtp-in-staging", "staging", {"smtpHost": None}, None, "smtpHost", "sends mail"),
    ("smtp-without-user", "staging", {"smtpUsername": None}, None, "smtpUsername", "required when smtpHost"),
    (
        "registry-without-password",
        "staging",
        {"registryServer": "ghcr.io", "registryUsername": "ci"},
        None,
        "registryPassword",
        "set it with",
    ),
    ("registry-with-path", "staging", {"registryServer": "ghcr.io/acme"}, None, "registryServer", "scheme or path"),
    ("namespace-not-dns-label", "staging", {"appNamespace": "CRM_App"}, None, "appNamespace", "not a valid namespace"),
    (
        "namespaces-collide",
        "staging",
        {"appNamespace": "crm", "monitoringNamespace": "crm"},
        None,
        "monitoringNamespace",
        "same as appNamespace",
    ),
    ("quota-limit-below-request", "staging", {"quotaCpuLimits": "1"}, None, "quotaCpuLimits", "below quotaCpuRequests"),
    ("memory-unit-unknown", "staging", {"quotaMemoryRequests": "16GB"}, None, "quotaMemoryRequests", "memory quantity"),
    ("cpu-not-a-quantity", "staging", {"quotaCpuRequests": "lots"}, None, "quotaCpuRequests", "CPU quantity"),
    ("boolean-not-a-boolean", "staging", {"clusterAddons": "yes"}, None, "clusterAddons", '"true", "false"'),
    ("review-owning-addons", "pr-7", {"clusterAddons": "true"}, None, "clusterAddons", "never install"),
    (
        "review-with-staging-namespace",
        "pr-7",
        {"appNamespace": "crm-staging"},
        None,
        "appNamespace",
        "their own namespaces",
    ),
    ("reserved-group", "staging", {"readOnlyGroups": '["system:masters"]'}, None, "readOnlyGroups[0]", "reserved"),
    ("duplicate-group", "staging", {"readOnlyGroups": '["devs", "devs"]'}, None, "readOnlyGroups", "more than once"),
    ("kubeconfig-contents", "staging", {"kubeconfig": "apiVersion: v1\nclusters: []"}, None, "kubeconfig", "a path"),
    ("kube-context-with-space", "staging", {"kubeContext": "my cluster"}, None, "kubeContext", "without white space"),
    (
        "provider-key-without-effect",
        "staging",
        {"kubernetes:context": "prod"},
        None,
        "kubernetes:context",
        "set crm-platform:kubeContext",
    ),
    (
        "stack-name-not-a-label",
        "-odd-",
        {"environment": "staging", "appNamespace": "crm-odd", "monitoringNamespace": "crm-odd-mon"},
        None,
        "stack name",
        "label value",
    ),
    (
        "trailing-newline-in-host",
        "staging",
        {"domain": "staging.crm.example.com\n"},
        None,
        "domain",
        "not a valid host name",
    ),
    ("trailing-newline-in-namespace", "staging", {"appNamespace": "crm-x\n"}, None, "appNamespace", "namespace name"),
    ("trailing-newline-in-quantity", "staging", {"quotaCpuRequests": "2\n"}, None, "quotaCpuRequests", "CPU quantity"),
    ("padded-integer", "staging", {"smtpPort": " 587"}, None, "smtpPort", "not an integer"),
    ("absurdly-nested-list", "staging", {"deployerGroups": "[" * 100_000}, None, "deployerGroups", "not a list"),
    ("cpu-beyond-any-cluster", "staging", {"quotaCpuLimits": "9" * 50}, None, "quotaCpuLimits", "at most 10000 cores"),
    (
        "memory-beyond-any-cluster",
        "staging",
        {"quotaMemoryLimits": "2048Pi"},
        None,
        "quotaMemoryLimits",
        "from 1Mi to 1Pi",
    ),
    ("cidr-with-ipv6-zone", "staging", {"egressCidrs": '["fe80::%eth0/128"]'}, None, "egressCidrs[0]", "IPv6 zone"),
    (
        "environment-contradicts-stack-name",
        "production",
        {"environment": "dev"},
        None,
        "environment",
        "always production",
    ),
    ("kubernetes-namespace", "staging", {"appNamespace": "kube-system"}, None, "appNamespace", "belongs to Kubernetes"),
    (
        "another-stacks-namespace",
        "staging",
        {"monitoringNamespace": "crm-production"},
        None,
        "monitoringNamespace",
        "production stack's",
    ),
    (
        "registry-user-with-colon",
        "staging",
        {"registryServer": "ghcr.io", "registryUsername": "a:b"},
        None,
        "registryUsername",
        "separates user and password",
    ),
    ("smtp-user-with-space", "staging", {"smtpUsername": "crm staging"}, None, "smtpUsername", "without white space"),
]


@pytest.mark.parametrize(
    ("stack", "changes", "secret_keys", "key", "words"),
    [pytest.param(*case[1:], id=case[0]) for case in INVALID],
)
def test_invalid_configuration_stops_with_one_clear_message(
    stack: str, changes: dict[str, str | None], secret_keys: set[str] | None, key: str, words: str
) -> None:
    """Each bad value names its key, the value given and what is allowed, on one line."""
    raw = dict(VALID_STAGING)
    for name, value in full({k: v for k, v in changes.items() if v is not None}).items():
        raw[name] = value
    for name in full({k: "" for k, v in changes.items() if v is None}):
        raw.pop(name, None)
    with pytest.raises(SettingsError) as raised:
        build(stack, raw, SECRETS if secret_keys is None else secret_keys)
    message = str(raised.value)
    assert "\n" not in message
    named = key if key == "stack name" or ":" in key else f"{PROJECT}:{key}"
    assert named in message
    assert words in message
    assert "allowed" in message or "set it with" in message
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
