"""Data settings: PostgreSQL, Redis, backup and AWS keys take the profile's values unless set; every bad value stops
the build with the whole list of problems, each naming the key, the value and what is allowed."""

from __future__ import annotations

import json

import pytest

from stacks.data import AwsSettings, BackupSettings, DataSettings, PostgresSettings, RedisSettings
from stacks.profiles import PROFILES
from tests.stacks.test_settings import VALID_STAGING, environment_problems, environment_settings

REGION = VALID_STAGING["crm-platform:awsRegion"]
OIDC_PROVIDER = VALID_STAGING["crm-platform:oidcProviderArn"]
KMS_KEY = "arn:aws:kms:eu-west-1:111122223333:key/11111111-2222-3333-4444-555555555555"
KMS_ALIAS = "arn:aws:kms:eu-west-1:111122223333:alias/crm-backups"
NOT_A_SIZE = 'not a memory quantity; allowed: a size such as "512Mi", "8Gi" or "1G"'
NOT_A_CRON = 'not a cron schedule; allowed: five numeric cron fields such as "0 2 * * *" (02:00 daily)'
ROWS_ALLOWED = 'allowed: a mapping of table name to the fewest rows, e.g. {"crm_contact": 1000}'
QUOTA_BELOW = (
    "the services need at maximum scale during a rolling update, with the migration Job, the Celery exporter, "
    "PostgreSQL, Redis and the backup jobs; allowed: a larger quota, or smaller services"
)

# --- what a good value gives ---------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "pr-7", "staging", "production"])
@pytest.mark.parametrize(
    "unset",
    [
        pytest.param({}, id="absent"),
        pytest.param(
            {
                "postgresInstances": "0",
                "poolerInstances": "0",
                "postgresCpu": "",
                "postgresMemory": "",
                "postgresStorage": "",
                "postgresWalStorage": "",
                "redisCacheMemory": "",
                "redisBrokerMemory": "",
                "redisBrokerStorage": "",
                "backupRetentionDays": "0",
                "restoreMinimumRows": "",
                "storageClass": "",
                "backupKmsKeyArn": "",
            },
            id="zero-or-empty",
        ),
    ],
)
def test_unset_data_keys_take_the_profile_values(stack: str, unset: dict[str, str]) -> None:
    """Absent, 0 or "" takes the profile's sizes; backups run at 02:00, are tested at 04:00 on Sunday, are kept
    30 days and check django_migrations has rows; volumes use the cluster's default StorageClass."""
    settings = environment_settings(stack, unset)
    profile = PROFILES[settings.environment]
    assert settings.data.postgres == profile.postgres
    assert settings.data.redis == profile.redis
    assert settings.data.backups == BackupSettings(
        schedule="0 2 * * *",
        restore_test_schedule="0 4 * * 0",
        retention_days=30,
        minimum_rows={"django_migrations": 1},
        object_lock=profile.object_lock,
        pre_migration_backup=profile.pre_migration_backup,
    )
    assert settings.data.storage_class is None


def test_every_data_key_reaches_the_settings() -> None:
    """Each key set in the stack file wins over the profile, at the top of its range where it has one."""
    settings = environment_settings(
        "staging",
        {
            "postgresInstances": "9",
            "postgresCpu": "250m",
            "postgresMemory": "512Mi",
            "postgresStorage": "50Gi",
            "postgresWalStorage": "10Gi",
            "poolerInstances": "20",
            "redisCacheMemory": "1Gi",
            "redisBrokerMemory": "768Mi",
            "redisBrokerStorage": "4Gi",
            "backupSchedule": "30 1 * * *",
            "restoreTestSchedule": "0 5 * * 6",
            "backupRetentionDays": "3650",
            "restoreMinimumRows": '{"public.crm_deal": 0, "crm_contact": 1000}',
            "storageClass": "gp3.encrypted",
            "backupKmsKeyArn": KMS_KEY,
            "quotaCpuLimits": "32",
        },
    )
    assert settings.data == DataSettings(
        postgres=PostgresSettings(
            instances=9,
            cpu="250m",
            memory="512Mi",
            storage="50Gi",
            wal_storage="10Gi",
            pooler_instances=20,
            wal_archiving=False,
        ),
        redis=RedisSettings(cache_memory="1Gi", broker_memory="768Mi", broker_storage="4Gi", replicas=1),
        backups=BackupSettings(
            schedule="30 1 * * *",
            restore_test_schedule="0 5 * * 6",
            retention_days=3650,
            minimum_rows={"crm_contact": 1000, "public.crm_deal": 0},
            object_lock=False,
            pre_migration_backup=False,
        ),
        aws=AwsSettings(region=REGION, oidc_provider_arn=OIDC_PROVIDER, kms_key_arn=KMS_KEY),
        storage_class="gp3.encrypted",
    )


