"""WaveCap: mmWave-radar motion capture trained by an RGB teacher.

The shared core (body model, geometry, errors) lives in this package; the
pipeline stages are installed beside it as ``wavecap.teacher``,
``wavecap.student``, ``wavecap.physics`` and ``wavecap.datasets``.
"""

__version__ = "0.1.0"
