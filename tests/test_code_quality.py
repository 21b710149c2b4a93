"""House style is enforced, not hoped for: ruff (lint and format) and mypy --strict are clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from offline.program import PROJECT_DIR

BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    "command",
    [
        [str(BIN / "ruff"), "check", "."],
        [str(BIN / "ruff"), "format", "--check", "."],
        [str(BIN / "mypy")],
    ],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_tool_is_clean(command: list[str]) -> None:
    """The tool reports nothing on the whole tree."""
    result = subprocess.run(command, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_components_never_read_config_or_the_environment() -> None:
    """Settings flow in through args (DESIGN.md section 1); only stacks/ reads pulumi.Config."""
    for path in (PROJECT_DIR / "components").rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        for forbidden in ("pulumi.Config", "os.environ", "getenv", "stacks.load"):
            assert forbidden not in source, f"{path.name} uses {forbidden}"
