"""Reading manifests: the fast YAML construction gives exactly what PyYAML's safe loader gives, with libyaml and
without it, and start lines are where each document and List item begins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from offline.schemas import SHARED_DIR
from policies import manifests
from policies.manifests import read_manifests

TRICKY_YAML = """\
anchors:
  base: &base {cpu: 100m, memory: 64Mi}
  merged:
    <<: *base
    memory: 128Mi
  shared: [*base, *base]
scalars:
  booleans: [yes, No, TRUE, off, On, y, n]
  nulls: [~, null, Null, ]
  empty:
  integers: [0, 7, -5, +5, 010, 0o17, 0x1F, 1_000, "12", 1:30, 0b101]
  floats: [1.5, -0.0, .inf, -.Inf, .nan, 6.02e+23, 1_000.5]
  dates: [2026-08-01, 2026-08-01T12:30:00Z, "2026-08-01"]
  tagged: [!!str 123, !!int "42", !!float "1", !!binary aGVsbG8=]
  strings: ['quoted', "double", plain text, "multi\\nline"]
  literal: |
    literal
    block
  folded: >-
    folded
    text
  unicode: "sn\\u00f6"
set: !!set {a, b}
omap: !!omap [{a: 1}, {b: 2}]
keys:
  1: integer key
  true: boolean key
  ~: null key
  2026-08-01: date key
"""


WITHOUT_ANCHORS = """\
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}, data: {ratio: 0.5, when: 2026-08-01, quoted: "0.5"}}
- scalar item
-
  - nested
  - [list]
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: b
  data:
    flags: [yes, off, ~, 0x1F, 010, 1:30, -3, .inf]
    "quoted key": !!str 42
    ? explicit key
    : explicit value
    empty:
other: [not, items]
items2: [x]
---
just a scalar
---
- a
- root
- sequence
---
---
kind: List
items: []
items: [{last: wins}, {second: one}]
"""
"""No anchors, aliases, merge keys or collection tags: read from parser events without composing nodes."""


def safe_documents(text: str) -> list[Any]:
    return [document for document in yaml.safe_load_all(text)]


def fast_documents(text: str) -> list[Any]:
    return [data for data, _, _ in manifests._yaml_documents(text)]


@pytest.fixture(params=["libyaml", "pure-python"])
def loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test with libyaml's parser and with PyYAML's own, as on a PyYAML built without libyaml."""
    if request.param == "pure-python":
        monkeypatch.setattr(manifests, "_Loader", yaml.SafeLoader)
    else:
        assert yaml.__with_libyaml__, "PyYAML was installed without libyaml; pin a wheel that has it"
        assert manifests._Loader is yaml.CSafeLoader
    return str(request.param)


def test_tricky_yaml_constructs_exactly_as_the_safe_loader(loader: str) -> None:
    """Anchors, merge keys, YAML 1.1 scalars (octal, sexagesimal, yes/no), timestamps, explicit tags, sets, omaps
    and non-string keys come out equal, in value and in type, to yaml.safe_load_all's."""
    expected, found = safe_documents(TRICKY_YAML), fast_documents(TRICKY_YAML)
    assert found == expected
    assert repr(found) == repr(expected)  # types too: 1 vs True vs 1.0, date vs str


def test_event_path_builds_what_the_composer_builds(loader: str) -> None:
    """Without anchors or merge keys the documents come from parser events: the same values, types, document lines
    and List item lines as composing nodes gives, and as yaml.safe_load_all gives."""
    from_events = manifests._documents_from_events(WITHOUT_ANCHORS)
    from_nodes = list(manifests._documents_from_nodes(WITHOUT_ANCHORS))
    assert repr(from_events) == repr(from_nodes)
    assert [data for data, _, _ in from_events] == safe_documents(WITHOUT_ANCHORS)
    assert [(line, items) for _, line, items in from_events] == [
        (1, [4, 5, 7, 9]),  # the third item is the nested sequence that begins below its dash
        (22, []),
        (24, []),
        (28, []),  # an empty document is a null at the next document marker
        (29, [31, 31]),  # the last `items` key wins
    ]


@pytest.mark.parametrize(
    "text",
    [TRICKY_YAML, "a: &x 1\nb: *x\n", "base: &b {x: 1}\nm: {<<: *b}\n", "!!set {a, b}\n", "? [a]\n: b\n"],
    ids=["tricky", "alias", "merge", "tagged-collection", "collection-key"],
)
def test_what_needs_the_composer_is_handed_to_it(text: str, loader: str) -> None:
    """Anchors, aliases, merge keys, tagged collections and collection keys leave the event path for composed nodes,
    so they mean what PyYAML makes of them (or fail as it fails)."""
    with pytest.raises(manifests._NeedsComposerError):
        manifests._documents_from_events(text)
    try:
        expected: object = safe_documents(text)
    except yaml.YAMLError as error:
        expected = type(error)
    try:
        found: object = fast_documents(text)
    except yaml.YAMLError as error:
        found = type(error)
    assert repr(found) == repr(expected)


def test_aliases_share_one_object_and_a_recursive_alias_ends(loader: str) -> None:
    """An alias is the same object as its anchor (no blow-up of nested aliases), and a self-referencing alias gives
    a self-referencing value rather than endless recursion."""
    [shared] = fast_documents("a: &x [1, 2]\nb: *x\n")
    assert shared["a"] is shared["b"]
    [recursive] = fast_documents("&loop {self: *loop}\n")
    assert recursive["self"] is recursive


def test_an_unhashable_key_is_a_yaml_error_of_the_file(tmp_path: Path, loader: str) -> None:
    """A mapping key that is a list is refused as PyYAML refuses it, and the file is skipped with the key's line."""
    (tmp_path / "bad.yaml").write_text("apiVersion: v1\nkind: ConfigMap\n? [a, b]\n: value\n", encoding="utf-8")
    result = read_manifests(tmp_path)
    assert result.objects == ()
    [skipped] = result.skipped
    assert skipped.reason.startswith("is not valid YAML (line 3, column ")


def test_upstream_fixtures_construct_alike(loader: str) -> None:
    """Every Pod Security fixture (real-world Kubernetes YAML) reads to what yaml.safe_load_all gives, and the event
    and node paths agree on it, lines included."""
    files = sorted((SHARED_DIR / "psa-testdata").rglob("*.yaml"))
    assert files, f"no fixtures under {SHARED_DIR / 'psa-testdata'}"
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert fast_documents(text) == safe_documents(text), path
        assert manifests._documents_from_events(text) == list(manifests._documents_from_nodes(text)), path


def test_document_and_item_lines(tmp_path: Path, loader: str) -> None:
    """Each document's line is its first key's (after `---` and comments), and each List item's its own."""
    (tmp_path / "objects.yaml").write_text(
        "# header\n---\n# a comment\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"
        "---\napiVersion: v1\nkind: List\nitems:\n"
        "- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: b}\n"
        "-\n  apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: c}\n",
        encoding="utf-8",
    )
    result = read_manifests(tmp_path)
    assert [(obj.origin, obj.line) for obj in result.objects] == [
        ("objects.yaml#1", 4),
        ("objects.yaml#2.items[0]", 11),
        ("objects.yaml#2.items[1]", 15),
    ]
