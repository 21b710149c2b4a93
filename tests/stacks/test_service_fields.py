"""Field by field, what stacks/services.py accepts, refuses and reports, called directly.

The whole-stack tests (test_services.py) show a message reaches the user; these pin each parse
helper's boundaries and each report's exact key, value and message, and what the resolved service
then holds (the default kept, later items still read after a refused one).
"""

from __future__ import annotations

from typing import Any

import pytest

from stacks.services import (
    NOT_SHOWN,
    Role,
    Scale,
    ServiceContext,
    ServiceSettings,
    WebServer,
    _boolean,
    _closest,
    _whole_number,
    _words,
    default_services,
    enabled,
    resolve_service,
    services_object,
    shadows_platform,
    web_server_args,
)
from stacks.validation import InvalidValueError
from tests.stacks.test_services import APP_IMAGE, FRONTEND_IMAGE

Reported = list[tuple[str, object, str]]

DEFAULTS = default_services("crm", APP_IMAGE, FRONTEND_IMAGE)
TEXT = "not a text value; allowed: a non-empty string (quote numbers and booleans in YAML)"
WORDS = "not a list of strings; allowed: a YAML list of non-empty strings"


def resolve(
    role: Role, overrides: dict[str, Any], context: ServiceContext | None = None
) -> tuple[ServiceSettings, Reported]:
    """Resolve one default service with these overrides; the resolved service and every report made."""
    reported: Reported = []
    resolved = resolve_service(
        DEFAULTS[role], Scale(1), overrides, lambda key, value, message: reported.append((key, value, message)), context
    )
    return resolved, reported


# --- web_server_args: what gunicorn receives ---------------------------------------------------


def test_wsgi_web_runs_the_projects_wsgi_application_with_sync_workers() -> None:
    assert web_server_args("shop", WebServer.WSGI, 8080, 12) == (
        "shop.wsgi:application",
        "--bind=0.0.0.0:8080",
        "--workers=3",
        "--worker-tmp-dir=/tmp",
        "--graceful-timeout=12",
        "--access-logfile=-",
    )


def test_asgi_web_runs_the_projects_asgi_application_with_uvicorns_worker() -> None:
    assert web_server_args("shop", WebServer.ASGI, 8080, 45) == (
        "shop.asgi:application",
        "--bind=0.0.0.0:8080",
        "--workers=3",
        "--worker-class=uvicorn_worker.UvicornWorker",
        "--worker-tmp-dir=/tmp",
        "--graceful-timeout=45",
        "--access-logfile=-",
    )


# --- parse helpers: boundary tables ----------------------------------------------------------------


@pytest.mark.parametrize(("value", "parsed"), [(True, True), (False, False), ("true", True), ("false", False)])
def test_boolean_accepts_yaml_booleans_and_their_lowercase_text(value: object, parsed: bool) -> None:
    assert _boolean(value) is parsed


@pytest.mark.parametrize("value", ["TRUE", "False", "yes", "1", "", 1, 0, None])
def test_boolean_refuses_every_other_spelling(value: object) -> None:
    with pytest.raises(InvalidValueError, match=r"^not a boolean; allowed: true or false$"):
        _boolean(value)


@pytest.mark.parametrize(
    ("value", "parsed"), [(1024, 1024), (65535, 65535), ("1024", 1024), ("65535", 65535), ("8080", 8080)]
)
def test_whole_number_accepts_integers_and_their_text_within_the_range(value: object, parsed: int) -> None:
    assert _whole_number(1024, 65535)(value) == parsed


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (1023, "out of range; allowed: an integer from 1024 to 65535"),
        (65536, "out of range; allowed: an integer from 1024 to 65535"),
        ("1023", "out of range; allowed: an integer from 1024 to 65535"),
        ("65536", "out of range; allowed: an integer from 1024 to 65535"),
        ("80x", "not an integer; allowed: an integer from 1024 to 65535"),
        (True, "not an integer; allowed: an integer from 1024 to 65535"),
        (8080.0, "not an integer; allowed: an integer from 1024 to 65535"),
        (None, "not an integer; allowed: an integer from 1024 to 65535"),
    ],
)
def test_whole_number_refuses_with_the_range(value: object, message: str) -> None:
    with pytest.raises(InvalidValueError) as raised:
        _whole_number(1024, 65535)(value)
    assert str(raised.value) == message


@pytest.mark.parametrize(("value", "parsed"), [([], ()), (["a"], ("a",)), (["-v", "x y"], ("-v", "x y"))])
def test_words_accepts_lists_of_non_empty_strings(value: list[str], parsed: tuple[str, ...]) -> None:
    assert _words(value) == parsed


