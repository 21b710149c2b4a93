"""The deploy path's scripts, driven with stand-in pulumi, make and gh: what they run, in which order, and
what they refuse. The smoke test hits a real web server on loopback; git is real."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from offline.program import PROJECT_DIR
from tests.delivery.fakes import Fakes, Site, copy_scripts, make_fakes, web_site
from tests.support.tools import require_tool

SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


def run(
    command: list[str], fakes: Fakes, *, cwd: Path | str = PROJECT_DIR, **variables: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, env=fakes.environment(**variables), capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def fakes(tmp_path: Path) -> Fakes:
    require_tool("jq", package="jq")
    require_tool("curl", package="curl")
    return make_fakes(tmp_path / "fakes")


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with web_site(tmp_path / "site") as served:
        yield served


# --- the pinned Pulumi CLI -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("printed", "status", "message"),
    [
        ("v3.272.0", 0, ""),
        ("v3.280.1", 1, "pulumi CLI 3.280.1 is not the 3.272.0 that"),
    ],
)
def test_make_preview_and_up_run_only_the_pinned_cli(fakes: Fakes, printed: str, status: int, message: str) -> None:
    fakes.install("pulumi", f'[ "$1" = version ] && echo "{printed}"\n')
    result = run(["scripts/check-pulumi-version.sh"], fakes, PATH=f"{fakes.bin_dir}:{SYSTEM_PATH}")
    assert result.returncode == status
    assert message in result.stderr
    if status:
        assert "curl -fsSL https://get.pulumi.com | sh -s -- --version 3.272.0" in result.stderr


def test_without_a_pulumi_cli_the_check_says_what_to_install(fakes: Fakes) -> None:
    result = run(["scripts/check-pulumi-version.sh"], fakes, PATH=SYSTEM_PATH)
    assert result.returncode == 1
    assert "no pulumi CLI on PATH; this repository pins 3.272.0" in result.stderr


# --- the smoke test -----------------------------------------------------------------------------

SMOKE = str(PROJECT_DIR / "scripts" / "delivery" / "smoke-test.sh")
QUICK = {"SMOKE_DEADLINE_SECONDS": "3", "SMOKE_INTERVAL_SECONDS": "1", "SMOKE_REQUEST_TIMEOUT_SECONDS": "2"}


def test_smoke_test_passes_when_every_target_answers_200(fakes: Fakes, site: Site) -> None:
    site.answer("/ready/", 200)
    site.answer("/", 200)
    result = run([SMOKE, f"{site.url}/ready/", f"{site.url}/"], fakes, **QUICK)
    assert result.returncode == 0, result.stderr
    assert "all 2 smoke targets answered 200" in result.stdout


def test_smoke_test_waits_for_a_target_that_comes_up(fakes: Fakes, site: Site) -> None:
    """A release is not served everywhere at once: 503 first, 200 a moment later, passes."""
    site.answer("/ready/", 503)
    timer = threading.Timer(1.5, site.answer, ("/ready/", 200))
    timer.start()
    try:
        result = run([SMOKE, f"{site.url}/ready/"], fakes, **{**QUICK, "SMOKE_DEADLINE_SECONDS": "10"})
    finally:
        timer.cancel()
    assert result.returncode == 0, result.stderr
    assert "(attempt 1)" not in result.stdout


def test_smoke_test_fails_at_the_deadline_naming_the_target_and_its_answer(fakes: Fakes, site: Site) -> None:
    site.answer("/", 200)
    site.answer("/ready/", 500)
    result = run([SMOKE, f"{site.url}/", f"{site.url}/ready/"], fakes, **QUICK)
    assert result.returncode == 1
    assert f"{site.url}/ready/ did not answer 200 within 3s: last answer 500" in result.stderr


def test_a_redirect_is_not_a_pass(fakes: Fakes, site: Site) -> None:
    site.answer("/ready/", 301)
    assert run([SMOKE, f"{site.url}/ready/"], fakes, **QUICK).returncode == 1


def test_smoke_targets_come_from_the_stack_output(fakes: Fakes, site: Site) -> None:
    site.answer("/ready/", 200)
    fakes.install("pulumi", f"echo '[\"{site.url}/ready/\"]'\n")
    result = run([SMOKE, "--stack", "staging"], fakes, **QUICK)
    assert result.returncode == 0, result.stderr
    assert fakes.calls("pulumi") == ["pulumi stack output smokeTargets --stack staging --json"]


@pytest.mark.parametrize(
    ("printed", "message"),
    [("[]", "nothing to test: no smoke targets in the outputs of stack staging"), ('"x"', "is not a list of URLs")],
)
def test_a_stack_without_smoke_targets_fails(fakes: Fakes, printed: str, message: str) -> None:
    fakes.install("pulumi", f"echo '{printed}'\n")
    result = run([SMOKE, "--stack", "staging"], fakes, **QUICK)
    assert result.returncode == 1
    assert message in result.stderr


# --- deploy and rollback ------------------------------------------------------------------------


@dataclass(frozen=True)
class Repository:
    path: Path
    commits: dict[str, str]

    def git(self, *arguments: str) -> str:
        return subprocess.run(
            ["git", "-C", str(self.path), "-c", "user.name=t", "-c", "user.email=t@example.invalid", *arguments],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.strip()


@pytest.fixture
def repository(tmp_path: Path) -> Repository:
    """good-1 <- good-2 <- bad <- good-3, with the scripts in every commit; deployed/staging at good-2."""
    root = copy_scripts(tmp_path / "repo")
    for name in ("requirements.txt", "constraints.txt"):
        (root / name).write_text("pulumi==3.272.0\n", encoding="utf-8")
    repo = Repository(root, {})
    repo.git("init", "--quiet", "--initial-branch", "main")
    for name in ("good-1", "good-2", "bad", "good-3"):
        (root / "release.txt").write_text(name + "\n", encoding="utf-8")
        repo.git("add", "--all")
        repo.git("commit", "--quiet", "--message", name)
        repo.commits[name] = repo.git("rev-parse", "HEAD")
    repo.git("tag", "deployed/staging", repo.commits["good-2"])
    return repo


def deploy_fakes(fakes: Fakes, site: Site) -> None:
    """make up records which release it applied; the site is healthy unless a bad release runs."""
    fakes.install(
        "make",
        "directory=.\n"
        'while [ $# -gt 0 ]; do case "$1" in -C) directory=$2; shift 2 ;; up) shift ;; *) shift ;; esac; done\n'
        'release=$(cat "$directory/release.txt")\n'
        'echo "$release" >>"$state/applied"\n'
        '[ "$release" != "${FAKE_UP_FAILS_FOR:-}" ] || exit 1\n'
        'if [ "$release" = bad ]; then status=500; else status=200; fi\n'
        f'echo "$status" >"{site.status_dir}/ready"\n',
    )
    fakes.install("pulumi", f"echo '[\"{site.url}/ready/\"]'\n")


def applied(fakes: Fakes) -> list[str]:
    path = fakes.state / "applied"
    return path.read_text(encoding="utf-8").split() if path.exists() else []


def deploy(
    repository: Repository, fakes: Fakes, release: str, mode: str = "deploy", **variables: str
) -> subprocess.CompletedProcess[str]:
    repository.git("checkout", "--quiet", "--detach", repository.commits[release])
    output = fakes.state / "github-output"
    return run(
        [str(repository.path / "scripts" / "delivery" / "deploy.sh"), "staging", mode],
        fakes,
        cwd=repository.path,
        GITHUB_OUTPUT=str(output),
        RUNNER_TEMP=str(fakes.state),
        **QUICK,
        **variables,
    )


def outputs(fakes: Fakes) -> str:
    path = fakes.state / "github-output"
    return path.read_text(encoding="utf-8") if path.exists() else ""


def test_a_good_deploy_is_applied_smoke_tested_and_reported(repository: Repository, fakes: Fakes, site: Site) -> None:
    deploy_fakes(fakes, site)
    result = deploy(repository, fakes, "good-3")
    assert result.returncode == 0, result.stderr
    assert applied(fakes) == ["good-3"]
    assert outputs(fakes) == f"commit={repository.commits['good-3']}\n"
    assert "PULUMI_SKIP_CONFIRMATIONS" not in result.stderr


def test_a_failed_smoke_test_rolls_back_to_the_last_good_commit_and_fails_loudly(
    repository: Repository, fakes: Fakes, site: Site
) -> None:
    deploy_fakes(fakes, site)
    result = deploy(repository, fakes, "bad", GITHUB_ACTIONS="true")
    assert result.returncode == 1
    assert applied(fakes) == ["bad", "good-2"]
    assert (
        f"::error title=deploy::ROLLED BACK staging: the smoke test of {repository.commits['bad']} failed"
        in result.stderr
    )
    assert (
        f"deployed/staging ({repository.commits['good-2']}) was applied again and passed its smoke test"
        in result.stderr
    )
    assert outputs(fakes) == ""  # the tag does not move
    assert len(repository.git("worktree", "list").splitlines()) == 1  # the rollback's worktree is gone


def test_a_deploy_that_does_not_contain_the_last_good_commit_is_refused(
    repository: Repository, fakes: Fakes, site: Site
) -> None:
    """A re-run of an old run, or a deploy queued behind a newer one, must not put an older release back."""
    deploy_fakes(fakes, site)
    result = deploy(repository, fakes, "good-1")
    assert result.returncode == 1
    assert "it does not contain deployed/staging" in result.stderr
    assert applied(fakes) == []


def test_a_rollback_may_go_back_on_purpose(repository: Repository, fakes: Fakes, site: Site) -> None:
    deploy_fakes(fakes, site)
    result = deploy(repository, fakes, "good-1", mode="rollback")
    assert result.returncode == 0, result.stderr
    assert applied(fakes) == ["good-1"]


def test_a_failed_up_is_not_rolled_back(repository: Repository, fakes: Fakes, site: Site) -> None:
    deploy_fakes(fakes, site)
    result = deploy(repository, fakes, "good-3", FAKE_UP_FAILS_FOR="good-3")
    assert result.returncode == 1
    assert applied(fakes) == ["good-3"]
    assert "nothing was rolled back" in result.stderr
    assert "run the Deploy workflow with mode rollback" in result.stderr


def test_without_a_good_commit_a_failed_smoke_test_asks_for_a_person(
    repository: Repository, fakes: Fakes, site: Site
) -> None:
    deploy_fakes(fakes, site)
    repository.git("tag", "--delete", "deployed/staging")
    result = deploy(repository, fakes, "bad")
    assert result.returncode == 1
    assert applied(fakes) == ["bad"]
    assert "there is no earlier good commit (deployed/staging) to roll back to" in result.stderr


# --- which commit a run deploys -----------------------------------------------------------------


def resolve(repository: Repository, fakes: Fakes, **variables: str) -> subprocess.CompletedProcess[str]:
    return run(
        [str(repository.path / "scripts" / "delivery" / "resolve-commit.sh")],
        fakes,
        cwd=repository.path,
        GITHUB_OUTPUT=str(fakes.state / "github-output"),
        **variables,
    )


def test_a_push_deploys_the_pushed_commit(repository: Repository, fakes: Fakes) -> None:
    result = resolve(repository, fakes, EVENT="push", PUSHED=repository.commits["good-3"])
    assert result.returncode == 0, result.stderr
    assert outputs(fakes) == f"commit={repository.commits['good-3']}\nmode=deploy\n"


@pytest.mark.parametrize(
    ("mode", "ref", "expected"),
    [
        ("deploy", "", "good-3"),
        ("rollback", "", "good-2"),
        ("rollback", "good-1-tag", "good-1"),
        ("deploy", "main", "good-3"),
    ],
)
def test_a_manual_run_resolves_its_ref(
    repository: Repository, fakes: Fakes, mode: str, ref: str, expected: str
) -> None:
    """Empty: main's tip to deploy, deployed/<stack> to roll back; a branch is found on origin too."""
    repository.git("tag", "good-1-tag", repository.commits["good-1"])
    repository.git("remote", "add", "origin", str(repository.path))
    repository.git("fetch", "--quiet", "origin")
    repository.git("checkout", "--quiet", "--detach", repository.commits["good-1"])
    repository.git("branch", "--quiet", "--delete", "--force", "main")
    result = resolve(repository, fakes, EVENT="workflow_dispatch", STACK="staging", MODE=mode, REF=ref)
    assert result.returncode == 0, result.stderr
    assert outputs(fakes) == f"commit={repository.commits[expected]}\nmode={mode}\n"


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"STACK": "staging", "MODE": "rollback", "REF": ""}, "there is no tag deployed/staging yet"),
        ({"STACK": "staging", "MODE": "deploy", "REF": "no-such-ref"}, "'no-such-ref' names no commit here"),
        ({"STACK": "dev", "MODE": "deploy", "REF": ""}, "stack 'dev' is not staging or production"),
        ({"STACK": "staging", "MODE": "destroy", "REF": ""}, "mode 'destroy' is not deploy or rollback"),
    ],
)
def test_a_manual_run_with_bad_input_is_one_line(
    repository: Repository, fakes: Fakes, variables: dict[str, str], message: str
) -> None:
    repository.git("tag", "--delete", "deployed/staging")
    result = resolve(repository, fakes, EVENT="workflow_dispatch", **variables)
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1 and message in result.stderr


