"""The GitHub Actions workflows: audited by zizmor, valid against GitHub's schema, pinned, least-privilege.

Every workflow under .github/workflows is read as YAML (the YAML 1.1 loader would read the key
`on` as true, so everything is read as text) and held to the rules of docs/delivery.md.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from offline.program import PROJECT_DIR
from tests.support.tools import require_tool

WORKFLOWS_DIR = PROJECT_DIR / ".github" / "workflows"
WORKFLOW_FILES = sorted(WORKFLOWS_DIR.glob("*.y*ml"))
VENV_BIN = Path(sys.executable).parent

PINNED_USES = re.compile(r"^(?P<action>[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+)@(?P<sha>[0-9a-f]{40})$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<reference>\S+)(?:\s+#\s*(?P<comment>.*))?$")
VERSION_COMMENT = re.compile(r"^v\d+\.\d+\.\d+$")
SAME_REPOSITORY = "github.event.pull_request.head.repo.full_name == github.repository"

AUTHENTICATES = "aws-actions/configure-aws-credentials"
STACK_CHANGERS = re.compile(
    r"scripts/delivery/(deploy|promote|review-stack|review-sweep)\.sh|make up|pulumi (up|destroy)"
)
WRITE_EVIDENCE = {
    # permission -> what a job must do to need it
    "contents": re.compile(r"scripts/delivery/(move-tag|record-promotion)\.sh"),
    "pull-requests": re.compile(r"scripts/delivery/sticky-comment\.sh|comment-on-pr: '?true"),
    "issues": re.compile(r"scripts/delivery/drift-issue\.sh"),
    "security-events": re.compile(r"github/codeql-action/upload-sarif@"),
    "id-token": re.compile(re.escape(AUTHENTICATES) + "@"),
}
READ_EVIDENCE = {
    "contents": re.compile(r"actions/checkout@"),
    "pull-requests": re.compile(r"scripts/delivery/review-sweep\.sh"),
}


def load(path: Path) -> dict[str, Any]:
    document = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
    assert isinstance(document, dict), path
    return document


@dataclass(frozen=True)
class Job:
    workflow: str
    name: str
    body: dict[str, Any]

    @property
    def steps(self) -> list[dict[str, Any]]:
        return list(self.body.get("steps", []))

    @property
    def text(self) -> str:
        """The job as YAML, for looking up what it runs and uses."""
        return yaml.safe_dump(self.body, sort_keys=False, width=10_000)

    @property
    def permissions(self) -> dict[str, str]:
        permissions = self.body.get("permissions")
        assert isinstance(permissions, dict), f"{self}: permissions must be a map of scopes"
        return permissions

    def __str__(self) -> str:
        return f"{self.workflow}: job {self.name}"


def all_jobs() -> Iterator[Job]:
    for path in WORKFLOW_FILES:
        for name, body in load(path)["jobs"].items():
            yield Job(path.name, name, body)


JOBS = list(all_jobs())


def run_blocks() -> Iterator[tuple[str, str]]:
    for job in JOBS:
        for index, step in enumerate(job.steps):
            if "run" in step:
                yield f"{job} step {step.get('name', step.get('id', index))}", step["run"]


def test_there_are_the_delivery_workflows() -> None:
    """Pull requests, deploy, promotion, drift and review stacks each have a workflow."""
    assert {path.name for path in WORKFLOW_FILES} >= {
        "pull-request.yml",
        "deploy.yml",
        "promote.yml",
        "drift.yml",
        "review-stacks.yml",
    }


def test_zizmor_finds_nothing() -> None:
    """zizmor's offline audits, pedantic persona (stricter than the default), report no finding at all."""
    zizmor = VENV_BIN / "zizmor"
    assert zizmor.is_file(), f"zizmor is not in {VENV_BIN}: make venv installs it (requirements-dev.txt)"
    result = subprocess.run(
        [str(zizmor), "--offline", "--persona", "pedantic", "--no-progress", str(PROJECT_DIR / ".github")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout + result.stderr
    assert "suppressed" not in result.stdout + result.stderr


def test_workflows_are_valid_against_the_github_workflow_schema() -> None:
    checker = VENV_BIN / "check-jsonschema"
    assert checker.is_file(), f"check-jsonschema is not in {VENV_BIN}: make venv installs it (requirements-dev.txt)"
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOW_FILES)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_can_fail(tmp_path: Path) -> None:
    """A workflow with a misspelt key is refused, so the check above means something."""
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    stepz: []\n", encoding="utf-8")
    result = subprocess.run(
        [str(VENV_BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(broken)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode != 0


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda path: path.name)
def test_every_action_is_pinned_by_commit_with_its_version(path: Path) -> None:
    """Every `uses:` names a full commit SHA, with the release it is (vX.Y.Z) in a trailing comment."""
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if re.match(r"^\s*(-\s+)?uses:", line)]
    assert lines, f"{path.name} uses no action"
    for line in lines:
        match = USES_LINE.match(line)
        assert match, line
        assert PINNED_USES.match(match.group("reference")), (
            f"{path.name}: not pinned by a 40-hex commit: {line.strip()}"
        )
        assert VERSION_COMMENT.match(match.group("comment") or ""), f"{path.name}: no version comment: {line.strip()}"


def test_one_action_is_pinned_to_one_commit_everywhere() -> None:
    """The same action at the same commit and version in every workflow, so an update is one change."""
    pins: dict[str, set[str]] = {}
    for path in WORKFLOW_FILES:
        for line in path.read_text(encoding="utf-8").splitlines():
            match = USES_LINE.match(line)
            if match:
                action, _, sha = match.group("reference").partition("@")
                pins.setdefault(action, set()).add(f"{sha} {match.group('comment')}")
    assert {action: versions for action, versions in pins.items() if len(versions) > 1} == {}


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda path: path.name)
def test_no_workflow_runs_with_the_base_repository_token_on_untrusted_code(path: Path) -> None:
    """Neither pull_request_target nor workflow_run: fork code never meets a write token or a secret."""
    triggers = load(path)["on"]
    names = set(triggers) if isinstance(triggers, dict) else {triggers} if isinstance(triggers, str) else set(triggers)
    assert not names & {"pull_request_target", "workflow_run"}


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda path: path.name)
def test_the_workflow_grants_nothing_by_default(path: Path) -> None:
    assert load(path)["permissions"] == {}


