"""Test-session setup shared by every test file."""

import os

# Same reason as in wavecap/__init__.py: must precede the first torch import.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pybullet as pb  # noqa: E402  (imports follow the environment setting above)
import pytest  # noqa: E402

from wavecap.body import build_body_model  # noqa: E402
from wavecap.runtime import torch_threads  # noqa: E402


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a test module of tiny tensors (see wavecap.runtime)."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def body():
    """The stand-in body model, built once per test module."""
    return build_body_model("stand-in")


@pytest.fixture()
def client():
    """A headless PyBullet client, disconnected after the test."""
    cid = pb.connect(pb.DIRECT)
    yield cid
    pb.disconnect(cid)