# --- tags, comments, the promotion record -------------------------------------------------------


def gh_api_fake(fakes: Fakes, existing: bool) -> None:
    """`gh api`: GET answers as `existing` says; a write keeps its stdin payload and answers with a commit."""
    fakes.install(
        "gh",
        'if [[ " $* " == *" --method "* ]]; then cat >"$state/payload-$(grep -c . "$state/../calls.log")"; '
        'echo \'{"commit": {"sha": "1111111111111111111111111111111111111111"}}\'; exit 0; fi\n'
        f"{'exit 0' if existing else 'exit 1'}\n",
    )


@pytest.mark.parametrize("existing", [True, False])
def test_the_tag_moves_through_the_api(fakes: Fakes, existing: bool) -> None:
    gh_api_fake(fakes, existing)
    commit = "a" * 40
    result = run(
        [str(PROJECT_DIR / "scripts" / "delivery" / "move-tag.sh"), "production", commit],
        fakes,
        GITHUB_REPOSITORY="acme/crm-platform",
    )
    assert result.returncode == 0, result.stderr
    write = fakes.calls("gh")[-1]
    if existing:
        assert write == (
            "gh api --method PATCH repos/acme/crm-platform/git/refs/tags/deployed/production "
            f"-f sha={commit} -F force=true --silent"
        )
    else:
        assert write == (
            "gh api --method POST repos/acme/crm-platform/git/refs -f ref=refs/tags/deployed/production "
            f"-f sha={commit} --silent"
        )


