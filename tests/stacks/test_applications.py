"""Settings of the seed applications' needs: application secrets, ASGI web, deployment checks, a release
candidate, migrations of any kind or none, and stacks without PostgreSQL.

Each invalid configuration stops `build()` with exactly one problem, quoted here in full: the key path, the
value shown (an application secret's never), and what is allowed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest

from stacks import Settings, SettingsError, build
from stacks.capacity import peak_usage
from stacks.schema import PROJECT
from stacks.services import Release, Role, WebServer
from tests.stacks.test_settings import SECRETS, VALID_STAGING, full

APP_SECRETS = f"{PROJECT}:appSecrets"
PLANTED = {"OPENAI_API_KEY": "sk-planted-4c1d9e7a", "SENTRY_DSN": "https://planted-8f2b@sentry.example.com/1"}
"""Application secret values that must never reach settings or a message."""
CANDIDATE_IMAGE = "ghcr.io/acme/crm-backend:2.5.0"


def app_secrets(values: Mapping[str, object]) -> dict[str, str]:
    """appSecrets as the CLI hands a secret object to the program: JSON text."""
    return {"appSecrets": json.dumps(values)}


def settings(stack: str = "staging", changes: dict[str, str] | None = None, *, stored_secret: bool = True) -> Settings:
    raw = {**VALID_STAGING, **full(changes or {})}
    if stack == "production":
        raw.update(full({"kubeContext": "production", "domain": "crm.example.com"}))
    return build(stack, raw, SECRETS | ({APP_SECRETS} if stored_secret else set()))


def only_problem(stack: str, changes: dict[str, str], *, stored_secret: bool = True) -> str:
    with pytest.raises(SettingsError) as raised:
        settings(stack, changes, stored_secret=stored_secret)
    assert len(raised.value.problems) == 1, str(raised.value)
    message = str(raised.value.problems[0])
    assert all(value not in str(raised.value) for value in PLANTED.values())
    return message


def services(overrides: object) -> dict[str, str]:
    return {"services": json.dumps(overrides)}


# (id, stack, changes, appSecrets stored as a secret, the exact problem)
INVALID: list[tuple[str, str, dict[str, str], bool, str]] = [
    (
        "app-secrets-in-plain-text",
        "staging",
        app_secrets(PLANTED),
        False,
        "crm-platform:appSecrets = [secret]: is stored in plain text; allowed: an encrypted value, set with "
        "`pulumi config set --secret --path 'appSecrets.<NAME>' <value> --stack staging` for each of its values",
    ),
    (
        "app-secrets-not-an-object",
        "staging",
        {"appSecrets": '["sk-planted-4c1d9e7a"]'},
        True,
        "crm-platform:appSecrets = [secret]: not an object; allowed: NAME: value pairs, each set with "
        "`pulumi config set --secret --path 'appSecrets.<NAME>' <value> --stack staging`",
    ),
    (
        "app-secret-name-not-a-variable",
        "staging",
        app_secrets({"openai-key": PLANTED["OPENAI_API_KEY"]}),
        True,
        "crm-platform:appSecrets.openai-key = [secret]: is not an environment variable name; allowed: letters, "
        "digits and _, not starting with a digit",
    ),
    (
        "app-secret-shadows-secret-key",
        "staging",
        app_secrets({"SECRET_KEY": PLANTED["OPENAI_API_KEY"]}),
        True,
        "crm-platform:appSecrets.SECRET_KEY = [secret]: is a name the platform sets or reserves (SECRET_KEY, "
        "DATABASE_*, REDIS_*, CELERY_BROKER_URL, EMAIL_*, the ConfigMap's settings); allowed: a name of your own",
    ),
    (
        "app-secret-shadows-a-config-map-setting",
        "staging",
        app_secrets({"ALLOWED_HOSTS": PLANTED["OPENAI_API_KEY"]}),
        True,
        "crm-platform:appSecrets.ALLOWED_HOSTS = [secret]: is a name the platform sets or reserves (SECRET_KEY, "
        "DATABASE_*, REDIS_*, CELERY_BROKER_URL, EMAIL_*, the ConfigMap's settings); allowed: a name of your own",
    ),
    (
        "app-secret-in-the-redis-prefix",
        "staging",
        app_secrets({"REDIS_SENTINEL_PASSWORD": PLANTED["OPENAI_API_KEY"]}),
        True,
        "crm-platform:appSecrets.REDIS_SENTINEL_PASSWORD = [secret]: is a name the platform sets or reserves "
        "(SECRET_KEY, DATABASE_*, REDIS_*, CELERY_BROKER_URL, EMAIL_*, the ConfigMap's settings); allowed: a name "
        "of your own",
    ),
    (
        "app-secret-database-url-with-postgres",
        "staging",
        app_secrets({"DATABASE_URL": PLANTED["SENTRY_DSN"]}),
        True,
        "crm-platform:appSecrets.DATABASE_URL = [secret]: is a name the platform sets or reserves (SECRET_KEY, "
        "DATABASE_*, REDIS_*, CELERY_BROKER_URL, EMAIL_*, the ConfigMap's settings); allowed: a name of your own, "
        'or `postgres: "false"` to bring your own database',
    ),
    (
        "app-secret-not-text",
        "staging",
        app_secrets({"STRIPE_WEBHOOK_SECRET": 42}),
        True,
        "crm-platform:appSecrets.STRIPE_WEBHOOK_SECRET = [secret]: is not a text value; allowed: a non-empty "
        "string, each set with `pulumi config set --secret --path 'appSecrets.<NAME>' <value> --stack staging`",
    ),
    (
        "service-lists-a-secret-not-in-app-secrets",
        "staging",
        {**app_secrets(PLANTED), **services({"worker": {"secrets": ["GEMINI_API_KEY"]}})},
        True,
        'crm-platform:services.worker.secrets[0] = "GEMINI_API_KEY": is not in appSecrets; allowed: one of '
        "OPENAI_API_KEY, SENTRY_DSN, or add it with `pulumi config set --secret --path 'appSecrets.GEMINI_API_KEY' "
        "<value>`",
    ),
    (
        "service-lists-a-secret-without-app-secrets",
        "staging",
        services({"frontend": {"secrets": ["SENTRY_DSN"]}}),
        True,
        'crm-platform:services.frontend.secrets[0] = "SENTRY_DSN": is not in appSecrets; allowed: a name set in '
        "appSecrets (none is), or add it with `pulumi config set --secret --path 'appSecrets.SENTRY_DSN' <value>`",
    ),
    (
        "service-secrets-not-a-list",
        "staging",
        {**app_secrets(PLANTED), **services({"web": {"secrets": "OPENAI_API_KEY"}})},
        True,
        'crm-platform:services.web.secrets = "OPENAI_API_KEY": not a list of names; allowed: names from '
        "appSecrets, e.g. [OPENAI_API_KEY]",
    ),
    (
        "service-secret-listed-twice",
        "staging",
        {**app_secrets(PLANTED), **services({"web": {"secrets": ["SENTRY_DSN", "SENTRY_DSN"]}})},
        True,
        'crm-platform:services.web.secrets[1] = "SENTRY_DSN": is listed twice; allowed: each name once',
    ),
    (
        "env-named-like-an-app-secret",
        "staging",
        {**app_secrets({"RAZORPAY_KEY_ID": "rzp_planted"}), **services({"web": {"env": {"RAZORPAY_KEY_ID": "x"}}})},
        True,
        'crm-platform:services.web.env.RAZORPAY_KEY_ID = "[not shown]": is an application secret (appSecrets), '
        "which services take by listing it in `secrets`; allowed: a variable of your own",
    ),
    (
        "env-overrides-a-config-map-setting",
        "staging",
        services({"worker": {"env": {"EMAIL_HOST": "smtp.elsewhere.example"}}}),
        True,
        'crm-platform:services.worker.env.EMAIL_HOST = "[not shown]": is set by the platform; allowed: a variable '
        "of your own",
    ),
    (
        "web-server-unknown",
        "staging",
        services({"web": {"server": "daphne"}}),
        True,
        'crm-platform:services.web.server = "daphne": unknown server; allowed: wsgi, asgi (asgi runs '
        "<project>.asgi:application for Channels and WebSockets)",
    ),
    (
        "server-of-a-worker",
        "staging",
        services({"worker": {"server": "asgi"}}),
        True,
        'crm-platform:services.worker.server = "[not shown]": unknown field for worker; server is a field of web '
        "only; allowed: image, command, args, resources, env, writablePaths, runAsUser, "
        "terminationGracePeriodSeconds, secrets, enabled, livenessCommand, readinessCommand, replicas, autoscaling",
    ),
    (
        "grace-period-shorter-than-the-drain",
        "staging",
        services({"web": {"server": "asgi", "terminationGracePeriodSeconds": 12}}),
        True,
        'crm-platform:services.web.terminationGracePeriodSeconds = "12": leaves the server no time to finish its '
        "requests after the 10 s preStop drain and a 5 s margin; allowed: 16 or more",
    ),
    (
        "deploy-check-level-unknown",
        "staging",
        {"deployChecks": "INFO"},
        True,
        'crm-platform:deployChecks = "INFO": unknown level; allowed: CRITICAL, ERROR, WARNING (`manage.py check '
        '--fail-level`), off, or "" for the profile\'s',
    ),
    (
        "deploy-checks-without-a-migration-job",
        "staging",
        {"migrationCommand": "none", "deployChecks": "WARNING"},
        True,
        'crm-platform:deployChecks = "WARNING": runs in the migration Job, which migrationCommand "none" leaves '
        'out; allowed: "off" or ""',
    ),
    (
        "migration-command-with-a-shell-operator",
        "staging",
        {"migrationCommand": "python migrate_database.py && python seed.py"},
        True,
        'crm-platform:migrationCommand = "python migrate_database.py && python seed.py": uses the shell operator '
        '&&, but the command runs without a shell; allowed: one program and its arguments, e.g. "python '
        'migrate_database.py", or `sh -c "<commands>"` (the image\'s shell), "" for Django\'s migrate, "none" for '
        "no migration Job",
    ),
    (
        "migration-command-unbalanced-quotes",
        "staging",
        {"migrationCommand": 'python "migrate.py'},
        True,
        'crm-platform:migrationCommand = "python \\"migrate.py": not a command line (unbalanced quotes); allowed: '
        'e.g. "python migrate_database.py"',
    ),
    (
        "traffic-without-a-candidate",
        "staging",
        {"candidateTrafficPercent": "5"},
        True,
        'crm-platform:candidateTrafficPercent = "5": sends requests to a candidate, but candidateImage is ""; '
        "allowed: 0, or set candidateImage to the release candidate's pinned image",
    ),
    (
        "traffic-above-all",
        "staging",
        {"candidateImage": CANDIDATE_IMAGE, "candidateTrafficPercent": "101"},
        True,
        'crm-platform:candidateTrafficPercent = "101": out of range; allowed: an integer from 0 to 100',
    ),
    (
        "traffic-negative",
        "staging",
        {"candidateImage": CANDIDATE_IMAGE, "candidateTrafficPercent": "-5"},
        True,
        'crm-platform:candidateTrafficPercent = "-5": out of range; allowed: an integer from 0 to 100',
    ),
    (
        "candidate-not-pinned",
        "staging",
        {"candidateImage": "ghcr.io/acme/crm-backend:latest", "candidateTrafficPercent": "5"},
        True,
        'crm-platform:candidateImage = "ghcr.io/acme/crm-backend:latest": uses the moving tag latest; allowed: '
        "repository:tag or repository@sha256:<digest>, e.g. ghcr.io/acme/crm-backend:2.4.1",
    ),
    (
        "candidate-is-the-release",
        "staging",
        {"candidateImage": "ghcr.io/acme/crm-backend:2.4.1", "candidateTrafficPercent": "5"},
        True,
        'crm-platform:candidateImage = "ghcr.io/acme/crm-backend:2.4.1": is the image web already runs; allowed: '
        'another version of the application (the next tag or digest), or "" once it is released',
    ),
    (
        "candidate-beyond-the-quota",
        "staging",
        {"candidateImage": CANDIDATE_IMAGE, "quotaPods": "22"},
        True,
        'crm-platform:quotaPods = "22": is below the 26 the services need at maximum scale during a rolling update, '
        "with the migration Job, the Celery exporter, PostgreSQL, Redis and the backup jobs; allowed: a larger quota, "
        "or smaller services",
    ),
    (
        "postgres-not-a-boolean",
        "staging",
        {"postgres": "no"},
        True,
        'crm-platform:postgres = "no": not a boolean; allowed: "true", "false" or "" (the profile decides)',
    ),
    (
        "egress-port-out-of-range",
        "staging",
        {"egressPorts": "[70000]"},
        True,
        'crm-platform:egressPorts[0] = "70000": not a port; allowed: a list of TCP ports from 1 to 65535, e.g. [27017]',
    ),
    (
        "egress-port-twice",
        "staging",
        {"egressPorts": '[27017, "27017"]'},
        True,
        'crm-platform:egressPorts[1] = "27017": is listed twice; allowed: each port once',
    ),
    (
        "egress-ports-without-networks",
        "dev",
        {"smtpHost": "", "egressCidrs": "[]", "egressPorts": "[27017]"},
        True,
        'crm-platform:egressPorts = "[27017]": opens ports towards egressCidrs, which is empty; allowed: set '
        "egressCidrs to the networks those ports are on (your database's), or []",
    ),
]


@pytest.mark.parametrize(
    ("stack", "changes", "stored_secret", "problem"),
    [pytest.param(*case[1:], id=case[0]) for case in INVALID],
)
def test_invalid_application_settings_stop_with_one_exact_message(
    stack: str, changes: dict[str, str], stored_secret: bool, problem: str
) -> None:
    """Each mistake is one problem naming its key path and what is allowed; no application secret is shown."""
    assert only_problem(stack, changes, stored_secret=stored_secret) == problem


def test_the_invalid_cases_are_distinct() -> None:
    """Every case of the table is its own."""
    assert len({case[0] for case in INVALID}) == len(INVALID) >= 30


# Application secrets ----------------------------------------------------------------------------------


def test_app_secrets_go_to_web_worker_and_beat_by_default_and_to_no_frontend() -> None:
    """Without lists, the Django services read every application secret and the frontend none; a list narrows it."""
    resolved = settings(changes={**app_secrets(PLANTED), "frontendImage": "ghcr.io/acme/crm-frontend:2.4.1"})
    assert resolved.app.secret_names == ("OPENAI_API_KEY", "SENTRY_DSN")
    by_role = {service.role: service.secrets for service in resolved.app.services}
    assert by_role == {
        Role.WEB: ("OPENAI_API_KEY", "SENTRY_DSN"),
        Role.WORKER: ("OPENAI_API_KEY", "SENTRY_DSN"),
        Role.BEAT: ("OPENAI_API_KEY", "SENTRY_DSN"),
        Role.FRONTEND: (),
    }
    narrowed = settings(
        changes={
            **app_secrets(PLANTED),
            "frontendImage": "ghcr.io/acme/crm-frontend:2.4.1",
            **services({"beat": {"secrets": []}, "frontend": {"secrets": ["SENTRY_DSN"]}}),
        }
    )
    assert narrowed.app.service(Role.BEAT).secrets == ()  # type: ignore[union-attr]
    assert narrowed.app.service(Role.FRONTEND).secrets == ("SENTRY_DSN",)  # type: ignore[union-attr]


def test_settings_keep_the_names_of_app_secrets_never_their_values() -> None:
    """The settings (and their description, a stack output) hold the names only."""
    resolved = settings(changes=app_secrets(PLANTED))
    shown = repr(resolved) + json.dumps(resolved.describe())
    assert "OPENAI_API_KEY" in shown
    assert all(value not in shown for value in PLANTED.values())


def test_without_postgres_the_database_url_may_be_an_app_secret() -> None:
    """With PostgreSQL off the platform sets no DATABASE_* variable, so the application's own URL may take the name."""
    resolved = settings(changes={"postgres": "false", **app_secrets({"DATABASE_URL": PLANTED["SENTRY_DSN"]})})
    assert resolved.app.secret_names == ("DATABASE_URL",)
    assert resolved.data.postgres is None


