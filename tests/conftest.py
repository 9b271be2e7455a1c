"""Test-session setup shared by every test file."""

import os

# Same reason as in wavecap/__init__.py: must precede the first torch import.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