@pytest.mark.parametrize(
    ("stack", "changes", "instances"),
    [
        pytest.param("production", {"postgresInstances": "3"}, 3, id="production-three"),
        pytest.param("production", {"postgresInstances": "0"}, 3, id="production-profile"),
        pytest.param("staging", {"postgresInstances": "1"}, 1, id="staging-one"),
        pytest.param("dev", {"postgresInstances": "2"}, 2, id="dev-two"),
    ],
)
def test_postgres_instances_are_counted_as_given(stack: str, changes: dict[str, str], instances: int) -> None:
    """Production accepts three instances or more, the other environments any count from 1."""
    postgres = environment_settings(stack, changes).data.postgres
    assert postgres is not None and postgres.instances == instances


def test_production_without_postgresql_does_not_count_its_instances() -> None:
    """The three-instance rule is for a database: production without PostgreSQL accepts any postgresInstances."""
    data = environment_settings("production", {"postgres": "false", "postgresInstances": "1"}).data
    assert data.postgres is None
    assert data.backups.object_lock is False and data.backups.pre_migration_backup is False


@pytest.mark.parametrize(
    ("text", "minimum_rows"),
    [
        pytest.param("{}", {"django_migrations": 1}, id="empty-mapping"),
        pytest.param("", {"django_migrations": 1}, id="empty-text"),
        pytest.param('{"crm_contact": 1}', {"crm_contact": 1}, id="one-table"),
        pytest.param('{"crm_contact": 0}', {"crm_contact": 0}, id="zero-rows"),
        pytest.param(
            '{"public.crm_deal": 250, "_audit": 5, "crm_contact9": 1000}',
            {"_audit": 5, "crm_contact9": 1000, "public.crm_deal": 250},
            id="sorted-schema-qualified",
        ),
        pytest.param(json.dumps({"a" * 63 + "." + "b" * 63: 7}), {"a" * 63 + "." + "b" * 63: 7}, id="longest-names"),
    ],
)
def test_restore_minimum_rows_gives_each_table_its_fewest_rows(text: str, minimum_rows: dict[str, int]) -> None:
    """Each table (optionally schema-qualified) keeps its count, tables in name order; nothing named checks that
    django_migrations has a row."""
    assert environment_settings("staging", {"restoreMinimumRows": text}).data.backups.minimum_rows == minimum_rows


@pytest.mark.parametrize(
    ("changes", "aws"),
    [
        pytest.param(
            {"backupKmsKeyArn": KMS_KEY}, AwsSettings(REGION, OIDC_PROVIDER, KMS_KEY), id="backups-with-own-key"
        ),
        pytest.param(
            {"backupKmsKeyArn": KMS_ALIAS},
            AwsSettings(REGION, OIDC_PROVIDER, KMS_ALIAS),
            id="backups-key-alias",
        ),
        pytest.param({"postgres": "false"}, AwsSettings(REGION, OIDC_PROVIDER, None), id="uploads-only"),
        pytest.param(
            {"postgres": "false", "media": "false"},
            AwsSettings(REGION, OIDC_PROVIDER, None),
            id="nothing-to-keep-but-named",
        ),
        pytest.param(
            {"postgres": "false", "media": "false", "oidcProviderArn": ""}, None, id="nothing-to-keep-region-only"
        ),
        pytest.param(
            {"postgres": "false", "media": "false", "awsRegion": ""}, None, id="nothing-to-keep-provider-only"
        ),
    ],
)
def test_the_aws_account_is_kept_when_needed_or_named_in_full(changes: dict[str, str], aws: AwsSettings | None) -> None:
    """Backups or uploads in S3 need the account; without either, it is kept only when region and OIDC provider
    are both named (half an account is not one, and is not an error either)."""
    assert environment_settings("staging", changes).data.aws == aws


# --- the whole problem list for each bad value ---------------------------------------------------------------

