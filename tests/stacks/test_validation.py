"""Value parsers: what they accept as well as what they refuse."""

from __future__ import annotations

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


CRON_ALLOWED = 'allowed: five numeric cron fields such as "0 2 * * *" (02:00 daily)'


@pytest.mark.parametrize(
    "value", ["0 2 * * *", "*/15 * * * *", "0 4 * * 0", "0 4 * * 7", "0,30 8-18 * * 1-5", "59 23 31 12 7", "0 0 1 1 *"]
)
def test_cron_schedules_accepted(value: str) -> None:
    """Every field at its bounds, lists, ranges and steps pass unchanged."""
    assert validation.cron_schedule(value) == value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("60 * * * *", f"60 is outside 0-59; {CRON_ALLOWED}"),
        ("0 24 * * *", f"24 is outside 0-23; {CRON_ALLOWED}"),
        ("0 2 0 * *", f"0 is outside 1-31; {CRON_ALLOWED}"),
        ("0 2 32 * *", f"32 is outside 1-31; {CRON_ALLOWED}"),
        ("0 2 * 0 *", f"0 is outside 1-12; {CRON_ALLOWED}"),
        ("0 2 * 13 *", f"13 is outside 1-12; {CRON_ALLOWED}"),
        ("0 2 * * 8", f"8 is outside 0-7; {CRON_ALLOWED}"),
        ("0 2,24 * * *", f"24 is outside 0-23; {CRON_ALLOWED}"),
        ("0 20-24 * * *", f"24 is outside 0-23; {CRON_ALLOWED}"),
        ("0 2 * * * *", f"not a cron schedule; {CRON_ALLOWED}"),
        ("0 2 * *", f"not a cron schedule; {CRON_ALLOWED}"),
        ("0  2 * * *", f"not a cron schedule; {CRON_ALLOWED}"),
        ("@daily", f"not a cron schedule; {CRON_ALLOWED}"),
        ("0 2 * * MON", f"not a cron schedule; {CRON_ALLOWED}"),
        ("*/0 * * * *", f"the step of */0 is 0; {CRON_ALLOWED}"),
        ("0 1-5/0 * * *", f"the step of 1-5/0 is 0; {CRON_ALLOWED}"),
        ("0 5-2 * * *", f"the range 5-2 runs backwards; {CRON_ALLOWED}"),
        ("0 1,5-2 * * *", f"the range 5-2 runs backwards; {CRON_ALLOWED}"),
    ],
)
def test_cron_schedules_refused_with_what_is_wrong(value: str, message: str) -> None:
    """A value out of its field's range (named), a sixth or missing field, names, macros, a zero step or a
    backwards range (which the API server's cron parser refuses) fail before any CronJob is declared."""
    with pytest.raises(InvalidValueError) as refused:
        validation.cron_schedule(value)
    assert str(refused.value) == message


GROUP_FORMAT = "not a group name; allowed: 1-253 letters, digits and . _ : @ / + = -, starting with a letter or digit"
GROUP_RESERVED = (
    "is a reserved Kubernetes group; allowed: a group from your identity provider, not one starting with 'system:'"
)


@pytest.mark.parametrize("value", ["devs", "crm:deployers", "team@example.com", "a" * 253, "0ps/on-call+a=b"])
def test_group_names_accepted(value: str) -> None:
    assert validation.group_name(value) == value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("system:masters", GROUP_RESERVED),
        ("system:authenticated", GROUP_RESERVED),
        ("system:serviceaccounts", GROUP_RESERVED),
        ("", GROUP_FORMAT),
        ("a" * 254, GROUP_FORMAT),
        ("-devs", GROUP_FORMAT),
        ("dev team", GROUP_FORMAT),
    ],
)
def test_group_names_refused(value: str, message: str) -> None:
    """Every system: group is Kubernetes' own (binding the deployer Role to one would hand it to every
    authenticated user or every service account), not only system:masters; malformed names fail too."""
    with pytest.raises(InvalidValueError) as refused:
        validation.group_name(value)
    assert str(refused.value) == message


HOST_ALLOWED = (
    "allowed: a lower-case DNS name such as api.example.com "
    "(labels of letters, digits and '-', at most 253 characters, no scheme or port)"
)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (".".join(["a" * 63] * 4), f"wrong length; {HOST_ALLOWED}"),  # 255 characters
        ("", f"wrong length; {HOST_ALLOWED}"),
        ("https://api.example.com", f"has a URL scheme; {HOST_ALLOWED}"),
        ("api.example.com:443", f"not a valid host name; {HOST_ALLOWED}"),
    ],
)
def test_host_names_refused_with_the_reason(value: str, message: str) -> None:
    with pytest.raises(InvalidValueError) as refused:
        validation.hostname(value)
    assert str(refused.value) == message


def test_the_longest_host_name_passes() -> None:
    """253 characters in labels of at most 63 is the DNS limit, and allowed."""
    value = ".".join(["a" * 63] * 3 + ["a" * 61])
    assert len(value) == 253
    assert validation.hostname(value) == value
