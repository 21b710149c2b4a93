"""Kubernetes objects read from manifest files, each with where its text begins: what `--manifests` checks.

A target is one file or a directory searched recursively for files named `*.yaml`, `*.yml` or `*.json`
in any letter case (`pod.YAML`, `x.JSON`); a file named as the target is read whatever its name
(as JSON when it ends in .json, as YAML otherwise). YAML files may hold several documents; a JSON
file holds one. A document is one object, or a list (`kind: List`, or a typed list such as `PodList`)
whose every item is an object of its own, with its own origin (file, document number, item index)
and start line. Items of a typed list may leave out apiVersion and kind, as the API server's list
responses do; they get the list's apiVersion and the kind the list's kind names.

What cannot be checked is not an error that stops the reading: a file that cannot be read, is not
valid YAML or JSON, or a document that is not a Kubernetes object (no apiVersion or kind, e.g. a
docker-compose.yml) becomes a `Skipped` entry naming the file and why, and every other file is still
read. No reason ever quotes the file's content: a manifest may hold a secret. An empty document (or a file
of comments only) holds nothing and is not reported.

YAML is parsed by libyaml (PyYAML's CSafeLoader; PyYAML's pure-Python SafeLoader where PyYAML was
built without it), and plain dicts and lists are built here from the parser's events rather than by
PyYAML's composer and generic constructor, which cost more than the parsing. Values mean exactly what
yaml.safe_load makes of them (YAML 1.1 booleans, integers, nulls, timestamps): common scalars are
built here, any other one by PyYAML's constructor, and a text with anchors, aliases, merge keys or
tagged collections goes through PyYAML's composer whole (tests/policies/test_manifests.py).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

MANIFEST_SUFFIXES = frozenset({".yaml", ".yml", ".json"})
"""File name endings searched for in a directory, compared in lower case."""

_Loader: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's parser where PyYAML has it (its wheels do), PyYAML's pure-Python one otherwise."""

_RESOLVE_CACHE_LIMIT = 64
"""Plain scalars up to this length have their tag resolution remembered: keys and short values recur in every
object, and resolving tries a regular expression or two each time."""

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
# YAML 1.1 booleans as PyYAML's resolver tags them (its SafeConstructor.bool_values).
_BOOLEANS = {"yes": True, "no": False, "true": True, "false": False, "on": True, "off": False}


class ManifestTargetError(Exception):
    """The target to read does not exist; the message names it."""


@dataclass(frozen=True)
class ManifestObject:
    """One Kubernetes object and where it came from."""

    document: dict[str, Any]
    file: Path
    """The file, as found: the target, or the target directory joined with the file's path in it."""
    shown: str
    """The file as reports name it: relative to the target directory, or the file name of a file target."""
    document_number: int
    """1-based position of the document in the file."""
    item: int | None
    """0-based position in a List's items; None for an object that is a document of its own."""
    line: int
    """1-based line where the object's text begins: its first key in YAML, its opening brace in JSON."""

    @property
    def origin(self) -> str:
        """`<file>#<document>`, or `<file>#<document>.items[<index>]` for a List item: unique per object."""
        document = f"{self.shown}#{self.document_number}"
        return document if self.item is None else f"{document}.items[{self.item}]"


@dataclass(frozen=True)
class Skipped:
    """A file, document or List item that is not a Kubernetes object, and why (never quoting its content)."""

    file: Path
    reason: str
    line: int | None = None

    def __str__(self) -> str:
        return f"skipped {self.file}: {self.reason}"


@dataclass(frozen=True)
class Manifests:
    """Everything read from a target: the objects in file order, and what was skipped."""

    objects: tuple[ManifestObject, ...]
    skipped: tuple[Skipped, ...]
    files: int
    """How many files were read (or tried)."""


def manifest_files(target: Path) -> list[Path]:
    """The files `read_manifests` reads: `target` itself, or every manifest file under it in sorted order."""
    if target.is_file():
        return [target]
    if not target.is_dir():
        raise ManifestTargetError(f"manifest path {target} does not exist (give a directory or a file)")
    files: list[Path] = []
    # os.walk rather than Path.rglob: a few times faster on thousands of files, and no symlinked directory loops.
    for directory, _, names in os.walk(target):
        candidates = (Path(directory, name) for name in names)
        files.extend(path for path in candidates if path.suffix.lower() in MANIFEST_SUFFIXES)
    # Sorted as paths (directory by directory), so a report reads in the order a file browser lists the tree.
    return sorted(files)