@pytest.mark.parametrize("value", [[""], ["a", ""], [5], ["a", None], "a b", None, {"a": "b"}])
def test_words_refuses_anything_else(value: object) -> None:
    with pytest.raises(InvalidValueError) as raised:
        _words(value)
    assert str(raised.value) == WORDS


# --- _closest: the "did you mean" of every unknown-name message -----------------------------------


@pytest.mark.parametrize(
    ("name", "allowed", "message"),
    [
        ("replcias", ("port", "replicas"), "did you mean replicas? allowed: port, replicas"),
        ("enviroment", ("image", "env"), "did you mean env? allowed: image, env"),
        # Of two fields the name starts with, the later (here the more specific) one.
        ("envFromSecret", ("env", "envFrom"), "did you mean envFrom? allowed: env, envFrom"),
        ("zzz", ("port", "replicas"), "allowed: port, replicas"),
    ],
)
def test_closest_suggests_the_nearest_allowed_name_or_none(name: str, allowed: tuple[str, ...], message: str) -> None:
    assert _closest(name, allowed) == message


# --- services_object --------------------------------------------------------------------------------


def parse_services(text: str) -> tuple[dict[str, dict[str, Any]], Reported]:
    reported: Reported = []
    parsed = services_object(text, lambda key, value, message: reported.append((key, value, message)))
    return parsed, reported


def test_an_unset_services_object_overrides_nothing() -> None:
    assert parse_services("") == ({}, [])


@pytest.mark.parametrize("text", ["{web:", "[1, 2]", '"web"', "3"])
def test_a_services_value_that_is_not_an_object_is_reported_with_the_roles(text: str) -> None:
    assert parse_services(text) == (
        {},
        [("services", text, "not an object; allowed: a YAML mapping of web, worker, beat, frontend")],
    )


def test_unknown_and_malformed_services_are_reported_and_the_rest_kept() -> None:
    assert parse_services('{"wokrer": {"replicas": 2}, "web": 3, "zzz": {}, "beat": {"replicas": 1}}') == (
        {"beat": {"replicas": 1}},
        [
            ("services.wokrer", "{...}", "unknown service; did you mean worker? allowed: web, worker, beat, frontend"),
            ("services.web", 3, "not a mapping; allowed: the service's fields, e.g. replicas: 2"),
            ("services.zzz", "{...}", "unknown service; allowed: web, worker, beat, frontend"),
        ],
    )


# --- enabled ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("given", "runs"), [({}, True), ({"enabled": "false"}, False), ({"enabled": False}, False)])
def test_enabled_reads_the_field_or_keeps_the_default(given: dict[str, Any], runs: bool) -> None:
    reported: Reported = []
    assert enabled(Role.WORKER, given, True, lambda *problem: reported.append(problem)) is runs
    assert reported == []


def test_a_refused_enabled_keeps_the_default_and_names_the_value() -> None:
    reported: Reported = []
    assert enabled(Role.FRONTEND, {"enabled": "no"}, True, lambda *problem: reported.append(problem)) is True
    assert reported == [("services.frontend.enabled", "no", "not a boolean; allowed: true or false")]


# --- shadows_platform -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "postgres", "shadows"),
    [
        ("PGOPTIONS", True, True),  # set only where the platform runs PostgreSQL
        ("PGOPTIONS", False, False),
        ("DATABASE_EXTRA", True, True),  # the reserved prefix
        ("DATABASE_EXTRA", False, False),
        ("REDIS_EXTRA", False, True),
        ("SECRET_KEY", False, True),
        ("OPENAI_API_KEY", True, False),
    ],
)
def test_a_secret_shadows_the_platform_by_name_or_reserved_prefix(name: str, postgres: bool, shadows: bool) -> None:
    assert shadows_platform(name, postgres=postgres) is shadows


# --- resolve_service: fields, defaults and reports -------------------------------------------------


def test_web_port_override_moves_the_port_and_gunicorns_bind() -> None:
    web, reported = resolve(Role.WEB, {"port": "9000"})
    assert reported == []
    assert web.port == 9000
    assert web.args == web_server_args("crm", WebServer.WSGI, 9000, 15)


def test_web_default_arguments_follow_the_project() -> None:
    web, reported = resolve(Role.WEB, {}, ServiceContext(django_project="shop"))
    assert reported == []
    assert web.args == (
        "shop.wsgi:application",
        "--bind=0.0.0.0:8000",
        "--workers=3",
        "--worker-tmp-dir=/tmp",
        "--graceful-timeout=15",
        "--access-logfile=-",
    )


