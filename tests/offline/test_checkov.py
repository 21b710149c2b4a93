"""The Checkov cross-check: the real Checkov over every stack's render, and the comparison with the skip file."""

from __future__ import annotations

import json
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from offline import checkov as crosscheck
from offline.checkov import CrossCheckError, Failure, Skip
from offline.render import write_render
from tests.conftest import FEATURE_RUNS, STACKS, RunFeature, RunStack

CheckovRun = Callable[[str], crosscheck.Report]

WEB = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "crm-web", "namespace": "crm-staging"}}
BACKUP = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "crm-backup", "namespace": "crm-staging"}}


# --- the real Checkov over every stack ------------------------------------------------------------


@pytest.fixture(scope="session")
def checkov_run(
    checkov: Path, run_stack: RunStack, run_feature: RunFeature, tmp_path_factory: pytest.TempPathFactory
) -> CheckovRun:
    """Checkov's report over the render of a stack, or of one of FEATURE_RUNS, once each for the session."""
    reports: dict[str, crosscheck.Report] = {}

    def run(name: str) -> crosscheck.Report:
        if name not in reports:
            out_dir = tmp_path_factory.mktemp(f"checkov-{name}")
            recording = run_feature(name).recording if name in FEATURE_RUNS else run_stack(name).recording
            write_render(recording, out_dir / "render")
            reports[name], _ = crosscheck.run_checkov(checkov, out_dir / "render" / "manifests", out_dir / "checkov")
        return reports[name]

    return run


@pytest.mark.parametrize("feature", FEATURE_RUNS)
def test_checkov_accepts_the_feature_configurations(feature: str, checkov_run: CheckovRun) -> None:
    """Checkov over the seed applications' configurations (the candidate's Deployment and Job, the ASGI web, a
    stack without PostgreSQL) finds nothing the skip file does not accept."""
    report = checkov_run(feature)
    comparison = crosscheck.compare(report.failures, crosscheck.load_skips())
    assert report.passed > 0
    assert not comparison.not_accepted, "\n".join(failure.describe() for failure in comparison.not_accepted)


@pytest.mark.parametrize("stack", STACKS)
def test_checkov_finds_nothing_the_skip_file_does_not_accept(stack: str, checkov_run: CheckovRun) -> None:
    """Every check Checkov fails on the stack's render is accepted by policies/checkov-skips.yaml."""
    report = checkov_run(stack)
    comparison = crosscheck.compare(report.failures, crosscheck.load_skips())
    assert report.passed > 0
    assert not comparison.not_accepted, "\n".join(failure.describe() for failure in comparison.not_accepted)


def test_every_skip_still_accepts_a_failure(checkov_run: CheckovRun) -> None:
    """Each skip entry, and each of its resource patterns, accepts a failure in at least one stack or feature
    configuration (a frontend reads a secret only where its `secrets` lists one)."""
    skips = crosscheck.load_skips()
    acceptances: set[crosscheck.Acceptance] = set()
    for name in (*STACKS, *FEATURE_RUNS):
        acceptances |= crosscheck.compare(checkov_run(name).failures, skips).acceptances
    assert crosscheck.stale_skips(skips, acceptances, judge_patterns=True) == []


def test_the_cross_check_covers_every_stack_file() -> None:
    """The default run checks every Pulumi.<stack>.yaml, and the review stack the tests use."""
    stack_files = {path.name[len("Pulumi.") : -len(".yaml")] for path in crosscheck.PROJECT_DIR.glob("Pulumi.*.yaml")}
    assert {stack for stack in stack_files if not stack.startswith("pr-")} | {"pr-7"} == set(crosscheck.STACKS)
    assert set(crosscheck.STACKS) == set(STACKS)


# --- the comparison, on made-up reports --------------------------------------------------------


def write_manifest(manifests: Path, document: dict[str, Any]) -> str:
    """Write one object as the render does; its path relative to `manifests`, as Checkov reports it."""
    relative = f"{document['metadata']['namespace']}/{document['kind'].lower()}-{document['metadata']['name']}.yaml"
    (manifests / relative).parent.mkdir(parents=True, exist_ok=True)
    (manifests / relative).write_text(yaml.safe_dump(document), encoding="utf-8")
    return relative


def checkov_json(manifests: Path, *failed: tuple[str, dict[str, Any]], passed: int = 10) -> str:
    """A Checkov --output json report with these (check id, object) failures."""
    checks = [
        {
            "check_id": check_id,
            "check_name": f"name of {check_id}",
            "resource": f"{document['kind']}.{document['metadata']['namespace']}.{document['metadata']['name']}",
            "file_path": "/" + write_manifest(manifests, document),
            "check_result": {"result": "FAILED"},
        }
        for check_id, document in failed
    ]
    summary = {"passed": passed, "failed": len(checks), "skipped": 0, "parsing_errors": 0, "resource_count": 5}
    return json.dumps({"check_type": "kubernetes", "results": {"failed_checks": checks}, "summary": summary})


def failures(tmp_path: Path, *failed: tuple[str, dict[str, Any]]) -> tuple[Failure, ...]:
    return crosscheck.parse_report(checkov_json(tmp_path, *failed), tmp_path).failures