def read_manifests(target: Path) -> Manifests:
    """Every Kubernetes object in `target` (a file or a directory), and everything skipped, in file order."""
    files = manifest_files(target)
    objects: list[ManifestObject] = []
    skipped: list[Skipped] = []
    for path in files:
        shown = path.name if path == target else path.relative_to(target).as_posix()
        for entry in _file_objects(path, shown):
            if isinstance(entry, ManifestObject):
                objects.append(entry)
            else:
                skipped.append(entry)
    return Manifests(objects=tuple(objects), skipped=tuple(skipped), files=len(files))


# --- one file -----------------------------------------------------------------------------------

_Parsed = tuple[object, int, list[int]]
"""A parsed document: its data, the line it begins on, and the line each List item begins on."""


def _file_objects(path: Path, shown: str) -> Iterator[ManifestObject | Skipped]:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as error:
        yield Skipped(path, f"cannot be read ({error.strerror})")
        return
    except UnicodeDecodeError:
        yield Skipped(path, "is not UTF-8 text")
        return
    is_json = path.suffix.lower() == ".json"
    try:
        documents = [_json_document(text)] if is_json else list(_yaml_documents(text))
    except json.JSONDecodeError as error:
        yield Skipped(path, f"is not valid JSON (line {error.lineno}, column {error.colno})", error.lineno)
        return
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        yield Skipped(path, f"is not valid YAML{where}", mark.line + 1 if mark is not None else None)
        return
    except RecursionError:
        yield Skipped(path, "nests too deeply to be a Kubernetes object")
        return
    for number, (data, line, item_lines) in enumerate(documents, start=1):
        yield from _document_objects(path, shown, number, data, line, item_lines)


def _document_objects(
    path: Path, shown: str, number: int, data: object, line: int, item_lines: list[int]
) -> Iterator[ManifestObject | Skipped]:
    if data is None:
        return
    where = f"document {number}"
    if not isinstance(data, dict):
        yield Skipped(path, f"{where} is a {_type_name(data)}, not a Kubernetes object (a mapping)", line)
        return
    kind = data.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and "items" in data:
        items = data["items"]
        if not isinstance(items, list):
            yield Skipped(path, f"{where} is a {kind} whose items is a {_type_name(items)}, not a list", line)
            return
        item_kind = kind.removesuffix("List") if kind != "List" else None
        for index, item in enumerate(items):
            item_line = item_lines[index] if index < len(item_lines) else line
            item_where = f"{where}, item {index}"
            if not isinstance(item, dict):
                yield Skipped(path, f"{item_where} is a {_type_name(item)}, not a Kubernetes object", item_line)
                continue
            if item_kind is not None and "kind" not in item and "apiVersion" not in item:
                # A typed list (PodList) as the API serves it: its items are of its kind and version.
                item = {"apiVersion": data.get("apiVersion"), "kind": item_kind, **item}
            missing = _missing_type_fields(item)
            if missing:
                yield Skipped(path, f"{item_where} has no {missing}", item_line)
                continue
            yield ManifestObject(item, path, shown, number, index, item_line)
        return
    missing = _missing_type_fields(data)
    if missing:
        yield Skipped(path, f"{where} has no {missing}, so it is not a Kubernetes object", line)
        return
    yield ManifestObject(data, path, shown, number, None, line)


def _missing_type_fields(document: Mapping[str, Any]) -> str:
    """ "apiVersion", "kind", "apiVersion and kind" (what an object lacks to be a Kubernetes object), or ""."""
    missing = [key for key in ("apiVersion", "kind") if not isinstance(document.get(key), str) or not document[key]]
    return " and ".join(missing)


def _type_name(value: object) -> str:
    """What a YAML/JSON value is, in YAML's words, without showing it."""
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


# --- JSON -----------------------------------------------------------------------------------------

_JSON = json.JSONDecoder()
_WHITESPACE = " \t\n\r"


def _json_document(text: str) -> _Parsed:
    """The one JSON value of a file, the line it begins on, and (for an object with `items`) where each item begins."""
    data = json.loads(text)
    start = len(text) - len(text.lstrip(_WHITESPACE))
    line = text.count("\n", 0, start) + 1
    item_lines: list[int] = []
    if isinstance(data, dict) and isinstance(data.get("items"), list):
        item_lines = [text.count("\n", 0, offset) + 1 for offset in _json_item_offsets(text, start)]
    return data, line, item_lines


