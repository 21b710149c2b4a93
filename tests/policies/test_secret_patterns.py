"""The secret-shape and reference checks mean exactly what their plain regular expressions say.

policies/secret_patterns.py writes each token shape with its literal prefix first and finds URL
credentials from their "://", so that a ConfigMap of scripts costs a scan rather than a regex attempt
at every position. The plain forms below are the specification; on any text, the fast forms answer
the same.
"""

from __future__ import annotations

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from policies.secret_patterns import is_reference, secret_shape

PLAIN_REFERENCE = re.compile(r"\$\([A-Za-z_][A-Za-z0-9_]*\)|\$\{[A-Za-z_][A-Za-z0-9_]*\}|\$[A-Za-z_][A-Za-z0-9_]*")
PLAIN_SHAPES = (
    ("a PEM private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("an AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a GitHub token", re.compile(r"\bgh[pousr]_[0-9A-Za-z]{36,}\b")),
    ("a Slack token", re.compile(r"\bxox[abposr]-[0-9A-Za-z-]{10,}")),
    ("a Stripe live key", re.compile(r"\b[rs]k_live_[0-9A-Za-z]{16,}")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
)
PLAIN_URL_CREDENTIALS = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@]*:(?P<password>[^\s/@]+)@")


def plain_is_reference(value: str) -> bool:
    return not re.sub(r"[\s:/@._-]", "", PLAIN_REFERENCE.sub("", value))


def plain_secret_shape(value: str) -> str | None:
    for description, pattern in PLAIN_SHAPES:
        if pattern.search(value):
            return description
    for match in PLAIN_URL_CREDENTIALS.finditer(value):
        if not plain_is_reference(match.group("password")):
            return "a password inside a URL"
    return None


TOKEN_PARTS = [
    "AKIA",
    "ASIA",
    "ghp_",
    "gho_",
    "xoxb-",
    "sk_live_",
    "rk_live_",
    "AIza",
    "-----BEGIN RSA PRIVATE KEY-----",
    "://",
    "postgres://",
    "9x://",
    "+a://",
    "user:",
    "@",
    "$(DB_PASSWORD)",
    "${TOKEN}",
    "$HOME",
    "$(",
    "é",
    "_",
    "-",
    " ",
    "/",
    ":",
    "\n",
]
texts = st.lists(
    st.one_of(
        st.sampled_from(TOKEN_PARTS),
        st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcxyz0123456789_-:/@.$(){}+ ", max_size=40),
    ),
    max_size=12,
).map("".join)


@settings(max_examples=1000, deadline=None)
@given(texts)
@example("prefix AKIA" + "A" * 16 + " suffix")
@example("xAKIA" + "A" * 16)
@example("ghp_" + "a" * 36)
@example("_ghp_" + "a" * 36)
@example("é" + "xoxb-" + "1" * 10)
@example("sk_live_" + "a" * 16)
@example("tsk_live_" + "a" * 16)
@example("-rk_live_" + "a" * 16)
@example("AIza" + "b" * 35)
@example("9x://user:hunter2@host")
@example("9://user:hunter2@host")
@example("see +.-://user:hunter2@host")
# A letter two characters before a digit-only scheme, across a space: no scheme (a scan that skips misses it).
@example("ab 9://user:hunter2@host")
@example("a9://user:hunter2@host")
@example("postgres://user:$(DB_PASSWORD)@db:5432/crm")
@example("x://u:p@y://u:q@")
def test_fast_forms_answer_as_the_plain_ones(value: str) -> None:
    """On any text, secret_shape and is_reference answer what the plain expressions answer."""
    assert secret_shape(value) == plain_secret_shape(value)
    assert is_reference(value) == plain_is_reference(value)