@pytest.mark.parametrize("job", JOBS, ids=str)
def test_each_job_asks_only_for_what_it_uses(job: Job) -> None:
    """A write scope only where a step needs it (id-token only where a step authenticates), reads likewise."""
    text = job.text
    for scope, level in job.permissions.items():
        assert level in ("read", "write"), f"{job}: {scope}: {level}"
        evidence = WRITE_EVIDENCE.get(scope) if level == "write" else READ_EVIDENCE.get(scope)
        assert evidence is not None, f"{job}: {scope}: {level} is not a scope the delivery jobs need"
        assert evidence.search(text), f"{job}: {scope}: {level} but nothing in the job uses it"
    if AUTHENTICATES + "@" in text:
        assert job.permissions.get("id-token") == "write", f"{job} authenticates without id-token: write"


def changes_a_stack(job: Job) -> bool:
    return bool(STACK_CHANGERS.search("\n".join(str(step.get("run", "")) for step in job.steps)))


STACK_CHANGING_JOBS = [job for job in JOBS if changes_a_stack(job)]


def test_the_stack_changing_jobs_are_found() -> None:
    """Deploys, the promotion and the review stacks' up, down and sweep: what the next test holds to its rules."""
    assert {f"{job.workflow}:{job.name}" for job in STACK_CHANGING_JOBS} == {
        "deploy.yml:staging",
        "deploy.yml:production",
        "promote.yml:promote",
        "review-stacks.yml:up",
        "review-stacks.yml:down",
        "review-stacks.yml:sweep",
    }


@pytest.mark.parametrize("job", STACK_CHANGING_JOBS, ids=str)
def test_jobs_that_change_a_stack_have_an_environment_and_a_queue_that_never_cancels(job: Job) -> None:
    """Every job that runs `up` or `destroy` is gated by a GitHub environment and waits its turn per stack."""
    assert job.body.get("environment"), f"{job} changes a stack outside a GitHub environment"
    concurrency = job.body.get("concurrency")
    assert isinstance(concurrency, dict), f"{job} changes a stack without a concurrency group"
    assert concurrency.get("cancel-in-progress") == "false", f"{job}: a running up must never be cancelled"
    assert re.fullmatch(r"(stack-[a-z0-9${}. _-]+|review-sweep)", concurrency["group"]), concurrency["group"]


def test_deploy_and_promotion_share_each_stacks_queue() -> None:
    """A deploy and a promotion of the same stack wait for each other."""
    deploy = load(WORKFLOWS_DIR / "deploy.yml")["jobs"]
    promote = load(WORKFLOWS_DIR / "promote.yml")
    groups = {deploy[stack]["concurrency"]["group"] for stack in ("staging", "production")}
    assert groups == {"stack-staging", "stack-production"}
    assert promote["jobs"]["promote"]["concurrency"]["group"] == "stack-${{ inputs.stack }}"
    assert set(promote["on"]["workflow_dispatch"]["inputs"]["stack"]["options"]) <= {"staging", "production"}
    assert deploy["production"]["environment"] == "production"
    assert promote["jobs"]["promote"]["environment"] == "${{ inputs.stack }}"


