"""Radar detections predicted from the reference body's surface: the last stage of calibration from motion.

Matching point-cloud centroids to a body centre is biased: a radar does not
sample the body evenly. Each detection of a Doppler radar is one resolution
cell (range bin x azimuth beam x Doppler bin) whose power passed the
detector, reported at the power-weighted mean of the surface inside it; a
swinging leg spreads over several Doppler bins and yields several detections
where the slower torso yields one, and static clutter removal hides surfaces
at rest. Which cells pass the detector depends on powers no calibration
knows, so the centroid of a frame's detections drifts against any body
centre by several centimetres, mostly vertically (where the radar's height is
otherwise unobservable) and with the motion.

This stage removes that bias per detection instead of per frame. Given the
reference's SMPL motion (``/ground_truth/smpl``) and a current estimate of
the radar's pose and clock, the body surface facing the radar at the
detection's time is cut to the detection's own resolution cell: surface
within half a cell of its measured range, azimuth (direction sine) and
radial velocity. The detection is compared with the mean of that patch,
weighted by projected area (``area cos(incidence) / range^2``, the solid
angle a patch fills) and by static clutter removal's gain ``1 -
sinc^2(v / Doppler resolution)``. Conditioning on the detected cell removes
the detector's selection; elevation, which two elevation antennas barely
resolve, is predicted rather than trusted. The rigid transform is then fitted
to these correspondences (ICP-like: predict, fit, repeat) and the clock offset
refined on a grid within a radar frame of the centroid stage's.

Only the radar's resolutions enter: range and Doppler resolution from the
session's radar configuration (or the options), azimuth resolution from the
options (``2 / virtual azimuth antennas``). Occlusion between body parts is
ignored (back faces are culled).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.sparse import csr_matrix

from wavecap.body import BodyModel

@dataclass(frozen=True)
class RadarCell:
    """Size of one radar resolution cell.

    Attributes:
        range_m: range bin (m).
        azimuth: azimuth beam in direction sine (``2 / virtual azimuth antennas``).
        doppler_mps: Doppler bin (m/s).
    """

    range_m: float
    azimuth: float
    doppler_mps: float


@dataclass(frozen=True)
class Detections:
    """Radar detections of the frames used, flattened.

    Attributes:
        frame: (N,) non-decreasing index into the frame times.
        xyz: (N, 3) positions, radar frame (m).
        radial_mps: (N,) radial velocity, positive away from the radar (m/s).
    """

    frame: np.ndarray
    xyz: np.ndarray
    radial_mps: np.ndarray


class SurfaceMotion:
    """An SMPL reference motion's mesh at any time near the frames that need it.

    The mesh is posed once at the reference samples bracketing the query
    windows (:meth:`prepare`); positions in between are linear in time and the
    velocity is that of the bracketing pair, so moving the clock costs no new
    posing.

    Args:
        body_model: the body model of the reference's SMPL parameters.
        times: (K,) strictly increasing reference times (s, reference clock).
        global_orient: (K, 3) axis-angle, reference frame.
        body_pose: (K, 69).
        betas: (B,) or (K, B); one subject, so per-frame shapes are averaged.
        transl: (K, 3) m.
    """

    def __init__(self, body_model: BodyModel, times: np.ndarray, global_orient: np.ndarray, body_pose: np.ndarray,
                 betas: np.ndarray, transl: np.ndarray) -> None:
        self.body_model = body_model
        self.times = np.asarray(times, dtype=np.float64)
        self.pose = (np.asarray(global_orient, np.float32), np.asarray(body_pose, np.float32),
                     np.asarray(transl, np.float32))
        betas = np.asarray(betas, dtype=np.float32)
        self.betas = torch.as_tensor(betas.mean(0) if betas.ndim == 2 else betas)[None]  # [1, B]
        faces = np.asarray(body_model.faces, dtype=np.int64)
        with torch.no_grad():
            rest = body_model(torch.zeros(1, 3), torch.zeros(1, 69), self.betas).vertices[0].double().numpy()
        a, b, c = rest[faces[:, 0]], rest[faces[:, 1]], rest[faces[:, 2]]
        # The winding decides whether cross(b - a, c - a) points out of the body: the signed volume says which.
        outward = float(np.einsum("fi,fi->", a, np.cross(b, c))) > 0
        self.faces = faces if outward else faces[:, [0, 2, 1]]
        # vertex x face incidence: sums face quantities onto their three vertices in one product
        self._incidence = csr_matrix((np.ones(faces.size, np.float32),
                                      (faces.reshape(-1), np.repeat(np.arange(len(faces)), 3))),
                                     shape=(len(rest), len(faces)))
        self._rows = np.full(len(self.times), -1)
        self._vertices = np.zeros((0, len(rest), 3), np.float32)

    @property
    def span(self) -> tuple[float, float]:
        """First and last reference time (s)."""
        return float(self.times[0]), float(self.times[-1])

    def prepare(self, times: np.ndarray, margin_s: float, batch: int = 64) -> None:
        """Pose the mesh at every reference sample needed for queries within ``margin_s`` of ``times``."""
        lo = np.searchsorted(self.times, np.asarray(times) - margin_s, side="right") - 1
        hi = np.searchsorted(self.times, np.asarray(times) + margin_s, side="left")
        needed = np.unique(np.concatenate([np.arange(a, b + 1) for a, b in zip(lo, hi)]))
        needed = needed[(needed >= 0) & (needed < len(self.times))]
        orient, pose, transl = (torch.from_numpy(x[needed]) for x in self.pose)
        posed = []
        with torch.no_grad():
            for s in range(0, len(needed), batch):
                n = len(orient[s:s + batch])
                posed.append(self.body_model(orient[s:s + batch], pose[s:s + batch], self.betas.expand(n, -1),
                                             transl[s:s + batch]).vertices.numpy())
        self._rows = np.full(len(self.times), -1)
        self._rows[needed] = np.arange(len(needed))
        self._vertices = np.concatenate(posed) if posed else self._vertices

    def surface_at(self, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The mesh at time ``t`` (reference frame) as surface samples, one per vertex: position (V, 3) m,
        outward unit normal (V, 3), area (V,) m^2 (a third of the adjacent faces') and velocity (V, 3) m/s.
        Needs :meth:`prepare` around ``t``."""
        k = int(np.clip(np.searchsorted(self.times, t, side="right") - 1, 0, len(self.times) - 2))
        i0, i1 = self._rows[k], self._rows[k + 1]
        if i0 < 0 or i1 < 0:
            raise ValueError(f"time {t:.3f} s was not prepared")
        dt = self.times[k + 1] - self.times[k]
        w = np.float32(np.clip((t - self.times[k]) / dt, 0.0, 1.0))
        v0, v1 = self._vertices[i0], self._vertices[i1]  # float32: millimetres are plenty here
        f = self.faces
        vertices = (1.0 - w) * v0 + w * v1  # [V, 3]
        a = vertices[f[:, 0]]
        cross = np.cross(vertices[f[:, 1]] - a, vertices[f[:, 2]] - a)  # [F, 3], |cross| = 2 area
        summed = self._incidence @ cross  # [V, 3] area-weighted normal directions
        area = (self._incidence @ np.linalg.norm(cross, axis=1)) / 6.0
        normal = summed / np.maximum(np.linalg.norm(summed, axis=1), 1e-12)[:, None]
        return vertices, normal, area.astype(np.float32), (v1 - v0) / np.float32(dt)


