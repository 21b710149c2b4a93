"""Monitoring settings: each profile's Prometheus, Alertmanager and paging; thresholds, receivers and business
metrics validated before anything is declared, each bad value named with what is allowed."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping

import pytest

from stacks import Settings, SettingsError, build
from stacks.monitoring import AlertThresholds, BusinessMetric, threshold_keys
from stacks.schema import KEYS_BY_NAME, PROJECT
from tests.stacks.test_settings import SECRETS, VALID_STAGING, environment_problems, environment_settings, full

PLANTED_WEBHOOK = "https://hooks.example.com/services/PLANTED-9c4e"
RECEIVER_KEYS = ("alertChatWebhookUrl", "alertPagerRoutingKey", "alertDatabaseChatWebhookUrl")
RECEIVER_SECRETS = {f"{PROJECT}:{key}" for key in RECEIVER_KEYS}


def staging(
    changes: Mapping[str, str] | None = None, secret_keys: set[str] | None = None, stack: str = "staging"
) -> Settings:
    raw = {**VALID_STAGING, **full(changes or {})}
    if stack == "production":
        raw.update(full({"kubeContext": "production", "domain": "crm.example.com"}))
    return build(stack, raw, SECRETS | RECEIVER_SECRETS if secret_keys is None else secret_keys)


@pytest.mark.parametrize(
    ("stack", "retention", "size", "storage", "alertmanagers", "pages"),
    [
        ("dev", "3d", "4GB", "5Gi", 1, False),
        ("staging", "15d", "16GB", "20Gi", 1, False),
        ("production", "30d", "80GB", "100Gi", 2, True),
        ("pr-7", "15d", "16GB", "20Gi", 1, False),
    ],
)
def test_each_profile_sizes_prometheus_and_decides_paging(
    stack: str, retention: str, size: str, storage: str, alertmanagers: int, pages: bool
) -> None:
    """Retention, its size and the volume grow with the environment; two Alertmanagers and paging only in
    production; every profile assumes a managed control plane (kind binds it to localhost)."""
    if stack == "dev":
        monitoring = build("dev", full({"appImage": "ghcr.io/acme/crm-backend:2.4.1"})).monitoring
    else:
        monitoring = staging(stack=stack).monitoring
    assert (monitoring.prometheus_retention, monitoring.prometheus_retention_size) == (retention, size)
    assert monitoring.prometheus_storage == storage
    assert monitoring.alertmanager_replicas == alertmanagers
    assert monitoring.receivers.pages is pages
    assert monitoring.managed_control_plane is True


def test_explicit_values_override_the_profile() -> None:
    """Retention, volume, control plane, thresholds and business metrics come from the stack's keys."""
    monitoring = staging(
        {
            "prometheusRetention": "45d",
            "prometheusRetentionSize": "150GB",
            "prometheusStorage": "200Gi",
            "managedControlPlane": "false",
            "alertThresholds": json.dumps({"cpuPercentOfLimit": 70, "latencyP95Seconds": "1.5"}),
            "businessMetrics": json.dumps(
                {"User registrations": "user_registrations_total", "Deals won": "crm_deals_won_total"}
            ),
        }
    ).monitoring
    assert (monitoring.prometheus_retention, monitoring.prometheus_retention_size) == ("45d", "150GB")
    assert monitoring.prometheus_storage == "200Gi"
    assert monitoring.managed_control_plane is False
    assert monitoring.thresholds.cpu_percent_of_limit == 70
    assert monitoring.thresholds.latency_p95_seconds == 1.5
    assert monitoring.thresholds.memory_percent_of_limit == AlertThresholds().memory_percent_of_limit
    assert monitoring.business_metrics == (
        BusinessMetric("User registrations", "user_registrations_total"),
        BusinessMetric("Deals won", "crm_deals_won_total"),
    )


def test_every_threshold_has_a_config_key_and_a_range() -> None:
    """alertThresholds names every threshold in camelCase, and the schema's description lists each one."""
    keys = threshold_keys()
    assert len(keys) == len(AlertThresholds.__dataclass_fields__)
    description = KEYS_BY_NAME["alertThresholds"].description
    for key in keys:
        assert key in description, key


