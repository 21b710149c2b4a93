"""The mutation report: per module, how many mutants the tests killed, and every one they did not.

    venv/bin/python scripts/mutation_report.py [--mutants mutants] [--minimum 90] [--modules PATH ...]

Writes docs/mutation/<module>.md for every module mutmut ran (its counts, score, survivors and equivalent
mutants), then docs/MUTATION.md, the index of every module's latest report; a partial run (`mutmut run
"stacks.validation.*"`) refreshes only its modules' pages.

Reads what `mutmut run` (3.8) leaves in mutants/: one `<module>.py.meta` JSON file per mutated module,
whose `exit_code_by_key` maps each mutant to the exit status of the tests that judged it (mutmut's own
meaning: 1 or 3 killed, 0 survived, 33 or 5 no test, 36 or a signal timeout, 34 skipped). The score is
mutmut's: (killed + timed out) / (mutants - skipped). Equivalent mutants, which no test can kill because
they do not change behaviour, are excluded at their line in the source with `# pragma: no mutate`
followed by the reason; the report lists each with its reason, and refuses a pragma without one.

Exit status 1 when a module scores below --minimum, a mutant survived, or a pragma gives no reason.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
STATUS_BY_EXIT_CODE: dict[int | None, str] = {
    1: "killed",
    3: "killed",
    0: "survived",
    5: "no tests",
    33: "no tests",
    2: "interrupted",
    None: "not checked",
    34: "skipped",
    35: "suspicious",
    36: "timeout",
    24: "timeout",
    -24: "timeout",
    152: "timeout",
    255: "timeout",
    37: "type check",
    -11: "segfault",
    -9: "segfault",
}
"""mutmut.stats.status_by_exit_code of mutmut 3.8.1; anything else is suspicious."""
COLUMNS = ("killed", "survived", "timeout", "no tests", "suspicious", "not checked")
PRAGMA = re.compile(r"#\s*pragma:\s*no mutate(?P<block>\s+(?:block|start|end))?(?P<reason>.*)$")


@dataclass
class ModuleResult:
    """One mutated module's outcome."""

    path: str
    counts: Counter[str] = field(default_factory=Counter)
    survivors: list[str] = field(default_factory=list)
    """Mutants not killed (survived, no tests, suspicious, not checked), by name."""

    @property
    def score(self) -> float | None:
        judged = sum(self.counts.values()) - self.counts["skipped"]
        return None if judged <= 0 else 100 * (self.counts["killed"] + self.counts["timeout"]) / judged


@dataclass(frozen=True)
class Equivalent:
    path: str
    line: int
    code: str
    reason: str


def collect(mutants: Path) -> list[ModuleResult]:
    results = []
    for meta in sorted(mutants.rglob("*.py.meta")):
        exit_codes: dict[str, int | None] = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
        result = ModuleResult(str(meta.relative_to(mutants))[: -len(".meta")])
        for name, code in sorted(exit_codes.items()):
            status = STATUS_BY_EXIT_CODE.get(code, "suspicious")
            result.counts[status] += 1
            if status not in ("killed", "timeout", "skipped"):
                result.survivors.append(name)
        results.append(result)
    return results


def equivalents(paths: list[str]) -> list[Equivalent]:
    """Every `# pragma: no mutate` of the mutated modules, with the reason written after it."""
    found = []
    for path in paths:
        for number, line in enumerate((PROJECT_DIR / path).read_text(encoding="utf-8").splitlines(), start=1):
            match = PRAGMA.search(line)
            if match:
                reason = match["reason"].strip(" -:;()")
                found.append(Equivalent(path, number, line[: match.start()].strip(), reason))
    return found


def mutant_diff(name: str, mutants: Path) -> str:
    """The one-line change a surviving mutant makes, as `mutmut show` prints it."""
    shown = subprocess.run(
        [sys.executable, "-m", "mutmut", "show", name], cwd=mutants.parent, capture_output=True, text=True, check=False
    ).stdout
    changes = [
        line for line in shown.splitlines() if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
    ]
    return " / ".join(change.strip() for change in changes[:2]) or "(no diff shown)"


HEADER = "| module | mutants | " + " | ".join(COLUMNS) + " | score |"


def row(result: ModuleResult) -> str:
    score = result.score
    return (
        f"| [`{result.path}`](mutation/{page_name(result.path)}) | {sum(result.counts.values())} | "
        + " | ".join(str(result.counts[column]) for column in COLUMNS)
        + f" | {'n/a' if score is None else f'{score:.1f} %'} |"
    )


