"""Measured figures for ``scripts/benchmark.py``: one module per section.

Each section module has ``run(cfg) -> dict[str, float | int | str]`` whose
keys are prefixed with the section name. Sections are imported on demand so
one section's dependencies never slow another down.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

# ``section=all`` runs them in this order; e2e (the whole demo, minutes) stays last.
SECTIONS: tuple[str, ...] = ("body", "simulator", "teacher", "student", "physics", "importers", "e2e")


def section_runner(name: str) -> Callable[[Any], dict[str, Any]]:
    """The ``run`` function of benchmark section ``name``."""
    if name not in SECTIONS:
        raise KeyError(f"unknown benchmark section '{name}' (known: {', '.join(SECTIONS)})")
    return importlib.import_module(f"wavecap.benchmarks.{name}").run
