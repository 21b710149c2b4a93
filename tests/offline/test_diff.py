"""The render diff over constructed renders: what counts as added, changed, removed; redaction; the cap."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from offline.diff import (
    REDACTED,
    REDACTED_CHANGED,
    REPORT_MARKER,
    DiffInputError,
    ObjectChange,
    Sides,
    StackDiff,
    compare,
    read_manifests,
    render_report,
    utf8_length,
)
from offline.render import dump_yaml
from stacks.errors import SECRET_MARKER

SIDES = Sides(base="`main` (`0123456789ab`)", head="the working tree")


def deployment(name: str, image: str, namespace: str = "crm-staging") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"template": {"spec": {"containers": [{"name": "web", "image": image}]}}},
    }


def secret(name: str, data: dict[str, str], namespace: str = "crm-staging") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "stringData": data,
        "type": "Opaque",
    }


def write_render(root: Path, documents: list[dict[str, Any]], file_names: dict[str, str] | None = None) -> Path:
    """A manifests directory the way offline/render.py lays it out (namespace/kind-name.yaml)."""
    manifests = root / "manifests"
    for document in documents:
        metadata = document["metadata"]
        default = f"{document['kind'].lower()}-{metadata['name']}.yaml"
        path = manifests / metadata.get("namespace", "_cluster") / (file_names or {}).get(metadata["name"], default)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dump_yaml(document), encoding="utf-8")
    return manifests


def diff_of(tmp_path: Path, base: list[dict[str, Any]], head: list[dict[str, Any]], **kwargs: Any) -> StackDiff:
    return compare(
        "staging",
        read_manifests(write_render(tmp_path / "base", base)),
        read_manifests(write_render(tmp_path / "head", head, **kwargs)),
    )


def statuses(diff: StackDiff) -> dict[tuple[str, str], str]:
    return {(change.kind, change.key[3]): change.status for change in diff.changes}


def test_added_changed_removed_and_unchanged_objects(tmp_path: Path) -> None:
    """An object only at the head is added, only at the base removed, different changed; equal ones are left out."""
    base = [deployment("crm-web", "crm:1.0"), deployment("crm-worker", "crm:1.0"), deployment("crm-beat", "crm:1.0")]
    head = [deployment("crm-web", "crm:1.1"), deployment("crm-worker", "crm:1.0"), deployment("crm-frontend", "ui:1")]
    diff = diff_of(tmp_path, base, head)
    assert statuses(diff) == {
        ("Deployment", "crm-web"): "changed",
        ("Deployment", "crm-frontend"): "added",
        ("Deployment", "crm-beat"): "removed",
    }
    [changed] = [change for change in diff.changes if change.status == "changed"]
    assert "-        image: crm:1.0\n+        image: crm:1.1\n" in changed.unified_diff
    [added] = [change for change in diff.changes if change.status == "added"]
    assert added.unified_diff.startswith("--- /dev/null\n+++ head/crm-staging/deployment-crm-frontend.yaml\n")
    assert all(line.startswith(("+", "@")) for line in added.unified_diff.splitlines()[2:])


def test_a_rename_is_a_removal_and_an_addition(tmp_path: Path) -> None:
    """Objects are matched by (apiVersion, kind, namespace, name): a new name is a new object, as for Kubernetes."""
    diff = diff_of(tmp_path, [deployment("crm-web", "crm:1.0")], [deployment("crm-api", "crm:1.0")])
    assert statuses(diff) == {("Deployment", "crm-web"): "removed", ("Deployment", "crm-api"): "added"}


def test_a_new_api_version_or_namespace_is_another_object(tmp_path: Path) -> None:
    """The key holds apiVersion and namespace too."""
    moved = deployment("crm-web", "crm:1.0", namespace="crm-other")
    diff = diff_of(tmp_path, [deployment("crm-web", "crm:1.0")], [moved])
    assert sorted((change.status, change.key[2]) for change in diff.changes) == [
        ("added", "crm-other"),
        ("removed", "crm-staging"),
    ]


def test_a_file_renamed_with_the_same_object_is_no_change(tmp_path: Path) -> None:
    """The file an object is written to does not identify it."""
    documents = [deployment("crm-web", "crm:1.0")]
    diff = diff_of(tmp_path, documents, documents, file_names={"crm-web": "renamed-file.yaml"})
    assert diff.changes == ()


def test_a_secret_change_shows_which_key_changed_and_no_value(tmp_path: Path) -> None:
    """Secret values never reach the diff, not even plain ones; the changed key is marked on the head side."""
    base = [secret("crm-smtp", {"username": "mailer-old-7f3a", "password": SECRET_MARKER, "host": "smtp-a.example"})]
    head = [secret("crm-smtp", {"username": "mailer-new-9c1d", "password": SECRET_MARKER, "port": "587-value"})]
    diff = diff_of(tmp_path, base, head)
    [change] = diff.changes
    assert change.status == "changed"
    text = change.unified_diff
    for value in ("mailer-old-7f3a", "mailer-new-9c1d", "smtp-a.example", "587-value"):
        assert value not in text
    assert f"-  username: '{REDACTED}'\n" in text
    assert f"+  username: '{REDACTED_CHANGED}'\n" in text
    assert f"-  host: '{REDACTED}'\n" in text
    assert f"+  port: '{REDACTED}'\n" in text
    assert "password" not in [line[1:].split(":")[0].strip() for line in text.splitlines() if line[:1] in "+-"]
    report = render_report([diff], SIDES)
    assert "mailer-" not in report and "587-value" not in report


def test_an_added_secret_shows_its_keys_only(tmp_path: Path) -> None:
    """A new Secret lists its keys, every value redacted."""
    diff = diff_of(tmp_path, [], [secret("crm-api-keys", {"OPENAI_API_KEY": "sk-live-abcdef123456"})])
    [change] = diff.changes
    assert change.status == "added"
    assert "sk-live" not in change.unified_diff
    assert f"+  OPENAI_API_KEY: '{REDACTED}'\n" in change.unified_diff


def test_a_secret_with_only_its_labels_changed_shows_the_labels(tmp_path: Path) -> None:
    """Redaction leaves everything but the values alone."""
    labelled = secret("crm-smtp", {"password": "hunter2-secret"})
    labelled["metadata"]["labels"] = {"tier": "mail"}
    diff = diff_of(tmp_path, [secret("crm-smtp", {"password": "hunter2-secret"})], [labelled])
    [change] = diff.changes
    assert "+    tier: mail\n" in change.unified_diff
    assert "hunter2" not in change.unified_diff
    assert REDACTED_CHANGED not in change.unified_diff


def test_the_report_has_the_marker_the_summaries_then_one_collapsed_section_per_object(tmp_path: Path) -> None:
    """Summary per stack and per kind first, then a <details> section per object with its diff."""
    base = [deployment("crm-web", "crm:1.0"), secret("crm-smtp", {"password": "a"})]
    head = [deployment("crm-web", "crm:1.1"), deployment("crm-frontend", "ui:1")]
    report = render_report([diff_of(tmp_path, base, head)], SIDES)
    assert report.startswith(REPORT_MARKER + "\n")
    assert "| `staging` | 1 | 1 | 1 |" in report
    assert "| `Deployment` | 1 | 1 | 0 |" in report
    assert "| `Secret` | 0 | 0 | 1 |" in report
    assert report.index("| `Secret` |") < report.index("<details>")
    assert report.count("<details>") == report.count("</details>") == 3
    assert "<summary>changed <code>Deployment</code> crm-staging/crm-web (apps/v1)</summary>" in report


def test_a_stack_without_changes_says_so(tmp_path: Path) -> None:
    documents = [deployment("crm-web", "crm:1.0")]
    report = render_report([diff_of(tmp_path, documents, documents)], SIDES)
    assert "### `staging`: no change" in report
    assert "<details>" not in report


def test_a_note_explains_a_missing_side() -> None:
    """A stack that the base does not have: its objects are added, and the report says why."""
    diff = compare("qa", None, {}, note="Stack `qa` does not exist at the base: every object counts as added.")
    assert "> Stack `qa` does not exist at the base" in render_report([diff], SIDES)


def test_content_cannot_close_the_code_fence(tmp_path: Path) -> None:
    """A value holding a run of backticks gets a longer fence, so Markdown cannot escape the diff block."""
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "readme", "namespace": "crm-staging"},
        "data": {"README.md": "text\n```\n</details>\n````\n"},
    }
    report = render_report([diff_of(tmp_path, [], [config_map])], SIDES)
    assert "\n`````diff\n" in report
    section = report[report.index("`````diff") :]
    assert section.index("`````\n\n</details>") > section.index("````\n")


def big_diff(tmp_path: Path, objects: int, lines_each: int) -> StackDiff:
    head = []
    for index in range(objects):
        document = deployment(f"crm-web-{index:03d}", "crm:1.0")
        document["metadata"]["annotations"] = {f"note-{line:04d}": "x" * 40 for line in range(lines_each)}
        head.append(document)
    return diff_of(tmp_path, [], head)


def test_a_report_over_the_cap_keeps_the_summary_and_whole_sections_and_points_to_the_full_diff(
    tmp_path: Path,
) -> None:
    """Over the cap: at most max characters, every summary, only whole sections, and how many were left out."""
    diff = big_diff(tmp_path, objects=40, lines_each=60)
    full = render_report([diff], SIDES)
    assert len(full) > 100_000
    capped = render_report([diff], SIDES, 20_000, full_diff="[the artifact](https://example.invalid/run/1)")
    assert len(capped) <= 20_000
    assert "| `Deployment` | 40 | 0 | 0 |" in capped
    shown = capped.count("<details>")
    assert 0 < shown < 40
    assert capped.count("</details>") == shown
    assert f"**{40 - shown} of 40 object diffs are not shown here" in capped
    assert capped.rstrip().endswith("The whole diff: [the artifact](https://example.invalid/run/1).")
    assert full.startswith(capped[: capped.index("\n**")].rstrip("\n"))


def test_a_long_section_left_out_does_not_hide_shorter_ones_after_it(tmp_path: Path) -> None:
    """Sections are taken in order, skipping one that does not fit rather than stopping at it."""
    long_one = deployment("crm-a-long", "crm:1.0")
    long_one["metadata"]["annotations"] = {f"note-{line:04d}": "x" * 60 for line in range(400)}
    report = render_report([diff_of(tmp_path, [], [long_one, deployment("crm-b-short", "crm:1.0")])], SIDES, 10_000)
    assert "crm-b-short (apps/v1)</summary>" in report
    assert "crm-a-long (apps/v1)</summary>" not in report
    assert "**1 of 2 object diffs are not shown here" in report


def test_a_report_under_the_cap_is_whole(tmp_path: Path) -> None:
    diff = big_diff(tmp_path, objects=2, lines_each=5)
    assert render_report([diff], SIDES, 60_000) == render_report([diff], SIDES)


def test_the_step_summary_cap_counts_bytes() -> None:
    """GitHub limits a job summary in bytes: text beyond ASCII counts as more than one."""
    changes = tuple(
        ObjectChange("added", ("v1", "ConfigMap", "crm-staging", f"notes-{index}"), "+  text: " + "é" * 3_000 + "\n")
        for index in range(4)
    )
    diffs = [StackDiff("staging", changes)]
    full = render_report(diffs, SIDES)
    limit = len(full) + 100
    capped = render_report(diffs, SIDES, limit, measure=utf8_length)
    assert utf8_length(capped) <= limit < utf8_length(full)
    assert render_report(diffs, SIDES, limit) == full


def test_a_directory_with_two_files_for_one_object_is_refused(tmp_path: Path) -> None:
    manifests = write_render(tmp_path, [deployment("crm-web", "crm:1.0")])
    (manifests / "crm-staging" / "copy.yaml").write_text(
        yaml.safe_dump(deployment("crm-web", "crm:2.0")), encoding="utf-8"
    )
    with pytest.raises(DiffInputError, match=re.escape("hold the same object Deployment crm-staging/crm-web")):
        read_manifests(manifests)
