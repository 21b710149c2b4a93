"""Parsers for config values: each returns the typed value or raises `InvalidValueError`.

Pulumi hands every config value to the program as text (arrays as JSON), so each parser
takes the raw string. The `InvalidValueError` message says what is wrong and what is allowed; the
caller adds the key and the value.
"""

from __future__ import annotations

import ipaddress
import json
import re
from decimal import Decimal

from kube import quantities


class InvalidValueError(ValueError):
    """A config value that does not parse; the message says what is allowed."""


# RFC 1123 label, lower case only: Kubernetes object names and DNS hosts both need it.
_DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_HOST_WITH_PORT = re.compile(r"(?P<host>[^:]+)(:(?P<port>[0-9]{1,5}))?")
_CONTROL_OR_SPACE = re.compile(r"[\s\x00-\x1f\x7f]")
# The same but the plain space, which paths and titles may hold: white space other than " ", or a control character.
_CONTROL_OR_SPACE_BUT_BLANK = re.compile(r"[^\S ]|[\x00-\x1f\x7f]")
# Kubernetes RBAC subject names are free text; keep them to what identity providers emit.
_GROUP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,252}")

MAX_CPU_CORES = 10_000
MAX_MEMORY_BYTES = 2**50  # 1Pi: far beyond any namespace, short of nonsense

INTEGER_RE = re.compile(r"[+-]?[0-9]+")


def integer(text: str, minimum: int, maximum: int) -> int:
    """A whole number in [minimum, maximum]."""
    allowed = f"allowed: an integer from {minimum} to {maximum}"
    if not INTEGER_RE.fullmatch(text) or len(text) > 20:
        raise InvalidValueError(f"not an integer; {allowed}")
    number = int(text)
    if not minimum <= number <= maximum:
        raise InvalidValueError(f"out of range; {allowed}")
    return number


def tri_state(text: str) -> bool | None:
    """ "" (let the profile decide), "true" or "false"."""
    if text == "":
        return None
    if text in ("true", "false"):
        return text == "true"
    raise InvalidValueError('not a boolean; allowed: "true", "false" or "" (the profile decides)')


def boolean(text: str) -> bool:
    """ "true" or "false", for a switch whose default is the same in every environment."""
    if text in ("true", "false"):
        return text == "true"
    raise InvalidValueError('not a boolean; allowed: "true" or "false"')


def string_list(text: str) -> tuple[str, ...]:
    """A JSON array of strings, as Pulumi passes array config to the program."""
    not_a_list = "not a list; allowed: a YAML list in the stack file, or `pulumi config set --path 'key[0]' value`"
    try:
        decoded = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: absurdly nested brackets
        raise InvalidValueError(not_a_list) from None
    if not isinstance(decoded, list):
        raise InvalidValueError(not_a_list)
    for index, item in enumerate(decoded):
        if not isinstance(item, str):
            raise InvalidValueError(f"item {index} is not a string; allowed: a list of strings")
    return tuple(decoded)


def dns_label(text: str) -> str:
    """A Kubernetes namespace name: RFC 1123 label, at most 63 characters."""
    if not _DNS_LABEL.fullmatch(text):
        raise InvalidValueError(
            "not a valid namespace name; allowed: at most 63 lower-case letters, digits "
            "and '-', starting and ending with a letter or digit"
        )
    return text


def _labels_valid(text: str) -> bool:
    """Whether every dot-separated part of a DNS name (RFC 1123 subdomain) is a valid label."""
    return all(_DNS_LABEL.fullmatch(label) for label in text.split("."))


def storage_class_name(text: str) -> str:
    """A StorageClass name: an RFC 1123 subdomain (lower-case labels joined by dots), at most 253 characters."""
    if len(text) > 253 or not _labels_valid(text):
        raise InvalidValueError(
            "not a StorageClass name; allowed: a name `kubectl get storageclass` lists: at most 253 lower-case "
            "letters, digits, '-' and '.', each part between dots starting and ending with a letter or digit"
        )
    return text