@pytest.mark.parametrize("job", JOBS, ids=str)
def test_secrets_are_read_only_in_jobs_with_an_environment(job: Job) -> None:
    """A secret lives in a GitHub environment, whose rules (branches, reviewers) decide who gets it."""
    if "secrets." in job.text:
        assert job.body.get("environment"), f"{job} reads a secret outside an environment"


PULL_REQUEST_JOBS = [
    job
    for job in JOBS
    if "pull_request" in load(WORKFLOWS_DIR / job.workflow)["on"]
    and "github.event_name != 'pull_request'" not in str(job.body.get("if", ""))
]


@pytest.mark.parametrize("job", PULL_REQUEST_JOBS, ids=str)
def test_pull_request_jobs_with_credentials_or_a_write_token_skip_forks(job: Job) -> None:
    """In pull_request runs, cloud credentials, secrets and write scopes (but code scanning's) need a same-repo PR."""
    writes = {scope for scope, level in job.permissions.items() if level == "write"} - {"security-events"}
    if writes or "secrets." in job.text:
        assert SAME_REPOSITORY in str(job.body.get("if", "")), f"{job} would give a fork's run {writes or 'secrets'}"


def test_a_forks_pull_request_still_gets_every_offline_check() -> None:
    """Tests, renders, policies and the render diff run for every pull request: no fork condition on them."""
    offline = {job.name: job for job in JOBS if job.workflow == "pull-request.yml"}
    for name in ("test", "stack-checks", "render-diff"):
        assert "if" not in offline[name].body, name
        assert set(offline[name].permissions.values()) <= {"read"} or name == "stack-checks"
        assert "secrets." not in offline[name].text


def checkout_steps() -> Iterator[tuple[Job, dict[str, Any]]]:
    for job in JOBS:
        for step in job.steps:
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                yield job, step


def test_every_checkout_keeps_no_credentials() -> None:
    steps = list(checkout_steps())
    assert steps
    for job, step in steps:
        assert step.get("with", {}).get("persist-credentials") == "false", f"{job}: checkout persists credentials"


def test_every_pulumi_cli_comes_from_the_repository_pin() -> None:
    """pulumi/actions installs .pulumi-version everywhere; the pin has the drift exit code and suits Pulumi.yaml."""
    steps = [step for job in JOBS for step in job.steps if str(step.get("uses", "")).startswith("pulumi/actions@")]
    assert steps
    for step in steps:
        assert step["with"]["pulumi-version-file"] == ".pulumi-version"
        assert "pulumi-version" not in step["with"]
    pinned = tuple(int(part) for part in (PROJECT_DIR / ".pulumi-version").read_text().strip().split("."))
    assert pinned >= (3, 227, 0), "pulumi preview --expect-no-changes exits 7 on drift from 3.227.0"
    required = load(PROJECT_DIR / "Pulumi.yaml")["requiredPulumiVersion"]
    minimum = re.search(r">=\s*(\d+)\.(\d+)\.(\d+)", required)
    assert minimum and pinned >= tuple(int(part) for part in minimum.groups())


def test_previews_and_drift_run_the_stacks_policy_pack_config() -> None:
    """The PR preview runs the policy pack with each stack's own levels."""
    [preview] = [job for job in JOBS if job.workflow == "pull-request.yml" and job.name == "preview"]
    [step] = [step for step in preview.steps if step.get("with", {}).get("command") == "preview"]
    assert step["with"]["policyPacks"] == "policies"
    assert step["with"]["policyPackConfigs"] == "policies/config/${{ matrix.stack }}.json"
    for stack in preview.body["strategy"]["matrix"]["stack"]:
        assert (PROJECT_DIR / "policies" / "config" / f"{stack}.json").is_file()


def makefile_targets() -> set[str]:
    text = (PROJECT_DIR / "Makefile").read_text(encoding="utf-8")
    return {match.group(1) for match in re.finditer(r"^([A-Za-z0-9_.-]+):(?!=)", text, re.MULTILINE)}


