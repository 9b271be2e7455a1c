"""Wall-clock helpers shared by benchmark sections."""

from __future__ import annotations

import os
import platform
import statistics
import time
from typing import Callable

import torch


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def machine_info() -> dict[str, str | int]:
    """What the figures were measured on."""
    return {
        "machine.cpu_count": os.cpu_count() or 0,
        "machine.torch_threads": torch.get_num_threads(),
        "machine.processor": platform.processor() or platform.machine(),
        "machine.python": platform.python_version(),
        "machine.torch": torch.__version__,
    }
