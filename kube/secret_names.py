"""When a name says it holds a secret: environment variables, ConfigMap keys, config keys.

One heuristic for the whole project, so the settings validation (which refuses a literal in a
service's `env` under such a name) and the policy pack (which refuses it in a rendered object)
always agree. Judged by words, so CACHE_KEY_PREFIX or PASSWORD_RESET_TIMEOUT stay allowed.
"""

from __future__ import annotations

import re

_SECRET_LAST_WORDS = frozenset({"PASSWORD", "PASSWD", "PWD", "SECRET", "TOKEN", "CREDENTIAL", "CREDENTIALS", "DSN"})
_SECRET_KEY_QUALIFIERS = frozenset({"API", "ACCESS", "SECRET", "PRIVATE", "SIGNING", "ENCRYPTION", "MASTER"})


def looks_secret(name: str) -> bool:
    """Whether a name says it holds a secret (API_TOKEN, STRIPE_SECRET_KEY, db-password, smtp.password)."""
    words = [word for word in re.split(r"[^A-Z0-9]+", name.upper()) if word]
    if not words:
        return False
    if words[-1] in _SECRET_LAST_WORDS or "SECRET" in words:
        return True
    return len(words) >= 2 and words[-1] == "KEY" and words[-2] in _SECRET_KEY_QUALIFIERS


_SECRET_FRAGMENT = re.compile(r"pass|secret|token|key|credential", re.IGNORECASE)


def may_hold_secret(name: str) -> bool:
    """Whether a name contains a fragment of a secret's name anywhere (smtpPasswrd, apiKey).

    Broader than `looks_secret` on purpose: it decides whether to hide the value of a
    misspelt or unknown config key in an error message, where hiding too much costs nothing.
    """
    return _SECRET_FRAGMENT.search(name) is not None
