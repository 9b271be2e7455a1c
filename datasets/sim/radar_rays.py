"""Ray sampling over the radar's field of view and batched PyBullet ray casts.

Rays are importance-sampled: a coarse grid covers the whole field of view
(walls, floor, furniture) and a dense grid covers the angular box of the
tracked people, where the detail is. Every ray carries the solid angle it
stands for, so power sums over rays estimate the same integral whatever the
density: the dense grid adds detail, not energy. Both grids are stratified
(one uniformly jittered ray per cell, fresh each frame), so detections never
sit on a fixed lattice.

The two grids split the scene rather than the angles: dense rays count only
where they hit a tracked person, coarse rays only where they hit anything
else (a coarse ray stopped by a person sees nothing behind it, as it should).
Each part of the scene is thus estimated once, occlusion included. Dense rays
end just behind the people (``AngularBox.range_max``): PyBullet's ray cost
grows with ray length, and nothing they could hit farther away is kept.

Directions live in the radar frame (x right, y boresight, z up) and are
parametrised by azimuth ``az = atan2(x, y)`` and elevation ``el = asin(z)``:
``d = (cos el sin az, cos el cos az, sin el)``, ``dOmega = cos el daz del``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain

import numpy as np
import pybullet as p

from .radar_config import RadarConfig

# PyBullet's batch limit is 16 384 rays, but a full batch returns only 16 383
# results (bullet3#4215), so chunks stay one below it.
MAX_RAYS_PER_BATCH = 16_383
# Dense rays run this far past the people's farthest bounding-box corner (m).
ROI_RANGE_MARGIN_M = 0.3



@dataclass(frozen=True)
class AngularBox:
    """Where the tracked people are, seen from the radar.

    Attributes:
        az_min, az_max: azimuth interval (rad), within the field of view.
        el_min, el_max: elevation interval (rad), within the field of view.
        range_max: farthest range of their bounding boxes (m), plus margin.
    """

    az_min: float
    az_max: float
    el_min: float
    el_max: float
    range_max: float


@dataclass(frozen=True)
class RayHits:
    """Rays that hit something, in casting order.

    Attributes:
        ray: [H] int64 index of the ray in the cast batch.
        body: [H] int64 PyBullet body unique id.
        link: [H] int64 link index (-1 base).
        range_m: [H] float64 distance from the radar origin (m).
        normal: [H, 3] float64 unit surface normal, world frame.
    """

    ray: np.ndarray
    body: np.ndarray
    link: np.ndarray
    range_m: np.ndarray
    normal: np.ndarray

    def take(self, index: np.ndarray) -> RayHits:
        """The hits at ``index`` (integer or boolean)."""
        return RayHits(self.ray[index], self.body[index], self.link[index], self.range_m[index], self.normal[index])


def bodies_angular_box(
    client_id: int,
    links: Iterable[tuple[int, int]],
    T_radar_from_world: np.ndarray,
    config: RadarConfig,
) -> AngularBox | None:
    """Azimuth/elevation box around the world AABBs of some links.

    Args:
        client_id: PyBullet physics client.
        links: (body unique id, link index) pairs to cover.
        T_radar_from_world: [4, 4] rigid transform, world -> radar frame.
        config: radar parameters (field of view, margin).

    Returns:
        The box, widened by ``roi_margin_deg`` (and the range by
        ``ROI_RANGE_MARGIN_M``) and clipped to the field of view and range;
        None when there are no links, all are behind the radar, or the box
        misses the field of view.
    """
    boxes = [p.getAABB(body, link, physicsClientId=client_id) for body, link in links]
    if not boxes:
        return None
    lo, hi = np.asarray([b[0] for b in boxes]), np.asarray([b[1] for b in boxes])  # [L, 3]
    # Corners, edge midpoints and face centres: a box's extreme elevation can
    # lie mid-edge (e.g. the top front edge of a body straight ahead).
    lattice = np.stack(np.meshgrid(*[(0.0, 0.5, 1.0)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)  # [27, 3]
    points = (lo[:, None] + lattice[None] * (hi - lo)[:, None]).reshape(-1, 3)  # [27L, 3] world
    local = points @ T_radar_from_world[:3, :3].T + T_radar_from_world[:3, 3]  # [27L, 3] radar frame
    if not (local[:, 1] > 0).any():
        return None
    az = np.arctan2(local[:, 0], local[:, 1])
    el = np.arctan2(local[:, 2], np.hypot(local[:, 0], local[:, 1]))
    margin = np.radians(config.roi_margin_deg)
    fov_az, fov_el = np.radians(config.azimuth_fov_deg), np.radians(config.elevation_fov_deg)
    az0, az1 = max(az.min() - margin, -fov_az), min(az.max() + margin, fov_az)
    el0, el1 = max(el.min() - margin, -fov_el), min(el.max() + margin, fov_el)
    if az0 >= az1 or el0 >= el1:
        return None
    far = min(float(np.linalg.norm(local, axis=1).max()) + ROI_RANGE_MARGIN_M, config.max_range_m)
    return AngularBox(float(az0), float(az1), float(el0), float(el1), far)


def _stratified(
    az_range: tuple[float, float], el_range: tuple[float, float], n_az: int, n_el: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One jittered sample per cell of an n_az x n_el grid: az [N], el [N], dOmega [N] (sr)."""
    d_az = (az_range[1] - az_range[0]) / n_az
    d_el = (el_range[1] - el_range[0]) / n_el
    i, j = np.meshgrid(np.arange(n_az), np.arange(n_el), indexing="ij")
    az = az_range[0] + (i.ravel() + rng.random(i.size)) * d_az
    el = el_range[0] + (j.ravel() + rng.random(j.size)) * d_el
    return az, el, np.cos(el) * d_az * d_el


