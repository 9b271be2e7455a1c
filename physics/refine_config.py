"""Settings and per-frame diagnostics of the physics refinement."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from wavecap.physics.character import FOOT_POINT_NAMES

# Stable PD gains per joint group (wavecap.physics.gains.JOINT_GROUPS): kp N m/rad,
# kd N m s/rad, max_torque N m. Stiff trunk and legs (they carry the body),
# softer arms. Against forces its model does not know (contacts, pins, the
# root drive) stable PD is only as stiff as kp * I / (I + kd * dt) for a link
# subtree of inertia I, so kd * dt should not exceed I by much: kd = kp / 20
# for the heavy links, and a much lower kd for the 0.35 kg toes, which
# otherwise get kicked around by the floor (toe kd 5 -> 1 removed the last
# divergences in the benchmark).
DEFAULT_GAINS: dict[str, dict[str, float]] = {
    "spine": {"kp": 2000.0, "kd": 100.0, "max_torque": 600.0},
    "neck": {"kp": 300.0, "kd": 15.0, "max_torque": 100.0},
    "hip": {"kp": 1500.0, "kd": 75.0, "max_torque": 500.0},
    "knee": {"kp": 1200.0, "kd": 60.0, "max_torque": 400.0},
    "ankle": {"kp": 600.0, "kd": 30.0, "max_torque": 250.0},
    "toe": {"kp": 100.0, "kd": 1.0, "max_torque": 50.0},
    "collar": {"kp": 400.0, "kd": 20.0, "max_torque": 150.0},
    "shoulder": {"kp": 400.0, "kd": 20.0, "max_torque": 150.0},
    "elbow": {"kp": 300.0, "kd": 15.0, "max_torque": 100.0},
    "wrist": {"kp": 50.0, "kd": 2.5, "max_torque": 30.0},
}


@dataclass
class RefineConfig:
    """Physics refinement settings (``configs/physics/refine.yaml`` mirrors these).

    Attributes:
        substeps: simulation steps per video frame (dt = 1 / (fps * substeps)).
        solver_iterations: PyBullet constraint-solver iterations per step.
        gravity: m/s^2, along world -z.
        density: kg/m^3 of the character's links.
        friction: Coulomb friction between the feet and the floor.
        self_collision: links that are apart in the rest pose collide.
        gains: per joint group ``kp`` (N m/rad), ``kd`` (N m s/rad),
            ``max_torque`` (N m); groups of :data:`wavecap.physics.gains.JOINT_GROUPS`.
        velocity_targets: track the input's joint angular velocities too
            (with zero targets the damping pulls towards rest and the output lags).
        spd_base_mass_scale: the pelvis mass the stable-PD plugin models, as
            a multiple of the real one (see :mod:`wavecap.physics.simulate`).
        gravity_compensation: add the feed-forward torques that hold the
            input pose against gravity and, in contact, the floor's support
            (:mod:`wavecap.physics.feedforward`).
        support_share: fraction of the body weight the feet carry in contact.
        stance_targets: move the root targets so contact points neither
            slide nor leave the floor (:mod:`wavecap.physics.stance`).
        root_max_force: bound of the residual root wrench (N and N m).
        root_erp: error reduction per step of the root constraint (0..1).
        pin_max_force: force bound of a foot pin (N).
        pin_release_frames: frames over which a pin fades after lift-off.
        pin_max_slip: a pin whose point is this far from it (m) breaks and
            stays off until the contact phase ends.
        pin_erp: error reduction per step of the pins (0..1).
        contact_threshold: probability at which a contact-head output counts.
        contact_height: height of a sole point above the floor below which
            it can be in contact, when contacts are estimated (m).
        contact_speed: speed below which it can be in contact (m/s).
        contact_smooth_sigma: smoothing of the input foot tracks before the
            contact, floor and stance computations (frames).
        contact_min_frames: shorter contact phases and gaps are dropped.
        target_smooth_sigma: zero-phase Gaussian smoothing of the input
            (joint rotations and root translation) before tracking, in
            frames; 0 = off. A light filter (1-2 frames) removes per-frame
            estimator noise that the dynamics would only partly absorb.
        max_joint_speed: a joint faster than this (rad/s) means divergence
            (PyBullet saturates joint velocities at 100 rad/s per axis).
        max_root_error: a pelvis further than this from its target (m) means divergence.
        max_joint_error_deg: a mean joint tracking error above this (deg)
            means divergence.
        joint_limits: optional ``{joint name: [[lo x, y, z], [hi x, y, z]]}``
            bounds on the input's local axis-angle components (rad), applied
            to the targets; None = no limits.
        progress: show a tqdm bar.
    """

    substeps: int = 6
    solver_iterations: int = 10
    gravity: float = 9.81
    density: float = 1000.0
    friction: float = 0.9
    self_collision: bool = True
    gains: dict[str, dict[str, float]] = field(default_factory=lambda: {k: dict(v) for k, v in DEFAULT_GAINS.items()})
    velocity_targets: bool = True
    spd_base_mass_scale: float = 10.0
    gravity_compensation: bool = True
    support_share: float = 1.0
    stance_targets: bool = True
    root_max_force: float = 600.0
    root_erp: float = 0.2
    pin_max_force: float = 800.0
    pin_release_frames: int = 3
    pin_max_slip: float = 0.25
    pin_erp: float = 0.2
    contact_threshold: float = 0.5
    contact_height: float = 0.03
    contact_speed: float = 0.25
    contact_smooth_sigma: float = 2.0
    contact_min_frames: int = 3
    target_smooth_sigma: float = 1.5
    max_joint_speed: float = 100.0
    max_root_error: float = 0.5
    max_joint_error_deg: float = 45.0
    joint_limits: dict[str, list[list[float]]] | None = None
    progress: bool = False

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> RefineConfig:
        """Config from a (Hydra / OmegaConf) mapping; unknown keys are an error."""
        if values is None:
            return cls()
        plain = dict(values)
        unknown = set(plain) - {f.name for f in fields(cls)}
        if unknown:
            raise KeyError(f"unknown physics refine settings {sorted(unknown)}")
        if plain.get("gains") is not None:
            plain["gains"] = {group: dict(v) for group, v in plain["gains"].items()}
        if plain.get("joint_limits") is not None:
            plain["joint_limits"] = {j: [list(b) for b in v] for j, v in plain["joint_limits"].items()}
        return cls(**plain)


@dataclass
class Diagnostics:
    """What happened in each refined frame.

    Attributes:
        contacts: [T, 4] bool contact flags used (order ``FOOT_POINT_NAMES``).
        pin_strength: [T, 4] engagement of each foot pin (0 free .. 1 pinned).
        residual_force: [T] residual root force at the frame's last substep (N).
        root_error: [T] pelvis distance to its target (m).
        joint_error_deg: [T] mean angle between simulated and target joint rotations (deg).
        fallback: [T] bool, frame replaced by the kinematic input after divergence.
        floor_z: floor height used (m).
        floor_estimated: the floor came from stance phases, not from the caller.
        contact_source: ``"probabilities"`` (contact head) or ``"estimated"``.
        seconds: wall time of the refinement (s).
    """

    contacts: np.ndarray
    pin_strength: np.ndarray
    residual_force: np.ndarray
    root_error: np.ndarray
    joint_error_deg: np.ndarray
    fallback: np.ndarray
    floor_z: float
    floor_estimated: bool
    contact_source: str
    seconds: float

    @property
    def frames_per_s(self) -> float:
        """Refined frames per wall-clock second."""
        return len(self.fallback) / max(self.seconds, 1e-9)

    def summary(self) -> dict[str, Any]:
        """Scalar overview (JSON-ready)."""
        return {
            "frames": int(len(self.fallback)),
            "fallback_frames": int(self.fallback.sum()),
            "floor_z": self.floor_z,
            "floor_estimated": self.floor_estimated,
            "contact_source": self.contact_source,
            "contact_fraction": [round(float(x), 4) for x in self.contacts.mean(axis=0)],
            "mean_residual_force_n": float(self.residual_force.mean()),
            "mean_root_error_m": float(self.root_error.mean()),
            "mean_joint_error_deg": float(self.joint_error_deg.mean()),
            "seconds": self.seconds,
            "frames_per_s": self.frames_per_s,
        }

    def to_dict(self) -> dict[str, Any]:
        """Summary plus every per-frame array as lists (JSON-ready)."""
        out: dict[str, Any] = {"summary": self.summary(), "foot_points": list(FOOT_POINT_NAMES)}
        for key, value in asdict(self).items():
            if isinstance(value, np.ndarray):
                out[key] = value.tolist()
        return out