INVALID: list[tuple[str, str, dict[str, str], list[str]]] = [
    (
        "production-two-instances",
        "production",
        {"postgresInstances": "2"},
        [
            'crm-platform:postgresInstances = "2": production keeps a primary and two replicas on three nodes; '
            "allowed: 3 or more"
        ],
    ),
    (
        "instances-above-nine",
        "staging",
        {"postgresInstances": "10"},
        ['crm-platform:postgresInstances = "10": out of range; allowed: an integer from 0 to 9'],
    ),
    (
        "instances-not-a-number",
        "dev",
        {"postgresInstances": "three"},
        ['crm-platform:postgresInstances = "three": not an integer; allowed: an integer from 0 to 9'],
    ),
    (
        "poolers-above-twenty",
        "staging",
        {"poolerInstances": "21"},
        ['crm-platform:poolerInstances = "21": out of range; allowed: an integer from 0 to 20'],
    ),
    (
        "poolers-negative",
        "staging",
        {"poolerInstances": "-1"},
        ['crm-platform:poolerInstances = "-1": out of range; allowed: an integer from 0 to 20'],
    ),
    (
        "memory-below-512Mi",
        "staging",
        {"postgresMemory": "511Mi"},
        ['crm-platform:postgresMemory = "511Mi": is too small for PostgreSQL; allowed: 512Mi or more'],
    ),
    (
        "memory-below-512Mi-beside-another-problem",
        "staging",
        {"postgresMemory": "256Mi", "smtpPort": "0"},
        [
            'crm-platform:smtpPort = "0": out of range; allowed: an integer from 1 to 65535',
            'crm-platform:postgresMemory = "256Mi": is too small for PostgreSQL; allowed: 512Mi or more',
        ],
    ),
    (
        "memory-far-below-512Mi",
        "dev",
        {"postgresMemory": "1Mi"},
        ['crm-platform:postgresMemory = "1Mi": is too small for PostgreSQL; allowed: 512Mi or more'],
    ),
    (
        "memory-not-a-size",
        "staging",
        {"postgresMemory": "lots"},
        [f'crm-platform:postgresMemory = "lots": {NOT_A_SIZE}'],
    ),
    (
        "every-size-wrong",
        "staging",
        {
            "postgresCpu": "q",
            "postgresStorage": "y",
            "postgresWalStorage": "z",
            "redisCacheMemory": "1",
            "redisBrokerMemory": "Q",
            "redisBrokerStorage": "x",
        },
        [
            'crm-platform:postgresCpu = "q": not a CPU quantity; allowed: cores such as "2" or "0.5", or millicores '
            'such as "500m"',
            f'crm-platform:postgresStorage = "y": {NOT_A_SIZE}',
            f'crm-platform:postgresWalStorage = "z": {NOT_A_SIZE}',
            'crm-platform:redisCacheMemory = "1": out of range; allowed: from 1Mi to 1Pi',
            f'crm-platform:redisBrokerMemory = "Q": {NOT_A_SIZE}',
            f'crm-platform:redisBrokerStorage = "x": {NOT_A_SIZE}',
        ],
    ),
    (
        "schedules-and-retention-wrong",
        "staging",
        {"backupSchedule": "daily", "restoreTestSchedule": "* * *", "backupRetentionDays": "3651"},
        [
            f'crm-platform:backupSchedule = "daily": {NOT_A_CRON}',
            f'crm-platform:restoreTestSchedule = "* * *": {NOT_A_CRON}',
            'crm-platform:backupRetentionDays = "3651": out of range; allowed: an integer from 0 to 3650',
        ],
    ),
    (
        "retention-not-a-number",
        "dev",
        {"backupRetentionDays": "a month"},
        ['crm-platform:backupRetentionDays = "a month": not an integer; allowed: an integer from 0 to 3650'],
    ),
    (
        "storage-class-not-a-label",
        "staging",
        {"storageClass": "Fast_SSD"},
        [
            'crm-platform:storageClass = "Fast_SSD": not a StorageClass name; allowed: a name `kubectl get '
            "storageclass` lists: at most 253 lower-case letters, digits, '-' and '.', each part between dots "
            "starting and ending with a letter or digit"
        ],
    ),
    (
        "kms-key-not-an-arn",
        "staging",
        {"backupKmsKeyArn": "crm-backups"},
        [
            'crm-platform:backupKmsKeyArn = "crm-backups": not a KMS key ARN; allowed: '
            "arn:aws:kms:<region>:<account>:key/<key id> or alias/<name>"
        ],
    ),
    (
        "account-missing-for-backups",
        "staging",
        {"awsRegion": "", "oidcProviderArn": ""},
        [
            "crm-platform:awsRegion is missing: the staging environment keeps its backups in S3; allowed: the "
            "bucket's region, e.g. eu-west-1",
            "crm-platform:oidcProviderArn is missing: the backup jobs reach S3 through an IAM role trusted by the "
            "cluster's OIDC provider; allowed: its ARN (`aws iam list-open-id-connect-providers`)",
        ],
    ),
    (
        "account-missing-for-uploads",
        "production",
        {"postgres": "false", "awsRegion": "", "oidcProviderArn": ""},
        [
            "crm-platform:awsRegion is missing: the production environment keeps its uploads in S3; allowed: the "
            "bucket's region, e.g. eu-west-1",
            "crm-platform:oidcProviderArn is missing: the upload handlers reach S3 through an IAM role trusted by "
            "the cluster's OIDC provider; allowed: its ARN (`aws iam list-open-id-connect-providers`)",
        ],
    ),
    (
        "provider-missing-for-backups",
        "staging",
        {"media": "false", "oidcProviderArn": ""},
        [
            "crm-platform:oidcProviderArn is missing: the backup jobs reach S3 through an IAM role trusted by the "
            "cluster's OIDC provider; allowed: its ARN (`aws iam list-open-id-connect-providers`)",
        ],
    ),
    (
        "quota-profile-below-postgres",
        "dev",
        {"postgresMemory": "64Gi"},
        [
            f'crm-platform:quotaMemoryRequests = "8.00Gi (profile)": is below the 68.41Gi {QUOTA_BELOW}',
            f'crm-platform:quotaMemoryLimits = "24.00Gi (profile)": is below the 74.31Gi {QUOTA_BELOW}',
        ],
    ),
    (
        "quota-given-below-postgres",
        "dev",
        {"postgresMemory": "64Gi", "quotaMemoryRequests": "68Gi", "quotaMemoryLimits": "74Gi"},
        [
            f'crm-platform:quotaMemoryRequests = "68Gi": is below the 68.41Gi {QUOTA_BELOW}',
            f'crm-platform:quotaMemoryLimits = "74Gi": is below the 74.31Gi {QUOTA_BELOW}',
        ],
    ),
]


