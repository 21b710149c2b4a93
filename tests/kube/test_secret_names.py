"""Names that say they hold a secret: the words the settings and the policy pack both refuse literals under."""

from __future__ import annotations

import pytest

from kube.secret_names import looks_secret, may_hold_secret


@pytest.mark.parametrize(
    "name",
    [
        "API_TOKEN",
        "db-password",
        "smtp.password",
        "SENTRY_DSN",
        "AWS_CREDENTIALS",
        "STRIPE_SECRET_KEY",
        "OAUTH_CLIENT_SECRET",
        # SECRET anywhere, not only last: a literal in a variable named *_SECRET_* is refused.
        "CLIENT_SECRET_VALUE",
        "SECRET_SALT",
        "jwt_signing_key",
        "PRIVATE_KEY",
    ],
)
def test_names_with_a_secret_word_look_secret(name: str) -> None:
    """A last word such as PASSWORD or TOKEN, the word SECRET anywhere, or a qualified KEY says secret."""
    assert looks_secret(name) is True


@pytest.mark.parametrize(
    "name",
    ["", "__", "-.-", "KEY", "CACHE_KEY_PREFIX", "PASSWORD_RESET_TIMEOUT", "SECRETARY_EMAIL", "MONKEY", "secretary"],
)
def test_names_without_a_secret_word_do_not(name: str) -> None:
    """No words at all, KEY alone or unqualified, or secret words as part of other words: not a secret's name."""
    assert looks_secret(name) is False


@pytest.mark.parametrize("name", ["smtpPasswrd", "apiKey", "SECRET", "accessToken", "awsCredential", "bypass"])
def test_fragments_of_secret_names_may_hold_a_secret(name: str) -> None:
    """A misspelt or camel-case key with a secret's fragment anywhere is treated as possibly secret."""
    assert may_hold_secret(name) is True


@pytest.mark.parametrize("name", ["smtpPort", "domain", "appImage", ""])
def test_names_without_a_fragment_hold_no_secret(name: str) -> None:
    """Ordinary names show their values in messages."""
    assert may_hold_secret(name) is False
