"""Test-session setup shared by every test file."""

import os

# Same reason as in wavecap/__init__.py: must precede the first torch import.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


import pytest  # noqa: E402  (after the environment is set, before any torch import)

from wavecap.runtime import torch_threads  # noqa: E402


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a test module of tiny tensors (see wavecap.runtime)."""
    with torch_threads(1):
        yield