def test_every_make_target_and_script_a_workflow_calls_exists() -> None:
    targets = makefile_targets()
    called_targets, called_scripts, called_modules = set(), set(), set()
    for _, block in run_blocks():
        called_targets |= set(re.findall(r"\bmake\s+([a-z][a-z0-9-]*)", block))
        called_scripts |= set(re.findall(r"\b(scripts/[A-Za-z0-9_./-]+)", block))
        called_modules |= set(re.findall(r"python -m ([a-z_.]+)", block))
    assert called_targets and called_scripts and called_modules
    assert called_targets <= targets, called_targets - targets
    for script in called_scripts:
        path = PROJECT_DIR / script
        assert path.is_file(), script
        assert path.stat().st_mode & 0o111, f"{script} is not executable"
    for module in called_modules:
        package = PROJECT_DIR / module.replace(".", "/")
        assert (package / "__main__.py").is_file() or package.with_suffix(".py").is_file(), module


def test_no_run_block_interpolates_an_expression() -> None:
    """Values reach shell through env:, never through ${{ }} in the script text (template injection)."""
    for where, block in run_blocks():
        assert "${{" not in block, where


def shellcheck(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool("shellcheck", package="shellcheck"), "--external-sources", "--severity=style", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=PROJECT_DIR,
    )


def test_every_run_block_passes_shellcheck(tmp_path: Path) -> None:
    """Each block as GitHub runs it (bash -e -o pipefail), checked at every severity."""
    blocks = list(run_blocks())
    assert blocks
    for index, (where, block) in enumerate(blocks):
        script = tmp_path / f"block-{index}.sh"
        script.write_text("#!/usr/bin/env bash\nset -eo pipefail\n" + block, encoding="utf-8")
        result = shellcheck(script)
        assert result.returncode == 0, f"{where}:\n{result.stdout}"


def test_shellcheck_catches_a_bad_block(tmp_path: Path) -> None:
    """The block check can fail: an unquoted expansion and an unset variable are reported."""
    script = tmp_path / "bad.sh"
    script.write_text('#!/usr/bin/env bash\nrm -rf $DIRECTORY/*\necho "$undefined_here"\n', encoding="utf-8")
    assert shellcheck(script).returncode != 0


# The scripts the workflows call are shellchecked with every other script of the repository: tests/test_shell.py.


# --- docs/delivery.md tells a team what to create ------------------------------------------------

DELIVERY_DOC = PROJECT_DIR / "docs" / "delivery.md"


def environment_names(job: Job) -> set[str]:
    """The GitHub environments a job can run in, its matrix and choice inputs expanded."""
    name = job.body.get("environment")
    if not name:
        return set()
    matrix = job.body.get("strategy", {}).get("matrix", {}).get("stack", [])
    workflow = load(WORKFLOWS_DIR / job.workflow)
    dispatch = workflow["on"].get("workflow_dispatch") if isinstance(workflow["on"], dict) else None
    options = ((dispatch or {}).get("inputs") or {}).get("stack", {}).get("options", [])
    if "${{ matrix.stack }}" in name:
        return {name.replace("${{ matrix.stack }}", stack) for stack in matrix}
    if "${{ inputs.stack }}" in name:
        return {name.replace("${{ inputs.stack }}", stack) for stack in options}
    return {name}


def test_every_environment_has_its_trust_policy_in_the_docs() -> None:
    """Each environment whose jobs authenticate has a trust policy in docs/delivery.md for exactly its subject."""
    blocks = re.findall(r"```json\n(.*?)```", DELIVERY_DOC.read_text(encoding="utf-8"), re.DOTALL)
    subjects = set()
    for block in blocks:
        policy = json.loads(block)
        [statement] = policy["Statement"]
        assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert statement["Principal"]["Federated"].endswith(":oidc-provider/token.actions.githubusercontent.com")
        equals = statement["Condition"]["StringEquals"]
        assert equals["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
        assert set(statement["Condition"]) == {"StringEquals"}, "no wildcard subject"
        subjects.add(equals["token.actions.githubusercontent.com:sub"])
    needed = {
        f"repo:acme/crm-platform:environment:{environment}"
        for job in JOBS
        if job.permissions.get("id-token") == "write"
        for environment in environment_names(job)
    }
    assert needed == subjects


def test_every_variable_and_secret_the_workflows_read_is_documented() -> None:
    doc = DELIVERY_DOC.read_text(encoding="utf-8")
    used = set()
    for path in WORKFLOW_FILES:
        used |= set(re.findall(r"\$\{\{\s*(?:vars|secrets)\.([A-Z0-9_]+)\s*\}\}", path.read_text(encoding="utf-8")))
    assert used
    for name in used:
        assert f"| `{name}` |" in doc, f"{name} is read by a workflow but not in docs/delivery.md's tables"
    for job in JOBS:
        for environment in environment_names(job):
            assert f"| `{environment}` |" in doc, f"environment {environment} is not in docs/delivery.md"