Surface = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # SurfaceMotion.surface_at's samples of one frame


def predicted_detections(surfaces: Sequence[Surface], detections: Detections, T_reference_from_radar: np.ndarray,
                         cell: RadarCell, clutter_removal: bool = True) -> np.ndarray:
    """Where each detection should be if the radar sat at ``T_reference_from_radar``.

    Args:
        surfaces: per frame, the body surface at the frame's reference time
            (:meth:`SurfaceMotion.surface_at`).
        detections: the detections, indexing those frames.
        T_reference_from_radar: (4, 4) current estimate.
        cell: resolution cell size.
        clutter_removal: weight surfaces by static clutter removal's gain.

    Returns:
        (N, 3) predicted positions (m, reference frame); NaN where the
        detection's cell holds no visible moving surface.
    """
    t = T_reference_from_radar[:3, 3].astype(np.float32)  # the radar in the reference frame
    x_axis = T_reference_from_radar[:3, 0].astype(np.float32)  # its x axis: azimuth sine = sight . x
    predicted = np.full((len(detections.frame), 3), np.nan)
    r_det = np.linalg.norm(detections.xyz, axis=1)  # (N,)
    u_det = detections.xyz[:, 0] / np.maximum(r_det, 1e-9)
    starts = np.searchsorted(detections.frame, np.arange(len(surfaces) + 1))  # detections are sorted by frame
    for k, (position, normal, area, velocity) in enumerate(surfaces):
        rows = np.arange(starts[k], starts[k + 1])
        if len(rows) == 0:
            continue
        away = position - t  # [V, 3] radar -> surface, reference frame
        facing = np.einsum("vi,vi->v", normal, away) < 0  # outward normal towards the radar
        away, position = away[facing], position[facing]
        r = np.sqrt(np.einsum("vi,vi->v", away, away))
        cos = -np.einsum("vi,vi->v", normal[facing], away) / r
        radial = np.einsum("vi,vi->v", velocity[facing], away) / r  # positive away
        weight = area[facing] * cos / r**2  # the solid angle each sample fills
        if clutter_removal:
            weight = weight * (1.0 - np.sinc(radial / cell.doppler_mps) ** 2)
        order = np.argsort(r)
        r_s, u_s, v_s = r[order], (away[order] @ x_axis) / r[order], radial[order]
        w_s, p_s = weight[order], position[order]
        # Candidates of each detection: the samples within half a range bin, found on the sorted ranges.
        lo = np.searchsorted(r_s, r_det[rows] - cell.range_m / 2, side="left")
        hi = np.searchsorted(r_s, r_det[rows] + cell.range_m / 2, side="right")
        n = hi - lo
        ends = np.cumsum(n)
        owner = np.repeat(np.arange(len(rows)), n)  # [M] detection of each candidate, in order
        sample = np.arange(ends[-1]) - np.repeat(ends - n, n) + np.repeat(lo, n)  # [M]
        inside = ((np.abs(u_s[sample] - u_det[rows][owner]) <= cell.azimuth / 2)
                  & (np.abs(v_s[sample] - detections.radial_mps[rows][owner]) <= cell.doppler_mps / 2))
        w = np.where(inside, w_s[sample], 0.0)  # [M]
        # Per-detection sums of [w, w p] as differences of running sums (candidates are grouped by detection).
        running = np.concatenate([np.zeros((1, 4)), np.cumsum(w[:, None] * np.c_[np.ones(len(w)), p_s[sample]], 0)])
        sums = running[ends] - running[ends - n]  # [n, 4]
        found = sums[:, 0] > 0
        predicted[rows[found]] = sums[found, 1:] / sums[found, :1]
    return predicted


