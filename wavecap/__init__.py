"""WaveCap: mmWave-radar motion capture trained by an RGB teacher.

The shared core (body model, geometry, errors) lives in this package; the
pipeline stages are installed beside it as ``wavecap.teacher``,
``wavecap.student``, ``wavecap.physics`` and ``wavecap.datasets``.
"""

import os

# OpenMP threads that spin while waiting made two torch threads 5-60x slower
# than one on shared 2-core machines (measured: joint-only FK 1.4k vs 84k
# frames/s). Passive waiting must be chosen before torch loads libgomp, so
# entry points import wavecap before torch; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
