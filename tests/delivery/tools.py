"""The OS tools the delivery tests run: found, or a failure under CI and a skip elsewhere.

Written so it can give way to a shared tests/support helper with the same contract: a test that
needs a tool fails when the tool is missing and the `CI` environment variable is set.
"""

from __future__ import annotations

import os
import shutil

import pytest

INSTALL_HINT = {
    "shellcheck": "apt-get install shellcheck",
    "promtool": "apt-get install prometheus",
    "prometheus": "apt-get install prometheus",
    "jq": "apt-get install jq",
    "curl": "apt-get install curl",
    "git": "apt-get install git",
}


def require_tool(name: str) -> str:
    """The tool's path; pytest.fail under CI when it is missing, pytest.skip otherwise."""
    path = shutil.which(name)
    if path is not None:
        return path
    message = f"{name} is not installed ({INSTALL_HINT.get(name, 'install it')}; scripts/bootstrap.sh does as root)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
