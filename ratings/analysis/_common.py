"""Shared by the statistics modules: array type aliases and the order of factor levels."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def _level_sort_key(level: str) -> tuple[int, float, str]:
    """Numeric levels first, in numeric order (9 before 12), then the rest alphabetically."""
    try:
        return 0, float(level), level
    except ValueError:
        return 1, 0.0, level
