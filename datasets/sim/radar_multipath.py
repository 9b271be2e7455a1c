"""Multipath ghosts: body returns seen again via a floor or wall bounce.

With a plane (floor, wall) between radar and body, a body point P has a
mirror image P' across it. Three bounced paths come back:

* radar -> P -> plane -> radar: the echo arrives from P' but has travelled
  ``|OP| + |OP'|``, so it appears at range ``(|OP| + |OP'|) / 2``;
* radar -> plane -> P -> radar: the same range, arriving from P's own
  direction, i.e. a ghost right behind the body along its line of sight;
* radar -> plane -> P -> plane -> radar: the full image P' (range ``|OP'|``).

The apparent radial velocity is the rate of change of half the path length:
the mean of the direct and mirrored radial velocities for single bounces,
the mirrored one for the double bounce (mirrored velocity: reflected across
the plane). A ghost's power is its source detection's, less the bounce loss
per bounce and the extra spreading loss ``40 log10(apparent / direct range)``;
it must pass the same threshold as any detection, so ghosts come mostly from
strong (torso) returns and always lie farther than their source.
"""

from __future__ import annotations

import numpy as np

from .radar_cfar import KIND_BODY, KIND_GHOST, Detections, cell_bins
from .radar_config import RadarConfig


def _direction_in_fov(local: np.ndarray, config: RadarConfig) -> np.ndarray:
    """[...] bool: unit radar-frame directions [..., 3] inside the field of view."""
    azimuth = np.arctan2(local[..., 0], local[..., 1])
    elevation = np.arcsin(np.clip(local[..., 2], -1.0, 1.0))
    return (
        (local[..., 1] > 0)
        & (np.abs(azimuth) <= np.radians(config.azimuth_fov_deg))
        & (np.abs(elevation) <= np.radians(config.elevation_fov_deg))
    )


def mirror_ghosts(
    detections: Detections,
    config: RadarConfig,
    T_radar_from_world: np.ndarray,  # noqa: N803
    rng: np.random.Generator,
) -> Detections:
    """Ghosts of body detections via the configured reflector planes.

    Each body detection spawns a ghost with probability
    ``config.ghost_probability``, along one (plane, path) pair drawn uniformly
    among those with radar and body on the room side of the plane, the
    arrival direction inside the field of view and the apparent range within
    the maximum range.

    Args:
        detections: this frame's detections (only ``KIND_BODY`` ones spawn).
        config: planes (world frame), bounce loss, probability, threshold.
        T_radar_from_world: [4, 4] world -> radar frame.
        rng: generator for the draws.

    Returns:
        The ghosts that pass the threshold, kind ``KIND_GHOST``; ``position``,
        ``velocity`` and ``link`` are those of the real body point,
        ``radial_velocity`` is the one measured along the bounced path.
    """
    body = np.flatnonzero(detections.kind == KIND_BODY)
    source = detections.take(body[rng.random(len(body)) < config.ghost_probability])
    planes = np.asarray(config.reflector_planes, dtype=np.float64).reshape(-1, 4)  # [P, 4]
    if len(source) == 0 or len(planes) == 0:
        return Detections.empty()
    R, t = T_radar_from_world[:3, :3], T_radar_from_world[:3, 3]
    origin = -R.T @ t  # radar origin, world
    normal, offset = planes[:, :3], planes[:, 3]  # [P, 3], [P]
    count = len(source)

    offset_direct = source.position - origin  # [S, 3]
    range_direct = np.linalg.norm(offset_direct, axis=1)  # [S]
    radial_direct = np.einsum("si,si->s", source.velocity, offset_direct) / range_direct
    height = source.position @ normal.T - offset  # [S, P] signed distance to each plane
    image = source.position[:, None] - 2.0 * height[..., None] * normal  # [S, P, 3] world
    image_velocity = source.velocity[:, None] - 2.0 * (source.velocity @ normal.T)[..., None] * normal
    range_image = np.linalg.norm(image - origin, axis=-1)  # [S, P]
    radial_image = np.einsum("spi,spi->sp", image_velocity, image - origin) / range_image

    # Paths 0, 1: single bounce arriving from P / from P'; path 2: double bounce.
    mean_range = (range_direct[:, None] + range_image) / 2.0
    apparent_range = np.stack([mean_range, mean_range, range_image], axis=-1)  # [S, P, 3]
    mean_radial = (radial_direct[:, None] + radial_image) / 2.0
    radial = np.stack([mean_radial, mean_radial, radial_image], axis=-1)  # [S, P, 3]
    direct_local = (offset_direct @ R.T) / range_direct[:, None]  # [S, 3] radar frame
    image_local = ((image - origin) @ R.T) / range_image[..., None]  # [S, P, 3]
    arrival = np.stack([np.broadcast_to(direct_local[:, None], image_local.shape), image_local, image_local], axis=2)
    bounces = np.array([1.0, 1.0, 2.0])

    same_side = ((normal @ origin - offset > 0)[None] & (height > 0))[..., None]  # [S, P, 1]
    valid = same_side & _direction_in_fov(arrival, config) & (apparent_range <= config.max_range_m)  # [S, P, 3]
    flat = valid.reshape(count, -1)
    choice = np.argmax(np.where(flat, rng.random(flat.shape), -1.0), axis=1)  # [S] one valid (plane, path)
    rows = np.flatnonzero(flat[np.arange(count), choice])
    plane, path = np.divmod(choice[rows], 3)

    r = apparent_range[rows, plane, path]  # [G]
    direction = arrival[rows, plane, path]  # [G, 3]
    snr_db = (
        source.snr_db[rows]
        - config.ghost_attenuation_db * bounces[path]
        - 40.0 * np.log10(r / range_direct[rows])
    )
    ghosts = Detections(
        bins=cell_bins(r, direction[:, 0], direction[:, 2], radial[rows, plane, path], config),
        direction=direction[:, [0, 2]],
        snr_db=snr_db,
        kind=np.full(len(rows), KIND_GHOST, np.int8),
        link=source.link[rows],
        position=source.position[rows],
        velocity=source.velocity[rows],
        radial_velocity=radial[rows, plane, path],
    )
    return ghosts.take(ghosts.snr_db >= config.cfar_threshold_db)
