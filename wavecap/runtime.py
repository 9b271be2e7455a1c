"""Process-wide runtime settings shared by scripts, benchmarks and tests."""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run a block with ``count`` torch intra-op threads, restored afterwards.

    Many tiny ops (3x3 fits, per-frame streaming steps, small test models) gain
    nothing from a thread pool and pay for waking it on every op.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
