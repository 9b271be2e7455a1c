"""The ``Motion`` container: one subject's SMPL parameters over uniformly sampled time.

Parameters are WORLD-frame (z-up, metres): ``global_orient`` already contains
the SMPL-canonical (y-up) to world rotation, so ``BodyModel`` outputs computed
from a motion are directly in the world (see ``docs/frames.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from wavecap.errors import DataError
from wavecap.geometry import axis_angle_to_matrix, matrix_to_axis_angle, resample_linear, resample_rotations

NUM_BODY_JOINTS = 23
NUM_BETAS = 10
# Order of the four foot points in ``contacts`` and in foot-point arrays.
FOOT_POINT_NAMES: tuple[str, ...] = ("left_heel", "left_toe", "right_heel", "right_toe")


def _as_array(value: np.ndarray, shape: tuple[int | None, ...], name: str, dtype: type = np.float64) -> np.ndarray:
    """Check ``value`` against ``shape`` (None = any length) and finiteness; return a copy."""
    array = np.array(value, dtype=dtype)
    if array.ndim != len(shape) or any(want is not None and got != want for got, want in zip(array.shape, shape)):
        wanted = "[" + ", ".join("T" if want is None else str(want) for want in shape) + "]"
        raise DataError(f"Motion field has shape {array.shape}, expected {wanted}", field=name)
    if dtype is np.float64 and not np.all(np.isfinite(array)):
        frame = int(np.argwhere(~np.isfinite(array))[0][0]) if array.ndim > 1 else None
        raise DataError("Motion field contains NaN or Inf", field=name, frame=frame)
    return array


@dataclass
class Motion:
    """SMPL motion of one subject, world frame (z-up), uniformly sampled.

    Attributes:
        fps: frames per second (> 0).
        global_orient: [T, 3] root rotation, axis-angle, world frame (includes
            the SMPL y-up -> world z-up rotation).
        body_pose: [T, 69] local rotations of SMPL joints 1..23, axis-angle.
        betas: [10] shape coefficients.
        transl: [T, 3] smplx translation, metres, world (added after the root
            rotation about the rest root joint).
        name: free-form identifier (movement name, source file, ...).
        contacts: optional [T, 4] bool foot contacts in the order
            (left_heel, left_toe, right_heel, right_toe).
        segment: optional [T] str, the movement active at each frame.
    """

    fps: float
    global_orient: np.ndarray
    body_pose: np.ndarray
    betas: np.ndarray
    transl: np.ndarray
    name: str = ""
    contacts: np.ndarray | None = None
    segment: np.ndarray | None = field(default=None)

    def __post_init__(self) -> None:
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise DataError(f"fps must be a positive number, got {self.fps}", field="fps")
        self.fps = float(self.fps)
        self.global_orient = _as_array(self.global_orient, (None, 3), "global_orient")
        frames = self.global_orient.shape[0]
        self.body_pose = _as_array(self.body_pose, (frames, 3 * NUM_BODY_JOINTS), "body_pose")
        self.betas = _as_array(self.betas, (NUM_BETAS,), "betas")
        self.transl = _as_array(self.transl, (frames, 3), "transl")
        if self.contacts is not None:
            self.contacts = _as_array(self.contacts, (frames, len(FOOT_POINT_NAMES)), "contacts", bool)
        if self.segment is not None:
            self.segment = _as_array(self.segment, (frames,), "segment", str)

    def __len__(self) -> int:
        return self.global_orient.shape[0]

    @property
    def duration(self) -> float:
        """Seconds from the first to the last frame."""
        return (len(self) - 1) / self.fps

    def times(self) -> np.ndarray:
        """[T] frame times in seconds, the first frame at 0."""
        return np.arange(len(self), dtype=np.float64) / self.fps

    def slice(self, start: int, stop: int) -> Motion:
        """Frames ``start`` (inclusive) to ``stop`` (exclusive), as a new motion."""
        frames = slice(start, stop)
        if len(range(len(self))[frames]) == 0:
            raise ValueError(f"empty slice [{start}:{stop}] of a {len(self)}-frame motion")
        return Motion(
            fps=self.fps,
            global_orient=self.global_orient[frames],
            body_pose=self.body_pose[frames],
            betas=self.betas,
            transl=self.transl[frames],
            name=self.name,
            contacts=None if self.contacts is None else self.contacts[frames],
            segment=None if self.segment is None else self.segment[frames],
        )

    def rotations(self) -> np.ndarray:
        """[T, 24, 3, 3] local rotation matrices (root first), float64."""
        aa = np.concatenate([self.global_orient, self.body_pose], axis=1).reshape(len(self), -1, 3)
        return axis_angle_to_matrix(torch.from_numpy(aa)).numpy()

    def resample(self, times_dst: np.ndarray) -> Motion:
        """Sample the motion at new, uniformly spaced times.

        Every joint rotation (root included) is interpolated by SLERP, the
        translation linearly, contacts and segment labels by nearest frame.
        Queries outside [0, duration] take the end values.

        Args:
            times_dst: [M] uniformly spaced, increasing times in seconds
                (relative to the first frame); M >= 2, or M == 1 (fps kept).

        Returns:
            The resampled motion; its fps is 1 / spacing of ``times_dst``.
        """
        times_dst = np.asarray(times_dst, dtype=np.float64)
        if times_dst.ndim != 1 or times_dst.size == 0:
            raise ValueError(f"times_dst must be a non-empty 1-D array, got shape {times_dst.shape}")
        fps = self.fps
        if times_dst.size > 1:
            steps = np.diff(times_dst)
            if steps.min() <= 0 or (steps.max() - steps.min()) > 1e-6 * steps.mean():
                raise ValueError("times_dst must be uniformly spaced and increasing")
            # 12 significant digits drop the rounding noise of 1 / step (60.000000000000014).
            fps = float(f"{(times_dst.size - 1) / (times_dst[-1] - times_dst[0]):.12g}")
        src = torch.from_numpy(self.times())
        dst = torch.from_numpy(times_dst)
        rot = resample_rotations(src, torch.from_numpy(self.rotations()), dst)  # [M, 24, 3, 3]
        aa = matrix_to_axis_angle(rot).numpy().reshape(times_dst.size, -1)
        transl = resample_linear(src, torch.from_numpy(self.transl), dst).numpy()
        nearest = np.clip(np.rint(times_dst * self.fps).astype(np.int64), 0, len(self) - 1)
        return Motion(
            fps=fps,
            global_orient=aa[:, :3],
            body_pose=aa[:, 3:],
            betas=self.betas,
            transl=transl,
            name=self.name,
            contacts=None if self.contacts is None else self.contacts[nearest],
            segment=None if self.segment is None else self.segment[nearest],
        )

    def to_torch(
        self, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
    ) -> dict[str, torch.Tensor]:
        """Body-model inputs: ``model(**motion.to_torch())`` poses every frame.

        Returns:
            ``global_orient`` [T, 3], ``body_pose`` [T, 69], ``betas`` [1, 10]
            (broadcast over frames by the body model), ``transl`` [T, 3].
        """
        def tensor(array: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(array, dtype=dtype, device=device)

        return {
            "global_orient": tensor(self.global_orient),
            "body_pose": tensor(self.body_pose),
            "betas": tensor(self.betas[None]),
            "transl": tensor(self.transl),
        }
