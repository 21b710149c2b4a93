"""Typed stack settings: `load()` once from Pulumi config, then pass `Settings` around.

Nothing outside this package reads `pulumi.Config` or the environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi.runtime import config as runtime_config

from stacks.build import build
from stacks.errors import SettingsError
from stacks.model import Settings
from stacks.profiles import Environment
from stacks.schema import PROJECT

__all__ = ["ConfigSecrets", "Environment", "Settings", "SettingsError", "build", "config_secrets", "load"]


def load() -> Settings:
    """Build and validate the current stack's settings; raises SettingsError (no traceback)."""
    raw, secret_keys = _runtime_config()
    return build(pulumi.get_stack(), raw, secret_keys)


@dataclass(frozen=True)
class ConfigSecrets:
    """Secrets that come from stack config, as Pulumi secret Outputs."""

    smtp_password: pulumi.Output[str] | None
    """The SMTP password, when the stack sends mail."""
    registry_password: pulumi.Output[str] | None
    """The registry password or token, when images come from a private registry."""
    alert_chat_webhook_url: pulumi.Output[str] | None
    """The chat receiver's webhook (alertChatWebhookUrl), where the stack configured one."""
    alert_pager_routing_key: pulumi.Output[str] | None
    """The pager receiver's routing key (alertPagerRoutingKey), where the stack configured one."""
    alert_database_chat_webhook_url: pulumi.Output[str] | None
    """The database team's chat webhook (alertDatabaseChatWebhookUrl), where the stack configured one."""
    app_secrets: pulumi.Output[Mapping[str, str]] | None = None
    """The application's own secrets (appSecrets) by name, when it has any."""


def config_secrets(settings: Settings) -> ConfigSecrets:
    """Read the config secrets the settings call for; each stays an Output secret."""
    config = pulumi.Config(PROJECT)
    receivers = settings.monitoring.receivers
    return ConfigSecrets(
        smtp_password=config.require_secret("smtpPassword") if settings.smtp else None,
        registry_password=config.require_secret("registryPassword") if settings.registry else None,
        alert_chat_webhook_url=config.require_secret("alertChatWebhookUrl") if receivers.chat else None,
        alert_pager_routing_key=config.require_secret("alertPagerRoutingKey") if receivers.pager else None,
        alert_database_chat_webhook_url=(
            config.require_secret("alertDatabaseChatWebhookUrl") if receivers.database_team else None
        ),
        # The names were checked by build(); only they are kept (a secret object's values are never inspected).
        app_secrets=(
            config.require_secret_object("appSecrets").apply(
                lambda values: {name: str(values[name]) for name in settings.app.secret_names}
            )
            if settings.app.secret_names
            else None
        ),
    )


def _runtime_config() -> tuple[dict[str, str], set[str]]:
    """All config values the engine handed the program, and which of them are secrets.

    The language host passes config in PULUMI_CONFIG and may also preload the runtime's
    config map; mocks use only the map. Read both so unknown keys are caught either way.
    """
    raw: dict[str, str] = {str(k): str(v) for k, v in runtime_config.get_config_env().items()}
    raw.update({str(k): str(v) for k, v in runtime_config.CONFIG.get().items()})
    secret_keys = set(runtime_config.get_config_secret_keys_env())
    secret_keys.update(key for key in raw if pulumi.runtime.is_config_secret(key))
    return raw, secret_keys
