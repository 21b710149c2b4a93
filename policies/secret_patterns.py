"""When a key or a literal value looks like a secret: the rules for ConfigMaps and container env.

Names are judged by `kube.secret_names.looks_secret`, the same words the stack settings refuse in
service env (PASSWORD, TOKEN, ..._API_KEY), so the program and the pack agree. Values are judged by
shapes that are secrets wherever they appear: private keys, cloud and SaaS token formats, and
credentials inside a URL. A value that only refers to a secret (`$(DATABASE_PASSWORD)`, a file
path) is not one. Messages name the key, never the value.
"""

from __future__ import annotations

import re

# A Kubernetes dependent-variable reference, `$(NAME)`, or a shell one, `${NAME}` / `$NAME`.
_REFERENCE = r"\$\([A-Za-z_][A-Za-z0-9_]*\)|\$\{[A-Za-z_][A-Za-z0-9_]*\}|\$[A-Za-z_][A-Za-z0-9_]*"
# Nothing but references and separators.
_ONLY_REFERENCES = re.compile(rf"(?:{_REFERENCE}|[\s:/@._-])*")

# Each token shape, as `\b<prefix><rest>`, is written `<prefix>(?<!\w<prefix>)<rest>`: the same matches, but a
# pattern that starts with its literal prefix lets the regex engine scan for the prefix instead of trying every
# position, which is what a ConfigMap of scripts (tens of kilobytes) costs otherwise (tests/policies/
# test_secret_patterns.py holds both forms equal).
_SECRET_VALUE_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a PEM private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("an AWS access key id", re.compile(r"A[KS]IA(?<!\wA[KS]IA)[0-9A-Z]{16}\b")),
    ("a GitHub token", re.compile(r"gh(?<!\wgh)[pousr]_[0-9A-Za-z]{36,}\b")),
    ("a Slack token", re.compile(r"xox(?<!\wxox)[abposr]-[0-9A-Za-z-]{10,}")),
    ("a Stripe live key", re.compile(r"k_live_(?<=[rs]k_live_)(?<!\w[rs]k_live_)[0-9A-Za-z]{16,}")),
    ("a Google API key", re.compile(r"AIza(?<!\wAIza)[0-9A-Za-z_-]{35}\b")),
)

# scheme://user:password@host, scheme `[A-Za-z][A-Za-z0-9+.-]*`: the password is what must not be literal. The
# pattern starts at "://" (a literal to scan for) and `_has_scheme` checks what precedes it, which is the same as
# a scheme in the pattern: neither the user nor the password may hold "/", so each "://" has at most one match.
_URL_CREDENTIALS = re.compile(r"://[^\s/:@]*:(?P<password>[^\s/@]+)@")
_SCHEME_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+.-")


def _has_scheme(value: str, end: int) -> bool:
    """Whether the characters before `end` end in a URL scheme: a run of scheme characters holding a letter."""
    start = end
    while start > 0 and value[start - 1] in _SCHEME_CHARACTERS:
        start -= 1
    return any(character.isascii() and character.isalpha() for character in value[start:end])


def is_reference(value: str) -> bool:
    """Whether a value is only references to other variables (and separators), so it holds no secret itself."""
    return _ONLY_REFERENCES.fullmatch(value) is not None


def secret_shape(value: str) -> str | None:
    """What secret a literal value looks like ("a PEM private key", "a password inside a URL"), or None."""
    for description, pattern in _SECRET_VALUE_SHAPES:
        if pattern.search(value):
            return description
    for match in _URL_CREDENTIALS.finditer(value):
        if _has_scheme(value, match.start()) and not is_reference(match.group("password")):
            return "a password inside a URL"
    return None