def sample_ray_directions(
    config: RadarConfig, roi: AngularBox | None, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """This frame's ray directions: a coarse full-FOV grid plus a dense ROI grid.

    Args:
        config: radar parameters (field of view, coarse step, ROI ray budget).
        roi: angular box of the tracked people (``bodies_angular_box``), or None.
        rng: generator for the per-cell jitter.

    Returns:
        directions [N, 3] unit vectors in the radar frame; the solid angle [N]
        (sr) each ray stands for within its grid (each grid's sum is the area
        it covers); and [N] bool, True for the dense (ROI) rays.
    """
    fov_az, fov_el = np.radians(config.azimuth_fov_deg), np.radians(config.elevation_fov_deg)
    step = np.radians(config.coarse_step_deg)
    n_az, n_el = int(np.ceil(2 * fov_az / step)), int(np.ceil(2 * fov_el / step))
    az, el, omega = _stratified((-fov_az, fov_az), (-fov_el, fov_el), n_az, n_el, rng)
    dense = np.zeros(len(az), dtype=bool)
    if roi is not None and config.roi_rays > 0:
        width, height = roi.az_max - roi.az_min, roi.el_max - roi.el_min
        roi_step = max(np.radians(config.roi_min_step_deg), np.sqrt(width * height / config.roi_rays))
        n_az, n_el = max(1, int(round(width / roi_step))), max(1, int(round(height / roi_step)))
        more = _stratified((roi.az_min, roi.az_max), (roi.el_min, roi.el_max), n_az, n_el, rng)
        az, el, omega = (np.concatenate(pair) for pair in zip((az, el, omega), more))
        dense = np.concatenate([dense, np.ones(len(more[0]), dtype=bool)])
    directions = np.stack([np.cos(el) * np.sin(az), np.cos(el) * np.cos(az), np.sin(el)], axis=1)  # [N, 3]
    return directions, omega, dense


def cast_rays(
    client_id: int, origin: np.ndarray, directions: np.ndarray, near: float, far: np.ndarray | float, threads: int
) -> RayHits:
    """Cast rays from ``origin`` between ranges ``near`` and ``far``.

    Args:
        client_id: PyBullet physics client.
        origin: [3] ray origin, world frame (m).
        directions: [N, 3] unit directions, world frame.
        near: range where rays start (m); anything closer is not seen.
        far: range where each ray ends (m), [N] or one for all.
        threads: ``numThreads`` for ``rayTestBatch`` (0 = all cores).

    Returns:
        The first hit of each ray that hit something.
    """
    far = np.broadcast_to(np.asarray(far, dtype=np.float64), (len(directions),))
    starts = origin + near * directions  # [N, 3]
    ends = origin + far[:, None] * directions
    results = []
    for s in range(0, len(directions), MAX_RAYS_PER_BATCH):
        results += p.rayTestBatch(
            starts[s : s + MAX_RAYS_PER_BATCH], ends[s : s + MAX_RAYS_PER_BATCH],
            numThreads=threads, physicsClientId=client_id,
        )
    n = len(results)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return RayHits(empty, empty, empty, np.zeros(0), np.zeros((0, 3)))
    body, link, fraction, _, normal = zip(*results)  # the hit position follows from the fraction
    body = np.fromiter(body, np.int64, n)
    hit = np.flatnonzero(body >= 0)
    return RayHits(
        ray=hit,
        body=body[hit],
        link=np.fromiter(link, np.int64, n)[hit],
        range_m=near + np.fromiter(fraction, np.float64, n)[hit] * (far[hit] - near),
        normal=np.fromiter(chain.from_iterable(normal), np.float64, 3 * n).reshape(n, 3)[hit],
    )
