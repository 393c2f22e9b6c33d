"""What every result shares: `to_json()` as plain data, and `arrays()` as the numpy fields.

Results are frozen dataclasses; a result class takes `JsonResult` as a base and overrides either
method where it names its arrays differently (what its .npz file holds).
"""

from __future__ import annotations

import dataclasses

import numpy as np


def plain(value):
    """JSON-ready data: arrays and numpy scalars to lists and numbers, dataclasses and dicts field by field."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


class JsonResult:
    """`to_json()` and `arrays()` for a frozen dataclass result."""

    def to_json(self) -> dict:
        return plain(self)

    def arrays(self) -> dict[str, np.ndarray]:
        return {f.name: v for f in dataclasses.fields(self) if isinstance(v := getattr(self, f.name), np.ndarray)}