@pytest.mark.parametrize("role", [Role.WORKER, Role.BEAT, Role.FRONTEND])
def test_other_services_keep_their_own_command_and_arguments(role: Role) -> None:
    resolved, reported = resolve(role, {})
    assert reported == []
    assert (resolved.command, resolved.args, resolved.port) == (
        DEFAULTS[role].command,
        DEFAULTS[role].args,
        DEFAULTS[role].port,
    )


@pytest.mark.parametrize(("grace", "kept"), [(15, 30), (16, 16), (17, 17)])
def test_web_grace_must_outlast_the_drain_and_the_margin(grace: int, kept: int) -> None:
    web, reported = resolve(Role.WEB, {"terminationGracePeriodSeconds": grace})
    assert web.termination_grace_seconds == kept
    assert reported == (
        [
            (
                "services.web.terminationGracePeriodSeconds",
                15,
                "leaves the server no time to finish its requests after the 10 s preStop drain and a 5 s margin; "
                "allowed: 16 or more",
            )
        ]
        if grace == 15
        else []
    )


def test_enabled_on_web_is_refused_without_showing_its_value() -> None:
    _, reported = resolve(Role.WEB, {"enabled": False})
    assert reported == [
        ("services.web.enabled", NOT_SHOWN, "web always runs: it is the application; allowed: remove the field")
    ]


def test_a_field_of_other_roles_names_them_and_the_allowed_fields() -> None:
    _, reported = resolve(Role.WEB, {"livenessCommand": ["true"]})
    assert reported == [
        (
            "services.web.livenessCommand",
            NOT_SHOWN,
            "unknown field for web; livenessCommand is a field of worker and beat only; allowed: image, command, "
            "args, resources, env, writablePaths, runAsUser, terminationGracePeriodSeconds, secrets, server, port, "
            "livenessPath, readinessPath, replicas, autoscaling",
        )
    ]


@pytest.mark.parametrize(("field", "value", "owners"), [("port", 9000, "web and frontend"), ("server", "asgi", "web")])
def test_a_worker_ignores_web_only_fields_after_reporting_them(field: str, value: object, owners: str) -> None:
    worker, reported = resolve(Role.WORKER, {field: value})
    assert reported == [
        (
            f"services.worker.{field}",
            NOT_SHOWN,
            f"unknown field for worker; {field} is a field of {owners} only; allowed: image, command, args, "
            "resources, env, writablePaths, runAsUser, terminationGracePeriodSeconds, secrets, enabled, "
            "livenessCommand, readinessCommand, replicas, autoscaling",
        )
    ]
    assert (worker.port, worker.server, worker.termination_grace_seconds) == (None, WebServer.WSGI, 120)


@pytest.mark.parametrize(
    ("overrides", "reported"),
    [
        (
            {"command": []},
            ("command", [], "is empty; allowed: the program and its arguments, e.g. [python, manage.py]"),
        ),
        ({"command": [""]}, ("command", [""], WORDS)),
        ({"args": ["-v", 5]}, ("args", ["-v", 5], WORDS)),
        ({"image": 241}, ("image", 241, TEXT)),
        ({"image": ""}, ("image", "", TEXT)),
    ],
)
def test_a_refused_command_or_image_keeps_the_default(
    overrides: dict[str, Any], reported: tuple[str, object, str]
) -> None:
    worker, problems = resolve(Role.WORKER, overrides)
    key, value, message = reported
    assert problems == [(f"services.worker.{key}", value, message)]
    assert (worker.image, worker.command, worker.args) == (
        APP_IMAGE,
        DEFAULTS[Role.WORKER].command,
        DEFAULTS[Role.WORKER].args,
    )


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("/healthz", None),
        ("/", None),
        ("health/", "not an absolute URL path; allowed: a path such as /health/"),
        ("/he alth/", "not an absolute URL path; allowed: a path such as /health/"),
        ("/health/\t", "not an absolute URL path; allowed: a path such as /health/"),
        (3, TEXT),
    ],
)
def test_probe_paths_are_absolute_without_whitespace(path: object, problem: str | None) -> None:
    web, reported = resolve(Role.WEB, {"livenessPath": path})
    if problem is None:
        assert (web.liveness.http_path, reported) == (path, [])
    else:
        assert (web.liveness.http_path, reported) == ("/health/", [("services.web.livenessPath", path, problem)])