def test_a_promotion_is_committed_as_three_changed_lines_and_the_tag_follows(tmp_path: Path, fakes: Fakes) -> None:
    root = copy_scripts(tmp_path / "repo")
    for name in ("Pulumi.yaml", "Pulumi.production.yaml"):
        (root / name).write_text((PROJECT_DIR / name).read_text(encoding="utf-8"), encoding="utf-8")
    repo = Repository(root, {})
    repo.git("init", "--quiet")
    repo.git("add", "--all")
    repo.git("commit", "--quiet", "--message", "base")
    blob = repo.git("rev-parse", "HEAD:Pulumi.production.yaml")
    gh_api_fake(fakes, existing=True)
    result = run(
        [
            str(root / "scripts" / "delivery" / "record-promotion.sh"),
            "production",
            "ghcr.io/acme/crm-backend:2.5.0",
            "main",
        ],
        fakes,
        cwd=root,
        GITHUB_REPOSITORY="acme/crm-platform",
        PYTHON=sys.executable,
        GITHUB_OUTPUT=str(fakes.state / "github-output"),
    )
    assert result.returncode == 0, result.stderr
    put = [call for call in fakes.calls("gh") if "--method PUT" in call]
    assert put == ["gh api --method PUT repos/acme/crm-platform/contents/Pulumi.production.yaml --input -"]
    [payload_file] = [path for path in fakes.state.iterdir() if path.name.startswith("payload-")][:1]
    payload = json.loads(payload_file.read_text(encoding="utf-8"))
    assert payload["sha"] == blob and payload["branch"] == "main"
    assert payload["message"] == "production: promote ghcr.io/acme/crm-backend:2.5.0 (candidate -> release)"
    committed = base64.b64decode(payload["content"]).decode()
    before = (PROJECT_DIR / "Pulumi.production.yaml").read_text(encoding="utf-8")
    changed = set(committed.splitlines()) ^ set(before.splitlines())
    assert changed == {
        "  crm-platform:appImage: ghcr.io/acme/crm-backend:2.4.1",
        "  crm-platform:appImage: ghcr.io/acme/crm-backend:2.5.0",
        '  crm-platform:candidateImage: ""',
        "  crm-platform:candidateTrafficPercent: 0",
    }
    assert yaml.safe_load(committed)["config"]["crm-platform:appImage"] == "ghcr.io/acme/crm-backend:2.5.0"
    assert fakes.calls("gh")[-1].startswith(
        "gh api --method PATCH repos/acme/crm-platform/git/refs/tags/deployed/production -f sha=" + "1" * 40
    )


