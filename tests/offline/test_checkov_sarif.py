"""`python -m offline.checkov --sarif`: Checkov's SARIF for code scanning, less what the skip file accepts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from offline import checkov as crosscheck
from offline.checkov import CrossCheckError, Skip
from offline.program import PROJECT_DIR
from offline.render import dump_yaml


def manifests_with_web(tmp_path: Path) -> Path:
    manifests = tmp_path / "render" / "manifests"
    (manifests / "crm-dev").mkdir(parents=True)
    web = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "crm-web", "namespace": "crm-dev"}}
    (manifests / "crm-dev" / "deployment-crm-web.yaml").write_text(dump_yaml(web), encoding="utf-8")
    return manifests


def sarif_result(rule: str, uri: str) -> dict[str, Any]:
    return {
        "ruleId": rule,
        "level": "error",
        "message": {"text": f"{rule} failed"},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri}, "region": {"startLine": 1}}}],
    }


def sarif(*results: dict[str, Any]) -> str:
    run = {"tool": {"driver": {"name": "Checkov", "rules": []}}, "results": list(results)}
    return json.dumps({"version": "2.1.0", "runs": [run]})


def test_accepted_failures_are_left_out_and_locations_point_at_the_render(tmp_path: Path) -> None:
    """What the skip file accepts is reviewed there; the rest goes to code scanning, located in the render."""
    manifests = manifests_with_web(tmp_path)
    text = sarif(
        sarif_result("CKV_K8S_43", "render/manifests/crm-dev/deployment-crm-web.yaml"),
        sarif_result("CKV_K8S_15", "/crm-dev/deployment-crm-web.yaml"),
    )
    skips = [Skip("CKV_K8S_43", "digests later"), Skip("CKV_K8S_15", "only the worker", ("Deployment/crm-worker",))]
    document = crosscheck.code_scanning_sarif(text, manifests, skips, "results_sarif.sarif")
    [result] = document["runs"][0]["results"]
    assert result["ruleId"] == "CKV_K8S_15"
    uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert (PROJECT_DIR / uri).resolve() == (manifests / "crm-dev" / "deployment-crm-web.yaml").resolve()


def test_a_location_outside_the_render_is_an_error(tmp_path: Path) -> None:
    manifests = manifests_with_web(tmp_path)
    with pytest.raises(CrossCheckError, match="which is no manifest under"):
        crosscheck.code_scanning_sarif(sarif(sarif_result("CKV_K8S_15", "elsewhere.yaml")), manifests, [], "x")


@pytest.mark.parametrize("text", ["not json", "[]", '{"runs": {"results": []}}'])
def test_a_report_that_is_not_sarif_is_an_error(tmp_path: Path, text: str) -> None:
    with pytest.raises(CrossCheckError, match="is not a SARIF report"):
        crosscheck.code_scanning_sarif(text, manifests_with_web(tmp_path), [], "results_sarif.sarif")


def test_sarif_needs_exactly_one_stack(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = crosscheck.main(["--sarif", str(tmp_path / "out.sarif"), "--out", str(tmp_path)])
    assert status == crosscheck.EXIT_UNUSABLE_INPUT
    assert "give exactly one --stack" in capsys.readouterr().err


def test_real_checkov_sarif_of_a_stack(tmp_path: Path) -> None:
    """Checkov's own SARIF over a real render: accepted checks gone, the others there, each on a manifest."""
    if not (crosscheck.CHECKOV.is_file()):
        pytest.fail(crosscheck.missing_checkov_message(crosscheck.CHECKOV))
    skips = tmp_path / "skips.yaml"
    skips.write_text(yaml.safe_dump({"CKV_K8S_43": "images by tag for now"}), encoding="utf-8")
    target = tmp_path / "checkov-dev.sarif"
    status = crosscheck.main(
        ["--stack", "dev", "--skips", str(skips), "--out", str(tmp_path / "build"), "--sarif", str(target)]
    )
    assert status == crosscheck.EXIT_NOT_ACCEPTED  # CKV_K8S_35 and CKV_K8S_40 are not accepted here
    document = json.loads(target.read_text(encoding="utf-8"))
    assert document["version"] == "2.1.0"
    rules = {result["ruleId"] for run in document["runs"] for result in run["results"]}
    assert "CKV_K8S_43" not in rules
    assert "CKV_K8S_35" in rules
    for run in document["runs"]:
        for result in run["results"]:
            uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            assert (PROJECT_DIR / uri).is_file(), uri
