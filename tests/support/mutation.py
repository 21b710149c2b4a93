"""pytest plugin for `make mutation` only (`-p tests.support.mutation`, from pyproject's [tool.mutmut]).

Leaves out every test that renders a whole stack (the session-cached `run_stack` fixture): mutmut maps
each mutant to the tests that call its function, and a cached render calls it for the first test only,
so those tests would judge mutants they never ran. The unit tests of each module judge its mutants;
`make test` runs everything, this plugin included nowhere else.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rendering = [item for item in items if "run_stack" in getattr(item, "fixturenames", ())]
    if rendering:
        config.hook.pytest_deselected(items=rendering)
        items[:] = [item for item in items if item not in rendering]
