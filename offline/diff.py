"""The render diff: what a change does to each stack's Kubernetes objects, base against head.

    python -m offline diff --base origin/main                      # the working tree against main
    python -m offline diff --base HEAD~1 --head HEAD --stack production
    make diff BASE=origin/main [HEAD=<ref>] [STACK=production]

Each side is rendered with its own code: the base commit (and the head, when --head names
one) is checked out with `git worktree add` into a temporary directory and rendered there by
`python -m offline render`, run by this interpreter (one virtualenv for both sides); without
--head the working tree is rendered as it is, uncommitted changes included. The renders run
side by side, as many at a time as there are CPUs. Then the `manifests/` trees are compared
object by object, keyed by (apiVersion, kind, namespace, name), never by file name: a rename
is a removal and an addition, as it is for Kubernetes (Pulumi replaces the object).

Redaction: the render already masks every value the program marked secret ("[secret]");
beyond that every value under a Secret's `data` and `stringData` is replaced, with
"[redacted, changed]" on the head side where the two sides differ, so a reviewer sees which
key changed and never a value (nor a digest of one, which a short secret would not survive).

Output, into --out (default build/diff):
  render-diff.md    everything: a summary of added, changed and removed objects per stack
                    and kind, then one collapsed <details> section per object with a unified diff
  comment.md        the same capped at --max-chars (default 60,000, below the 65,536 characters
                    GitHub takes in a comment): the summaries always, then as many object
                    sections as fit, then how many were left out and where the whole diff is
  step-summary.md   the same capped at 1 MiB, GitHub's limit for a job summary
Every report starts with REPORT_MARKER, by which a workflow finds its earlier comment to edit.

Stacks: every Pulumi.<stack>.yaml at either side unless --stack names some (a review stack,
pr-<number>, exists wherever staging's file does). A stack that does not exist at the base
is not an error: a pull request may add one. Its objects all count as added, and one line says
so (in the report and on stderr); likewise a stack the head removes. A stack at neither side
is unusable input.

Exit status: 0 the reports were written (changes or none); 2 unusable input (an unknown ref,
a stack at neither side, a side whose render fails, a bad --max-chars), one line on stderr.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import difflib
import html
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from kube.stack_names import is_review_stack

PROJECT_DIR = Path(__file__).resolve().parent.parent

REPORT_MARKER = "<!-- crm-platform:render-diff -->"
"""First line of every report; scripts/sticky-comment.sh edits the comment that starts with it."""

SECRET_MARKER = "[secret]"
"""What the render writes for every value the program marked secret (stacks.errors.SECRET_MARKER)."""
REDACTED = "[redacted]"
REDACTED_CHANGED = "[redacted, changed]"

GITHUB_COMMENT_LIMIT = 65_536
"""Characters GitHub accepts in an issue or pull-request comment."""
DEFAULT_MAX_CHARS = 60_000
"""Below the comment limit, with room for what a workflow may add around the report."""
MIN_MAX_CHARS = 2_000
"""Room for the header, a stack's summary and the note that points to the whole diff."""
STEP_SUMMARY_LIMIT_BYTES = 1_024 * 1_024
"""GitHub's limit for one step's job summary ($GITHUB_STEP_SUMMARY), in bytes."""

RENDER_TIMEOUT_SECONDS = 900
CONTEXT_LINES = 3
STACK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

ObjectKey = tuple[str, str, str, str]
"""(apiVersion, kind, namespace, name); namespace "" for cluster-scoped objects."""
Status = Literal["added", "changed", "removed"]
STATUSES: tuple[Status, ...] = ("added", "changed", "removed")

EXIT_WRITTEN = 0
EXIT_UNUSABLE_INPUT = 2


class DiffInputError(Exception):
    """The diff cannot be made from what was asked; the message says what and how to fix it."""


# --- reading a render ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderedObject:
    key: ObjectKey
    path: str
    """Relative to the manifests directory."""
    document: dict[str, Any]
    text: str
    """The file as the render wrote it."""


