"""The offline render: files it writes, what they hold, determinism, and its command line."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi.runtime.mocks import MockResourceArgs

from offline import render as offline_render
from offline.mocks import RecordingMocks
from offline.program import PROJECT_DIR, run_program
from offline.render import split_image, write_render
from offline.stack_config import load_stack_config
from stacks import SettingsError
from stacks.errors import SECRET_MARKER
from stacks.profiles import PRODUCTION
from tests.conftest import FEATURE_RUNS, STACKS, RunFeature, RunStack


def render_cli(*arguments: str, hash_seed: str = "0") -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONHASHSEED": hash_seed}
    return subprocess.run(
        [sys.executable, "-m", "offline", "render", *arguments],
        cwd=PROJECT_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def tree(directory: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(directory)): path.read_bytes() for path in sorted(directory.rglob("*")) if path.is_file()
    }


@pytest.mark.parametrize("stack", STACKS)
def test_render_writes_one_file_per_object_named_by_namespace_kind_and_name(
    run_stack: RunStack, stack: str, tmp_path: Path
) -> None:
    """Each object goes to manifests/<namespace or _cluster>/<kind>-<name>.yaml."""
    run = run_stack(stack)
    write_render(run.recording, tmp_path)
    files = sorted(str(path.relative_to(tmp_path / "manifests")) for path in (tmp_path / "manifests").rglob("*.yaml"))
    assert files == [obj.path for obj in run.objects]
    for obj in run.objects:
        document = yaml.safe_load((tmp_path / "manifests" / obj.path).read_text())
        namespace = document["metadata"].get("namespace", "_cluster")
        assert obj.path == f"{namespace}/{document['kind'].lower()}-{document['metadata']['name']}.yaml"
    assert {"_cluster/namespace-crm-" + stack + ".yaml"} <= set(files)


def test_manifests_have_integers_where_kubernetes_wants_integers(run_stack: RunStack, tmp_path: Path) -> None:
    """The wire turns every number into a float; the render turns integral ones back."""
    write_render(run_stack("staging").recording, tmp_path)
    text = (tmp_path / "inventory.json").read_text()
    assert '"length": 64' in text and "64.0" not in text


def test_inventory_lists_every_resource_of_every_provider(run_stack: RunStack, tmp_path: Path) -> None:
    """inventory.json has every resource (providers, components, random, Kubernetes) with its parent."""
    run = run_stack("staging")
    write_render(run.recording, tmp_path)
    inventory = json.loads((tmp_path / "inventory.json").read_text())
    entries = inventory["resources"]
    assert [entry["urn"] for entry in entries] == [resource.urn for resource in run.recording.resources]
    types = {entry["type"] for entry in entries}
    assert {"pulumi:providers:kubernetes", "random:index/randomPassword:RandomPassword", "crm:core:Secrets"} <= types
    assert all({"type", "name", "parent", "inputs", "provider", "protect"} <= entry.keys() for entry in entries)
    secrets_component = next(entry["urn"] for entry in entries if entry["type"] == "crm:core:Secrets")
    assert all(entry["parent"] == secrets_component for entry in entries if entry["type"].startswith("random:"))
    assert inventory["outputs"]["grafanaAdminPassword"] == SECRET_MARKER


def test_secret_data_keeps_its_keys_and_hides_its_values(run_stack: RunStack, tmp_path: Path) -> None:
    """A masked Secret keeps its keys, so it still validates, and hides every value."""
    write_render(run_stack("staging").recording, tmp_path)
    secret = yaml.safe_load((tmp_path / "manifests/crm-staging/secret-crm-database-owner.yaml").read_text())
    assert secret["stringData"] == {"username": SECRET_MARKER, "password": SECRET_MARKER}


def test_summary_counts_resources_and_shows_quota_per_namespace(run_stack: RunStack, tmp_path: Path) -> None:
    """summary.md counts resources by type and shows compute and quota per namespace."""
    run = run_stack("production")
    write_render(run.recording, tmp_path)
    summary = (tmp_path / "summary.md").read_text()
    assert f"{len(run.recording.resources)} resources." in summary
    assert f"| `kubernetes:core/v1:Secret` | {len(run.kind('Secret'))} |" in summary
    # web 4-20, worker 2-10, frontend 2-6, beat 1, migration Job 1, backup CronJobs and Job 3,
    # Redis 2 x 3 servers and 2 x 2 proxies, the Celery exporter 1 (the operator's PostgreSQL pods are not
    # pod templates here).
    assert "| crm-production | 24-52 |" in summary
    quota = PRODUCTION.quota
    assert (
        f"{quota.cpu_requests}/{quota.cpu_limits}, {quota.memory_requests}/{quota.memory_limits}, {quota.pods} |"
        in summary
    )
    assert "| smtpPassword | placeholder" in summary
    assert "| `ghcr.io/acme/crm-backend` | `2.4.1` |" in summary


def test_summary_shows_staging_and_production_sizes_side_by_side(run_stack: RunStack, tmp_path: Path) -> None:
    """The summary's size table has a column per environment, this stack marked, HPA ranges spelled out."""
    write_render(run_stack("staging").recording, tmp_path)
    summary = (tmp_path / "summary.md").read_text()
    assert "| | dev | **staging** (this stack) | production |" in summary
    web_row = next(line for line in summary.splitlines() if line.startswith("| web |"))
    assert "HPA 2-4 (CPU 70 %, memory 80 %)" in web_row
    assert "HPA 4-20 (CPU 70 %, memory 80 %)" in web_row
    assert "| beat | 1 replica;" in summary


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("ghcr.io/acme/crm:1.4.2", ("ghcr.io/acme/crm", "1.4.2")),
        ("registry.local:5000/crm", ("registry.local:5000/crm", "(none: latest)")),
        ("postgres@sha256:abc", ("postgres", "sha256:abc")),
    ],
)
def test_image_references_split_into_repository_and_tag(reference: str, expected: tuple[str, str]) -> None:
    """Image references split into repository and tag, digests included, a missing tag flagged."""
    assert split_image(reference) == expected


