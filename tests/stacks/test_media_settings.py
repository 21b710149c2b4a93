"""Media settings: each profile keeps uploads in S3 or on a volume; every media key is validated before anything is
declared, each bad value named with what is allowed, and the services sharing a volume can all write it."""

from __future__ import annotations

import json

import pytest

from stacks.data import MediaBucket, MediaSettings, MediaVolume
from stacks.profiles import PROFILES
from stacks.services import Role
from tests.stacks.test_settings import (
    environment_problems,
    environment_settings,
)

# --- what each profile gives ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stack", "expected"),
    [
        ("dev", MediaSettings((Role.WEB, Role.WORKER), "/app/media", None, MediaVolume("5Gi", "ReadWriteOnce"))),
        ("pr-7", MediaSettings((Role.WEB, Role.WORKER), "/app/media", None, MediaVolume("2Gi", "ReadWriteOnce"))),
        ("staging", MediaSettings((Role.WEB, Role.WORKER), "/app/media", MediaBucket("media", 30, None, ()), None)),
        ("production", MediaSettings((Role.WEB, Role.WORKER), "/app/media", MediaBucket("media", 30, None, ()), None)),
    ],
)
def test_each_profile_keeps_uploads_in_s3_or_on_a_volume(stack: str, expected: MediaSettings) -> None:
    """Staging and production keep uploads in the stack's bucket, dev and review stacks on a volume; web and worker
    handle them unless mediaServices says otherwise."""
    media = environment_settings(stack).media
    assert media == expected
    assert (media.bucket is not None) is PROFILES[environment_settings(stack).environment].media_to_s3


def test_every_profile_that_keeps_uploads_in_s3_has_the_aws_account() -> None:
    """The media bucket needs the account, region and OIDC provider that come with backups in S3; a volume
    profile has a volume to fall back on."""
    for profile in PROFILES.values():
        assert (profile.media_volume is None) is profile.media_to_s3, profile.environment
        if profile.media_to_s3:
            assert profile.backups_to_s3, profile.environment


def test_explicit_values_override_the_defaults() -> None:
    """Every media key reaches the settings: services (in service order), path, size, mode, prefix, days, key,
    networks."""
    dev = environment_settings(
        "dev",
        {
            "mediaServices": '["worker", "web", "beat"]',
            "mediaPath": "/srv/uploads",
            "mediaStorage": "20Gi",
            "mediaAccessMode": "ReadWriteMany",
        },
    ).media
    assert dev == MediaSettings(
        (Role.WEB, Role.WORKER, Role.BEAT), "/srv/uploads", None, MediaVolume("20Gi", "ReadWriteMany")
    )
    key = "arn:aws:kms:eu-west-1:111122223333:key/11111111-2222-3333-4444-555555555555"
    staging = environment_settings(
        "staging",
        {
            "mediaPrefix": "uploads/crm",
            "mediaNoncurrentDays": "90",
            "mediaKmsKeyArn": key,
            "mediaEgressCidrs": '["10.0.0.0/16"]',
        },
    ).media
    assert staging is not None
    assert staging.bucket == MediaBucket("uploads/crm", 90, key, ("10.0.0.0/16",))


def test_by_default_only_the_running_services_of_web_and_worker_handle_uploads() -> None:
    """An application without a worker gets media on web alone, without naming mediaServices."""
    media = environment_settings("staging", {"services": json.dumps({"worker": {"enabled": False}})}).media
    assert media is not None and media.services == (Role.WEB,)


def test_media_can_be_switched_off() -> None:
    """media "false": no store at all, and the settings say so."""
    settings = environment_settings("production", {"media": "false"})
    assert settings.media is None
    assert settings.describe()["media"] == "(none)"