def _skip_whitespace(text: str, index: int) -> int:
    while index < len(text) and text[index] in _WHITESPACE:
        index += 1
    return index


def _json_item_offsets(text: str, start: int) -> list[int]:
    """Offsets where each element of the top-level object's last `items` array begins (json.loads keeps the last
    of duplicate keys too). The text is valid JSON: json.loads has read it."""
    offsets: list[int] = []
    index = _skip_whitespace(text, start + 1)  # past the top-level "{"
    while text[index] != "}":
        key, index = _JSON.raw_decode(text, index)
        index = _skip_whitespace(text, _skip_whitespace(text, index) + 1)  # past ":"
        if key == "items" and text[index] == "[":
            offsets = []
            index = _skip_whitespace(text, index + 1)
            while text[index] != "]":
                offsets.append(index)
                _, index = _JSON.raw_decode(text, index)
                index = _skip_whitespace(text, index)
                if text[index] == ",":
                    index = _skip_whitespace(text, index + 1)
            index += 1
        else:
            _, index = _JSON.raw_decode(text, index)
        index = _skip_whitespace(text, index)
        if text[index] == ",":
            index = _skip_whitespace(text, index + 1)
    return offsets


# --- YAML -----------------------------------------------------------------------------------------


def _yaml_documents(text: str) -> list[_Parsed]:
    """Every document of a YAML text: from the parser's events where it can be, else from composed nodes."""
    try:
        return _documents_from_events(text)
    except _NeedsComposerError:
        return list(_documents_from_nodes(text))


class _NeedsComposerError(Exception):
    """The text uses what only the composer and the full constructor handle: anchors, aliases, explicit collection
    tags, merge keys, a collection as a mapping key."""


class _Frame:
    """A mapping or sequence being built from events."""

    __slots__ = ("container", "has_key", "is_mapping", "items_lines", "key")

    def __init__(self, container: dict[Any, Any] | list[Any], is_mapping: bool) -> None:
        self.container = container
        self.is_mapping = is_mapping
        self.key: Any = None
        self.has_key = False
        self.items_lines: list[int] | None = None


def _documents_from_events(text: str) -> list[_Parsed]:
    """Documents built straight from the parser's events, without composing nodes: the parser makes one event per
    node either way, and composing adds three Python calls per node. Scalars resolve as the composer resolves them
    (remembered per value) and construct as `_build` constructs them; whatever would need the composer raises
    _NeedsComposerError."""
    loader = _Loader(text)
    next_event: Callable[[], Any] = loader.get_event
    documents: list[_Parsed] = []
    stack: list[_Frame] = []
    document_line = 0
    item_lines: list[int] = []
    try:
        while True:
            event = next_event()
            event_type = type(event)
            if event_type is ScalarEvent:
                if event.anchor is not None:
                    raise _NeedsComposerError
                value = _event_scalar(loader, event)
            elif event_type is MappingStartEvent or event_type is SequenceStartEvent:
                if event.anchor is not None or event.tag not in (None, "!"):
                    raise _NeedsComposerError
                if not stack:
                    document_line = event.start_mark.line + 1
                elif stack[-1].is_mapping and not stack[-1].has_key:
                    raise _NeedsComposerError  # a collection as a key: the constructor refuses it, with its line
                else:
                    _note_item_line(stack, event)
                is_mapping = event_type is MappingStartEvent
                stack.append(_Frame({} if is_mapping else [], is_mapping))
                continue
            elif event_type is MappingEndEvent or event_type is SequenceEndEvent:
                frame = stack.pop()
                value = frame.container
                if not stack:
                    item_lines = (frame.items_lines or []) if frame.is_mapping else []
            elif event_type is AliasEvent:
                raise _NeedsComposerError
            elif event_type is StreamEndEvent:
                break
            else:  # stream and document starts and ends
                continue
            if not stack:
                if event_type is ScalarEvent:
                    document_line, item_lines = event.start_mark.line + 1, []
                documents.append((value, document_line, item_lines))
                continue
            frame = stack[-1]
            if frame.is_mapping:
                if frame.has_key:
                    frame.container[frame.key] = value
                    frame.has_key = False
                else:
                    frame.key, frame.has_key = value, True
                    if len(stack) == 1 and value == "items":
                        # The root's `items`: its elements' lines, the last such key winning as in the constructor.
                        frame.items_lines = []
            else:
                if event_type is ScalarEvent:
                    _note_item_line(stack, event)
                frame.container.append(value)  # type: ignore[union-attr]
    finally:
        loader.dispose()
    return documents