# ASGI ----------------------------------------------------------------------------------------------


def test_asgi_web_runs_the_asgi_application_under_uvicorn_workers_with_a_longer_drain() -> None:
    """server: asgi runs <project>.asgi:application with uvicorn's worker class; the grace period grows to 60 s,
    of which gunicorn gets 45 s after the 10 s preStop drain; Channels is on for the whole application."""
    resolved = settings(changes={"djangoProject": "oneo", **services({"web": {"server": "asgi"}})})
    web = resolved.app.web
    assert web.server is WebServer.ASGI and resolved.app.channels
    assert web.args[0] == "oneo.asgi:application"
    assert "--worker-class=uvicorn_worker.UvicornWorker" in web.args
    assert (web.termination_grace_seconds, web.drain_seconds) == (60, 10)
    assert "--graceful-timeout=45" in web.args


def test_wsgi_web_drains_too_and_the_graceful_timeout_follows_the_grace_period() -> None:
    """The default WSGI web sleeps 10 s in preStop and gives gunicorn what is left of 30 s; a longer grace
    period lengthens the graceful timeout, not the drain."""
    web = settings().app.web
    assert (web.server, web.termination_grace_seconds, web.drain_seconds) == (WebServer.WSGI, 30, 10)
    assert web.args[0] == "crm.wsgi:application" and "--graceful-timeout=15" in web.args
    longer = settings(changes=services({"web": {"terminationGracePeriodSeconds": 90}})).app.web
    assert "--graceful-timeout=75" in longer.args and longer.drain_seconds == 10