def object_key(document: Mapping[str, Any]) -> ObjectKey:
    metadata = document.get("metadata") or {}
    return (
        str(document.get("apiVersion", "")),
        str(document.get("kind", "")),
        str(metadata.get("namespace") or ""),
        str(metadata.get("name", "")),
    )


def read_manifests(manifests: Path) -> dict[ObjectKey, RenderedObject]:
    """Every object of a render's manifests directory (one object per file, as offline/render.py writes)."""
    loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    objects: dict[ObjectKey, RenderedObject] = {}
    for path in sorted(manifests.rglob("*.yaml")):
        relative = path.relative_to(manifests).as_posix()
        text = path.read_text(encoding="utf-8")
        try:
            document = yaml.load(text, Loader=loader)
        except yaml.YAMLError:
            raise DiffInputError(f"{path} is not valid YAML; is {manifests} a render's manifests directory?") from None
        if not isinstance(document, dict) or "kind" not in document:
            raise DiffInputError(f"{path} holds no Kubernetes object; is {manifests} a render's manifests directory?")
        key = object_key(document)
        if key in objects:
            raise DiffInputError(f"{path} and {objects[key].path} hold the same object {describe_key(key)}")
        objects[key] = RenderedObject(key=key, path=relative, document=document, text=text)
    return objects


def describe_key(key: ObjectKey) -> str:
    api_version, kind, namespace, name = key
    return f"{kind} {namespace}/{name} ({api_version})" if namespace else f"{kind} {name} ({api_version})"


# --- redaction ----------------------------------------------------------------------------------

_SECRET_VALUE_FIELDS = ("data", "stringData")


def _is_secret_object(document: Mapping[str, Any]) -> bool:
    return document.get("kind") == "Secret"


def _redacted(document: Mapping[str, Any] | None, other: Mapping[str, Any] | None, *, mark_changes: bool) -> Any:
    """`document` with each Secret value replaced; with mark_changes, the ones that differ from `other`'s say so."""
    if document is None or not _is_secret_object(document):
        return None if document is None else dict(document)
    result = dict(document)
    for field in _SECRET_VALUE_FIELDS:
        values = document.get(field)
        if values is None:
            continue
        if not isinstance(values, dict):  # not a Kubernetes Secret's shape: hide it whole
            result[field] = REDACTED
            continue
        others = (other or {}).get(field)
        others = others if isinstance(others, dict) else {}
        result[field] = {
            key: REDACTED_CHANGED if mark_changes and key in others and others[key] != value else REDACTED
            for key, value in values.items()
        }
    return result