def test_receivers_follow_their_credentials_and_are_held_without_them() -> None:
    """A credential set as a secret switches its receiver on; the settings keep only that it exists."""
    settings = staging({"alertChatWebhookUrl": PLANTED_WEBHOOK, "alertEmailTo": '["oncall@example.com"]'})
    receivers = settings.monitoring.receivers
    assert (receivers.chat, receivers.pager, receivers.database_team) == (True, False, False)
    assert receivers.email_to == ("oncall@example.com",)
    assert receivers.email_smarthost == "smtp.example.com:587"
    assert receivers.email_username == "crm"
    assert receivers.email_from == "alertmanager@staging.crm.example.com"
    assert PLANTED_WEBHOOK not in repr(settings) and PLANTED_WEBHOOK not in json.dumps(settings.describe())
    described = settings.describe()["monitoring"]
    assert isinstance(described, dict) and described["receivers"] == ["chat", "email"]


# (id, stack, changes, secret keys or None for the default, key the message must name, exact message)
INVALID: list[tuple[str, str, dict[str, str], set[str] | None, str, str]] = [
    (
        "retention-not-a-duration",
        "staging",
        {"prometheusRetention": "15 days"},
        None,
        "prometheusRetention",
        'crm-platform:prometheusRetention = "15 days": not a duration; allowed: a Prometheus duration from 2h to '
        '10y, such as "15d" or "12h" (units y, w, d, h, m, s)',
    ),
    (
        "retention-too-short",
        "staging",
        {"prometheusRetention": "30m"},
        None,
        "prometheusRetention",
        'crm-platform:prometheusRetention = "30m": out of range; allowed: a Prometheus duration from 2h to 10y, '
        'such as "15d" or "12h" (units y, w, d, h, m, s)',
    ),
    (
        "retention-size-without-unit",
        "staging",
        {"prometheusRetentionSize": "40"},
        None,
        "prometheusRetentionSize",
        'crm-platform:prometheusRetentionSize = "40": not a size; allowed: a whole number with KB, MB, GB, TB or '
        'PB (or KiB..PiB), e.g. "40GB"',
    ),
    (
        "retention-size-fills-the-volume",
        "staging",
        {"prometheusRetentionSize": "19GB"},
        None,
        "prometheusRetentionSize",
        'crm-platform:prometheusRetentionSize = "19GB": leaves no room on the 20Gi volume (prometheusStorage) for '
        "compaction and the WAL; allowed: at most 90 % of prometheusStorage (Prometheus counts GB in GiB)",
    ),
    (
        "storage-not-a-quantity",
        "staging",
        {"prometheusStorage": "50GB"},
        None,
        "prometheusStorage",
        'crm-platform:prometheusStorage = "50GB": not a memory quantity; allowed: a size such as "512Mi", "8Gi" '
        'or "1G"',
    ),
    (
        "control-plane-not-a-boolean",
        "staging",
        {"managedControlPlane": "yes"},
        None,
        "managedControlPlane",
        'crm-platform:managedControlPlane = "yes": not a boolean; allowed: "true", "false" or "" (the profile decides)',
    ),
    (
        "thresholds-not-an-object",
        "staging",
        {"alertThresholds": "[80]"},
        None,
        "alertThresholds",
        'crm-platform:alertThresholds = "[80]": not an object; allowed: a mapping of any of '
        + ", ".join(threshold_keys())
        + " to a number",
    ),
    (
        "threshold-misspelt",
        "staging",
        {"alertThresholds": '{"cpuPercent": 70}'},
        None,
        "alertThresholds.cpuPercent",
        'crm-platform:alertThresholds.cpuPercent = "70": unknown threshold; did you mean cpuPercentOfLimit? '
        "allowed: " + ", ".join(threshold_keys()),
    ),
    (
        "threshold-out-of-range",
        "staging",
        {"alertThresholds": '{"diskPercent": 100}'},
        None,
        "alertThresholds.diskPercent",
        'crm-platform:alertThresholds.diskPercent = "100": out of range; allowed: a whole number from 1 to 99',
    ),
    (
        "threshold-not-whole",
        "staging",
        {"alertThresholds": '{"queueBacklog": 10.5}'},
        None,
        "alertThresholds.queueBacklog",
        'crm-platform:alertThresholds.queueBacklog = "10.5": not a whole number; allowed: a whole number from 1 '
        "to 10000000",
    ),
    (
        "threshold-not-a-number",
        "staging",
        {"alertThresholds": '{"errorRatioPercent": true}'},
        None,
        "alertThresholds.errorRatioPercent",
        'crm-platform:alertThresholds.errorRatioPercent = "true": not a number; allowed: a number from 0.01 to 100',
    ),
    (
        "slo-without-error-budget",
        "staging",
        {"alertThresholds": '{"availabilitySloPercent": 100}'},
        None,
        "alertThresholds.availabilitySloPercent",
        'crm-platform:alertThresholds.availabilitySloPercent = "100": out of range; allowed: a number from 90 to '
        "99.999 (100 leaves no error budget to burn)",
    ),
    (
        "certificate-expiry-past-renewal",
        "staging",
        {"alertThresholds": '{"certificateExpiryDays": 30}'},
        None,
        "alertThresholds.certificateExpiryDays",
        'crm-platform:alertThresholds.certificateExpiryDays = "30": out of range; allowed: a whole number from 1 '
        "to 29 (cert-manager renews at 30 days, so more would fire on healthy certificates)",
    ),
    (
        "email-not-an-address",
        "staging",
        {"alertEmailTo": '["oncall"]'},
        None,
        "alertEmailTo[0]",
        'crm-platform:alertEmailTo[0] = "oncall": not an e-mail address; allowed: name@example.com',
    ),
    (
        "email-without-smtp",
        "dev",
        {"alertEmailTo": '["oncall@example.com"]'},
        None,
        "alertEmailTo",
        'crm-platform:alertEmailTo = "[\\"oncall@example.com\\"]": alert mail goes through the stack\'s SMTP '
        "relay, and none is set; allowed: [] or set smtpHost, smtpUsername and smtpPassword",
    ),
    (
        "email-sender-not-an-address",
        "staging",
        {"alertEmailFrom": "alerts"},
        None,
        "alertEmailFrom",
        'crm-platform:alertEmailFrom = "alerts": not an e-mail address; allowed: name@example.com',
    ),
    (
        "chat-webhook-in-plain-text",
        "staging",
        {"alertChatWebhookUrl": PLANTED_WEBHOOK},
        SECRETS,
        "alertChatWebhookUrl",
        "crm-platform:alertChatWebhookUrl = [secret]: is stored in plain text; allowed: an encrypted value, set "
        "with `pulumi config set --secret alertChatWebhookUrl <value> --stack staging`",
    ),
    (
        "pager-key-in-plain-text",
        "production",
        {"alertPagerRoutingKey": "PLANTEDpager0123456789abcdef01234"},
        SECRETS,
        "alertPagerRoutingKey",
        "crm-platform:alertPagerRoutingKey = [secret]: is stored in plain text; allowed: an encrypted value, set "
        "with `pulumi config set --secret alertPagerRoutingKey <value> --stack production`",
    ),
    (
        "webhook-with-a-line-break",
        "staging",
        {"alertChatWebhookUrl": PLANTED_WEBHOOK + "\n"},
        None,
        "alertChatWebhookUrl",
        "crm-platform:alertChatWebhookUrl = [secret]: contains white space or a line break; allowed: the value "
        "alone, on one line",
    ),
    (
        "database-webhook-without-team-chat",
        "staging",
        {"alertDatabaseChatWebhookUrl": PLANTED_WEBHOOK},
        None,
        "alertChatWebhookUrl",
        "crm-platform:alertChatWebhookUrl is missing: the database team's webhook (alertDatabaseChatWebhookUrl) "
        "takes the database alerts from the team chat, and there is none; allowed: set it with `pulumi config "
        "set --secret alertChatWebhookUrl <url> --stack staging`",
    ),
    (
        "business-metrics-not-an-object",
        "staging",
        {"businessMetrics": '["user_registrations_total"]'},
        None,
        "businessMetrics",
        'crm-platform:businessMetrics = "[\\"user_registrations_total\\"]": not an object; allowed: a mapping of '
        'panel title to counter name, e.g. {"User registrations": "user_registrations_total"}',
    ),
    (
        "business-metric-not-a-counter",
        "staging",
        {"businessMetrics": '{"Registrations": "user_registrations"}'},
        None,
        "businessMetrics.Registrations",
        'crm-platform:businessMetrics.Registrations = "user_registrations": does not end in _total, which '
        "prometheus-client adds to every counter it exports; allowed: a Prometheus counter name ending in "
        "_total, such as user_registrations_total",
    ),
    (
        "business-metric-not-a-metric-name",
        "staging",
        {"businessMetrics": '{"Registrations": "user-registrations_total"}'},
        None,
        "businessMetrics.Registrations",
        'crm-platform:businessMetrics.Registrations = "user-registrations_total": not a Prometheus metric name; '
        "allowed: a Prometheus counter name ending in _total, such as user_registrations_total",
    ),
    (
        "business-metric-twice",
        "staging",
        {"businessMetrics": '{"Sign-ups": "user_registrations_total", "Registrations": "user_registrations_total"}'},
        None,
        "businessMetrics.Registrations",
        'crm-platform:businessMetrics.Registrations = "user_registrations_total": is plotted by another panel '
        "already; allowed: each counter once",
    ),
    (
        "business-metric-title-empty",
        "staging",
        {"businessMetrics": '{" ": "user_registrations_total"}'},
        None,
        "businessMetrics",
        'crm-platform:businessMetrics = " ": has a panel title that is not a title; allowed: 1-80 printable '
        "characters, e.g. User registrations",
    ),
]


