"""The Alertmanager configuration of a stack: the alertmanager.yaml document, as a plain dict.

Pure data, no resources; the Monitoring component delivers it in a Kubernetes Secret (it holds
the receivers' credentials inline: the chat webhook URL, the pager routing key, the SMTP
password). Inline, because the configuration must pass `amtool check-config` of Alertmanager
0.25 (Debian's, which the tests run), which knows no `url_file` for webhooks; and a Secret is
where Alertmanager's operator-managed configuration lives anyway.

Routing (seed 004):
- grouped by alertname, cluster and service; group_wait 10 s (0 s for criticals), group_interval
  10 s, repeat_interval 12 h (5 m for criticals);
- the Watchdog goes to the `heartbeat` receiver only (a dead man's switch's webhook, when the stack
  has one), every minute;
- alerts of another environment sharing this Alertmanager (staging on production's cluster) go
  to chat: they never page;
- database alerts (`service="postgres"`, or a `team="database"` label) go to the database team's
  channel where one is configured, and criticals among them continue to the critical route;
- criticals go to `page` (pager, chat and mail) where the environment pages, else to `critical`
  (chat and mail: staging never pages); everything else goes to `chat`;
- a critical inhibits the warnings and infos of the same service of the same stack, and a
  warning of the same alertname in the same namespace; a warning inhibits the infos of its service.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from stacks.monitoring import MonitoringSettings

CHAT_WEBHOOK_URL: Final = "chat_webhook_url"
PAGER_ROUTING_KEY: Final = "pager_routing_key"
DATABASE_CHAT_WEBHOOK_URL: Final = "database_chat_webhook_url"
SMTP_PASSWORD: Final = "smtp_password"
HEARTBEAT_URL: Final = "heartbeat_url"
"""Optional: a dead man's switch's URL (healthchecks.io, Dead Man's Snitch, a pager's heartbeat)
that raises its own alarm when the Watchdog stops arriving."""
CREDENTIAL_KEYS: Final = frozenset(
    {CHAT_WEBHOOK_URL, PAGER_ROUTING_KEY, DATABASE_CHAT_WEBHOOK_URL, SMTP_PASSWORD, HEARTBEAT_URL}
)

# Receiver names, as routes and tests refer to them.
CHAT: Final = "chat"
PAGE: Final = "page"
CRITICAL: Final = "critical"
DATABASE: Final = "database"
HEARTBEAT: Final = "heartbeat"
NOWHERE: Final = "null"

GROUP_BY: Final = ("alertname", "cluster", "service")
GROUP_WAIT: Final = "10s"
GROUP_INTERVAL: Final = "10s"
REPEAT_INTERVAL: Final = "12h"
CRITICAL_GROUP_WAIT: Final = "0s"
CRITICAL_REPEAT_INTERVAL: Final = "5m"
HEARTBEAT_INTERVAL: Final = "1m"
"""How often the Watchdog reaches the heartbeat receiver: a dead man's switch with a few minutes'
grace notices a broken pipeline within minutes."""

CHAT_TITLE: Final = (
    '[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] '
    "{{ .CommonLabels.alertname }} ({{ .CommonLabels.stack }}, {{ .CommonLabels.severity }})"
)
CHAT_TEXT: Final = (
    "{{ range .Alerts }}*{{ .Annotations.summary }}*\n{{ .Annotations.description }}\n"
    "Runbook: {{ .Annotations.runbook_url }}\n{{ end }}"
)
PAGER_DESCRIPTION: Final = "{{ .CommonLabels.alertname }} ({{ .CommonLabels.stack }}): {{ .CommonAnnotations.summary }}"


@dataclass(frozen=True)
class MailRelay:
    """Where criticals are mailed from: the stack's SMTP relay (settings.smtp) and a sender address."""

    host: str
    """The relay's host name."""
    port: int
    """Its submission port."""
    username: str
    """The SMTP user; the password is a credential."""
    sender: str
    """The From address, e.g. alertmanager@<the stack's domain>."""


class AlertmanagerConfigError(ValueError):
    """The receivers the settings ask for lack what they need; the message names the key."""


def _require(credentials: Mapping[str, str], key: str, why: str) -> str:
    value = credentials.get(key, "")
    if not value:
        raise AlertmanagerConfigError(f"credentials[{key!r}] is missing: {why}")
    return value


def _chat_config(url: str) -> dict[str, Any]:
    # Slack's incoming-webhook format; Mattermost and Rocket.Chat accept it too.
    return {"api_url": url, "send_resolved": True, "title": CHAT_TITLE, "text": CHAT_TEXT}


def _critical_timing(route: dict[str, Any]) -> dict[str, Any]:
    return {**route, "group_wait": CRITICAL_GROUP_WAIT, "repeat_interval": CRITICAL_REPEAT_INTERVAL}