def redacted_pair(
    base: Mapping[str, Any] | None, head: Mapping[str, Any] | None
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Both sides with every Secret value replaced; the head's says which values differ from the base's."""
    return _redacted(base, head, mark_changes=False), _redacted(head, base, mark_changes=True)


class _Dumper(yaml.SafeDumper):
    """Block-style YAML with multi-line strings as literal blocks, as offline/render.py writes manifests."""


def _represent_string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _represent_string)


def _lines(rendered: RenderedObject | None, redacted: Mapping[str, Any] | None) -> list[str]:
    """The object's YAML lines: the render's own text, or the redacted document for a Secret."""
    if rendered is None or redacted is None:
        return []
    if not _is_secret_object(rendered.document):
        return rendered.text.splitlines(keepends=True)
    text = yaml.dump(dict(redacted), Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120)
    return text.splitlines(keepends=True)


# --- comparing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectChange:
    status: Status
    key: ObjectKey
    unified_diff: str
    """Redacted: no Secret value and no masked value appears in it."""

    @property
    def kind(self) -> str:
        return self.key[1]


@dataclass(frozen=True)
class StackDiff:
    stack: str
    changes: tuple[ObjectChange, ...]
    note: str | None = None
    """Why a side had nothing to compare (the stack is new or removed), when that is so."""

    def count(self, status: Status, kind: str | None = None) -> int:
        return sum(1 for change in self.changes if change.status == status and kind in (None, change.kind))


def _side_name(key: ObjectKey, path: str | None) -> str:
    return path if path is not None else "/".join(part or "_cluster" for part in key)


def compare(
    stack: str,
    base: Mapping[ObjectKey, RenderedObject] | None,
    head: Mapping[ObjectKey, RenderedObject] | None,
    note: str | None = None,
) -> StackDiff:
    """Each object added, changed or removed between two renders of `stack` (None: the stack is absent there)."""
    base_objects, head_objects = base or {}, head or {}
    changes = []
    # Sections read by kind, then namespace and name, as the summary tables group them.
    for key in sorted(set(base_objects) | set(head_objects), key=lambda key: (key[1], key[2], key[3], key[0])):
        before, after = base_objects.get(key), head_objects.get(key)
        if before is not None and after is not None and before.document == after.document:
            continue
        status: Status = "added" if before is None else "removed" if after is None else "changed"
        base_document, head_document = redacted_pair(
            before.document if before else None, after.document if after else None
        )
        lines = difflib.unified_diff(
            _lines(before, base_document),
            _lines(after, head_document),
            fromfile="/dev/null" if before is None else f"base/{_side_name(key, before.path)}",
            tofile="/dev/null" if after is None else f"head/{_side_name(key, after.path)}",
            n=CONTEXT_LINES,
        )
        text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
        changes.append(ObjectChange(status=status, key=key, unified_diff=text))
    return StackDiff(stack=stack, changes=tuple(changes), note=note)


# --- the report ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sides:
    """How the report names the two sides."""

    base: str
    head: str


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks in `text`, so the text cannot close it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _summary_table(rows: Iterable[tuple[str, int, int, int]], first_column: str) -> list[str]:
    lines = [f"| {first_column} | added | changed | removed |", "|---|---:|---:|---:|"]
    lines += [f"| {name} | {added} | {changed} | {removed} |" for name, added, changed, removed in rows]
    return lines


def _stack_line(diff: StackDiff) -> str:
    if not diff.changes:
        return "no change"
    return ", ".join(f"{diff.count(status)} {status}" for status in STATUSES)


def header_lines(diffs: Sequence[StackDiff], sides: Sides) -> list[str]:
    lines = [
        REPORT_MARKER,
        "## Render diff",
        "",
        f"Base {sides.base} against head {sides.head}, rendered offline; objects are matched by apiVersion, "
        "kind, namespace and name. Secret data and masked values are redacted.",
        "",
    ]
    lines += _summary_table(
        ((f"`{diff.stack}`", diff.count("added"), diff.count("changed"), diff.count("removed")) for diff in diffs),
        "stack",
    )
    for diff in diffs:
        lines += ["", f"### `{diff.stack}`: {_stack_line(diff)}"]
        if diff.note:
            lines += ["", f"> {diff.note}"]
        if diff.changes:
            rows = (
                (f"`{kind}`", diff.count("added", kind), diff.count("changed", kind), diff.count("removed", kind))
                for kind in sorted({change.kind for change in diff.changes})
            )
            lines += ["", *_summary_table(rows, "kind")]
    return lines


def object_section(change: ObjectChange) -> str:
    api_version, kind, namespace, name = change.key
    where = f"{namespace}/{name}" if namespace else name
    fence = _fence(change.unified_diff)
    return (
        f"<details><summary>{change.status} <code>{html.escape(kind)}</code> {html.escape(where)} "
        f"({html.escape(api_version)})</summary>\n\n{fence}diff\n{change.unified_diff}{fence}\n\n</details>\n"
    )


def _stack_heading(stack: str) -> str:
    return f"\n#### `{stack}` objects\n\n"


def render_report(
    diffs: Sequence[StackDiff],
    sides: Sides,
    limit: int | None = None,
    *,
    measure: Any = len,
    full_diff: str = "render-diff.md",
) -> str:
    """The report; with `limit`, at most that long (by `measure`): summaries first, then the object sections
    that fit, then a note naming how many were left out and where `full_diff` is."""
    head = "\n".join(header_lines(diffs, sides)) + "\n"
    blocks: list[tuple[str, str]] = []  # (stack heading or "", section)
    for diff in diffs:
        for index, change in enumerate(diff.changes):
            blocks.append((_stack_heading(diff.stack) if index == 0 else "", object_section(change)))
    total = len(blocks)

    def omitted_note(left_out: int) -> str:
        return (
            f"\n**{left_out} of {total} object diffs are not shown here: the report would exceed "
            f"{limit:,} characters.** The whole diff: {full_diff}.\n"
        )

    if limit is None or measure(head + "".join(heading + section for heading, section in blocks)) <= limit:
        return head + "".join(heading + section for heading, section in blocks)

    # Reserve room for the note as it will read (its longest form: nothing shown).
    budget = limit - measure(omitted_note(total))
    if measure(head) > budget:
        cut = _cut_to(head, budget - measure("\n…\n"), measure)
        return cut + "\n…\n" + omitted_note(total)
    # In order, each section that still fits; a long one left out does not hide the shorter ones after it.
    text, shown, length = head, 0, measure(head)
    pending_heading = ""
    for heading, section in blocks:
        pending_heading = heading or pending_heading
        addition = pending_heading + section
        size = measure(addition)
        if length + size > budget:
            continue
        text, shown, length, pending_heading = text + addition, shown + 1, length + size, ""
    return text + omitted_note(total - shown)


def _cut_to(text: str, budget: int, measure: Any) -> str:
    """The longest whole-line prefix of `text` within `budget`."""
    kept: list[str] = []
    for line in text.splitlines(keepends=True):
        if measure("".join(kept) + line) > budget:
            break
        kept.append(line)
    return "".join(kept)


def utf8_length(text: str) -> int:
    return len(text.encode("utf-8"))


# --- git and rendering ----------------------------------------------------------------------------


def _git(repository: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(repository), *arguments], capture_output=True, text=True, check=False, timeout=300
    )


def repository_root(directory: Path) -> Path:
    result = _git(directory, "rev-parse", "--show-toplevel")
    if result.returncode != 0:
        raise DiffInputError(f"{directory} is not in a git repository: the render diff compares commits")
    return Path(result.stdout.strip())


def resolve_commit(repository: Path, ref: str) -> str:
    """The commit `ref` names; DiffInputError when it names none."""
    result = _git(repository, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    if result.returncode != 0 or not result.stdout.strip():
        raise DiffInputError(
            f"unknown git ref {ref!r}: it names no commit in {repository} "
            "(fetch it first, e.g. `git fetch origin main`, or give a branch, tag or commit that exists)"
        )
    return result.stdout.strip()


@contextmanager
def checked_out(repository: Path, commit: str, scratch: Path) -> Iterator[Path]:
    """`commit` checked out in a temporary worktree of `repository`, removed afterwards."""
    tree = scratch / f"tree-{commit[:12]}"
    added = _git(repository, "worktree", "add", "--detach", "--quiet", str(tree), commit)
    if added.returncode != 0:
        last = (added.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise DiffInputError(f"cannot check out {commit[:12]} into a temporary worktree: {last}")
    try:
        yield tree
    finally:
        _git(repository, "worktree", "remove", "--force", str(tree))


def stacks_in(tree_files: Iterable[str]) -> set[str]:
    """Stack names from the Pulumi.<stack>.yaml files of a tree."""
    stacks = set()
    for name in tree_files:
        if name.startswith("Pulumi.") and name.endswith(".yaml") and name != "Pulumi.yaml":
            stacks.add(name[len("Pulumi.") : -len(".yaml")])
    return stacks


def stack_exists(stack: str, stacks: set[str]) -> bool:
    """Whether a tree with these stack files can render `stack` (review stacks start from staging's file)."""
    return stack in stacks or (is_review_stack(stack) and "staging" in stacks)


@dataclass(frozen=True)
class Side:
    """One side of the diff: where its code is and how the report names it."""

    role: Literal["base", "head"]
    tree: Path
    label: str

    def stacks(self) -> set[str]:
        return stacks_in(path.name for path in self.tree.glob("Pulumi.*.yaml"))


def render(side: Side, stack: str, out_dir: Path) -> Path:
    """Render `stack` with the side's own code into out_dir; its manifests directory."""
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "offline", "render", "--stack", stack, "--out", str(out_dir)],
            cwd=side.tree,
            env=environment,
            capture_output=True,
            text=True,
            check=False,
            timeout=RENDER_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        raise DiffInputError(
            f"the {side.role} {side.label} did not render stack {stack} within {RENDER_TIMEOUT_SECONDS} s"
        ) from None
    if completed.returncode != 0:
        output = (completed.stderr.strip() or completed.stdout.strip()).splitlines()
        last = output[-1] if output else "(no output)"
        raise DiffInputError(
            f"the {side.role} {side.label} cannot render stack {stack} (exit {completed.returncode}): {last}"
        )
    return out_dir / "manifests"


def render_all(jobs: Sequence[tuple[Side, str]], scratch: Path) -> dict[tuple[str, str], Path]:
    """Every (side, stack) rendered, side by side; the first failure in job order is raised."""
    workers = max(1, min(len(jobs), os.cpu_count() or 1))
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {
            (side.role, stack): pool.submit(render, side, stack, scratch / "renders" / side.role / stack)
            for side, stack in jobs
        }
        concurrent.futures.wait(futures.values())
    return {job: future.result() for job, future in futures.items()}


# --- the command ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    diffs: tuple[StackDiff, ...]
    sides: Sides


def _short(commit: str) -> str:
    return commit[:12]


def run_diff(repository: Path, base_ref: str, head_ref: str | None, stacks: Sequence[str] | None) -> Result:
    """Render both sides of every stack asked for and compare them."""
    root = repository_root(repository)
    # The project may sit below the repository's root; each checkout has it at the same place.
    project = repository.resolve().relative_to(root.resolve())
    for stack in stacks or ():
        if not STACK_NAME.fullmatch(stack):
            raise DiffInputError(f"--stack {stack!r} is not a stack name (letters, digits, '.', '_' and '-')")
    base_commit = resolve_commit(root, base_ref)
    head_commit = resolve_commit(root, head_ref) if head_ref is not None else None
    with ExitStack() as cleanup:
        scratch = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="offline-diff-")))
        base_tree = cleanup.enter_context(checked_out(root, base_commit, scratch))
        base = Side("base", base_tree / project, f"`{base_ref}` (`{_short(base_commit)}`)")
        if head_commit is None:
            head = Side("head", repository, "the working tree")
        elif head_commit == base_commit:
            head = Side("head", base_tree / project, f"`{head_ref}` (`{_short(head_commit)}`)")
        else:
            head_tree = cleanup.enter_context(checked_out(root, head_commit, scratch))
            head = Side("head", head_tree / project, f"`{head_ref}` (`{_short(head_commit)}`)")

        base_stacks, head_stacks = base.stacks(), head.stacks()
        chosen = list(dict.fromkeys(stacks)) if stacks else sorted(base_stacks | head_stacks)
        present = {stack: (stack_exists(stack, base_stacks), stack_exists(stack, head_stacks)) for stack in chosen}
        for stack, (at_base, at_head) in present.items():
            if not at_base and not at_head:
                known = ", ".join(sorted(base_stacks | head_stacks))
                raise DiffInputError(
                    f"unknown stack {stack!r}: no Pulumi.{stack}.yaml at the base or the head (known: {known}, "
                    "and pr-<number> review stacks)"
                )
        jobs = [(base, stack) for stack in chosen if present[stack][0]]
        jobs += [(head, stack) for stack in chosen if present[stack][1]]
        manifests = render_all(jobs, scratch)

        diffs = []
        for stack in chosen:
            at_base, at_head = present[stack]
            note = None
            if not at_base:
                note = f"Stack `{stack}` does not exist at the base {base.label}: every object counts as added."
            elif not at_head:
                note = f"Stack `{stack}` does not exist at the head {head.label}: every object counts as removed."
            before = read_manifests(manifests[("base", stack)]) if at_base else None
            after = read_manifests(manifests[("head", stack)]) if at_head else None
            diffs.append(compare(stack, before, after, note))
    return Result(diffs=tuple(diffs), sides=Sides(base=base.label, head=head.label))