def test_rendering_twice_gives_byte_identical_output(tmp_path: Path) -> None:
    """Two fresh interpreters with different hash seeds write the same bytes."""
    first, second = tmp_path / "first", tmp_path / "second"
    assert render_cli("--stack", "production", "--out", str(first), hash_seed="1").returncode == 0
    assert render_cli("--stack", "production", "--out", str(second), hash_seed="2").returncode == 0
    assert tree(first) == tree(second)
    assert len(tree(first)) > 10


def test_render_says_what_it_did_and_where(tmp_path: Path) -> None:
    """The render prints what it rendered, which secrets are placeholders, and where it wrote."""
    result = render_cli("--stack", "staging", "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert "Rendered stack staging offline from Pulumi.staging.yaml" in result.stdout
    assert "placeholders: registryPassword, smtpPassword" in result.stdout
    written = len(list((tmp_path / "out" / "manifests").rglob("*.yaml")))
    assert f"Wrote {os.path.relpath(tmp_path / 'out', PROJECT_DIR)}/: manifests/ ({written} files)" in result.stdout
    assert (tmp_path / "out" / "summary.md").exists()
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--stack", "staging", "--config", "smtpPort=70000"], 'crm-platform:smtpPort = "70000": out of range'),
        (["--stack", "qa"], "unknown stack 'qa'"),
        (
            ["--stack", "staging", "--secrets-file", "/nonexistent/secrets.yaml"],
            "cannot read /nonexistent/secrets.yaml",
        ),
        (["--stack", "staging", "--config", "egressCidrs=10.0.0.1"], "crm-platform:egressCidrs"),
    ],
)
def test_errors_are_one_line_without_a_traceback(arguments: list[str], message: str, tmp_path: Path) -> None:
    """Unusable input exits 2 with one line on stderr and writes nothing."""
    result = render_cli(*arguments, "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_render_never_deletes_a_directory_it_did_not_write(tmp_path: Path) -> None:
    """--out pointing at someone's directory is refused; an earlier render is replaced."""
    (tmp_path / "notes.txt").write_text("keep me")
    result = render_cli("--stack", "dev", "--out", str(tmp_path))
    assert result.returncode == 2
    assert "refusing to replace" in result.stderr
    assert (tmp_path / "notes.txt").read_text() == "keep me"
    out = tmp_path / "render"
    assert render_cli("--stack", "dev", "--out", str(out)).returncode == 0
    (out / "stale.yaml").write_text("from an earlier render")
    assert render_cli("--stack", "dev", "--out", str(out)).returncode == 0
    assert not (out / "stale.yaml").exists()


def test_a_bad_config_declares_no_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings are validated before anything, even the provider, is declared."""
    declared: list[str] = []
    original = RecordingMocks.new_resource

    def spy(self: RecordingMocks, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        declared.append(args.name)
        return original(self, args)

    monkeypatch.setattr(RecordingMocks, "new_resource", spy)
    config = load_stack_config(PROJECT_DIR, "staging")
    bad = dataclasses.replace(config, values={**config.values, "crm-platform:smtpPort": "0"})
    with pytest.raises(SettingsError):
        run_program(bad)
    assert declared == []
    run_program(config)
    assert declared, "the spy sees declarations when the config is good"


@pytest.mark.parametrize("name", ["production", "dev", "staging-tenants", "staging-asgi-canary"])
def test_libyaml_writes_the_same_bytes_as_the_python_emitter(
    name: str, run_stack: RunStack, run_feature: RunFeature
) -> None:
    """The render writes with libyaml's emitter (five times faster) where PyYAML has it, and must not differ by a
    byte from the pure-Python emitter a machine without libyaml would use: every object of a stack and of the
    feature runs (dashboards' JSON, scripts, multi-line strings) is compared."""
    assert hasattr(yaml, "CSafeDumper"), "PyYAML without libyaml: the render falls back to the Python emitter"
    assert issubclass(offline_render._ManifestDumper, yaml.CSafeDumper)

    class PythonEmitter(yaml.SafeDumper):
        pass

    PythonEmitter.add_representer(str, offline_render._represent_string)
    run = run_feature(name) if name in FEATURE_RUNS else run_stack(name)
    documents = [obj.document for obj in run.objects]
    assert len(documents) > 50
    for document in documents:
        expected = yaml.dump(document, Dumper=PythonEmitter, sort_keys=False, default_flow_style=False, width=120)
        assert offline_render.dump_yaml(document) == expected, document["metadata"]["name"]