@pytest.mark.parametrize(
    ("stack", "changes", "secret_keys", "key", "message"),
    [pytest.param(*case[1:], id=case[0]) for case in INVALID],
)
def test_invalid_monitoring_settings_stop_with_their_exact_message(
    stack: str, changes: dict[str, str], secret_keys: set[str] | None, key: str, message: str
) -> None:
    """Each bad monitoring value stops the stack with one problem naming the key, the value (a secret's never)
    and what is allowed."""
    raw_changes = dict(changes)
    if stack == "dev":
        raw = full({"appImage": "ghcr.io/acme/crm-backend:2.4.1", **raw_changes})
        keys = RECEIVER_SECRETS if secret_keys is None else secret_keys
        with pytest.raises(SettingsError) as raised:
            build("dev", raw, keys)
    else:
        with pytest.raises(SettingsError) as raised:
            staging(raw_changes, secret_keys, stack=stack)
    problems = [problem for problem in raised.value.problems if problem.key == f"{PROJECT}:{key}"]
    assert [str(problem) for problem in problems] == [message]
    assert PLANTED_WEBHOOK not in str(raised.value)


def test_without_alert_mail_no_mail_route_is_kept() -> None:
    """No alertEmailTo, no mail: the relay, its user and a sender given anyway stay out of the receivers."""
    receivers = environment_settings("staging", {"alertEmailFrom": "alerts@example.com"}).monitoring.receivers
    assert (receivers.email_to, receivers.email_smarthost, receivers.email_username, receivers.email_from) == (
        (),
        "",
        "",
        "",
    )