def write_reports(result: Result, out_dir: Path, max_chars: int, full_diff_url: str | None) -> dict[str, str]:
    """render-diff.md, comment.md and step-summary.md into out_dir; their texts by file name."""
    out_dir.mkdir(parents=True, exist_ok=True)
    where = (
        f"[the workflow run's `render-diff` artifact]({full_diff_url})"
        if full_diff_url
        else (f"`{out_dir / 'render-diff.md'}`")
    )
    reports = {
        "render-diff.md": render_report(result.diffs, result.sides),
        "comment.md": render_report(result.diffs, result.sides, max_chars, full_diff=where),
        "step-summary.md": render_report(
            result.diffs, result.sides, STEP_SUMMARY_LIMIT_BYTES, measure=utf8_length, full_diff=where
        ),
    }
    for name, text in reports.items():
        (out_dir / name).write_text(text, encoding="utf-8")
    return reports


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base", required=True, help="git ref of the base side (a branch, tag or commit)")
    parser.add_argument("--head", help="git ref of the head side (default: the working tree, uncommitted changes too)")
    parser.add_argument(
        "--stack", action="append", help="compare this stack (repeatable; default: every Pulumi.<stack>.yaml)"
    )
    parser.add_argument("--out", type=Path, help="where the reports go (default: build/diff)")
    parser.add_argument(
        "--max-chars",
        type=int,
        default=DEFAULT_MAX_CHARS,
        help=f"length cap of comment.md (default: {DEFAULT_MAX_CHARS:,}; at most {GITHUB_COMMENT_LIMIT - 1:,})",
    )
    parser.add_argument("--full-diff-url", help="where the whole diff can be read; the capped reports link to it")


