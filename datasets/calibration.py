"""Calibration from motion: the radar's extrinsic and clock offset against a label stream.

A person moving through the scene is seen twice: by the radar, as a point
cloud whose robust centre follows the body, and by a label stream (mocap
ground truth, a Kinect, the teacher) as joints. Aligning the two
trajectories gives the rigid transform from the radar frame to the label's
frame and the offset between their clocks:

1. **Centres.** Per radar frame, the robust centre of its points (median,
   then the mean of the points within ``gate_m`` of it, twice). Per label
   frame, the mean of SMPL's 24 joints estimated from the label's skeleton
   (``wavecap.skeletons``): on SMPL meshes the mean joint lies within ~1 cm of
   the mean vertex, i.e. of the body surface the radar samples.
2. **Clock offset, coarse.** Normalised cross-correlation of the two centre
   speeds (smoothed over ``smooth_s``; speed is invariant to the unknown
   rotation and translation) over offsets within ``max_offset_s``, refined to
   sub-sample resolution by a parabola through the peak.
3. **Rigid fit.** Kabsch (``wavecap.geometry.rigid_align``) of radar centres
   onto label centres at the offset, alternating with a linear fit of the
   surface offset: radar points lie on the body's near side, so each radar
   centre is moved ``d`` metres further along its line of sight. Frames whose
   residual exceeds ``outlier_factor`` times the median are dropped and the fit
   repeated.
4. **Clock offset, fine.** The residual of the rigid fit as a function of the
   offset, minimised on a grid of a tenth of a radar frame period around the
   coarse value (parabolic refinement); then step 3 again. Steps 3-4 repeat
   ``iterations`` times.

5. **Surface stage** (``calibration_surface``, when the reference has SMPL
   parameters and the radar a Doppler column and known resolutions). Steps
   1-4 match centroids, and a radar's detections are not spread over the body
   as its joints or its surface are: one detection per resolution cell that
   passed the detector, so fast-moving limbs (spread over Doppler bins) count
   more and surfaces at rest none. A constant offset between the two centres
   cannot be told from the radar's position (the height, above all: two
   elevation antennas barely resolve it), and a part that varies with range
   tilts the rotation. On the ray-cast simulator (``wavecap.datasets.sim``)
   the centroid stage ends 20-35 cm and up to 6 deg off, 40 ms late. The
   surface stage compares each detection instead with the reference body's
   surface inside that detection's own range-azimuth-Doppler cell, refits
   (predict, fit, repeat) and refines the clock, which takes the same
   captures to 1-3 cm, 0.5-0.6 deg and a few ms.

The rotation needs motion that spans two dimensions (walking around, not
along one line); a degenerate recording is refused. With ``fit_tilt=False``
the radar's pitch and roll are kept from the session (level or
inclinometer-measured mounts) and only the heading is fitted. Without SMPL
parameters (keypoint references) the result is the centroid stage's, and
the result says why (``note``).

The result goes into the session's optional ``/calibration`` group
(``docs/session_format.md``), written atomically; raw streams are untouched.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
from dataclasses import dataclass, fields

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d

from wavecap.body import BodyModel, build_body_model
from wavecap.errors import DataError
from wavecap.geometry import rigid_align
from wavecap.runtime import torch_threads
from wavecap.skeletons import get_skeleton, smpl_from_skeleton

from ._h5 import decode_attrs, fsync, h5_guard, open_h5, set_attrs
from .calibration_surface import Detections, RadarCell, SurfaceMotion, parabola_vertex, refine_on_surface
from .session_reader import Session, open_session
from .session_schema import SCHEMA_VERSION
from .session_validate import session_errors
from .session_writer import _fsync_folder, temp_path

CALIBRATION_GROUP = "/calibration"
SURFACE_MODES = ("auto", "always", "never")
# Azimuth beam in direction sine when neither the options nor the session give it: 2 / 8 virtual azimuth
# antennas (TI xWR6843ISK, xWR1443BOOST).
DEFAULT_AZIMUTH_RESOLUTION = 0.25


@dataclass(frozen=True)
class CalibrationOptions:
    """Settings of :func:`calibrate_session` (``configs/datasets/calibration.yaml``).

    Attributes:
        reference: label stream to align to: ``auto`` (``/ground_truth`` joints,
            else the only ``/keypoints/<name>`` stream), ``/ground_truth`` or
            ``/keypoints/<name>``.
        max_offset_s: largest clock offset searched (s), either sign.
        min_points: radar frames with fewer points have no centre.
        gate_m: radius around a frame's median kept for its centre (m).
        static_fraction: points in 20 cm voxels occupied in more than this
            share of the frames are static clutter and ignored.
        smooth_s: Gaussian smoothing of the centre tracks before speeds (s).
        outlier_factor: frames with residual above this times the median are outliers.
        min_gate_m: outlier threshold never below this (m).
        iterations: rounds of fine offset search + rigid fit.
        fit_surface_offset: estimate the near-side offset of radar centres.
        fit_tilt: estimate all three angles; False keeps the radar's pitch and
            roll from the session's ``T_world_from_radar`` (a level or
            inclinometer-measured mount) and fits only the heading, which is
            more robust when the radar's vertical sampling of the body is
            biased (reference in the world frame only).
        min_spread_m: the label track must span this much in its second
            principal direction (m), or the rotation is undetermined.
        surface: the surface stage (``calibration_surface``): ``auto`` (when
            the reference has SMPL parameters and the radar a Doppler column
            and known resolutions), ``always`` (refuse without) or ``never``.
        range_resolution_m: range bin (m); None = the session's radar config
            ``range_resolution_m``.
        doppler_resolution_mps: Doppler bin (m/s); None = the radar config's
            ``doppler_resolution_mps``.
        azimuth_resolution: azimuth beam in direction sine, ``2 / virtual
            azimuth antennas`` (0.25: the 8 of TI's xWR6843ISK / xWR1443BOOST);
            None = the radar config's ``azimuth_resolution``, else 0.25.
        clutter_removal: the radar removed static returns (TI's default).
        surface_frames: radar frames (evenly spread) the surface stage uses.
        surface_rounds: most predict-and-fit rounds per pose convergence of the surface stage.
    """

    reference: str = "auto"
    max_offset_s: float = 2.0
    min_points: int = 3
    gate_m: float = 1.0
    static_fraction: float = 0.3
    smooth_s: float = 0.15
    outlier_factor: float = 3.0
    min_gate_m: float = 0.05
    iterations: int = 3
    fit_surface_offset: bool = True
    fit_tilt: bool = True
    min_spread_m: float = 0.3
    surface: str = "auto"
    range_resolution_m: float | None = None
    doppler_resolution_mps: float | None = None
    azimuth_resolution: float | None = None
    clutter_removal: bool = True
    surface_frames: int = 100
    surface_rounds: int = 20

    def __post_init__(self) -> None:
        if self.surface not in SURFACE_MODES:
            raise ValueError(f"surface must be one of {SURFACE_MODES}, got {self.surface!r}")

    @classmethod
    def from_dict(cls, values: dict | None) -> CalibrationOptions:
        """Build from a config mapping; unknown keys are an error."""
        values = dict(values or {})
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown calibration options {unknown}")
        return cls(**values)


@dataclass(frozen=True)
class MotionCalibration:
    """Result of a calibration from motion.

    Attributes:
        T_reference_from_radar: (4, 4) rigid transform radar -> reference frame (m).
        time_offset_s: radar frame time on the reference clock = radar timestamp + this (s).
        surface_offset_m: fitted distance of radar centres in front of the body centre (m).
        residual_rms_m: RMS distance after the fit, inliers (m).
        residual_median_m: median distance after the fit, inliers (m).
        inlier_fraction: share of the usable frames kept.
        frames_used: radar frames with a centre and a reference sample.
        reference: stream aligned to (``/ground_truth``, ``/keypoints/<name>``).
        reference_frame: its coordinate frame (``world``, ``camera``, ``radar``).
        T_world_from_radar: (4, 4) calibrated extrinsic, or None when the
            reference frame does not reach world.
        model: ``surface`` when the surface stage refined the fit (residuals
            are then per detection), else ``centroids`` (per frame).
        note: why the surface stage did not run, if it did not.
    """

    T_reference_from_radar: np.ndarray  # noqa: N815
    time_offset_s: float
    surface_offset_m: float
    residual_rms_m: float
    residual_median_m: float
    inlier_fraction: float
    frames_used: int
    reference: str = ""
    reference_frame: str = "world"
    T_world_from_radar: np.ndarray | None = None  # noqa: N815
    model: str = "centroids"
    note: str = ""

    def summary(self) -> str:
        """One human-readable paragraph."""
        angle = np.degrees(np.arccos(np.clip((np.trace(self.T_reference_from_radar[:3, :3]) - 1) / 2, -1, 1)))
        return (f"radar -> {self.reference} ({self.reference_frame}): rotation {angle:.2f} deg, translation "
                f"{np.round(self.T_reference_from_radar[:3, 3], 4).tolist()} m, clock offset "
                f"{self.time_offset_s * 1e3:+.1f} ms, surface offset {self.surface_offset_m * 100:.1f} cm, residual "
                f"{self.residual_rms_m * 100:.1f} cm RMS / {self.residual_median_m * 100:.1f} cm median over "
                f"{self.frames_used} frames ({self.inlier_fraction:.0%} inliers), {self.model} model"
                + (f" ({self.note})" if self.note else ""))


# -- centres -----------------------------------------------------------------------------------


def static_points(points: np.ndarray, offsets: np.ndarray, voxel_m: float = 0.2, fraction: float = 0.3) -> np.ndarray:
    """(N,) True for points in voxels occupied in more than ``fraction`` of the frames: static clutter.

    A person walking around occupies any one voxel briefly; furniture and
    multipath from walls stay put. Radars that already remove static clutter
    (TI's default) leave nothing for this to find.

    Args:
        points: (N, >=3) points of all frames (m).
        offsets: (T+1,) frame offsets.
        voxel_m: voxel edge (m).
        fraction: share of frames above which a voxel is static.
    """
    n_frames = len(offsets) - 1
    if len(points) == 0 or n_frames == 0:
        return np.zeros(len(points), bool)
    xyz = np.asarray(points[:, :3], dtype=np.float64)
    frame = np.repeat(np.arange(n_frames), np.diff(offsets))
    static = np.zeros(len(xyz), bool)
    # Two grids half a voxel apart: a noisy static point near a cell boundary of
    # one grid spreads over several cells there but sits inside one cell of the other.
    for shift in (0.0, 0.5):
        cells = np.floor(xyz / voxel_m + shift).astype(np.int64)
        _, cell_id = np.unique(cells, axis=0, return_inverse=True)
        cell_id = cell_id.reshape(-1)
        # Count each (cell, frame) pair once: the frames in which the cell is occupied.
        pairs = np.unique(cell_id * n_frames + frame)
        frames_per_cell = np.bincount(pairs // n_frames, minlength=cell_id.max() + 1)
        static |= frames_per_cell[cell_id] > fraction * n_frames
    return static


def radar_centres(points: np.ndarray, offsets: np.ndarray, min_points: int = 3, gate_m: float = 1.0,
                  static_fraction: float = 0.3) -> np.ndarray:
    """Robust centre of the moving points of each radar frame.

    Static clutter is removed first (:func:`static_points`); then the centre
    is the median, refined twice as the mean of the points within ``gate_m``
    of it (a person is ~1.7 m tall, so the gate keeps head and feet while
    dropping ghosts further away).

    Args:
        points: (N, >=3) points of all frames; x, y, z in metres, radar frame.
        offsets: (T+1,) frame offsets into ``points``.
        min_points: frames with fewer points (after gating) get NaN.
        gate_m: keep points within this distance of the frame's centre (m).
        static_fraction: see :func:`static_points`; 1 disables the removal.

    Returns:
        (T, 3) centres, NaN where a frame has too few points.
    """
    xyz = np.asarray(points[:, :3], dtype=np.float64)
    moving = ~static_points(xyz, offsets, fraction=static_fraction)
    centres = np.full((len(offsets) - 1, 3), np.nan)
    for i, (a, b) in enumerate(zip(offsets[:-1], offsets[1:])):
        p = xyz[a:b][moving[a:b]]
        if len(p) < min_points:
            continue
        centre = np.median(p, axis=0)
        for _ in range(2):
            near = p[np.linalg.norm(p - centre, axis=1) <= gate_m]
            if len(near) < min_points:
                break
            centre = near.mean(axis=0)
        else:
            centres[i] = centre
    return centres


def reference_centres(joints: np.ndarray, skeleton: str) -> np.ndarray:
    """Body centre per label frame: the mean of the 24 SMPL joints estimated from ``skeleton``.

    Args:
        joints: (T, J, 3) joints of ``skeleton`` (NaN = untracked).
        skeleton: skeleton name.

    Returns:
        (T, 3) centres; NaN where a used joint is untracked.
    """
    smpl, mask = smpl_from_skeleton(np.asarray(joints, dtype=np.float64), skeleton)
    return smpl[:, mask].mean(axis=1)


# -- fitting -----------------------------------------------------------------------------------


def _interp(t: np.ndarray, tq: np.ndarray, x: np.ndarray) -> np.ndarray:
    """x (T, D) sampled at t, evaluated at tq; NaN outside [t0, t1]."""
    out = np.stack([np.interp(tq, t, x[:, d]) for d in range(x.shape[1])], axis=1)
    out[(tq < t[0]) | (tq > t[-1])] = np.nan
    return out


def _smoothed_speed(t: np.ndarray, x: np.ndarray, smooth_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Speed (m/s) of a centre track after Gaussian smoothing, on the frames where it is known."""
    ok = np.isfinite(x).all(axis=1)
    t, x = t[ok], x[ok]
    dt = float(np.median(np.diff(t)))
    sigma = max(smooth_s / dt, 0.5)
    smooth = gaussian_filter1d(x, sigma, axis=0, mode="nearest")
    return t, np.linalg.norm(np.gradient(smooth, t, axis=0), axis=1)


def coarse_time_offset(radar_t: np.ndarray, radar_c: np.ndarray, ref_t: np.ndarray, ref_c: np.ndarray,
                       max_offset_s: float, smooth_s: float) -> tuple[float, float]:
    """Clock offset maximising the correlation of the two centre speeds.

    Returns:
        The offset (s; reference time = radar time + offset) and the peak correlation.
    """
    rt, rs = _smoothed_speed(radar_t, radar_c, smooth_s)
    lt, ls = _smoothed_speed(ref_t, ref_c, smooth_s)
    step = float(np.median(np.diff(rt))) / 10.0
    lags = np.arange(-max_offset_s, max_offset_s + step / 2, step)
    scores = np.full(len(lags), -np.inf)
    for k, lag in enumerate(lags):
        tq = rt + lag
        inside = (tq >= lt[0]) & (tq <= lt[-1])
        if inside.sum() < 10:
            continue
        a, b = rs[inside], np.interp(tq[inside], lt, ls)
        sa, sb = a.std(), b.std()
        if sa > 0 and sb > 0:
            scores[k] = float(np.mean((a - a.mean()) * (b - b.mean())) / (sa * sb))
    if not np.isfinite(scores).any():
        raise DataError("radar and reference streams do not overlap in time within max_offset_s")
    k = int(np.argmax(scores))
    return lags[k] + parabola_vertex(scores, k) * step, float(scores[k])


@dataclass(frozen=True)
class _Fit:
    R: np.ndarray  # noqa: N815
    t: np.ndarray
    d: float
    residuals: np.ndarray  # (M,) per usable frame
    inliers: np.ndarray  # (M,) bool


def _yaw_align(src: np.ndarray, dst: np.ndarray, tilt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares ``dst ~ Rz(yaw) tilt src + t``: the tilt is fixed, yaw and t are fitted (closed form)."""
    q = src @ tilt.T
    qc, dc = q - q.mean(axis=0), dst - dst.mean(axis=0)
    cross = np.sum(qc[:, 0] * dc[:, 1] - qc[:, 1] * dc[:, 0])
    yaw = np.arctan2(cross, np.sum(qc[:, 0] * dc[:, 0] + qc[:, 1] * dc[:, 1]))
    c, s = np.cos(yaw), np.sin(yaw)
    rotation = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ tilt
    return rotation, dst.mean(axis=0) - rotation @ src.mean(axis=0)


def rigid_fit(src: np.ndarray, dst: np.ndarray, options: CalibrationOptions,
              inliers: np.ndarray | None = None, tilt: np.ndarray | None = None) -> _Fit:
    """Robust rigid fit ``dst ~ R (src + d * src / |src|) + t`` with outlier rejection.

    Args:
        src: (M, 3) radar centres (radar frame, the sensor at the origin).
        dst: (M, 3) reference centres at the same instants.
        options: outlier settings; ``fit_surface_offset`` enables d.
        inliers: (M,) starting inlier mask; all frames when None.
        tilt: (3, 3) known rotation up to a turn about the reference's z axis
            (a level or inclinometer-measured mount): only that turn is fitted.
            None fits the full rotation.

    Returns:
        The fit, with per-frame residuals (m) and the final inlier mask.
    """
    src, dst = np.asarray(src, dtype=np.float64), np.asarray(dst, dtype=np.float64)
    sight = src / np.linalg.norm(src, axis=1, keepdims=True).clip(1e-9)  # (M, 3) unit line of sight
    keep = np.ones(len(src), bool) if inliers is None else inliers.copy()
    d = 0.0
    for _ in range(4):  # outlier rounds
        for _ in range(5):  # alternate rotation and surface offset
            moved = src[keep] + d * sight[keep]
            if tilt is None:
                R, t, _ = rigid_align(torch.from_numpy(moved), torch.from_numpy(dst[keep]))
                R, t = R.numpy(), t.numpy()
            else:
                R, t = _yaw_align(moved, dst[keep], tilt)
            if not options.fit_surface_offset:
                break
            # With R fixed, dst - R src = d R sight + t is linear in (d, t).
            a = np.concatenate([(sight[keep] @ R.T).reshape(-1, 1), np.tile(np.eye(3), (int(keep.sum()), 1))], 1)
            solution, *_ = np.linalg.lstsq(a, (dst[keep] - src[keep] @ R.T).reshape(-1), rcond=None)
            d = float(solution[0])
        residuals = np.linalg.norm((src + d * sight) @ R.T + t - dst, axis=1)
        gate = max(options.outlier_factor * float(np.median(residuals[keep])), options.min_gate_m)
        new_keep = residuals <= gate
        if new_keep.sum() < 3 or np.array_equal(new_keep, keep):
            break
        keep = new_keep
    return _Fit(R, t, d, residuals, keep)


def _pairs(radar_t: np.ndarray, radar_c: np.ndarray, ref_t: np.ndarray, ref_c: np.ndarray,
           offset: float) -> tuple[np.ndarray, np.ndarray]:
    """Radar centres and reference centres at the radar frames' reference times (both finite)."""
    ok_ref = np.isfinite(ref_c).all(axis=1)
    target = _interp(ref_t[ok_ref], radar_t + offset, ref_c[ok_ref])
    ok = np.isfinite(radar_c).all(axis=1) & np.isfinite(target).all(axis=1)
    return radar_c[ok], target[ok]


def calibrate_from_motion(radar_t: np.ndarray, radar_c: np.ndarray, ref_t: np.ndarray, ref_c: np.ndarray,
                          options: CalibrationOptions = CalibrationOptions(),
                          tilt: np.ndarray | None = None) -> MotionCalibration:
    """Rigid transform and clock offset taking radar centres onto reference centres.

    Args:
        radar_t: (T,) radar frame times (s, radar clock).
        radar_c: (T, 3) radar centres (m, radar frame), NaN where unknown.
        ref_t: (K,) reference times (s, reference clock).
        ref_c: (K, 3) reference centres (m, reference frame), NaN where unknown.
        options: search and robustness settings.
        tilt: (3, 3) known rotation up to a turn about the reference z axis, to
            fit only that turn (see :func:`rigid_fit`); None fits all three angles.

    Returns:
        The calibration (``reference`` and world fields left for the caller).

    Raises:
        DataError: too few usable frames, or motion too small to fix the rotation.
    """
    radar_t, radar_c, ref_t, ref_c = (np.asarray(a, dtype=np.float64) for a in (radar_t, radar_c, ref_t, ref_c))
    if np.isfinite(radar_c).all(axis=1).sum() < 10 or np.isfinite(ref_c).all(axis=1).sum() < 10:
        raise DataError("fewer than 10 frames with a radar centre or a reference centre")
    spread = np.linalg.svd(ref_c[np.isfinite(ref_c).all(axis=1)] - np.nanmean(ref_c, axis=0), compute_uv=False)
    second = spread[1] / np.sqrt(np.isfinite(ref_c).all(axis=1).sum())
    if second < options.min_spread_m:
        raise DataError(f"the person's track spans only {second:.2f} m (RMS) across its main direction; the rotation "
                        f"needs motion in two dimensions (>= {options.min_spread_m} m): walk around, not along a line")
    # Hundreds of tiny 3x3 fits: waking a thread pool for each cost ~50x (40 vs 0.8 ms per fit).
    with torch_threads(1):
        return _calibrate(radar_t, radar_c, ref_t, ref_c, options, tilt)


def _calibrate(radar_t: np.ndarray, radar_c: np.ndarray, ref_t: np.ndarray, ref_c: np.ndarray,
               options: CalibrationOptions, tilt: np.ndarray | None) -> MotionCalibration:
    offset, _ = coarse_time_offset(radar_t, radar_c, ref_t, ref_c, options.max_offset_s, options.smooth_s)
    src, dst = _pairs(radar_t, radar_c, ref_t, ref_c, offset)
    fit = rigid_fit(src, dst, options, tilt=tilt)
    period = float(np.median(np.diff(radar_t)))
    for _ in range(options.iterations):
        grid = offset + np.linspace(-1.5, 1.5, 31) * period
        costs = np.array([_robust_cost(radar_t, radar_c, ref_t, ref_c, g, options, tilt) for g in grid])
        k = int(np.argmin(costs))
        offset = float(grid[k] + parabola_vertex(costs, k) * (grid[1] - grid[0]))
        src, dst = _pairs(radar_t, radar_c, ref_t, ref_c, offset)
        fit = rigid_fit(src, dst, options, tilt=tilt)
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = fit.R, fit.t
    inl = fit.residuals[fit.inliers]
    return MotionCalibration(T, offset, fit.d, float(np.sqrt(np.mean(inl**2))), float(np.median(inl)),
                             float(fit.inliers.mean()), len(src))


def _robust_cost(radar_t: np.ndarray, radar_c: np.ndarray, ref_t: np.ndarray, ref_c: np.ndarray, offset: float,
                 options: CalibrationOptions, tilt: np.ndarray | None) -> float:
    """Mean squared residual, at ``offset``, of the best fit over the frames within the current gate."""
    src, dst = _pairs(radar_t, radar_c, ref_t, ref_c, offset)
    if len(src) < 10:
        return np.inf
    trial = rigid_fit(src, dst, dataclasses.replace(options, outlier_factor=np.inf), tilt=tilt)
    gate = max(options.outlier_factor * float(np.median(trial.residuals)), options.min_gate_m)
    return float(np.mean(np.minimum(trial.residuals, gate) ** 2))


# -- sessions ----------------------------------------------------------------------------------


def _reference_stream(session: Session, reference: str) -> tuple[str, np.ndarray, np.ndarray, str, str]:
    """(group, times, joints (K, J, 3), skeleton, frame) of the stream to align to."""
    if reference == "auto":
        gt = session.ground_truth
        if gt is not None and "joints" in gt.names:
            reference = "/ground_truth"
        elif len(session.keypoints) == 1:
            reference = f"/keypoints/{next(iter(session.keypoints))}"
        else:
            raise DataError("no ground-truth joints and not exactly one keypoint stream: set reference=",
                            file=session.path)
    if reference == "/ground_truth":
        gt = session.ground_truth
        if gt is None or "joints" not in gt.names:
            raise DataError("no ground-truth joints to align to", file=session.path, group="/ground_truth")
        return reference, gt.timestamps, gt.field("joints"), gt.skeleton, "world"
    name = reference.removeprefix("/keypoints/")
    if name not in session.keypoints:
        raise DataError(f"no keypoint stream {name!r}; streams: {sorted(session.keypoints)}", file=session.path,
                        group=reference)
    kp = session.keypoints[name]
    return reference, kp.timestamps, kp.positions(), kp.skeleton, kp.coordinate_frame


def calibrate_session(path: str | os.PathLike[str], options: CalibrationOptions = CalibrationOptions(),
                      body_model: BodyModel | None = None) -> MotionCalibration:
    """Estimate the radar's extrinsic and clock offset in a session (see the module docstring).

    Args:
        path: session file with radar frames and ground-truth joints or a keypoint stream.
        options: settings.
        body_model: body model of the ground truth's SMPL parameters, for the
            surface stage; None builds the stand-in when the session says it
            used it. Without the session's body model the stage cannot run.

    Returns:
        The calibration; ``T_world_from_radar`` is set when the reference frame is
        ``world``, or ``camera`` and the session has a camera extrinsic.

    Raises:
        DataError: no usable reference, too little motion, or ``surface=always``
            where the surface stage cannot run.
    """
    with open_session(path) as session:
        reference, ref_t, joints, skeleton, frame = _reference_stream(session, options.reference)
        try:
            get_skeleton(skeleton)
        except ValueError as exc:
            raise DataError(str(exc), file=session.path, group=reference, field="skeleton") from exc
        radar = session.radar
        points = [frame.data for frame in radar.frames()]
        flat = np.concatenate(points) if points else np.zeros((0, len(radar.columns)), np.float32)
        centres = radar_centres(flat, radar.offsets, options.min_points, options.gate_m, options.static_fraction)
        tilt = None
        if not options.fit_tilt:
            if frame != "world":
                raise DataError("fit_tilt=false needs a world-frame reference", file=session.path, group=reference)
            tilt = radar.T_world_from_radar[:3, :3]
        result = calibrate_from_motion(radar.timestamps, centres, ref_t, reference_centres(joints, skeleton), options,
                                       tilt)
        inputs = "surface=never" if options.surface == "never" else _surface_inputs(session, reference, options,
                                                                                     body_model)
        if isinstance(inputs, str):
            if options.surface == "always":
                raise DataError(f"the surface stage cannot run: {inputs}", file=session.path, group=reference)
            result = dataclasses.replace(result, note=inputs)
        else:
            surface, cell, sign = inputs
            doppler = flat[:, radar.columns.index("doppler")] * sign
            moving = ~static_points(flat[:, :3], radar.offsets, fraction=options.static_fraction)
            with torch_threads(1):
                result = _surface_stage(radar.timestamps, flat[:, :3], doppler, np.asarray(radar.offsets), moving,
                                        surface, cell, result, options, tilt)
        world = None
        if frame == "world":
            world = result.T_reference_from_radar
        elif frame == "camera" and session.camera is not None:
            world = session.camera.T_world_from_camera @ result.T_reference_from_radar
    return dataclasses.replace(result, reference=reference, reference_frame=frame, T_world_from_radar=world)


def _surface_inputs(session: Session, reference: str, options: CalibrationOptions, body_model: BodyModel | None
                    ) -> tuple[SurfaceMotion, RadarCell, float] | str:
    """The reference's body surface, the radar's resolution cell and the sign turning its Doppler into
    "positive away"; or why the surface stage cannot run."""
    gt = session.ground_truth
    smpl = gt.smpl() if reference == "/ground_truth" and gt is not None else {}
    if not {"global_orient", "body_pose", "transl"} <= set(smpl):
        return f"{reference} has no SMPL parameters"
    radar = session.radar
    if "doppler" not in radar.columns:
        return "the radar points have no doppler column"
    config = radar.config
    range_m = options.range_resolution_m or config.get("range_resolution_m")
    doppler_mps = options.doppler_resolution_mps or config.get("doppler_resolution_mps")
    if not (range_m and doppler_mps):
        return "the radar's range and Doppler resolution are unknown (set range_resolution_m, doppler_resolution_mps)"
    azimuth = options.azimuth_resolution or config.get("azimuth_resolution") or DEFAULT_AZIMUTH_RESOLUTION
    tag = session.attrs.get("body_model")
    if body_model is None and tag == "stand-in":
        body_model = build_body_model("stand-in")
    if body_model is None or body_model.tag != tag:
        return f"the ground truth's body model ({tag}) was not given"
    surface = SurfaceMotion(body_model, gt.timestamps, smpl["global_orient"], smpl["body_pose"],
                            smpl.get("betas", np.zeros(body_model.num_betas)), smpl["transl"])
    sign = -1.0 if config.get("doppler_sign") == "positive_towards" else 1.0
    return surface, RadarCell(float(range_m), float(azimuth), float(doppler_mps)), sign


def _surface_stage(radar_t: np.ndarray, xyz: np.ndarray, radial: np.ndarray, offsets: np.ndarray, moving: np.ndarray,
                   surface: SurfaceMotion, cell: RadarCell, start: MotionCalibration, options: CalibrationOptions,
                   tilt: np.ndarray | None) -> MotionCalibration:
    """Refine the centroid stage's result on up to ``surface_frames`` frames inside the reference's span."""
    period = float(np.median(np.diff(radar_t)))
    frame_of = np.repeat(np.arange(len(radar_t)), np.diff(offsets))  # (N,)
    counts = np.bincount(frame_of[moving], minlength=len(radar_t))
    tau = radar_t + start.time_offset_s
    lo, hi = surface.span
    usable = np.flatnonzero((counts >= options.min_points) & (tau - 1.5 * period >= lo) & (tau + 1.5 * period <= hi))
    if len(usable) < 10:
        raise DataError(f"only {len(usable)} radar frames with moving points lie inside the reference's span")
    chosen = usable[np.unique(np.linspace(0, len(usable) - 1, min(options.surface_frames, len(usable))).round()
                              .astype(int))]
    index = np.full(len(radar_t), -1)
    index[chosen] = np.arange(len(chosen))
    keep = moving & (index[frame_of] >= 0)
    detections = Detections(index[frame_of[keep]], xyz[keep].astype(np.float64), radial[keep].astype(np.float64))
    plain = dataclasses.replace(options, fit_surface_offset=False)  # predictions already lie on the near side

    def fit(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        f = rigid_fit(src, dst, plain, tilt=tilt)
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = f.R, f.t
        return T, f.residuals, f.inliers

    try:
        refined = refine_on_surface(surface, radar_t[chosen], detections, start.T_reference_from_radar,
                                    start.time_offset_s, cell, fit, options.clutter_removal, options.surface_rounds)
    except ValueError as exc:
        raise DataError(f"surface stage: {exc}") from exc
    inliers = refined.residuals[refined.inliers]
    return dataclasses.replace(
        start, T_reference_from_radar=refined.T_reference_from_radar, time_offset_s=refined.time_offset_s,
        residual_rms_m=float(np.sqrt(np.mean(inliers**2))), residual_median_m=float(np.median(inliers)),
        inlier_fraction=float(refined.inliers.mean()), frames_used=len(chosen), model="surface")


def write_calibration(path: str | os.PathLike[str], calibration: MotionCalibration, overwrite: bool = True,
                      created_by: str = "wavecap.datasets.calibration") -> None:
    """Store a calibration as the session's ``/calibration`` group, atomically.

    The session is copied beside itself, the group written into the copy, the
    copy validated and renamed over the original: a crash at any point leaves
    the original file. Raw streams are not touched.

    Args:
        path: the session file.
        calibration: the result to store.
        overwrite: replace an existing ``/calibration`` group.
        created_by: provenance stored in the group.
    """
    path = os.fspath(path)
    tmp = temp_path(path)
    try:
        shutil.copyfile(path, tmp)
    except OSError as exc:
        raise DataError(f"cannot copy the session to update it ({exc})", file=path) from exc
    try:
        with open_h5(tmp, "r+") as f, h5_guard(path, CALIBRATION_GROUP):
            if CALIBRATION_GROUP in f:
                if not overwrite:
                    raise DataError("already calibrated; pass overwrite=True to replace it", file=path,
                                    group=CALIBRATION_GROUP)
                del f[CALIBRATION_GROUP]
            g = f.create_group(CALIBRATION_GROUP)
            g["T_reference_from_radar"] = np.asarray(calibration.T_reference_from_radar, dtype=np.float64)
            if calibration.T_world_from_radar is not None:
                g["T_world_from_radar"] = np.asarray(calibration.T_world_from_radar, dtype=np.float64)
            set_attrs(g, {
                "method": "motion", "reference": calibration.reference, "reference_frame": calibration.reference_frame,
                "radar_time_offset_s": float(calibration.time_offset_s),
                "residual_rms_m": float(calibration.residual_rms_m),
                "residual_median_m": float(calibration.residual_median_m),
                "surface_offset_m": float(calibration.surface_offset_m),
                "inlier_fraction": float(calibration.inlier_fraction), "frames_used": int(calibration.frames_used),
                "model": calibration.model, "created_by": created_by,
            })
            set_attrs(f, {"wavecap_schema": SCHEMA_VERSION})  # the file now uses a 1.1 group
            errors = session_errors(f, tmp, "cheap")
            if errors:
                raise errors[0]
            fsync(f)
        os.replace(tmp, path)
        _fsync_folder(path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)


def read_calibration(path: str | os.PathLike[str]) -> MotionCalibration | None:
    """The session's stored ``/calibration``, or None if it has none (the file is validated first)."""
    path = os.fspath(path)
    with open_h5(path) as f:
        errors = session_errors(f, path, "cheap")
        if errors:
            raise errors[0]
        with h5_guard(path, CALIBRATION_GROUP):
            g = f.get(CALIBRATION_GROUP)
            if g is None:
                return None
            attrs = decode_attrs(g.attrs)
            world = np.asarray(g["T_world_from_radar"][()]) if "T_world_from_radar" in g else None
            return MotionCalibration(
                np.asarray(g["T_reference_from_radar"][()]), float(attrs["radar_time_offset_s"]),
                float(attrs.get("surface_offset_m", 0.0)), float(attrs.get("residual_rms_m", np.nan)),
                float(attrs.get("residual_median_m", np.nan)), float(attrs.get("inlier_fraction", np.nan)),
                int(attrs.get("frames_used", 0)), str(attrs["reference"]), str(attrs["reference_frame"]), world,
                str(attrs.get("model", "centroids")),
            )