# Deployment checks and migrations -----------------------------------------------------------------


@pytest.mark.parametrize(("stack", "level"), [("dev", None), ("staging", "WARNING"), ("production", "WARNING")])
def test_deployment_checks_follow_the_profile(stack: str, level: str | None) -> None:
    """Staging and production check at WARNING (every check the seeds name is a Django warning); dev not at all."""
    changes = {"smtpHost": "", "egressCidrs": "[]"} if stack == "dev" else {}
    migration = settings(stack, changes).app.migration
    assert migration is not None and migration.deploy_check_level == level


def test_a_stack_chooses_its_deployment_check_level_or_none() -> None:
    """deployChecks: ERROR fails on errors only; off runs none."""
    assert settings(changes={"deployChecks": "ERROR"}).app.migration.deploy_check_level == "ERROR"  # type: ignore[union-attr]
    assert settings(changes={"deployChecks": "off"}).app.migration.deploy_check_level is None  # type: ignore[union-attr]


def test_a_migration_command_of_its_own_or_none() -> None:
    """migrationCommand runs the application's own command, split like a shell would; "none" runs no Job, and
    production then takes no backup before one."""
    own = settings(changes={"migrationCommand": 'sh -c "python migrate_database.py --to latest"'}).app.migration
    assert own is not None and own.command == ("sh", "-c", "python migrate_database.py --to latest")
    assert settings().app.migration.command == ("python", "manage.py", "migrate", "--noinput")  # type: ignore[union-attr]
    production = settings("production", {"migrationCommand": "none"})
    assert production.app.migration is None
    assert production.data.backups.pre_migration_backup is False
    assert settings("production").data.backups.pre_migration_backup is True