def test_a_sender_given_replaces_the_default_one() -> None:
    """alertEmailFrom, when set, is the sender of alert mail instead of alertmanager@<domain>."""
    receivers = environment_settings(
        "staging", {"alertEmailTo": '["oncall@example.com"]', "alertEmailFrom": "alerts@example.com"}
    ).monitoring.receivers
    assert (receivers.email_smarthost, receivers.email_username, receivers.email_from) == (
        "smtp.example.com:587",
        "crm",
        "alerts@example.com",
    )


def test_retention_may_fill_exactly_ninety_percent_of_the_volume() -> None:
    """18GB (Prometheus' GiB) on a 20Gi volume is exactly 90 %: allowed; one MB more is not."""
    monitoring = environment_settings("staging", {"prometheusRetentionSize": "18GB"}).monitoring
    assert (monitoring.prometheus_retention_size, monitoring.prometheus_storage) == ("18GB", "20Gi")
    assert environment_problems("staging", {"prometheusRetentionSize": "18433MB"}) == [
        'crm-platform:prometheusRetentionSize = "18433MB": leaves no room on the 20Gi volume (prometheusStorage) '
        "for compaction and the WAL; allowed: at most 90 % of prometheusStorage (Prometheus counts GB in GiB)"
    ]


@pytest.mark.parametrize("key", ["alertThresholds", "businessMetrics"])
def test_an_empty_object_key_keeps_the_defaults(key: str) -> None:
    """An empty value ("" as `pulumi config set key ""` writes it) means no change: default thresholds, no
    business panels."""
    monitoring = environment_settings("staging", {key: ""}).monitoring
    assert (monitoring.thresholds, monitoring.business_metrics) == (AlertThresholds(), ())


@pytest.mark.parametrize(
    ("given", "chosen"),
    [
        pytest.param(
            {"cpuPercentOfLimit": 1, "diskPercent": 99, "errorRatioPercent": 0.01, "availabilitySloPercent": 90},
            {
                "cpu_percent_of_limit": 1,
                "disk_percent": 99,
                "error_ratio_percent": 0.01,
                "availability_slo_percent": 90,
            },
            id="lowest-and-highest",
        ),
        pytest.param(
            {"certificateExpiryDays": "29", "latencyP95Seconds": 600, "availabilitySloPercent": "99.999"},
            {"certificate_expiry_days": 29, "latency_p95_seconds": 600, "availability_slo_percent": 99.999},
            id="highest-as-text",
        ),
        pytest.param(
            {"queueBacklog": 10000000.0, "replicationLagSeconds": 1, "taskFailurePercent": 100},
            {"queue_backlog": 10000000, "replication_lag_seconds": 1, "task_failure_percent": 100},
            id="whole-number-written-as-fraction",
        ),
        pytest.param(
            {"latencyP95Seconds": 0.001, "taskFailurePercent": "0.01", "brokerMemoryPercent": 99},
            {"latency_p95_seconds": 0.001, "task_failure_percent": 0.01, "broker_memory_percent": 99},
            id="fractional-lowest",
        ),
    ],
)
def test_thresholds_accept_their_bounds_and_keep_their_kind(
    given: dict[str, object], chosen: dict[str, object]
) -> None:
    """Each range includes both ends; a whole-number threshold stays an int (1, never 1.0, in the alert rules) and a
    fractional one a float; thresholds not given keep their defaults."""
    thresholds = environment_settings("staging", {"alertThresholds": json.dumps(given)}).monitoring.thresholds
    defaults = AlertThresholds()
    expected = {
        name: (value, type(getattr(defaults, name)))
        for name, value in {**dataclasses.asdict(defaults), **chosen}.items()
    }
    assert {name: (value, type(value)) for name, value in dataclasses.asdict(thresholds).items()} == expected