@dataclass(frozen=True)
class SurfaceFit:
    """Result of :func:`refine_on_surface`.

    Attributes:
        T_reference_from_radar: (4, 4) rigid transform radar -> reference frame.
        time_offset_s: reference time = radar time + this (s).
        residuals: (M,) distance of each matched detection to its prediction after the fit (m).
        inliers: (M,) bool, the detections the final fit kept.
    """

    T_reference_from_radar: np.ndarray  # noqa: N815
    time_offset_s: float
    residuals: np.ndarray
    inliers: np.ndarray


# fit(src (M, 3) radar frame, dst (M, 3) reference frame) -> (T (4, 4), residuals (M,), inliers (M,))
RigidFit = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]
# Pose steps (deg, m) below which the predict-and-fit rounds stop: roughly, and settled.
ROUGH = (0.2, 0.01)
SETTLED = (0.05, 0.003)


def refine_on_surface(surface: SurfaceMotion, frame_times: np.ndarray, detections: Detections,
                      T_reference_from_radar: np.ndarray, time_offset_s: float, cell: RadarCell, fit: RigidFit,
                      clutter_removal: bool = True, max_rounds: int = 20, offset_passes: int = 2,
                      offset_steps: int = 9) -> SurfaceFit:
    """Refine a calibration by fitting detections to their predicted cells (see the module docstring).

    Pose and clock alternate: predict-and-fit rounds until the pose moves
    less than ``ROUGH``, then the offset minimising the robust cost on a grid
    one radar frame period either side, rounds until it moves less than
    ``SETTLED`` (the round-to-round jitter of the fit), and again with the grid
    halved, ``offset_passes`` searches in all. The cost counts a detection
    whose cell holds no surface at the gate, so an offset cannot win by
    leaving detections unmatched.

    Args:
        surface: the reference motion.
        frame_times: (T,) radar times of the frames the detections index (s, radar clock).
        detections: detections of those frames (moving points; clutter removed).
        T_reference_from_radar: (4, 4) starting estimate (the centroid stage's).
        time_offset_s: starting clock offset (s).
        cell: radar resolution cell.
        fit: robust rigid fit of matched detections onto predictions.
        clutter_removal: the radar removes static returns (TI's default).
        max_rounds: most predict-and-fit rounds per pose convergence.
        offset_passes: offset searches, each followed by a pose convergence.
        offset_steps: offsets tried per search.

    Returns:
        The refined transform and offset with the final residuals.

    Raises:
        ValueError: fewer than 10 detections fall in a cell with visible moving surface.
    """
    period = float(np.median(np.diff(frame_times))) if len(frame_times) > 1 else 0.1
    surface.prepare(frame_times + time_offset_s, margin_s=(offset_passes + 0.5) * period)

    def align(offset: float, T: np.ndarray, rounds: int, tolerance: tuple[float, float] = SETTLED
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        surfaces = [surface.surface_at(float(t)) for t in frame_times + offset]  # the clock alone moves the body
        for _ in range(rounds):
            predicted = predicted_detections(surfaces, detections, T, cell, clutter_removal)
            matched = np.isfinite(predicted).all(axis=1)
            if matched.sum() < 10:
                raise ValueError(f"only {int(matched.sum())} detections lie in cells with visible moving surface")
            new_T, res, inl = fit(detections.xyz[matched], predicted[matched])
            step = new_T[:3, :3] @ T[:3, :3].T
            turn = np.degrees(np.arccos(np.clip((np.trace(step) - 1) / 2, -1, 1)))
            shift = np.linalg.norm(new_T[:3, 3] - T[:3, 3])
            T = new_T
            if turn < tolerance[0] and shift < tolerance[1]:
                break
        residuals, inliers = np.full(len(matched), np.nan), np.zeros(len(matched), bool)
        residuals[matched], inliers[matched] = res, inl
        return T, residuals, inliers

    # Roughly first: the starting offset may be most of a frame off, so polishing the pose there is wasted.
    T, residuals, inliers = align(time_offset_s, np.asarray(T_reference_from_radar, dtype=np.float64), max_rounds,
                                  ROUGH)
    offset = time_offset_s
    for search in range(offset_passes):
        gate = float(residuals[inliers].max())
        grid = offset + np.linspace(-period, period, offset_steps) / 2**search
        costs = np.array([np.mean(np.minimum(np.nan_to_num(align(o, T, 1)[1], nan=gate), gate) ** 2) for o in grid])
        k = int(np.argmin(costs))
        offset = float(grid[k] + parabola_vertex(costs, k) * (grid[1] - grid[0]))
        T, residuals, inliers = align(offset, T, max_rounds)
    matched = np.isfinite(residuals)
    return SurfaceFit(T, offset, residuals[matched], inliers[matched])


def parabola_vertex(values: np.ndarray, k: int) -> float:
    """Sub-step position (-0.5..0.5) of the extremum at index k, from the parabola through its neighbours."""
    if k == 0 or k == len(values) - 1 or not np.isfinite(values[k - 1 : k + 2]).all():
        return 0.0
    a, b, c = values[k - 1], values[k], values[k + 1]
    denom = a - 2 * b + c
    return float(np.clip(0.5 * (a - c) / denom, -0.5, 0.5)) if denom != 0 else 0.0
