"""scripts/mutation_report.py: the report `make mutation` writes from what mutmut leaves in mutants/.

mutmut itself is not run here (hours); the tests give the report the files mutmut 3.8.1 writes (one
`<module>.py.meta` JSON per module with `exit_code_by_key`) and read what the report makes of them.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

PROJECT_DIR = Path(__file__).resolve().parent.parent


def load_report() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mutation_report", PROJECT_DIR / "scripts" / "mutation_report.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


report = load_report()


def write_meta(mutants: Path, module: str, exit_codes: dict[str, int | None]) -> None:
    meta = mutants / f"{module}.meta"
    meta.parent.mkdir(parents=True, exist_ok=True)
    meta.write_text(json.dumps({"exit_code_by_key": exit_codes}), encoding="utf-8")


def run(tmp_path: Path, only_mutate: list[str], *extra: str) -> tuple[int, str, Path]:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        "[tool.mutmut]\nonly_mutate = [" + ", ".join(f'"{path}"' for path in only_mutate) + "]\n", encoding="utf-8"
    )
    docs = tmp_path / "docs"
    status = report.main(
        ["--mutants", str(tmp_path / "mutants"), "--docs", str(docs), "--pyproject", str(pyproject), *extra]
    )
    return status, (docs / "MUTATION.md").read_text(encoding="utf-8"), docs


def index_rows(text: str) -> dict[str, list[str]]:
    """module path -> the row's cells after the module, from the index's table."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("| [`") or line.startswith("| `"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            rows[cells[0].split("`")[1]] = cells[1:]
    return rows


def test_every_mutant_killed_scores_100_and_passes(tmp_path: Path) -> None:
    write_meta(tmp_path / "mutants", "kube/stack_names.py", {"a": 1, "b": 3, "c": 36})
    status, text, docs = run(tmp_path, ["kube/stack_names.py"])
    assert status == 0
    assert index_rows(text)["kube/stack_names.py"] == ["3", "2", "0", "1", "0", "0", "0", "100.0 %"]
    page = (docs / "mutation" / "kube.stack_names.md").read_text(encoding="utf-8")
    assert "## Mutants the tests did not kill\n\nNone." in page


def test_a_survivor_fails_the_report_and_is_listed_by_name(tmp_path: Path) -> None:
    codes: dict[str, int | None] = {f"kube.stack_names.x_m__mutmut_{n}": 1 for n in range(19)}
    codes["kube.stack_names.x_m__mutmut_19"] = 0
    write_meta(tmp_path / "mutants", "kube/stack_names.py", codes)
    status, text, docs = run(tmp_path, ["kube/stack_names.py"])
    assert status == 1
    assert index_rows(text)["kube/stack_names.py"][-1] == "95.0 %"
    assert "- `kube.stack_names.x_m__mutmut_19`:" in (docs / "mutation" / "kube.stack_names.md").read_text()


@pytest.fixture
def no_mutmut_show(monkeypatch: pytest.MonkeyPatch) -> None:
    """Survivors' diffs without starting `mutmut show` (three seconds each); one test above runs the real one."""
    monkeypatch.setattr(report, "mutant_diff", lambda name, mutants: "(diff)")


@pytest.mark.usefixtures("no_mutmut_show")
def test_below_the_minimum_fails(tmp_path: Path) -> None:
    write_meta(tmp_path / "mutants", "kube/stack_names.py", {"a": 1, "b": 0})
    status, _, _ = run(tmp_path, ["kube/stack_names.py"], "--minimum", "40")
    assert status == 1  # 50 % passes the minimum, but the survivor is unexplained


@pytest.mark.parametrize(
    ("code", "column"), [(None, "not checked"), (33, "no tests"), (35, "suspicious"), (99, "suspicious")]
)
@pytest.mark.usefixtures("no_mutmut_show")
def test_a_mutant_not_judged_counts_against_the_score(tmp_path: Path, code: int | None, column: str) -> None:
    write_meta(tmp_path / "mutants", "kube/stack_names.py", {"a": 1, "b": code})
    status, text, _ = run(tmp_path, ["kube/stack_names.py"])
    cells = index_rows(text)["kube/stack_names.py"]
    assert cells[1 + report.COLUMNS.index(column)] == "1"
    assert cells[-1] == "50.0 %"
    assert status == 1


def test_modules_not_measured_yet_are_listed_as_such(tmp_path: Path) -> None:
    """A partial run refreshes its own pages; the index still names every configured module, and one with no
    page reads 'not measured', never as missing or as passing."""
    write_meta(tmp_path / "mutants", "kube/stack_names.py", {"a": 1})
    status, text, _ = run(tmp_path, ["kube/stack_names.py", "stacks/build.py", "policies/config.py"])
    rows = index_rows(text)
    assert set(rows) == {"kube/stack_names.py", "stacks/build.py", "policies/config.py"}
    assert rows["stacks/build.py"][-1] == rows["policies/config.py"][-1] == "not measured"
    assert len(rows["stacks/build.py"]) == len(rows["kube/stack_names.py"])
    assert status == 0


def test_no_results_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "mutants").mkdir()
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[tool.mutmut]\nonly_mutate = ["kube/stack_names.py"]\n', encoding="utf-8")
    assert (
        report.main(["--mutants", str(tmp_path / "mutants"), "--docs", str(tmp_path), "--pyproject", str(pyproject)])
        == 2
    )


def test_the_project_index_names_every_configured_module() -> None:
    """docs/MUTATION.md, as committed, has a row for every module [tool.mutmut] mutates."""
    text = (PROJECT_DIR / "docs" / "MUTATION.md").read_text(encoding="utf-8")
    assert set(index_rows(text)) == set(report.configured_modules(PROJECT_DIR / "pyproject.toml"))