@pytest.mark.parametrize(("stack", "changes", "messages"), [pytest.param(*case[1:], id=case[0]) for case in INVALID])
def test_invalid_data_configuration_stops_with_its_problems(
    stack: str, changes: dict[str, str], messages: list[str]
) -> None:
    """Each bad data value gives exactly its problems, in key order, naming the key, the value and what is
    allowed."""
    assert environment_problems(stack, changes) == messages


@pytest.mark.parametrize(
    ("text", "messages"),
    [
        pytest.param("[1]", [f'crm-platform:restoreMinimumRows = "[1]": not a mapping; {ROWS_ALLOWED}'], id="list"),
        pytest.param("{", [f'crm-platform:restoreMinimumRows = "{{": not a mapping; {ROWS_ALLOWED}'], id="not-json"),
        pytest.param("7", [f'crm-platform:restoreMinimumRows = "7": not a mapping; {ROWS_ALLOWED}'], id="number"),
        pytest.param(
            '{"CRM_contact": 1, "crm_contact": 5}',
            [f'crm-platform:restoreMinimumRows.CRM_contact = "1": not a table name; {ROWS_ALLOWED}'],
            id="upper-case-then-good",
        ),
        pytest.param(
            '{"9lives": 2}',
            [f'crm-platform:restoreMinimumRows.9lives = "2": not a table name; {ROWS_ALLOWED}'],
            id="leading-digit",
        ),
        pytest.param(
            json.dumps({"a" * 64: 1}),
            [f'crm-platform:restoreMinimumRows.{"a" * 64} = "1": not a table name; {ROWS_ALLOWED}'],
            id="name-too-long",
        ),
        pytest.param(
            '{"a.b.c": 1}',
            [f'crm-platform:restoreMinimumRows.a.b.c = "1": not a table name; {ROWS_ALLOWED}'],
            id="two-dots",
        ),
        pytest.param(
            '{"crm_contact": -1}',
            [f'crm-platform:restoreMinimumRows.crm_contact = "-1": not a row count; {ROWS_ALLOWED}'],
            id="negative",
        ),
        pytest.param(
            '{"a": true, "b": 1.5, "c": "5", "d": null, "e": 3}',
            [
                f'crm-platform:restoreMinimumRows.a = "true": not a row count; {ROWS_ALLOWED}',
                f'crm-platform:restoreMinimumRows.b = "1.5": not a row count; {ROWS_ALLOWED}',
                f'crm-platform:restoreMinimumRows.c = "\\"5\\"": not a row count; {ROWS_ALLOWED}',
                f'crm-platform:restoreMinimumRows.d = "null": not a row count; {ROWS_ALLOWED}',
            ],
            id="not-integers-then-good",
        ),
    ],
)
def test_invalid_restore_minimum_rows_stop_with_their_problems(text: str, messages: list[str]) -> None:
    """A value that is not a mapping is one problem; otherwise each bad table name or count is its own problem
    at restoreMinimumRows.<table>, quoting the count as JSON, and a good table after a bad one is not reported."""
    assert environment_problems("staging", {"restoreMinimumRows": text}) == messages