def test_writable_paths_report_each_bad_item_and_keep_reading() -> None:
    frontend, reported = resolve(
        Role.FRONTEND, {"writablePaths": ["relative", "/var/cache", "/var/cache", "/var/run", "/var/run", "/data"]}
    )
    assert frontend.writable_paths == ("/var/cache", "/var/run", "/data")
    assert [(key, value) for key, value, _ in reported] == [
        ("services.frontend.writablePaths[0]", "relative"),
        ("services.frontend.writablePaths[2]", "/var/cache"),
        ("services.frontend.writablePaths[4]", "/var/run"),
    ]
    assert [message for _, _, message in reported][1:] == ["is listed twice; allowed: each path once"] * 2


# --- resources --------------------------------------------------------------------------------------

RESOURCE_FIELDS = "cpuRequest, cpuLimit, memoryRequest, memoryLimit"


@pytest.mark.parametrize("value", [[], "500m", 1])
def test_resources_not_a_mapping_are_reported_and_the_defaults_kept(value: object) -> None:
    web, reported = resolve(Role.WEB, {"resources": value})
    assert reported == [("services.web.resources", value, f"not a mapping; allowed: {RESOURCE_FIELDS}")]
    assert web.resources == DEFAULTS[Role.WEB].resources


def test_unknown_and_invalid_resources_are_reported_with_their_values() -> None:
    _, reported = resolve(Role.WEB, {"resources": {"cpuRequets": "1", "cpuLimit": "lots"}})
    assert [(key, value) for key, value, _ in reported] == [
        ("services.web.resources.cpuRequets", "1"),
        ("services.web.resources.cpuLimit", "lots"),
    ]
    assert reported[0][2] == f"unknown field; did you mean cpuRequest? allowed: {RESOURCE_FIELDS}"


@pytest.mark.parametrize(
    ("resources", "problem"),
    [
        ({"cpuRequest": "500m", "cpuLimit": "500m"}, None),
        ({"memoryRequest": "1Gi", "memoryLimit": "1Gi"}, None),
        ({"cpuRequest": "500m", "cpuLimit": "499m"}, ("cpu", "499m", "500m")),
        ({"memoryRequest": "1Gi", "memoryLimit": "1023Mi"}, ("memory", "1023Mi", "1Gi")),
    ],
)
def test_a_limit_may_equal_its_request_but_not_fall_below(
    resources: dict[str, str], problem: tuple[str, str, str] | None
) -> None:
    _, reported = resolve(Role.WEB, {"resources": resources})
    if problem is None:
        assert reported == []
    else:
        kind, limit, request = problem
        assert reported == [
            (
                f"services.web.resources.{kind}Limit",
                limit,
                f"is below {kind}Request ({request}); allowed: a limit at least as large",
            )
        ]


# --- env: never shows a value -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "key", "message"),
    [
        (["A=b"], "env", "not a mapping; allowed: NAME: value pairs"),
        (
            {"API_TOKEN": "t0k3n"},
            "env.API_TOKEN",
            "looks like a secret, and env values are plain text in the Deployment; allowed: non-secret settings "
            "(secrets come from the platform's Kubernetes Secrets)",
        ),
        ({"1FLAG": "on"}, "env.1FLAG", "is not a valid variable name; allowed: letters, digits and _"),
        ({"DEBUG": "true"}, "env.DEBUG", "is set by the platform; allowed: a variable of your own"),
        (
            {"FEATURE_FLAG": True},
            "env.FEATURE_FLAG",
            "not a text value; allowed: a string (quote numbers and booleans in YAML)",
        ),
    ],
)
def test_env_problems_are_reported_without_the_value(env: object, key: str, message: str) -> None:
    worker, reported = resolve(Role.WORKER, {"env": env})
    assert reported == [(f"services.worker.{key}", NOT_SHOWN, message)]
    assert worker.env == ()


# --- secrets ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "path"), [("SENTRY_DSN", "SENTRY_DSN"), ("sentry-dsn", "NAME"), ("1KEY", "NAME")])
def test_an_unknown_secret_shows_the_command_to_add_it(name: str, path: str) -> None:
    _, reported = resolve(Role.WORKER, {"secrets": [name]}, ServiceContext(app_secrets=("OPENAI_API_KEY",)))
    assert reported == [
        (
            "services.worker.secrets[0]",
            name,
            "is not in appSecrets; allowed: one of OPENAI_API_KEY, or add it with "
            f"`pulumi config set --secret --path 'appSecrets.{path}' <value>`",
        )
    ]