def alertmanager_config(
    settings: MonitoringSettings,
    environment: str,
    credentials: Mapping[str, str],
    mail: MailRelay | None = None,
) -> dict[str, Any]:
    """The alertmanager.yaml document of the stack whose environment is `environment`.

    `credentials` holds the receivers' secrets by key (chat_webhook_url, pager_routing_key,
    database_chat_webhook_url, smtp_password, optionally heartbeat_url), each present only when
    configured; `mail` is the SMTP relay, needed when `settings.receivers.email_to` names anyone.
    """
    unknown = set(credentials) - CREDENTIAL_KEYS
    if unknown:
        raise AlertmanagerConfigError(
            f"credentials has unknown keys {sorted(unknown)}; allowed: {sorted(CREDENTIAL_KEYS)}"
        )
    receivers = settings.receivers
    pages = receivers.pages and receivers.pager

    chat_configs = []
    if receivers.chat:
        chat_configs.append(_chat_config(_require(credentials, CHAT_WEBHOOK_URL, "receivers.chat is set")))
    email_configs = []
    config: dict[str, Any] = {"global": {"resolve_timeout": "5m"}}
    if receivers.email_to:
        if mail is None:
            raise AlertmanagerConfigError(
                f"receivers.email_to is {list(receivers.email_to)} but no mail relay was given"
            )
        config["global"].update(
            {
                "smtp_smarthost": f"{mail.host}:{mail.port}",
                "smtp_from": mail.sender,
                "smtp_auth_username": mail.username,
                "smtp_auth_password": _require(credentials, SMTP_PASSWORD, "receivers.email_to names recipients"),
                "smtp_require_tls": True,
            }
        )
        email_configs = [{"to": address, "send_resolved": True} for address in receivers.email_to]

    receiver_list: list[dict[str, Any]] = [
        {"name": NOWHERE},
        {"name": CHAT, **({"slack_configs": chat_configs} if chat_configs else {})},
    ]
    critical_receiver: dict[str, Any] = {"name": PAGE if pages else CRITICAL}
    if pages:
        routing_key = _require(credentials, PAGER_ROUTING_KEY, "receivers.pager is set where the environment pages")
        critical_receiver["pagerduty_configs"] = [
            {
                "routing_key": routing_key,
                "send_resolved": True,
                "severity": "critical",
                "description": PAGER_DESCRIPTION,
            }
        ]
    if chat_configs:
        # A copy, not the same list: a YAML dump would otherwise write an anchor and an alias.
        critical_receiver["slack_configs"] = [dict(chat) for chat in chat_configs]
    if email_configs:
        critical_receiver["email_configs"] = email_configs
    receiver_list.append(critical_receiver)

    heartbeat: dict[str, Any] = {"name": HEARTBEAT}
    if credentials.get(HEARTBEAT_URL):
        heartbeat["webhook_configs"] = [{"url": credentials[HEARTBEAT_URL], "send_resolved": False}]
    receiver_list.append(heartbeat)

    default_receiver = CHAT if chat_configs else NOWHERE
    routes: list[dict[str, Any]] = [
        {
            "receiver": HEARTBEAT,
            "matchers": ['alertname="Watchdog"'],
            "group_wait": "0s",
            "group_interval": HEARTBEAT_INTERVAL,
            "repeat_interval": HEARTBEAT_INTERVAL,
        },
        {
            # Another environment's alerts (its stack shares this cluster's Alertmanager): chat only.
            "receiver": default_receiver,
            "matchers": ['environment=~".+"', f'environment!="{environment}"'],
            "routes": [_critical_timing({"receiver": default_receiver, "matchers": ['severity="critical"']})],
        },
    ]
    if receivers.database_team:
        url = _require(credentials, DATABASE_CHAT_WEBHOOK_URL, "receivers.database_team is set")
        receiver_list.append({"name": DATABASE, "slack_configs": [_chat_config(url)]})
        for matchers in (['service="postgres"'], ['team="database"', 'service!="postgres"']):
            routes.append(
                {
                    "receiver": DATABASE,
                    "matchers": matchers,
                    # Criticals go on to the critical route: the database team and the pager both hear.
                    "continue": True,
                    "routes": [_critical_timing({"receiver": DATABASE, "matchers": ['severity="critical"']})],
                }
            )
    routes.append(_critical_timing({"receiver": critical_receiver["name"], "matchers": ['severity="critical"']}))

    config["route"] = {
        "receiver": default_receiver,
        "group_by": list(GROUP_BY),
        "group_wait": GROUP_WAIT,
        "group_interval": GROUP_INTERVAL,
        "repeat_interval": REPEAT_INTERVAL,
        "routes": routes,
    }
    config["inhibit_rules"] = [
        {
            # A critical of a service (PostgresDown) makes its warnings (PostgresConnectionsHigh) noise.
            "source_matchers": ['severity="critical"', 'stack=~".+"'],
            "target_matchers": ['severity=~"warning|info"', 'stack=~".+"'],
            "equal": ["stack", "service"],
        },
        {
            # The same alert at two severities (kube-prometheus-stack's rules do this): the critical wins.
            "source_matchers": ['severity="critical"'],
            "target_matchers": ['severity="warning"'],
            "equal": ["alertname", "namespace"],
        },
        {
            "source_matchers": ['severity="warning"', 'stack=~".+"'],
            "target_matchers": ['severity="info"', 'stack=~".+"'],
            "equal": ["stack", "service"],
        },
    ]
    config["receivers"] = receiver_list
    return config
