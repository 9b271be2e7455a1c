"""Ray-cast mmWave FMCW radar for PyBullet scenes (TI IWR6843-class by default).

One ``RadarSimulator.capture`` call makes one radar frame:

1. rays over the field of view, denser over the tracked people
   (``radar_rays``), each carrying the solid angle it samples;
2. per hit: range, direction cosines, the surface velocity of the hit link
   at the hit point, its radial component (positive = moving away, range
   increasing; sessions record this as ``doppler_sign = "positive_away"``);
3. per hit power from the radar equation for an extended surface,
   ``K * reflectivity * cos(incidence)^n * antenna gain * dOmega / R^2``
   (a body filling a fixed solid angle returns ~1/R^2, the whole body ~1/R^4);
4. static-clutter removal, merging into resolution cells (range bin,
   azimuth and elevation beam, Doppler bin), CFAR threshold (``radar_cfar``),
   multipath ghosts (``radar_multipath``), dropout, cap;
5. range bin centres and estimated directions with Cramer-Rao-bound noise,
   on the zero-padded angle-FFT grid, in the radar frame.

Doppler sign convention: positive = moving away from the radar (range
increasing), negative = approaching, as TI's devices report it (TI's answer
on E2E thread 1065766: the Doppler phasor turns positive only for a target
moving away).

Randomness comes from a generator seeded with (seed, frame number), so a
seed reproduces every frame exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pybullet as p

from wavecap.errors import DataError

from .radar_cfar import (
    KIND_BODY,
    KIND_CLUTTER,
    KIND_GHOST,
    Detections,
    cell_bins,
    cfar_detect,
    clutter_removal_gain,
    merge_cells,
    report_points,
    thin,
)
from .radar_config import RadarConfig
from .radar_multipath import mirror_ghosts
from .radar_rays import bodies_angular_box, cast_rays, sample_ray_directions

RADAR_COLUMNS: tuple[str, ...] = ("x", "y", "z", "doppler", "snr")
DOPPLER_SIGN = "positive_away"

LinkKey = tuple[int, int]  # (body unique id, link index; -1 = base)

__all__ = [
    "DOPPLER_SIGN",
    "KIND_BODY",
    "KIND_CLUTTER",
    "KIND_GHOST",
    "RADAR_COLUMNS",
    "RadarConfig",
    "RadarFrame",
    "RadarSimulator",
    "link_world_transforms",
]


@dataclass(frozen=True)
class RadarFrame:
    """One radar frame: TI-style points plus per-point ground truth.

    Attributes:
        points: [n, 5] float32, columns ``RADAR_COLUMNS``: x, y, z (m, radar
            frame: x right, y boresight, z up), doppler (m/s, positive =
            moving away), snr (dB).
        t: capture time (s), as passed to ``capture``.
        kind: [n] int8, 0 body, 1 clutter, 2 multipath ghost.
        link: [n] int16 PyBullet link index of the strongest return (-1 base).
        true_position: [n, 3] float32 world position of the scattering surface
            (power-weighted over the cell; for a ghost, the real body point).
        true_radial_velocity: [n] float32 noise-free, unquantised radial
            velocity the doppler column measures (m/s, positive away).
    """

    points: np.ndarray
    t: float
    kind: np.ndarray
    link: np.ndarray
    true_position: np.ndarray
    true_radial_velocity: np.ndarray

    def __len__(self) -> int:
        return len(self.points)


def link_world_transforms(client_id: int, body_uids: Iterable[int]) -> dict[LinkKey, np.ndarray]:
    """World transforms of every link of some bodies.

    Any frame rigidly attached to a link serves for its velocity, as long as
    the same one is used every frame: links use their URDF link frame
    (``getLinkStates`` entries 4/5, forward kinematics recomputed), the base
    uses ``getBasePositionAndOrientation``, i.e. its inertial frame.

    Args:
        client_id: PyBullet physics client.
        body_uids: bodies to read.

    Returns:
        {(body unique id, link index): [4, 4] float64 T_world_from_link},
        link index -1 for the base.
    """
    transforms: dict[LinkKey, np.ndarray] = {}
    for uid in body_uids:
        position, orientation = p.getBasePositionAndOrientation(uid, physicsClientId=client_id)
        poses = [(-1, position, orientation)]
        num_links = p.getNumJoints(uid, physicsClientId=client_id)
        if num_links:
            states = p.getLinkStates(
                uid, list(range(num_links)), computeForwardKinematics=True, physicsClientId=client_id
            )
            poses += [(link, state[4], state[5]) for link, state in enumerate(states)]
        for link, position, orientation in poses:
            T = np.eye(4)
            T[:3, :3] = np.reshape(p.getMatrixFromQuaternion(orientation), (3, 3))  # xyzw in, row-major out
            T[:3, 3] = position
            transforms[(int(uid), link)] = T
    return transforms


def _check_rigid(T: np.ndarray, name: str) -> np.ndarray:
    T = np.asarray(T, dtype=np.float64)
    if T.shape != (4, 4) or not np.all(np.isfinite(T)):
        raise DataError(f"expected a finite [4, 4] transform, got shape {T.shape}", field=name)
    R = T[:3, :3]
    if not (np.allclose(R @ R.T, np.eye(3), atol=1e-5) and np.isclose(np.linalg.det(R), 1.0, atol=1e-5)):
        raise DataError("rotation part is not a proper rotation", field=name)
    if not np.allclose(T[3], (0.0, 0.0, 0.0, 1.0)):
        raise DataError("last row must be (0, 0, 0, 1)", field=name)
    return T


class RadarSimulator:
    """Simulated radar mounted at a fixed pose in a PyBullet scene.

    Args:
        client_id: PyBullet physics client holding the scene.
        config: radar parameters.
        T_world_from_radar: [4, 4] rigid transform, radar frame -> world.
        seed: seed of every random draw.

    Raises:
        DataError: ``T_world_from_radar`` is not a rigid transform.
    """

    def __init__(
        self, client_id: int, config: RadarConfig, T_world_from_radar: np.ndarray, seed: int  # noqa: N803
    ) -> None:
        self.client_id = client_id
        self.config = config
        self.T_world_from_radar = _check_rigid(T_world_from_radar, "T_world_from_radar")
        self.T_radar_from_world = np.linalg.inv(self.T_world_from_radar)
        self.seed = int(seed)
        self.frame_index = 0

    def capture(
        self,
        t: float,
        link_transforms_now: Mapping[LinkKey, np.ndarray],
        link_transforms_prev: Mapping[LinkKey, np.ndarray],
        dt: float,
        body_uids: Iterable[int],
    ) -> RadarFrame:
        """Capture one frame of the scene as it is now.

        Args:
            t: frame time (s), stored in the frame.
            link_transforms_now: {(uid, link): [4, 4] T_world_from_link} now,
                for every moving body (``link_world_transforms``); bodies
                absent here are static.
            link_transforms_prev: the same ``dt`` seconds earlier; links
                absent here get zero velocity.
            dt: time between the two sets of transforms (s), > 0.
            body_uids: bodies that are tracked people (kind 0, per-part
                reflectivity, dense rays); other bodies are clutter.

        Returns:
            The frame (see ``RadarFrame``).

        Raises:
            DataError: ``dt`` is not positive and finite.
        """
        if not (np.isfinite(dt) and dt > 0):
            raise DataError(f"dt must be positive, got {dt!r}", field="dt", frame=self.frame_index)
        cfg = self.config
        rng = np.random.default_rng([self.seed, self.frame_index])
        self.frame_index += 1
        people = {int(uid) for uid in body_uids}
        R_world_from_radar = self.T_world_from_radar[:3, :3]
        origin = self.T_world_from_radar[:3, 3]

        covered = [key for key in link_transforms_now if key[0] in people]  # links the dense rays aim at
        roi = bodies_angular_box(self.client_id, covered, self.T_radar_from_world, cfg)
        directions, solid_angle, dense = sample_ray_directions(cfg, roi, rng)  # [N, 3] radar frame, [N] sr, [N]
        world_directions = directions @ R_world_from_radar.T
        far = np.full(len(directions), cfg.max_range_m)
        if roi is not None:
            far[dense] = max(roi.range_max, cfg.min_range_m + 0.01)
        hits = cast_rays(self.client_id, origin, world_directions, cfg.min_range_m, far, cfg.ray_threads)
        if roi is not None:  # dense rays estimate the covered people, coarse rays everything else
            on_covered = np.isin(hits.body, [uid for uid, _ in covered])
            hits = hits.take(on_covered == dense[hits.ray])
        tracked = np.isin(hits.body, list(people))
        local = directions[hits.ray]  # [H, 3] radar frame
        line_of_sight = world_directions[hits.ray]  # [H, 3] world
        position = origin + line_of_sight * hits.range_m[:, None]  # [H, 3] world
        velocity, dynamic = self._surface_velocity(
            hits.body, hits.link, position, link_transforms_now, link_transforms_prev, dt
        )
        radial = np.einsum("hi,hi->h", velocity, line_of_sight)  # positive away

        power = self._return_power(
            hits.link, tracked, hits.normal, local, line_of_sight, hits.range_m, solid_angle[hits.ray]
        )
        if cfg.clutter_removal:
            power = np.where(dynamic, power * clutter_removal_gain(radial, cfg), power)
        candidates = merge_cells(
            cell_bins(hits.range_m, local[:, 0], local[:, 2], radial, cfg), local[:, [0, 2]],
            power, ~dynamic, tracked, hits.link, position, velocity, radial,
            cfg.clutter_leak_rate if cfg.clutter_removal else 1.0, rng,
        )
        detections = cfar_detect(candidates, cfg, rng)
        ghosts = mirror_ghosts(detections, cfg, self.T_radar_from_world, rng)
        detections = thin(Detections.concatenate([detections, ghosts]), cfg, rng)
        return RadarFrame(
            points=report_points(detections, cfg, rng),
            t=float(t),
            kind=detections.kind.astype(np.int8),
            link=detections.link.astype(np.int16),
            true_position=detections.position.astype(np.float32),
            true_radial_velocity=detections.radial_velocity.astype(np.float32),
        )

    @staticmethod
    def _surface_velocity(
        body: np.ndarray,
        link: np.ndarray,
        position: np.ndarray,
        now: Mapping[LinkKey, np.ndarray],
        prev: Mapping[LinkKey, np.ndarray],
        dt: float,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Velocity of the hit points as material points of their links.

        The point is carried back to where it was with its link,
        ``T_prev @ inv(T_now) @ p``, and differenced over ``dt``.

        Returns:
            velocity [H, 3] world (m/s), and [H] bool: the hit link is
            dynamic (listed in ``now``; the rest is static scenery).
        """
        keys, key_of = np.unique(body * (1 << 20) + link + 1, return_inverse=True)  # one integer per link
        T_now = np.tile(np.eye(4), (len(keys), 1, 1))  # [K, 4, 4]; identity = at rest
        T_prev = T_now.copy()
        key_dynamic = np.zeros(len(keys), dtype=bool)
        for k, key in enumerate(keys.tolist()):
            name = (key >> 20, (key & ((1 << 20) - 1)) - 1)
            if name in now:
                key_dynamic[k] = True
                T_now[k] = now[name]
                T_prev[k] = prev.get(name, now[name])
        # T_prev @ inv(T_now) with the rigid inverse (R^T, -R^T t).
        R_back = T_prev[:, :3, :3] @ T_now[:, :3, :3].transpose(0, 2, 1)  # [K, 3, 3]
        t_back = T_prev[:, :3, 3] - np.einsum("kij,kj->ki", R_back, T_now[:, :3, 3])  # [K, 3]
        earlier = np.einsum("hij,hj->hi", R_back[key_of], position) + t_back[key_of]  # [H, 3]
        return (position - earlier) / dt, key_dynamic[key_of]

    def _return_power(
        self,
        link: np.ndarray,
        tracked: np.ndarray,
        normal: np.ndarray,
        local: np.ndarray,
        line_of_sight: np.ndarray,
        range_m: np.ndarray,
        solid_angle: np.ndarray,
    ) -> np.ndarray:
        """Linear SNR each ray's return contributes (see the module docstring).

        Args:
            link: [H] link index; selects the body part of tracked returns.
            tracked: [H] bool, return from a tracked person.
            normal: [H, 3] world surface normals.
            local: [H, 3] unit ray directions, radar frame.
            line_of_sight: [H, 3] unit ray directions, world.
            range_m: [H] m.
            solid_angle: [H] sr sampled by each ray.

        Returns:
            [H] float64 linear SNR.
        """
        cfg = self.config
        table = cfg.reflectivity_of_links(int(link.max(initial=-1)) + 1)  # indexed by link + 1
        reflectivity = np.where(tracked, table[link + 1], cfg.clutter_reflectivity)
        incidence = np.abs(np.einsum("hi,hi->h", normal, line_of_sight))
        cos_el = np.sqrt(np.maximum(1.0 - local[:, 2] ** 2, 0.0))
        cos_az = local[:, 1] / np.maximum(cos_el, 1e-12)
        gain = (cos_az * cos_el) ** cfg.antenna_pattern_exponent
        constant = 10.0 ** (cfg.snr_constant_db / 10.0)
        return constant * reflectivity * incidence**cfg.incidence_exponent * gain * solid_angle / range_m**2
