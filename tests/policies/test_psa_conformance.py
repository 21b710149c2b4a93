"""The pack's Pod Security checks agree with upstream pod-security-admission on every one of its 1.34 fixtures.

../shared/psa-testdata/v1.34/<level>/<pass|fail>/*.yaml are upstream's own conformance fixtures for policy
version 1.34 (README.md there): a restricted `fail` object must be rejected by a restricted-profile finding of
the pod-security-restricted policy, a restricted `pass` object admitted by it; a baseline `fail` object must
be rejected by a baseline control (B1-B12) and a baseline `pass` object must break none. Platform rules beyond
the standard (read-only root, resources, probes) fire on these bare Pods too and are not judged here.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from offline.schemas import SHARED_DIR
from policies.pod_security import BASELINE_CONTROLS, CONTROLS, POLICY_VERSION
from policies.registry import POLICIES_BY_NAME

FIXTURES_DIR = SHARED_DIR / "psa-testdata" / POLICY_VERSION
LEVELS = ("baseline", "restricted")
OUTCOMES = ("pass", "fail")


def fixture_objects() -> list[tuple[str, str, Path, dict[str, Any]]]:
    """(level, outcome, file, object) for every object of every fixture file, whatever its kind."""
    assert FIXTURES_DIR.is_dir(), f"no fixtures at {FIXTURES_DIR}; set CRM_SHARED_DIR to the shared/ directory"
    objects: list[tuple[str, str, Path, dict[str, Any]]] = []
    for level in LEVELS:
        for outcome in OUTCOMES:
            for path in sorted((FIXTURES_DIR / level / outcome).glob("*.yaml")):
                documents = [document for document in yaml.safe_load_all(path.read_text(encoding="utf-8")) if document]
                assert documents, f"{path} holds no object"
                objects.extend((level, outcome, path, document) for document in documents)
    return objects


def controls_found(level: str, document: dict[str, Any]) -> set[str]:
    """The controls of `level` the pack's pod-security-restricted policy reports for `document`."""
    violations = POLICIES_BY_NAME["pod-security-restricted"].evaluate(document)
    controls = {violation.control for violation in violations}
    assert controls <= set(CONTROLS), f"unknown controls {controls - set(CONTROLS)}"
    return controls & BASELINE_CONTROLS if level == "baseline" else controls


def test_every_upstream_fixture_gets_upstreams_verdict() -> None:
    """Every fixture of policy version 1.34, at both levels, pass and fail: the pack rejects exactly the objects
    upstream rejects at that level (restricted by any restricted-profile control, baseline by B1-B12)."""
    objects = fixture_objects()
    agreed: Counter[str] = Counter()
    disagreements = []
    for level, outcome, path, document in objects:
        rejected = bool(controls_found(level, document))
        if rejected == (outcome == "fail"):
            agreed[f"{level}/{outcome}"] += 1
        else:
            verdict = "rejected" if rejected else "admitted"
            disagreements.append(f"{path.relative_to(FIXTURES_DIR)} {document.get('kind')}: {verdict}")
    totals = Counter(f"{level}/{outcome}" for level, outcome, _, _ in objects)
    summary = ", ".join(f"{group} {agreed[group]}/{totals[group]} agree" for group in sorted(totals))
    print(f"psa-testdata {POLICY_VERSION}: {summary}")
    assert set(totals) == {f"{level}/{outcome}" for level in LEVELS for outcome in OUTCOMES}, summary
    assert not disagreements, f"{summary}; disagreements:\n" + "\n".join(disagreements)
    assert sum(totals.values()) == len(list(FIXTURES_DIR.rglob("*.yaml"))), "a fixture file was not read"