def diff_command(arguments: argparse.Namespace) -> int:
    try:
        if not MIN_MAX_CHARS <= arguments.max_chars < GITHUB_COMMENT_LIMIT:
            raise DiffInputError(
                f"--max-chars {arguments.max_chars} is out of range: give {MIN_MAX_CHARS:,} to "
                f"{GITHUB_COMMENT_LIMIT - 1:,} (GitHub takes at most {GITHUB_COMMENT_LIMIT:,} characters in a comment)"
            )
        result = run_diff(PROJECT_DIR, arguments.base, arguments.head, arguments.stack)
    except DiffInputError as error:
        print(f"offline diff: {error}", file=sys.stderr)
        return EXIT_UNUSABLE_INPUT
    out_dir = arguments.out or PROJECT_DIR / "build" / "diff"
    reports = write_reports(result, out_dir, arguments.max_chars, arguments.full_diff_url)
    for diff in result.diffs:
        if diff.note:
            print(f"offline diff: note: {diff.note.replace('`', '')}", file=sys.stderr)
        print(f"{diff.stack}: {_stack_line(diff)}")
    shown = os.path.relpath(out_dir)
    sizes = ", ".join(f"{name} ({len(text):,} characters)" for name, text in reports.items())
    print(f"Base {result.sides.base} against head {result.sides.head}; wrote {shown}/: {sizes}".replace("`", ""))
    return EXIT_WRITTEN
