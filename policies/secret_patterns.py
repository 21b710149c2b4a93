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
_REFERENCE = re.compile(r"\$\([A-Za-z_][A-Za-z0-9_]*\)|\$\{[A-Za-z_][A-Za-z0-9_]*\}|\$[A-Za-z_][A-Za-z0-9_]*")

_SECRET_VALUE_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a PEM private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("an AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a GitHub token", re.compile(r"\bgh[pousr]_[0-9A-Za-z]{36,}\b")),
    ("a Slack token", re.compile(r"\bxox[abposr]-[0-9A-Za-z-]{10,}")),
    ("a Stripe live key", re.compile(r"\b[rs]k_live_[0-9A-Za-z]{16,}")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
)

# scheme://user:password@host: the password is what must not be literal.
_URL_CREDENTIALS = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@]*:(?P<password>[^\s/@]+)@")


def is_reference(value: str) -> bool:
    """Whether a value is only references to other variables (and separators), so it holds no secret itself."""
    return not re.sub(r"[\s:/@._-]", "", _REFERENCE.sub("", value))


def secret_shape(value: str) -> str | None:
    """What secret a literal value looks like ("a PEM private key", "a password inside a URL"), or None."""
    for description, pattern in _SECRET_VALUE_SHAPES:
        if pattern.search(value):
            return description
    for match in _URL_CREDENTIALS.finditer(value):
        if not is_reference(match.group("password")):
            return "a password inside a URL"
    return None