def hostname(text: str) -> str:
    """A DNS host name (RFC 1123), lower case, without scheme, port or trailing dot."""
    allowed = (
        "allowed: a lower-case DNS name such as api.example.com "
        "(labels of letters, digits and '-', at most 253 characters, no scheme or port)"
    )
    if "://" in text:
        raise InvalidValueError(f"has a URL scheme; {allowed}")
    if len(text) > 253 or not text:
        raise InvalidValueError(f"wrong length; {allowed}")
    if not _labels_valid(text):
        raise InvalidValueError(f"not a valid host name; {allowed}")
    return text


def host_with_optional_port(text: str) -> str:
    """A registry address: host name with an optional :port (ghcr.io, registry.local:5000)."""
    if "/" in text:  # a scheme's "://" holds one too
        raise InvalidValueError(
            "has a scheme or path; allowed: a registry host such as ghcr.io or registry.example.com:5000"
        )
    match = _HOST_WITH_PORT.fullmatch(text)
    if not match:
        raise InvalidValueError(
            "not host[:port]; allowed: a registry host such as ghcr.io or registry.example.com:5000"
        )
    hostname(match.group("host"))
    port = match.group("port")
    if port is not None and not 1 <= int(port) <= 65535:
        raise InvalidValueError("port out of range; allowed: a port from 1 to 65535")
    return text


def cidr(text: str) -> str:
    """An IPv4 or IPv6 network in CIDR notation with no host bits set."""
    if "%" in text:
        # ipaddress accepts an IPv6 zone (fe80::%eth0/64); a NetworkPolicy ipBlock does not.
        raise InvalidValueError("has an IPv6 zone; allowed: a network such as 2001:db8::/32, without %zone")
    try:
        # The interface's network: host bits cleared, so the message can name the network probably meant.
        network = ipaddress.ip_interface(text).network
    except ValueError:
        raise InvalidValueError("not a CIDR block; allowed: an IPv4 or IPv6 network such as 203.0.113.0/24") from None
    if "/" not in text:
        raise InvalidValueError(f"has no prefix length; allowed: a network such as {network}")
    if str(network) != text:
        raise InvalidValueError(f"has host bits set or is not canonical; allowed: {network}")
    return text


def kube_context(text: str) -> str:
    """A kubeconfig context name: any non-blank text without white space."""
    if not text or len(text) > 253 or _CONTROL_OR_SPACE.search(text):
        raise InvalidValueError(
            "not a context name; allowed: the name of a context in your kubeconfig "
            "(`kubectl config get-contexts`), without white space"
        )
    return text


def file_path(text: str) -> str:
    """A path to a kubeconfig file (not its contents)."""
    if "\n" in text or text.lstrip().startswith(("apiVersion", "{")):
        raise InvalidValueError(
            "looks like kubeconfig contents; allowed: a path to a kubeconfig file "
            "(keep credentials out of the stack file)"
        )
    if not text or len(text) > 4096 or _CONTROL_OR_SPACE_BUT_BLANK.search(text):
        raise InvalidValueError("not a file path; allowed: a path to a kubeconfig file")
    return text


def group_name(text: str) -> str:
    """A Kubernetes RBAC group name from the cluster's identity provider."""
    if text.startswith("system:"):
        raise InvalidValueError(
            "is a reserved Kubernetes group; allowed: a group from your identity provider, "
            "not one starting with 'system:'"
        )
    if not _GROUP_NAME.fullmatch(text):
        raise InvalidValueError(
            "not a group name; allowed: 1-253 letters, digits and . _ : @ / + = -, starting with a letter or digit"
        )
    return text


def cpu_quantity(text: str) -> Decimal:
    """A CPU quantity: cores ("2", "0.5") or millicores ("500m"); returns cores."""
    allowed = 'allowed: cores such as "2" or "0.5", or millicores such as "500m"'
    try:
        cores, suffix = quantities.parse(text)
    except ValueError:
        raise InvalidValueError(f"not a CPU quantity; {allowed}") from None
    if suffix not in ("", "m"):
        raise InvalidValueError(f"not a CPU quantity; {allowed}")
    if not 0 < cores <= MAX_CPU_CORES:
        raise InvalidValueError(f"out of range; allowed: more than zero and at most {MAX_CPU_CORES} cores")
    if (cores * 1000) % 1:
        raise InvalidValueError(f"finer than a millicore; {allowed}")
    return cores


