"""Kubernetes resource quantities ("500m", "1.5", "512Mi", "2G"): parsed to numbers, and formatted back.

One parser and one set of formatters for the whole project: settings validation restricts
which suffixes a CPU or a memory value may use and reports sizes in its messages, the render
summary adds quantities up, PostgreSQL's memory settings are derived from them.
"""

from __future__ import annotations

import re
from decimal import Decimal

MIB = 2**20
GIB = 2**30

_QUANTITY = re.compile(r"(?P<number>[0-9]+(\.[0-9]+)?)(?P<suffix>m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?")
_FACTORS = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}


def parse(text: str | int | float) -> tuple[Decimal, str]:
    """(value in base units, suffix as written); raises ValueError if malformed."""
    match = _QUANTITY.fullmatch(str(text))
    if not match:
        raise ValueError(f"not a Kubernetes quantity: {text!r}")
    suffix = match.group("suffix") or ""
    return Decimal(match.group("number")) * _FACTORS[suffix], suffix


def quantity(text: str | int | float) -> Decimal:
    """The value of a Kubernetes quantity in base units (cores, bytes)."""
    return parse(text)[0]


def cpu_millicores(text: str | int | float) -> Decimal:
    return quantity(text) * 1000


def memory_bytes(text: str | int | float) -> Decimal:
    return quantity(text)


def format_cores(millicores: Decimal) -> str:
    """CPU as a number of cores, as short as it is exact: 16400 -> "16.4", 250 -> "0.25", 2000 -> "2"."""
    return f"{(Decimal(millicores) / 1000).normalize():f}"


def format_gibibytes(size: Decimal) -> str:
    """Memory in GiB with two decimals, as the summary's columns and the quota messages show it: "13.50Gi"."""
    return f"{Decimal(size) / GIB:.2f}Gi"


def whole_mebibytes(size: Decimal) -> int:
    """Memory in whole MiB, rounded down (PostgreSQL's "MB" is a MiB)."""
    mebibytes = Decimal(size) // MIB  # pragma: no mutate `/` then int() truncates alike: sizes are never negative
    return int(mebibytes)