def test_a_failure_no_skip_accepts_is_reported(tmp_path: Path) -> None:
    """A failed check without a skip entry is not accepted, and is described by id, name, object and file."""
    comparison = crosscheck.compare(failures(tmp_path, ("CKV_K8S_15", WEB)), [Skip("CKV_K8S_43", "digests")])
    assert [failure.check_id for failure in comparison.not_accepted] == ["CKV_K8S_15"]
    assert comparison.not_accepted[0].describe() == (
        "CKV_K8S_15 name of CKV_K8S_15: Deployment crm-staging/crm-web (crm-staging/deployment-crm-web.yaml)"
    )


def test_a_skipped_id_is_not_reported(tmp_path: Path) -> None:
    """An entry without resources accepts its check on every object."""
    comparison = crosscheck.compare(
        failures(tmp_path, ("CKV_K8S_43", WEB), ("CKV_K8S_43", BACKUP)), [Skip("CKV_K8S_43", "digests")]
    )
    assert comparison.not_accepted == ()
    assert len(comparison.accepted) == 2
    assert comparison.acceptances == {("CKV_K8S_43", None)}


def test_a_scoped_skip_accepts_only_its_objects(tmp_path: Path) -> None:
    """Resource patterns match Kind/name in any namespace; other objects stay reported."""
    skip = Skip("CKV_K8S_40", "initdb needs the image's user", ("CronJob/crm-*",))
    comparison = crosscheck.compare(failures(tmp_path, ("CKV_K8S_40", WEB), ("CKV_K8S_40", BACKUP)), [skip])
    assert [failure.subject for failure in comparison.not_accepted] == ["Deployment/crm-web"]
    assert [failure.subject for failure in comparison.accepted] == ["CronJob/crm-backup"]


def test_a_failure_on_a_pod_checkov_derived_counts_as_its_workload(tmp_path: Path) -> None:
    """Checkov's `Pod.<ns>.<name>.<labels>` resources match skips by the object of their manifest."""
    text = checkov_json(tmp_path, ("CKV2_K8S_6", WEB))
    text = text.replace('"Deployment.crm-staging.crm-web"', '"Pod.crm-staging.crm-web.app-web"')
    (failure,) = crosscheck.parse_report(text, tmp_path).failures
    assert failure.resource == "Pod.crm-staging.crm-web.app-web"
    assert failure.subject == "Deployment/crm-web"


def test_stale_skips_are_reported(tmp_path: Path) -> None:
    """An entry that accepted nothing is stale; so is a resource pattern, when patterns are judged."""
    skips = [
        Skip("CKV_K8S_15", "fixed since"),
        Skip("CKV_K8S_40", "initdb", ("CronJob/crm-backup", "Deployment/crm-gone")),
    ]
    comparison = crosscheck.compare(failures(tmp_path, ("CKV_K8S_40", BACKUP)), skips)
    assert crosscheck.stale_skips(skips, comparison.acceptances, judge_patterns=True) == [
        "CKV_K8S_15 accepted no failure",
        "CKV_K8S_40 resource Deployment/crm-gone accepted no failure",
    ]
    assert crosscheck.stale_skips(skips, comparison.acceptances, judge_patterns=False) == [
        "CKV_K8S_15 accepted no failure"
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Traceback (most recent call last):", "is not JSON"),
        ("[]", "not one report object"),
        ('{"results": {"failed_checks": []}}', "has no summary"),
        (
            '{"results": {"failed_checks": [{"check_id": "CKV_K8S_8"}]}, "summary": '
            '{"passed": 1, "failed": 1, "parsing_errors": 0, "resource_count": 1}}',
            "has no 'file_path'",
        ),
    ],
    ids=["not-json", "list", "no-summary", "no-file"],
)
def test_unparseable_checkov_output_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    """Output that is not Checkov's JSON report is an error naming the source and what is wrong."""
    with pytest.raises(CrossCheckError, match=message) as error:
        crosscheck.parse_report(text, tmp_path, source="results_json.json")
    assert str(error.value).startswith("results_json.json")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"CKV_K8S_43": ""}, "needs a reason"),
        ({"CKV_K8S_43": "first line\nsecond line"}, "one line"),
        ({"K8S_43": "why"}, "not a Checkov Kubernetes check id"),
        ({"CKV_K8S_40": {"reason": "why", "resources": ["crm-backup"]}}, "Kind/name patterns"),
        ({"CKV_K8S_40": {"reason": "why", "resources": []}}, "accepts nothing"),
        ({"CKV_K8S_40": {"reason": "why", "resource": ["CronJob/crm-backup"]}}, "unknown keys"),
    ],
    ids=["empty-reason", "two-lines", "bad-id", "bad-pattern", "empty-resources", "misspelt-key"],
)
def test_an_invalid_skip_file_is_refused(tmp_path: Path, document: dict[str, Any], message: str) -> None:
    """Each entry needs a check id, a one-line reason and, if any, Kind/name patterns."""
    path = tmp_path / "skips.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    with pytest.raises(CrossCheckError, match=message):
        crosscheck.load_skips(path)