def page_name(path: str) -> str:
    return path.replace("/", ".").removesuffix(".py") + ".md"


def module_page(result: ModuleResult, pragmas: list[Equivalent], mutants: Path) -> str:
    """One module's report: its row, every mutant not killed, every equivalent excluded with its reason."""
    lines = [f"# Mutation report: `{result.path}`", "", HEADER, "|---" * (len(COLUMNS) + 3) + "|", row(result)]
    lines += ["", "## Mutants the tests did not kill", ""]
    if result.survivors:
        lines += [f"- `{name}`: {mutant_diff(name, mutants)}" for name in result.survivors]
    else:
        lines.append("None.")
    lines += ["", "## Equivalent mutants, excluded where they arise (`# pragma: no mutate` and why)", ""]
    mine = [item for item in pragmas if item.path == result.path]
    lines += [f"- line {item.line} `{item.code}`: {item.reason or '**no reason given**'}" for item in mine] or ["None."]
    return "\n".join(lines).replace("](mutation/", "](") + "\n"


def configured_modules(pyproject: Path) -> list[str]:
    """The modules `make mutation` mutates: [tool.mutmut] only_mutate of pyproject.toml."""
    with pyproject.open("rb") as handle:
        modules: list[str] = tomllib.load(handle)["tool"]["mutmut"]["only_mutate"]
    return modules


def index(docs: Path, minimum: float, modules: list[str]) -> str:
    """docs/MUTATION.md: every module's row, from the pages the runs wrote; a configured module without a page
    yet is listed as not measured, so the index never reads as complete when it is not."""
    rows = []
    measured = set()
    for page in sorted((docs / "mutation").glob("*.md")):
        row_line = next(line for line in page.read_text(encoding="utf-8").splitlines() if line.startswith("| ["))
        rows.append(row_line.replace("](", "](mutation/", 1) if "](mutation/" not in row_line else row_line)
        measured.add(page.name)
    empty = " | ".join("" for _ in COLUMNS)
    rows += [f"| `{path}` | | {empty} | not measured |" for path in modules if page_name(path) not in measured]
    return (
        "\n".join(
            [
                "# Mutation testing",
                "",
                "`make mutation` (mutmut 3.8.1, configured in pyproject.toml's [tool.mutmut]) mutates the modules "
                "that decide security, data safety and validation, and runs each mutant against the unit tests that "
                f"exercise it. Score: (killed + timed out) / mutants; at least {minimum:.0f} % per module. Each "
                "module's page lists every mutant not killed and every equivalent mutant excluded, with the reason.",
                "",
                HEADER,
                "|---" * (len(COLUMNS) + 3) + "|",
                *rows,
            ]
        )
        + "\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutants", type=Path, default=PROJECT_DIR / "mutants")
    parser.add_argument("--docs", type=Path, default=PROJECT_DIR / "docs")
    parser.add_argument("--minimum", type=float, default=90.0)
    parser.add_argument("--modules", nargs="*", help="only these modules (paths), e.g. a partial run's")
    parser.add_argument("--pyproject", type=Path, default=PROJECT_DIR / "pyproject.toml")
    arguments = parser.parse_args(argv)
    results = collect(arguments.mutants)
    if arguments.modules:
        results = [result for result in results if result.path in arguments.modules]
    if not results:
        print(f"mutation_report: no mutmut results under {arguments.mutants}; run `make mutation`", file=sys.stderr)
        return 2
    pragmas = equivalents([result.path for result in results])
    (arguments.docs / "mutation").mkdir(parents=True, exist_ok=True)
    for result in results:
        page = module_page(result, pragmas, arguments.mutants)
        (arguments.docs / "mutation" / page_name(result.path)).write_text(page, encoding="utf-8")
    text = index(arguments.docs, arguments.minimum, configured_modules(arguments.pyproject))
    (arguments.docs / "MUTATION.md").write_text(text, encoding="utf-8")
    print(text, end="")
    failing = [result.path for result in results if (result.score or 0) < arguments.minimum]
    failing += [f"{item.path}:{item.line} (pragma without a reason)" for item in pragmas if not item.reason]
    if failing or any(result.survivors for result in results):
        print(f"mutation_report: below {arguments.minimum:.0f} % or unexplained: {', '.join(failing)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