@pytest.mark.parametrize(
    ("stack", "changes", "described"),
    [
        ("dev", {}, "volume 5Gi ReadWriteOnce at /app/media; web, worker"),
        (
            "production",
            {},
            "S3 (eu-west-1) under media/, replaced uploads kept 30 days; web, worker (443 to any address)",
        ),
        (
            "staging",
            {"mediaEgressCidrs": '["10.0.0.0/16"]', "mediaNoncurrentDays": "7"},
            "S3 (eu-west-1) under media/, replaced uploads kept 7 days; web, worker (443 to 10.0.0.0/16)",
        ),
    ],
)
def test_the_settings_output_says_where_uploads_live(stack: str, changes: dict[str, str], described: str) -> None:
    """describe() (the `settings` stack output and the render summary) names the store, retention and handlers."""
    assert environment_settings(stack, changes).describe()["media"] == described


def test_the_volume_checks_do_not_apply_where_uploads_are_in_s3() -> None:
    """Services with different users, or an emptyDir at the media path, are fine where nothing is shared on disk."""
    services = {"worker": {"runAsUser": 10002, "writablePaths": ["/app/media"]}}
    media = environment_settings("staging", {"services": json.dumps(services)}).media
    assert media is not None and media.bucket is not None


# --- invalid values, each with its exact message -----------------------------------------------------

NOT_A_DIRECTORY = "not an absolute directory; allowed: a path such as /app/media (/tmp is always writable)"
NOT_A_PREFIX = (
    "not a key prefix; allowed: letters, digits and !_.'()- in '/'-separated parts, without wildcards or a "
    "leading or trailing '/', e.g. media"
)
S3_ONLY = 'has no effect: the {env} environment keeps uploads in its S3 media bucket; allowed: "" (remove it)'