def memory_quantity(text: str) -> Decimal:
    """A memory quantity with a binary or decimal suffix ("512Mi", "2Gi", "1G"); returns bytes."""
    try:
        size, suffix = quantities.parse(text)
    except ValueError:
        suffix = "m"
    if suffix == "m":  # millibytes parse, but never mean what was meant
        raise InvalidValueError('not a memory quantity; allowed: a size such as "512Mi", "8Gi" or "1G"')
    if not 2**20 <= size <= MAX_MEMORY_BYTES:
        raise InvalidValueError("out of range; allowed: from 1Mi to 1Pi")
    return size


def user_name(text: str) -> str:
    """A login name for the SMTP relay: no white space."""
    if not text or len(text) > 253 or _CONTROL_OR_SPACE.search(text):
        raise InvalidValueError("not a user name; allowed: 1-253 characters without white space")
    return text


def registry_user_name(text: str) -> str:
    """A registry login name: a user name without ':', which separates user and password in the pull secret's
    `auth` field (base64 of user:password)."""
    user_name(text)
    if ":" in text:
        raise InvalidValueError(
            "contains ':', which separates user and password in a registry login; allowed: a name without ':'"
        )
    return text


_PYTHON_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def python_module(text: str) -> str:
    """A dotted Python module path: crm, crm.settings.production."""
    if not _PYTHON_MODULE.fullmatch(text) or len(text) > 200:
        raise InvalidValueError("not a Python module path; allowed: dotted identifiers such as crm.settings")
    return text


_EMAIL = re.compile(r"[A-Za-z0-9.!#%&'*+/=?^_`{|}~-]{1,64}@(?P<domain>[^@\s]+)")


def email(text: str) -> str:
    """An e-mail address with a valid domain."""
    match = _EMAIL.fullmatch(text)
    if match is None:
        raise InvalidValueError("not an e-mail address; allowed: name@example.com")
    hostname(match["domain"])
    return text


_PATH_PREFIX = re.compile(r"/([A-Za-z0-9._~-]+/)*")


def url_path_prefix(text: str) -> str:
    """A URL path prefix that ends with a slash: /ws/, /api/stream/."""
    if not _PATH_PREFIX.fullmatch(text) or text == "/":
        raise InvalidValueError("not a path prefix; allowed: a path below / ending with /, such as /ws/")
    return text


_CRON_FIELD = re.compile(r"(\*|[0-9]+(-[0-9]+)?)(/[0-9]+)?(,(\*|[0-9]+(-[0-9]+)?)(/[0-9]+)?)*")
_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


def cron_schedule(text: str) -> str:
    """A five-field cron schedule (minute hour day-of-month month day-of-week), numbers only."""
    allowed = 'allowed: five numeric cron fields such as "0 2 * * *" (02:00 daily)'
    fields = text.split(" ")
    if len(fields) != 5 or not all(_CRON_FIELD.fullmatch(field) for field in fields):
        raise InvalidValueError(f"not a cron schedule; {allowed}")
    for field, (low, high) in zip(fields, _CRON_RANGES, strict=True):  # pragma: no mutate len(fields) == 5 above
        # Each comma-separated element is a value, a range or `*`, with one optional /step (as _CRON_FIELD allows).
        for element in field.split(","):
            values, *step = element.split("/")
            numbers = re.findall(r"[0-9]+", values)
            for number in numbers:
                if not low <= int(number) <= high:
                    raise InvalidValueError(f"{number} is outside {low}-{high}; {allowed}")
            if len(numbers) == 2 and int(numbers[0]) > int(numbers[1]):
                # robfig/cron, as the CronJob controller parses it: "beginning of range beyond end of range".
                raise InvalidValueError(f"range {values} starts after it ends; {allowed}")
            if step and int(step[0]) == 0:
                # The CronJob controller's parser refuses a step of zero (robfig/cron: "step of range should be a
                # positive number"), so the API would take a schedule that never runs.
                raise InvalidValueError(f"step {step[0]} is not a positive number; {allowed}")
    return text


