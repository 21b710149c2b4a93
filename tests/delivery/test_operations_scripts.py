"""Promotion, drift and review stacks, driven with stand-in pulumi, make, kubectl and gh; the promotion's
5xx comparison asks the real Prometheus of tests/delivery/prometheus.py."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from offline.program import PROJECT_DIR
from offline.stack_config import load_stack_config
from tests.delivery.fakes import Fakes, Site, make_fakes, web_site
from tests.delivery.prometheus import Server
from tests.support.tools import require_tool

SCRIPTS = PROJECT_DIR / "scripts" / "delivery"
QUICK_SMOKE = {"SMOKE_DEADLINE_SECONDS": "3", "SMOKE_INTERVAL_SECONDS": "1"}


def run(
    command: list[str], fakes: Fakes, *, cwd: Path | str = PROJECT_DIR, **variables: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, env=fakes.environment(**variables), capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture
def fakes(tmp_path: Path) -> Fakes:
    require_tool("jq", package="jq")
    require_tool("curl", package="curl")
    return make_fakes(tmp_path / "fakes")


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with web_site(tmp_path / "site") as served:
        served.answer("/ready/", 200)
        yield served


def project_copy(root: Path) -> Path:
    """This working tree's files (the scripts read the stack files through offline/stack_config.py)."""
    listed = subprocess.run(
        ["git", "-C", str(PROJECT_DIR), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = PROJECT_DIR / name
        if source.is_file() and not source.is_symlink():
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return root


# --- promotion ----------------------------------------------------------------------------------

CANDIDATE = "ghcr.io/acme/crm-backend:2.5.0"


@pytest.fixture(scope="module")
def promotion_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = project_copy(tmp_path_factory.mktemp("promotion") / "crm-platform")
    stack_file = root / "Pulumi.production.yaml"
    text = stack_file.read_text(encoding="utf-8")
    stack_file.write_text(
        text + f"  crm-platform:candidateImage: {CANDIDATE}\n  crm-platform:candidateTrafficPercent: 0\n",
        encoding="utf-8",
    )
    return root


def promotion_fakes(fakes: Fakes, site: Site) -> None:
    fakes.install(
        "pulumi",
        'case "$1 $2 ${3:-}" in\n'
        '  "stack output appNamespace") echo "$FAKE_APP_NAMESPACE" ;;\n'
        '  "stack output monitoringNamespace") echo crm-production-monitoring ;;\n'
        f'  "stack output smokeTargets") echo \'["{site.url}/ready/"]\' ;;\n'
        "esac\n",
    )
    fakes.install("make", "")
    # The port-forward: the test's Prometheus already listens on the local port.
    fakes.install("kubectl", "exec sleep 300\n")


def promote(project: Path, fakes: Fakes, prometheus: Server, namespace: str) -> subprocess.CompletedProcess[str]:
    return run(
        [str(project / "scripts" / "delivery" / "promote.sh"), "production"],
        fakes,
        cwd=project,
        PYTHON=sys.executable,
        FAKE_APP_NAMESPACE=namespace,
        PROMOTION_STEP_SECONDS="1",
        PROMOTION_WINDOW_SECONDS="600",
        PROMETHEUS_LOCAL_PORT=prometheus.url.rsplit(":", 1)[1],
        CANARY_EVALUATION_TIME=str(prometheus.end_time),
        GITHUB_OUTPUT=str(fakes.state / "github-output"),
        **QUICK_SMOKE,
    )


def changes(fakes: Fakes) -> list[str]:
    """What the promotion changed and applied, in order."""
    return [call for call in fakes.calls() if call.startswith(("pulumi config set", "make "))]


def test_a_healthy_candidate_is_stepped_to_100_and_promoted(
    promotion_project: Path, fakes: Fakes, site: Site, prometheus: Server
) -> None:
    promotion_fakes(fakes, site)
    result = promote(promotion_project, fakes, prometheus, "crm-healthy")
    assert result.returncode == 0, result.stderr
    up = "make --no-print-directory up STACK=production"
    steps = [
        [f"pulumi config set candidateTrafficPercent {share} --stack production", up] for share in (5, 20, 50, 100)
    ]
    assert changes(fakes) == [
        *(call for step in steps for call in step),
        f"pulumi config set appImage {CANDIDATE} --stack production",
        "pulumi config set candidateImage  --stack production",
        "pulumi config set candidateTrafficPercent 0 --stack production",
        up,
    ]
    assert result.stdout.count("the candidate is not worse") == 4
    assert (fakes.state / "github-output").read_text(encoding="utf-8") == f"image={CANDIDATE}\n"
    assert fakes.calls("kubectl") == [
        "kubectl --context production --namespace crm-production-monitoring port-forward "
        f"svc/kube-prometheus-stack-prometheus {prometheus.url.rsplit(':', 1)[1]}:9090"
    ]


def test_an_unhealthy_candidate_is_set_back_to_0_and_the_promotion_stops(
    promotion_project: Path, fakes: Fakes, site: Site, prometheus: Server
) -> None:
    promotion_fakes(fakes, site)
    result = promote(promotion_project, fakes, prometheus, "crm-unhealthy")
    assert result.returncode == 1
    up = "make --no-print-directory up STACK=production"
    assert changes(fakes) == [
        "pulumi config set candidateTrafficPercent 5 --stack production",
        up,
        "pulumi config set candidateTrafficPercent 0 --stack production",
        up,
    ]
    assert "stopped: the candidate's 5xx ratio at 5 % is above the stable release's" in result.stderr
    assert "The candidate's share is back to 0 %." in result.stderr


def test_a_failed_smoke_test_stops_the_promotion_too(
    promotion_project: Path, fakes: Fakes, site: Site, prometheus: Server
) -> None:
    promotion_fakes(fakes, site)
    site.answer("/ready/", 503)
    result = promote(promotion_project, fakes, prometheus, "crm-healthy")
    assert result.returncode == 1
    assert "stopped: the smoke test at 5 % failed" in result.stderr
    assert changes(fakes)[-2:] == ["pulumi config set candidateTrafficPercent 0 --stack production", changes(fakes)[1]]


def test_a_candidate_that_cannot_be_judged_stops_the_promotion(
    promotion_project: Path, fakes: Fakes, site: Site, prometheus: Server
) -> None:
    promotion_fakes(fakes, site)
    result = promote(promotion_project, fakes, prometheus, "crm-idle")
    assert result.returncode == 1
    assert "the candidate's 5xx ratio at 5 % could not be judged" in result.stderr


def test_without_a_candidate_nothing_changes(tmp_path: Path, fakes: Fakes, site: Site, prometheus: Server) -> None:
    project = tmp_path / "crm-platform"
    shutil.copytree(PROJECT_DIR / "scripts", project / "scripts")
    for name in ("Pulumi.yaml", "Pulumi.production.yaml"):
        shutil.copy2(PROJECT_DIR / name, project / name)
    for package in ("offline", "kube", "stacks"):
        shutil.copytree(PROJECT_DIR / package, project / package, ignore=shutil.ignore_patterns("__pycache__"))
    promotion_fakes(fakes, site)
    result = promote(project, fakes, prometheus, "crm-healthy")
    assert result.returncode == 1
    assert "stack production has no" in result.stderr
    assert changes(fakes) == []


# --- drift --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "state"), [(0, "clean"), (7, "drift")])
def test_drift_is_recorded_not_failed(tmp_path: Path, fakes: Fakes, status: int, state: str) -> None:
    fakes.install(
        "pulumi",
        f'[ "$1" = version ] && {{ echo v3.272.0; exit 0; }}\necho "~ Deployment crm-web replicas"\nexit {status}\n',
    )
    result = run([str(SCRIPTS / "drift.sh"), "staging", str(tmp_path / "drift")], fakes)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "drift" / "state").read_text().strip() == state
    assert "~ Deployment crm-web replicas" in (tmp_path / "drift" / "report.txt").read_text()
    assert fakes.calls("pulumi")[-1] == (
        "pulumi preview --stack staging --refresh --expect-no-changes --diff --suppress-outputs --non-interactive "
        "--color never"
    )


def test_a_drift_check_that_errs_fails_and_records_nothing(tmp_path: Path, fakes: Fakes) -> None:
    fakes.install("pulumi", '[ "$1" = version ] && { echo v3.272.0; exit 0; }\necho "error: AccessDenied"\nexit 255\n')
    result = run([str(SCRIPTS / "drift.sh"), "staging", str(tmp_path / "drift")], fakes)
    assert result.returncode == 1
    assert "error: AccessDenied" in result.stderr
    assert "pulumi preview exited 255): an error, not drift" in result.stderr
    assert not (tmp_path / "drift" / "state").exists()


def issue_fakes(fakes: Fakes) -> None:
    fakes.install(
        "gh",
        'if [ "$1 $2" = "issue list" ]; then echo "${FAKE_EXISTING:-}"; exit 0; fi\n'
        'while [ $# -gt 0 ]; do [ "$1" = --body-file ] && cp "$2" "$state/body"; shift; done\n',
    )


def drift_issue(fakes: Fakes, state: str, report: Path | None, existing: str = "") -> subprocess.CompletedProcess[str]:
    return run(
        [str(SCRIPTS / "drift-issue.sh"), "production", state, *([str(report)] if report else [])],
        fakes,
        GITHUB_REPOSITORY="acme/crm-platform",
        GITHUB_RUN_ID="99",
        FAKE_EXISTING=existing,
    )


def test_drift_opens_one_issue_with_the_diff(tmp_path: Path, fakes: Fakes) -> None:
    issue_fakes(fakes)
    report = tmp_path / "report.txt"
    report.write_text("~ kubernetes:apps/v1:Deployment crm-web\n    ~ spec.replicas: 4 => 2\n", encoding="utf-8")
    result = drift_issue(fakes, "drift", report)
    assert result.returncode == 0, result.stderr
    calls = fakes.calls("gh")
    assert calls[-1].startswith(
        "gh issue create --repo acme/crm-platform --title Drift detected in stack production --label drift --body-file"
    )
    assert any(call.startswith("gh label create drift") for call in calls)
    body = (fakes.state / "body").read_text(encoding="utf-8")
    assert "~ spec.replicas: 4 => 2" in body
    assert "https://github.com/acme/crm-platform/actions/runs/99" in body


def test_drift_again_updates_the_open_issue(tmp_path: Path, fakes: Fakes) -> None:
    issue_fakes(fakes)
    report = tmp_path / "report.txt"
    report.write_text("~ drift\n" + "x" * 70_000, encoding="utf-8")
    result = drift_issue(fakes, "drift", report, existing="12")
    assert result.returncode == 0, result.stderr
    assert fakes.calls("gh")[-1].startswith("gh issue edit 12 --repo acme/crm-platform --body-file")
    assert not any(call.startswith("gh issue create") for call in fakes.calls("gh"))
    body = (fakes.state / "body").read_text(encoding="utf-8")
    assert len(body) < 65_536
    assert "cut at 60000 characters" in body


def test_no_drift_closes_the_open_issue(fakes: Fakes) -> None:
    issue_fakes(fakes)
    result = drift_issue(fakes, "clean", None, existing="12")
    assert result.returncode == 0, result.stderr
    assert fakes.calls("gh")[-1] == (
        "gh issue close 12 --repo acme/crm-platform --comment No drift in production as of "
        "https://github.com/acme/crm-platform/actions/runs/99."
    )


def test_no_drift_and_no_issue_does_nothing(fakes: Fakes) -> None:
    issue_fakes(fakes)
    assert drift_issue(fakes, "clean", None).returncode == 0
    assert [call.split()[1] for call in fakes.calls("gh")] == ["issue"]  # the lookup only


# --- review stacks ------------------------------------------------------------------------------


def review_fakes(fakes: Fakes, stacks: str, pull_requests: str = "") -> None:
    (fakes.state / "stacks.json").write_text(stacks, encoding="utf-8")
    fakes.install(
        "pulumi",
        'case "$1 $2" in\n'
        '  "stack ls") cat "$state/stacks.json" ;;\n'
        '  "config refresh") exit "${FAKE_REFRESH_STATUS:-0}" ;;\n'
        '  "stack output") echo \'["pr-5.staging.crm.example.com", "app.pr-5.staging.crm.example.com"]\' ;;\n'
        "esac\n",
    )
    fakes.install("make", "")
    fakes.install("gh", f'case "$3" in {pull_requests} *) exit 1 ;; esac\n')


def review(fakes: Fakes, *arguments: str, **variables: str) -> subprocess.CompletedProcess[str]:
    return run(
        [str(SCRIPTS / "review-stack.sh"), *arguments],
        fakes,
        GITHUB_OUTPUT=str(fakes.state / "github-output"),
        **variables,
    )


def test_a_new_review_stack_starts_from_stagings_config(fakes: Fakes) -> None:
    review_fakes(fakes, '[{"name": "staging"}]')
    result = review(fakes, "up", "5")
    assert result.returncode == 0, result.stderr
    assert [call for call in fakes.calls() if not call.startswith("pulumi stack ls")] == [
        "pulumi stack init pr-5 --secrets-provider passphrase",
        "pulumi config cp --stack staging --dest pr-5",
        "make --no-print-directory up STACK=pr-5",
        "pulumi stack output hosts --stack pr-5 --json",
    ]
    assert (fakes.state / "github-output").read_text(encoding="utf-8") == "url=https://pr-5.staging.crm.example.com/\n"


def test_an_existing_review_stack_gets_its_own_file_back_then_stagings_config(fakes: Fakes) -> None:
    """The stack file is not committed: the last deployment's (its salt) first, staging's values over it."""
    review_fakes(fakes, '[{"name": "staging"}, {"name": "acme/crm-platform/pr-5"}]')
    result = review(fakes, "up", "5")
    assert result.returncode == 0, result.stderr
    assert [call for call in fakes.calls() if not call.startswith("pulumi stack ls")][:3] == [
        "pulumi config refresh --stack pr-5 --force",
        "pulumi config cp --stack staging --dest pr-5",
        "make --no-print-directory up STACK=pr-5",
    ]


def test_closing_destroys_and_removes_the_review_stack(fakes: Fakes) -> None:
    review_fakes(fakes, '[{"name": "pr-5"}]')
    result = review(fakes, "down", "5")
    assert result.returncode == 0, result.stderr
    assert [call for call in fakes.calls() if not call.startswith("pulumi stack ls")] == [
        "pulumi config refresh --stack pr-5 --force",
        "pulumi destroy --stack pr-5 --yes --non-interactive",
        "pulumi stack rm pr-5 --yes",
    ]


def test_closing_without_a_review_stack_destroys_nothing(fakes: Fakes) -> None:
    review_fakes(fakes, '[{"name": "staging"}]')
    result = review(fakes, "down", "5")
    assert result.returncode == 0, result.stderr
    assert not any("destroy" in call for call in fakes.calls())


def test_a_review_stack_name_comes_from_a_number_only(fakes: Fakes) -> None:
    review_fakes(fakes, "[]")
    result = review(fakes, "up", "5; rm -rf /")
    assert result.returncode == 1
    assert fakes.calls() == []


def test_the_sweep_destroys_the_stacks_of_closed_pull_requests_only(fakes: Fakes) -> None:
    review_fakes(
        fakes,
        '[{"name": "staging"}, {"name": "pr-1"}, {"name": "acme/crm-platform/pr-2"}, {"name": "pr-3"}]',
        pull_requests="1) echo MERGED ;; 2) echo OPEN ;;",
    )
    result = run([str(SCRIPTS / "review-sweep.sh")], fakes, GITHUB_REPOSITORY="acme/crm-platform")
    assert result.returncode == 0, result.stderr
    destroyed = [call for call in fakes.calls("pulumi") if call.startswith("pulumi destroy")]
    assert destroyed == ["pulumi destroy --stack pr-1 --yes --non-interactive"]
    assert "pr-3: no pull request #3 in acme/crm-platform; left alone" in result.stderr
    assert "pr-2: #2 is open; kept" in result.stdout


# --- recording a promotion in the stack file ----------------------------------------------------


def set_stack_config_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("set_stack_config", SCRIPTS / "set_stack_config.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_setting_values_changes_only_their_lines_and_the_stack_reads_them(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy2(PROJECT_DIR / "Pulumi.yaml", project / "Pulumi.yaml")
    shutil.copy2(PROJECT_DIR / "Pulumi.production.yaml", project / "Pulumi.production.yaml")
    before = (project / "Pulumi.production.yaml").read_text(encoding="utf-8")
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPTS / "set_stack_config.py"),
            str(project / "Pulumi.production.yaml"),
            "appImage=ghcr.io/acme/crm-backend:2.5.0",
            "candidateImage=",
            "candidateTrafficPercent=0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    after = (project / "Pulumi.production.yaml").read_text(encoding="utf-8")
    removed = [line for line in before.splitlines() if line not in after.splitlines()]
    added = [line for line in after.splitlines() if line not in before.splitlines()]
    assert removed == ["  crm-platform:appImage: ghcr.io/acme/crm-backend:2.4.1"]
    assert added == [
        "  crm-platform:appImage: ghcr.io/acme/crm-backend:2.5.0",
        '  crm-platform:candidateImage: ""',
        "  crm-platform:candidateTrafficPercent: 0",
    ]
    assert [line for line in before.splitlines() if line.lstrip().startswith("#")] == [
        line for line in after.splitlines() if line.lstrip().startswith("#")
    ]
    values = load_stack_config(project, "production").values
    assert values["crm-platform:appImage"] == "ghcr.io/acme/crm-backend:2.5.0"
    assert values["crm-platform:candidateImage"] == ""
    assert values["crm-platform:candidateTrafficPercent"] == "0"


@pytest.mark.parametrize("value", ["yes", "on", "a: b", "#1", "", "ghcr.io/acme/crm@sha256:" + "a" * 64, "0x20"])
def test_values_read_back_as_written(value: str) -> None:
    module = set_stack_config_module()
    text = "config:\n  crm-platform:appImage: old\n"
    edited = module.set_values(text, Path("Pulumi.x.yaml"), "crm-platform", {"appImage": value})
    assert module._config_map(edited, Path("x"))["crm-platform:appImage"] == value


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("config:\n  crm-platform:egressCidrs:\n    - 10.0.0.0/8\n", "egressCidrs", "holds a list, a map or a secure"),
        (
            "config:\n  crm-platform:smtpPassword:\n    secure: v1:abc\n",
            "smtpPassword",
            "holds a list, a map or a secure",
        ),
        ("config: {}\n", "appImage", "is not a top-level line of its own"),
        ("other: 1\n", "appImage", "has no `config:` map"),
    ],
)
def test_what_cannot_be_set_line_by_line_is_refused(text: str, key: str, message: str) -> None:
    module = set_stack_config_module()
    with pytest.raises(module.StackFileError, match=message):
        module.set_values(text, Path("Pulumi.x.yaml"), "crm-platform", {key: "x"})