INVALID: list[tuple[str, str, dict[str, str], str]] = [
    (
        "media-not-boolean",
        "staging",
        {"media": "yes"},
        'crm-platform:media = "yes": not a boolean; allowed: "true" or "false"',
    ),
    (
        "services-not-a-list",
        "staging",
        {"mediaServices": "web"},
        'crm-platform:mediaServices = "web": not a list; allowed: a YAML list in the stack file, or '
        "`pulumi config set --path 'key[0]' value`",
    ),
    (
        "service-unknown",
        "staging",
        {"mediaServices": '["web", "api"]'},
        'crm-platform:mediaServices[1] = "api": not a service; allowed: web, worker, beat, frontend',
    ),
    (
        "service-not-running",
        "dev",
        {"mediaServices": '["web", "frontend"]'},
        'crm-platform:mediaServices[1] = "frontend": does not run in this stack; allowed: a service that runs '
        "(web, worker, beat)",
    ),
    (
        "service-twice",
        "staging",
        {"mediaServices": '["web", "worker", "web"]'},
        'crm-platform:mediaServices[2] = "web": is listed twice; allowed: each service once',
    ),
    ("path-relative", "dev", {"mediaPath": "media"}, f'crm-platform:mediaPath = "media": {NOT_A_DIRECTORY}'),
    ("path-tmp", "dev", {"mediaPath": "/tmp"}, f'crm-platform:mediaPath = "/tmp": {NOT_A_DIRECTORY}'),
    ("path-dot-dot", "dev", {"mediaPath": "/app/../etc"}, f'crm-platform:mediaPath = "/app/../etc": {NOT_A_DIRECTORY}'),
    (
        "storage-not-a-size",
        "dev",
        {"mediaStorage": "lots"},
        'crm-platform:mediaStorage = "lots": not a memory quantity; allowed: a size such as "512Mi", "8Gi" or "1G"',
    ),
    (
        "storage-where-s3",
        "staging",
        {"mediaStorage": "10Gi"},
        f'crm-platform:mediaStorage = "10Gi": {S3_ONLY.format(env="staging")}',
    ),
    (
        "access-mode-unknown",
        "dev",
        {"mediaAccessMode": "ReadWriteOncePod"},
        'crm-platform:mediaAccessMode = "ReadWriteOncePod": unknown access mode; allowed: ReadWriteOnce (the media '
        "services then share a node) or ReadWriteMany (if the storageClass offers it)",
    ),
    (
        "access-mode-where-s3",
        "production",
        {"mediaAccessMode": "ReadWriteMany"},
        f'crm-platform:mediaAccessMode = "ReadWriteMany": {S3_ONLY.format(env="production")}',
    ),
    (
        "prefix-leading-slash",
        "staging",
        {"mediaPrefix": "/media"},
        f'crm-platform:mediaPrefix = "/media": {NOT_A_PREFIX}',
    ),
    ("prefix-wildcard", "staging", {"mediaPrefix": "media/*"}, f'crm-platform:mediaPrefix = "media/*": {NOT_A_PREFIX}'),
    (
        "prefix-dot-dot",
        "staging",
        {"mediaPrefix": "media/.."},
        f'crm-platform:mediaPrefix = "media/..": {NOT_A_PREFIX}',
    ),
    (
        "noncurrent-days-zero",
        "staging",
        {"mediaNoncurrentDays": "0"},
        'crm-platform:mediaNoncurrentDays = "0": out of range; allowed: an integer from 1 to 3650',
    ),
    (
        "noncurrent-days-text",
        "staging",
        {"mediaNoncurrentDays": "thirty"},
        'crm-platform:mediaNoncurrentDays = "thirty": not an integer; allowed: an integer from 1 to 3650',
    ),
    (
        "kms-alias",
        "staging",
        {"mediaKmsKeyArn": "arn:aws:kms:eu-west-1:111122223333:alias/media"},
        'crm-platform:mediaKmsKeyArn = "arn:aws:kms:eu-west-1:111122223333:alias/media": not a KMS key ARN; '
        "allowed: arn:aws:kms:<region>:<account>:key/<key id> (the key's ARN, not an alias, which IAM policies "
        "cannot grant)",
    ),
    (
        "egress-host-bits",
        "staging",
        {"mediaEgressCidrs": '["10.0.0.1/8"]'},
        'crm-platform:mediaEgressCidrs[0] = "10.0.0.1/8": has host bits set or is not canonical; allowed: 10.0.0.0/8',
    ),
    (
        "volume-users-differ",
        "dev",
        {"services": json.dumps({"worker": {"runAsUser": 10002}})},
        'crm-platform:services.worker.runAsUser = "10002": differs from web\'s 10001, and the services sharing the '
        "media volume (web, worker) must write it as one user and group (fsGroup); allowed: 10001",
    ),
    (
        "volume-path-also-writable",
        "pr-7",
        {"services": json.dumps({"worker": {"writablePaths": ["/app/media"]}})},
        'crm-platform:services.worker.writablePaths = "/app/media": is where the media volume is mounted '
        "(mediaPath); allowed: another directory, or another mediaPath",
    ),
    (
        "checked-while-off",
        "staging",
        {"media": "false", "mediaPrefix": "/media"},
        f'crm-platform:mediaPrefix = "/media": {NOT_A_PREFIX}',
    ),
]


@pytest.mark.parametrize(("stack", "changes", "message"), [pytest.param(*case[1:], id=case[0]) for case in INVALID])
def test_invalid_media_configuration_stops_with_its_message(stack: str, changes: dict[str, str], message: str) -> None:
    """Each bad media value is the one problem, naming the key, the value and what is allowed."""
    assert environment_problems(stack, changes) == [message]


def test_every_bad_media_service_is_reported_not_only_the_first() -> None:
    """An unknown service does not hide the items after it: each bad item of mediaServices is its own problem."""
    assert environment_problems("dev", {"mediaServices": '["api", "frontend", "web", "web"]'}) == [
        'crm-platform:mediaServices[0] = "api": not a service; allowed: web, worker, beat, frontend',
        'crm-platform:mediaServices[1] = "frontend": does not run in this stack; allowed: a service that runs '
        "(web, worker, beat)",
        'crm-platform:mediaServices[3] = "web": is listed twice; allowed: each service once',
    ]
