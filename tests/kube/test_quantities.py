"""Kubernetes quantities: what the parser reads from each suffix, and how sizes are shown back."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kube import quantities
from kube.quantities import GIB, MIB


@pytest.mark.parametrize(
    ("text", "value", "suffix"),
    [
        ("500m", Decimal("0.5"), "m"),
        ("1.5", Decimal("1.5"), ""),
        (2, Decimal(2), ""),
        ("2k", Decimal(2000), "k"),
        ("512Mi", Decimal(512 * MIB), "Mi"),
        ("2G", Decimal(2 * 10**9), "G"),
        ("1Ki", Decimal(1024), "Ki"),
        ("1Ei", Decimal(2**60), "Ei"),
        ("1E", Decimal(10**18), "E"),
    ],
)
def test_parse_reads_the_value_in_base_units_and_the_suffix_as_written(text: str, value: Decimal, suffix: str) -> None:
    """Decimal and binary suffixes scale the number; the suffix comes back as written (validation restricts it)."""
    assert quantities.parse(text) == (value, suffix)


@pytest.mark.parametrize("text", ["", "1.5.0", "-1", "2 Gi", "1gi", "Mi", "1e3"])
def test_parse_refuses_what_is_no_quantity_and_names_it(text: str) -> None:
    """A malformed quantity raises ValueError whose message quotes the text given."""
    with pytest.raises(ValueError, match=r"^not a Kubernetes quantity: ") as raised:
        quantities.parse(text)
    assert str(raised.value) == f"not a Kubernetes quantity: {text!r}"


def test_cpu_and_memory_in_the_units_the_quota_check_adds_up() -> None:
    """CPU comes in millicores whatever the suffix; memory in bytes."""
    assert quantities.cpu_millicores("250m") == 250
    assert quantities.cpu_millicores("1.5") == 1500
    assert quantities.memory_bytes("1Gi") == GIB
    assert quantities.quantity("1M") == 10**6


@pytest.mark.parametrize(
    ("millicores", "shown"),
    [(Decimal(16400), "16.4"), (Decimal(250), "0.25"), (Decimal(2000), "2"), (Decimal(1), "0.001")],
)
def test_format_cores_is_as_short_as_it_is_exact(millicores: Decimal, shown: str) -> None:
    """Cores without trailing zeros or an exponent (2000 millicores is "2", not "2.000" or "2E+0")."""
    assert quantities.format_cores(millicores) == shown


@pytest.mark.parametrize(
    ("size", "shown"),
    [(Decimal(GIB) * Decimal("13.5"), "13.50Gi"), (Decimal(512 * MIB), "0.50Gi"), (Decimal(3 * GIB), "3.00Gi")],
)
def test_format_gibibytes_shows_two_decimals_of_gib(size: Decimal, shown: str) -> None:
    """Memory is shown in GiB with two decimals, as the quota messages and the summary's columns print it."""
    assert quantities.format_gibibytes(size) == shown


@pytest.mark.parametrize(
    ("size", "mebibytes"), [(Decimal(MIB), 1), (Decimal(2 * MIB - 1), 1), (Decimal(GIB) * Decimal("0.25"), 256)]
)
def test_whole_mebibytes_rounds_down(size: Decimal, mebibytes: int) -> None:
    """Whole MiB, rounded down: PostgreSQL's memory settings never exceed what the pod has."""
    result = quantities.whole_mebibytes(size)
    assert result == mebibytes
    assert type(result) is int
