"""Outbound settings: the connections the stack opens to the outside (the SMTP relay, the private image registry,
the extra egress ports), each bad value refused with the whole list of problems it causes, each good one kept
as given in the settings."""

from __future__ import annotations

import pytest

from stacks.model import RegistrySettings, SmtpSettings
from tests.stacks.test_settings import environment_problems, environment_settings

PORTS_ALLOWED = "allowed: a list of TCP ports from 1 to 65535, e.g. [27017]"
REGISTRY_PASSWORD_MISSING = (
    "crm-platform:registryPassword is missing: required secret when registryServer is set; set it with "
    "`pulumi config set --secret registryPassword <token> --stack staging`"
)
REGISTRY_LOGIN = {"registryServer": "registry.example.com:5000", "registryUsername": "ci", "registryPassword": "t0k"}


@pytest.mark.parametrize(
    ("changes", "registry"),
    [
        pytest.param({}, None, id="unset"),
        pytest.param({"registryServer": ""}, None, id="empty"),
        pytest.param(REGISTRY_LOGIN, RegistrySettings("registry.example.com:5000", "ci"), id="host-and-port"),
        pytest.param(
            {**REGISTRY_LOGIN, "registryServer": "ghcr.io", "registryUsername": "acme-bot@example.com"},
            RegistrySettings("ghcr.io", "acme-bot@example.com"),
            id="host-alone",
        ),
    ],
)
def test_a_private_registry_keeps_its_server_and_user(changes: dict[str, str], registry: RegistrySettings) -> None:
    """The pull secret is keyed by the server as given and logs in as the user given; no server, no pull secret."""
    assert environment_settings("staging", changes).registry == registry


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param(
            {"registryServer": "ghcr.io"},
            [
                "crm-platform:registryUsername is missing: required when registryServer is set; allowed: the "
                "registry user name",
                REGISTRY_PASSWORD_MISSING,
            ],
            id="server-alone",
        ),
        pytest.param(
            {"registryServer": "ghcr.io", "registryUsername": "ci bot", "registryPassword": "t0k"},
            [
                'crm-platform:registryUsername = "ci bot": not a user name; allowed: 1-253 characters without white '
                "space"
            ],
            id="user-with-space",
        ),
        pytest.param(
            {"registryServer": "ghcr.io", "registryUsername": "ci:t0k", "registryPassword": "t0k"},
            [
                "crm-platform:registryUsername = \"ci:t0k\": contains ':', which separates user and password in a "
                "registry login; allowed: a name without ':'"
            ],
            id="user-with-colon",
        ),
        pytest.param(
            {"registryServer": "https://ghcr.io", "registryUsername": "ci"},
            [
                'crm-platform:registryServer = "https://ghcr.io": has a scheme or path; allowed: a registry host such '
                "as ghcr.io or registry.example.com:5000"
            ],
            id="server-with-scheme-asks-nothing-else",
        ),
    ],
)
def test_a_bad_registry_login_names_every_problem(changes: dict[str, str], expected: list[str]) -> None:
    """A server needs a user and a password; the user may not hold the ':' the login joins them with. A bad
    server is refused alone: the user and password it would need are not asked for."""
    assert environment_problems("staging", changes) == expected


@pytest.mark.parametrize(
    ("changes", "smtp"),
    [
        pytest.param({}, SmtpSettings("smtp.example.com", 587, "crm"), id="staging-default-port"),
        pytest.param({"smtpPort": "1"}, SmtpSettings("smtp.example.com", 1, "crm"), id="lowest-port"),
        pytest.param(
            {"smtpPort": "65535", "smtpUsername": "crm@example.com"},
            SmtpSettings("smtp.example.com", 65535, "crm@example.com"),
            id="highest-port",
        ),
    ],
)
def test_the_smtp_relay_keeps_its_host_port_and_user(changes: dict[str, str], smtp: SmtpSettings) -> None:
    """The relay's host, port and user go to the settings as given."""
    assert environment_settings("staging", changes).smtp == smtp


def test_dev_without_a_relay_has_no_smtp_settings_even_with_a_user() -> None:
    """Without smtpHost there is no relay, whatever else is set (dev sends no mail)."""
    assert environment_settings("dev", {"smtpUsername": "crm"}).smtp is None


@pytest.mark.parametrize(
    ("text", "ports"),
    [
        pytest.param("", (), id="empty-text"),
        pytest.param("[]", (), id="empty-list"),
        pytest.param("[1, 65535]", (1, 65535), id="boundaries"),
        pytest.param('[5432, "27017", 6379]', (5432, 27017, 6379), id="order-kept-text-too"),
    ],
)
def test_egress_ports_keep_the_ports_given_in_order(text: str, ports: tuple[int, ...]) -> None:
    """Ports 1 to 65535 are opened as listed; a port written as text (pulumi config set --path) counts too."""
    assert environment_settings("staging", {"egressPorts": text}).egress_ports == ports


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("27017", [f'crm-platform:egressPorts = "27017": not a list; {PORTS_ALLOWED}'], id="number"),
        pytest.param(
            '{"mongo": 27017}',
            [f'crm-platform:egressPorts = "{{\\"mongo\\": 27017}}": not a list; {PORTS_ALLOWED}'],
            id="object",
        ),
        pytest.param("[27017", [f'crm-platform:egressPorts = "[27017": not a list; {PORTS_ALLOWED}'], id="not-json"),
        pytest.param(
            "[0, 1, 65536, 65535]",
            [
                f'crm-platform:egressPorts[0] = "0": not a port; {PORTS_ALLOWED}',
                f'crm-platform:egressPorts[2] = "65536": not a port; {PORTS_ALLOWED}',
            ],
            id="just-outside-the-range",
        ),
        pytest.param(
            '[true, false, 27017, 27.5, "5432/tcp", null]',
            [
                f'crm-platform:egressPorts[0] = "true": not a port; {PORTS_ALLOWED}',
                f'crm-platform:egressPorts[1] = "false": not a port; {PORTS_ALLOWED}',
                f'crm-platform:egressPorts[3] = "27.5": not a port; {PORTS_ALLOWED}',
                f'crm-platform:egressPorts[4] = "\\"5432/tcp\\"": not a port; {PORTS_ALLOWED}',
                f'crm-platform:egressPorts[5] = "null": not a port; {PORTS_ALLOWED}',
            ],
            id="not-whole-numbers",
        ),
        pytest.param(
            '[27017, 5432, "27017", 27017]',
            [
                'crm-platform:egressPorts[2] = "27017": is listed twice; allowed: each port once',
                'crm-platform:egressPorts[3] = "27017": is listed twice; allowed: each port once',
            ],
            id="duplicates",
        ),
    ],
)
def test_bad_egress_ports_name_every_problem(text: str, expected: list[str]) -> None:
    """Anything but a JSON list of whole numbers from 1 to 65535, each once, is refused: a boolean is not port 1,
    and every bad item is named by its index."""
    assert environment_problems("staging", {"egressPorts": text}) == expected


def test_egress_ports_need_networks_to_open_towards() -> None:
    """A port opens towards egressCidrs only: without them it would open nothing, so it is refused."""
    assert environment_problems("dev", {"egressPorts": "[27017, 5432]"}) == [
        'crm-platform:egressPorts = "[27017, 5432]": opens ports towards egressCidrs, which is empty; allowed: set '
        "egressCidrs to the networks those ports are on (your database's), or []"
    ]
