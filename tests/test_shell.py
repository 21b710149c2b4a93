"""Shell is shell: every script in the repository passes shellcheck with no finding at any severity.

The scripts the pods run (backup, restore, Redis start and hand-over) and the project's own
(scripts/, .ci/run) are checked as files, following what they source (`-x`, relative to the
script's own directory), so a variable set in a sourced library counts as set.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from offline.program import PROJECT_DIR
from tests.support.tools import require_tool


def shell_scripts() -> list[Path]:
    """Every tracked (or new, not ignored) file ending in .sh, plus .ci/run."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.sh", ".ci/run"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return sorted(PROJECT_DIR / name for name in listed if (PROJECT_DIR / name).is_file())


def test_there_are_scripts_to_check() -> None:
    """The pods' scripts are found (a broken file list must not pass as 'no finding')."""
    names = {path.name for path in shell_scripts()}
    assert {"backup-dump.sh", "restore-verify.sh", "start-redis.sh", "hand-over.sh", "bootstrap.sh", "run"} <= names


@pytest.mark.parametrize("script", shell_scripts(), ids=lambda path: str(path.relative_to(PROJECT_DIR)))
def test_script_passes_shellcheck(script: Path) -> None:
    """shellcheck reports nothing (style included) for the script and what it sources."""
    shellcheck = require_tool("shellcheck", package="shellcheck")
    result = subprocess.run(
        [shellcheck, "--external-sources", "--source-path=SCRIPTDIR", "--severity=style", str(script)],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
