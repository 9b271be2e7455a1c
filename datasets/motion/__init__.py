"""Human motion for synthetic captures: the Motion container, a procedural library, AMASS I/O.

* :class:`Motion` — world-frame SMPL parameters over time (z-up, metres).
* :func:`generate` — one library movement (``MOVEMENTS``), grounded with the
  body model so stance feet stay on the floor without sliding.
* :func:`sequence` — join motions with SLERP cross-fades and a continuous root.
* :func:`random_program` / :func:`program_from_config` — a whole capture program.
* :func:`foot_points`, :func:`foot_contacts` — heel/toe trajectories and contacts.
* :func:`load_amass_npz`, :func:`save_amass_npz` — AMASS ``.npz`` files.
"""

from __future__ import annotations

from wavecap.datasets.motion.amass import load_amass_npz, save_amass_npz
from wavecap.datasets.motion.contacts import foot_contacts
from wavecap.datasets.motion.feet import foot_points
from wavecap.datasets.motion.library import MOVEMENTS, generate
from wavecap.datasets.motion.motion import FOOT_POINT_NAMES, Motion
from wavecap.datasets.motion.program import program_from_config, random_program
from wavecap.datasets.motion.sequence import sequence

__all__ = [
    "FOOT_POINT_NAMES",
    "MOVEMENTS",
    "Motion",
    "foot_contacts",
    "foot_points",
    "generate",
    "load_amass_npz",
    "program_from_config",
    "random_program",
    "save_amass_npz",
    "sequence",
]