def test_the_skip_file_gives_every_entry_a_one_line_reason() -> None:
    """policies/checkov-skips.yaml loads: every entry has a reason of one line."""
    skips = crosscheck.load_skips()
    assert skips and all(skip.reason and "\n" not in skip.reason for skip in skips)


# --- running Checkov, with a stand-in for it ---------------------------------------------------


@pytest.fixture
def fake_checkov(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """An executable that records its arguments and environment and writes the report in `report.json`."""
    script = tmp_path / "checkov"
    record = tmp_path / "record.json"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, shutil, sys\n"
        "out = sys.argv[sys.argv.index('--output-file-path') + 1]\n"
        "seen = {'argv': sys.argv[1:], 'env': dict(os.environ), 'cwd': os.getcwd()}\n"
        f"json.dump(seen, open({str(record)!r}, 'w'))\n"
        f"shutil.copy({str(tmp_path / 'report.json')!r}, os.path.join(out, 'results_json.json'))\n"
        "sys.exit(1)\n",
        encoding="utf-8",
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    yield script, record


def test_checkov_runs_offline_and_hermetic(
    tmp_path: Path, fake_checkov: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checkov gets --framework kubernetes --skip-download, BC_SKIP_MAPPING=TRUE and none of the caller's BC_ keys."""
    script, record = fake_checkov
    manifests = tmp_path / "manifests"
    (tmp_path / "report.json").write_text(checkov_json(manifests, ("CKV_K8S_43", WEB)), encoding="utf-8")
    monkeypatch.setenv("BC_API_KEY", "a-key-that-would-upload-results")
    report, seconds = crosscheck.run_checkov(script, manifests, tmp_path / "out")
    recorded = json.loads(record.read_text(encoding="utf-8"))
    assert [failure.subject for failure in report.failures] == ["Deployment/crm-web"] and seconds > 0
    assert recorded["argv"][recorded["argv"].index("--framework") + 1] == "kubernetes"
    assert "--skip-download" in recorded["argv"]
    assert recorded["env"]["BC_SKIP_MAPPING"] == "TRUE" and recorded["env"]["CKV_SKIP_PACKAGE_UPDATE_CHECK"] == "TRUE"
    assert "BC_API_KEY" not in recorded["env"]
    assert recorded["cwd"] == str(tmp_path / "out")


def test_a_checkov_run_that_saw_nothing_is_an_error(tmp_path: Path, fake_checkov: tuple[Path, Path]) -> None:
    """A directory Checkov found no object in (it counts broken YAML so) fails instead of passing."""
    script, _ = fake_checkov
    summary = {"passed": 0, "failed": 0, "skipped": 0, "parsing_errors": 0, "resource_count": 0}
    (tmp_path / "report.json").write_text(json.dumps(summary), encoding="utf-8")
    (tmp_path / "manifests").mkdir()
    with pytest.raises(CrossCheckError, match="found no Kubernetes object"):
        crosscheck.run_checkov(script, tmp_path / "manifests", tmp_path / "out")


def test_without_checkov_the_command_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing Checkov is unusable input: exit 2 and how to install it, before any stack is rendered."""
    status = crosscheck.main(["--stack", "staging", "--checkov", str(tmp_path / "checkov"), "--out", str(tmp_path)])
    assert status == crosscheck.EXIT_UNUSABLE_INPUT
    assert "make venv" in capsys.readouterr().err


def test_the_command_lists_what_is_not_accepted_and_exits_1(
    tmp_path: Path, fake_checkov: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """`--stack dev` renders dev, prints each failure not accepted and each stale skip, and exits 1."""
    script, _ = fake_checkov
    check = {
        "check_id": "CKV_K8S_15",
        "check_name": "Image Pull Policy should be Always",
        "resource": "Deployment.crm-dev.crm-web",
        "file_path": "/crm-dev/deployment-crm-web.yaml",
    }
    summary = {"passed": 3, "failed": 1, "skipped": 0, "parsing_errors": 0, "resource_count": 4}
    report = {"check_type": "kubernetes", "results": {"failed_checks": [check]}, "summary": summary}
    (tmp_path / "report.json").write_text(json.dumps(report), encoding="utf-8")
    skips = tmp_path / "skips.yaml"
    skips.write_text('CKV_K8S_43: "digests later"\n', encoding="utf-8")
    arguments = ["--stack", "dev", "--checkov", str(script), "--skips", str(skips), "--out", str(tmp_path / "build")]

    status = crosscheck.main(arguments)

    lines = capsys.readouterr().out.splitlines()
    assert status == crosscheck.EXIT_NOT_ACCEPTED
    assert lines[0].startswith("dev: 3 passed, 1 failed, 0 skipped")
    assert lines[1].startswith(
        "  not accepted: CKV_K8S_15 Image Pull Policy should be Always: Deployment crm-dev/crm-web ("
    )
    assert lines[1].endswith("build/dev/manifests/crm-dev/deployment-crm-web.yaml)")
    assert lines[2].startswith("stale skip: CKV_K8S_43 accepted no failure in dev")
