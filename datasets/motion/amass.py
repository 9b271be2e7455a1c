"""Read and write motions in the AMASS ``.npz`` layout.

AMASS (for users who have their own copy; it cannot ship with WaveCap) stores
one sequence per file:

* ``poses`` [T, 156] (SMPL-H: root + 21 body joints + 2 x 15 hand joints),
  [T, 165] (SMPL-X: + jaw, eyes, hands) or [T, 72] (SMPL), axis-angle. The
  first 22 joints (root + 21 body joints) are SMPL's joints 0..21 in SMPL's
  order in all three. SMPL's hand joints 22/23 have no counterpart in
  SMPL-H/-X files and are set to identity; 72-column files keep theirs.
* ``trans`` [T, 3] metres: the same translation smplx adds after rotating
  about the root joint (our ``transl``).
* ``betas`` [16] (SMPL-H) or [10]: the first 10 are used. They are
  SMPL-H/-X shape coefficients, so on SMPL or the stand-in the body shape is
  only approximate.
* ``mocap_framerate`` (SMPL-H release) or ``mocap_frame_rate`` (SMPL-X
  release): frames per second.

AMASS sequences are z-up, like WaveCap's world: the root rotation already
maps the SMPL template (y-up) to z-up, so it is used as it is. The facing
direction and the floor height are whatever the capture had (the floor is
often not exactly z = 0). The ``gender`` entry is ignored (WaveCap uses one
body model).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wavecap.datasets.motion.motion import NUM_BETAS, NUM_BODY_JOINTS, Motion
from wavecap.errors import DataError

FPS_KEYS = ("mocap_framerate", "mocap_frame_rate")
SMPLH_COLUMNS = 156
SMPL_COLUMNS = 3 * (NUM_BODY_JOINTS + 1)  # 72
AMASS_BODY_COLUMNS = 66  # root + 21 body joints


def _field(data, name: str, path: Path) -> np.ndarray:
    if name not in data.files:
        raise DataError(f"AMASS file has no '{name}' entry (found: {', '.join(sorted(data.files))})",
                        file=str(path), field=name)
    try:
        value = np.asarray(data[name])
    except ValueError as err:  # e.g. an object array, which needs pickle
        raise DataError(f"cannot read '{name}': {err}", file=str(path), field=name) from err
    if not np.issubdtype(value.dtype, np.number):
        raise DataError(f"'{name}' is not numeric (dtype {value.dtype})", file=str(path), field=name)
    value = value.astype(np.float64)
    bad = np.argwhere(~np.isfinite(value))
    if bad.size:
        raise DataError(f"'{name}' contains NaN or Inf", file=str(path), field=name,
                        frame=int(bad[0][0]) if value.ndim > 1 else None)
    return value


def load_amass_npz(path: str | Path, target_fps: float | None = None) -> Motion:
    """Load an AMASS sequence as a world-frame :class:`Motion`.

    Args:
        path: the ``.npz`` file.
        target_fps: resample to this frame rate (SLERP / linear); the file's
            rate when None.

    Returns:
        The motion, named after the file, without contacts.

    Raises:
        DataError: the file cannot be read, or an entry is missing, has the
            wrong shape, or holds NaN/Inf (the message names file and field).
    """
    path = Path(path)
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise DataError(f"cannot read AMASS file: {err}", file=str(path)) from err
    with data:
        poses = _field(data, "poses", path)
        if poses.ndim != 2 or poses.shape[1] % 3 or poses.shape[1] < AMASS_BODY_COLUMNS or poses.shape[0] < 1:
            raise DataError(f"'poses' has shape {poses.shape}, expected [T, 156 / 165 / 72] axis-angle",
                            file=str(path), field="poses")
        frames = poses.shape[0]
        trans = _field(data, "trans", path)
        if trans.shape != (frames, 3):
            raise DataError(f"'trans' has shape {trans.shape}, expected [{frames}, 3]", file=str(path), field="trans")
        betas = _field(data, "betas", path).reshape(-1)
        if betas.size < NUM_BETAS:
            raise DataError(f"'betas' has {betas.size} values, expected at least {NUM_BETAS}",
                            file=str(path), field="betas")
        fps_key = next((key for key in FPS_KEYS if key in data.files), None)
        if fps_key is None:
            raise DataError(f"AMASS file has no frame rate ({' or '.join(FPS_KEYS)})", file=str(path),
                            field=FPS_KEYS[0])
        fps = _field(data, fps_key, path)
        if fps.size != 1 or float(fps.reshape(-1)[0]) <= 0:
            raise DataError(f"'{fps_key}' must be one positive number, got {fps}", file=str(path), field=fps_key)
    if poses.shape[1] == SMPL_COLUMNS:
        body_pose = poses[:, 3:SMPL_COLUMNS]
    else:
        hands = np.zeros((frames, SMPL_COLUMNS - AMASS_BODY_COLUMNS))
        body_pose = np.concatenate([poses[:, 3:AMASS_BODY_COLUMNS], hands], axis=1)
    motion = Motion(fps=float(fps.reshape(-1)[0]), global_orient=poses[:, :3], body_pose=body_pose,
                    betas=betas[:NUM_BETAS], transl=trans, name=path.stem)
    if target_fps is not None and target_fps != motion.fps:
        count = int(np.floor(motion.duration * target_fps + 1e-9)) + 1
        motion = motion.resample(np.arange(count) / target_fps)
    return motion


def save_amass_npz(motion: Motion, path: str | Path, columns: int = SMPLH_COLUMNS) -> None:
    """Write a motion in the AMASS layout (the inverse of :func:`load_amass_npz`).

    Args:
        motion: the motion (world frame, z-up, as AMASS).
        path: output ``.npz`` file.
        columns: 156 (SMPL-H, the AMASS default: body joints 0..21, hand
            joints zero; SMPL's hand joints 22/23 are dropped) or 72 (SMPL,
            all 24 joints kept).

    Writes ``poses``, ``trans``, ``betas`` (16, zero-padded),
    ``mocap_framerate`` and ``gender`` = "neutral".
    """
    if columns not in (SMPLH_COLUMNS, SMPL_COLUMNS):
        raise ValueError(f"columns must be {SMPLH_COLUMNS} or {SMPL_COLUMNS}, got {columns}")
    frames = len(motion)
    poses = np.zeros((frames, columns))
    full = np.concatenate([motion.global_orient, motion.body_pose], axis=1)  # [T, 72]
    keep = SMPL_COLUMNS if columns == SMPL_COLUMNS else AMASS_BODY_COLUMNS
    poses[:, :keep] = full[:, :keep]
    betas = np.zeros(16)
    betas[:NUM_BETAS] = motion.betas
    np.savez(path, poses=poses, trans=motion.transl, betas=betas,
             mocap_framerate=np.float64(motion.fps), gender=np.str_("neutral"))