# Release candidate ---------------------------------------------------------------------------------


def test_a_candidate_is_web_with_the_candidate_image() -> None:
    """The candidate is web's service (size, probes, secrets) with its own image and name."""
    resolved = settings(changes={"candidateImage": CANDIDATE_IMAGE, "candidateTrafficPercent": "5"})
    candidate = resolved.app.candidate
    assert candidate is not None
    assert (candidate.image, candidate.release, candidate.name) == (
        CANDIDATE_IMAGE,
        Release.CANDIDATE,
        "crm-web-candidate",
    )
    assert candidate.scale == resolved.app.web.scale and candidate.args == resolved.app.web.args
    assert resolved.app.candidate_traffic_percent == 5
    assert resolved.app.release_images == ("ghcr.io/acme/crm-backend:2.4.1", CANDIDATE_IMAGE)
    # Workers and beat keep the released image.
    assert {service.image for service in resolved.app.services if service.role is not Role.FRONTEND} == {
        "ghcr.io/acme/crm-backend:2.4.1"
    }


def test_the_quota_counts_the_candidate() -> None:
    """A candidate as large as web adds its pods (and surge) to the peak the quota must hold."""
    without = settings()
    with_candidate = settings(changes={"candidateImage": CANDIDATE_IMAGE})
    web = without.app.web.scale.maximum
    assert peak_usage(with_candidate.app, with_candidate.data).pods - peak_usage(without.app, without.data).pods == (
        web + -(-web // 4)
    )


# Without PostgreSQL ---------------------------------------------------------------------------------


def test_without_postgres_there_is_no_database_to_back_up_and_no_aws_account_needed() -> None:
    """postgres: "false" leaves the database settings out, with the bucket's lock and the pre-migration backup;
    with no uploads to keep in S3 either, the stack then needs no AWS account of its own."""
    resolved = settings(
        "production",
        {"postgres": "false", "awsRegion": "", "oidcProviderArn": "", "migrationCommand": "none", "media": "false"},
    )
    assert resolved.data.postgres is None and not resolved.data.postgres_enabled
    assert resolved.data.aws is None
    assert resolved.data.backups.object_lock is False and resolved.data.backups.pre_migration_backup is False
    described = resolved.describe()
    assert described["postgres"] == "(none: the application brings its own database)"
    assert described["migration"] == "(none)" and described["deployChecks"] == "off"


def test_without_postgres_a_media_bucket_still_needs_the_aws_account() -> None:
    """Uploads kept in S3 need the account even without a database; the message says it is for the uploads."""
    with pytest.raises(SettingsError) as raised:
        settings(
            "production", {"postgres": "false", "awsRegion": "", "oidcProviderArn": "", "migrationCommand": "none"}
        )
    assert [str(problem) for problem in raised.value.problems] == [
        "crm-platform:awsRegion is missing: the production environment keeps its uploads in S3; allowed: the "
        "bucket's region, e.g. eu-west-1",
        "crm-platform:oidcProviderArn is missing: the upload handlers reach S3 through an IAM role trusted by the "
        "cluster's OIDC provider; allowed: its ARN (`aws iam list-open-id-connect-providers`)",
    ]


def test_egress_ports_open_more_than_https_and_smtp() -> None:
    """egressPorts adds the external database's port; numbers and numeric text (pulumi config set --path) both work."""
    assert settings(changes={"egressPorts": '[27017, "5432"]'}).egress_ports == (27017, 5432)
