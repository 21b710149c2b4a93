"""The folders are the architecture, and dependencies run one way (DESIGN.md section 1).

    kube/  <-  stacks/  <-  components/shared/  <-  components/<area>/  <-  __main__.py
    kube/  <-  policies/            offline/ may use everything above, the pack included;
                                    the pack never imports stacks/, components/ or offline/

Every import counts, at module level or inside a function: a wrong-way import hidden in a
function still couples the layers. The rules are checked on the real tree, and the checker
itself on a planted wrong-way import, so a rule that silently accepts everything fails too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from offline.program import PROJECT_DIR

PROJECT_PACKAGES = frozenset({"kube", "stacks", "components", "policies", "offline", "tests", "__main__"})
AREAS = ("platform", "app", "edge", "data", "monitoring", "release")


def layer_of(module: str) -> str:
    """The layer a module belongs to: kube, stacks, components.shared, components.<area>, policies, offline, ..."""
    parts = module.split(".")
    if parts[0] in ("components", "tests") and len(parts) > 1 and parts[1] in (*AREAS, "shared", "support"):
        return f"{parts[0]}.{parts[1]}"
    return parts[0]


def allowed(importer: str, imported: str) -> bool:
    """Whether a module of layer `importer` may import a module of layer `imported`."""
    if importer == imported:
        return True
    rules: dict[str, set[str]] = {
        "kube": set(),
        "stacks": {"kube"},
        "policies": {"kube"},
        "components": {"kube", "stacks", "components.shared", *(f"components.{area}" for area in AREAS)},
        "components.shared": {"kube", "stacks"},
        # The backup benchmark drives the same real-server harness as the tests (tests/support/).
        "offline": {"kube", "stacks", "components", "components.shared", "policies", "tests.support"},
        "__main__": {"kube", "stacks", "components", "components.shared", *(f"components.{area}" for area in AREAS)},
        "tests": {"kube", "stacks", "components", "policies", "offline", "tests.support"},
        "tests.support": {"kube", "stacks", "components", "policies", "offline"},
    }
    if importer.startswith("components.") and importer != "components.shared":
        # An area uses the shared helpers, never another area's internals.
        return imported in {"kube", "stacks", "components.shared"}
    if importer in ("tests", "tests.support", "offline"):
        # offline/ drives the program and its contracts (the backup benchmark runs the backup scripts).
        return imported in rules[importer] or imported.startswith("components.")
    return imported in rules.get(importer, set())


def imports_of(source: str, module: str) -> Iterator[tuple[int, str]]:
    """(line, imported project module) for every import statement in `source`, at any depth."""
    package = module.rsplit(".", 1)[0] if "." in module else ""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            # `from components.shared import pods` imports the module components.shared.pods.
            yield node.lineno, target
            for alias in node.names:
                yield node.lineno, f"{target}.{alias.name}"


def violations(path: Path, module: str, source: str) -> list[str]:
    """Every import in `source` (the file `path`, module `module`) that runs the wrong way."""
    importer = layer_of(module)
    found = []
    for line, imported in imports_of(source, module):
        if imported.split(".")[0] not in PROJECT_PACKAGES:
            continue
        target = layer_of(imported)
        if target == "components" and imported.count(".") >= 2 and importer.startswith("components."):
            continue  # `from components.data import postgres` also yields components.data.postgres: judged once
        if not allowed(importer, target):
            found.append(f"{path.relative_to(PROJECT_DIR)}:{line} ({importer}) imports {imported} ({target})")
    return found


def project_modules() -> Iterator[tuple[Path, str]]:
    for path in sorted(PROJECT_DIR.rglob("*.py")):
        relative = path.relative_to(PROJECT_DIR)
        if relative.parts[0] not in PROJECT_PACKAGES and relative.name != "__main__.py":
            continue
        if relative == Path("__main__.py"):
            yield path, "__main__"
            continue
        yield path, ".".join(relative.with_suffix("").parts)


def test_every_import_runs_the_right_way() -> None:
    """No module imports a layer above its own, and no component area reaches into another."""
    found = [
        violation
        for path, module in project_modules()
        for violation in violations(path, module, path.read_text(encoding="utf-8"))
    ]
    assert found == []


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("policies.registry", "from stacks.services import Role\n"),
        ("policies.runner", "def f():\n    from offline.program import run_program\n"),
        ("kube.objects", "import pulumi\nfrom stacks import profiles\n"),
        ("components.data.backups", "from components.app.workloads import release_id\n"),
        ("components.data.redis", "from components.platform import network_policies\n"),
        ("components.shared.charts", "from components.platform.namespaces import namespace_labels\n"),
        ("stacks.settings", "from components.shared import labels\n"),
        ("offline.render", "from tests.conftest import STACKS\n"),
        ("offline.program", "import __main__\n"),
    ],
)
def test_a_wrong_way_import_is_caught(module: str, source: str) -> None:
    """The checker reports each kind of wrong-way import, at module level or in a function."""
    path = PROJECT_DIR / Path(*module.split(".")).with_suffix(".py")
    assert violations(path, module, source) != []


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("components.data.backups", "from components.shared import endpoints, pods\n"),
        ("components.data.redis", "from components.data import redis_config\nfrom kube.labels import NAME\n"),
        ("offline.check", "from policies.runner import evaluate\n"),
        ("policies.registry", "from kube.objects import POD_SPEC_PATHS\nimport yaml\n"),
        ("__main__", "from components.data import Postgres\n"),
    ],
)
def test_a_right_way_import_passes(module: str, source: str) -> None:
    """Imports along the layers are accepted (the checker is not simply refusing everything)."""
    path = PROJECT_DIR / Path(*module.split(".")).with_suffix(".py")
    assert violations(path, module, source) == []
