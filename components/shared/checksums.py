"""Digests that make pods roll when what they read at start changes, and names that follow a release.

Pure. A ConfigMap is named after the digest of its content (`config_checksum`), so a change is
a new ConfigMap and a new pod template; Secrets keep their names, so a keyed digest of the
values they hold goes into a pod-template annotation (`secrets_checksum`). Objects made once per
release (the migration Job, the pre-migration backup) are named after the release's image
(`release_id`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence

SECRETS_CHECKSUM = "crm-platform/secrets-checksum"
"""Pod-template annotation holding the keyed digest of the secret values the pods read."""


def config_checksum(data: Mapping[str, str]) -> str:
    """Digest of a ConfigMap's content, part of its name: a change rolls the pods, which read it only at start."""
    canonical = json.dumps(dict(data), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def secrets_checksum(key: str, values: Sequence[str]) -> str:
    """Keyed digest of the secret values the pods read, safe to publish in an annotation.

    HMAC keyed with a random secret (the Django key) rather than a bare hash: a plain
    SHA-256 of a short, human-chosen SMTP password could be brute-forced from the annotation.
    """
    message = json.dumps(list(values), separators=(",", ":")).encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def release_id(image: str) -> str:
    """A short, stable id of a release's image, for the objects made once per release."""
    return hashlib.sha256(image.encode()).hexdigest()[:10]