def _note_item_line(stack: list[_Frame], event: Any) -> None:
    """Record where an element of the root's `items` sequence begins, when `event` starts one."""
    if len(stack) == 2 and not stack[1].is_mapping:
        root = stack[0]
        if root.items_lines is not None and root.has_key and root.key == "items":
            root.items_lines.append(event.start_mark.line + 1)


_RESOLVED: dict[tuple[str, tuple[bool, bool]], str] = {}
_resolve: Callable[..., str] = Resolver().resolve


def _event_scalar(loader: yaml.SafeLoader | yaml.CSafeLoader, event: Any) -> Any:
    """A scalar event's value as the composer and SafeConstructor would make it."""
    value: str = event.value
    tag = event.tag
    if tag is None or tag == "!":
        implicit: tuple[bool, bool] = event.implicit
        if not implicit[0]:
            tag = _resolve(ScalarNode, value, implicit)
        elif len(value) <= _RESOLVE_CACHE_LIMIT:
            tag = _RESOLVED.get((value, implicit))
            if tag is None:
                tag = _RESOLVED[(value, implicit)] = _resolve(ScalarNode, value, implicit)
        else:
            tag = _resolve(ScalarNode, value, implicit)
    if tag == _STR:
        return value
    if tag == _NULL:
        return None
    if tag == _BOOL and value.lower() in _BOOLEANS:
        return _BOOLEANS[value.lower()]
    if tag == _INT and value.isdecimal() and value.isascii() and (value == "0" or value[0] != "0"):
        return int(value)
    if tag == _MERGE:
        raise _NeedsComposerError
    return loader.construct_object(ScalarNode(tag, value, event.start_mark, event.end_mark, event.style), deep=True)


def _documents_from_nodes(text: str) -> Iterator[_Parsed]:
    loader = _Loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:  # check_node said there is one
                yield _build(loader, node, {}), node.start_mark.line + 1, _item_lines(node)
    finally:
        loader.dispose()


def _item_lines(node: Node) -> list[int]:
    """Where each element of a mapping's `items` sequence begins (the last `items` key, as the constructor keeps)."""
    lines: list[int] = []
    if isinstance(node, MappingNode):
        for key, value in node.value:
            if isinstance(key, ScalarNode) and key.value == "items" and isinstance(value, SequenceNode):
                lines = [item.start_mark.line + 1 for item in value.value]
    return lines


def _build(loader: yaml.SafeLoader | yaml.CSafeLoader, node: Node, built: dict[int, Any]) -> Any:
    """The plain Python value of a composed node, as SafeLoader would construct it.

    Mappings, sequences, strings, booleans, nulls and plain decimal integers are built here; every other
    tag (floats, timestamps, binary, sets, merge keys, explicit tags) goes to PyYAML's own constructor.
    `built` holds each collection node's value, so aliases share one object and a recursive alias ends.
    """
    node_type = type(node)
    if node_type is ScalarNode:
        tag, value = node.tag, node.value
        if tag == _STR:
            return value
        if tag == _NULL:
            return None
        if tag == _BOOL and value.lower() in _BOOLEANS:
            return _BOOLEANS[value.lower()]
        if tag == _INT and value.isdecimal() and value.isascii() and (value == "0" or value[0] != "0"):
            return int(value)
        return loader.construct_object(node, deep=True)
    known = built.get(id(node))
    if known is not None:
        return known
    if node_type is MappingNode and node.tag == _MAP:
        mapping: dict[Any, Any] = {}
        built[id(node)] = mapping
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                del built[id(node)]
                return loader.construct_object(node, deep=True)
            key = _build(loader, key_node, built)
            value = _build(loader, value_node, built)
            try:
                mapping[key] = value
            except TypeError:  # an unhashable key: PyYAML's constructor says where, as a YAMLError
                del built[id(node)]
                return loader.construct_object(node, deep=True)
        return mapping
    if node_type is SequenceNode and node.tag == _SEQ:
        sequence: list[Any] = []
        built[id(node)] = sequence
        sequence.extend(_build(loader, item, built) for item in node.value)
        return sequence
    return loader.construct_object(node, deep=True)
