"""Value parsers: what they accept as well as what they refuse."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from stacks import validation
from stacks.validation import InvalidValueError


@pytest.mark.parametrize(
    "value", ["crm.example.com", "a.b", "localhost", "x" * 63 + ".example.com", "api-1.crm.localhost"]
)
def test_hostnames_accepted(value: str) -> None:
    """Ordinary and maximal host names pass."""
    assert validation.hostname(value) == value


@pytest.mark.parametrize(
    "value", ["", "-a.example.com", "a-.example.com", "a..b", "x" * 64 + ".com", "ex ample.com", "é.com"]
)
def test_hostnames_refused(value: str) -> None:
    """Empty, badly hyphenated, over-long, spaced and non-ASCII names fail."""
    with pytest.raises(InvalidValueError):
        validation.hostname(value)


@pytest.mark.parametrize("value", ["ghcr.io", "registry.example.com:5000", "localhost:5001"])
def test_registry_hosts_accepted(value: str) -> None:
    """Registry hosts with and without a port pass."""
    assert validation.host_with_optional_port(value) == value


@pytest.mark.parametrize("value", ["ghcr.io:0", "ghcr.io:70000", "ghcr.io:", "https://ghcr.io", "ghcr.io/acme"])
def test_registry_hosts_refused(value: str) -> None:
    """Registry addresses with a bad port, a scheme or a path fail."""
    with pytest.raises(InvalidValueError):
        validation.host_with_optional_port(value)


@pytest.mark.parametrize("value", ["10.0.0.0/8", "203.0.113.7/32", "0.0.0.0/0", "2001:db8::/32"])
def test_cidrs_accepted(value: str) -> None:
    """IPv4 and IPv6 networks, including single hosts and the whole internet, pass."""
    assert validation.cidr(value) == value


def test_cidr_with_host_bits_names_the_network_meant() -> None:
    """A network with host bits set fails and names the network probably meant."""
    with pytest.raises(InvalidValueError, match=r"allowed: 10\.1\.0\.0/16"):
        validation.cidr("10.1.2.3/16")


def test_ipv6_cidr_must_be_canonical() -> None:
    """An IPv6 network must be written canonically, and the message gives that form."""
    with pytest.raises(InvalidValueError, match=r"2001:db8::/32"):
        validation.cidr("2001:DB8::/32")


@pytest.mark.parametrize(("text", "cores"), [("2", Decimal(2)), ("0.5", Decimal("0.5")), ("250m", Decimal("0.25"))])
def test_cpu_quantities(text: str, cores: Decimal) -> None:
    """CPU quantities in cores and millicores parse to cores."""
    assert validation.cpu_quantity(text) == cores


@pytest.mark.parametrize("text", ["0", "0m", "2 cores", "1e3", "-1", "1.2345"])
def test_cpu_quantities_refused(text: str) -> None:
    """Zero, prose, exponents, negatives and sub-millicore precision fail."""
    with pytest.raises(InvalidValueError):
        validation.cpu_quantity(text)


@pytest.mark.parametrize(
    ("text", "size"), [("512Mi", 512 * 2**20), ("8Gi", 8 * 2**30), ("1G", 10**9), ("1.5Gi", 3 * 2**29)]
)
def test_memory_quantities(text: str, size: int) -> None:
    """Binary and decimal memory suffixes parse to bytes."""
    assert validation.memory_quantity(text) == size


@pytest.mark.parametrize("text", ["16GB", "512mi", "1m", "100Ki", "lots"])
def test_memory_quantities_refused(text: str) -> None:
    """Unknown units, wrong case, millibytes and sizes under 1Mi fail."""
    with pytest.raises(InvalidValueError):
        validation.memory_quantity(text)


def test_tri_state_leaves_the_choice_to_the_profile_when_empty() -> None:
    """An empty boolean key means the profile decides."""
    assert validation.tri_state("") is None
    assert validation.tri_state("true") is True
    assert validation.tri_state("false") is False


@pytest.mark.parametrize(
    "context", ["kind-crm", "arn:aws:eks:eu-west-1:123456789012:cluster/crm", "gke_p_europe-west1_crm"]
)
def test_real_world_context_names_are_accepted(context: str) -> None:
    """Context names as kind, EKS and GKE write them pass."""
    assert validation.kube_context(context) == context


@pytest.mark.parametrize("group", ["crm-developers", "oidc:crm-admins", "team@example.com", "a1b2c3d4-e5f6"])
def test_identity_provider_groups_are_accepted(group: str) -> None:
    """Group names as identity providers emit them pass."""
    assert validation.group_name(group) == group


HOST_ALLOWED = (
    "allowed: a lower-case DNS name such as api.example.com "
    "(labels of letters, digits and '-', at most 253 characters, no scheme or port)"
)
REGISTRY_ALLOWED = "allowed: a registry host such as ghcr.io or registry.example.com:5000"
CPU_ALLOWED = 'allowed: cores such as "2" or "0.5", or millicores such as "500m"'
CRON_ALLOWED = 'allowed: five numeric cron fields such as "0 2 * * *" (02:00 daily)'
ZONE_ALLOWED = "allowed: the zone's ID, Z and upper-case letters and digits (`aws route53 list-hosted-zones-by-name`)"
RETENTION_ALLOWED = 'allowed: a Prometheus duration from 2h to 10y, such as "15d" or "12h" (units y, w, d, h, m, s)'
COUNTER_ALLOWED = "allowed: a Prometheus counter name ending in _total, such as user_registrations_total"
GROUP_RESERVED = (
    "is a reserved Kubernetes group; allowed: a group from your identity provider, not one starting with 'system:'"
)
LONG_HOST = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])
"""253 characters: the longest host name DNS allows."""

# (parser, its arguments, the exact message): every refusal a user can meet, worded as the user reads it.
REFUSED: list[tuple[Callable[..., object], tuple[object, ...], str]] = [
    (validation.integer, ("twelve", 1, 10), "not an integer; allowed: an integer from 1 to 10"),
    (validation.integer, ("1.5", 1, 10), "not an integer; allowed: an integer from 1 to 10"),
    (validation.integer, ("+" + "0" * 19 + "5", 1, 10), "not an integer; allowed: an integer from 1 to 10"),
    (validation.integer, ("0", 1, 10), "out of range; allowed: an integer from 1 to 10"),
    (validation.integer, ("11", 1, 10), "out of range; allowed: an integer from 1 to 10"),
    (validation.tri_state, ("yes",), 'not a boolean; allowed: "true", "false" or "" (the profile decides)'),
    (validation.tri_state, ("True",), 'not a boolean; allowed: "true", "false" or "" (the profile decides)'),
    (validation.boolean, ("",), 'not a boolean; allowed: "true" or "false"'),
    (validation.boolean, ("1",), 'not a boolean; allowed: "true" or "false"'),
    (
        validation.string_list,
        ("a, b",),
        "not a list; allowed: a YAML list in the stack file, or `pulumi config set --path 'key[0]' value`",
    ),
    (
        validation.string_list,
        ('{"a": "b"}',),
        "not a list; allowed: a YAML list in the stack file, or `pulumi config set --path 'key[0]' value`",
    ),
    (
        validation.string_list,
        ("[" * 100_000,),
        "not a list; allowed: a YAML list in the stack file, or `pulumi config set --path 'key[0]' value`",
    ),
    (validation.string_list, ('["a", 1]',), "item 1 is not a string; allowed: a list of strings"),
    (
        validation.dns_label,
        ("x" * 64,),
        "not a valid namespace name; allowed: at most 63 lower-case letters, digits and '-', starting and ending "
        "with a letter or digit",
    ),
    (validation.hostname, ("https://crm.example.com",), f"has a URL scheme; {HOST_ALLOWED}"),
    (validation.hostname, ("",), f"wrong length; {HOST_ALLOWED}"),
    (validation.hostname, (LONG_HOST + "d",), f"wrong length; {HOST_ALLOWED}"),
    (validation.hostname, ("crm..example.com",), f"not a valid host name; {HOST_ALLOWED}"),
    (validation.hostname, ("crm.example.com.",), f"not a valid host name; {HOST_ALLOWED}"),
    (validation.host_with_optional_port, ("https://ghcr.io",), f"has a scheme or path; {REGISTRY_ALLOWED}"),
    (validation.host_with_optional_port, ("ghcr.io/acme",), f"has a scheme or path; {REGISTRY_ALLOWED}"),
    (validation.host_with_optional_port, ("ghcr.io:",), f"not host[:port]; {REGISTRY_ALLOWED}"),
    (validation.host_with_optional_port, ("ghcr.io:123456",), f"not host[:port]; {REGISTRY_ALLOWED}"),
    (validation.host_with_optional_port, ("ghcr.io:0",), "port out of range; allowed: a port from 1 to 65535"),
    (validation.host_with_optional_port, ("ghcr.io:65536",), "port out of range; allowed: a port from 1 to 65535"),
    (validation.host_with_optional_port, ("GHCR.io:5000",), f"not a valid host name; {HOST_ALLOWED}"),
    (
        validation.cidr,
        ("fe80::%eth0/64",),
        "has an IPv6 zone; allowed: a network such as 2001:db8::/32, without %zone",
    ),
    (
        validation.cidr,
        ("10.0.0.0/33",),
        "not a CIDR block; allowed: an IPv4 or IPv6 network such as 203.0.113.0/24",
    ),
    (validation.cidr, ("10.0.0.1",), "has no prefix length; allowed: a network such as 10.0.0.1/32"),
    (validation.cidr, ("10.1.2.3/16",), "has host bits set or is not canonical; allowed: 10.1.0.0/16"),
    (validation.cidr, ("2001:DB8::/32",), "has host bits set or is not canonical; allowed: 2001:db8::/32"),
    *[
        (
            validation.kube_context,
            (context,),
            "not a context name; allowed: the name of a context in your kubeconfig (`kubectl config get-contexts`), "
            "without white space",
        )
        for context in ("", "x" * 254, "kind crm", "kind\tcrm")
    ],
    *[
        (
            validation.file_path,
            (path,),
            "looks like kubeconfig contents; allowed: a path to a kubeconfig file (keep credentials out of the "
            "stack file)",
        )
        for path in ("apiVersion: v1", "  apiVersion: v1", '{"apiVersion": "v1"}', "~/.kube/config\nclusters: []")
    ],
    *[
        (validation.file_path, (path,), "not a file path; allowed: a path to a kubeconfig file")
        for path in ("", "/" + "x" * 4096, "/home/me/kube\tconfig", "/home/me/kube\u2003config")
    ],
    (validation.group_name, ("system:masters",), GROUP_RESERVED),
    (validation.group_name, ("system:authenticated",), GROUP_RESERVED),
    (validation.group_name, ("system:serviceaccounts:crm",), GROUP_RESERVED),
    *[
        (
            validation.group_name,
            (group,),
            "not a group name; allowed: 1-253 letters, digits and . _ : @ / + = -, starting with a letter or digit",
        )
        for group in ("", "-admins", "crm admins", "g" * 254)
    ],
    (validation.cpu_quantity, ("two",), f"not a CPU quantity; {CPU_ALLOWED}"),
    (validation.cpu_quantity, ("2Gi",), f"not a CPU quantity; {CPU_ALLOWED}"),
    (validation.cpu_quantity, ("0",), "out of range; allowed: more than zero and at most 10000 cores"),
    (validation.cpu_quantity, ("10001",), "out of range; allowed: more than zero and at most 10000 cores"),
    (validation.cpu_quantity, ("0.0005",), f"finer than a millicore; {CPU_ALLOWED}"),
    (validation.cpu_quantity, ("1.0001",), f"finer than a millicore; {CPU_ALLOWED}"),
    (validation.memory_quantity, ("lots",), 'not a memory quantity; allowed: a size such as "512Mi", "8Gi" or "1G"'),
    (validation.memory_quantity, ("100m",), 'not a memory quantity; allowed: a size such as "512Mi", "8Gi" or "1G"'),
    (validation.memory_quantity, (str(2**20 - 1),), "out of range; allowed: from 1Mi to 1Pi"),
    (validation.memory_quantity, (str(2**50 + 1),), "out of range; allowed: from 1Mi to 1Pi"),
    *[
        (validation.user_name, (name,), "not a user name; allowed: 1-253 characters without white space")
        for name in ("", "u" * 254, "crm user", "crm\n")
    ],
    *[
        (validation.registry_user_name, (name,), "not a user name; allowed: 1-253 characters without white space")
        for name in ("", "u" * 254, "robot crm")
    ],
    *[
        (
            validation.storage_class_name,
            (name,),
            "not a StorageClass name; allowed: a name `kubectl get storageclass` lists: at most 253 lower-case "
            "letters, digits, '-' and '.', each part between dots starting and ending with a letter or digit",
        )
        for name in ("", "Fast_SSD", "gp3.", ".gp3", "gp3-.x", ".".join(["s" * 63] * 4)[:253] + "s")
    ],
    (
        validation.registry_user_name,
        ("robot:crm",),
        "contains ':', which separates user and password in a registry login; allowed: a name without ':'",
    ),
    *[
        (
            validation.python_module,
            (module,),
            "not a Python module path; allowed: dotted identifiers such as crm.settings",
        )
        for module in ("1crm", "crm.", "crm-settings", "c" * 201)
    ],
    (validation.email, ("ops.example.com",), "not an e-mail address; allowed: name@example.com"),
    (validation.email, ("o" * 65 + "@example.com",), "not an e-mail address; allowed: name@example.com"),
    (validation.email, ("ops@Example.com",), f"not a valid host name; {HOST_ALLOWED}"),
    *[
        (
            validation.url_path_prefix,
            (prefix,),
            "not a path prefix; allowed: a path below / ending with /, such as /ws/",
        )
        for prefix in ("/", "/ws", "ws/", "/w s/")
    ],
    (validation.cron_schedule, ("0 2 * * * *",), f"not a cron schedule; {CRON_ALLOWED}"),
    (validation.cron_schedule, ("0 2 * *",), f"not a cron schedule; {CRON_ALLOWED}"),
    (validation.cron_schedule, ("0  2 * * *",), f"not a cron schedule; {CRON_ALLOWED}"),
    (validation.cron_schedule, ("@daily",), f"not a cron schedule; {CRON_ALLOWED}"),
    (validation.cron_schedule, ("0 2 * * MON",), f"not a cron schedule; {CRON_ALLOWED}"),
    (validation.cron_schedule, ("60 2 * * *",), f"60 is outside 0-59; {CRON_ALLOWED}"),
    (validation.cron_schedule, ("0 24 * * *",), f"24 is outside 0-23; {CRON_ALLOWED}"),
    (validation.cron_schedule, ("0 22-24 * * *",), f"24 is outside 0-23; {CRON_ALLOWED}"),
    (validation.cron_schedule, ("0 2 0 * *",), f"0 is outside 1-31; {CRON_ALLOWED}"),
    (validation.cron_schedule, ("0 2 32 * *",), f"32 is outside 1-31; {CRON_ALLOWED}"),
    (validation.cron_schedule, ("0 2 * 0 *",), f"0 is outside 1-12; {CRON_ALLOWED}"),
    (validation.cron_schedule, ("0 2 * 13 *",), f"13 is outside 1-12; {CRON_ALLOWED}"),
    (validation.cron_schedule, ("0 2 * * 8",), f"8 is outside 0-7; {CRON_ALLOWED}"),
    # Every element of a list is a value of the field, also after an element with a step.
    (validation.cron_schedule, ("0 1/2,30 * * *",), f"30 is outside 0-23; {CRON_ALLOWED}"),
    (validation.cron_schedule, ("*/0 * * * *",), f"step 0 is not a positive number; {CRON_ALLOWED}"),
    (validation.cron_schedule, ("0 22-2 * * *",), f"range 22-2 starts after it ends; {CRON_ALLOWED}"),
    (validation.cron_schedule, ("0 2 * * 1,5-1/2",), f"range 5-1 starts after it ends; {CRON_ALLOWED}"),
    (validation.cron_schedule, ("0 2 1-31/00 * *",), f"step 00 is not a positive number; {CRON_ALLOWED}"),
    (validation.cron_schedule, ("0 5-2 * * *",), f"range 5-2 starts after it ends; {CRON_ALLOWED}"),
    (validation.cron_schedule, ("0 1,5-2/2 * * *",), f"range 5-2 starts after it ends; {CRON_ALLOWED}"),
    (validation.aws_region, ("Europe",), "not an AWS region; allowed: a region name such as eu-west-1"),
    (
        validation.oidc_provider_arn,
        ("arn:aws:iam::1234:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/X",),
        "not an IAM OIDC provider ARN; allowed: arn:aws:iam::<account>:oidc-provider/<issuer host and path>",
    ),
    (
        validation.kms_key_arn,
        ("alias/crm",),
        "not a KMS key ARN; allowed: arn:aws:kms:<region>:<account>:key/<key id> or alias/<name>",
    ),
    *[
        (
            validation.kms_key_id_arn,
            (arn,),
            "not a KMS key ARN; allowed: arn:aws:kms:<region>:<account>:key/<key id> (the key's ARN, not an alias, "
            "which IAM policies cannot grant)",
        )
        for arn in ("arn:aws:kms:eu-west-1:111122223333:alias/crm", "1234abcd-12ab-34cd-56ef-1234567890ab")
    ],
    (
        validation.route53_zone_id,
        ("/hostedzone/Z0123ABC",),
        f"has the API's /hostedzone/ prefix; {ZONE_ALLOWED}, without it",
    ),
    (validation.route53_zone_id, ("z0123abc",), f"not a Route53 hosted zone ID; {ZONE_ALLOWED}"),
    *[
        (
            validation.directory,
            (path,),
            "not an absolute directory; allowed: a path such as /app/media (/tmp is always writable)",
        )
        for path in ("/tmp", "app/media", "/app/media/", "/app/../etc", "/app/./media", "/")
    ],
    *[
        (
            validation.s3_key_prefix,
            (prefix,),
            "not a key prefix; allowed: letters, digits and !_.'()- in '/'-separated parts, without wildcards or a "
            "leading or trailing '/', e.g. media",
        )
        for prefix in ("/media", "media/", "media/*", "uploads/../media", "uploads/./media", "m" * 201)
    ],
    (validation.prometheus_retention, ("",), f"not a duration; {RETENTION_ALLOWED}"),
    (validation.prometheus_retention, ("15 days",), f"not a duration; {RETENTION_ALLOWED}"),
    (validation.prometheus_retention, ("0" * 19 + "2h",), f"not a duration; {RETENTION_ALLOWED}"),
    (validation.prometheus_retention, ("1h59m59s",), f"out of range; {RETENTION_ALLOWED}"),
    (validation.prometheus_retention, ("7199999ms",), f"out of range; {RETENTION_ALLOWED}"),
    (validation.prometheus_retention, ("10y1s",), f"out of range; {RETENTION_ALLOWED}"),
    (
        validation.byte_size,
        ("40 GB",),
        'not a size; allowed: a whole number with KB, MB, GB, TB or PB (or KiB..PiB), e.g. "40GB"',
    ),
    (validation.byte_size, ("1023KB",), 'too small; allowed: 1MB or more, e.g. "40GB"'),
    *[
        (validation.counter_name, (name,), f"not a Prometheus metric name; {COUNTER_ALLOWED}")
        for name in ("1_total", "__internal_total", "user-registrations_total", "u" * 195 + "_total")
    ],
    *[
        (
            validation.counter_name,
            (name,),
            f"does not end in _total, which prometheus-client adds to every counter it exports; {COUNTER_ALLOWED}",
        )
        for name in ("user_registrations", "_total", "user_total_count")
    ],
    *[
        (validation.title, (text,), "not a title; allowed: 1-80 printable characters, e.g. User registrations")
        for text in ("", "   ", "t" * 81, "User\tregistrations", "User\u00a0registrations")
    ],
    (
        validation.single_token,
        ("token\n",),
        "contains white space or a line break; allowed: the value alone, on one line",
    ),
]


@pytest.mark.parametrize(("parser", "arguments", "message"), REFUSED)
def test_each_refusal_says_exactly_what_is_wrong_and_what_is_allowed(
    parser: Callable[..., object], arguments: tuple[object, ...], message: str
) -> None:
    """Each refused value gives this message; the caller adds the key and the value."""
    with pytest.raises(InvalidValueError) as raised:
        parser(*arguments)
    assert str(raised.value) == message


# (parser, its arguments, what it returns): the edges of what each parser accepts.
ACCEPTED: list[tuple[Callable[..., object], tuple[object, ...], object]] = [
    (validation.integer, ("1", 1, 10), 1),
    (validation.integer, ("10", 1, 10), 10),
    (validation.integer, ("+" + "0" * 18 + "7", 1, 10), 7),
    (validation.integer, ("-3", -5, 0), -3),
    (validation.boolean, ("true",), True),
    (validation.boolean, ("false",), False),
    (validation.string_list, ('["a", "b"]',), ("a", "b")),
    (validation.string_list, ("[]",), ()),
    (validation.dns_label, ("x" * 63,), "x" * 63),
    (validation.dns_label, ("crm-dev",), "crm-dev"),
    (validation.hostname, (LONG_HOST,), LONG_HOST),
    (validation.host_with_optional_port, ("ghcr.io:1",), "ghcr.io:1"),
    (validation.host_with_optional_port, ("ghcr.io:65535",), "ghcr.io:65535"),
    (validation.cidr, ("2001:db8::/32",), "2001:db8::/32"),
    (validation.kube_context, ("x" * 253,), "x" * 253),
    (validation.file_path, ("/home/me/my kube/config",), "/home/me/my kube/config"),
    (validation.file_path, ("/" + "x" * 4095,), "/" + "x" * 4095),
    (validation.file_path, ("./kubeconfig-{stack}",), "./kubeconfig-{stack}"),
    (validation.group_name, ("g" * 253,), "g" * 253),
    (validation.group_name, ("crm:system:admins",), "crm:system:admins"),
    (validation.cpu_quantity, ("1m",), Decimal("0.001")),
    (validation.cpu_quantity, ("10000",), Decimal(10_000)),
    (validation.cpu_quantity, ("1.5",), Decimal("1.5")),
    (validation.memory_quantity, ("1Mi",), Decimal(2**20)),
    (validation.memory_quantity, ("1Pi",), Decimal(2**50)),
    (validation.user_name, ("robot:crm",), "robot:crm"),
    (validation.user_name, ("u" * 253,), "u" * 253),
    (validation.storage_class_name, ("gp3.encrypted",), "gp3.encrypted"),
    (validation.storage_class_name, (".".join(["s" * 63] * 4)[:253],), ".".join(["s" * 63] * 4)[:253]),
    (validation.registry_user_name, ("u" * 253,), "u" * 253),
    (validation.registry_user_name, ("robot$crm+ci",), "robot$crm+ci"),
    (validation.python_module, ("crm.settings.production",), "crm.settings.production"),
    (validation.python_module, ("c" * 200,), "c" * 200),
    (validation.email, ("o" * 64 + "@example.com",), "o" * 64 + "@example.com"),
    (validation.url_path_prefix, ("/api/stream/",), "/api/stream/"),
    (validation.cron_schedule, ("59 23 31 12 7",), "59 23 31 12 7"),
    (validation.cron_schedule, ("0 0 1 1 0",), "0 0 1 1 0"),
    (validation.cron_schedule, ("*/15 1-5/2,7 * * 1-5",), "*/15 1-5/2,7 * * 1-5"),
    # A step is no value of the field: the controller's parser takes any positive one.
    (validation.cron_schedule, ("*/90 * * * *",), "*/90 * * * *"),
    (validation.cron_schedule, ("0 5-5 * * *",), "0 5-5 * * *"),
    (validation.aws_region, ("us-gov-west-1",), "us-gov-west-1"),
    (
        validation.oidc_provider_arn,
        ("arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE",),
        "arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE",
    ),
    (
        validation.kms_key_arn,
        ("arn:aws:kms:eu-west-1:111122223333:alias/crm",),
        "arn:aws:kms:eu-west-1:111122223333:alias/crm",
    ),
    (
        validation.kms_key_id_arn,
        ("arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",),
        "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    ),
    (validation.route53_zone_id, ("Z0123456789ABCDEFGHIJ",), "Z0123456789ABCDEFGHIJ"),
    (validation.directory, ("/tmp/media",), "/tmp/media"),
    (validation.directory, ("/app/.media",), "/app/.media"),
    (validation.s3_key_prefix, ("uploads/crm",), "uploads/crm"),
    (validation.s3_key_prefix, ("m" * 200,), "m" * 200),
    (validation.prometheus_retention, ("2h",), 7200),
    (validation.prometheus_retention, ("0" * 18 + "2h",), 7200),
    (validation.prometheus_retention, ("120m",), 7200),
    (validation.prometheus_retention, ("7200s",), 7200),
    (validation.prometheus_retention, ("7200000ms",), 7200),
    (validation.prometheus_retention, ("2h1500ms",), 7201),
    (validation.prometheus_retention, ("1w",), 7 * 86400),
    (validation.prometheus_retention, ("15d",), 15 * 86400),
    (validation.prometheus_retention, ("10y",), 10 * 365 * 86400),
    (validation.prometheus_retention, ("1y2w3d4h5m6s",), 365 * 86400 + 14 * 86400 + 3 * 86400 + 4 * 3600 + 306),
    (validation.byte_size, ("1MB",), 2**20),
    (validation.byte_size, ("1024KiB",), 2**20),
    (validation.byte_size, ("40GB",), 40 * 2**30),
    (validation.byte_size, ("2TB",), 2 * 2**40),
    (validation.byte_size, ("1PiB",), 2**50),
    (validation.counter_name, ("user_registrations_total",), "user_registrations_total"),
    (validation.counter_name, ("u" * 194 + "_total",), "u" * 194 + "_total"),
    (validation.title, ("User registrations",), "User registrations"),
    (validation.title, ("t" * 80,), "t" * 80),
    (validation.single_token, ("s3cr3t-token",), "s3cr3t-token"),
]


@pytest.mark.parametrize(("parser", "arguments", "expected"), ACCEPTED)
def test_values_at_the_edges_of_what_is_allowed_are_accepted(
    parser: Callable[..., object], arguments: tuple[object, ...], expected: object
) -> None:
    """Each value at a limit (the longest name, the highest port, the shortest retention) parses to this."""
    result = parser(*arguments)
    assert result == expected
    assert type(result) is type(expected)