# --- the sticky comment -------------------------------------------------------------------------

MARKER = "<!-- crm-platform:render-diff -->"


@pytest.mark.parametrize(
    ("comments", "expected"),
    [
        (
            ["11 someone " + MARKER, "22 github-actions[bot] " + MARKER, "33 github-actions[bot] other"],
            "PATCH comments/22",
        ),
        (["11 someone " + MARKER, "33 github-actions[bot] <!-- crm-platform:review-stack -->"], "POST 7/comments"),
        ([], "POST 7/comments"),
    ],
)
def test_one_comment_per_marker_is_edited_not_repeated(
    tmp_path: Path, fakes: Fakes, comments: list[str], expected: str
) -> None:
    """Only github-actions[bot]'s comment that starts with the marker is edited; otherwise one is created."""
    (fakes.state / "comments").write_text("".join(line + "\n" for line in comments), encoding="utf-8")
    fakes.install(
        "gh",
        'if [[ " $* " == *" --paginate "* ]]; then cat "$state/comments"; exit 0; fi\ncat >"$state/payload"\n',
    )
    body = tmp_path / "comment.md"
    body.write_text(MARKER + "\n## Render diff\n`a` & <b>\n", encoding="utf-8")
    result = run(
        [str(PROJECT_DIR / "scripts" / "delivery" / "sticky-comment.sh"), "7", MARKER, str(body)],
        fakes,
        GITHUB_REPOSITORY="acme/crm-platform",
    )
    assert result.returncode == 0, result.stderr
    method, target = expected.split(" ")
    write = fakes.calls("gh")[-1]
    assert write.startswith(f"gh api --method {method} repos/acme/crm-platform/issues/") and target in write
    assert json.loads((fakes.state / "payload").read_text(encoding="utf-8")) == {
        "body": body.read_text(encoding="utf-8")
    }


def test_a_body_without_the_marker_is_refused(tmp_path: Path, fakes: Fakes) -> None:
    fakes.install("gh", "exit 0\n")
    body = tmp_path / "comment.md"
    body.write_text("## no marker\n", encoding="utf-8")
    result = run(
        [str(PROJECT_DIR / "scripts" / "delivery" / "sticky-comment.sh"), "7", MARKER, str(body)],
        fakes,
        GITHUB_REPOSITORY="acme/crm-platform",
    )
    assert result.returncode == 1
    assert "does not start with the marker line" in result.stderr
    assert fakes.calls("gh") == []
