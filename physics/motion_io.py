"""Motions to refine: from AMASS ``.npz`` files or from session groups.

A session (``docs/session_format.md``) holds SMPL motions in two places:
``/ground_truth`` (``smpl/global_orient``, ``smpl/body_pose``, ``smpl/betas``,
``smpl/transl``, ``contacts``) and teacher/student runs ``/labels/<run>``
(fields ``global_orient``, ``body_pose``, ``betas``, ``transl`` and optionally
per-point ``contacts`` probabilities, on the run's timebase). The frame rate
is taken from the group's timestamps (median spacing).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wavecap.datasets import open_session
from wavecap.datasets.motion import Motion, load_amass_npz
from wavecap.errors import DataError

SMPL_FIELDS = ("global_orient", "body_pose", "betas", "transl")


def _fps(timestamps: np.ndarray, path: str, group: str) -> float:
    steps = np.diff(np.asarray(timestamps, dtype=np.float64))
    if steps.size == 0 or not np.all(steps > 0):
        raise DataError("need at least 2 strictly increasing timestamps", file=path, group=group, field="timestamps")
    return float(1.0 / np.median(steps))


def _betas(values: np.ndarray) -> np.ndarray:
    """[10] from per-session [B] or per-frame [T, B] shape coefficients (the first frame's)."""
    values = np.asarray(values, dtype=np.float64)
    return (values if values.ndim == 1 else values[0])[:10]


def load_motion(path: str | Path, group: str | None = None) -> tuple[Motion, np.ndarray | None]:
    """Load a motion to refine, with contacts when the source has them.

    Args:
        path: an AMASS ``.npz`` file, or a session ``.h5`` file.
        group: for sessions, ``"ground_truth"`` (the default) or
            ``"labels/<run>"``.

    Returns:
        The motion (world frame) and [T, 4] contacts (bool for ground
        truth, probabilities for labels) or None.

    Raises:
        DataError: unreadable file, missing field, bad shapes or NaN/Inf.
    """
    path = Path(path)
    if path.suffix == ".npz":
        if group is not None:
            raise DataError("an AMASS .npz file has no groups", file=str(path), group=group)
        return load_amass_npz(path), None
    group = group or "ground_truth"
    with open_session(path) as session:
        if group == "ground_truth":
            truth = session.ground_truth
            if truth is None:
                raise DataError("session has no ground truth", file=str(path), group="/ground_truth")
            smpl = truth.smpl()
            missing = [name for name in SMPL_FIELDS if name not in smpl]
            if missing:
                raise DataError(f"ground truth lacks SMPL fields {missing}", file=str(path), group="/ground_truth")
            contacts = truth.field("contacts") if "contacts" in truth.names else None
            fps = _fps(truth.timestamps, str(path), "/ground_truth")
        elif group.startswith("labels/"):
            run = session.labels(group.split("/", 1)[1])
            missing = [name for name in SMPL_FIELDS if name not in run.field_names]
            if missing:
                raise DataError(f"label run lacks SMPL fields {missing}", file=str(path), group=f"/{group}")
            smpl = {name: run.read(name) for name in SMPL_FIELDS}
            contacts = run.read("contacts") if "contacts" in run.field_names else None
            timebase = {"/radar": session.radar, "/camera": session.camera}.get(run.timebase)
            if timebase is None:
                raise DataError(f"unknown label timebase {run.timebase!r}", file=str(path), group=f"/{group}",
                                field="timebase")
            fps = _fps(timebase.timestamps, str(path), run.timebase)
        else:
            raise DataError("group must be 'ground_truth' or 'labels/<run>'", file=str(path), group=group)
    motion = Motion(fps=fps, global_orient=smpl["global_orient"], body_pose=smpl["body_pose"],
                    betas=_betas(smpl["betas"]), transl=smpl["transl"], name=f"{path.stem}:{group}")
    if contacts is not None and contacts.shape != (len(motion), 4):
        raise DataError(f"contacts have shape {contacts.shape}, expected [{len(motion)}, 4]", file=str(path),
                        group=f"/{group}", field="contacts")
    return motion, contacts
