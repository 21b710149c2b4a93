"""Kubernetes resource quantities ("500m", "1.5", "512Mi", "2G") as numbers.

One parser for the whole project: settings validation restricts which suffixes a CPU or a
memory value may use, the render summary adds quantities up.
"""

from __future__ import annotations

import re
from decimal import Decimal

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
