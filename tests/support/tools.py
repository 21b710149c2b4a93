"""Real tools the tests run (promtool, redis-server, haproxy, shellcheck, ...): found, or the test says why not.

DESIGN.md section 4: a test that needs an OS tool fails, not skips, when the tool is missing and
`CI` is set, so CI can never pass by silently running less; elsewhere (a laptop without the
Debian packages) it skips with the install command.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import pytest


def under_ci() -> bool:
    """Whether this run is CI's (`CI` set to anything but empty), where nothing may be skipped for a missing tool."""
    return bool(os.environ.get("CI"))


def unavailable(reason: str) -> NoReturn:
    """Fail the test under CI, skip it elsewhere; `reason` says what is missing and how to get it."""
    if under_ci():
        pytest.fail(f"{reason} (CI is set: a missing tool fails the test instead of skipping it)")
    pytest.skip(reason)


def require_tool(name: str, *, package: str, also_look_in: Sequence[str] = ("/usr/sbin", "/usr/lib/postgresql")) -> str:
    """The path of executable `name`: on PATH, else in `also_look_in` (Debian puts some daemons in /usr/sbin).

    Missing: fails under CI and skips elsewhere, naming the Debian `package` that provides it
    (scripts/bootstrap.sh installs it as root).
    """
    found = shutil.which(name)
    if found is None:
        for directory in also_look_in:
            candidate = Path(directory) / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                found = str(candidate)
                break
    if found is None:
        unavailable(f"{name} is missing: `apt-get install {package}` (scripts/bootstrap.sh does)")
    return found
