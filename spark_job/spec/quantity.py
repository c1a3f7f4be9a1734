"""Kubernetes resource quantities and their Spark equivalents.

CPU is written as cores (``1``, ``2.5``) or millicores (``500m``, ``1500m``); memory as bytes
with a decimal (``k M G T P E``) or binary (``Ki Mi Gi Ti Pi Ei``) suffix, as Kubernetes spells
them (``512Mi``, ``1Gi``, ``2G``). Spark wants whole cores and memory in MiB::

    spark_cores("1500m", "resources.executor_cpu_request")    # 2
    spark_memory("2Gi", "resources.executor_memory_request")   # '2048m'

A malformed quantity raises :class:`~spark_job.errors.UserError` naming ``field``.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

from spark_job.errors import UserError

_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"
_CPU = re.compile(rf"{_NUMBER}(m?)")
_MEMORY = re.compile(rf"{_NUMBER}(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?")
_MEMORY_UNITS: dict[str | None, int] = {
    None: 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}  # fmt: skip
_MIB = 2**20


def cpu_cores(text: str, field: str) -> Decimal:
    """CPU as a number of cores: ``"2"`` → 2, ``"1500m"`` → 1.5."""
    match = _CPU.fullmatch(str(text).strip())
    if not match:
        raise UserError(
            f"{field}: '{text}' is not a CPU quantity; use cores ('1', '2.5') or millicores"
            " ('500m', '1500m')."
        )
    value = Decimal(match.group(1)) / (1000 if match.group(2) else 1)
    if value <= 0:
        raise UserError(f"{field}: CPU must be more than 0, got '{text}'.")
    return value


def memory_bytes(text: str, field: str) -> int:
    """Memory in bytes: ``"512Mi"`` → 536870912, ``"2G"`` → 2000000000."""
    match = _MEMORY.fullmatch(str(text).strip())
    if not match:
        raise UserError(
            f"{field}: '{text}' is not a memory quantity; use bytes with a Kubernetes suffix,"
            " e.g. '512Mi', '2Gi' or '1G' (Ki Mi Gi Ti: powers of 1024; k M G T: of 1000)."
        )
    value = int(Decimal(match.group(1)) * _MEMORY_UNITS[match.group(2)])
    if value < _MIB:
        raise UserError(f"{field}: memory must be at least 1Mi, got '{text}'.")
    return value


def spark_cores(text: str, field: str) -> int:
    """Spark's whole cores for a CPU request, rounded up: ``"500m"`` → 1, ``"1500m"`` → 2."""
    return math.ceil(cpu_cores(text, field))


def spark_memory(text: str, field: str) -> str:
    """Spark's memory setting for a memory request, in MiB rounded up: ``"2Gi"`` → ``"2048m"``."""
    return f"{math.ceil(memory_bytes(text, field) / _MIB)}m"