THRESHOLD_KEYS = ", ".join(threshold_keys())


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param(
            '{"silence": 1}',
            [f'crm-platform:alertThresholds.silence = "1": unknown threshold; allowed: {THRESHOLD_KEYS}'],
            id="unknown-with-nothing-close",
        ),
        pytest.param(
            '{"diskPercnt": 80, "cpuPercentOfLimit": 0, "errorRatioPercent": 0.009, "availabilitySloPercent": 89.99}',
            [
                'crm-platform:alertThresholds.diskPercnt = "80": unknown threshold; did you mean diskPercent? '
                f"allowed: {THRESHOLD_KEYS}",
                'crm-platform:alertThresholds.cpuPercentOfLimit = "0": out of range; allowed: a whole number from 1 '
                "to 100",
                'crm-platform:alertThresholds.errorRatioPercent = "0.009": out of range; allowed: a number from 0.01 '
                "to 100",
                'crm-platform:alertThresholds.availabilitySloPercent = "89.99": out of range; allowed: a number from '
                "90 to 99.999 (100 leaves no error budget to burn)",
            ],
            id="each-after-an-unknown-one",
        ),
        pytest.param(
            '{"latencyP95Seconds": 600.001, "brokerMemoryPercent": "80%", "queueBacklog": null}',
            [
                'crm-platform:alertThresholds.latencyP95Seconds = "600.001": out of range; allowed: a number from '
                "0.001 to 600",
                'crm-platform:alertThresholds.brokerMemoryPercent = "80%": not a number; allowed: a whole number '
                "from 1 to 99",
                'crm-platform:alertThresholds.queueBacklog = "null": not a number; allowed: a whole number from 1 to '
                "10000000",
            ],
            id="past-the-top-text-and-null",
        ),
    ],
)
def test_bad_thresholds_name_every_problem(given: str, expected: list[str]) -> None:
    """Every bad threshold is named, each after the one before it; a hint only where a key is close."""
    assert environment_problems("staging", {"alertThresholds": given}) == expected


BUSINESS_ALLOWED = (
    'allowed: a mapping of panel title to counter name, e.g. {"User registrations": "user_registrations_total"}'
)
COUNTER_ALLOWED = "allowed: a Prometheus counter name ending in _total, such as user_registrations_total"


def test_bad_business_metrics_name_every_problem_in_order() -> None:
    """Each bad panel is named and the next one still checked: a blank title, a counter that is not text, a name
    Prometheus would not export, a counter plotted twice."""
    given = {
        "": "user_registrations_total",
        "Deals won": 5,
        "Deals lost": None,
        "Sign-ups": "user_registrations_total",
        "Registrations": "user_registrations",
        "New users": "user_registrations_total",
        "Logins": "user logins_total",
    }
    assert environment_problems("staging", {"businessMetrics": json.dumps(given)}) == [
        'crm-platform:businessMetrics = "": has a panel title that is not a title; allowed: 1-80 printable '
        "characters, e.g. User registrations",
        f'crm-platform:businessMetrics.Deals won = "5": not a counter name; {BUSINESS_ALLOWED}',
        f'crm-platform:businessMetrics.Deals lost = "null": not a counter name; {BUSINESS_ALLOWED}',
        'crm-platform:businessMetrics.Registrations = "user_registrations": does not end in _total, which '
        f"prometheus-client adds to every counter it exports; {COUNTER_ALLOWED}",
        'crm-platform:businessMetrics.New users = "user_registrations_total": is plotted by another panel already; '
        "allowed: each counter once",
        f'crm-platform:businessMetrics.Logins = "user logins_total": not a Prometheus metric name; {COUNTER_ALLOWED}',
    ]
