"""Fixtures of the delivery tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.delivery.prometheus import Server, started_prometheus


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A Prometheus on loopback holding every scenario of tests/delivery/prometheus.py."""
    yield from started_prometheus(tmp_path_factory)
