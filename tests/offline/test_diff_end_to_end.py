"""`python -m offline diff` end to end: real renders of two commits of this repository, and bad input.

A temporary repository holds this working tree as its first commit (so the code under test is
the code being changed, committed or not), then commits that change a stack, add one and break
one. Each command runs from that repository, as `make diff` would on a laptop.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from offline.diff import REPORT_MARKER
from offline.program import PROJECT_DIR

IDENTITY = ("-c", "user.name=render diff test", "-c", "user.email=render-diff@example.invalid")


def git(repository: Path, *arguments: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repository), *IDENTITY, *arguments], capture_output=True, text=True, check=True, timeout=120
    ).stdout.strip()


def commit_all(repository: Path, message: str) -> str:
    git(repository, "add", "--all")
    git(repository, "commit", "--quiet", "--message", message)
    return git(repository, "rev-parse", "HEAD")


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{path.name} no longer holds {old!r}; update the test's edit"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@dataclass(frozen=True)
class History:
    repository: Path
    base: str
    """This working tree."""
    new_image: str
    """Production's appImage 2.4.1 -> 2.5.0."""
    new_stack: str
    """Adds a stack `qa` (staging's file, environment staging)."""
    broken: str
    """Production's file sets a domain the settings refuse."""


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    repository = tmp_path_factory.mktemp("diff-history") / "crm-platform"
    repository.mkdir()
    listed = subprocess.run(
        ["git", "-C", str(PROJECT_DIR), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = PROJECT_DIR / name
        if source.is_file() and not source.is_symlink():
            target = repository / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    git(repository, "init", "--quiet", "--initial-branch", "main")
    base = commit_all(repository, "the working tree under test")

    edit(repository / "Pulumi.production.yaml", "crm-backend:2.4.1", "crm-backend:2.5.0")
    new_image = commit_all(repository, "production: backend 2.5.0")

    staging = (repository / "Pulumi.staging.yaml").read_text(encoding="utf-8")
    (repository / "Pulumi.qa.yaml").write_text(
        staging.replace("config:\n", "config:\n  crm-platform:environment: staging\n", 1), encoding="utf-8"
    )
    new_stack = commit_all(repository, "a qa stack")

    edit(repository / "Pulumi.production.yaml", "crm-platform:domain: crm.example.com", "crm-platform:domain: -bad-")
    broken = commit_all(repository, "production: a domain the settings refuse")
    git(repository, "checkout", "--quiet", new_image)
    yield History(repository, base, new_image, new_stack, broken)


def offline_diff(history: History, *arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, "-m", "offline", "diff", *arguments],
        cwd=history.repository,
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def worktrees(history: History) -> list[str]:
    return [
        line
        for line in git(history.repository, "worktree", "list", "--porcelain").splitlines()
        if line.startswith("worktree ")
    ]


def test_two_commits_of_this_repository_diff_by_object(history: History, tmp_path: Path) -> None:
    """A new image changes the web Deployment and renames the per-image migration Job: removed + added."""
    result = offline_diff(
        history, "--base", history.base, "--head", history.new_image, "--stack", "production", "--out", str(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    report = (tmp_path / "render-diff.md").read_text(encoding="utf-8")
    assert report.startswith(REPORT_MARKER)
    assert "<summary>changed <code>Deployment</code> crm-production/crm-web (apps/v1)</summary>" in report
    assert "-        image: ghcr.io/acme/crm-backend:2.4.1\n+        image: ghcr.io/acme/crm-backend:2.5.0\n" in report
    migration_jobs = [line for line in report.splitlines() if "<code>Job</code> crm-production/crm-migrate-" in line]
    assert sorted(line.split("</summary>")[0].split(" ")[0] for line in migration_jobs) == [
        "<details><summary>added",
        "<details><summary>removed",
    ]
    assert "offline-placeholder" not in report
    assert (tmp_path / "comment.md").read_text(encoding="utf-8") == report  # well under the cap
    assert result.stdout.startswith("production: ")
    assert worktrees(history) == [f"worktree {history.repository}"]


def test_the_working_tree_is_the_default_head(history: History, tmp_path: Path) -> None:
    """Without --head, uncommitted changes are what the base is compared with."""
    stack_file = history.repository / "Pulumi.production.yaml"
    original = stack_file.read_text(encoding="utf-8")
    try:
        edit(stack_file, "crm-frontend:2.4.1", "crm-frontend:2.6.0")
        result = offline_diff(history, "--base", "HEAD", "--stack", "production", "--out", str(tmp_path))
    finally:
        stack_file.write_text(original, encoding="utf-8")
    assert result.returncode == 0, result.stderr
    report = (tmp_path / "render-diff.md").read_text(encoding="utf-8")
    assert "against head the working tree" in report
    assert "+        image: ghcr.io/acme/crm-frontend:2.6.0\n" in report
    assert "crm-backend:2.4.1" not in report  # HEAD already has 2.5.0 on both sides


def test_a_stack_new_at_the_head_is_all_added_with_a_note(history: History, tmp_path: Path) -> None:
    """A pull request may add a stack: every object is added, and one line says why."""
    result = offline_diff(
        history, "--base", history.new_image, "--head", history.new_stack, "--stack", "qa", "--out", str(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"offline diff: note: Stack qa does not exist at the base {history.new_image} ({history.new_image[:12]}): "
        "every object counts as added."
    ]
    report = (tmp_path / "render-diff.md").read_text(encoding="utf-8")
    assert "> Stack `qa` does not exist at the base" in report
    assert "<summary>added <code>Namespace</code> crm-qa (v1)</summary>" in report
    assert "<summary>changed " not in report and "<summary>removed " not in report


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_an_unknown_ref_is_one_line(history: History) -> None:
    line = one_line_error(offline_diff(history, "--base", "no-such-branch", "--stack", "production"))
    assert line.startswith("offline diff: unknown git ref 'no-such-branch': it names no commit in ")


def test_a_ref_that_looks_like_an_option_is_an_unknown_ref(history: History) -> None:
    line = one_line_error(offline_diff(history, "--base=--output=/tmp/x", "--stack", "production"))
    assert "unknown git ref '--output=/tmp/x'" in line


def test_a_base_whose_render_fails_is_one_line_naming_the_side(history: History) -> None:
    line = one_line_error(
        offline_diff(history, "--base", history.broken, "--head", history.base, "--stack", "production")
    )
    assert line.startswith(f"offline diff: the base `{history.broken}` (`{history.broken[:12]}`) cannot render stack")
    assert "crm-platform:domain" in line
    assert worktrees(history) == [f"worktree {history.repository}"]


def test_a_stack_at_neither_side_is_one_line(history: History) -> None:
    line = one_line_error(offline_diff(history, "--base", history.base, "--head", history.base, "--stack", "nope"))
    assert line.startswith("offline diff: unknown stack 'nope': no Pulumi.nope.yaml at the base or the head")


def test_a_cap_above_the_comment_limit_is_one_line(history: History) -> None:
    line = one_line_error(offline_diff(history, "--base", history.base, "--max-chars", "70000"))
    assert "--max-chars 70000 is out of range" in line
