"""Kubernetes resource quantities (``1``, ``1500m``, ``500m``; ``512Mi``, ``1Gi``, ``2G``) and
their Spark equivalents (integer cores, memory in MiB)."""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

from spark_job.errors import UserError

_CPU = re.compile(r"^(\d+(?:\.\d+)?)(m?)$")
_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|Pi|k|K|M|G|T|P)?$")
_MEMORY_UNITS = {
    None: 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50,
}  # fmt: skip


def cpu_cores(text: str, field: str) -> Decimal:
    """CPU as a number of cores: ``"2"`` → 2, ``"1500m"`` → 1.5."""
    match = _CPU.match(str(text).strip())
    if not match:
        raise UserError(
            f"{field}: '{text}' is not a CPU quantity; use cores ('1', '2.5') or millicores"
            " ('500m', '1500m')."
        )
    try:
        value = Decimal(match.group(1)) / (1000 if match.group(2) else 1)
    except InvalidOperation:
        raise UserError(f"{field}: '{text}' is not a CPU quantity.") from None
    if value <= 0:
        raise UserError(f"{field}: CPU must be more than 0, got '{text}'.")
    return value


def memory_bytes(text: str, field: str) -> int:
    """Memory in bytes: ``"512Mi"`` → 536870912, ``"2G"`` → 2000000000."""
    match = _MEMORY.match(str(text).strip())
    if not match:
        raise UserError(
            f"{field}: '{text}' is not a memory quantity; use e.g. '512Mi', '2Gi' or '1G'."
        )
    value = int(Decimal(match.group(1)) * _MEMORY_UNITS[match.group(2)])
    if value <= 0:
        raise UserError(f"{field}: memory must be more than 0, got '{text}'.")
    return value


def spark_cores(text: str, field: str) -> int:
    """Spark's integer cores for a CPU request: at least 1, rounded up."""
    return max(1, math.ceil(cpu_cores(text, field)))


def spark_memory(text: str, field: str) -> str:
    """Spark's memory setting for a memory request, in MiB rounded up: ``"2Gi"`` → ``"2048m"``."""
    return f"{max(1, math.ceil(memory_bytes(text, field) / 2**20))}m"