_AWS_REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]")
_OIDC_PROVIDER_ARN = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/[a-z0-9.-]+(/[A-Za-z0-9._-]+)*")
_KMS_KEY_ARN = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key/[0-9a-f-]{36}|alias/[A-Za-z0-9/_-]+)")


def aws_region(text: str) -> str:
    if not _AWS_REGION.fullmatch(text):
        raise InvalidValueError("not an AWS region; allowed: a region name such as eu-west-1")
    return text


def oidc_provider_arn(text: str) -> str:
    if not _OIDC_PROVIDER_ARN.fullmatch(text):
        raise InvalidValueError(
            "not an IAM OIDC provider ARN; allowed: arn:aws:iam::<account>:oidc-provider/<issuer host and path>"
        )
    return text


def kms_key_arn(text: str) -> str:
    if not _KMS_KEY_ARN.fullmatch(text):
        raise InvalidValueError(
            "not a KMS key ARN; allowed: arn:aws:kms:<region>:<account>:key/<key id> or alias/<name>"
        )
    return text


def kms_key_id_arn(text: str) -> str:
    """A KMS key's own ARN (key/<id>): an IAM policy grants use of a key only by that ARN, never by an alias."""
    if not _KMS_KEY_ARN.fullmatch(text) or ":key/" not in text:
        raise InvalidValueError(
            "not a KMS key ARN; allowed: arn:aws:kms:<region>:<account>:key/<key id> (the key's ARN, not an alias, "
            "which IAM policies cannot grant)"
        )
    return text


# Route53 hosted zone IDs are "Z" and upper-case letters and digits, at most 32 characters (the API's HostedZoneId).
_ROUTE53_ZONE_ID = re.compile(r"Z[A-Z0-9]{1,31}")


def route53_zone_id(text: str) -> str:
    """A Route53 hosted zone ID as IAM ARNs and cert-manager's hostedZoneID take it: Z0123456789ABCDEFGHIJ."""
    allowed = "allowed: the zone's ID, Z and upper-case letters and digits (`aws route53 list-hosted-zones-by-name`)"
    if text.startswith("/hostedzone/"):
        raise InvalidValueError(f"has the API's /hostedzone/ prefix; {allowed}, without it")
    if not _ROUTE53_ZONE_ID.fullmatch(text):
        raise InvalidValueError(f"not a Route53 hosted zone ID; {allowed}")
    return text


_DIRECTORY = re.compile(r"(/[A-Za-z0-9._-]+)+")


def directory(text: str) -> str:
    """An absolute directory inside a container other than /tmp (which is always writable), without . or .."""
    if not _DIRECTORY.fullmatch(text) or text == "/tmp" or {".", ".."} & set(text.split("/")):
        raise InvalidValueError(
            "not an absolute directory; allowed: a path such as /app/media (/tmp is always writable)"
        )
    return text


# S3's "safe characters" for object keys, in '/'-separated parts: no wildcard, so a prefix means itself in an IAM
# policy (Resource and s3:prefix conditions treat * and ? as wildcards).
_S3_KEY_PREFIX = re.compile(r"[A-Za-z0-9!_.'()-]+(/[A-Za-z0-9!_.'()-]+)*")


def s3_key_prefix(text: str) -> str:
    """A key prefix in a bucket (media, uploads/crm), without a leading or trailing '/'."""
    if len(text) > 200 or not _S3_KEY_PREFIX.fullmatch(text) or {".", ".."} & set(text.split("/")):
        raise InvalidValueError(
            "not a key prefix; allowed: letters, digits and !_.'()- in '/'-separated parts, without wildcards or a "
            "leading or trailing '/', e.g. media"
        )
    return text


