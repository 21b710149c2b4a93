"""Property tests: malformed settings never produce anything but the one clear SettingsError.

The oracles here are independent of stacks/validation.py (ipaddress, plain regexes written
from the RFCs), so a value the oracle calls malformed must be refused by the program.
"""

from __future__ import annotations

import ipaddress
import json
import re

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from stacks import SettingsError, build
from stacks.schema import KEYS, KEYS_BY_NAME, PROJECT
from tests.stacks.test_settings import PLANTED_SECRET, SECRETS, VALID_STAGING

PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_RFC1123_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")


def is_hostname(text: str) -> bool:
    return 0 < len(text) <= 253 and all(_RFC1123_LABEL.match(label) for label in text.split("."))


def is_canonical_cidr(text: str) -> bool:
    try:
        return "/" in text and str(ipaddress.ip_network(text, strict=True)) == text
    except ValueError:
        return False


def is_decimal_integer_in(text: str, low: int, high: int) -> bool:
    return re.fullmatch(r"[+-]?[0-9]{1,19}", text) is not None and low <= int(text) <= high


def fails_clearly(key: str, value: str, stack: str = "staging") -> SettingsError:
    """Build with one key changed; it must raise SettingsError naming that key on one line."""
    raw = {**VALID_STAGING, f"{PROJECT}:{key}": value}
    try:
        build(stack, raw, SECRETS)
    except SettingsError as error:
        message = str(error)
        assert "\n" not in message
        assert f"{PROJECT}:{key}" in message
        assert PLANTED_SECRET not in message
        return error
    raise AssertionError(f"{key}={value!r} was accepted")


text = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=40)


@PROPERTY_SETTINGS
@given(value=text)
@example("crm.example.com\n")
@example("crm.example.com.")
def test_malformed_hostnames_are_refused(value: str) -> None:
    """Anything that is not an RFC 1123 host name is refused for domain and smtpHost."""
    assume(value and not is_hostname(value))
    fails_clearly("domain", value)
    fails_clearly("smtpHost", value)


@PROPERTY_SETTINGS
@given(value=st.one_of(text, st.from_regex(r"[0-9a-f:.]{1,20}/[0-9]{1,3}", fullmatch=True)))
@example("10.0.0.0/8\n")
@example("fe80::%eth0/128")
def test_malformed_cidrs_are_refused(value: str) -> None:
    """Anything that is not a canonical CIDR block is refused in egressCidrs."""
    assume(not is_canonical_cidr(value))
    fails_clearly("egressCidrs", json.dumps([value]))


@PROPERTY_SETTINGS
@given(value=st.one_of(text, st.integers().map(str)))
@example(" 587")
@example("587\n")
def test_integers_outside_their_range_are_refused(value: str) -> None:
    """Anything that is not an integer from 1 to 65535 is refused for smtpPort."""
    assume(not is_decimal_integer_in(value, 1, 65535))
    fails_clearly("smtpPort", value)


@PROPERTY_SETTINGS
@given(value=text)
@example("[" * 100_000)
def test_lists_that_are_not_json_lists_of_strings_are_refused(value: str) -> None:
    """Anything that is not a list of strings is refused for a list key."""
    try:
        decoded = json.loads(value)
    except (ValueError, RecursionError):
        decoded = None
    assume(not (isinstance(decoded, list) and all(isinstance(item, str) for item in decoded)))
    fails_clearly("readOnlyGroups", value)


@PROPERTY_SETTINGS
@given(name=st.from_regex(r"[A-Za-z][A-Za-z0-9.]{0,30}", fullmatch=True), value=text)
def test_unknown_keys_are_refused(name: str, value: str) -> None:
    """Any key the schema does not declare is refused."""
    assume(name not in KEYS_BY_NAME)
    fails_clearly(name, value)


def _plain_text_secret_message(value: str) -> str:
    raw = {**VALID_STAGING, f"{PROJECT}:smtpPassword": value}
    try:
        build("staging", raw, secret_keys=set())
    except SettingsError as error:
        return str(error)
    raise AssertionError("a plain-text secret was accepted")


@PROPERTY_SETTINGS
@given(value=text.filter(bool))
def test_a_plain_text_secret_is_refused_without_being_shown(value: str) -> None:
    """The message is the same whatever the secret is: it carries nothing of the value."""
    assert _plain_text_secret_message(value) == _plain_text_secret_message("another value entirely")


any_key = st.sampled_from([key.name for key in KEYS]) | st.from_regex(r"[a-z][A-Za-z]{0,15}", fullmatch=True)


@PROPERTY_SETTINGS
@given(
    stack=st.sampled_from(["dev", "staging", "production", "pr-3", "qa"])
    | st.from_regex(r"[a-z0-9-]{1,12}", fullmatch=True),
    changes=st.dictionaries(any_key, text | st.integers().map(str) | st.lists(text).map(json.dumps), max_size=6),
)
def test_random_settings_either_build_or_fail_clearly(stack: str, changes: dict[str, str]) -> None:
    """Whatever the stack file holds, the result is Settings or one SettingsError, never a crash."""
    raw = {**VALID_STAGING, **{f"{PROJECT}:{key}": value for key, value in changes.items()}}
    try:
        build(stack, raw, SECRETS)
    except SettingsError as error:
        assert error.problems
        assert "\n" not in str(error)
        assert PLANTED_SECRET not in str(error)
