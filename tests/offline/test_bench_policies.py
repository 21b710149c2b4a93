"""The policy benchmark measures what it says: each child's own peak memory, and inputs of the promised shape."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from offline.bench import Command, measure
from offline.bench_policies import RENDER_COPIES, write_render_copies, write_small_pods


def test_a_child_reports_its_own_peak_memory_not_its_parents() -> None:
    """A child that allocates 64 MiB under a parent holding 256 MiB: the sample shows the child's peak (at least its
    64 MiB, far below the parent's), and an exit status outside the accepted ones is an error."""
    parent_ballast = bytearray(256 * 1024 * 1024)
    allocate = "import sys; block = bytearray(64 * 1024 * 1024); sys.exit(1)"
    sample = measure(Command([sys.executable, "-c", allocate], accepted_exit_codes=frozenset({1})))
    assert 64 <= sample.peak_mb < 160, sample
    assert len(parent_ballast) == 256 * 1024 * 1024
    try:
        measure([sys.executable, "-c", allocate])
    except RuntimeError as error:
        assert "failed with exit status 1" in str(error)
    else:
        raise AssertionError("exit status 1 was accepted without being listed")


def documents(directory: Path) -> list[Any]:
    return [yaml.safe_load(path.read_text(encoding="utf-8")) for path in sorted(directory.rglob("*.yaml"))]


def test_small_pods_are_one_file_each_and_every_tenth_privileged(tmp_path: Path) -> None:
    """The Pod input: one Pod per file, distinct names, every tenth privileged."""
    assert write_small_pods(tmp_path, 40) == 40
    pods = documents(tmp_path)
    assert len(pods) == 40 and {pod["kind"] for pod in pods} == {"Pod"}
    assert len({(pod["metadata"]["namespace"], pod["metadata"]["name"]) for pod in pods}) == 40
    privileged = [pod for pod in pods if pod["spec"]["containers"][0]["securityContext"]["privileged"]]
    assert len(privileged) == 4


def test_render_copies_are_distinct_objects_of_every_rendered_kind(tmp_path: Path) -> None:
    """The render input: ten copies of the production render whose objects are all distinct (namespaces and
    cluster-scoped names renamed per copy), with every kind of the render in each copy."""
    count = write_render_copies(tmp_path / "copies", tmp_path)
    objects = documents(tmp_path / "copies")
    assert len(objects) == count
    keys = Counter((obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"]) for obj in objects)
    assert max(keys.values()) == 1
    kinds = Counter(obj["kind"] for obj in objects)
    assert all(number % RENDER_COPIES == 0 for number in kinds.values()), kinds
    assert {"Deployment", "StatefulSet", "CronJob", "NetworkPolicy", "Namespace", "Cluster"} <= set(kinds)