# Prometheus's duration syntax (prometheus/common model.ParseDuration): units from years down to
# milliseconds, each at most once and in this order.
_PROMETHEUS_DURATION = re.compile(
    r"(?:(?P<y>[0-9]+)y)?(?:(?P<w>[0-9]+)w)?(?:(?P<d>[0-9]+)d)?(?:(?P<h>[0-9]+)h)?"
    r"(?:(?P<m>[0-9]+)m)?(?:(?P<s>[0-9]+)s)?(?:(?P<ms>[0-9]+)ms)?"
)
_DURATION_MILLISECONDS = {
    "y": 365 * 86_400_000,
    "w": 7 * 86_400_000,
    "d": 86_400_000,
    "h": 3_600_000,
    "m": 60_000,
    "s": 1000,
    "ms": 1,
}
MIN_RETENTION_SECONDS = 2 * 3600
"""Prometheus cuts its blocks every two hours: a shorter retention would keep less than one block."""
MAX_RETENTION_SECONDS = 10 * 365 * 86400


def prometheus_retention(text: str) -> int:
    """A Prometheus retention time ("15d", "12h", "1y"); returns seconds."""
    allowed = 'allowed: a Prometheus duration from 2h to 10y, such as "15d" or "12h" (units y, w, d, h, m, s)'
    match = _PROMETHEUS_DURATION.fullmatch(text)
    if not text or match is None or len(text) > 20:
        raise InvalidValueError(f"not a duration; {allowed}")
    milliseconds = sum(int(value) * _DURATION_MILLISECONDS[unit] for unit, value in match.groupdict().items() if value)
    seconds = milliseconds // 1000
    if not MIN_RETENTION_SECONDS <= seconds <= MAX_RETENTION_SECONDS:
        raise InvalidValueError(f"out of range; {allowed}")
    return seconds


# The sizes Prometheus's --storage.tsdb.retention.size takes (alecthomas/units ParseBase2Bytes, as the
# operator's ByteSize passes them through): every unit counts in powers of 1024, KB as KiB.
_BYTE_SIZE = re.compile(r"(?P<number>[0-9]{1,7})(?P<unit>[KMGTP]i?B)")
_BYTE_UNITS = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40, "P": 2**50}


def byte_size(text: str) -> int:
    """A Prometheus retention size ("40GB", "512MiB"); returns bytes (Prometheus counts KB, MB, GB in 1024s)."""
    match = _BYTE_SIZE.fullmatch(text)
    if match is None:
        raise InvalidValueError(
            'not a size; allowed: a whole number with KB, MB, GB, TB or PB (or KiB..PiB), e.g. "40GB"'
        )
    size = int(match["number"]) * _BYTE_UNITS[match["unit"][0]]
    if size < 2**20:
        raise InvalidValueError('too small; allowed: 1MB or more, e.g. "40GB"')
    return size


# Prometheus metric names (https://prometheus.io/docs/concepts/data_model/); names starting with two
# underscores are reserved for Prometheus itself.
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def counter_name(text: str) -> str:
    """A Prometheus counter as exported, `_total` suffix included: user_registrations_total."""
    allowed = "allowed: a Prometheus counter name ending in _total, such as user_registrations_total"
    if not _METRIC_NAME.fullmatch(text) or len(text) > 200 or text.startswith("__"):
        raise InvalidValueError(f"not a Prometheus metric name; {allowed}")
    if not text.endswith("_total") or text == "_total":
        raise InvalidValueError(
            f"does not end in _total, which prometheus-client adds to every counter it exports; {allowed}"
        )
    return text


def title(text: str) -> str:
    """A human-readable title (a dashboard panel's): 1-80 printable characters."""
    if not text.strip() or len(text) > 80 or _CONTROL_OR_SPACE_BUT_BLANK.search(text):
        raise InvalidValueError("not a title; allowed: 1-80 printable characters, e.g. User registrations")
    return text


def single_token(text: str) -> str:
    """A credential as one token: no white space or line break (a pasted newline breaks the receiver)."""
    if _CONTROL_OR_SPACE.search(text):
        raise InvalidValueError("contains white space or a line break; allowed: the value alone, on one line")
    return text
